//! The resolved model of the reverse proxy: `upstream {}` groups and a location's
//! `proxy_*` settings (nginx's ngx_http_upstream and ngx_http_proxy modules).
//!
//! Both front-ends fill these through `config::resolve`; the proxy handler
//! (`handlers::proxy`) reads a location's [`Proxy`] to build the upstream request, and the
//! shard's upstream layer (`upstream/`) reads [`Upstream`] to choose, pool and probe peers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::tls::{CertificateKey, Loaded, TlsVersion};
use super::{Pattern, Template};
use rustls::pki_types::CertificateDer;

/// One `upstream name {}` block (or the implicit group of a `proxy_pass http://host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The block's name; for an implicit group, the `host:port` as written in proxy_pass.
    pub name: String,
    /// Peers in configuration order (a server name resolving to several addresses gives one
    /// peer per address, as nginx does). Backup peers are in here too, flagged.
    pub peers: Vec<Peer>,
    pub balance: Balance,
    /// `keepalive N`: idle connections each shard keeps per upstream (0 = close after each
    /// request). nginx counts per worker; anx per shard, the same thing.
    pub keepalive: usize,
    /// `keepalive_timeout` (upstream context): an idle pooled connection is closed after this.
    /// Default 60s.
    pub keepalive_timeout: Duration,
    /// `keepalive_requests` (upstream context): requests on one upstream connection before it
    /// is closed. Default 1000.
    pub keepalive_requests: u64,
    /// `keepalive_time` (upstream context): an upstream connection older than this is not
    /// kept for reuse after its current request. Default 1h.
    pub keepalive_time: Duration,
    /// anx's active health check (`health_check` in nginx Plus; `anx_health_check` here).
    pub health_check: Option<HealthCheck>,
    /// True for the group a `proxy_pass http://host:port` creates itself.
    pub implicit: bool,
}

/// Default upstream `keepalive_timeout`.
pub const UPSTREAM_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default upstream `keepalive_requests`.
pub const UPSTREAM_KEEPALIVE_REQUESTS: u64 = 1000;
/// Default upstream `keepalive_time`.
pub const UPSTREAM_KEEPALIVE_TIME: Duration = Duration::from_secs(3600);

/// One `server addr [weight=] [max_fails=] [fail_timeout=] [backup] [down] [max_conns=]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub addr: PeerAddr,
    /// The server as written (`backend.local:8080`, `unix:/run/app.sock`): `$upstream_addr`
    /// prints the resolved address; the error log names both.
    pub name: String,
    /// `weight=` (default 1).
    pub weight: u32,
    /// `max_fails=` (default 1; 0 disables passive failure accounting).
    pub max_fails: u32,
    /// `fail_timeout=` (default 10s): the window in which `max_fails` count, and how long
    /// the peer is then skipped.
    pub fail_timeout: Duration,
    /// `backup`: used only when every non-backup peer is unavailable.
    pub backup: bool,
    /// `down`: never used.
    pub down: bool,
    /// `max_conns=` (0 = unlimited): active connections per shard to this peer.
    pub max_conns: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    Inet(SocketAddr),
    /// `unix:/path`.
    Unix(PathBuf),
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerAddr::Inet(a) => write!(f, "{a}"),
            PeerAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// The balancing policy of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Balance {
    /// Smooth weighted round-robin, as nginx (per shard).
    RoundRobin,
    /// `least_conn`: fewest active connections (as this shard counts them), weighted; ties
    /// by round-robin.
    LeastConn,
    /// `ip_hash`: the first three octets of an IPv4 client, the whole IPv6 address.
    IpHash,
    /// `hash key [consistent]` (consistent = ketama, 160 points per weight unit as nginx).
    Hash { key: Template, consistent: bool },
    /// `random [two [least_conn]]`: weighted random; `two` picks the better of two.
    Random { two: bool },
}

