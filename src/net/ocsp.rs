//! The OCSP check of a client certificate (`ssl_ocsp on|leaf`), the I/O part: after the
//! handshake and before the first request is read, each certificate `tls::ocsp::client`
//! names is looked up in the shard's `ssl_ocsp_cache` or asked about at its responder
//! (HTTP/1.0 GET over a glommio socket, as nginx sends it), in turn.
//!
//! `net::tls::accept` runs it; the verdict goes to `$ssl_client_verify`. Errors are logged
//! in nginx's words ("… while requesting certificate status, responder: …, peer: …").

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use super::upstream::within;
use crate::tls::ocsp::client::{failure_reason, Cache, ClientCheck};
use crate::tls::ocsp::http::{self, Url, MAX_RESPONSE};
use crate::tls::ocsp::response::{self, CertState};

/// Checks `check`'s certificates, each exchange within `timeout`; `Err` is the reason
/// `$ssl_client_verify` gives after `FAILED:`.
pub async fn validate(
    check: &ClientCheck,
    cache: &RefCell<Cache>,
    timeout: Duration,
) -> Result<(), &'static str> {
    let zone = check.settings.cache.as_ref();
    for i in 0..check.count() {
        let (plan, addrs) = check.request(i).map_err(|e| {
            log::error!("{e}");
            failure_reason(None)
        })?;
        let now = unix_now();
        if let Some(state) = zone.and_then(|z| cache.borrow().get(z, &plan, now)) {
            match state {
                CertState::Good => continue,
                other => return Err(failure_reason(Some(other))),
            }
        }
        let context = |peer: Option<SocketAddr>| {
            let peer = peer.map_or_else(|| "-".to_string(), |p| p.to_string());
            format!(
                "while requesting certificate status, responder: {}, peer: {peer}",
                plan.url.host
            )
        };
        let (body, peer) = fetch(&addrs, &plan.url, &plan.request, timeout)
            .await
            .map_err(|(message, peer)| {
                log::error!("{message} {}", context(peer));
                failure_reason(None)
            })?;
        let now = unix_now();
        let (state, answer) = response::read(&body, &plan, now).map_err(|e| {
            log::error!("{e} {}", context(Some(peer)));
            failure_reason(None)
        })?;
        if let Some(z) = zone {
            cache
                .borrow_mut()
                .put(z, &plan, state, answer.next_update, now);
        }
        if state != CertState::Good {
            return Err(failure_reason(Some(state)));
        }
    }
    Ok(())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The responder's answer body from the first of `addrs` that gives one; the error is the
/// last address's, with that address.
async fn fetch(
    addrs: &[SocketAddr],
    url: &Url,
    request: &[u8],
    timeout: Duration,
) -> Result<(Vec<u8>, SocketAddr), (String, Option<SocketAddr>)> {
    let mut last = (format!("{} could not be resolved", url.host), None);
    for &addr in addrs {
        match within(timeout, "OCSP responder", exchange(addr, url, request)).await {
            Ok(Ok(body)) => return Ok((body, addr)),
            Ok(Err(message)) => last = (message, Some(addr)),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = (format!("OCSP responder timed out ({e})"), Some(addr));
            }
            Err(e) => last = (format!("OCSP responder failed ({e})"), Some(addr)),
        }
    }
    Err(last)
}

/// One HTTP/1.0 exchange: the request, then everything up to the responder's close.
async fn exchange(
    addr: SocketAddr,
    url: &Url,
    request: &[u8],
) -> std::io::Result<Result<Vec<u8>, String>> {
    let mut stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return Ok(Err(format!("connect() failed ({e})"))),
    };
    // Always GET, as nginx sends it for client certificates (and as responders serving
    // nginx expect: the request follows the responder's path).
    if let Err(e) = stream.write_all(&http::get(url, request)).await {
        return Ok(Err(format!("send() failed ({e})")));
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.len() > MAX_RESPONSE {
                    return Ok(Err("OCSP responder sent too large response".to_string()));
                }
            }
            Err(e) => return Ok(Err(format!("recv() failed ({e})"))),
        }
    }
    Ok(http::parse_response(&got).map(<[u8]>::to_vec))
}
