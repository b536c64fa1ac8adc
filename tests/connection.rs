//! Connection handling: keep-alive, pipelining, HTTP/1.0, Connection: close,
//! keepalive_requests, 100-continue, request bodies, absolute-form targets, standard
//! headers, several shards, and `return` locations.

mod common;

use common::*;

const LOCATIONS: &str = r#"
[[server.location]]
path = "/"

[[server.location]]
path = "/health"
match = "exact"
default_type = "text/plain"
return = { status = 200, text = "ok\n" }

[[server.location]]
path = "/old"
return = { status = 301, text = "http://example.com/new" }

[[server.location]]
path = "/gone"
return = 404
"#;

fn site() -> Site {
    let site = Site::new();
    site.write("html/index.html", "<h1>index</h1>\n");
    site.write("html/a.txt", "alpha\n");
    site.write("html/b.txt", "bravo bravo\n");
    site
}

fn start_with(http: &str, server: &str) -> (Site, Anx) {
    let site = site();
    let anx = Anx::start(&site, &config(http, server, LOCATIONS));
    (site, anx)
}

fn start() -> (Site, Anx) {
    start_with("", "")
}

#[test]
fn keepalive_serves_several_requests_on_one_socket() {
    let (_s, anx) = start();
    let mut c = anx.connect();
    for i in 0..10 {
        let path = if i % 2 == 0 { "/a.txt" } else { "/b.txt" };
        c.send(get_req(path));
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("keep-alive"));
        let expected: &[u8] = if i % 2 == 0 {
            b"alpha\n"
        } else {
            b"bravo bravo\n"
        };
        assert_eq!(r.body, expected);
    }
}

#[test]
fn pipelining_sixteen_requests_in_one_write() {
    let (_s, anx) = start();
    let mut batch = Vec::new();
    let mut expected: Vec<(u16, Option<&[u8]>, bool)> = Vec::new();
    for i in 0..16 {
        match i {
            5 => {
                batch.extend_from_slice(b"HEAD /b.txt HTTP/1.1\r\nHost: x\r\n\r\n");
                expected.push((200, None, true));
            }
            9 => {
                batch.extend_from_slice(&get_req("/missing.txt"));
                expected.push((404, None, false));
            }
            12 => {
                batch.extend_from_slice(&get_req("/health"));
                expected.push((200, Some(b"ok\n"), false));
            }
            _ if i % 2 == 0 => {
                batch.extend_from_slice(&get_req("/a.txt"));
                expected.push((200, Some(b"alpha\n"), false));
            }
            _ => {
                batch.extend_from_slice(&get_req("/b.txt"));
                expected.push((200, Some(b"bravo bravo\n"), false));
            }
        }
    }
    let mut c = anx.connect();
    c.send(&batch);
    for (i, (status, body, head)) in expected.into_iter().enumerate() {
        let r = if head {
            c.head_response()
        } else {
            c.response()
        };
        assert_eq!(r.status, status, "response {i}");
        if head {
            assert_eq!(r.content_length(), Some(12), "HEAD response {i}");
        }
        if let Some(body) = body {
            assert_eq!(r.body, body, "response {i}");
        }
    }
    // Nothing more, and the connection is still open for more.
    c.send(get_req("/a.txt"));
    assert_eq!(c.response().body, b"alpha\n");
    assert!(c.pending().is_empty());
}

