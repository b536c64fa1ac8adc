//! The resolved model of HTTPS serving: a server's certificates and its `ssl_*` settings
//! (nginx's ngx_http_ssl_module).
//!
//! `config::resolve` fills these, reading every certificate, key, CA bundle, CRL, OCSP
//! response and ticket key file at load time, so a bad file is a configuration error and a
//! shard never touches the disk for TLS. `tls::acceptor` turns them into one
//! `rustls::ServerConfig` per listener and settings group when a configuration generation
//! starts; nothing here is read per request.
//!
//! Loaded file contents sit behind an `Arc` ([`Loaded`]) so the model stays cheap to clone.
//! Equality compares the path *and* the bytes, so a reload notices a renewed certificate,
//! while `Debug` prints only the path and the size: `Config::first_difference` can name
//! which file differs without dumping a private key into a test log.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
pub use rustls::{CipherSuite, NamedGroup};

/// A file read at load time: where it came from and what it held.
pub struct Loaded<T> {
    /// The path, relative ones already joined to the prefix.
    pub path: PathBuf,
    pub data: Arc<T>,
}

// By hand: a private key is not `Clone`, but the `Arc` around it is.
impl<T> Clone for Loaded<T> {
    fn clone(&self) -> Self {
        Loaded {
            path: self.path.clone(),
            data: Arc::clone(&self.data),
        }
    }
}

impl<T> Loaded<T> {
    pub fn new(path: PathBuf, data: T) -> Loaded<T> {
        Loaded {
            path,
            data: Arc::new(data),
        }
    }
}

/// What a [`Loaded`] file compares and prints by.
pub trait FileBytes {
    /// Every byte that matters for equality (DER of each item, concatenated with lengths).
    fn bytes(&self) -> Vec<u8>;
}

impl FileBytes for Vec<CertificateDer<'static>> {
    fn bytes(&self) -> Vec<u8> {
        concat(self.iter().map(|c| c.as_ref()))
    }
}

impl FileBytes for Vec<CertificateRevocationListDer<'static>> {
    fn bytes(&self) -> Vec<u8> {
        concat(self.iter().map(|c| c.as_ref()))
    }
}

impl FileBytes for PrivateKeyDer<'static> {
    fn bytes(&self) -> Vec<u8> {
        self.secret_der().to_vec()
    }
}

impl FileBytes for Vec<u8> {
    fn bytes(&self) -> Vec<u8> {
        self.clone()
    }
}

fn concat<'a>(items: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        out.extend_from_slice(&(item.len() as u64).to_be_bytes());
        out.extend_from_slice(item);
    }
    out
}

impl<T: FileBytes> PartialEq for Loaded<T> {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
            && (Arc::ptr_eq(&self.data, &other.data) || self.data.bytes() == other.data.bytes())
    }
}

impl<T: FileBytes> Eq for Loaded<T> {}

impl<T: FileBytes> fmt::Debug for Loaded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the bytes: a key file must not end up in a log or a test failure.
        write!(
            f,
            "{} ({} bytes)",
            self.path.display(),
            self.data.bytes().len()
        )
    }
}

/// One `ssl_certificate` / `ssl_certificate_key` pair: a chain (leaf first) and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateKey {
    pub chain: Loaded<Vec<CertificateDer<'static>>>,
    pub key: Loaded<PrivateKeyDer<'static>>,
}

/// `ssl_protocols`: the versions rustls speaks. nginx's older names (SSLv3, TLSv1,
/// TLSv1.1) are accepted with a note and left out: rustls does not implement them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

impl TlsVersion {
    /// nginx's name (`TLSv1.2`).
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }
}

/// `ssl_verify_client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VerifyClient {
    /// No certificate is asked for (the default).
    #[default]
    Off,
    /// A certificate signed by `ssl_client_certificate` is required (the handshake fails
    /// without one).
    On,
    /// A certificate is asked for; without one the request goes on (`$ssl_client_verify`
    /// is `NONE`), with a bad one the handshake fails.
    Optional,
    /// A certificate is asked for but not checked against the CAs; `$ssl_client_verify`
    /// says whether it would have verified.
    OptionalNoCa,
}

impl VerifyClient {
    pub fn name(self) -> &'static str {
        match self {
            VerifyClient::Off => "off",
            VerifyClient::On => "on",
            VerifyClient::Optional => "optional",
            VerifyClient::OptionalNoCa => "optional_no_ca",
        }
    }
}

/// `ssl_session_cache`: where TLS 1.2 session IDs (and TLS 1.3 sessions when tickets are
/// off) are kept. anx keeps them per shard, so only a client that returns to the same shard
/// resumes by session ID; tickets ([`TlsSettings::session_tickets`]) resume on any shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionCache {
    /// `off`: no cache, and clients are told so.
    Off,
    /// `none` (nginx's default): no cache.
    None,
    /// `builtin[:N]`: a cache of this many sessions per shard (nginx's builtin cache is
    /// per worker too).
    PerShard { sessions: usize },
    /// `shared:name:size`: one cache of this many sessions every shard uses (its size
    /// converted at nginx's rate of about 4000 sessions per megabyte), so a client resumes
    /// by session ID on whichever shard its next connection lands, as with nginx's shared
    /// zone. One per settings group of a listener.
    Shared { sessions: usize },
}

/// Sessions per byte of `shared:name:size` (nginx: "one megabyte can store about 4000
/// sessions").
pub const SESSION_CACHE_BYTES_PER_SESSION: u64 = 256;

/// nginx's `builtin` cache default size (20480 sessions).
pub const BUILTIN_SESSION_CACHE: usize = 20480;

