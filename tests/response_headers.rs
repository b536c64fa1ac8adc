//! The headers filter end to end: `add_header` (success statuses only unless `always`,
//! variables, empty values skipped) and `expires` in its forms.

mod common;

use common::*;

const LOCATIONS: &str = r#"
[[server.location]]
path = "/"
add_header = [
  { name = "X-Uri", value = "uri=$uri" },
  { name = "X-Empty", value = "$arg_none" },
  { name = "X-Always", value = "yes", always = true },
]
expires = "1h"

[[server.location]]
path = "/epoch/"
alias = "html/"
expires = "epoch"

[[server.location]]
path = "/max/"
alias = "html/"
expires = "max"

[[server.location]]
path = "/nocache/"
alias = "html/"
expires = "-1"
"#;

fn start() -> (Site, Anx) {
    let site = Site::new();
    site.write("html/a.txt", "alpha\n");
    let anx = Anx::start(&site, &config("", "", LOCATIONS));
    (site, anx)
}

#[test]
fn add_header_on_success_and_always() {
    let (_s, anx) = start();
    let r = anx.get("/a.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-uri"), Some("uri=/a.txt"));
    assert_eq!(r.header("x-always"), Some("yes"));
    assert_eq!(r.header_count("x-empty"), 0);
    let r = anx.get("/missing");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-uri"), None);
    assert_eq!(r.header("x-always"), Some("yes"));
    // 304 counts as success.
    let etag = anx.get("/a.txt").header("etag").unwrap().to_string();
    let r = anx.raw(format!(
        "GET /a.txt HTTP/1.1\r\nHost: h\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(r.status, 304);
    assert_eq!(r.header("x-uri"), Some("uri=/a.txt"));
}

#[test]
fn expires_forms() {
    let (_s, anx) = start();
    let r = anx.get("/a.txt");
    assert_eq!(r.header("cache-control"), Some("max-age=3600"));
    let expires = httpdate::parse_http_date(r.header("expires").unwrap()).unwrap();
    let date = httpdate::parse_http_date(r.header("date").unwrap()).unwrap();
    let ahead = expires.duration_since(date).unwrap().as_secs();
    assert!((3599..=3601).contains(&ahead), "{ahead}");
    let r = anx.get("/epoch/a.txt");
    assert_eq!(r.header("expires"), Some("Thu, 01 Jan 1970 00:00:01 GMT"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let r = anx.get("/max/a.txt");
    assert_eq!(r.header("expires"), Some("Thu, 31 Dec 2037 23:55:55 GMT"));
    assert_eq!(r.header("cache-control"), Some("max-age=315360000"));
    let r = anx.get("/nocache/a.txt");
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    // Not on errors.
    let r = anx.get("/missing");
    assert_eq!(r.header("expires"), None);
}

#[test]
fn variables_join_repeated_request_fields_and_read_the_basic_user() {
    let site = Site::new();
    let conf = proxy_conf(
        "",
        "        location / {\n            add_header X-Via $http_via;\n            \
         add_header X-Cookie-A $cookie_a;\n            add_header X-User $remote_user;\n            \
         return 204;\n        }\n",
    );
    let anx = Anx::start_conf(&site, &conf, 1);
    let r = anx.raw(
        "GET / HTTP/1.1\r\nHost: h\r\nVia: one\r\nVia: two\r\nCookie: a=1, b=2; c=3\r\n\
         Authorization: Basic dXNlcjpzZWNyZXQ=\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("x-via"), Some("one, two"));
    // Cookies split at ';' only, as nginx.
    assert_eq!(r.header("x-cookie-a"), Some("1, b=2"));
    assert_eq!(r.header("x-user"), Some("user"));
    // A unique field sent twice is refused.
    let r = anx.raw(
        "GET / HTTP/1.1\r\nHost: h\r\nIf-Match: a\r\nIf-Match: b\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 400);
}
