//! The client side of a WebSocket, for tests: the handshake with RFC 6455's sample key,
//! masked frames out, frames in (the frame codec itself is in `backend`).

use super::backend::{ws_frame, ws_parse};
use super::Conn;

pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Opens a WebSocket on `c` at `path`; returns the connection after a checked 101.
pub fn open(mut c: Conn, path: &str) -> Conn {
    c.send(format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ));
    let r = c.try_head().expect("no handshake response");
    assert_eq!(r.status, 101, "{r:?}");
    assert_eq!(
        r.header("upgrade").map(|v| v.to_ascii_lowercase()),
        Some("websocket".to_string()),
        "{r:?}"
    );
    assert!(
        r.header("connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade")),
        "{r:?}"
    );
    assert_eq!(
        r.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    c
}

/// Reads one frame from the client side.
pub fn frame(c: &mut Conn) -> (u8, Vec<u8>) {
    // Conn keeps bytes past the head (or past the last frame) in its buffer.
    let mut buf = c.take_pending();
    loop {
        if let Some(f) = ws_parse(&mut buf) {
            c.unread(buf);
            return f;
        }
        let more = c.chunk().expect("no frame from anx");
        assert!(
            !more.is_empty(),
            "connection closed while waiting for a frame"
        );
        buf.extend_from_slice(&more);
    }
}

pub fn send(c: &mut Conn, op: u8, payload: &[u8]) {
    c.send(ws_frame(op, payload, Some(MASK)));
}