/// anx's active health check of a group (nginx OSS has none; nginx Plus calls it
/// `health_check`). One prober per process, whatever the shard count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// Time between two probes of one peer. Default 5s.
    pub interval: Duration,
    /// Request path of the probe (`GET path HTTP/1.0`). Default "/".
    pub uri: String,
    /// Host header of the probe; default the upstream's name.
    pub host: Option<String>,
    /// A probe that takes longer fails. Default 1s.
    pub timeout: Duration,
    /// Consecutive failed probes that mark a peer down. Default 1.
    pub fails: u32,
    /// Consecutive passed probes that mark a down peer up again. Default 1.
    pub passes: u32,
    /// Statuses that pass, as inclusive ranges. Default 200–399.
    pub status: Vec<(u16, u16)>,
    /// When set, the body must match this regex too.
    pub body: Option<Pattern>,
    /// `scheme=http|https` as written; `None` follows the group's `proxy_pass` (see
    /// [`HealthCheck::tls`]).
    pub scheme: Option<ProbeScheme>,
    /// Resolved: probes speak TLS with these settings, or plain HTTP when `None`. TLS when
    /// `scheme=https`, or without `scheme` when a location's `proxy_pass https://` names the
    /// group; the `proxy_ssl_*` settings are those of the first such location in the
    /// configuration (the defaults when none).
    pub tls: Option<ProbeTls>,
}

/// `anx_health_check scheme=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeScheme {
    Http,
    Https,
}

/// How a TLS probe connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTls {
    pub ssl: ProxySsl,
    /// The name verified (and sent in SNI with `proxy_ssl_server_name on`): a
    /// `proxy_ssl_name` without variables, else the check's `host=`, else the group's name
    /// without a port.
    pub name: String,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            interval: Duration::from_secs(5),
            uri: "/".to_string(),
            host: None,
            timeout: Duration::from_secs(1),
            fails: 1,
            passes: 1,
            status: vec![(200, 399)],
            body: None,
            scheme: None,
            tls: None,
        }
    }
}

/// A location's `proxy_pass` and every `proxy_*` setting in effect there (inherited
/// http → server → location already).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    pub pass: ProxyPass,
    pub settings: ProxySettings,
}

/// `proxy_pass URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyPass {
    /// A URL without variables: the group is known at load time.
    Fixed {
        /// Index into `Config::upstreams`.
        upstream: usize,
        /// `$proxy_host`: "host" or "host:port" as written (the port only when not 80).
        proxy_host: String,
        /// `$proxy_port`.
        proxy_port: u16,
        /// `proxy_pass https://…`: the connection to the peer is TLS, as the location's
        /// [`ProxySsl`] says.
        https: bool,
        /// The URI part of the URL (`proxy_pass http://b/app/;` → `/app/`); `None` when the
        /// URL has none, and the request URI is passed unchanged.
        uri: Option<Vec<u8>>,
    },
    /// A URL with variables, evaluated per request (`proxy_pass http://$backend$uri;`). The
    /// host must name an `upstream` group or be a literal address (anx has no `resolver`).
    /// When the URL has a URI part, it replaces the request URI entirely (nginx's rule).
    Dynamic(Template),
}

