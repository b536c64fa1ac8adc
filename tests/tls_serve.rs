//! Serving over HTTPS with the real binary: the HTTP → HTTPS redirect and HSTS, a 1 MiB
//! static file (and a range of it) arriving intact through the TLS session, the reverse
//! proxy to a plain backend, bad input on the TLS port (garbage, plain HTTP → nginx's 400
//! page, a truncated ClientHello, slow handshakes closed after `client_header_timeout`)
//! never disturbing another client, and the TLS configuration errors `anx -t` reports
//! with file:line (an expired certificate: a warning, and anx starts).

mod common;
mod tls_util;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::backend::{Backend, Reply as BackendReply};
use common::Site;
use tls_util::*;

/// A site with `ca.pem` and a.test's certificate (`a.crt`/`a.key`).
fn site_with_cert() -> (Site, Ca) {
    let site = Site::new();
    let ca = ca("anx test CA");
    write_ca(&site, &ca);
    server_leaf(&ca, &["a.test"], Alg::P256).write(&site, "a");
    (site, ca)
}

#[test]
fn http_to_https_redirect_and_hsts() {
    let (site, _ca) = site_with_cert();
    site.write("html/index.html", "hello\n");
    let [plain] = free_ports::<1>();
    let conf = conf(
        "",
        &[
            tls_server(
                "a.test",
                "a",
                "        add_header Strict-Transport-Security \"max-age=63072000\" always;\n",
            ),
            format!(
                "        listen 127.0.0.1:{plain};\n        server_name a.test;\n        return 301 https://$host$request_uri;\n"
            ),
        ],
    );
    let anx = start(&site, &conf, 1);
    let r = curl(
        &site,
        &[
            "-H",
            "Host: a.test",
            &format!("http://127.0.0.1:{plain}/some/path?x=1&y=2"),
        ],
    );
    assert_eq!(r.status, 301, "{}", r.stderr);
    assert_eq!(
        r.header("location").as_deref(),
        Some("https://a.test/some/path?x=1&y=2")
    );
    assert_eq!(
        r.header("strict-transport-security"),
        None,
        "no HSTS on http"
    );
    let r = curl_https(&site, anx.port, "a.test", "/", &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "hello\n"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.header("strict-transport-security").as_deref(),
        Some("max-age=63072000")
    );
    // `always`: on errors too.
    let r = curl_https(&site, anx.port, "a.test", "/missing", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("strict-transport-security").as_deref(),
        Some("max-age=63072000")
    );
}

#[test]
fn static_file_of_1mib_arrives_intact() {
    let (site, ca) = site_with_cert();
    let data = common::pattern(1 << 20, 42);
    site.write("html/big.bin", &data);
    let anx = start(&site, &conf("", &[tls_server("a.test", "a", "")]), 1);
    for extra in [&[][..], &["--tlsv1.2", "--tls-max", "1.2"][..]] {
        let r = curl_https(&site, anx.port, "a.test", "/big.bin", extra);
        assert_eq!(r.status, 200, "{}", r.stderr);
        assert_eq!(r.body.len(), data.len());
        assert!(r.body == data, "the 1 MiB body differs from the file");
    }
    let r = curl_https(
        &site,
        anx.port,
        "a.test",
        "/big.bin",
        &["-r", "100000-700000"],
    );
    assert_eq!(r.status, 206, "{}", r.stderr);
    assert!(r.body == data[100000..=700000], "range body differs");
    // Several responses on one kept-alive TLS connection.
    let client = Client::new(ClientOptions {
        ca_pem: &ca.pem,
        ..Default::default()
    });
    let mut s = client.connect(anx.port, "a.test").unwrap();
    for _ in 0..3 {
        s.stream
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: a.test\r\n\r\n")
            .unwrap();
        let mut conn = BodyReader::default();
        let body = conn.read_response(&mut s.stream);
        assert!(body == data, "kept-alive body differs");
    }
}

/// Reads one Content-Length response from a stream (keeping any excess for the next).
#[derive(Default)]
struct BodyReader {
    buf: Vec<u8>,
}

