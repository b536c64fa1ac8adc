//! Bodies through the reverse proxy: request bodies with Content-Length and chunked reach
//! the backend intact; a backend's chunked response is re-framed for HTTP/1.1 and HTTP/1.0
//! clients; HEAD; a 1 GiB download and a 1 GiB upload stream through while anx's resident
//! memory stays within a fixed ceiling over its start-up size; and server-sent events with
//! `proxy_buffering off` reach the client one by one (each event arrives before the backend
//! sends the next: a causality check, no clock thresholds).

mod common;

use common::backend::*;
use common::*;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much anx's RSS may grow over its size after start-up while a 1 GiB body passes.
const RSS_CEILING_KIB: u64 = 64 * 1024;

/// Samples a process's RSS every 20 ms until dropped; `max()` is the largest seen.
struct RssWatch {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssWatch {
    fn new(pid: u32) -> RssWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicU64::new(rss_kib(pid)));
        let (s, m) = (stop.clone(), max.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                m.fetch_max(rss_kib(pid), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssWatch {
            stop,
            max,
            thread: Some(thread),
        }
    }

    fn max(&mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.max.load(Ordering::SeqCst)
    }
}

#[test]
fn content_length_upload_reaches_the_backend_intact() {
    let b = Backend::start(|req| Reply::ok(format!("{} {}\n", req.body_len, req.body_is_stream)));
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "client_max_body_size 16m;\n location / { proxy_pass http://b; }",
    );
    let len = 3 * 1024 * 1024 + 17;
    let mut c = anx.connect();
    c.send(format!(
        "POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\n\r\n"
    ));
    write_stream(&mut c.stream, len as u64).unwrap();
    let r = c.response();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), format!("{len} true\n"));
    let got = b.last();
    assert_eq!(got.method, "POST");
    assert_eq!(got.header("content-type"), Some("application/octet-stream"));
    // A declared length is forwarded as a length.
    assert_eq!(got.header("content-length"), Some(len.to_string().as_str()));
    assert!(!got.chunked);
}

