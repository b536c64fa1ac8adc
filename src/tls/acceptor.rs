//! From a configuration generation to the rustls objects the connection side accepts with.
//!
//! [`TlsListeners::build`] runs once per generation on the control thread: for every
//! address with `listen … ssl` it makes a [`TlsListener`] holding
//! - one SNI certificate resolver ([`SniResolver`]): the server block is chosen from the
//!   client's SNI by nginx's `server_name` rules (`route::find_server`, no SNI → the
//!   address's default server), then among that server's certificates (RSA, ECDSA,
//!   Ed25519) the first whose key can sign with a scheme the client offers. Each
//!   certificate sits in an `ocsp::StapleSlot`, so the OCSP fetcher (`runtime::ocsp`) can
//!   swap in a new staple that every shard's next handshake sees, without a lock;
//! - one `Arc<rustls::ServerConfig>` per *settings group*: servers on the address whose
//!   `ssl_*` settings (certificates aside) are equal share one. Each carries the resolver,
//!   ALPN `http/1.1` only (h2 is not served yet, so it is not advertised), the protocols,
//!   suites and groups of the settings (through a `CryptoProvider` cut down to them),
//!   client verification, and the session ticketer.
//!
//! Which `ServerConfig` a handshake uses: nginx takes protocols and ciphers from the
//! address's default server and switches only certificate and client verification on SNI.
//! anx can do better with rustls's lazy acceptor: the connection side reads the
//! ClientHello and calls [`TlsListener::config_for_hello`], which returns the group of the
//! server the SNI selects, so every `ssl_*` setting of that server applies, client
//! verification included. [`TlsListener::server_config`] (the default server's group) is
//! for an acceptor that cannot look at the hello first. A request whose Host selects a
//! different server than the handshake did is checked by [`host_allowed`] (→ 421).
//!
//! Sessions: tickets are sealed with keys every shard derives the same way
//! ([`super::ticket`]), so a client resumes on whichever shard its next connection lands.
//! Session-ID resumption (TLS 1.2 without tickets, `ssl_session_cache`) uses a cache per
//! shard: [`TlsListeners::for_shard`] gives each shard its own `ServerConfig` copies with
//! their own cache and ticketer handle, so no handshake takes a lock another shard takes.
//! With `ssl_session_tickets off` and no cache, TLS 1.3 sends no tickets at all.

