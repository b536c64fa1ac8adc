//! `listen` options on real sockets: `proxy_protocol` (PROXY v1 and v2 headers sent ahead
//! of the request, malformed and split ones), `unix:/path` (requests over a Unix socket,
//! its file created and removed) and `sndbuf=`/`rcvbuf=` (read back from the server's own
//! listening socket).

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{log_line_with, poll_until, Anx, Conn, Site};

const ECHO: &str = "return 200 \"addr=$proxy_protocol_addr port=$proxy_protocol_port \
    server=$proxy_protocol_server_addr:$proxy_protocol_server_port \
    authority=$proxy_protocol_tlv_authority cn=$proxy_protocol_tlv_ssl_cn \
    verify=$proxy_protocol_tlv_ssl_verify custom=$proxy_protocol_tlv_0xe0 \
    remote=$remote_addr\\n\";";

fn proxied(site: &Site) -> Anx {
    let conf = format!(
        "error_log logs/error.log info;\nevents {{}}\nhttp {{\n    server {{\n        \
         listen 127.0.0.1:0 proxy_protocol;\n        client_header_timeout 2s;\n        \
         location / {{ {ECHO} }}\n    }}\n}}\n"
    );
    Anx::start_conf(site, &conf, 1)
}

fn tlv(code: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![code];
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// A PROXY v2 header for 192.0.2.1:123 → 192.0.2.2:5678 over TCP/IPv4 with `tlvs`.
fn v2(tlvs: &[u8]) -> Vec<u8> {
    let mut body = vec![192, 0, 2, 1, 192, 0, 2, 2];
    body.extend_from_slice(&123u16.to_be_bytes());
    body.extend_from_slice(&5678u16.to_be_bytes());
    body.extend_from_slice(tlvs);
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    out.extend_from_slice(&[0x21, 0x11]);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

#[test]
fn proxy_protocol_v1_sets_the_variables() {
    let site = Site::new();
    let anx = proxied(&site);
    let mut c = anx.connect();
    c.send(b"PROXY TCP4 203.0.113.9 198.51.100.1 4321 443\r\n");
    c.send(REQUEST);
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "addr=203.0.113.9 port=4321 server=198.51.100.1:443 authority= cn= verify= custom= \
         remote=127.0.0.1\n"
    );
}

#[test]
fn proxy_protocol_v2_with_tlvs_split_across_writes() {
    let site = Site::new();
    let anx = proxied(&site);
    let mut tlvs = tlv(0x02, b"example.com");
    tlvs.extend(tlv(0xe0, b"mine"));
    let mut ssl = vec![0x01, 0, 0, 0, 7];
    ssl.extend(tlv(0x22, b"client.example"));
    tlvs.extend(tlv(0x20, &ssl));
    let header = v2(&tlvs);
    let mut c = anx.connect();
    // Half the header, a pause, the rest with the request: the server waits for it.
    c.send(&header[..20]);
    std::thread::sleep(Duration::from_millis(100));
    let mut rest = header[20..].to_vec();
    rest.extend_from_slice(REQUEST);
    c.send(rest);
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "addr=192.0.2.1 port=123 server=192.0.2.2:5678 authority=example.com \
         cn=client.example verify=7 custom=mine remote=127.0.0.1\n"
    );
}

#[test]
fn proxy_protocol_v2_local_is_a_direct_connection() {
    let site = Site::new();
    let anx = proxied(&site);
    let mut header = v2(&[]);
    header[12] = 0x20; // LOCAL: health checks of the balancer itself
    let mut c = anx.connect();
    c.send(header);
    c.send(REQUEST);
    let r = c.response();
    assert_eq!(r.status, 200);
    assert!(
        r.text().starts_with("addr= port= server=: "),
        "{}",
        r.text()
    );
}

/// The server closed `c` without answering.
fn closed_without_answer(mut c: Conn) {
    c.set_read_timeout(Duration::from_secs(5));
    let mut buf = [0u8; 64];
    match c.stream.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("expected the connection closed, got {other:?}"),
    }
}

#[test]
fn malformed_headers_close_the_connection() {
    let site = Site::new();
    let anx = proxied(&site);
    let mut c = anx.connect();
    c.send(REQUEST);
    closed_without_answer(c);
    log_line_with(
        &site,
        "error.log",
        "broken header: \"GET / HTTP/1.1\" while reading PROXY protocol",
    );

    let mut c = anx.connect();
    let mut bad = v2(&[]);
    bad[12] = 0x11; // version 1 in a v2 signature
    c.send(bad);
    closed_without_answer(c);
    log_line_with(&site, "error.log", "unknown PROXY protocol version: 1");

    // A header that never ends is cut off by client_header_timeout.
    let mut c = anx.connect();
    c.send(b"PROXY TCP4 203.0.113.9 ");
    closed_without_answer(c);
    log_line_with(
        &site,
        "error.log",
        "client timed out while reading PROXY protocol",
    );
    // The listener still serves.
    let mut c = anx.connect();
    c.send(b"PROXY UNKNOWN\r\n");
    c.send(REQUEST);
    assert_eq!(c.response().status, 200);
}

