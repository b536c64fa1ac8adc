//! geo, split_clients and allow/deny on the real binary: geo values by client address
//! (an IPv4 and an IPv6 listener), by a variable and through a trusted proxy;
//! split_clients buckets that do not change between requests; allow/deny in order with 403
//! and nginx's error-log line; deny inside limit_except for the methods not listed. The
//! access phase runs after rewrite (a `return` answers first, as in nginx), so the guarded
//! locations serve files: an allowed request for a missing one is a 404.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{Anx, Site};

const CONF: &str = r#"
events {}
http {
    geo $geo {
        default world;
        proxy 127.0.0.1;
        127.0.0.0/8 loopback;
        ::1/128 six;
        192.0.2.0/24 test;
    }
    geo $arg_ip $by_arg {
        ranges;
        default none;
        10.0.0.0-10.0.0.255 ten;
    }
    split_clients "$arg_k" $bucket {
        50% a;
        *   b;
    }
    server {
        listen 127.0.0.1:0;
        listen [::1]:0;
        location / {
            return 200 "geo=$geo arg=$by_arg bucket=$bucket\n";
        }
        location /deny {
            deny 127.0.0.2;
            allow 127.0.0.0/8;
            deny all;
        }
        location /closed {
            deny all;
        }
        location /post {
            limit_except GET { deny all; }
        }
    }
}
"#;

fn body(r: &common::Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn get_v6(port: u16, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("::1", port)) else {
        return String::new();
    };
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn geo_by_address_variable_and_proxy() {
    let site = Site::new();
    let anx = Anx::start_conf(&site, CONF, 1);
    assert!(body(&anx.get("/")).contains("geo=loopback arg=none"));
    assert!(body(&anx.get("/?ip=10.0.0.7")).contains("arg=ten"));
    assert!(body(&anx.get("/?ip=::ffff:10.0.0.7")).contains("arg=ten"));
    assert!(body(&anx.get("/?ip=bogus")).contains("arg=none"));
    let r = anx.raw("GET / HTTP/1.0\r\nX-Forwarded-For: 10.9.9.9, 192.0.2.5\r\n\r\n");
    assert!(body(&r).contains("geo=test"), "{}", body(&r));
    if let Some(&port6) = anx.ports.get(1) {
        let text = get_v6(port6, "/");
        // Skipped where the host has no ::1.
        if !text.is_empty() {
            assert!(text.contains("geo=six"), "{text}");
        }
    }
}

#[test]
fn split_clients_is_deterministic() {
    let site = Site::new();
    let anx = Anx::start_conf(&site, CONF, 1);
    let mut seen = std::collections::BTreeSet::new();
    for k in 0..40 {
        let first = body(&anx.get(&format!("/?k={k}")));
        let again = body(&anx.get(&format!("/?k={k}")));
        assert_eq!(first, again);
        seen.insert(
            first
                .split("bucket=")
                .nth(1)
                .unwrap_or("")
                .trim()
                .to_string(),
        );
    }
    // 40 keys over two halves: both buckets are used.
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[test]
fn allow_deny_in_order_and_limit_except() {
    let site = Site::new();
    let anx = Anx::start_conf(&site, CONF, 1);
    assert_eq!(anx.get("/deny").status, 404);
    let r = anx.get("/closed");
    assert_eq!(r.status, 403);
    assert_eq!(anx.get("/post").status, 404);
    let post = anx.raw("POST /post HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(post.status, 403);
    anx.wait_stderr(&["access forbidden by rule", "127.0.0.1"]);
}

#[test]
fn deny_matches_a_client_by_its_own_address() {
    // 127.0.0.2 is a loopback address too; a client bound to it meets `deny 127.0.0.2`.
    let site = Site::new();
    let anx = Anx::start_conf(&site, CONF, 1);
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let bind: std::net::SocketAddr = "127.0.0.2:0".parse().unwrap();
    if sock.bind(&bind.into()).is_err() {
        return;
    }
    sock.connect(&anx.addr().into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.write_all(b"GET /deny HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
}