use crate::config::model::SockAddr;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{
    ClientHello, NoServerSessionStorage, ResolvesServerCert, ServerSessionMemoryCache,
    WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;
use rustls::{DistinguishedName, RootCertStore, ServerConfig};

use super::info::{ClientVerify, TlsInfo};
use super::ocsp::{self, StapleSlot, Target};
use super::ticket::TicketSecret;
use crate::config::model::{Config, SessionCache, TlsSettings, TlsVersion, VerifyClient};
use crate::route::{find_server, servers_for_listener, ListenerServers};

/// ALPN protocols anx serves (`h2` joins when HTTP/2 exists).
pub const ALPN: &[&[u8]] = &[b"http/1.1"];

/// Tickets sent after a TLS 1.3 handshake (rustls's default; two let a client open two
/// connections with resumption).
const TLS13_TICKETS: usize = 2;

/// Every TLS listener of one configuration generation. `Send + Sync`: built once, then
/// each shard takes [`TlsListeners::for_shard`].
#[derive(Debug, Clone)]
pub struct TlsListeners {
    listeners: Vec<(SockAddr, Arc<TlsListener>)>,
    /// The ticket secrets of this generation, handed to the next one so that a reload keeps
    /// every session ticket issued before it valid.
    secrets: Vec<(SecretKey, Arc<TicketSecret>)>,
    /// Certificates whose OCSP response is fetched (`ssl_stapling on` without a file).
    stapling: Vec<Target>,
}

/// One TLS address: its servers, their certificates and their `ServerConfig`s.
#[derive(Debug)]
pub struct TlsListener {
    addr: SockAddr,
    config: Arc<Config>,
    servers: ListenerServers,
    /// Group of each server on the address: (server index, group index).
    group_of: Vec<(usize, usize)>,
    groups: Vec<Group>,
    resolver: Arc<SniResolver>,
}

#[derive(Debug)]
struct Group {
    settings: TlsSettings,
    server_config: Arc<ServerConfig>,
    secret: Option<Arc<TicketSecret>>,
    /// The CA check `optional_no_ca` skips in the handshake, run for `$ssl_client_verify`.
    strict: Option<Arc<dyn ClientCertVerifier>>,
    /// `ssl_session_cache shared:…`: the one cache every shard's copy uses.
    shared_cache: Option<Arc<dyn rustls::server::StoresServerSessions>>,
}

/// Picks the certificate for a ClientHello (see the module docs).
#[derive(Debug)]
pub struct SniResolver {
    config: Arc<Config>,
    servers: ListenerServers,
    /// Certificates of each server on the address, in configuration order; a slot holds
    /// the certificate with its current OCSP staple.
    keys: Vec<(usize, Vec<Arc<StapleSlot>>)>,
}

impl SniResolver {
    /// The server a handshake with this SNI belongs to (index into `Config::servers`).
    fn server(&self, sni: Option<&str>) -> usize {
        find_server(&self.config, &self.servers, sni.map(str::as_bytes)).0
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let server = self.server(hello.server_name());
        let own = |server: usize| {
            self.keys
                .iter()
                .find(|(s, k)| *s == server && !k.is_empty())
        };
        // A server without certificates of its own answers with the default server's
        // (nginx keeps the default server's context then).
        let (_, keys) = own(server).or_else(|| own(self.servers.default))?;
        let offered = hello.signature_schemes();
        keys.iter()
            .map(|slot| slot.current())
            .find(|k| k.key.choose_scheme(offered).is_some())
            .map(arc_swap::Guard::into_inner)
    }
}

impl TlsListeners {
    /// Builds every TLS listener of `config` (one per address with `listen … ssl`). Fails
    /// only on what `resolve` could not check (rustls refusing a combination of settings).
    pub fn build(config: &Arc<Config>) -> Result<TlsListeners, String> {
        Self::build_after(config, None)
    }

    /// [`TlsListeners::build`] for a reload: ticket secrets the `previous` generation made
    /// (random rotating keys, or the same key files) are reused, so clients resume across
    /// the reload (nginx's new workers would make new random keys and lose them).
    pub fn build_after(
        config: &Arc<Config>,
        previous: Option<&TlsListeners>,
    ) -> Result<TlsListeners, String> {
        let mut secrets: Vec<(SecretKey, Arc<TicketSecret>)> =
            previous.map(|p| p.secrets.clone()).unwrap_or_default();
        let mut listeners = Vec::new();
        let mut stapling = Vec::new();
        for l in config.listen_addrs().into_iter().filter(|l| l.ssl) {
            let listener = build_listener(config, &l.addr, &mut secrets, &mut stapling)?;
            listeners.push((l.addr, Arc::new(listener)));
        }
        // Only what this generation uses is handed on (the previous generation still holds
        // every secret it had, so reference counts cannot tell).
        let used = |s: &Arc<TicketSecret>| {
            listeners
                .iter()
                .any(|(_, l): &(SockAddr, Arc<TlsListener>)| {
                    l.groups
                        .iter()
                        .any(|g| g.secret.as_ref().is_some_and(|own| Arc::ptr_eq(own, s)))
                })
        };
        secrets.retain(|(_, s)| used(s));
        Ok(TlsListeners {
            listeners,
            secrets,
            stapling: ocsp::slot::merge(stapling),
        })
    }

    /// What the OCSP fetcher (`runtime::ocsp`) works on for this generation: one target
    /// per certificate that staples a fetched response. Its slots are weak, so the fetcher
    /// ends when the generation is dropped.
    pub fn stapling_targets(&self) -> Vec<Target> {
        self.stapling.clone()
    }

    /// The listener of a bound address, `None` for a plain one.
    pub fn get(&self, addr: &SockAddr) -> Option<&Arc<TlsListener>> {
        self.listeners
            .iter()
            .find(|(a, _)| a == addr)
            .map(|(_, l)| l)
    }

    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
    }

    /// Copies for one shard: the same certificates, resolver and ticket keys, with a
    /// session cache and ticketer handle of the shard's own.
    pub fn for_shard(&self) -> TlsListeners {
        let listeners = self
            .listeners
            .iter()
            .map(|(addr, l)| (addr.clone(), Arc::new(l.for_shard())))
            .collect();
        TlsListeners {
            listeners,
            secrets: self.secrets.clone(),
            stapling: Vec::new(),
        }
    }
}