/// One request over the Unix socket at `path`; the whole answer as text.
fn unix_get(path: &std::path::Path, uri: &str) -> String {
    let mut s = UnixStream::connect(path).expect("connect to the unix socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {uri} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn unix_socket_listen_serves_and_cleans_up() {
    let site = Site::new();
    let sock = site.path().join("anx.sock");
    // A stale socket file from an earlier run does not stop the start (nginx unlinks it).
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let conf = format!(
        "events {{}}\nhttp {{\n    geo $geo {{ default default; 255.255.255.255 none; }}\n    \
         server {{\n        listen 127.0.0.1:0;\n        listen unix:{sock};\n        \
         location / {{ return 200 \"remote=$remote_addr port=$remote_port \
         server=$server_addr sport=$server_port geo=$geo\\n\"; }}\n        \
         location /d/ {{ deny unix:; }}\n        \
         location /a/ {{ allow unix:; deny all; }}\n    }}\n}}\n",
        sock = sock.display()
    );
    site.write("html/d/f.txt", "open\n");
    site.write("html/a/f.txt", "open\n");
    let mut anx = Anx::start_conf(&site, &conf, 2);
    let answer = unix_get(&sock, "/");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let expected = format!(
        "remote=unix: port= server=unix:{} sport= geo=none\n",
        sock.display()
    );
    assert!(answer.ends_with(&expected), "{answer}");
    assert!(unix_get(&sock, "/d/f.txt").starts_with("HTTP/1.1 403"));
    assert!(unix_get(&sock, "/a/f.txt").starts_with("HTTP/1.1 200"));
    // ... while a TCP client is denied by `deny all` and allowed where unix: is denied.
    assert_eq!(anx.get("/a/f.txt").status, 403);
    assert_eq!(anx.get("/d/f.txt").status, 200);
    // The TCP listener of the same server answers TCP clients as before.
    assert!(anx.get("/").text().starts_with("remote=127.0.0.1 port="));
    // Every shard accepts on the one socket: many connections are all served.
    for _ in 0..8 {
        assert!(unix_get(&sock, "/").starts_with("HTTP/1.1 200"));
    }
    // A reload keeps the socket (and its file).
    anx.signal(libc::SIGHUP);
    poll_until(Duration::from_secs(10), "reload", || {
        (!anx.stderr_matching(&["generation 2 in effect"]).is_empty()).then_some(())
    });
    assert!(unix_get(&sock, "/").starts_with("HTTP/1.1 200"));
    anx.signal(libc::SIGTERM);
    poll_until(Duration::from_secs(10), "exit", || anx.try_wait());
    assert!(!sock.exists(), "the socket file is removed on stop");
}

/// SO_SNDBUF / SO_RCVBUF of the server's listening socket on `addr`, read from a copy of
/// its descriptor (pidfd_getfd).
fn listening_buffers(pid: u32, addr: SocketAddr) -> (usize, usize) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain syscalls on integers; each returned descriptor is owned below.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    assert!(
        pidfd >= 0,
        "pidfd_open: {}",
        std::io::Error::last_os_error()
    );
    let pidfd = unsafe { std::os::fd::OwnedFd::from_raw_fd(pidfd as i32) };
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"));
        let Some(n) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if !is_socket {
            continue;
        }
        use std::os::fd::AsRawFd;
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), n, 0) };
        assert!(fd >= 0, "pidfd_getfd: {}", std::io::Error::last_os_error());
        let socket = unsafe { socket2::Socket::from_raw_fd(fd as i32) };
        let local = socket.local_addr().ok().and_then(|a| a.as_socket());
        if local == Some(addr) && socket.is_listener().unwrap_or(false) {
            return (
                socket.send_buffer_size().unwrap(),
                socket.recv_buffer_size().unwrap(),
            );
        }
    }
    panic!("no listening socket on {addr} in process {pid}");
}

#[test]
fn sndbuf_and_rcvbuf_are_set_on_the_listening_socket() {
    let site = Site::new();
    let conf = "events {}\nhttp {\n    server {\n        listen 127.0.0.1:0 sndbuf=48k rcvbuf=24k;\n        \
                location / { return 200 \"ok\\n\"; }\n    }\n    server {\n        \
                listen 127.0.0.2:0;\n        location / { return 200 \"ok\\n\"; }\n    }\n}\n";
    let anx = Anx::start_conf(&site, conf, 1);
    // Linux doubles the value set (the extra half is its bookkeeping).
    assert_eq!(
        listening_buffers(anx.pid(), anx.addr()),
        (2 * 48 * 1024, 2 * 24 * 1024)
    );
    let other = SocketAddr::from(([127, 0, 0, 2], anx.ports[1]));
    let (snd, rcv) = listening_buffers(anx.pid(), other);
    assert_ne!(
        (snd, rcv),
        (2 * 48 * 1024, 2 * 24 * 1024),
        "defaults elsewhere"
    );
    assert_eq!(anx.get("/").status, 200);
}