crate::config::settings::proxy_settings! {
    crate::config::settings::model_struct! {
        /// The `proxy_*` directives of one location.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct ProxySettings {
            /// `proxy_set_header` list in effect (a level with its own list replaces the parent's,
            /// as nginx). The defaults `Host $proxy_host` and `Connection close` are added by the
            /// handler unless named here; an empty value removes the field.
            pub set_headers: Vec<(String, Template)> = Vec::new(),
            /// `proxy_hide_header` names, lowercased (added to nginx's default hidden set).
            pub hide_headers: Vec<String> = Vec::new(),
            /// `proxy_pass_header` names, lowercased (removed from the default hidden set).
            pub pass_headers: Vec<String> = Vec::new(),
            /// `proxy_http_version 1.0|1.1`, as the minor version (default 0, as nginx).
            pub http_minor: u8 = 0,
            /// `proxy_method`.
            pub method: Option<Template> = None,
            pub redirect: ProxyRedirect = ProxyRedirect::Default,
            pub next_upstream: NextUpstream = NextUpstream::default(),
            /// The `proxy_ssl_*` settings, used when the proxy_pass URL is `https://`.
            pub ssl: ProxySsl = ProxySsl::default(),
            /// `resolver` (http, server, location; inherited): the name servers a `proxy_pass` with
            /// variables asks for a host that names no upstream group. `None`: such a request
            /// fails with 502 ("no resolver defined"), as nginx.
            pub resolver: Option<DnsResolver> = None,
            /// `proxy_cookie_domain` rules, tried in order on each Set-Cookie's Domain attribute
            /// (empty: `off`, the default).
            pub cookie_domains: Vec<CookieRewrite> = Vec::new(),
            /// `proxy_cookie_path` rules, on the Path attribute.
            pub cookie_paths: Vec<CookieRewrite> = Vec::new(),
            /// `proxy_cookie_flags` rules: the first whose cookie matches a Set-Cookie's name edits
            /// its Secure / HttpOnly / SameSite attributes.
            pub cookie_flags: Vec<CookieFlags> = Vec::new(),
            /// `proxy_set_body`: the upstream request's body instead of the client's (which is
            /// read and dropped).
            pub set_body: Option<Template> = None,
            /// `proxy_bind`: the local address of upstream connections (`None`: `off`, the kernel
            /// chooses).
            pub bind: Option<ProxyBind> = None,
            /// `proxy_ignore_headers`: upstream fields whose instructions are not followed.
            pub ignore_headers: IgnoreHeaders = IgnoreHeaders::default(),
        }
    }
}

/// `proxy_ignore_headers field ...`: the upstream fields that instruct nginx (and anx)
/// which are ignored. anx follows X-Accel-Redirect and X-Accel-Limit-Rate; the others steer
/// caching, buffering or the charset filter, which anx does not have, so ignoring them
/// changes nothing (as in nginx without those).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IgnoreHeaders(u16);

impl IgnoreHeaders {
    /// The names nginx accepts, in its order (compared in any case).
    pub const NAMES: [&'static str; 9] = [
        "X-Accel-Redirect",
        "X-Accel-Expires",
        "X-Accel-Limit-Rate",
        "X-Accel-Buffering",
        "X-Accel-Charset",
        "Expires",
        "Cache-Control",
        "Set-Cookie",
        "Vary",
    ];

    /// Adds `name`; false when nginx does not know it.
    pub fn add(&mut self, name: &str) -> bool {
        match Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
        {
            Some(i) => {
                self.0 |= 1 << i;
                true
            }
            None => false,
        }
    }

    /// Whether `name` (one of [`Self::NAMES`]) is ignored.
    pub fn ignores(self, name: &str) -> bool {
        Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }

    /// The names ignored, in [`Self::NAMES`] order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| n)
    }
}

/// `proxy_bind address [transparent]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyBind {
    /// "ip" or "ip:port" (IPv6 in brackets), possibly from variables; empty at run time
    /// means no bind.
    pub addr: Template,
    /// `transparent`: IP_TRANSPARENT, so the address need not be local (needs
    /// CAP_NET_ADMIN, and routing that brings the answers back).
    pub transparent: bool,
}

/// One `proxy_cookie_domain from to` / `proxy_cookie_path from to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieRewrite {
    pub from: CookieMatch,
    /// The replacement (for a domain, without a leading dot, as nginx stores it).
    pub to: Template,
}

/// What a cookie rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieMatch {
    /// A domain (without its leading dot; any case), a path prefix (exact case) or a cookie
    /// name (any case), with variables.
    Literal(Template),
    /// `~regex` (`~*` caseless for paths; domains and cookie names always caseless): the
    /// whole value is replaced, captures allowed.
    Regex(Pattern),
}

/// One `proxy_cookie_flags cookie flag ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieFlags {
    pub cookie: CookieMatch,
    /// `secure`, `nosecure`, `httponly`, `nohttponly`, `samesite=strict|lax|none`,
    /// `nosamesite`, possibly from variables (checked per request, as nginx).
    pub flags: Vec<Template>,
}