/// What distinguishes one ticket secret from another within a generation.
#[derive(Debug, Clone, PartialEq)]
enum SecretKey {
    Files(Vec<crate::config::model::TicketKeyFile>),
    Rotating(std::time::Duration),
}

fn build_listener(
    config: &Arc<Config>,
    addr: &SockAddr,
    secrets: &mut Vec<(SecretKey, Arc<TicketSecret>)>,
    stapling: &mut Vec<Target>,
) -> Result<TlsListener, String> {
    let servers = servers_for_listener(config, addr);
    let provider = super::provider();
    let mut keys = Vec::new();
    for &i in &servers.servers {
        let Some(tls) = &config.servers[i].tls else {
            continue;
        };
        let from_file = tls
            .stapling
            .then(|| tls.stapling_file.as_ref().map(|f| f.data.as_ref().clone()))
            .flatten();
        let fetch = tls.stapling && tls.stapling_file.is_none();
        let mut certified = Vec::new();
        for c in &tls.certificates {
            let mut key = super::certkey::certified_key(
                c.chain.data.as_ref().clone(),
                &c.key.data,
                &provider,
            )
            .map_err(|e| format!("{}: {e:?}", c.key.path.display()))?;
            key.ocsp = from_file.clone();
            let slot = StapleSlot::new(key);
            if fetch {
                // What cannot staple was reported at load time; it serves without.
                if let Some(target) = stapling_target(c, tls, &slot) {
                    stapling.push(target);
                }
            }
            certified.push(slot);
        }
        keys.push((i, certified));
    }
    let resolver = Arc::new(SniResolver {
        config: Arc::clone(config),
        servers: servers.clone(),
        keys,
    });

    let mut groups: Vec<Group> = Vec::new();
    let mut group_of = Vec::new();
    // The default server first: servers without certificates share its group.
    let order = std::iter::once(servers.default).chain(
        servers
            .servers
            .iter()
            .copied()
            .filter(|&i| i != servers.default),
    );
    for i in order {
        let Some(tls) = &config.servers[i].tls else {
            continue;
        };
        if tls.certificates.is_empty() {
            if let Some(&(_, g)) = group_of.iter().find(|(s, _)| *s == servers.default) {
                group_of.push((i, g));
                continue;
            }
        }
        let settings = TlsSettings {
            certificates: Vec::new(),
            ..tls.clone()
        };
        let g = match groups.iter().position(|g| g.settings == settings) {
            Some(g) => g,
            None => {
                groups.push(build_group(settings, &resolver, secrets)?);
                groups.len() - 1
            }
        };
        group_of.push((i, g));
    }
    if groups.is_empty() {
        return Err(format!("{addr}: no server with TLS settings listens here"));
    }
    Ok(TlsListener {
        addr: addr.clone(),
        config: Arc::clone(config),
        servers,
        group_of,
        groups,
        resolver,
    })
}

