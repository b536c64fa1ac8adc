//! `$upstream_cookie_NAME` (a cookie of the upstream's Set-Cookie fields, read as nginx
//! does) and `$upstream_response_length` (body bytes from each upstream attempt).

mod common;

use common::backend::*;
use common::*;
use std::time::Duration;

#[test]
fn upstream_cookie_names_a_set_cookie_value() {
    let b = Backend::start(|_| {
        Reply::ok("hi\n")
            .header("Set-Cookie", "other=1; Path=/")
            .header("Set-Cookie", "SID = abc def; HttpOnly")
    });
    let (_site, anx) = start_proxy(
        "",
        &format!(
            "        location / {{ proxy_pass http://{}; add_header X-Sid $upstream_cookie_sid; add_header X-None x$upstream_cookie_none; }}\n",
            b.addr()
        ),
    );
    let r = anx.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-sid"), Some("abc def"));
    assert_eq!(r.header("x-none"), Some("x"));
}

#[test]
fn upstream_response_length_counts_each_attempts_body() {
    let good = Backend::text("twelve bytes");
    let site = Site::new();
    let log = site.path().join("len.log");
    let conf = proxy_conf(
        &format!(
            "    log_format len \"$upstream_response_length|$upstream_bytes_received\";\n    upstream g {{ server 127.0.0.1:{} max_fails=0; server {}; }}\n",
            refused_port(),
            good.addr()
        ),
        &format!(
            "        location / {{ proxy_pass http://g; access_log {} len; }}\n",
            log.display()
        ),
    );
    let anx = Anx::start_conf(&site, &conf, 1);
    assert_eq!(anx.get("/").status, 200);
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains('|') {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let line = text.lines().next().unwrap_or_default().to_string();
    let (lengths, received) = line.split_once('|').expect("a log line");
    // The refused peer gave nothing, the second twelve body bytes (its head counts in
    // $upstream_bytes_received only).
    let lengths: Vec<&str> = lengths.split(", ").collect();
    assert_eq!(lengths.len(), 2, "{line}");
    assert_eq!(lengths[1], "12", "{line}");
    assert!(received.parse::<u64>().unwrap() > 12, "{line}");
}