impl BodyReader {
    fn read_response(&mut self, r: &mut impl std::io::Read) -> Vec<u8> {
        let mut tmp = [0u8; 65536];
        let end = loop {
            if let Some(i) = common::find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            let n = r.read(&mut tmp).expect("read head");
            assert!(n > 0, "closed inside the head");
            self.buf.extend_from_slice(&tmp[..n]);
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).to_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .expect("content-length")
            .trim()
            .parse()
            .unwrap();
        while self.buf.len() < end + len {
            let n = r.read(&mut tmp).expect("read body");
            assert!(n > 0, "closed inside the body");
            self.buf.extend_from_slice(&tmp[..n]);
        }
        let body = self.buf[end..end + len].to_vec();
        self.buf.drain(..end + len);
        body
    }
}

#[test]
fn reverse_proxy_over_tls() {
    let (site, _ca) = site_with_cert();
    let backend = Backend::start(|req| {
        BackendReply::ok(format!(
            "proto={} host={} path={}",
            req.header("x-forwarded-proto").unwrap_or("-"),
            req.header("host").unwrap_or("-"),
            req.path()
        ))
    });
    let conf1 = conf(
        "",
        &[tls_server(
            "a.test",
            "a",
            &format!(
                "        location / {{\n            proxy_pass http://{};\n            proxy_set_header X-Forwarded-Proto $scheme;\n        }}\n",
                backend.addr()
            ),
        )],
    );
    let anx = start(&site, &conf1, 1);
    let r = curl_https(&site, anx.port, "a.test", "/api/x?q=1", &[]);
    assert_eq!(r.status, 200, "{}", r.stderr);
    assert_eq!(
        r.text(),
        format!("proto=https host={} path=/api/x", backend.addr())
    );
    // An upload through TLS reaches the backend whole.
    let echo = Backend::echo();
    let conf2 = conf(
        "",
        &[tls_server(
            "a.test",
            "a",
            &format!(
                "        location / {{ proxy_pass http://{}; }}\n",
                echo.addr()
            ),
        )],
    );
    drop(anx);
    let anx = start(&site, &conf2, 1);
    let upload = common::pattern(300_000, 3);
    site.write("upload.bin", &upload);
    let data_arg = format!("@{}", site_path(&site, "upload.bin"));
    let r = curl_https(
        &site,
        anx.port,
        "a.test",
        "/up",
        &["--data-binary", &data_arg],
    );
    assert_eq!(r.status, 200, "{}", r.stderr);
    assert!(
        common::contains(&r.body, &upload),
        "echoed body lacks the upload"
    );
}

/// A TLS site with `client_header_timeout 1s` and a "/" that answers "ok".
fn timeout_site() -> (Site, Ca, common::Anx) {
    let (site, ca) = site_with_cert();
    let conf = conf(
        "    client_header_timeout 1s;\n",
        &[tls_server(
            "a.test",
            "a",
            "        location / { return 200 ok; }\n",
        )],
    );
    let anx = start(&site, &conf, 1);
    (site, ca, anx)
}

fn served_fine(site: &Site, port: u16) {
    let r = curl_https(site, port, "a.test", "/", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "ok"), "{}", r.stderr);
}

/// The longest a 1 s handshake timeout may take to show (a hang guard, not a measure).
const CLOSE_LIMIT: Duration = Duration::from_secs(10);

