//! OCSP checks of client certificates (`ssl_ocsp on|leaf`, nginx 1.19.0), the sans-io part:
//! which certificates of a verified client chain are asked about, each one's [`Plan`],
//! where its request goes, and the per-shard cache of answers (`ssl_ocsp_cache`).
//!
//! Where it sits: right after a TLS handshake whose client certificate verified,
//! `tls::acceptor` builds a [`ClientCheck`] from the connection; `net::ocsp` asks the
//! responders in turn (I/O on the shard) and judges each answer with
//! [`super::response::read`]. A failure turns `$ssl_client_verify` into `FAILED:…`, which
//! refuses every request on the connection with 400, as nginx does.
//!
//! nginx's rules (`ngx_ssl_ocsp_validate`): the chain is the one verification built, leaf
//! first and the trusted root last; `leaf` asks about the leaf only, `on` about every
//! certificate but the root, each with the next one as its issuer; the first answer that
//! is not "good" decides. Responses are verified as OpenSSL's `OCSP_basic_verify` without
//! `OCSP_TRUSTOTHER`: the signer must be the issuer or its delegated responder and chain
//! to `ssl_client_certificate`/`ssl_trusted_certificate`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use der::Encode;
use rustls::pki_types::CertificateDer;

use super::plan::Plan;
use super::response::CertState;
use crate::config::model::{ClientOcsp, OcspCache};

/// How long an answer without nextUpdate is cached (nginx's hour).
const NO_NEXT_UPDATE_SECS: u64 = 3600;

/// What to check for one connection: owned, so the handshake's borrow ends before the
/// first request goes out.
#[derive(Debug)]
pub struct ClientCheck {
    /// The verified chain, leaf first, trusted root last.
    pub chain: Vec<CertificateDer<'static>>,
    /// The trusted certificates (`ssl_client_certificate` + `ssl_trusted_certificate`).
    pub store: Vec<CertificateDer<'static>>,
    pub settings: ClientOcsp,
}

impl ClientCheck {
    /// How many certificates are asked about: all but the root (`on`), or the leaf only.
    /// A self-signed client certificate, its own root, needs no answer.
    pub fn count(&self) -> usize {
        let below_root = self.chain.len().saturating_sub(1);
        if self.settings.leaf_only {
            below_root.min(1)
        } else {
            below_root
        }
    }

    /// The request for certificate `i` and the addresses it goes to; an error is nginx's
    /// log message (the check then fails: "certificate status request failed").
    pub fn request(&self, i: usize) -> Result<(Plan, Vec<SocketAddr>), String> {
        let (Some(cert), Some(issuer)) = (self.chain.get(i), self.chain.get(i + 1)) else {
            return Err("no issuer certificate in the chain".to_string());
        };
        let responder = self.settings.responder.as_ref();
        let mut plan = super::plan::plan(
            &[cert.clone(), issuer.clone()],
            responder.map(|r| r.url.as_str()),
            &[],
            true,
        )
        .map_err(|e| match e.as_str() {
            "no OCSP responder URL" => "no OCSP responder URL in certificate".to_string(),
            _ => e,
        })?;
        plan.chain = self.chain.clone();
        plan.trusted = self.store.clone();
        plan.trust_other = false;
        let addrs = match responder {
            Some(r) => r.addrs.clone(),
            // A name from the certificate would need nginx's `resolver`, which anx does
            // not have here: nginx without one fails the same way.
            None => match plan.url.host.parse::<IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, plan.url.port)],
                Err(_) => return Err(format!("no resolver defined to resolve {}", plan.url.host)),
            },
        };
        Ok((plan, addrs))
    }
}

/// `$ssl_client_verify`'s reason when a check does not pass (nginx's words).
pub fn failure_reason(state: Option<CertState>) -> &'static str {
    match state {
        None => "certificate status request failed",
        Some(CertState::Revoked) => "certificate revoked",
        Some(CertState::Unknown | CertState::Good) => "certificate status unknown",
    }
}

/// One shard's `ssl_ocsp_cache` zones: answers by zone name and certificate (its CertID),
/// each until its nextUpdate. nginx shares a zone between workers; a shard's cache serves
/// that shard's connections (one shard when `worker_processes` is not set, as nginx's one
/// worker).
#[derive(Debug, Default)]
pub struct Cache {
    zones: HashMap<String, HashMap<Vec<u8>, (CertState, u64)>>,
}

impl Cache {
    /// The cached answer for `plan`'s certificate in `zone`, while it is valid.
    pub fn get(&self, zone: &OcspCache, plan: &Plan, now: u64) -> Option<CertState> {
        let key = plan.cert_id.to_der().ok()?;
        let (state, until) = self.zones.get(&zone.name)?.get(&key)?;
        (*until >= now).then_some(*state)
    }

    /// Keeps `state` for `plan`'s certificate until `next_update` (an hour when none);
    /// a zone at its size first drops its expired answers, then any one.
    pub fn put(
        &mut self,
        zone: &OcspCache,
        plan: &Plan,
        state: CertState,
        next_update: Option<u64>,
        now: u64,
    ) {
        let until = next_update.unwrap_or(now.saturating_add(NO_NEXT_UPDATE_SECS));
        let Ok(key) = plan.cert_id.to_der() else {
            return;
        };
        if until < now || zone.entries == 0 {
            return;
        }
        let map = self.zones.entry(zone.name.clone()).or_default();
        if map.len() >= zone.entries && !map.contains_key(&key) {
            map.retain(|_, (_, u)| *u >= now);
            if map.len() >= zone.entries {
                if let Some(k) = map.keys().next().cloned() {
                    map.remove(&k);
                }
            }
        }
        map.insert(key, (state, until));
    }
}