fn build_group(
    settings: TlsSettings,
    resolver: &Arc<SniResolver>,
    secrets: &mut Vec<(SecretKey, Arc<TicketSecret>)>,
) -> Result<Group, String> {
    let all = super::full_provider();
    let provider = CryptoProvider {
        cipher_suites: settings
            .ciphers
            .iter()
            .filter_map(|c| all.cipher_suites.iter().find(|s| s.suite() == *c).copied())
            .collect(),
        kx_groups: settings
            .ecdh_curve
            .iter()
            .filter_map(|g| all.kx_groups.iter().find(|k| k.name() == *g).copied())
            .collect(),
        ..super::provider()
    };
    let provider = Arc::new(provider);
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = settings
        .protocols
        .iter()
        .map(|v| match v {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        })
        .collect();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("ssl_protocols/ssl_ciphers/ssl_ecdh_curve: {e}"))?;
    let (verifier, strict) = client_verifier(&settings, &provider)?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut sc = builder.with_cert_resolver(Arc::clone(resolver) as Arc<dyn ResolvesServerCert>);
    sc.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    sc.ignore_client_order = settings.prefer_server_ciphers;
    let secret = if settings.session_tickets {
        let key = if settings.session_ticket_keys.is_empty() {
            SecretKey::Rotating(settings.session_timeout)
        } else {
            SecretKey::Files(settings.session_ticket_keys.clone())
        };
        let secret = match secrets.iter().find(|(k, _)| *k == key) {
            Some((_, s)) => Arc::clone(s),
            None => {
                let made = match &key {
                    SecretKey::Rotating(period) => TicketSecret::rotating(*period),
                    SecretKey::Files(files) => {
                        let bytes: Vec<&[u8]> = files.iter().map(|f| f.data.as_slice()).collect();
                        TicketSecret::from_files(&bytes)
                    }
                }
                .ok_or("cannot make session ticket keys (no randomness?)")?;
                let made = Arc::new(made);
                secrets.push((key, Arc::clone(&made)));
                made
            }
        };
        Some(secret)
    } else {
        None
    };
    let shared_cache = match settings.session_cache {
        SessionCache::Shared { sessions } => Some(ServerSessionMemoryCache::new(sessions)
            as Arc<dyn rustls::server::StoresServerSessions>),
        _ => None,
    };
    apply_sessions(&mut sc, &settings, secret.as_ref(), shared_cache.as_ref());
    Ok(Group {
        settings,
        server_config: Arc::new(sc),
        secret,
        strict,
        shared_cache,
    })
}

/// The fetch target of one certificate of a server with `ssl_stapling on` and no file.
fn stapling_target(
    c: &crate::config::model::CertificateKey,
    tls: &TlsSettings,
    slot: &Arc<StapleSlot>,
) -> Option<Target> {
    let trusted = tls
        .trusted_certificate
        .as_ref()
        .map_or(&[][..], |t| t.data.as_slice());
    let plan = ocsp::plan(
        &c.chain.data,
        tls.stapling_responder.as_deref(),
        trusted,
        tls.stapling_verify,
    )
    .ok()?;
    Some(Target {
        certificate: c.chain.path.clone(),
        plan,
        slots: vec![Arc::downgrade(slot)],
    })
}

/// Session cache and ticketer, fresh for each shard (see the module docs).
fn apply_sessions(
    sc: &mut ServerConfig,
    settings: &TlsSettings,
    secret: Option<&Arc<TicketSecret>>,
    shared: Option<&Arc<dyn rustls::server::StoresServerSessions>>,
) {
    sc.session_storage = match (settings.session_cache, shared) {
        (SessionCache::Off | SessionCache::None, _) => Arc::new(NoServerSessionStorage {}),
        (SessionCache::PerShard { sessions }, _) => ServerSessionMemoryCache::new(sessions),
        (SessionCache::Shared { .. }, Some(cache)) => Arc::clone(cache),
        (SessionCache::Shared { sessions }, None) => ServerSessionMemoryCache::new(sessions),
    };
    match secret {
        Some(secret) => {
            sc.ticketer = secret.ticketer();
            sc.send_tls13_tickets = TLS13_TICKETS;
        }
        None => {
            sc.ticketer = Arc::new(NoTickets);
            // Without tickets TLS 1.3 resumes from the cache only; with no cache there is
            // nothing a ticket could name.
            sc.send_tls13_tickets = match settings.session_cache {
                SessionCache::PerShard { .. } | SessionCache::Shared { .. } => TLS13_TICKETS,
                _ => 0,
            };
        }
    }
}

/// `ssl_session_tickets off`.
#[derive(Debug)]
struct NoTickets;

