//! `proxy_pass https://` against the real binary: an HTTPS backend written here (a std
//! listener with a rustls `ServerConnection` per connection, certificates from rcgen)
//! answers every request with what it saw — the SNI, the request line, whether the
//! handshake resumed and whether a client certificate came — so each test can check what
//! anx sent: verification on and off, `proxy_ssl_name`, SNI only with
//! `proxy_ssl_server_name on`, a client certificate, keep-alive over TLS and session reuse.

mod common;
mod tls_util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Anx, Site};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{HandshakeKind, RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use tls_util::*;

/// What the backend counted.
#[derive(Default)]
struct Seen {
    accepts: AtomicUsize,
    resumed: AtomicUsize,
    /// Handshakes that failed (a client that refused the certificate, for instance).
    failed: AtomicUsize,
    snis: Mutex<Vec<Option<String>>>,
}

struct Backend {
    port: u16,
    seen: Arc<Seen>,
}

/// An HTTPS backend with `leaf`'s certificate; with `client_ca`, a client certificate
/// signed by it is required.
fn backend(leaf: &Leaf, client_ca: Option<&Ca>) -> Backend {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = vec![CertificateDer::from(leaf.der.clone())];
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key");
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
                roots.add(c.expect("CA pem")).expect("root");
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = Arc::new(builder.with_single_cert(chain, key).expect("cert"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Seen::default());
    let s = Arc::clone(&seen);
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { continue };
            s.accepts.fetch_add(1, Ordering::SeqCst);
            let (config, s) = (Arc::clone(&config), Arc::clone(&s));
            std::thread::spawn(move || serve(sock, config, &s));
        }
    });
    Backend { port, seen }
}

/// One backend connection: handshake, then requests until the client closes.
fn serve(mut sock: TcpStream, config: Arc<ServerConfig>, seen: &Seen) {
    let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut conn) = ServerConnection::new(config) else {
        return;
    };
    while conn.is_handshaking() {
        if conn.complete_io(&mut sock).is_err() {
            seen.failed.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
    let sni = conn.server_name().map(str::to_string);
    let resumed = conn.handshake_kind() == Some(HandshakeKind::Resumed);
    if resumed {
        seen.resumed.fetch_add(1, Ordering::SeqCst);
    }
    let client_cert = conn.peer_certificates().is_some_and(|c| !c.is_empty());
    seen.snis.lock().expect("lock").push(sni.clone());
    let mut tls = StreamOwned::new(conn, sock);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match tls.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        let line = head.lines().next().unwrap_or_default().to_string();
        let body = format!(
            "sni={} line={line} resumed={resumed} client_cert={client_cert}\n",
            sni.as_deref().unwrap_or("-")
        );
        let close = !head.contains("HTTP/1.1") || head.to_ascii_lowercase().contains("close");
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if tls.write_all(reply.as_bytes()).is_err() || tls.flush().is_err() || close {
            tls.conn.send_close_notify();
            let _ = tls.flush();
            return;
        }
    }
}

/// A site with a CA written as `ca.pem`, a backend certificate for `backend.test` and a
/// second, unrelated CA as `other-ca.pem`.
fn site() -> (Site, Ca, Leaf) {
    let site = Site::new();
    let ca = ca("anx upstream CA");
    site.write("ca.pem", &ca.pem);
    site.write("other-ca.pem", &tls_util::ca("someone else").pem);
    let leaf = server_leaf(&ca, &["backend.test"], Alg::P256);
    (site, ca, leaf)
}

/// anx with one plain server whose `/` proxies to `upstream` (`https://` + it), with
/// `http` and `location` lines added.
fn start(site: &Site, http: &str, upstream: &str, location: &str) -> Anx {
    let server = format!(
        "        listen 127.0.0.1:0;\n        location / {{\n            proxy_pass https://{upstream};\n{location}\n        }}"
    );
    Anx::start_conf(site, &conf(http, &[server]), 1)
}

#[test]
fn verify_off_accepts_any_certificate() {
    let (site, _ca, leaf) = site();
    let b = backend(&leaf, None);
    let anx = start(&site, "", &format!("127.0.0.1:{}", b.port), "");
    let r = anx.get("/x?y=1");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("line=GET /x?y=1 HTTP/1.0"),
        "{}",
        r.text()
    );
    // nginx sends no SNI by default.
    assert!(r.text().contains("sni=-"), "{}", r.text());
}

#[test]
fn verify_on_with_the_right_ca_and_name() {
    let (site, _ca, leaf) = site();
    let b = backend(&leaf, None);
    let anx = start(
        &site,
        "",
        &format!("127.0.0.1:{}", b.port),
        "            proxy_ssl_verify on;\n            proxy_ssl_trusted_certificate ca.pem;\n            proxy_ssl_name backend.test;",
    );
    let r = anx.get("/");
    assert_eq!(r.status, 200, "{}", r.text());
    // A name of its own is still not sent without proxy_ssl_server_name.
    assert!(r.text().contains("sni=-"), "{}", r.text());
}