fn open(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

#[test]
fn garbage_bytes_are_closed_and_others_are_served() {
    let (site, _ca, mut anx) = timeout_site();
    let mut bad = open(anx.port);
    let mut slow = open(anx.port);
    bad.write_all(b"\x00\x01\x02garbage\xff\xfe\r\n\r\n")
        .unwrap();
    served_fine(&site, anx.port);
    let got = wait_closed(&mut bad, CLOSE_LIMIT).unwrap();
    assert!(got.is_empty() || got[0] == 0x15, "garbage got {got:?}");
    // A record header claiming a handshake, then garbage.
    let mut bad2 = open(anx.port);
    bad2.write_all(&[0x16, 0x03, 0x01, 0x00, 0x10]).unwrap();
    bad2.write_all(&[0xAB; 16]).unwrap();
    let got = wait_closed(&mut bad2, CLOSE_LIMIT).unwrap();
    assert!(got.is_empty() || got[0] == 0x15, "bad hello got {got:?}");
    served_fine(&site, anx.port);
    slow.write_all(b"\x80").unwrap();
    wait_closed(&mut slow, CLOSE_LIMIT).unwrap();
    assert!(anx.alive());
    served_fine(&site, anx.port);
}

#[test]
fn plain_http_on_the_tls_port_gets_nginx_400_page() {
    let (site, _ca, anx) = timeout_site();
    let mut c = anx.connect();
    c.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 400);
    let body = r.text();
    assert!(
        body.contains("<title>400 The plain HTTP request was sent to HTTPS port</title>"),
        "{body}"
    );
    assert!(
        body.contains("<center>The plain HTTP request was sent to HTTPS port</center>"),
        "{body}"
    );
    assert!(r.says_close());
    c.assert_closed();
    // curl speaking http:// to the TLS port sees the same page.
    let r = curl(&site, &[&format!("http://127.0.0.1:{}/", anx.port)]);
    assert_eq!(r.status, 400, "{}", r.stderr);
    assert!(r
        .text()
        .contains("The plain HTTP request was sent to HTTPS port"));
    served_fine(&site, anx.port);
}

#[test]
fn truncated_client_hello_then_close() {
    let (site, _ca, mut anx) = timeout_site();
    let hello = client_hello("a.test");
    for cut in [1, 5, hello.len() / 2, hello.len() - 1] {
        let mut s = open(anx.port);
        s.write_all(&hello[..cut]).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let got = wait_closed(&mut s, CLOSE_LIMIT).unwrap();
        assert!(got.is_empty() || got[0] == 0x15, "cut {cut}: {got:?}");
        served_fine(&site, anx.port);
    }
    assert!(anx.alive());
}

#[test]
fn slow_handshakes_are_closed_after_client_header_timeout() {
    let (site, ca, mut anx) = timeout_site();
    let hello = client_hello("a.test");
    let mut silent = open(anx.port);
    let mut half = open(anx.port);
    half.write_all(&hello[..hello.len() / 2]).unwrap();
    // While both hang in their handshakes, others are served.
    let client = Client::new(ClientOptions {
        ca_pem: &ca.pem,
        ..Default::default()
    });
    for _ in 0..3 {
        let (_, reply) = client.get(anx.port, "a.test", "a.test", "/").unwrap();
        assert_eq!(reply.text(), "ok");
    }
    served_fine(&site, anx.port);
    let got = wait_closed(&mut silent, CLOSE_LIMIT)
        .unwrap_or_else(|e| panic!("silent client: {e} (client_header_timeout is 1s)"));
    assert!(got.is_empty() || got[0] == 0x15, "{got:?}");
    let got = wait_closed(&mut half, CLOSE_LIMIT)
        .unwrap_or_else(|e| panic!("half ClientHello: {e} (client_header_timeout is 1s)"));
    assert!(got.is_empty() || got[0] == 0x15, "{got:?}");
    assert!(anx.alive());
    served_fine(&site, anx.port);
    let timeouts = anx.stderr_matching(&["while SSL handshaking"]);
    assert!(!timeouts.is_empty(), "{:?}", anx.stderr());
}

#[test]
fn missing_ssl_certificate_is_an_error() {
    let (site, _ca) = site_with_cert();
    let conf = conf(
        "",
        &["        listen 127.0.0.1:0 ssl;\n        server_name a.test;\n".to_string()],
    );
    let (code, err, path) = anx_test(&site, &conf);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no \"ssl_certificate\" is defined"), "{err}");
    let at = format!(
        "{}:{}",
        shown(&path),
        line_of(&conf, "listen 127.0.0.1:0 ssl")
    );
    assert!(err.contains(&at), "expected {at}: {err}");
}

