//! The OCSP fetcher: one background thread ("anx-ocsp") for the whole process fetches the
//! response of every certificate with `ssl_stapling on` (and no `ssl_stapling_file`) and
//! swaps each good one into the certificate's slot, where every shard's next handshake
//! finds it.
//!
//! Where it sits: off the request path, beside the health prober. The shards never wait
//! for it: the server starts serving without staples, as nginx does, and staples once the
//! first fetch succeeds. Its input is one generation's
//! [`TlsListeners::stapling_targets`](crate::tls::TlsListeners::stapling_targets); call
//! [`start`] again for a new generation, and the old thread ends by itself once the old
//! generation's slots are dropped.
//!
//! I/O is plain std: the host is resolved with the system resolver (anx has no
//! `resolver`), then an HTTP/1.0 POST over a blocking `TcpStream` with timeouts. What to
//! send and how to judge the answer is sans-io in `tls::ocsp`. Failures are warnings in
//! nginx's words ("… while requesting certificate status, responder: …, peer: …,
//! certificate: …"); a staple is logged at info.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::tls::ocsp::http::{self, Url, MAX_RESPONSE};
use crate::tls::ocsp::response;
use crate::tls::ocsp::state::{Change, Stapling};
use crate::tls::ocsp::{StapleSlot, Target};

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one read or write may block, and (times three) a whole exchange.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the thread looks at its schedule and whether its generation is still alive.
const TICK: Duration = Duration::from_millis(250);

/// Starts the fetcher for `targets`; `None` when there is nothing to fetch (or the thread
/// cannot start, which is logged: the server then serves without staples).
pub fn start(targets: Vec<Target>) -> Option<std::thread::JoinHandle<()>> {
    if targets.is_empty() {
        return None;
    }
    let spawned = std::thread::Builder::new()
        .name("anx-ocsp".to_string())
        .spawn(move || run(targets));
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            log::error!("cannot start the OCSP stapling thread: {e}");
            None
        }
    }
}

/// One target's state in the thread.
struct Entry {
    target: Target,
    state: Stapling,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn run(targets: Vec<Target>) {
    let now = unix_now();
    let mut entries: Vec<Entry> = targets
        .into_iter()
        .map(|target| Entry {
            target,
            state: Stapling::new(now),
        })
        .collect();
    loop {
        let mut live = false;
        for e in &mut entries {
            let slots = e.target.live_slots();
            if slots.is_empty() {
                continue;
            }
            live = true;
            let now = unix_now();
            let change = if e.state.schedule.is_due(now) {
                refresh(e)
            } else {
                e.state.tick(now)
            };
            apply(&e.target, &slots, change);
        }
        if !live {
            return;
        }
        std::thread::sleep(TICK);
    }
}

/// One fetch for `e`, logged; what the slots must do about it.
fn refresh(e: &mut Entry) -> Change {
    let plan = &e.target.plan;
    let context = |peer: Option<SocketAddr>| {
        let peer = peer.map_or_else(|| "-".to_string(), |p| p.to_string());
        format!(
            "while requesting certificate status, responder: {}, peer: {peer}, certificate: \"{}\"",
            plan.url.host,
            e.target.certificate.display()
        )
    };
    let fetched = fetch(&plan.url, &plan.request);
    let now = unix_now();
    match fetched {
        Err(f) => {
            log::warn!("{} {}", f.message, context(f.peer));
            e.state.failed(None, now)
        }
        Ok((body, peer)) => match response::check(&body, plan, now) {
            Ok(good) => {
                let next = good.next_update.map_or_else(
                    || "none".to_string(),
                    |n| httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(n)),
                );
                log::info!(
                    "OCSP response stapled: certificate status \"good\", next update \"{next}\" {}",
                    context(Some(peer))
                );
                e.state.stapled(good, now)
            }
            Err(refusal) => {
                log::warn!("{refusal} {}", context(Some(peer)));
                e.state.failed(Some(&refusal), now)
            }
        },
    }
}

fn apply(target: &Target, slots: &[Arc<StapleSlot>], change: Change) {
    match change {
        Change::Keep => {}
        Change::Staple(der) => {
            for slot in slots {
                slot.set_staple(Some(der.clone()));
            }
        }
        Change::Remove => {
            log::warn!(
                "OCSP response for certificate \"{}\" removed: not stapled until a good one is fetched",
                target.certificate.display()
            );
            for slot in slots {
                slot.set_staple(None);
            }
        }
    }
}

/// A failed fetch: nginx's message and the peer it happened with.
struct Failure {
    message: String,
    peer: Option<SocketAddr>,
}

/// POSTs `request` to the responder; the response body and the peer that sent it.
fn fetch(url: &Url, request: &[u8]) -> Result<(Vec<u8>, SocketAddr), Failure> {
    let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| Failure {
            message: format!("{} could not be resolved ({e})", url.host),
            peer: None,
        })?
        .collect();
    let mut last = Failure {
        message: format!("{} could not be resolved (no addresses)", url.host),
        peer: None,
    };
    // Each address in turn, as nginx tries a name's addresses.
    for addr in addrs {
        match exchange(addr, url, request) {
            Ok(body) => return Ok((body, addr)),
            Err(message) => {
                last = Failure {
                    message,
                    peer: Some(addr),
                }
            }
        }
    }
    Err(last)
}

fn io_message(what: &str, e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => format!("OCSP responder timed out ({e})"),
        _ => format!("{what} failed ({e})"),
    }
}

/// One HTTP/1.0 exchange with one address.
fn exchange(addr: SocketAddr, url: &Url, request: &[u8]) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| io_message("connect()", &e))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| io_message("setsockopt()", &e))?;
    stream
        .write_all(&http::request(url, request))
        .map_err(|e| io_message("send()", &e))?;
    let deadline = Instant::now() + IO_TIMEOUT * 3;
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if Instant::now() > deadline {
            return Err("OCSP responder timed out (the response took too long)".to_string());
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.len() > MAX_RESPONSE {
                    return Err("OCSP responder sent too large response".to_string());
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io_message("recv()", &e)),
        }
    }
    http::parse_response(&got).map(<[u8]>::to_vec)
}
