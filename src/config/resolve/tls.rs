//! Resolving the `ssl_*` settings: inheritance http → server, reading every certificate,
//! key, CA bundle, CRL, OCSP response and ticket key file, and the checks nginx makes at
//! load time (a certificate for every `listen … ssl`, a key matching its certificate).
//!
//! Control thread only, while a configuration loads. Names of suites and groups are mapped
//! by `tls::names`; keys are parsed and matched with the crypto provider anx serves with
//! (`tls::provider`), so what loads here is what the listeners can use.

use crate::config::model::SockAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};

use super::Resolver;
use crate::config::model::tls::{
    BUILTIN_SESSION_CACHE, DEFAULT_SESSION_TIMEOUT, DEFAULT_VERIFY_DEPTH,
    SESSION_CACHE_BYTES_PER_SESSION,
};
use crate::config::model::{
    CertificateKey, Loaded, SessionCache, TlsSettings, TlsVersion, VerifyClient,
};
use crate::config::tree::{At, ConfigTree, Layers, Origin, ServerTree, TlsLayer};
use crate::tls::certkey::KeyError;
use crate::tls::names;
use crate::tls::pemfile::{read_certs, read_key};

/// A TLS address and its default server (index into the tree's servers): nginx requires a
/// certificate of the default server only; another server without one answers with the
/// default server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SslAddr {
    pub addr: SockAddr,
    pub default: usize,
}

/// Every address some server writes `listen … ssl` for: nginx makes the address TLS for all
/// servers on it.
pub(super) fn ssl_addresses(tree: &ConfigTree) -> Vec<SslAddr> {
    let mut out: Vec<SslAddr> = Vec::new();
    for s in &tree.servers {
        for l in &s.value.listen {
            if l.value.ssl && !out.iter().any(|a| a.addr == l.value.addr) {
                out.push(SslAddr {
                    addr: l.value.addr.clone(),
                    default: default_server(tree, &l.value.addr),
                });
            }
        }
    }
    out
}

/// The server `listen … default_server` marks for `addr`, else the first that listens there.
fn default_server(tree: &ConfigTree, addr: &SockAddr) -> usize {
    let on = |i: &usize, marked: bool| {
        tree.servers[*i]
            .value
            .listen
            .iter()
            .any(|l| l.value.addr == *addr && (!marked || l.value.default_server))
    };
    let all = 0..tree.servers.len();
    all.clone()
        .find(|i| on(i, true))
        .or_else(|| all.clone().find(|i| on(i, false)))
        .unwrap_or(0)
}

/// The server level over the http level, setting by setting.
fn merge(http: &TlsLayer, server: &TlsLayer) -> TlsLayer {
    macro_rules! pick {
        ($($f:ident),*) => {
            TlsLayer { $($f: server.$f.clone().or_else(|| http.$f.clone()),)* }
        };
    }
    let mut out = pick!(
        certificates,
        certificate_keys,
        protocols,
        ciphers,
        prefer_server_ciphers,
        ecdh_curve,
        session_tickets,
        session_ticket_keys,
        session_timeout,
        session_cache,
        client_certificate,
        trusted_certificate,
        verify_client,
        verify_depth,
        crl,
        stapling,
        stapling_file,
        stapling_responder,
        stapling_verify,
        ocsp,
        ocsp_responder,
        ocsp_cache,
        password_file,
        reject_handshake
    );
    // nginx inherits certificates and keys together (both are arrays merged as one pair
    // of lists): a server with its own certificates never takes the http level's keys.
    if server.certificates.is_some() || server.certificate_keys.is_some() {
        out.certificates = server.certificates.clone();
        out.certificate_keys = server.certificate_keys.clone();
    }
    out
}