/// `resolver address ... [valid=time] [ipv4=on|off] [ipv6=on|off]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DnsResolver {
    /// The name servers, tried in turn (port 53 unless written).
    pub servers: Vec<SocketAddr>,
    /// `valid=`: how long an answer is cached, instead of its records' TTL.
    pub valid: Option<Duration>,
    /// `ipv4=` (default on): ask for A records.
    pub ipv4: bool,
    /// `ipv6=` (default on): ask for AAAA records.
    pub ipv6: bool,
}

/// Default `resolver_timeout`.
pub const DEFAULT_RESOLVER_TIMEOUT: Duration = Duration::from_secs(30);

/// The `proxy_ssl_*` directives of one location: how anx speaks TLS to an `https://`
/// upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySsl {
    /// `proxy_ssl_verify` (default off, as nginx: an upstream's certificate is not checked
    /// unless asked for).
    pub verify: bool,
    /// `proxy_ssl_trusted_certificate`: the CAs a verified upstream chains to. Required when
    /// `verify` is on (nginx has no default trust store either).
    pub trusted_certificate: Option<Loaded<Vec<CertificateDer<'static>>>>,
    /// `proxy_ssl_verify_depth` (default 1): intermediates allowed between the upstream's
    /// certificate and a trusted CA, plus one.
    pub verify_depth: u32,
    /// `proxy_ssl_server_name` (default off): send the name in SNI.
    pub server_name: bool,
    /// `proxy_ssl_name` (default `$proxy_host` without its port): the name verified and
    /// sent in SNI.
    pub name: Option<Template>,
    /// `proxy_ssl_certificate` / `proxy_ssl_certificate_key`: a client certificate shown to
    /// upstreams that ask for one.
    pub certificate: Option<CertificateKey>,
    /// `proxy_ssl_certificate` / `proxy_ssl_certificate_key` with variables (nginx 1.21.0):
    /// evaluated per request and loaded on first use (then `certificate` is `None`).
    pub certificate_vars: Option<CertificateVars>,
    /// `proxy_ssl_protocols` (default TLSv1.2 TLSv1.3).
    pub protocols: Vec<TlsVersion>,
    /// `proxy_ssl_session_reuse` (default on): resume TLS sessions with upstreams.
    pub session_reuse: bool,
    /// `proxy_ssl_password_file`: where the pass phrases of an encrypted
    /// `proxy_ssl_certificate_key` came from (the key above is decrypted; kept for `-T`).
    pub password_file: Option<std::path::PathBuf>,
    /// `proxy_ssl_crl`: revocation lists checked for verified upstream certificates.
    pub crl: Option<Loaded<Vec<rustls::pki_types::CertificateRevocationListDer<'static>>>>,
}

/// A client certificate whose paths have variables: which files a request names is only
/// known per request, so they are read then (and kept per shard, by path, by
/// `serve::upstreams`). An empty certificate path means no client certificate, as nginx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateVars {
    pub certificate: Template,
    pub key: Template,
    /// What relative paths are joined to (the configuration's directory, as for fixed ones).
    pub base_dir: PathBuf,
    /// `proxy_ssl_password_file`, read at load time as nginx does (its pass phrases are
    /// kept for keys loaded later).
    pub password_file: Option<Loaded<Vec<u8>>>,
}

/// Default `proxy_ssl_verify_depth`.
pub const DEFAULT_PROXY_SSL_VERIFY_DEPTH: u32 = 1;

impl Default for ProxySsl {
    fn default() -> Self {
        ProxySsl {
            verify: false,
            trusted_certificate: None,
            verify_depth: DEFAULT_PROXY_SSL_VERIFY_DEPTH,
            server_name: false,
            name: None,
            certificate: None,
            certificate_vars: None,
            protocols: vec![TlsVersion::Tls12, TlsVersion::Tls13],
            session_reuse: true,
            password_file: None,
            crl: None,
        }
    }
}

/// Default `proxy_buffer_size`: 4 KiB in nginx; anx allows response heads up to 8 KiB by
/// default since it parses them in place and real applications send long cookies.
pub const DEFAULT_PROXY_BUFFER_SIZE: usize = 8 * 1024;