impl rustls::server::ProducesTickets for NoTickets {
    fn enabled(&self) -> bool {
        false
    }
    fn lifetime(&self) -> u32 {
        0
    }
    fn encrypt(&self, _: &[u8]) -> Option<Vec<u8>> {
        None
    }
    fn decrypt(&self, _: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

type Verifiers = (
    Option<Arc<dyn ClientCertVerifier>>,
    Option<Arc<dyn ClientCertVerifier>>,
);

/// The handshake's client verifier, and for `optional_no_ca` the strict one
/// `$ssl_client_verify` is computed with.
fn client_verifier(
    settings: &TlsSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Verifiers, String> {
    if settings.verify_client == VerifyClient::Off {
        return Ok((None, None));
    }
    let mut roots = RootCertStore::empty();
    let mut hints: Vec<DistinguishedName> = Vec::new();
    if let Some(ca) = &settings.client_certificate {
        for cert in ca.data.iter() {
            roots
                .add(cert.clone())
                .map_err(|e| format!("{}: {e}", ca.path.display()))?;
        }
        // A CA listed twice is named once (as OpenSSL's CA list does).
        for name in roots.subjects() {
            if !hints.iter().any(|h| h.as_ref() == name.as_ref()) {
                hints.push(name);
            }
        }
    }
    if let Some(ca) = &settings.trusted_certificate {
        for cert in ca.data.iter() {
            roots
                .add(cert.clone())
                .map_err(|e| format!("{}: {e}", ca.path.display()))?;
        }
    }
    let strict = if roots.is_empty() {
        None
    } else {
        let build = |crls: bool| {
            let mut b = WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots.clone()),
                Arc::clone(provider),
            );
            if let Some(crl) = settings.crl.as_ref().filter(|_| crls) {
                b = b.with_crls(crl.data.iter().cloned());
            }
            // `ssl_client_certificate` names are sent as hints, `ssl_trusted_certificate`
            // ones are not (nginx's difference between the two).
            b = b
                .clear_root_hint_subjects()
                .add_root_hint_subjects(hints.clone());
            if settings.verify_client != VerifyClient::On {
                b = b.allow_unauthenticated();
            }
            b.build()
        };
        // A CRL webpki cannot read (version 1, as `openssl ca -gencrl` writes without
        // `crl_extensions`) moves every check to `chain`, which reads it as OpenSSL does.
        let (webpki, own_only) = match build(true) {
            Ok(v) => (v, false),
            Err(rustls::server::VerifierBuilderError::InvalidCrl(_)) => (
                build(false).map_err(|e| format!("client verification: {e}"))?,
                true,
            ),
            Err(e) => return Err(format!("client verification: {e}")),
        };
        let trusted = settings
            .client_certificate
            .iter()
            .chain(&settings.trusted_certificate)
            .flat_map(|f| f.data.iter().cloned())
            .collect();
        let crls = settings
            .crl
            .iter()
            .flat_map(|f| f.data.iter().map(|c| c.as_ref().to_vec()))
            .collect();
        Some(Arc::new(super::compat::ClientCompat {
            inner: webpki,
            own_only,
            roots: trusted,
            crls,
            depth: settings.verify_depth,
        }) as Arc<dyn ClientCertVerifier>)
    };
    // As nginx: the handshake takes any certificate the client proves it holds the key of
    // (or none), and the verdict goes to `$ssl_client_verify`; a request on a connection
    // whose certificate `on`/`optional` refuse gets 400 (`refuses_request`), so the client
    // learns why in HTTP rather than from a handshake alert.
    let handshake: Arc<dyn ClientCertVerifier> = Arc::new(AnyClientCert {
        hints,
        provider: Arc::clone(provider),
    });
    let strict = match (settings.verify_client, strict) {
        (_, Some(strict)) => Some(Arc::new(DepthLimited {
            inner: strict,
            depth: settings.verify_depth,
        }) as Arc<dyn ClientCertVerifier>),
        (VerifyClient::OptionalNoCa, None) => None,
        (_, None) => return Err("ssl_verify_client needs ssl_client_certificate".to_string()),
    };
    Ok((Some(handshake), strict))
}

/// A verification failure in OpenSSL's words (`$ssl_client_verify` is `FAILED:` and this).
fn openssl_reason(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::Other(other) => other.0.to_string(),
            C::Revoked => "certificate revoked".to_string(),
            C::UnknownIssuer => "unable to get local issuer certificate".to_string(),
            C::Expired | C::ExpiredContext { .. } => "certificate has expired".to_string(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "certificate is not yet valid".to_string()
            }
            C::UnknownRevocationStatus => "unable to get certificate CRL".to_string(),
            C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
                "CRL has expired".to_string()
            }
            C::BadSignature => "certificate signature failure".to_string(),
            other => format!("{other:?}"),
        },
        other => other.to_string(),
    }
}

