//! Criterion benchmarks of the sans-io hot path: request-head parsing, path normalisation,
//! routing and response-head writing (what every request pays before any syscall).

use std::hint::black_box;
use std::path::Path;

use anx::config::toml::parse;
use anx::files::path::normalize;
use anx::http::request::{parse_head, HeadLimits};
use anx::http::response::{write_head, Body, HeadContext, Response};
use anx::route;
use criterion::{criterion_group, criterion_main, Criterion};

const LIMITS: HeadLimits = HeadLimits {
    max_request_line: 8192,
    max_header_line: 8192,
    max_header_bytes: 32768,
    max_headers: 100,
    ignore_invalid_headers: true,
    underscores_in_headers: false,
};

const WRK_REQUEST: &[u8] = b"GET /1k.bin HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
const BROWSER_REQUEST: &[u8] = b"GET /assets/app.min.js?v=123 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\nReferer: https://www.example.com/\r\nCookie: session=abcdef0123456789; theme=dark\r\nIf-None-Match: \"5f1b2c3d-1a2b\"\r\nConnection: keep-alive\r\n\r\n";

fn bench(c: &mut Criterion) {
    c.bench_function("parse_head/wrk", |b| {
        b.iter(|| parse_head(black_box(WRK_REQUEST), &LIMITS))
    });
    c.bench_function("parse_head/browser", |b| {
        b.iter(|| parse_head(black_box(BROWSER_REQUEST), &LIMITS))
    });
    c.bench_function("normalize/plain", |b| {
        b.iter(|| normalize(black_box(b"/assets/js/app.min.js"), true))
    });
    c.bench_function("normalize/encoded", |b| {
        b.iter(|| normalize(black_box(b"/a//b/./c/%2e%2e/d%20e/f.html"), true))
    });
    let config = parse(
        r#"
        [[server]]
        listen = ["127.0.0.1:1"]
        server_name = ["a.example.com"]
        [[server]]
        listen = ["127.0.0.1:1"]
        server_name = ["www.example.com", "*.example.org"]
        [[server.location]]
        path = "/"
        [[server.location]]
        path = "/assets/"
        [[server.location]]
        path = "/api"
        match = "exact"
        "#,
        None,
        Path::new("/srv"),
    )
    .expect("bench config");
    let listener = route::servers_for_listener(&config, &"127.0.0.1:1".parse().expect("addr"));
    c.bench_function("route/server+location", |b| {
        b.iter(|| {
            let s = route::select_server(&config, &listener, Some(black_box(b"www.example.com")));
            route::select_location(&config.servers[s], black_box(b"/assets/app.js")).is_some()
        })
    });
    let mut resp = Response::new(200);
    resp.content_type = Some("text/html".into());
    resp.body = Body::Bytes(vec![b'x'; 1024]);
    resp.etag = Some("\"5f1b2c3d-400\"".into());
    resp.last_modified = Some(1_700_000_000);
    let ctx = HeadContext {
        server_tokens: true,
        keep_alive: true,
        keepalive_header: None,
        chunked: false,
    };
    let mut out = Vec::with_capacity(512);
    c.bench_function("write_head/structured", |b| {
        b.iter(|| {
            out.clear();
            write_head(&mut out, black_box(&resp), &ctx);
            out.len()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