/// `proxy_redirect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyRedirect {
    /// `proxy_redirect default` (the default): the proxy_pass URL is replaced by the
    /// location prefix (only for a fixed proxy_pass with a URI part, as nginx).
    Default,
    /// `proxy_redirect off`.
    Off,
    /// Explicit `proxy_redirect from to;` entries, tried in order (`default` may be one).
    Rules(Vec<RedirectRule>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectRule {
    /// `proxy_redirect default` among others.
    Default,
    /// A literal prefix (may hold variables) replaced by `to`.
    Prefix { from: Template, to: Template },
    /// `~regex` / `~*regex`: the whole value is replaced by `to` (captures allowed).
    Regex { from: Pattern, to: Template },
}

/// `proxy_next_upstream`: when a failed attempt moves to the next peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextUpstream {
    /// Connect errors, and errors while sending the request or reading the head.
    pub error: bool,
    /// Timeouts connecting, sending, or reading the head.
    pub timeout: bool,
    /// A response head that does not parse.
    pub invalid_header: bool,
    /// Response statuses that count as failures and are retried (500, 502, 503, 504, 403,
    /// 404, 429).
    pub statuses: Vec16,
    /// `non_idempotent`: POST, LOCK, PATCH may be retried too.
    pub non_idempotent: bool,
}

/// A small set of status codes, inline (no allocation in the model's hot copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vec16 {
    codes: [u16; 8],
    len: u8,
}

impl Vec16 {
    pub fn push(&mut self, code: u16) {
        if !self.contains(code) && (self.len as usize) < self.codes.len() {
            self.codes[self.len as usize] = code;
            self.len += 1;
        }
    }

    pub fn contains(&self, code: u16) -> bool {
        self.codes[..self.len as usize].contains(&code)
    }

    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.codes[..self.len as usize].iter().copied()
    }
}

impl Default for NextUpstream {
    /// nginx's default: `error timeout`.
    fn default() -> Self {
        NextUpstream {
            error: true,
            timeout: true,
            invalid_header: false,
            statuses: Vec16::default(),
            non_idempotent: false,
        }
    }
}

impl NextUpstream {
    /// `proxy_next_upstream off`.
    pub fn off() -> Self {
        NextUpstream {
            error: false,
            timeout: false,
            invalid_header: false,
            statuses: Vec16::default(),
            non_idempotent: false,
        }
    }
}

/// `proxy_cookie_flags` words and their bits: what the resolver accepts and what
/// `handlers::proxy_cookie` applies, in one table.
pub mod cookie_flags {
    pub const SECURE_ON: u8 = 1;
    pub const SECURE_OFF: u8 = 2;
    pub const HTTPONLY_ON: u8 = 4;
    pub const HTTPONLY_OFF: u8 = 8;
    pub const SAMESITE_STRICT: u8 = 16;
    pub const SAMESITE_LAX: u8 = 32;
    pub const SAMESITE_NONE: u8 = 64;
    pub const SAMESITE_OFF: u8 = 128;

    /// The flag word's bit, any case (nginx's `ngx_http_proxy_cookie_flags_masks`).
    pub fn flag_bit(word: &[u8]) -> Option<u8> {
        pub const FLAGS: [(&[u8], u8); 8] = [
            (b"secure", SECURE_ON),
            (b"nosecure", SECURE_OFF),
            (b"httponly", HTTPONLY_ON),
            (b"nohttponly", HTTPONLY_OFF),
            (b"samesite=strict", SAMESITE_STRICT),
            (b"samesite=lax", SAMESITE_LAX),
            (b"samesite=none", SAMESITE_NONE),
            (b"nosamesite", SAMESITE_OFF),
        ];
        FLAGS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(word))
            .map(|&(_, bit)| bit)
    }

    /// Whether `word` is a `proxy_cookie_flags` flag (for the configuration check).
    pub fn is_flag(word: &str) -> bool {
        flag_bit(word.as_bytes()).is_some()
    }
}