/// The server's [`TlsSettings`], or `None` when none of its addresses is a TLS one.
pub(super) fn resolve_server(
    index: usize,
    server: &At<ServerTree>,
    http: &Layers,
    ssl_addrs: &[SslAddr],
    r: &mut Resolver,
) -> Option<TlsSettings> {
    let listens = &server.value.listen;
    let is_default = |l: &&At<crate::config::tree::RawListen>| {
        ssl_addrs
            .iter()
            .any(|a| a.addr == l.value.addr && a.default == index)
    };
    let on_tls = listens
        .iter()
        .any(|l| ssl_addrs.iter().any(|a| a.addr == l.value.addr));
    if !on_tls {
        // nginx reads a server's password file even when no TLS address uses it (a
        // writer waiting on a FIFO is released, a missing file is an error, as there).
        if let Some(at) = &server.value.layers.tls.password_file {
            let path = r.path(&at.value);
            if let Err(e) = crate::config::files::read(&path) {
                r.error(
                    &at.origin,
                    format!("cannot open \"{}\": {e}", path.display()),
                );
            }
        }
        return None;
    }
    // Only the default server of a TLS address must have a certificate (nginx 1.15.9+).
    let on_ssl = listens.iter().find(is_default);
    let own_ssl = listens.iter().filter(is_default).find(|l| l.value.ssl);
    let t = merge(&http.tls, &server.value.layers.tls);

    let password_file = t.password_file.as_ref().map(|at| (r.path(&at.value), at));
    let passwords = match &password_file {
        None => Vec::new(),
        Some((path, at)) => match crate::config::files::read(path) {
            Ok(bytes) => crate::tls::keyfile::passwords(&bytes),
            Err(e) => {
                r.error(
                    &at.origin,
                    format!("cannot open \"{}\": {e}", path.display()),
                );
                Vec::new()
            }
        },
    };
    let reject_handshake = t.reject_handshake.unwrap_or(false);
    let certificates = certificates(&t, &passwords, r);
    // A server that rejects handshakes needs no certificate (nginx 1.19.4).
    let without_certificate = certificates.is_empty() && !has_errors_for(&t) && !reject_handshake;
    if let Some(on_ssl) = on_ssl.filter(|_| without_certificate) {
        match own_ssl {
            Some(l) => r.error(
                &l.origin,
                "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive",
            ),
            None => r.error(
                &on_ssl.origin,
                format!(
                    "no \"ssl_certificate\" is defined for this server, and {} is a TLS \
                     address (another server has \"listen ... ssl\" for it)",
                    on_ssl.value.addr
                ),
            ),
        }
    }

    let protocols = match &t.protocols {
        None => vec![TlsVersion::Tls12, TlsVersion::Tls13],
        Some(at) => protocols(at, "ssl_protocols", r),
    };
    let ciphers = match &t.ciphers {
        None => names::default_ciphers(),
        Some(at) => match names::parse_ciphers(&at.value) {
            Ok(list) => {
                if !list.unsupported.is_empty() {
                    note(
                        r,
                        &at.origin,
                        format!(
                            "\"ssl_ciphers\": rustls does not implement {}; left out",
                            list.unsupported.join(", ")
                        ),
                    );
                }
                if !list.unknown.is_empty() {
                    note(
                        r,
                        &at.origin,
                        format!(
                            "\"ssl_ciphers\": unknown cipher {} ignored, as OpenSSL does",
                            list.unknown.join(", ")
                        ),
                    );
                }
                list.suites
            }
            Err(msg) => {
                r.error(&at.origin, format!("\"ssl_ciphers\": {msg}"));
                names::default_ciphers()
            }
        },
    };
    let ecdh_curve = match &t.ecdh_curve {
        None => names::default_groups(),
        Some(at) => match names::parse_groups(&at.value) {
            Ok(list) => {
                if !list.unsupported.is_empty() {
                    note(
                        r,
                        &at.origin,
                        format!(
                            "\"ssl_ecdh_curve\": the crypto provider has no {}; left out",
                            list.unsupported.join(", ")
                        ),
                    );
                }
                list.groups
            }
            Err(msg) => {
                r.error(&at.origin, format!("\"ssl_ecdh_curve\": {msg}"));
                names::default_groups()
            }
        },
    };
    let session_cache = match &t.session_cache {
        None => SessionCache::None,
        Some(at) => session_cache(at, r),
    };
    let session_ticket_keys = t
        .session_ticket_keys
        .iter()
        .flatten()
        .filter_map(|at| ticket_key(at, r))
        .collect();
    let verify_client = match t.verify_client.as_ref().map(|a| (a.value.as_str(), a)) {
        None | Some(("off", _)) => VerifyClient::Off,
        Some(("on", _)) => VerifyClient::On,
        Some(("optional", _)) => VerifyClient::Optional,
        Some(("optional_no_ca", _)) => VerifyClient::OptionalNoCa,
        Some((other, at)) => {
            r.error(
                &at.origin,
                format!(
                    "invalid value \"{other}\" in \"ssl_verify_client\" directive, it must be \
                     \"on\", \"off\", \"optional\" or \"optional_no_ca\""
                ),
            );
            VerifyClient::Off
        }
    };
    let client_certificate = t
        .client_certificate
        .as_ref()
        .and_then(|at| ca_file(at, "ssl_client_certificate", r));
    let trusted_certificate = t
        .trusted_certificate
        .as_ref()
        .and_then(|at| ca_file(at, "ssl_trusted_certificate", r));
    if matches!(verify_client, VerifyClient::On | VerifyClient::Optional)
        && !without_certificate
        && t.client_certificate.is_none()
        && t.trusted_certificate.is_none()
    {
        if let Some(at) = &t.verify_client {
            r.error(
                &at.origin,
                "no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client",
            );
        }
    }
    let crl = t.crl.as_ref().and_then(|at| crl_file(at, "ssl_crl", r));
    let stapling = t.stapling.as_ref().is_some_and(|a| a.value);
    let stapling_file = t.stapling_file.as_ref().and_then(|at| {
        let path = r.path(&at.value);
        match crate::config::files::read(&path) {
            Ok(der) if !der.is_empty() => Some(Loaded::new(path, der)),
            Ok(_) => {
                r.error(
                    &at.origin,
                    format!("\"ssl_stapling_file\" \"{}\" is empty", path.display()),
                );
                None
            }
            Err(e) => {
                r.error(
                    &at.origin,
                    format!(
                        "cannot read \"ssl_stapling_file\" \"{}\": {e}",
                        path.display()
                    ),
                );
                None
            }
        }
    });
    let stapling_responder = t.stapling_responder.as_ref().and_then(|at| {
        match crate::tls::ocsp::http::parse_url(&at.value) {
            Ok(_) => Some(at.value.clone()),
            Err(e) => {
                r.error(
                    &at.origin,
                    format!(
                        "invalid URL \"{}\" in \"ssl_stapling_responder\": {e}",
                        at.value
                    ),
                );
                None
            }
        }
    });
    let stapling_verify = t.stapling_verify.unwrap_or(false);
    if let Some(at) = t.stapling.as_ref().filter(|a| a.value) {
        if t.stapling_file.is_none() {
            stapling_notes(
                &certificates,
                stapling_responder.as_deref(),
                trusted_certificate.as_ref(),
                &at.origin,
                r,
            );
        }
    }
    Some(TlsSettings {
        certificates,
        protocols,
        ciphers,
        prefer_server_ciphers: t.prefer_server_ciphers.unwrap_or(false),
        ecdh_curve,
        session_tickets: t.session_tickets.unwrap_or(true),
        session_ticket_keys,
        session_timeout: t.session_timeout.unwrap_or(DEFAULT_SESSION_TIMEOUT),
        session_cache,
        client_certificate,
        trusted_certificate,
        verify_client,
        verify_depth: t.verify_depth.unwrap_or(DEFAULT_VERIFY_DEPTH),
        crl,
        stapling,
        stapling_file,
        stapling_responder,
        stapling_verify,
        client_ocsp: super::ocsp::client_ocsp(&t, verify_client, r),
        password_file: password_file.map(|(path, _)| path),
        reject_handshake,
    })
}

