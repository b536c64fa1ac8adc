//! The relay's one body loop (decoder → body-filter chain → encoder) on every upstream
//! framing, with the upstream's answer trickled a byte per write so that chunk sizes,
//! extensions, data, CRLFs and trailers arrive split across reads: a length, a chunked body
//! with extensions and trailers, and a body ended by the upstream's close, each relayed to
//! an HTTP/1.1 client (re-framed, connection kept) and an HTTP/1.0 client (close-delimited
//! or with the length). A chunked body broken mid-way reaches the client cut, without a
//! last chunk, and the connection closes.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// A backend that answers every request with `answer(path)`, one byte per write, then
/// closes.
struct Trickle {
    port: u16,
}

impl Trickle {
    fn start(answer: fn(&str) -> Vec<u8>) -> Trickle {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                std::thread::spawn(move || serve(conn, answer));
            }
        });
        Trickle { port }
    }
}

fn serve(mut conn: TcpStream, answer: fn(&str) -> Vec<u8>) {
    let _ = conn.set_nodelay(true);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head);
    let path = text.split(' ').nth(1).unwrap_or("/").to_string();
    for b in answer(&path) {
        if conn.write_all(&[b]).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_micros(300));
    }
}

const DATA: &[u8] = b"Wikipedia in\r\n\r\nchunks.";

fn answer(path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    match path {
        "/length" => {
            out.extend_from_slice(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 23\r\n\r\n",
            );
            out.extend_from_slice(DATA);
        }
        "/chunked" => out.extend_from_slice(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n\
              4;name=value\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n\
              0\r\nX-Checksum: 7\r\n\r\n",
        ),
        "/close" => {
            out.extend_from_slice(b"HTTP/1.0 200 OK\r\n\r\n");
            out.extend_from_slice(DATA);
        }
        _ => out.extend_from_slice(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n\
              4\r\nWiki\r\nzz\r\n",
        ),
    }
    out
}

fn proxy() -> (Site, Anx) {
    let b = Trickle::start(answer);
    let http = format!("    upstream b {{ server 127.0.0.1:{}; }}\n", b.port);
    start_proxy(&http, "location / { proxy_pass http://b; }")
}

#[test]
fn every_framing_relays_intact_to_a_1_1_client() {
    let (_s, anx) = proxy();
    let mut c = anx.connect();
    for path in ["/length", "/chunked", "/close"] {
        c.send(get_req(path));
        let r = c.response();
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(r.body, DATA, "{path}");
        if path != "/length" {
            // No length to pass on: re-chunked for the client, ending in a last chunk.
            assert_eq!(r.header("transfer-encoding"), Some("chunked"), "{path}");
        }
    }
    // All three ended where their framing said: the connection is still good.
    c.send(get_req("/length"));
    assert_eq!(c.response().body, DATA);
}

#[test]
fn every_framing_relays_intact_to_a_1_0_client() {
    let (_s, anx) = proxy();
    for path in ["/length", "/chunked", "/close"] {
        let mut c = anx.connect();
        c.send(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n"));
        let r = c.response();
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert!(r.header("transfer-encoding").is_none(), "{path}: {r:?}");
        assert_eq!(r.body, DATA, "{path}");
    }
}

#[test]
fn a_broken_chunked_body_is_cut_without_a_last_chunk() {
    let (_s, anx) = proxy();
    let mut c = anx.connect();
    c.send(get_req("/broken"));
    let head = c.try_head().expect("the head was relayed");
    assert_eq!(head.status, 200);
    let rest = c.read_to_end();
    let text = String::from_utf8_lossy(&rest);
    // Whole chunks of the data that came before the break, and nothing after them.
    let mut data = Vec::new();
    let mut lines = text.split("\r\n");
    while let Some(line) = lines.next().filter(|l| !l.is_empty()) {
        let size = chunk_size(line).expect("a chunk size line");
        assert_ne!(size, 0, "a cut body must not look complete: {text:?}");
        data.extend_from_slice(lines.next().expect("chunk data").as_bytes());
    }
    assert_eq!(data, b"Wiki", "{text:?}");
}
