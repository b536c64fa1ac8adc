//! Upstream failures and connection reuse: a backend that dies mid-response (the client
//! gets a truncated response and a closed connection, never a hang or a second response),
//! one that never answers (504 after `proxy_read_timeout`), a refused connection (502), a
//! malformed response head (502), all peers down (502 without contacting any); error-log
//! lines naming the upstream and the client; anx keeps serving after each. Upstream
//! keep-alive (`keepalive N` + HTTP/1.1 + `Connection ""`) reuses connections, none is
//! reused without it, and a backend that closes or misbehaves does not poison the pool.
//! `proxy_next_upstream`: `error` moves past a refused peer, `http_502`/`http_503` retry,
//! a POST is not retried unless `non_idempotent`, `off`, and `proxy_next_upstream_tries`.

mod common;

use common::backend::*;
use common::*;
use std::time::Duration;

/// A location every test server has, answered by anx itself.
const LOCAL: &str = "location = /local { return 200 'local\\n'; }";

/// anx still answers on fresh connections, itself and through the proxy (`path`).
fn still_serves(anx: &Anx, path: &str) {
    let r = anx.get("/local");
    assert_eq!((r.status, r.text().as_str()), (200, "local\n"));
    let r = anx.get(path);
    assert_eq!(r.status, 200, "{path} after the failure: {r:?}");
}

/// anx with upstream `g`: `first` (never marked failed, so every request may try it)
/// then `second`, and the server's `locations`.
fn retry_group(first: &str, second: &str, locations: &str) -> (Site, Anx) {
    start_proxy(
        &format!("    upstream g {{ server {first} max_fails=0; server {second}; }}\n"),
        locations,
    )
}

/// [`retry_group`] whose first peer refuses connections and whose second, returned,
/// answers "alive\n".
fn refused_then_alive(locations: &str) -> (Backend, Site, Anx) {
    let alive = Backend::text("alive\n");
    let (site, anx) = retry_group(
        &format!("127.0.0.1:{}", refused_port()),
        &alive.addr(),
        locations,
    );
    (alive, site, anx)
}

/// GETs `path` and checks the answer is 200 with `body`; `what` names the request.
fn assert_ok_text(anx: &Anx, path: &str, body: &str, what: impl std::fmt::Display) {
    let r = anx.get(path);
    assert_eq!((r.status, r.text().as_str()), (200, body), "{what}");
}

/// The statuses of `n` GETs of `path`.
fn statuses(anx: &Anx, path: &str, n: usize) -> Vec<u16> {
    (0..n).map(|_| anx.get(path).status).collect()
}

/// Waits for an error-log line containing every needle; panics with the whole log if none.
fn log_line(anx: &Anx, needles: &[&str]) -> String {
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        poll_until(Duration::from_secs(5), "the error-log line", || {
            anx.stderr_matching(needles).into_iter().next()
        })
    }));
    match found {
        Ok(l) => l,
        Err(_) => panic!(
            "no error-log line with {needles:?}; stderr:\n{}",
            anx.stderr().join("\n")
        ),
    }
}

#[test]
fn backend_dying_mid_response_truncates_and_closes() {
    let good = Backend::text("good\n");
    let b = Backend::start(|_| Reply::die_mid_body(1_000_000, 100_000));
    let (_s, anx) = start_proxy(
        &(upstream("b", &b) + &upstream("good", &good)),
        &format!("{LOCAL}\n location / {{ proxy_pass http://b; }}\n location /ok {{ proxy_pass http://good; }}"),
    );
    let mut c = anx.connect();
    c.send(get_req("/dies"));
    let head = c
        .try_head()
        .expect("the head was sent before the backend died");
    assert_eq!(head.status, 200, "{head:?}");
    // The body is cut short and the connection closed: reading to EOF must end (no
    // hang) with fewer bytes than announced and nothing that looks like a second response.
    let rest = c.read_to_end();
    assert!(
        (rest.len() as u64) < 1_000_000,
        "got {} body bytes, the backend sent 100000",
        rest.len()
    );
    assert!(!contains(&rest, b"HTTP/1."), "a second response followed");
    if head.header("transfer-encoding").is_some() {
        assert!(
            !rest.ends_with(b"0\r\n\r\n"),
            "a truncated chunked body must not end with the last chunk"
        );
    }
    still_serves(&anx, "/ok");
}