#[test]
fn key_not_matching_certificate_is_an_error() {
    let (site, ca) = site_with_cert();
    server_leaf(&ca, &["a.test"], Alg::P256).write(&site, "other");
    let conf = conf(
        "",
        &[
            "        listen 127.0.0.1:0 ssl;\n        server_name a.test;\n        ssl_certificate a.crt;\n        ssl_certificate_key other.key;\n".to_string(),
        ],
    );
    let (code, err, path) = anx_test(&site, &conf);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not match"), "{err}");
    assert!(err.contains("other.key") && err.contains("a.crt"), "{err}");
    let at = |needle| format!("{}:{}", shown(&path), line_of(&conf, needle));
    assert!(
        err.contains(&at("ssl_certificate a.crt")) || err.contains(&at("ssl_certificate_key")),
        "expected file:line: {err}"
    );
}

#[test]
fn unreadable_files_are_errors() {
    let (site, _ca) = site_with_cert();
    site.mkdir("adir");
    for (cert, key, bad) in [
        ("missing.crt", "a.key", "missing.crt"),
        ("a.crt", "missing.key", "missing.key"),
        ("adir", "a.key", "adir"),
        ("a.key", "a.key", "a.key"),
    ] {
        let conf = conf(
            "",
            &[format!(
                "        listen 127.0.0.1:0 ssl;\n        server_name a.test;\n        ssl_certificate {cert};\n        ssl_certificate_key {key};\n"
            )],
        );
        let (code, err, path) = anx_test(&site, &conf);
        assert_eq!(code, 1, "{cert}/{key}: {err}");
        assert!(err.contains(bad), "{cert}/{key}: {err}");
        let line = if bad == cert {
            line_of(&conf, "ssl_certificate ")
        } else {
            line_of(&conf, "ssl_certificate_key")
        };
        let at = format!("{}:{line}", shown(&path));
        assert!(err.contains(&at), "{cert}/{key}: expected {at}: {err}");
    }
}

#[test]
fn expired_certificate_warns_and_starts() {
    let site = Site::new();
    let ca = ca("anx test CA");
    write_ca(&site, &ca);
    expired_leaf(&ca, &["old.test"]).write(&site, "old");
    let conf = conf(
        "",
        &[tls_server(
            "old.test",
            "old",
            "        location / { return 200 ok; }\n",
        )],
    );
    let (code, err, path) = anx_test(&site, &conf);
    assert_eq!(code, 0, "an expired certificate is only a warning: {err}");
    assert!(err.contains("has expired"), "{err}");
    assert!(err.contains("old.crt"), "{err}");
    let at = format!(
        "{}:{}",
        shown(&path),
        line_of(&conf, "ssl_certificate old.crt")
    );
    assert!(err.contains(&at), "expected {at}: {err}");
    let anx = start(&site, &conf, 1);
    assert!(
        !anx.stderr_matching(&["has expired"]).is_empty(),
        "the warning at start: {:?}",
        anx.stderr()
    );
    // Served; curl refuses it unless told not to verify.
    let r = curl_https(&site, anx.port, "old.test", "/", &[]);
    assert_ne!(r.exit, 0, "curl must refuse an expired certificate: {r:?}");
    let r = curl_https(&site, anx.port, "old.test", "/", &["-k"]);
    assert_eq!((r.status, r.text().as_str()), (200, "ok"), "{}", r.stderr);
}

#[test]
fn proxy_protocol_header_comes_before_the_tls_handshake() {
    let (site, _ca) = site_with_cert();
    let conf = conf(
        "",
        &[
            "        listen 127.0.0.1:0 ssl proxy_protocol;\n        server_name a.test;\n        \
             ssl_certificate a.crt;\n        ssl_certificate_key a.key;\n        \
             location / { return 200 \"$proxy_protocol_addr $scheme\\n\"; }\n"
                .to_string(),
        ],
    );
    let anx = start(&site, &conf, 1);
    // curl's --haproxy-protocol sends a v1 line with its own addresses, then TLS.
    let r = curl_https(&site, anx.port, "a.test", "/", &["--haproxy-protocol"]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "127.0.0.1 https\n"),
        "{}",
        r.stderr
    );
    // Without the header the ClientHello is read as one, and refused.
    let r = curl_https(&site, anx.port, "a.test", "/", &[]);
    assert_ne!(r.status, 200);
    common::poll_until(Duration::from_secs(10), "the broken-header line", || {
        anx.stderr_matching(&["broken header", "while reading PROXY protocol"])
            .pop()
    });
}