/// nginx's `"ssl_stapling" ignored, …` warnings: a certificate that cannot staple (no
/// responder URL, no issuer) is served without a staple, and the load says why.
fn stapling_notes(
    certificates: &[CertificateKey],
    responder: Option<&str>,
    trusted: Option<&Loaded<Vec<CertificateDer<'static>>>>,
    at: &Origin,
    r: &mut Resolver,
) {
    let trusted = trusted.map_or(&[][..], |t| t.data.as_slice());
    for c in certificates {
        if let Err(why) = crate::tls::ocsp::plan(&c.chain.data, responder, trusted, false) {
            note(
                r,
                at,
                format!(
                    "\"ssl_stapling\" ignored, {why} for certificate \"{}\"",
                    c.chain.path.display()
                ),
            );
        }
    }
}

/// Whether the certificate lists are themselves in error (then "no certificate" would only
/// repeat it).
fn has_errors_for(t: &TlsLayer) -> bool {
    t.certificates.as_ref().is_some_and(|c| !c.is_empty())
}

/// A warning, once: an http-level setting every server inherits is reported at its line
/// once, not once per server.
fn note(r: &mut Resolver, at: &Origin, message: String) {
    let note = at.error(message);
    if !r
        .notes
        .iter()
        .any(|n| n.line == note.line && n.file == note.file && n.message == note.message)
    {
        r.notes.push(note);
    }
}

