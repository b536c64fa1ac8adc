//! A load generator for TLS handshakes, used by perf/tls.py (not part of the server): N
//! threads, each opening a new TLS connection per request for D seconds, sending one
//! `GET path HTTP/1.1` with `Connection: close` and reading the answer to its end.
//!
//! `--resume` keeps one rustls session cache per thread so every connection after the
//! first resumes with a TLS 1.3 ticket; without it every handshake is full. The client is
//! anx's own upstream TLS client (`tls::upstream`) with verification off: it measures
//! servers, it does not check them. It offers TLS 1.3 only; perf/tls.py sets
//! `ssl_ecdh_curve X25519` on both servers so that they do the same key exchange (OpenSSL
//! 3.0 has no ML-KEM).
//!
//! Prints one line: `handshakes=N resumed=N errors=N seconds=S`.
//!
//! cargo run --release --example tls_handshakes -- 127.0.0.1:8443 [--threads 16]
//!     [--seconds 5] [--resume] [--path /small] [--name bench.test]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anx::config::model::{ProxySsl, TlsVersion};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

struct Options {
    addr: String,
    threads: usize,
    seconds: f64,
    resume: bool,
    path: String,
    name: String,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut o = Options {
        addr: String::new(),
        threads: 16,
        seconds: 5.0,
        resume: false,
        path: "/small".to_string(),
        name: "bench.test".to_string(),
    };
    while let Some(a) = args.next() {
        let mut value = |what: &str| args.next().ok_or(format!("{what} needs a value"));
        match a.as_str() {
            "--threads" => o.threads = value("--threads")?.parse().map_err(|e| format!("{e}"))?,
            "--seconds" => o.seconds = value("--seconds")?.parse().map_err(|e| format!("{e}"))?,
            "--resume" => o.resume = true,
            "--path" => o.path = value("--path")?,
            "--name" => o.name = value("--name")?,
            _ if o.addr.is_empty() && !a.starts_with('-') => o.addr = a,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if o.addr.is_empty() {
        return Err("usage: tls_handshakes ADDR [--threads N] [--seconds S] [--resume]".into());
    }
    Ok(o)
}

/// anx's own upstream client (`proxy_ssl_verify off`, which still checks the handshake
/// signature), TLS 1.3 only, with SNI; a session cache only with `resume`.
fn config(resume: bool) -> Arc<ClientConfig> {
    let ssl = ProxySsl {
        protocols: vec![TlsVersion::Tls13],
        server_name: true,
        session_reuse: resume,
        ..ProxySsl::default()
    };
    anx::tls::upstream::client_config(&ssl).expect("client config")
}

/// One connection, one request; true when it resumed.
fn one(o: &Options, config: &Arc<ClientConfig>, request: &[u8]) -> Result<bool, String> {
    let mut sock = TcpStream::connect(&o.addr).map_err(|e| e.to_string())?;
    sock.set_nodelay(true).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(o.name.clone()).map_err(|e| e.to_string())?;
    let mut conn = ClientConnection::new(Arc::clone(config), name).map_err(|e| e.to_string())?;
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(request).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 16 * 1024];
    let mut got = 0usize;
    let mut ok = false;
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                ok |= got == 0 && buf[..n].starts_with(b"HTTP/1.1 200");
                got += n;
            }
            // A server that closes without close_notify after its answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && got > 0 => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    if !ok {
        return Err("no 200 answer".into());
    }
    Ok(conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed))
}

fn main() {
    let o = match options() {
        Ok(o) => Arc::new(o),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (done, resumed, errors) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let start = Instant::now();
    let workers: Vec<_> = (0..o.threads)
        .map(|_| {
            let (o, stop) = (Arc::clone(&o), Arc::clone(&stop));
            let (done, resumed, errors) =
                (Arc::clone(&done), Arc::clone(&resumed), Arc::clone(&errors));
            std::thread::spawn(move || {
                let config = config(o.resume);
                let request = format!(
                    "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                    o.path, o.name
                );
                while !stop.load(Ordering::Relaxed) {
                    match one(&o, &config, request.as_bytes()) {
                        Ok(r) => {
                            done.fetch_add(1, Ordering::Relaxed);
                            if r {
                                resumed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("error: {e}");
                            }
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(o.seconds));
    stop.store(true, Ordering::Relaxed);
    let seconds = start.elapsed().as_secs_f64();
    for w in workers {
        let _ = w.join();
    }
    println!(
        "handshakes={} resumed={} errors={} seconds={seconds:.3}",
        done.load(Ordering::Relaxed),
        resumed.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed)
    );
}
