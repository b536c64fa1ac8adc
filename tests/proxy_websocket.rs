//! WebSocket through the reverse proxy (nginx's usual `proxy_http_version 1.1` +
//! `Upgrade $http_upgrade` + `Connection "upgrade"` location): the handshake reaches the
//! backend and its 101 the client; text, binary (a 16-bit and a 64-bit length) and ping/pong
//! frames are relayed both ways; the close handshake completes; when the backend closes or
//! drops the connection the client sees it at once (close frame, then EOF) and anx goes on
//! serving; when the client goes away the backend's session ends. Also checks the test's own
//! SHA-1/base64 against RFC 6455's handshake example.

mod common;

use common::backend::*;
use common::ws::{frame, send, KEY, MASK};
use common::*;
use std::time::Duration;

fn start() -> (Site, Anx, Backend) {
    let b = Backend::start(|req| {
        if req.path() == "/ws" {
            Reply::websocket()
        } else {
            Reply::ok("plain\n")
        }
    });
    let site = Site::new();
    let conf = proxy_conf(
        &format!("    upstream b {{ server {}; }}\n", b.addr()),
        "location /ws {
            proxy_pass http://b;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection \"upgrade\";
            proxy_read_timeout 30s;
        }
        location / { proxy_pass http://b; }",
    );
    let anx = Anx::start_conf(&site, &conf, 1);
    (site, anx, b)
}

fn open(anx: &Anx) -> Conn {
    ws::open(anx.connect(), "/ws")
}

#[test]
fn handshake_helpers_match_rfc_6455() {
    assert_eq!(ws_accept(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(
        base64(&sha1(b"abc")),
        "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=",
        "SHA-1 of \"abc\" (FIPS 180 example)"
    );
    assert_eq!(base64(b"ab"), "YWI=");
}

#[test]
fn upgrade_reaches_the_backend() {
    let (_s, anx, b) = start();
    let mut c = open(&anx);
    let req = b.last();
    assert_eq!(req.version, "HTTP/1.1");
    assert_eq!(req.header("upgrade"), Some("websocket"));
    assert_eq!(req.header("connection"), Some("upgrade"));
    assert_eq!(req.header("sec-websocket-key"), Some(KEY));
    assert_eq!(req.header("sec-websocket-version"), Some("13"));
    send(&mut c, 0x8, &1000u16.to_be_bytes());
    assert_eq!(frame(&mut c).0, 0x8);
}

#[test]
fn frames_are_relayed_both_ways() {
    let (_s, anx, b) = start();
    let mut c = open(&anx);
    send(&mut c, 0x1, b"hello through anx");
    assert_eq!(frame(&mut c), (0x1, b"hello through anx".to_vec()));

    let medium = pattern(3000, 1);
    send(&mut c, 0x2, &medium);
    assert_eq!(frame(&mut c), (0x2, medium.clone()));

    let large = pattern(200_000, 2);
    send(&mut c, 0x2, &large);
    assert_eq!(frame(&mut c), (0x2, large.clone()));

    send(&mut c, 0x9, b"are you there");
    assert_eq!(frame(&mut c), (0xA, b"are you there".to_vec()));

    // Several frames in one write.
    let mut batch = ws_frame(0x1, b"one", Some(MASK));
    batch.extend(ws_frame(0x1, b"two", Some(MASK)));
    c.send(&batch);
    assert_eq!(frame(&mut c), (0x1, b"one".to_vec()));
    assert_eq!(frame(&mut c), (0x1, b"two".to_vec()));

    let msgs = b.ws_messages();
    assert_eq!(msgs.len(), 5);
    assert_eq!(msgs[2], (0x2, large));

    // Close handshake: the backend answers with the same code, then the connection ends.
    send(&mut c, 0x8, &1000u16.to_be_bytes());
    assert_eq!(frame(&mut c), (0x8, 1000u16.to_be_bytes().to_vec()));
    c.assert_closed();
}

#[test]
fn backend_closing_reaches_the_client_at_once() {
    let (_s, anx, b) = start();
    // A close frame from the backend, then its TCP close.
    let mut c = open(&anx);
    send(&mut c, 0x1, b"server-close");
    let (op, payload) = frame(&mut c);
    assert_eq!(op, 0x8);
    assert_eq!(&payload[..2], &1000u16.to_be_bytes());
    assert!(
        c.closed_within(READ_TIMEOUT),
        "anx kept the client connection open"
    );

    // The backend drops the TCP connection without a frame.
    let mut c = open(&anx);
    send(&mut c, 0x1, b"server-drop");
    assert!(
        c.closed_within(READ_TIMEOUT),
        "anx kept the client connection open"
    );

    let r = anx.get("/other");
    assert_eq!((r.status, r.text().as_str()), (200, "plain\n"));
    assert_eq!(b.ws_closed(), 2);
}

#[test]
fn client_going_away_ends_the_backend_session() {
    let (_s, anx, b) = start();
    let mut c = open(&anx);
    send(&mut c, 0x1, b"hi");
    assert_eq!(frame(&mut c).1, b"hi");
    drop(c);
    poll_until(
        Duration::from_secs(10),
        "the backend's WebSocket session to end after the client left",
        || (b.ws_closed() == 1).then_some(()),
    );
    assert_eq!(anx.get("/other").status, 200);
}

#[test]
fn without_upgrade_headers_the_backend_sees_a_plain_request() {
    let (_s, anx, b) = start();
    // The plain location does not forward Upgrade (hop-by-hop): no 101 can result.
    let r = anx.raw(
        "GET /plain-ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(!b.last().has("upgrade"), "{:?}", b.last().headers);
}

/// `$body_bytes_sent` of a tunnel counts what went to the client (nginx's `c->sent`), not
/// what went to the upstream; `$bytes_sent` adds the 101 head.
#[test]
fn tunnel_bytes_sent_count_the_clients_direction() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Answers 101, sends 1000 bytes, reads the client's 3 bytes and closes: the two
    // directions differ in size.
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        let _ = s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\n",
        );
        let _ = s.write_all(&[b'x'; 1000]);
        let mut got = [0u8; 3];
        let _ = s.read_exact(&mut got);
    });
    let site = Site::new();
    let conf = proxy_conf(
        "    log_format bytes \"$bytes_sent $body_bytes_sent\";",
        &format!(
            "access_log logs/bytes.log bytes;
            location / {{
                proxy_pass http://127.0.0.1:{port};
                proxy_http_version 1.1;
                proxy_set_header Upgrade $http_upgrade;
                proxy_set_header Connection upgrade;
            }}"
        ),
    );
    site.mkdir("logs");
    let anx = Anx::start_conf(&site, &conf, 1);
    let mut c = anx.connect();
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\nabc");
    let all = c.read_to_end();
    // The tunnel (and its log line) ends when the client's side closes too.
    drop(c);
    let head_end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a 101 head")
        + 4;
    assert_eq!(all.len() - head_end, 1000);
    let line = log_line_with(&site, "bytes.log", " ");
    assert_eq!(line, format!("{} 1000", all.len()));
}