/// An `ssl_session_ticket_key` file: nginx's 48- or 80-byte format. anx derives its own
/// AEAD key from the whole file and names tickets by its first 16 bytes, so anx servers
/// sharing the files resume each other's sessions (nginx's ticket format is not used).
pub type TicketKeyFile = Loaded<Vec<u8>>;

/// The `ssl_*` settings of one server, inherited http → server as nginx does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// `ssl_certificate` + `ssl_certificate_key`, in order; several (RSA, ECDSA, Ed25519)
    /// are chosen among by what the client's handshake offers.
    pub certificates: Vec<CertificateKey>,
    /// `ssl_protocols` (default TLSv1.2 TLSv1.3).
    pub protocols: Vec<TlsVersion>,
    /// `ssl_ciphers` resolved to rustls suites, in preference order: TLS 1.3 suites first,
    /// then TLS 1.2 ones. nginx's default `HIGH:!aNULL:!MD5` means rustls's defaults.
    pub ciphers: Vec<CipherSuite>,
    /// `ssl_prefer_server_ciphers` (default off: the client's order wins, as nginx).
    pub prefer_server_ciphers: bool,
    /// `ssl_ecdh_curve` resolved to key-exchange groups in preference order (`auto` = the
    /// crypto provider's defaults, the hybrid post-quantum X25519MLKEM768 first).
    pub ecdh_curve: Vec<NamedGroup>,
    /// `ssl_session_tickets` (default on).
    pub session_tickets: bool,
    /// `ssl_session_ticket_key` files: the first encrypts new tickets, every one decrypts.
    /// Empty: keys are random per configuration generation and rotate every
    /// `session_timeout` (the previous key still decrypts).
    pub session_ticket_keys: Vec<TicketKeyFile>,
    /// `ssl_session_timeout` (default 5m): how long a session may be resumed.
    pub session_timeout: Duration,
    /// `ssl_session_cache` (default `none`).
    pub session_cache: SessionCache,
    /// `ssl_client_certificate`: the CAs client certificates must chain to (and, as in
    /// nginx, whose names are sent to the client).
    pub client_certificate: Option<Loaded<Vec<CertificateDer<'static>>>>,
    /// `ssl_trusted_certificate`: more CAs for client verification, not sent to the client.
    pub trusted_certificate: Option<Loaded<Vec<CertificateDer<'static>>>>,
    /// `ssl_verify_client`.
    pub verify_client: VerifyClient,
    /// `ssl_verify_depth` (default 1): how many intermediates a client chain may have
    /// beyond the client certificate and before the trusted CA.
    pub verify_depth: u32,
    /// `ssl_crl`: revocation lists checked for client certificates.
    pub crl: Option<Loaded<Vec<CertificateRevocationListDer<'static>>>>,
    /// `ssl_stapling` (default off): staple an OCSP response to each certificate, from
    /// `stapling_file` or else fetched from the responder in the background.
    pub stapling: bool,
    /// `ssl_stapling_file`: a DER OCSP response stapled to every certificate of the server
    /// (used when `stapling` is on, as in nginx; nothing is fetched then).
    pub stapling_file: Option<Loaded<Vec<u8>>>,
    /// `ssl_stapling_responder`: an `http://` URL that replaces the responder named in the
    /// certificates' Authority Information Access (checked at load time).
    pub stapling_responder: Option<String>,
    /// `ssl_stapling_verify` (default off): a fetched response must be signed by the
    /// issuer, its delegated responder or an `ssl_trusted_certificate`.
    pub stapling_verify: bool,
    /// `ssl_ocsp`, `ssl_ocsp_responder`, `ssl_ocsp_cache`: the OCSP check of client
    /// certificates after the handshake (`None` with `ssl_ocsp off`, the default).
    pub client_ocsp: Option<ClientOcsp>,
    /// `ssl_password_file`: where the pass phrases of encrypted keys came from (the keys
    /// above are already decrypted; the path is kept for `anx -T`).
    pub password_file: Option<PathBuf>,
    /// `ssl_reject_handshake` (default off): handshakes that select this server are
    /// refused with an `unrecognized_name` alert, so a client naming no known server learns
    /// nothing, not even a certificate.
    pub reject_handshake: bool,
}

/// `ssl_ocsp on|leaf` and what goes with it (nginx 1.19.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOcsp {
    /// `leaf`: only the client certificate itself; `on`: every certificate of its chain
    /// below the trusted root.
    pub leaf_only: bool,
    /// `ssl_ocsp_responder`: replaces the URL in the certificates' Authority Information
    /// Access; its host is resolved at load time, as nginx does.
    pub responder: Option<OcspResponder>,
    /// `ssl_ocsp_cache shared:name:size`: answers kept per shard by certificate, until
    /// their nextUpdate (an hour when none).
    pub cache: Option<OcspCache>,
}

/// An `ssl_ocsp_responder`: the URL as written and the addresses its host resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspResponder {
    pub url: String,
    pub addrs: Vec<std::net::SocketAddr>,
}

/// `ssl_ocsp_cache shared:name:size`: servers naming the same zone share the answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspCache {
    pub name: String,
    /// Answers kept per shard (the size over [`OCSP_CACHE_BYTES_PER_ENTRY`]).
    pub entries: usize,
}

/// Bytes per cached OCSP answer, to turn `ssl_ocsp_cache`'s size into a count.
pub const OCSP_CACHE_BYTES_PER_ENTRY: u64 = 256;

/// nginx's default `ssl_session_timeout`.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(300);

/// nginx's default `ssl_verify_depth`.
pub const DEFAULT_VERIFY_DEPTH: u32 = 1;