#[test]
fn verify_on_with_a_wrong_ca_or_name_is_502() {
    let (site, _ca, leaf) = site();
    let b = backend(&leaf, None);
    for (ca_file, name) in [
        ("other-ca.pem", "backend.test"),
        ("ca.pem", "elsewhere.test"),
    ] {
        let anx = start(
            &site,
            "",
            &format!("127.0.0.1:{}", b.port),
            &format!(
                "            proxy_ssl_verify on;\n            proxy_ssl_trusted_certificate {ca_file};\n            proxy_ssl_name {name};"
            ),
        );
        let r = anx.get("/");
        assert_eq!(r.status, 502, "{ca_file} {name}");
        // The error log is written by another thread: give it a moment.
        let needles = [
            "upstream SSL certificate verify error",
            "while SSL handshaking to upstream",
        ];
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while anx.stderr_matching(&needles).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !anx.stderr_matching(&needles).is_empty(),
            "{:?}",
            anx.stderr()
        );
    }
}

#[test]
fn sni_only_with_proxy_ssl_server_name_on() {
    let (site, _ca, leaf) = site();
    let b = backend(&leaf, None);
    let up = format!("upstream backend.test {{ server 127.0.0.1:{}; }}", b.port);
    let anx = start(
        &site,
        &up,
        "backend.test",
        "            proxy_ssl_server_name on;",
    );
    let r = anx.get("/");
    assert_eq!(r.status, 200, "{}", r.text());
    // The default name is $proxy_host: the group's name.
    assert!(r.text().contains("sni=backend.test"), "{}", r.text());
    drop(anx);

    let anx = start(
        &site,
        &up,
        "backend.test",
        "            proxy_ssl_server_name on;\n            proxy_ssl_name $arg_n;",
    );
    let r = anx.get("/?n=named.test");
    assert!(r.text().contains("sni=named.test"), "{}", r.text());
}

#[test]
fn client_certificate_to_an_upstream_that_requires_one() {
    let (site, ca, leaf) = site();
    let client = client_leaf(&ca, "anx");
    client.write(&site, "client");
    let b = backend(&leaf, Some(&ca));
    let addr = format!("127.0.0.1:{}", b.port);
    let anx = start(&site, "", &addr, "");
    assert_eq!(anx.get("/").status, 502);
    drop(anx);
    let anx = start(
        &site,
        "",
        &addr,
        "            proxy_ssl_certificate client.crt;\n            proxy_ssl_certificate_key client.key;",
    );
    let r = anx.get("/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("client_cert=true"), "{}", r.text());
}

#[test]
fn keepalive_and_session_reuse_over_tls() {
    let (site, _ca, leaf) = site();
    let b = backend(&leaf, None);
    let up = format!(
        "upstream tlsapp {{ server 127.0.0.1:{}; keepalive 4; }}",
        b.port
    );
    let anx = start(&site, &up, "tlsapp", "            proxy_http_version 1.1;");
    for i in 0..20 {
        let r = anx.get(&format!("/{i}"));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // Sequential requests reuse one pooled connection.
    assert_eq!(b.seen.accepts.load(Ordering::SeqCst), 1);
    drop(anx);

    // Without keepalive every request is a new connection, and after the first each
    // handshake resumes the session (TLS 1.3 tickets), unless reuse is off.
    let b = backend(&leaf, None);
    let addr = format!("127.0.0.1:{}", b.port);
    let anx = start(&site, "", &addr, "");
    for _ in 0..4 {
        assert_eq!(anx.get("/").status, 200);
    }
    assert_eq!(b.seen.accepts.load(Ordering::SeqCst), 4);
    assert_eq!(b.seen.resumed.load(Ordering::SeqCst), 3);
    drop(anx);

    let b = backend(&leaf, None);
    let addr = format!("127.0.0.1:{}", b.port);
    let anx = start(&site, "", &addr, "            proxy_ssl_session_reuse off;");
    for _ in 0..3 {
        assert_eq!(anx.get("/").status, 200);
    }
    assert_eq!(b.seen.resumed.load(Ordering::SeqCst), 0);
}

#[test]
fn config_errors() {
    let (site, _ca, _leaf) = site();
    let server = "        listen 127.0.0.1:0;\n        location / { proxy_pass https://127.0.0.1:1; proxy_ssl_verify on; }".to_string();
    let (code, out, _) = anx_test(&site, &conf("", &[server]));
    assert_ne!(code, 0);
    assert!(
        out.contains("no proxy_ssl_trusted_certificate for proxy_ssl_verify"),
        "{out}"
    );
}
