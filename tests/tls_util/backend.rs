//! An HTTPS backend for the `proxy_pass https://` and TLS health-check tests: a std
//! listener with a rustls `ServerConnection` per connection (certificate from rcgen) that
//! answers every request with what it saw: the SNI, the request line, whether the handshake
//! resumed and whether a client certificate came. Each request line is also recorded, so a
//! test can tell probes from proxied requests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{HandshakeKind, RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use super::{Ca, Leaf};

/// What the backend counted.
#[derive(Default)]
pub struct Seen {
    pub accepts: AtomicUsize,
    pub resumed: AtomicUsize,
    /// Handshakes that failed (a client that refused the certificate, for instance).
    pub failed: AtomicUsize,
    pub snis: Mutex<Vec<Option<String>>>,
    /// Every request line, in arrival order.
    pub lines: Mutex<Vec<String>>,
    /// The status every answer carries; 0 (the default) means 200.
    pub status: AtomicU16,
}

pub struct Backend {
    pub port: u16,
    pub seen: Arc<Seen>,
}

/// An HTTPS backend with `leaf`'s certificate; with `client_ca`, a client certificate
/// signed by it is required.
pub fn backend(leaf: &Leaf, client_ca: Option<&Ca>) -> Backend {
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
        seen.lines.lock().expect("lock").push(line.clone());
        let status = match seen.status.load(Ordering::SeqCst) {
            0 => 200,
            s => s,
        };
        let body = format!(
            "sni={} line={line} resumed={resumed} client_cert={client_cert}\n",
            sni.as_deref().unwrap_or("-")
        );
        let close = !head.contains("HTTP/1.1") || head.to_ascii_lowercase().contains("close");
        let reply = format!(
            "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\n{}\r\n{body}",
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