/// `ssl_certificate` / `ssl_certificate_key` pairs, read and checked.
fn certificates(t: &TlsLayer, passwords: &[Vec<u8>], r: &mut Resolver) -> Vec<CertificateKey> {
    let certs = t.certificates.as_deref().unwrap_or_default();
    let keys = t.certificate_keys.as_deref().unwrap_or_default();
    let mut out = Vec::new();
    for (i, cert_at) in certs.iter().enumerate() {
        let Some(key_at) = keys.get(i) else {
            r.error(
                &cert_at.origin,
                format!(
                    "no \"ssl_certificate_key\" is defined for certificate \"{}\"",
                    cert_at.value
                ),
            );
            continue;
        };
        if let Some(pair) = certificate_pair(cert_at, key_at, "ssl", passwords, r) {
            out.push(pair);
        }
    }
    for key_at in keys.iter().skip(certs.len()) {
        r.error(
            &key_at.origin,
            format!(
                "\"ssl_certificate_key\" \"{}\" has no \"ssl_certificate\" to go with",
                key_at.value
            ),
        );
    }
    out
}

fn no_variables(at: &At<String>, directive: &str, r: &mut Resolver) -> bool {
    if at.value.contains('$') {
        r.error(
            &at.origin,
            format!("variables in \"{directive}\" are not supported by anx yet"),
        );
        return false;
    }
    true
}

pub(super) fn certificate_pair(
    cert_at: &At<String>,
    key_at: &At<String>,
    prefix: &str,
    passwords: &[Vec<u8>],
    r: &mut Resolver,
) -> Option<CertificateKey> {
    if !no_variables(cert_at, &format!("{prefix}_certificate"), r)
        || !no_variables(key_at, &format!("{prefix}_certificate_key"), r)
    {
        return None;
    }
    let cert_path = r.path(&cert_at.value);
    let chain = read_certs(&cert_path).map_err(|e| {
        r.error(
            &cert_at.origin,
            format!("cannot load certificate \"{}\": {e}", cert_path.display()),
        )
    });
    let key_path = r.path(&key_at.value);
    let key = read_key(&key_path, passwords, prefix).map_err(|e| {
        r.error(
            &key_at.origin,
            format!(
                "cannot load certificate key \"{}\": {e}",
                key_path.display()
            ),
        )
    });
    let (chain, key) = (chain.ok()?, key.ok()?);
    let provider = crate::tls::provider();
    match crate::tls::certkey::certified_key(chain.clone(), &key, &provider) {
        Ok(_) => {}
        Err(KeyError::Mismatch) => {
            r.error(
                &key_at.origin,
                format!(
                    "certificate key \"{}\" does not match certificate \"{}\" \
                     (key values mismatch)",
                    key_path.display(),
                    cert_path.display()
                ),
            );
            return None;
        }
        Err(KeyError::Unusable(e)) => {
            r.error(
                &key_at.origin,
                format!(
                    "cannot load certificate key \"{}\": {e}",
                    key_path.display()
                ),
            );
            return None;
        }
    }
    if let Some(first) = chain.first() {
        weak_notes(first, &cert_path, &cert_at.origin, r);
    }
    Some(CertificateKey {
        chain: Loaded::new(cert_path, chain),
        key: Loaded::new(key_path, key),
    })
}

/// A weak certificate (expired, not yet valid, X.509 v1, a short RSA key, a SHA-1
/// signature) still loads, as in nginx, with a note: a renewal may be on its way, and
/// refusing to start would turn a warning into an outage.
pub(super) fn weak_notes(
    cert: &CertificateDer<'_>,
    path: &std::path::Path,
    at: &Origin,
    r: &mut Resolver,
) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    for why in crate::tls::certkey::weaknesses(cert.as_ref(), now) {
        note(r, at, format!("certificate \"{}\" {why}", path.display()));
    }
}

pub(super) fn ca_file(
    at: &At<String>,
    directive: &str,
    r: &mut Resolver,
) -> Option<Loaded<Vec<CertificateDer<'static>>>> {
    let path = r.path(&at.value);
    match read_certs(&path) {
        Ok(certs) => {
            // A weak CA loads too (OpenSSL trusts it); the load says why it is weak.
            for cert in &certs {
                weak_notes(cert, &path, &at.origin, r);
            }
            Some(Loaded::new(path, certs))
        }
        Err(e) => {
            r.error(
                &at.origin,
                format!("cannot load \"{directive}\" \"{}\": {e}", path.display()),
            );
            None
        }
    }
}