/// `ssl_verify_depth`: the chain a client presents may hold at most `depth` certificates
/// after its own (nginx counts the same way, the trusted CA included, so a client that also
/// sends its root stays within depth 1).
#[derive(Debug)]
struct DepthLimited {
    inner: Arc<dyn ClientCertVerifier>,
    depth: u32,
}

impl ClientCertVerifier for DepthLimited {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if intermediates.len() > self.depth as usize {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(TooDeep))),
            ));
        }
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
    }
    handshake_signatures!(inner);
}

#[derive(Debug)]
struct TooDeep;

impl std::fmt::Display for TooDeep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("certificate chain too long")
    }
}

impl std::error::Error for TooDeep {}

/// `optional_no_ca`: any certificate is taken (its signature over the handshake is still
/// checked, so the client holds its key); whether it chains to a CA is for
/// `$ssl_client_verify` to say.
#[derive(Debug)]
struct AnyClientCert {
    hints: Vec<DistinguishedName>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }
    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    handshake_signatures!(provider);
}

impl TlsListener {
    /// The configuration generation this listener was built from (for tests).
    #[cfg(test)]
    pub fn config_for_test(&self) -> &Config {
        &self.config
    }

    /// The address this listener serves.
    pub fn addr(&self) -> &SockAddr {
        &self.addr
    }

    fn group_index(&self, server: usize) -> usize {
        self.group_of
            .iter()
            .find(|(s, _)| *s == server)
            .map_or(0, |(_, g)| *g)
    }

    /// The server (index into `Config::servers`) a handshake with this SNI selects.
    pub fn server_for_sni(&self, sni: Option<&str>) -> usize {
        self.resolver.server(sni)
    }

    /// Whether some server on this address has `ssl_reject_handshake on` (then the
    /// connection side reads the SNI before the handshake starts).
    pub fn rejects_any(&self) -> bool {
        self.servers.servers.iter().any(|&i| self.rejects_server(i))
    }

    /// Whether a handshake with this SNI selects a server with `ssl_reject_handshake on`.
    pub fn rejects(&self, sni: Option<&str>) -> bool {
        self.rejects_server(self.server_for_sni(sni))
    }

    fn rejects_server(&self, server: usize) -> bool {
        self.config
            .servers
            .get(server)
            .and_then(|s| s.tls.as_ref())
            .is_some_and(|t| t.reject_handshake)
    }

