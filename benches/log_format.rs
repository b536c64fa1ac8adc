//! Criterion benchmarks of access-log formatting: one `combined` line (the direct path,
//! `log/presets.rs`) and one line of the built-in `json` preset (the template path,
//! `log/format.rs`), for a typical browser request, appended to a reused buffer as the
//! shard's per-file buffer is.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use anx::config::model::AccessLogFormat;
use anx::context::state::{ConnInfo, Received, RequestState};
use anx::context::vars::{Ctx, Scope, Sent};
use anx::http::request::{parse_head, HeadLimits};
use anx::http::response::Response;
use anx::log::format::render;
use anx::log::presets::{format_combined, AccessEntry};
use criterion::{criterion_group, criterion_main, Criterion};

const CONFIG: &str = r#"
[[server]]
listen = ["127.0.0.1:8080"]
access_log = { path = "/dev/null", format = "json" }
[[server.location]]
path = "/"
"#;

const REQUEST: &str = "GET /static/app.js?v=3 HTTP/1.1\r\nHost: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36\r\n\
Referer: https://www.example.com/\r\nAccept: */*\r\n\r\n";

fn bench(c: &mut Criterion) {
    let config = anx::config::toml::parse(CONFIG, None, Path::new("/")).expect("config");
    let server = &config.servers[0];
    let AccessLogFormat::Json(json) = &server.access_logs[0].format else {
        panic!("the json preset")
    };
    let buf = REQUEST.as_bytes();
    let limits = HeadLimits {
        max_request_line: 8192,
        max_header_line: 8192,
        max_header_bytes: 32768,
        max_headers: 100,
        ignore_invalid_headers: true,
        underscores_in_headers: false,
    };
    let head = parse_head(buf, &limits).expect("head").expect("complete");
    let conn = ConnInfo {
        peer: "203.0.113.7:51234".parse().expect("addr"),
        local: "127.0.0.1:8080".parse().expect("addr"),
        serial: 42,
        requests: 3,
        pipelined: false,
        tls: None,
        proxy: None,
        born: std::time::Instant::now(),
    };
    let mut ctx = Ctx {
        config: &config,
        server,
        req: Received {
            head: &head,
            buf,
            conn: &conn,
            started: Instant::now(),
        },
        st: RequestState::new(b"/static/app.js".to_vec()),
    };
    let response = Response::new(200);
    let sent = Sent {
        status: 200,
        body_bytes: 1024,
        bytes: 1290,
        request_length: buf.len() as u64,
    };
    let mut out = Vec::with_capacity(64 * 1024);

    c.bench_function("access log: combined line", |b| {
        b.iter(|| {
            out.clear();
            format_combined(&mut out, &AccessEntry::of(black_box(&ctx), &sent));
            black_box(out.len())
        })
    });
    c.bench_function("access log: json preset line", |b| {
        b.iter(|| {
            out.clear();
            let scope = Scope {
                response: Some(&response),
                sent: Some(&sent),
                trailers: None,
            };
            render(&mut out, json, black_box(&mut ctx), scope);
            black_box(out.len())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