pub(super) fn crl_file(
    at: &At<String>,
    directive: &str,
    r: &mut Resolver,
) -> Option<Loaded<Vec<CertificateRevocationListDer<'static>>>> {
    let path: PathBuf = r.path(&at.value);
    let loaded = crate::config::files::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("bad PEM: {e}"))?;
            if crls.is_empty() {
                return Err("no CRL found (expected PEM \"BEGIN X509 CRL\")".to_string());
            }
            Ok(crls)
        });
    match loaded {
        Ok(crls) => Some(Loaded::new(path, crls)),
        Err(e) => {
            r.error(
                &at.origin,
                format!("cannot load \"{directive}\" \"{}\": {e}", path.display()),
            );
            None
        }
    }
}

fn ticket_key(at: &At<String>, r: &mut Resolver) -> Option<Loaded<Vec<u8>>> {
    let path = r.path(&at.value);
    match crate::config::files::read(&path) {
        Ok(bytes) if bytes.len() == 48 || bytes.len() == 80 => Some(Loaded::new(path, bytes)),
        Ok(bytes) => {
            r.error(
                &at.origin,
                format!(
                    "\"{}\" must be 48 or 80 bytes, found {}",
                    path.display(),
                    bytes.len()
                ),
            );
            None
        }
        Err(e) => {
            r.error(
                &at.origin,
                format!(
                    "cannot read \"ssl_session_ticket_key\" \"{}\": {e}",
                    path.display()
                ),
            );
            None
        }
    }
}

pub(super) fn protocols(
    at: &At<Vec<String>>,
    directive: &str,
    r: &mut Resolver,
) -> Vec<TlsVersion> {
    let mut out = Vec::new();
    let mut left_out = Vec::new();
    for word in &at.value {
        match word.as_str() {
            "TLSv1.2" => out.push(TlsVersion::Tls12),
            "TLSv1.3" => out.push(TlsVersion::Tls13),
            "SSLv2" | "SSLv3" | "TLSv1" | "TLSv1.1" => left_out.push(word.as_str()),
            other => r.error(
                &at.origin,
                format!("invalid value \"{other}\" in \"{directive}\" directive"),
            ),
        }
    }
    if !left_out.is_empty() {
        note(
            r,
            &at.origin,
            format!(
                "\"{directive}\": rustls does not implement {}; left out",
                left_out.join(", ")
            ),
        );
    }
    // One canonical order, so "TLSv1.3 TLSv1.2" and "TLSv1.2 TLSv1.3" are the same model.
    out.sort_by_key(|v| *v as u8);
    out.dedup();
    if out.is_empty() {
        r.error(
            &at.origin,
            format!("\"{directive}\" enables no protocol rustls implements (TLSv1.2, TLSv1.3)"),
        );
        out = vec![TlsVersion::Tls12, TlsVersion::Tls13];
    }
    out
}

fn session_cache(at: &At<Vec<String>>, r: &mut Resolver) -> SessionCache {
    let mut sessions: Option<usize> = None;
    // nginx uses a shared cache when one is named (builtin beside it is only a first
    // level); anx keeps the shared one.
    let mut shared: Option<usize> = None;
    for word in &at.value {
        match word.as_str() {
            "off" if at.value.len() == 1 => return SessionCache::Off,
            "none" if at.value.len() == 1 => return SessionCache::None,
            "builtin" => sessions = Some(sessions.unwrap_or(0).max(BUILTIN_SESSION_CACHE)),
            w => {
                let is_shared = w.starts_with("shared:");
                let parsed = if let Some(n) = w.strip_prefix("builtin:") {
                    n.parse::<usize>().ok().filter(|&n| n > 0)
                } else if let Some(rest) = w.strip_prefix("shared:") {
                    rest.rsplit_once(':')
                        .filter(|(name, _)| !name.is_empty())
                        .and_then(|(_, size)| crate::config::tree::size(size).ok())
                        .map(|bytes| (bytes / SESSION_CACHE_BYTES_PER_SESSION).max(1) as usize)
                } else {
                    None
                };
                match parsed {
                    Some(n) if is_shared => shared = Some(shared.unwrap_or(0).max(n)),
                    Some(n) => sessions = Some(sessions.unwrap_or(0).max(n)),
                    None => {
                        r.error(&at.origin, format!("invalid session cache \"{w}\""));
                        return SessionCache::None;
                    }
                }
            }
        }
    }
    match (shared, sessions) {
        (Some(sessions), _) => SessionCache::Shared { sessions },
        (None, Some(sessions)) => SessionCache::PerShard { sessions },
        (None, None) => SessionCache::None,
    }
}
