//! Host handling and the request target, on the real binary with raw bytes: which Host
//! values and request-line authorities nginx's validation refuses (400, connection closed),
//! how a valid one becomes `$host` and picks the server, how a `#fragment` ends `$uri` and
//! `$args`, and the methods refused before any location (TRACE, CONNECT: 405).

mod common;

use common::*;

const CONFIG: &str = r#"
[main]
error_log_level = "info"

[[server]]
listen = ["127.0.0.1:0"]
server_name = ["localhost"]
root = "html"

[[server.location]]
path = "/"
default_type = "text/plain"
return = { status = 200, text = "main $host|$uri|$args|$request_uri" }

[[server]]
listen = ["127.0.0.1:0"]
server_name = ["other.example", "[::1]"]
root = "html"

[[server.location]]
path = "/"
default_type = "text/plain"
return = { status = 200, text = "other $host|$uri|$args|$request_uri" }
"#;

const PAGES: &str = r#"
[[server]]
listen = ["127.0.0.1:0"]
server_name = ["pages"]
root = "html"
error_page = [{ codes = [400, 405], target = "/oops" }]

[[server.location]]
path = "/oops"
default_type = "text/plain"
return = { status = 200, text = "oops $status $host" }

[[server]]
listen = ["127.0.0.1:0"]
server_name = ["plain"]
root = "html"
"#;

fn start() -> (Site, Anx) {
    let site = Site::new();
    site.mkdir("html");
    let anx = Anx::start(&site, CONFIG);
    (site, anx)
}

/// Sends each request on one kept-alive connection; returns the bodies.
fn bodies_on_one_connection(anx: &Anx, requests: &[String]) -> Vec<String> {
    let mut c = anx.connect();
    requests
        .iter()
        .map(|raw| {
            c.send(raw);
            let r = c.response();
            assert_eq!(r.status, 200, "{raw:?}: {}", r.text());
            assert!(!r.says_close(), "{raw:?} should keep the connection");
            r.text()
        })
        .collect()
}

/// Asserts `raw` gets `status` with `Connection: close`, and the connection then closes.
fn refused(anx: &Anx, raw: &str, status: u16) {
    let mut c = anx.connect();
    c.send_lossy(raw);
    let r = c
        .try_response(false)
        .unwrap_or_else(|e| panic!("{raw:?}: {e}"));
    assert_eq!(r.status, status, "{raw:?}");
    assert!(r.says_close(), "{raw:?} must close");
    c.assert_closed();
}

fn with_host(host: &str) -> String {
    format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n")
}

#[test]
fn valid_hosts_become_host_lowercased_without_port_or_dot() {
    let (_s, anx) = start();
    let got = bodies_on_one_connection(
        &anx,
        &[
            with_host("LocalHost.:8080"),
            with_host("localhost:"),
            with_host("Other.Example."),
            with_host("[::1]:80"),
            with_host("[v1F.Ab:]"),
            with_host("a_b%41!$&'()*+,;=~.example"),
        ],
    );
    assert_eq!(
        got,
        [
            "main localhost|/||/",
            "main localhost|/||/",
            "other other.example|/||/",
            "other [::1]|/||/",
            "main [v1f.ab:]|/||/",
            "main a_b%41!$&'()*+,;=~.example|/||/",
        ]
    );
}

#[test]
fn invalid_hosts_are_400_and_close_while_others_are_served() {
    let (_s, anx) = start();
    for bad in [
        "",
        ".",
        ":80",
        "..example.com",
        "example.com/x",
        "example.com.:1.2",
        "1.2.3.4:98777",
        "1.2.3.4:9000:80",
        "[::1].",
        "[::1].:98",
        "[::1]x",
        "extra[::1]:98",
        "[::1",
        "[a..b]",
        "local\\host",
    ] {
        refused(&anx, &with_host(bad), 400);
    }
    refused(&anx, "GET / HTTP/1.1\r\nHost: localhost\x02\r\n\r\n", 400);
    refused(
        &anx,
        "GET / HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n",
        400,
    );
    let r = anx.get("/still");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "main localhost|/still||/still");
}