#[test]
fn backend_that_never_answers_gives_504_after_read_timeout() {
    let b = Backend::start(|_| Reply::never());
    let good = Backend::text("good\n");
    let (_s, anx) = start_proxy(
        &(upstream("b", &b) + &upstream("good", &good)),
        &format!(
            "{LOCAL}\n location / {{ proxy_pass http://b; proxy_read_timeout 1s; }}
             location /ok {{ proxy_pass http://good; }}"
        ),
    );
    let r = anx.get("/slow");
    assert_eq!(r.status, 504, "{r:?}");
    assert_eq!(
        b.count(),
        1,
        "a GET timing out is not retried on a one-peer group"
    );
    let line = log_line(&anx, &["timed out", "client: 127.0.0.1", &b.addr()]);
    assert!(line.contains("[error]"), "{line}");
    still_serves(&anx, "/ok");
}

#[test]
fn connection_refused_gives_502_and_an_error_log_line() {
    let dead = refused_port();
    let good = Backend::text("good\n");
    let (_s, anx) = start_proxy(
        &(format!("    upstream dead {{ server 127.0.0.1:{dead}; }}\n") + &upstream("good", &good)),
        &format!(
            "{LOCAL}\n location / {{ proxy_pass http://dead; }}
             location /ok {{ proxy_pass http://good; }}"
        ),
    );
    let r = anx.get("/refused");
    assert_eq!(r.status, 502, "{r:?}");
    let line = log_line(
        &anx,
        &[
            "client: 127.0.0.1",
            &format!("127.0.0.1:{dead}"),
            "upstream",
        ],
    );
    assert!(line.contains("[error]"), "{line}");
    assert!(
        line.contains("/refused"),
        "the line names the request: {line}"
    );
    still_serves(&anx, "/ok");
}

/// nginx differs here: a head that does not parse as a status line is passed to the
/// client as an HTTP/0.9 response ("upstream sent no valid HTTP/1.0 header"). anx answers
/// 502, as for any invalid header.
#[test]
fn malformed_response_head_gives_502() {
    let b = Backend::start(|req| match req.path() {
        "/garbage" => Reply::raw("HTTP/1.1 abc Nope\r\nNo colon here\r\n\r\n"),
        "/not-http" => Reply::raw("SSH-2.0-OpenSSH_9.0\r\n\r\n"),
        "/bad-length" => {
            Reply::raw("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
        }
        _ => Reply::ok("fine\n"),
    });
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        &format!("{LOCAL}\n location / {{ proxy_pass http://b; }}"),
    );
    for path in ["/garbage", "/not-http", "/bad-length"] {
        let r = anx.get(path);
        assert_eq!(r.status, 502, "{path}: {r:?}");
    }
    still_serves(&anx, "/fine");
}

#[test]
fn all_peers_down_gives_502_without_contacting_any() {
    let a = Backend::text("a\n");
    let b = Backend::text("b\n");
    let (_s, anx) = start_proxy(
        &format!(
            "    upstream g {{ server {} down; server {} down; }}\n",
            a.addr(),
            b.addr()
        ),
        &format!("{LOCAL}\n location / {{ proxy_pass http://g; }}"),
    );
    for _ in 0..5 {
        let r = anx.get("/x");
        assert_eq!(r.status, 502, "{r:?}");
    }
    assert_eq!(
        a.accepted() + b.accepted(),
        0,
        "a peer marked down was contacted"
    );
    let r = anx.get("/local");
    assert_eq!(r.status, 200);
}

#[test]
fn peers_marked_failed_are_not_contacted_until_fail_timeout() {
    // Both peers accept and drop the connection: each failure counts against the peer.
    let a = Backend::start(|_| Reply::drop_connection());
    let b = Backend::start(|_| Reply::drop_connection());
    let (_s, anx) = start_proxy(
        &format!(
            "    upstream g {{ server {} max_fails=1 fail_timeout=60s; server {} max_fails=1 fail_timeout=60s; }}\n",
            a.addr(),
            b.addr()
        ),
        &format!("{LOCAL}\n location / {{ proxy_pass http://g; }}"),
    );
    let r = anx.get("/x");
    assert_eq!(r.status, 502, "{r:?}");
    let tried = a.accepted() + b.accepted();
    assert_eq!(
        tried, 2,
        "the first request tries both peers (proxy_next_upstream error)"
    );
    for _ in 0..5 {
        let r = anx.get("/x");
        assert_eq!(r.status, 502, "{r:?}");
    }
    assert_eq!(
        a.accepted() + b.accepted(),
        tried,
        "peers that failed max_fails times were contacted again within fail_timeout"
    );
    log_line(&anx, &["no live upstreams"]);
}

#[test]
fn keepalive_pool_reuses_upstream_connections() {
    for shards in [1, 2] {
        let b = Backend::text("pooled\n");
        let (_s, anx) = start_proxy_shards(
            &format!("    upstream b {{ server {}; keepalive 8; }}\n", b.addr()),
            "location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection \"\"; }",
            shards,
        );
        for i in 0..100 {
            assert_ok_text(
                &anx,
                &format!("/r{i}"),
                "pooled\n",
                format_args!("request {i}"),
            );
        }
        assert_eq!(b.count(), 100);
        assert!(
            b.accepted() <= 2 * shards,
            "{shards} shard(s): 100 sequential requests used {} upstream connections",
            b.accepted()
        );
        let last = b.last();
        assert_eq!(last.version, "HTTP/1.1");
        assert!(
            last.header("connection").is_none(),
            "Connection \"\" removes the field: {:?}",
            last.headers
        );
    }
}

#[test]
fn keepalive_time_retires_old_upstream_connections() {
    let b = Backend::text("pooled\n");
    let (_s, anx) = start_proxy(
        &format!(
            "    upstream b {{ server {}; keepalive 8; keepalive_time 1s; }}\n",
            b.addr()
        ),
        "location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection \"\"; }",
    );
    assert_ok_text(&anx, "/1", "pooled\n", "first");
    assert_ok_text(&anx, "/2", "pooled\n", "second");
    assert_eq!(b.accepted(), 1, "a young connection is reused");
    std::thread::sleep(Duration::from_millis(1200));
    // Past keepalive_time the connection serves this request, then is not kept.
    assert_ok_text(&anx, "/3", "pooled\n", "third");
    assert_ok_text(&anx, "/4", "pooled\n", "fourth");
    assert_eq!(
        b.accepted(),
        2,
        "the old connection was retired after its request"
    );
}

#[test]
fn without_keepalive_each_request_gets_its_own_upstream_connection() {
    let b = Backend::text("fresh\n");
    let (_s, anx) = start_proxy(&upstream("b", &b), "location / { proxy_pass http://b; }");
    // Even on one keep-alive client connection.
    let mut c = anx.connect();
    for i in 0..20 {
        c.send(get_req(&format!("/r{i}")));
        assert_eq!(c.response().status, 200, "request {i}");
    }
    assert_eq!(b.accepted(), 20);
    assert!(b
        .requests()
        .iter()
        .all(|r| r.header("connection") == Some("close")));
}

#[test]
fn a_backend_closing_after_each_response_does_not_poison_the_pool() {
    let announced = Backend::start(|_| Reply::ok("announced\n").close());
    let silent = Backend::start(|_| Reply::ok("silent\n").close_silently());
    let (_s, anx) = start_proxy(
        &format!(
            "    upstream a {{ server {}; keepalive 8; }}\n    upstream s {{ server {}; keepalive 8; }}\n",
            announced.addr(),
            silent.addr()
        ),
        "proxy_http_version 1.1; proxy_set_header Connection \"\";
         location /a { proxy_pass http://a; }
         location /s { proxy_pass http://s; }",
    );
    for i in 0..10 {
        assert_ok_text(&anx, "/a", "announced\n", format_args!("/a {i}"));
        assert_ok_text(&anx, "/s", "silent\n", format_args!("/s {i}"));
        // Let the silent backend's FIN reach anx's pooled connection before the next use.
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(announced.count(), 10);
    assert_eq!(silent.count(), 10);
}

#[test]
fn a_malformed_response_does_not_poison_the_pool() {
    let b = Backend::start(|req| match req.path() {
        "/bad" => Reply::raw("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA-BYTES"),
        "/short" => Reply::raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"),
        _ => Reply::ok("good\n"),
    });
    let (_s, anx) = start_proxy(
        &format!("    upstream b {{ server {}; keepalive 8; }}\n", b.addr()),
        "location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection \"\"; }",
    );
    for round in 0..3 {
        assert_eq!(anx.get("/good").text(), "good\n", "round {round}");
        // Extra bytes after the body: the connection cannot be reused.
        let r = anx.get("/bad");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "abc");
        assert_eq!(
            anx.get("/good").text(),
            "good\n",
            "round {round}, after /bad"
        );
        // A body shorter than announced: the client sees a truncated response; the next
        // request still works.
        let mut c = anx.connect();
        c.send("GET /short HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let _ = c.try_response(false);
        assert_eq!(
            anx.get("/good").text(),
            "good\n",
            "round {round}, after /short"
        );
    }
}

#[test]
fn next_upstream_error_moves_past_a_refused_peer() {
    let (b, _s, anx) = refused_then_alive("location / { proxy_pass http://g; }");
    for i in 0..10 {
        assert_ok_text(&anx, "/x", "alive\n", format_args!("request {i}"));
    }
    assert_eq!(b.count(), 10);
}

#[test]
fn next_upstream_off_returns_the_first_failure() {
    let (b, _s, anx) =
        refused_then_alive("location / { proxy_pass http://g; proxy_next_upstream off; }");
    let statuses = statuses(&anx, "/x", 10);
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let bad = statuses.iter().filter(|&&s| s == 502).count();
    assert_eq!(ok + bad, 10, "{statuses:?}");
    assert!(
        bad >= 1,
        "round-robin sent nothing to the refused peer? {statuses:?}"
    );
    assert_eq!(ok, b.count(), "{statuses:?}");
}

#[test]
fn next_upstream_on_502_and_503() {
    let flaky = Backend::start(|req| match req.path() {
        "/502" => Reply::text(502, "flaky 502\n"),
        _ => Reply::text(503, "flaky 503\n"),
    });
    let good = Backend::text("good\n");
    let (_s, anx) = retry_group(
        &flaky.addr(),
        &good.addr(),
        "location /503 { proxy_pass http://g; proxy_next_upstream error timeout http_503; }
         location /502 { proxy_pass http://g; proxy_next_upstream error http_502; }
         location /plain { proxy_pass http://g; }",
    );
    for path in ["/503", "/502"] {
        flaky.clear();
        for i in 0..6 {
            assert_ok_text(&anx, path, "good\n", format_args!("{path} #{i}"));
        }
        assert!(flaky.count() >= 1, "{path}: the flaky peer was never tried");
    }
    // Without http_503, the backend's 503 is the answer.
    let statuses = statuses(&anx, "/plain", 6);
    assert!(statuses.contains(&503), "{statuses:?}");
}

#[test]
fn post_is_retried_only_with_non_idempotent() {
    // The first peer reads the request and drops the connection: the request may have
    // been processed, so a POST must not be sent again unless allowed.
    let dropper = Backend::start(|_| Reply::drop_connection());
    let good = Backend::text("good\n");
    let (_s, anx) = retry_group(
        &dropper.addr(),
        &good.addr(),
        "location /strict { proxy_pass http://g; }
         location /lenient { proxy_pass http://g; proxy_next_upstream error timeout non_idempotent; }",
    );
    let post = |path: &str| {
        anx.raw(format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndata"
        ))
    };
    let statuses: Vec<u16> = (0..4).map(|_| post("/strict").status).collect();
    let dropped = dropper.count_path("/strict");
    assert!(dropped >= 1, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|&&s| s == 502).count(),
        dropped,
        "every POST the first peer dropped must fail, not be re-sent: {statuses:?}"
    );
    assert_eq!(good.count_path("/strict"), 4 - dropped, "{statuses:?}");

    // GET on the same location is idempotent: retried.
    for _ in 0..4 {
        assert_eq!(anx.get("/strict").status, 200);
    }

    for i in 0..4 {
        let r = post("/lenient");
        assert_eq!(r.status, 200, "non_idempotent POST #{i}: {r:?}");
    }
    assert!(dropper.count_path("/lenient") >= 1);
    assert_eq!(good.count_path("/lenient"), 4);
    assert_eq!(good.last().body, b"data");
}

#[test]
fn next_upstream_tries_limits_the_attempts() {
    let peers: Vec<Backend> = (0..3)
        .map(|_| Backend::start(|_| Reply::text(503, "busy\n")))
        .collect();
    let servers: String = peers
        .iter()
        .map(|p| format!("server {} max_fails=0; ", p.addr()))
        .collect();
    let (_s, anx) = start_proxy(
        &format!("    upstream g {{ {servers} }}\n"),
        "location /two { proxy_pass http://g; proxy_next_upstream http_503; proxy_next_upstream_tries 2; }
         location /all { proxy_pass http://g; proxy_next_upstream http_503; }",
    );
    let total = |path: &str| peers.iter().map(|p| p.count_path(path)).sum::<usize>();
    for _ in 0..6 {
        assert_eq!(anx.get("/two").status, 503);
    }
    assert_eq!(total("/two"), 12, "2 tries for each of 6 requests");
    for _ in 0..6 {
        assert_eq!(anx.get("/all").status, 503);
    }
    assert_eq!(total("/all"), 18, "every peer once for each of 6 requests");
}

/// The `$upstream_*` variables in an access log line after a retry: one entry per
/// attempt, nginx's ", " separators, the failed peer's 502, bytes both ways and a field of
/// the answer.
#[test]
fn upstream_variables_in_the_access_log_after_a_retry() {
    let alive = Backend::start(|_| Reply::ok("alive\n".to_string()).header("X-App", "v7"));
    let refused = format!("127.0.0.1:{}", refused_port());
    let site = Site::new();
    let log = site.path().join("up.log");
    let conf = format!(
        "error_log stderr info;\nevents {{}}\nhttp {{\n    log_format up '$upstream_addr|$upstream_status|$upstream_bytes_sent|$upstream_bytes_received|$upstream_http_x_app|$upstream_connect_time|$upstream_response_time';\n    upstream g {{ server {refused} max_fails=0; server {}; }}\n    server {{\n        listen 127.0.0.1:0;\n        access_log {} up buffer=1k flush=100ms;\n        location / {{ proxy_pass http://g; }}\n    }}\n}}\n",
        alive.addr(),
        log.display()
    );
    let anx = Anx::start_conf(&site, &conf, 1);
    let r = anx.get("/v");
    assert_eq!((r.status, r.text().as_str()), (200, "alive\n"));
    // Written at the next flush (100 ms); wait for it rather than for a fixed time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let line = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().next() {
            break line.to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no access log line");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields.len(), 7, "{line}");
    assert_eq!(fields[0], format!("{refused}, {}", alive.addr()), "{line}");
    assert_eq!(fields[1], "502, 200", "{line}");
    let sent: u64 = fields[2].parse().expect("bytes sent is a number");
    let received: u64 = fields[3].parse().expect("bytes received is a number");
    assert!(sent > 20, "the request head went to the upstream: {line}");
    assert!(
        received > "alive\n".len() as u64,
        "head and body came back: {line}"
    );
    assert_eq!(fields[4], "v7", "{line}");
    // The refused attempt has no connect time; the good one has one, with 3 decimals.
    let connect: Vec<&str> = fields[5].split(", ").collect();
    assert_eq!(connect.len(), 2, "{line}");
    assert_eq!(connect[0], "-", "{line}");
    assert!(connect[1].contains('.') && connect[1].len() >= 5, "{line}");
    assert_eq!(fields[6].split(", ").count(), 2, "{line}");
}

#[test]
fn a_404_moves_on_without_marking_the_peer_down() {
    let missing = Backend::start(|req| {
        if req.path() == "/ok" {
            Reply::ok("fine\n")
        } else {
            Reply::text(404, "no\n")
        }
    });
    let alive = Backend::text("alive\n");
    let (_s, anx) = retry_group(
        &missing.addr(),
        &alive.addr(),
        "location / { proxy_pass http://g; proxy_next_upstream http_404; }",
    );
    // Round robin: requests alternate; the 404s go on to the second peer.
    for _ in 0..4 {
        assert_eq!(anx.get("/x").status, 200);
    }
    // The first peer still takes its turn.
    let texts: Vec<String> = (0..4).map(|_| anx.get("/ok").text()).collect();
    assert!(texts.iter().any(|t| t == "fine\n"), "{texts:?}");
}

#[test]
fn no_live_upstreams_names_the_group_in_upstream_addr() {
    let (_s, anx) = start_proxy(
        &format!(
            "    upstream dead {{ server 127.0.0.1:{}; server 127.0.0.1:{}; }}\n",
            refused_port(),
            refused_port()
        ),
        "location / { proxy_pass http://dead; add_header X-Up $upstream_addr always; }",
    );
    let first = anx.get("/");
    assert_eq!(first.status, 502);
    // Both peers are now down for fail_timeout: nothing is tried, the group is named.
    let r = anx.get("/");
    assert_eq!(r.status, 502);
    assert_eq!(r.header("x-up"), Some("dead"));
}

/// A client that closes while the upstream thinks: anx notices at once (nginx's
/// test_reading), logs 499 with no header time and an info line, and serves on; with
/// `proxy_ignore_client_abort on` the exchange runs to the upstream's answer instead.
#[test]
fn client_closing_before_the_upstream_answers_is_a_499() {
    let slow = Backend::start(|_| Reply::ok("late\n").after(Duration::from_secs(3)));
    let (site, anx) = start_proxy(
        &(upstream("slow", &slow) + "    log_format t '$uri $status $upstream_header_time';\n"),
        &format!(
            "{LOCAL}\n access_log logs/t.log t;
             location /watched {{ proxy_pass http://slow; }}
             location /ignored {{ proxy_pass http://slow; proxy_ignore_client_abort on; }}
             location /ok {{ return 200; }}"
        ),
    );
    for path in ["/watched", "/ignored"] {
        let mut c = anx.connect();
        c.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"));
        std::thread::sleep(Duration::from_millis(300));
        drop(c);
    }
    let watched = log_line_with(&site, "t.log", "/watched ");
    assert_eq!(
        watched, "/watched 499 -",
        "the exchange ends when the client goes"
    );
    let line = log_line(&anx, &["client prematurely closed connection", "/watched"]);
    assert!(line.contains("[info]"), "{line}");
    let ignored = log_line_with(&site, "t.log", "/ignored ");
    assert!(
        ignored.starts_with("/ignored 200 "),
        "with proxy_ignore_client_abort the upstream's answer is waited for: {ignored}"
    );
    still_serves(&anx, "/ok");
}