#[test]
fn http10_without_keepalive_is_closed_after_response() {
    let (_s, anx) = start();
    let mut c = anx.connect();
    c.send("GET /a.txt HTTP/1.0\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"alpha\n");
    assert!(r.says_close());
    c.assert_closed();
}

#[test]
fn http10_with_keepalive_is_kept() {
    let (_s, anx) = start();
    let mut c = anx.connect();
    for _ in 0..3 {
        c.send("GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"alpha\n");
        assert_eq!(
            r.header("connection")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("keep-alive")
        );
    }
}

#[test]
fn connection_close_closes_after_response() {
    let (_s, anx) = start();
    let mut c = anx.connect();
    c.send("GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"alpha\n");
    assert!(r.says_close());
    c.assert_closed();
    // Pipelined requests after a Connection: close are not answered.
    let mut c = anx.connect();
    c.send(
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\nGET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(c.response().body, b"alpha\n");
    c.assert_closed();
}

#[test]
fn keepalive_requests_limit_closes_after_three() {
    let (_s, anx) = start_with("keepalive_requests = 3", "");
    let mut c = anx.connect();
    for i in 1..=3 {
        c.send(get_req("/a.txt"));
        let r = c.response();
        assert_eq!(r.status, 200, "request {i}");
        if i < 3 {
            assert!(!r.says_close(), "request {i}");
        } else {
            assert!(r.says_close(), "the third response must announce the close");
        }
    }
    c.assert_closed();
}

#[test]
fn expect_100_continue_on_return_location() {
    let (_s, anx) = start();
    let mut c = anx.connect();
    c.send(
        "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
    );
    let interim = c.response();
    assert_eq!(
        interim.status,
        100,
        "{:?}",
        String::from_utf8_lossy(&interim.raw_head)
    );
    assert!(interim.raw_head.starts_with(b"HTTP/1.1 100 Continue\r\n"));
    c.send("hello world");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok\n");
    // The connection carries on.
    c.send(get_req("/a.txt"));
    assert_eq!(c.response().body, b"alpha\n");
}

#[test]
fn chunked_request_body_discarded_and_connection_reused() {
    let (_s, anx) = start();
    let mut c = anx.connect();
    c.send(
        "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok\n");
    c.send(get_req("/a.txt"));
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"alpha\n");
    // A body split over several writes.
    c.send("POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab");
    std::thread::sleep(std::time::Duration::from_millis(100));
    c.send("c\r\n0\r\n\r\n");
    assert_eq!(c.response().body, b"ok\n");
    // Content-Length body too.
    c.send("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody");
    assert_eq!(c.response().body, b"ok\n");
    c.send(get_req("/b.txt"));
    assert_eq!(c.response().body, b"bravo bravo\n");
}

#[test]
fn absolute_form_target() {
    let (_s, anx) = start();
    let mut c = anx.connect();
    c.send("GET http://localhost/a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"alpha\n");
    // The target's authority wins over (and may differ from) Host.
    c.send("GET http://example.com/b.txt?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"bravo bravo\n");
    // "http://host" alone means "/".
    c.send("GET http://localhost HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"<h1>index</h1>\n");
}

#[test]
fn date_and_server_headers() {
    let (_s, anx) = start();
    let r = anx.get("/a.txt");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(r.header("server"), Some(format!("anx/{version}").as_str()));
    assert_eq!(r.header_count("date"), 1);
    let date = r.header("date").unwrap();
    let parsed = httpdate::parse_http_date(date)
        .unwrap_or_else(|e| panic!("Date {date:?} is not an IMF-fixdate: {e}"));
    let skew = parsed
        .duration_since(std::time::SystemTime::now())
        .or_else(|e| Ok::<_, ()>(e.duration()))
        .unwrap();
    assert!(skew.as_secs() < 300, "Date {date:?} is far from now");
    assert!(date.ends_with(" GMT"));
    // Error pages carry them too.
    let r = anx.get("/missing");
    assert_eq!(r.status, 404);
    assert!(r.header("date").is_some());
    assert!(r.text().contains(&format!("anx/{version}")));
}

#[test]
fn server_tokens_off_hides_the_version() {
    let (_s, anx) = start_with("server_tokens = false", "");
    let r = anx.get("/a.txt");
    assert_eq!(r.header("server"), Some("anx"));
    let r = anx.get("/missing");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("server"), Some("anx"));
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        !r.text().contains(&format!("anx/{version}")),
        "{}",
        r.text()
    );
}

#[test]
fn two_shards_serve_many_connections() {
    let site = site();
    let anx = Anx::start_shards(&site, &config("", "", LOCATIONS), 2);
    assert!(anx.stderr().iter().any(|l| l.contains("ready (2 shards)")));
    let port = anx.port;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..25 {
                    let mut c = Conn::open(port);
                    let path = if (t + i) % 2 == 0 { "/a.txt" } else { "/b.txt" };
                    c.send(get_req(path));
                    let r = c.response();
                    assert_eq!(r.status, 200);
                    let expected: &[u8] = if (t + i) % 2 == 0 {
                        b"alpha\n"
                    } else {
                        b"bravo bravo\n"
                    };
                    assert_eq!(r.body, expected);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    // Many concurrent open connections at once as well.
    let mut conns: Vec<Conn> = (0..64).map(|_| Conn::open(port)).collect();
    for c in conns.iter_mut() {
        c.send(get_req("/health"));
    }
    for c in conns.iter_mut() {
        assert_eq!(c.response().body, b"ok\n");
    }
}

#[test]
fn return_locations() {
    let (_s, anx) = start();
    let r = anx.get("/health");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok\n");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.content_length(), Some(3));

    let r = anx.get("/old/page");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("http://example.com/new"));
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert!(r.text().contains("301 Moved Permanently"), "{}", r.text());

    let r = anx.get("/gone");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert!(r.text().contains("404 Not Found"), "{}", r.text());

    // Exact match only: /health/x falls through to the static root.
    let r = anx.get("/health/x");
    assert_eq!(r.status, 404);

    // HEAD on a return location: same headers, no body.
    let mut c = anx.connect();
    c.send("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.head_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.content_length(), Some(3));
    c.send(get_req("/health"));
    assert_eq!(c.response().body, b"ok\n");
}

/// `$connection` numbers are unique across shards, and on one shard they count 1, 2, 3…
/// as nginx's single worker does (split_clients on `$connection` then splits as nginx's).
#[test]
fn connection_numbers_are_unique_and_dense() {
    let free = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("its address").port()
    };
    let conf = |a: u16, b: u16| {
        format!("events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:{a};\n        listen 127.0.0.1:{b};\n        location / {{ return 200 \"$connection\"; }}\n    }}\n}}\n")
    };
    let numbers = |port: u16| -> u64 {
        let mut c = Conn::open(port);
        c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        c.response().text().parse().expect("a number")
    };
    let site = Site::new();
    let one = Anx::start_conf(&site, &conf(free(), free()), 1);
    let ports = one.ports.clone();
    assert_eq!(ports.len(), 2, "two listeners");
    // Both listeners of the shard draw from one sequence.
    let seen: Vec<u64> = (0..6).map(|i| numbers(ports[i % 2])).collect();
    for pair in seen.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "consecutive on one shard: {seen:?}");
    }
    let site2 = Site::new();
    let two = Anx::start_conf(&site2, &conf(free(), free()), 2);
    let mut all: Vec<u64> = (0..40).map(|i| numbers(two.ports[i % 2])).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 40, "unique over two shards: {all:?}");
}

/// A panic in a connection's task (here outside the pipeline, through the debug-build hook
/// `ANX_TEST_PANIC_PATH`) ends that connection only: it is logged at alert with the
/// connection, a kept-alive connection on the same shard goes on, and new ones are served.
#[cfg(debug_assertions)]
#[test]
fn a_panic_ends_one_connection_never_the_shard() {
    let site = Site::new();
    let conf = "error_log stderr info;\nevents {}\nhttp {\n    server {\n        listen 127.0.0.1:0;\n        location / { return 200 \"fine\\n\"; }\n    }\n}\n";
    let anx = Anx::start_conf_env(&site, conf, 1, &[("ANX_TEST_PANIC_PATH", "/boom")]);
    let mut kept = anx.connect();
    kept.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(kept.response().text(), "fine\n");

    let mut doomed = std::net::TcpStream::connect(anx.addr()).unwrap();
    std::io::Write::write_all(&mut doomed, b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    doomed
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let _ = std::io::Read::read_to_end(&mut doomed, &mut got);
    assert!(
        got.is_empty(),
        "no answer from a panicked connection: {got:?}"
    );

    let alert = poll_until(std::time::Duration::from_secs(5), "the alert line", || {
        anx.stderr_matching(&["[alert]", "*2 connection panicked", "test hook"])
            .into_iter()
            .next()
    });
    assert!(alert.contains("client: 127.0.0.1"), "{alert}");
    // Where it happened is an alert line too, not Rust's backtrace on stderr.
    assert!(
        !anx.stderr_matching(&["[alert]", "panic at src/serve/h1.rs"])
            .is_empty(),
        "{:?}",
        anx.stderr()
    );
    assert!(anx.stderr_matching(&["stack backtrace"]).is_empty());
    kept.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        kept.response().text(),
        "fine\n",
        "the same shard still serves"
    );
    assert_eq!(anx.get("/").text(), "fine\n");
}