#[test]
fn absolute_form_host_wins_and_is_checked_like_nginx() {
    let (_s, anx) = start();
    let abs = |authority: &str, rest: &str| {
        format!("GET http://{authority}{rest} HTTP/1.1\r\nHost: localhost\r\n\r\n")
    };
    let got = bodies_on_one_connection(
        &anx,
        &[
            abs("OTHER.example.:8080", "/p?q"),
            abs("other.example", ""),
            abs("other.example:", "?args#frag"),
            "GET ftp://other.example/x HTTP/1.1\r\nHost: localhost\r\n\r\n".to_string(),
        ],
    );
    assert_eq!(
        got,
        [
            "other other.example|/p|q|/p?q",
            "other other.example|/||/",
            "other other.example|/|args|?args#frag",
            "other other.example|/x||/x",
        ]
    );
    for bad in [
        "", ".", "a_b", "a:80:80", "a:123456", "[::1].", "u@a", "a#f",
    ] {
        refused(&anx, &abs(bad, "/"), 400);
    }
    // HTTP/1.1 without a Host field, even though the target names one.
    refused(&anx, "GET http://localhost/ HTTP/1.1\r\n\r\n", 400);
}

#[test]
fn fragment_ends_uri_and_args() {
    let (_s, anx) = start();
    let get = |target: &str| format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let got = bodies_on_one_connection(
        &anx,
        &[
            get("/foo/bar/.#frag"),
            get("/foo/bar/..#frag"),
            get("/a?b=1#c?d"),
            get("/a#b?c"),
            get("/a/b#/../.."),
            get("/a%23b"),
        ],
    );
    assert_eq!(
        got,
        [
            "main localhost|/foo/bar/||/foo/bar/.#frag",
            "main localhost|/foo/||/foo/bar/..#frag",
            "main localhost|/a|b=1|/a?b=1#c?d",
            "main localhost|/a||/a#b?c",
            "main localhost|/a/b||/a/b#/../..",
            "main localhost|/a#b||/a%23b",
        ]
    );
}

#[test]
fn trace_and_connect_are_405_before_any_location() {
    let (_s, anx) = start();
    refused(&anx, "TRACE / HTTP/1.1\r\nHost: localhost\r\n\r\n", 405);
    refused(
        &anx,
        "CONNECT localhost:8080 HTTP/1.1\r\nHost: localhost\r\n\r\n",
        405,
    );
    refused(&anx, "CONNECT / HTTP/1.1\r\nHost: localhost\r\n\r\n", 400);
    refused(
        &anx,
        "CONNECT localhost HTTP/1.1\r\nHost: localhost\r\n\r\n",
        400,
    );
    assert_eq!(anx.get("/").status, 200);
}

/// nginx answers these refusals once the server is chosen, so the server's error_page
/// applies (a refused Host falls back to the address's default server); the connection
/// closes after the answer all the same.
#[test]
fn refusals_after_the_head_go_through_error_page() {
    let site = Site::new();
    site.mkdir("html");
    // The default server has an error_page; a second one is named by a valid Host.
    let anx = Anx::start(&site, PAGES);
    let ask = |raw: &str| {
        let mut c = anx.connect();
        c.send(raw);
        let r = c.response();
        assert!(r.says_close(), "{raw:?} must close");
        c.assert_closed();
        (r.status, r.text())
    };
    assert_eq!(
        ask("GET / HTTP/1.1\r\nHost: a..b\r\n\r\n"),
        (400, "oops 400 pages".to_string())
    );
    assert_eq!(
        ask("TRACE / HTTP/1.1\r\nHost: pages\r\n\r\n"),
        (405, "oops 405 pages".to_string())
    );
    // TRACE to the other server: its own (built-in) page.
    assert_eq!(ask("TRACE / HTTP/1.1\r\nHost: plain\r\n\r\n").0, 405);
    // The body of a refused request is not read as the next request.
    assert_eq!(
        ask("GET / HTTP/1.1\r\nHost: a/b\r\nContent-Length: 40\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .0,
        400
    );
}