    /// The `ServerConfig` of the address's default server (for accepting without looking
    /// at the ClientHello first; certificates still follow SNI).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let g = self.group_index(self.servers.default);
        Arc::clone(&self.groups[g].server_config)
    }

    /// The `ServerConfig` of the server the ClientHello's SNI selects (for
    /// `rustls::server::Acceptor` / futures-rustls's `LazyConfigAcceptor`).
    pub fn config_for_hello(&self, hello: &ClientHello<'_>) -> Arc<ServerConfig> {
        self.config_for_sni(hello.server_name())
    }

    /// [`Self::config_for_hello`] by the SNI alone.
    pub fn config_for_sni(&self, sni: Option<&str>) -> Arc<ServerConfig> {
        let g = self.group_index(self.server_for_sni(sni));
        Arc::clone(&self.groups[g].server_config)
    }

    /// The 421 rule; see [`host_allowed`].
    pub fn host_allowed(&self, sni: Option<&str>, host: Option<&[u8]>) -> bool {
        let by_sni = self.server_for_sni(sni);
        let by_host = find_server(&self.config, &self.servers, host).0;
        if by_sni == by_host {
            return true;
        }
        // Client verification must be the same, or a certificate checked (or not asked
        // for) by one server would admit a request to the other.
        if self.group_index(by_sni) != self.group_index(by_host) {
            return false;
        }
        if sni.is_none() {
            // No SNI: the client took the default server's certificate for whatever it
            // wanted; nginx serves the Host's server then, and so does anx.
            return true;
        }
        let certs = |i: usize| self.config.servers[i].tls.as_ref().map(|t| &t.certificates);
        certs(by_sni) == certs(by_host)
    }

    /// [`TlsInfo::from_connection`], with `$ssl_client_verify` computed against the CAs
    /// for a server with `ssl_verify_client optional_no_ca`.
    pub fn info(&self, conn: &rustls::ServerConnection) -> TlsInfo {
        let mut info = TlsInfo::from_connection(conn);
        let group = &self.groups[self.group_index(self.server_for_sni(conn.server_name()))];
        if group.settings.verify_client == VerifyClient::Off {
            info.client_verify = ClientVerify::None;
            info.client_cert = None;
            info.client_s_dn = None;
            info.client_fingerprint = None;
            return info;
        }
        let Some(certs) = conn.peer_certificates() else {
            return info;
        };
        let Some((leaf, intermediates)) = certs.split_first() else {
            return info;
        };
        info.client_verify = match &group.strict {
            None => ClientVerify::Failed("unable to get local issuer certificate".to_string()),
            Some(strict) => match strict.verify_client_cert(leaf, intermediates, UnixTime::now()) {
                Ok(_) => ClientVerify::Success,
                Err(e) => ClientVerify::Failed(openssl_reason(&e)),
            },
        };
        info
    }

    /// The OCSP check `ssl_ocsp` asks for on a handshake whose client certificate
    /// verified (`info` says SUCCESS); `None` when the server has none or there is nothing
    /// to check.
    pub fn client_ocsp(
        &self,
        conn: &rustls::ServerConnection,
        info: &TlsInfo,
    ) -> Option<ocsp::client::ClientCheck> {
        if info.client_verify != ClientVerify::Success {
            return None;
        }
        let group = &self.groups[self.group_index(self.server_for_sni(conn.server_name()))];
        let settings = group.settings.client_ocsp.clone()?;
        let (leaf, intermediates) = conn.peer_certificates()?.split_first()?;
        let store: Vec<CertificateDer<'static>> = [
            &group.settings.client_certificate,
            &group.settings.trusted_certificate,
        ]
        .into_iter()
        .flatten()
        .flat_map(|f| f.data.iter().cloned())
        .collect();
        let chain = super::chain::path(leaf, intermediates, &store, group.settings.verify_depth)
            .ok()?
            .into_iter()
            .map(|c| CertificateDer::from(c.to_vec()))
            .collect();
        Some(ocsp::client::ClientCheck {
            chain,
            store,
            settings,
        })
    }

    fn for_shard(&self) -> TlsListener {
        let groups = self
            .groups
            .iter()
            .map(|g| {
                let mut sc = ServerConfig::clone(&g.server_config);
                apply_sessions(
                    &mut sc,
                    &g.settings,
                    g.secret.as_ref(),
                    g.shared_cache.as_ref(),
                );
                Group {
                    settings: g.settings.clone(),
                    server_config: Arc::new(sc),
                    secret: g.secret.clone(),
                    strict: g.strict.clone(),
                    shared_cache: g.shared_cache.clone(),
                }
            })
            .collect();
        TlsListener {
            addr: self.addr.clone(),
            config: Arc::clone(&self.config),
            servers: self.servers.clone(),
            group_of: self.group_of.clone(),
            groups,
            resolver: Arc::clone(&self.resolver),
        }
    }
}

/// The 421 rule: may a request with this `Host` be served on a connection whose handshake
/// sent `sni`? Yes when both select the same server; otherwise only when the two servers
/// have the same client verification settings and (with SNI) the same certificates, so a
/// client certificate check, or the certificate the client verified, cannot be bypassed by
/// naming another server in Host (or by a session resumed for another name).
/// `pipeline::select_server` refuses with 421 Misdirected Request when this is false.
pub fn host_allowed(listener: &TlsListener, sni: Option<&str>, host: Option<&[u8]>) -> bool {
    listener.host_allowed(sni, host)
}
