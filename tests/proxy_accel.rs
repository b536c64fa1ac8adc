//! X-Accel-Redirect: an upstream answer naming a URI or a named location becomes an
//! internal redirect (the answer's body is dropped; Content-Type, Set-Cookie,
//! Content-Disposition, Cache-Control, Expires and Accept-Ranges are kept), run as GET,
//! refused with 404 when the URI is unsafe, counted against the ten URI changes;
//! X-Accel-Limit-Rate carries over; `proxy_ignore_headers` turns both off.

mod common;

use common::backend::*;
use common::*;

/// An upstream that answers every request with `X-Accel-Redirect: <the x argument>`
/// (`/app` without one: back to the proxied location).
fn redirecting() -> Backend {
    Backend::start(|req| {
        let to = req
            .arg("x")
            .unwrap_or("/app")
            .replace("%3F", "?")
            .replace("%26", "&");
        let mut r = Reply::ok("upstream body, never seen\n")
            .header("X-Accel-Redirect", &to)
            .header("Set-Cookie", "s=1; Path=/app/")
            .header("Content-Disposition", "attachment")
            .header("Cache-Control", "no-cache")
            .header("Something", "other");
        r.headers.retain(|(n, _)| n != "Content-Type");
        let r = r.header("Content-Type", "text/blah");
        match req.arg("xal") {
            Some(rate) => r.header("X-Accel-Limit-Rate", rate),
            None => r,
        }
    })
}

fn start(b: &Backend, extra: &str) -> (Site, Anx) {
    let site = Site::new();
    site.write("html/files/a.txt", "file a\n");
    let server = format!(
        "        location /app {{ proxy_pass http://{}; proxy_cookie_path /app/ /; {extra} }}\n\
        location /files/ {{ internal; }}\n\
        location /show {{ return 200 \"$request_method $uri $args $limit_rate\\n\"; }}\n\
        location @named {{ return 200 \"named $uri $upstream_http_x_accel_redirect\\n\"; }}\n",
        b.addr()
    );
    let anx = Anx::start_conf(&site, &proxy_conf("", &server), 1);
    (site, anx)
}

#[test]
fn redirect_to_a_file_keeps_the_fields_nginx_keeps() {
    let b = redirecting();
    let (_site, anx) = start(&b, "");
    let r = anx.get("/app?x=/files/a.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "file a\n"));
    assert_eq!(r.header("content-type"), Some("text/blah"));
    // Set-Cookie goes through proxy_cookie_path as a relayed one would.
    assert_eq!(r.header("set-cookie"), Some("s=1; Path=/"));
    assert_eq!(r.header("content-disposition"), Some("attachment"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert!(r.header("something").is_none());
    assert!(r.header("x-accel-redirect").is_none());
    assert_eq!(b.count(), 1);
    // The internal location is not reachable directly.
    assert_eq!(anx.get("/files/a.txt").status, 404);
}

#[test]
fn redirect_runs_as_get_with_its_args_and_unescaped_uri() {
    let b = redirecting();
    let (_site, anx) = start(&b, "");
    let r = anx.raw(
        "POST /app?x=/show%3Fa=1%26b=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    );
    assert_eq!(r.text(), "GET /show a=1&b=2 0\n");
    // The upstream got the POST and its body.
    assert_eq!(
        (b.last().method.as_str(), &b.last().body[..]),
        ("POST", &b"abc"[..])
    );
    // HEAD stays HEAD (the answer has no body).
    let mut c = anx.connect();
    c.send("HEAD /app?x=/show HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.head_response();
    assert_eq!((r.status, b.last().method.as_str()), (200, "HEAD"));
    assert_eq!(r.content_length(), Some("HEAD /show  0\n".len() as u64));
    assert_eq!(anx.get("/app?x=/sh%6fw").text(), "GET /show  0\n");
}

#[test]
fn named_locations_unsafe_uris_and_cycles() {
    let b = redirecting();
    let (_site, anx) = start(&b, "");
    assert_eq!(anx.get("/app?x=@named").text(), "named /app @named\n");
    for unsafe_uri in ["/files/../files/a.txt", "..", "/a/.%2e/files/a.txt"] {
        let r = anx.get(&format!("/app?x={unsafe_uri}"));
        assert_eq!(r.status, 404, "{unsafe_uri}");
    }
    // Each redirect back to the proxied location counts: the eleventh URI change is a 500.
    b.clear();
    let r = anx.get("/app");
    assert_eq!(r.status, 500);
    assert!(b.count() <= 11, "{} upstream requests", b.count());
}

#[test]
fn x_accel_limit_rate_survives_the_redirect() {
    let b = redirecting();
    let (_site, anx) = start(&b, "");
    assert_eq!(
        anx.get("/app?x=/show&xal=13000").text(),
        "GET /show  13000\n"
    );
}

#[test]
fn ignored_redirects_are_relayed() {
    let b = redirecting();
    let (_site, anx) = start(&b, "proxy_ignore_headers X-Accel-Redirect;");
    let r = anx.get("/app?x=/files/a.txt");
    assert_eq!(r.text(), "upstream body, never seen\n");
    assert!(r.header("x-accel-redirect").is_none(), "hidden as ever");
    assert_eq!(r.header("something"), Some("other"));

    let (_site, anx) = start(
        &b,
        "proxy_ignore_headers X-Accel-Redirect; proxy_pass_header X-Accel-Redirect;",
    );
    let r = anx.get("/app?x=/files/a.txt");
    assert_eq!(r.header("x-accel-redirect"), Some("/files/a.txt"));
    // Passing the field alone does not stop the redirect (nginx checks it first).
    let (_site, anx) = start(&b, "proxy_pass_header X-Accel-Redirect;");
    assert_eq!(anx.get("/app?x=/files/a.txt").text(), "file a\n");
}

#[test]
fn unknown_ignored_header_is_refused() {
    let site = Site::new();
    let conf = proxy_conf(
        "",
        "        location / { proxy_pass http://127.0.0.1:9; proxy_ignore_headers X-Accel-Nope; }\n",
    );
    let (ok, err) = test_config(&site.write("anx.conf", conf));
    assert!(!ok);
    assert!(err.contains("invalid value \"X-Accel-Nope\""), "{err}");
}
