//! `proxy_bind`: upstream connections leave from the configured local address (with
//! variables, a port, inherited, `off`), and a bad address is refused or a 500.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

/// A one-line HTTP backend that answers each request with the peer address it saw.
fn peer_echo() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = tx.send(peer.clone());
            let body = format!("{peer}\n");
            let _ = write!(
                s,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, rx)
}

#[test]
fn upstream_connections_leave_from_the_bound_address() {
    let (port, seen) = peer_echo();
    let (_site, anx) = start_proxy(
        "",
        &format!(
            "        proxy_bind 127.0.0.2;\n        location / {{ proxy_pass http://127.0.0.1:{port}; }}\n        location /off {{ proxy_bind off; proxy_pass http://127.0.0.1:{port}; }}\n        location /var {{ proxy_bind $arg_b; proxy_pass http://127.0.0.1:{port}; }}\n        location /port {{ proxy_bind 127.0.0.3:$arg_p; proxy_pass http://127.0.0.1:{port}; }}\n"
        ),
    );
    let from = |path: &str| {
        let r = anx.get(path);
        assert_eq!(r.status, 200, "{path}");
        let _ = seen.recv();
        r.text().trim().to_string()
    };
    assert!(from("/").starts_with("127.0.0.2:"), "inherited");
    assert!(from("/off").starts_with("127.0.0.1:"), "off");
    assert!(
        from("/var?b=127.0.0.4").starts_with("127.0.0.4:"),
        "from a variable"
    );
    assert!(
        from("/var").starts_with("127.0.0.1:"),
        "an empty value binds nothing"
    );
    let free = TcpListener::bind("127.0.0.3:0").unwrap();
    let p = free.local_addr().unwrap().port();
    drop(free);
    assert_eq!(from(&format!("/port?p={p}")), format!("127.0.0.3:{p}"));
    assert_eq!(anx.get("/var?b=nonsense").status, 500);
}

#[test]
fn a_bad_bind_address_is_refused() {
    let site = Site::new();
    let conf = proxy_conf(
        "    proxy_bind 300.1.1.1;\n",
        "        location / { return 200; }\n",
    );
    let path = site.write("anx.conf", conf);
    let out = common::test_config(&path);
    assert!(!out.0);
    assert!(out.1.contains("invalid address \"300.1.1.1\""));
}
