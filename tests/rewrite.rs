//! The rewrite module end to end: `rewrite` flags and args, redirects made absolute,
//! `return` forms (444 closes without an answer), `set`/`if`, maps, the URI-change limit
//! (500 and its error-log line), and `error_page` (internal redirect, status kept, set or
//! taken from the target, named location, redirect to a URL).

mod common;

use common::*;
use std::time::Duration;

fn site() -> Site {
    let site = Site::new();
    site.write("html/a.txt", "alpha\n");
    site.write("html/404.html", "custom 404\n");
    site
}

const SERVER: &str = r#"server_name = ["main.test"]
rewrite = '''
rewrite ^/old/(.*)$ /show/$1 permanent;
rewrite ^/legacy/(.*)$ /show/$1;
'''
error_page = [{ codes = [404], target = "/404.html" }]"#;

const LOCATIONS: &str = r#"
[[server.location]]
path = "/"

[[server.location]]
path = "/show"
return = { status = 200, text = "show uri=$uri args=$args method=$request_method\n" }

[[server.location]]
path = "/rw/"
rewrite = '''
rewrite ^/rw/last/(.*)$ /show/$1?x=1 last;
rewrite ^/rw/drop/(.*)$ /show/$1? last;
rewrite ^/rw/redirect/(.*)$ /show/$1 redirect;
rewrite ^/rw/away/(.*)$ https://example.com/$1;
if ($arg_mode = stop) { return 403; }
set $greeting "hello $arg_name";
if ($http_x_flag) { return 200 "$greeting\n"; }
'''

[[server.location]]
path = "/loop"
rewrite = "rewrite ^ /loop2;"

[[server.location]]
path = "/loop2"
rewrite = "rewrite ^ /loop;"

[[server.location]]
path = "/close"
return = 444

[[server.location]]
path = "/ep/"
error_page = [
  { codes = [404], target = "/show?from=ep", status = 200 },
  { codes = [403], target = "@named" },
  { codes = [410], target = "http://example.com/gone" },
  { codes = [500], target = "/show", status = "target" },
]
rewrite = '''
if ($arg_c = 403) { return 403; }
if ($arg_c = 410) { return 410; }
if ($arg_c = 500) { return 500; }
'''

[[server.location]]
path = "named"
match = "named"
return = { status = 200, text = "named uri=$uri method=$request_method\n" }

[[server.location]]
path = "/map"
return = { status = 200, text = "$kind\n" }
"#;

const HTTP: &str = r#"[[http.map]]
source = "$arg_k"
variable = "kind"
default = "other"
entries = [["a", "first"], ["~^n(\\d+)$", "number $1"]]"#;

fn start() -> (Site, Anx) {
    let site = site();
    let anx = Anx::start(&site, &config(HTTP, SERVER, LOCATIONS));
    (site, anx)
}

fn req(anx: &Anx, raw: &str) -> Response {
    anx.raw(raw)
}

#[test]
fn rewrite_flags_and_args() {
    let (_s, anx) = start();
    let r = anx.get("/rw/last/p?y=2");
    assert_eq!(r.text(), "show uri=/show/p args=x=1&y=2 method=GET\n");
    let r = anx.get("/rw/drop/p?y=2");
    assert_eq!(r.text(), "show uri=/show/p args= method=GET\n");
    let r = anx.get("/legacy/q?z=3");
    assert_eq!(r.text(), "show uri=/show/q args=z=3 method=GET\n");
}

#[test]
fn redirects_are_absolute() {
    let (_s, anx) = start();
    let port = anx.port;
    let r = req(
        &anx,
        "GET /rw/redirect/p?y=2 HTTP/1.1\r\nHost: Main.Test:9999\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location").unwrap(),
        format!("http://main.test:{port}/show/p?y=2")
    );
    assert!(
        r.text().contains("<title>302 Found</title>"),
        "{}",
        r.text()
    );
    let r = anx.get("/old/x");
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location").unwrap(),
        format!("http://localhost:{port}/show/x")
    );
    let r = anx.get("/rw/away/x?q=1");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("https://example.com/x?q=1"));
}

#[test]
fn set_and_if() {
    let (_s, anx) = start();
    let r = req(
        &anx,
        "GET /rw/x?name=bob HTTP/1.1\r\nHost: h\r\nX-Flag: 1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.text(), "hello bob\n");
    assert_eq!(anx.get("/rw/x?mode=stop").status, 403);
}

#[test]
fn maps_are_variables() {
    let (_s, anx) = start();
    assert_eq!(anx.get("/map?k=a").text(), "first\n");
    assert_eq!(anx.get("/map?k=n42").text(), "number 42\n");
    assert_eq!(anx.get("/map").text(), "other\n");
}

#[test]
fn uri_change_cycle_is_500_and_logged() {
    let (_s, anx) = start();
    let r = anx.get("/loop");
    assert_eq!(r.status, 500);
    assert!(r.says_close(), "nginx closes after a 500");
    poll_until(Duration::from_secs(10), "cycle error line", || {
        anx.stderr()
            .iter()
            .any(|l| l.contains("rewrite or internal redirection cycle while processing \"/loop"))
            .then_some(())
    });
}

#[test]
fn return_444_closes_without_answer() {
    let (_s, anx) = start();
    let mut c = anx.connect();
    c.send(get_req("/a.txt"));
    c.send(get_req("/close"));
    // The earlier pipelined answer still goes out, then nothing.
    assert_eq!(c.response().body, b"alpha\n");
    c.assert_closed();
}

#[test]
fn error_pages() {
    let (_s, anx) = start();
    // Server-level error_page: the page's own status is kept.
    let r = anx.get("/nothing");
    assert_eq!((r.status, r.text()), (404, "custom 404\n".into()));
    // =200 with a URI carrying args; POST becomes GET on the way.
    let r = req(
        &anx,
        "POST /ep/missing HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "show uri=/show args=from=ep method=GET\n");
    // A named location keeps the method and the URI.
    let r = anx.get("/ep/x?c=403");
    assert_eq!(
        (r.status, r.text()),
        (403, "named uri=/ep/x method=GET\n".into())
    );
    // A URL: 302 to it.
    let r = anx.get("/ep/x?c=410");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("http://example.com/gone"));
    // "=" alone: whatever the target answers (200 here).
    let r = anx.get("/ep/x?c=500");
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("show uri=/show"), "{}", r.text());
}

/// nginx's content handler is the last one a matched `if` set, its configuration the last
/// matched block's: `proxy_pass` in a first `if` and a second matched `if` without one is
/// a proxy with no upstream: 500 and an `[alert]`, never the first `if`'s upstream.
#[test]
fn proxy_pass_in_an_if_then_another_matched_if_is_a_500() {
    let site = Site::new();
    let refused = common::backend::refused_port();
    let anx = Anx::start_conf(
        &site,
        &format!(
            "error_log stderr info;\nevents {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:0;\n        location /p {{\n            if ($arg_one) {{\n                proxy_pass http://127.0.0.1:{refused};\n            }}\n            if ($arg_two) {{\n                set $x 1;\n            }}\n        }}\n    }}\n}}\n"
        ),
        1,
    );
    assert_eq!(anx.get("/p?one=1&two=1").status, 500);
    let alert = poll_until(Duration::from_secs(5), "the alert line", || {
        anx.stderr_matching(&["[alert]", "no upstream configuration"])
            .into_iter()
            .next()
    });
    assert!(alert.contains("/p?one=1&two=1"), "{alert}");
    // The first if alone proxies (to a refused port here: 502, so it was tried).
    assert_eq!(anx.get("/p?one=1").status, 502);
}