#[test]
fn chunked_upload_reaches_the_backend_intact() {
    let b = Backend::start(|req| Reply::ok(format!("{} {}\n", req.body_len, req.body_is_stream)));
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "client_max_body_size 16m;\n
         location / { proxy_pass http://b; }
         location /unbuffered { proxy_pass http://b; proxy_request_buffering off; proxy_http_version 1.1; }",
    );
    for path in ["/buffered", "/unbuffered"] {
        let mut c = anx.connect();
        c.send(format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        // Chunks of uneven sizes, the pattern running across them.
        let block = stream_block();
        let mut sent = 0usize;
        for (i, size) in [1usize, 7, 4096, 65_000, 1, 300_000, 12_345]
            .iter()
            .enumerate()
        {
            let data: Vec<u8> = (0..*size)
                .map(|k| block[(sent + k) % STREAM_BLOCK])
                .collect();
            let mut piece = format!("{size:x}").into_bytes();
            if i == 2 {
                piece.extend_from_slice(b";ext=1");
            }
            piece.extend_from_slice(b"\r\n");
            piece.extend_from_slice(&data);
            piece.extend_from_slice(b"\r\n");
            c.send(&piece);
            sent += size;
        }
        c.send("0\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(r.text(), format!("{sent} true\n"), "{path}");
        let got = b.last();
        assert!(
            !got.has("transfer-encoding") || got.chunked,
            "{path}: {:?}",
            got.headers
        );
        if !got.chunked {
            assert_eq!(
                got.header("content-length"),
                Some(sent.to_string().as_str()),
                "{path}"
            );
        }
    }
}

#[test]
fn chunked_response_is_rechunked_for_1_1_and_close_delimited_for_1_0() {
    let chunks: Vec<Vec<u8>> = vec![b"first ".to_vec(), pattern(10_000, 3), b"last\n".to_vec()];
    let whole: Vec<u8> = chunks.concat();
    let cs = chunks.clone();
    let b = Backend::start(move |_| Reply::chunked(cs.clone()));
    let (_s, anx) = start_proxy(&upstream("b", &b), "location / { proxy_pass http://b; }");

    // HTTP/1.1 client, keep-alive: a well-framed body and the connection reusable.
    let mut c = anx.connect();
    for _ in 0..2 {
        c.send(get_req("/c"));
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, whole);
        assert!(
            r.header("transfer-encoding").is_some() || r.content_length().is_some(),
            "{r:?}"
        );
    }

    // HTTP/1.0 client: never chunked; without a length, the body ends at the close.
    let mut c = anx.connect();
    c.send("GET /c HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert!(r.header("transfer-encoding").is_none(), "{r:?}");
    assert_eq!(r.body, whole);
    if r.content_length().is_none() {
        c.assert_closed();
    }
}

#[test]
fn head_through_the_proxy() {
    let b = Backend::start(|_| Reply::ok("five!"));
    let (_s, anx) = start_proxy(&upstream("b", &b), "location / { proxy_pass http://b; }");
    let mut c = anx.connect();
    c.send("HEAD /h HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = c.head_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.content_length(), Some(5), "{r:?}");
    assert_eq!(b.last().method, "HEAD");
    // No body bytes follow: the next response on the connection parses cleanly.
    c.send(get_req("/g"));
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "five!"));
}

#[test]
fn one_gib_download_streams_in_bounded_memory() {
    const LEN: u64 = 1 << 30;
    let b = Backend::start(|req| match req.path() {
        "/big" => Reply::stream(LEN),
        _ => Reply::stream(1 << 20),
    });
    let (_s, anx) = start_proxy(&upstream("b", &b), "location / { proxy_pass http://b; }");
    // Warm up (the first exchange allocates per-shard buffers), then measure.
    let r = anx.get("/warm-up");
    assert!(matches_stream(0, &r.body) && r.body.len() == 1 << 20);
    let base = anx.rss_kib();
    let mut watch = RssWatch::new(anx.pid());

    let mut c = anx.connect();
    c.send("GET /big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let r = c.try_head().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.content_length(), Some(LEN), "{r:?}");
    let mut got = 0u64;
    loop {
        let piece = c.chunk().expect("body stalled");
        if piece.is_empty() {
            break;
        }
        assert!(
            matches_stream(got, &piece),
            "body differs from the backend's somewhere in bytes {got}..{}",
            got + piece.len() as u64
        );
        got += piece.len() as u64;
    }
    assert_eq!(got, LEN);
    let max = watch.max();
    assert!(
        max.saturating_sub(base) < RSS_CEILING_KIB,
        "anx RSS grew from {base} KiB to {max} KiB while proxying 1 GiB"
    );
}

#[test]
fn one_gib_upload_streams_in_bounded_memory() {
    const LEN: u64 = 1 << 30;
    let b = Backend::start(|req| Reply::ok(format!("{} {}\n", req.body_len, req.body_is_stream)));
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "client_max_body_size 0;\n
         location / { proxy_pass http://b; proxy_request_buffering off; }",
    );
    let r = anx.raw(
        "POST /warm HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert_eq!(r.status, 200, "{r:?}");
    let base = anx.rss_kib();
    let mut watch = RssWatch::new(anx.pid());

    let mut c = anx.connect();
    c.set_read_timeout(Duration::from_secs(60));
    c.send(format!(
        "POST /big HTTP/1.1\r\nHost: localhost\r\nContent-Length: {LEN}\r\nConnection: close\r\n\r\n"
    ));
    write_stream(&mut c.stream, LEN).expect("upload interrupted");
    c.stream.flush().unwrap();
    let r = c.response();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), format!("{LEN} true\n"));
    let max = watch.max();
    assert!(
        max.saturating_sub(base) < RSS_CEILING_KIB,
        "anx RSS grew from {base} KiB to {max} KiB while uploading 1 GiB"
    );
}

#[test]
fn server_sent_events_pass_one_by_one_with_buffering_off() {
    const EVENTS: usize = 5;
    let b = Backend::start(|_| Reply::sse(EVENTS, Duration::from_millis(200)).without_length());
    let (_s, anx) = start_proxy(
        &upstream("b", &b),
        "location /events { proxy_pass http://b; proxy_buffering off; }",
    );
    let mut c = anx.connect();
    c.send("GET /events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n");
    let r = c.try_head().unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let chunked = r
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let mut data = Vec::new();
    let mut received: Vec<Instant> = Vec::new();
    while received.len() < EVENTS {
        let piece = if chunked {
            c.next_chunk()
                .expect("event stream stalled")
                .unwrap_or_default()
        } else {
            c.chunk().expect("event stream stalled")
        };
        if piece.is_empty() {
            break;
        }
        data.extend_from_slice(&piece);
        let now = Instant::now();
        while received.len() < EVENTS
            && contains(
                &data,
                format!("data: event {}\n\n", received.len()).as_bytes(),
            )
        {
            received.push(now);
        }
    }
    assert_eq!(
        received.len(),
        EVENTS,
        "{:?}",
        String::from_utf8_lossy(&data)
    );
    let sent = b.sse_sent();
    assert_eq!(sent.len(), EVENTS);
    for k in 0..EVENTS - 1 {
        assert!(
            received[k] < sent[k + 1],
            "event {k} reached the client only after the backend sent event {}: buffered",
            k + 1
        );
    }
}
