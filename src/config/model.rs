//! The resolved configuration model: what every shard reads.
//!
//! Both front-ends (`config::toml` and `config::nginx`) produce exactly this, through
//! `config::tree` and `config::resolve`; inheritance and defaults are already applied and every
//! regex and variable is compiled ([`super::value`]), so the request path never looks anything
//! up twice. A `Config` is immutable once built and shared between shards as one
//! `Arc<Config>` snapshot. `anx -T` prints it back as TOML (`config::dump`).

use std::path::PathBuf;
use std::time::Duration;

pub mod addr;
pub mod conn;
pub mod geo;
pub mod proxy;
pub mod sockaddr;
pub mod tls;

pub use super::value::{Part, Pattern, Template, Var};
use crate::http::mime::MimeTypes;
pub use conn::{BodyBuffering, InFileOnly, KeepaliveDisable, LocationHttp, TempPath};
pub use geo::{AccessRule, AccessRules, AccessWhat, Geo, GeoTable, SplitClients};
pub use proxy::{
    Balance, CertificateVars, CookieFlags, CookieMatch, CookieRewrite, DnsResolver, HealthCheck,
    IgnoreHeaders, NextUpstream, Peer, PeerAddr, ProbeScheme, ProbeTls, Proxy, ProxyBind,
    ProxyPass, ProxyRedirect, ProxySettings, ProxySsl, RedirectRule, Upstream,
};
pub use sockaddr::SockAddr;
pub use tls::{
    CertificateKey, CipherSuite, ClientOcsp, Loaded, NamedGroup, OcspCache, OcspResponder,
    SessionCache, TicketKeyFile, TlsSettings, TlsVersion, VerifyClient,
};

/// The whole configuration of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this snapshot was loaded from (`None` for the embedded default).
    pub source: Option<PathBuf>,
    /// How many shards to run (`worker_processes` in nginx).
    pub shards: ShardCount,
    /// Which cores the shards are pinned to (`worker_cpu_affinity`).
    pub cpu_affinity: CpuAffinity,
    /// Most client connections one shard holds at once (`worker_connections`); at the limit a
    /// shard stops accepting until a connection ends.
    pub worker_connections: usize,
    /// `worker_shutdown_timeout`: how long a graceful stop (SIGQUIT, `anx -s quit`) waits for
    /// requests in flight before the shards stop anyway; `None` waits for them all (nginx's
    /// default).
    pub shutdown_timeout: Option<Duration>,
    /// `pid`: where the running server writes its process id (read by `anx -s`).
    pub pid: Option<PathBuf>,
    /// `user USER [GROUP]`: who the shards run as once the sockets are bound (see
    /// `runtime::privilege`); `None` keeps the user anx was started as.
    pub user: Option<User>,
    /// Error log destinations, each with its level (`error_log` in nginx, several allowed);
    /// never empty (resolve puts stderr at `notice` when none is given).
    pub error_log: Vec<ErrorLog>,
    /// Every virtual server, in configuration order.
    pub servers: Vec<Server>,
    /// Extension → MIME type (`types` / `include mime.types` in nginx).
    pub mime: MimeTypes,
    /// `map` blocks; [`Var::Map`] indexes this.
    pub maps: Vec<Map>,
    /// `geo` blocks; [`Var::Geo`] indexes this.
    pub geos: Vec<Geo>,
    /// `split_clients` blocks; [`Var::Split`] indexes this.
    pub split_clients: Vec<SplitClients>,
    /// Names (without `$`) of the variables `set` creates; [`Var::User`] indexes this.
    pub user_vars: Vec<String>,
    /// `upstream {}` groups, then the implicit groups of `proxy_pass http://host:port`
    /// ([`ProxyPass::Fixed`] indexes this).
    pub upstreams: Vec<Upstream>,
    /// Some `log_format` reads `$sent_http_*`: a proxied answer's head is then kept for the
    /// access log (otherwise nothing of it is copied).
    pub logs_read_sent_fields: bool,
}

/// `user USER [GROUP]` (nginx's main-context directive; TOML's `[main] user` / `group`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The account name as written.
    pub name: String,
    /// The group as written; `None` means nginx's default, a group named like the user, and
    /// failing that the user's primary group.
    pub group: Option<String>,
    /// The numeric ids, looked up at load time (`getpwnam`/`getgrnam`). `None` when anx was
    /// not started as root: like nginx, it then ignores the directive with a warning and
    /// does not look the names up.
    pub ids: Option<UserIds>,
}

/// What `user` resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserIds {
    pub uid: u32,
    pub gid: u32,
}

/// Default `worker_connections` per shard. nginx's is 512 per worker; anx's connections are
/// cheap (under 2 KB idle) and edge nodes hold many, so the default is higher.
pub const DEFAULT_WORKER_CONNECTIONS: usize = 16384;

/// `worker_cpu_affinity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuAffinity {
    /// Shard i runs on the i-th core the process may use (nginx's `auto`; anx always pins).
    Auto,
    /// One CPU set per shard, from nginx's bit masks (`0101 1010`); shards beyond the list
    /// reuse the last mask, as nginx's workers do.
    Sets(Vec<Vec<usize>>),
}

/// `--shards auto|N`, `worker_processes auto|N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardCount {
    /// One shard per core the process may run on.
    Auto,
    /// The first N cores.
    Fixed(usize),
}

/// One `error_log target [level]`: lines at `level` or more severe go to `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorLog {
    pub target: LogTarget,
    pub level: ErrorLevel,
}

/// nginx's eight error-log levels, most severe first (so `a <= b` means "a is at least as
/// severe as b"). `log/error.rs` maps them onto the `log` crate's five.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorLevel {
    Emerg,
    Alert,
    Crit,
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

impl ErrorLevel {
    pub const ALL: [ErrorLevel; 8] = [
        ErrorLevel::Emerg,
        ErrorLevel::Alert,
        ErrorLevel::Crit,
        ErrorLevel::Error,
        ErrorLevel::Warn,
        ErrorLevel::Notice,
        ErrorLevel::Info,
        ErrorLevel::Debug,
    ];

    /// The word nginx writes in brackets and reads in `error_log … level`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorLevel::Emerg => "emerg",
            ErrorLevel::Alert => "alert",
            ErrorLevel::Crit => "crit",
            ErrorLevel::Error => "error",
            ErrorLevel::Warn => "warn",
            ErrorLevel::Notice => "notice",
            ErrorLevel::Info => "info",
            ErrorLevel::Debug => "debug",
        }
    }

    pub fn parse(word: &str) -> Option<ErrorLevel> {
        ErrorLevel::ALL.into_iter().find(|l| l.name() == word)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stderr,
    File(PathBuf),
}

/// One `server {}` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub listen: Vec<Listen>,
    /// `server_name` exact and wildcard names (`*.a.com`, `.a.com`, `www.*`), lowercased, in
    /// configuration order; empty means "any".
    pub names: Vec<String>,
    /// `server_name ~regex` names, in configuration order (tried after the wildcards).
    pub name_regexes: Vec<Pattern>,
    /// `$server_name`: the first name as written (regex names included), or "".
    pub primary_name: String,
    pub http: HttpSettings,
    /// Access logs for requests refused before a location was chosen (the server level's
    /// `access_log` list); empty is `access_log off`.
    pub access_logs: Vec<AccessLog>,
    /// Rewrite-module directives at server level (nginx's server-rewrite phase).
    pub rewrite: Vec<Step>,
    /// Error pages for requests refused before a location was chosen.
    pub error_pages: Vec<ErrorPage>,
    /// Top-level locations in configuration order (named `@` locations included); routing
    /// picks by nginx rules.
    pub locations: Vec<Location>,
    /// The server's own settings as a location that no URI selects: nginx answers a request
    /// that matches no location, and the server-rewrite phase, with the server level's
    /// configuration (root, add_header, expires, redirects, try_files, ...).
    pub fallback: Box<Location>,
    /// The server's `ssl_*` settings: `Some` when any of its addresses serves TLS (its own
    /// `listen … ssl`, or another server's on the same address, as nginx merges the flag).
    pub tls: Option<TlsSettings>,
}

/// `listen address:port|unix:/path [default_server] [backlog=N] [rcvbuf=SIZE]
/// [sndbuf=SIZE] [ssl] [proxy_protocol]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Listen {
    pub addr: SockAddr,
    pub backlog: u32,
    pub default_server: bool,
    /// `ssl`: connections to this address speak TLS. As nginx, one `listen … ssl` makes the
    /// address TLS for every server on it; [`Config::listen_addrs`] merges it.
    pub ssl: bool,
    /// `proxy_protocol`: every connection starts with a PROXY protocol header (v1 or v2),
    /// read before TLS and HTTP. Merged over the servers of an address like `ssl`.
    pub proxy_protocol: bool,
    /// `rcvbuf=` / `sndbuf=`: SO_RCVBUF / SO_SNDBUF of the listening socket in bytes, which
    /// accepted connections inherit; `None` keeps the kernel's default.
    pub rcvbuf: Option<u32>,
    pub sndbuf: Option<u32>,
}

crate::config::settings::server_settings! { crate::config::settings::model_struct! {
    /// Connection and request limits of a server (nginx's core http directives; the scalar
    /// ones are declared in `config::settings`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct HttpSettings {
        /// `client_body_timeout`: the server level's (a location has its own).
        pub client_body_timeout: Duration = Duration::from_secs(60),
        /// `keepalive_timeout`: how long an idle keep-alive connection is kept; zero disables
        /// keep-alive.
        pub keepalive_timeout: Duration = Duration::from_secs(75),
        /// `keepalive_requests`: the server level's.
        pub keepalive_requests: u64 = 1000,
        /// `send_timeout`: the server level's.
        pub send_timeout: Duration = Duration::from_secs(60),
        /// `client_max_body_size` at server level in bytes; 0 means unlimited (→ 413).
        /// Locations carry their own ([`Location::client_max_body_size`]).
        pub client_max_body_size: u64 = 1024 * 1024,
        /// `server_tokens`: `Server: anx/VERSION` when on, `Server: anx` when off.
        pub server_tokens: bool = true,
        /// `client_header_buffer_size`: a head that fits it is accepted whatever the
        /// `large_client_header_buffers` limits say (nginx reads it into this buffer first).
        pub client_header_buffer_size: usize = 1024,
    }
} }

/// `access_log path [format] [buffer=] [flush=] [if=]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLog {
    pub path: PathBuf,
    pub format: AccessLogFormat,
    /// Bytes buffered per shard before a write (`buffer=`; 64 KiB without it).
    pub buffer_bytes: usize,
    /// `buffer=` (or `flush=`) was given: lines wait for a full buffer or `flush=`. Without it nginx
    /// writes each line at once; anx writes a shard's lines once it has run the work that
    /// was ready (one write per burst under load, at once when idle).
    pub buffered: bool,
    /// Longest time a line may sit in the buffer (`flush=`).
    pub flush: Duration,
    /// `if=`: the line is written only when this is neither empty nor "0".
    pub condition: Option<Template>,
    /// anx's built-in rotation (`rotate_size=`, `rotate_time=`, `rotate_keep=`).
    pub rotate: Option<Rotate>,
}

/// When `log/rotate.rs` renames an access log to `path.1` (older ones shift up to
/// `path.keep`; beyond that they are deleted). At least one of `size` and `every` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotate {
    /// Rotate once the file holds this many bytes or more.
    pub size: Option<u64>,
    /// Rotate at every multiple of this period since the Unix epoch (UTC): `1d` is midnight
    /// UTC, `1h` the top of each hour.
    pub every: Option<Duration>,
    /// How many rotated files to keep (default 5).
    pub keep: u32,
}

/// `rotate_keep` when it is not given.
pub const DEFAULT_ROTATE_KEEP: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogFormat {
    /// nginx's `combined` (built in, formatted without the template machinery).
    Combined,
    /// nginx's `common` (`combined` without referer and user agent), built in the same way.
    Common,
    /// anx's built-in `json` preset: a `log_format … escape=json` that `log/presets.rs`
    /// writes and resolve compiles (it is not a user's `log_format`, so `anx -T` does not
    /// print it).
    Json(LogFormat),
    /// A `log_format`.
    Custom(LogFormat),
}

/// The built-in `json` format: one object per line with the fields operators expect. Numbers
/// are bare; `$upstream_*` are strings because a retried request lists several
/// ("10.0.0.1:80, 10.0.0.2:80"); the TLS fields are empty on plain connections.
pub const JSON_LOG_FORMAT: &str = concat!(
    r#"{"time":"$time_iso8601","remote_addr":"$remote_addr","remote_user":"$remote_user","#,
    r#""request":"$request","method":"$request_method","uri":"$request_uri","#,
    r#""status":$status,"body_bytes_sent":$body_bytes_sent,"bytes_sent":$bytes_sent,"#,
    r#""request_time":$request_time,"upstream_addr":"$upstream_addr","#,
    r#""upstream_status":"$upstream_status","upstream_response_time":"$upstream_response_time","#,
    r#""http_referer":"$http_referer","http_user_agent":"$http_user_agent","host":"$host","#,
    r#""request_id":"$request_id","ssl_protocol":"$ssl_protocol","ssl_cipher":"$ssl_cipher","#,
    r#""connection":$connection,"connection_requests":$connection_requests}"#
);

/// `log_format name [escape=default|json|none] string ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    pub name: String,
    pub escape: LogEscape,
    pub template: Template,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEscape {
    /// `"`, `\` and bytes outside 32–126 as `\xHH`.
    Default,
    Json,
    None,
}

/// How a location's path is matched (nginx's modifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// `location = /x`
    Exact,
    /// `location ^~ /x`: longest prefix, and stops the regex search.
    PrefixNoRegex,
    /// `location /x`
    Prefix,
    /// `location ~ re` / `location ~* re` (the pattern is in [`Location::regex`]).
    Regex,
    /// `location @name`: reached only by try_files, error_page and the like.
    Named,
}

/// One `location {}` with everything it inherited already merged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub match_kind: MatchKind,
    /// Prefix/exact: the path (already normalised). Regex: the pattern source. Named: the
    /// name without `@`.
    pub path: Vec<u8>,
    /// The compiled pattern of a regex location.
    pub regex: Option<Pattern>,
    /// `internal`: only internal redirects may reach it (a direct request gets 404).
    pub internal: bool,
    /// nginx's `auto_redirect`: a request for the path without its trailing `/` is
    /// answered 301 to the path with it (set for proxy_pass in a location ending in `/`).
    pub auto_redirect: bool,
    /// `limit_except`: requests whose method is not listed continue in this location.
    pub limit_except: Option<Box<LimitExcept>>,
    /// `allow`/`deny` in effect here (inherited when the block has none), checked in the
    /// access phase. Shared: if-locations and limit_except copy the location.
    pub access: std::sync::Arc<AccessRules>,
    /// Nested locations, in configuration order.
    pub locations: Vec<Location>,
    /// Rewrite-module directives of this location, in order (nginx's rewrite phase).
    pub rewrite: Vec<Step>,
    /// `try_files`.
    pub try_files: Option<TryFiles>,
    pub handler: Handler,
    /// `error_page` entries in effect here (inherited when the location sets none).
    pub error_pages: Vec<ErrorPage>,
    /// `add_header` entries in effect here (inherited when the location sets none).
    pub add_headers: Vec<AddHeader>,
    /// `add_trailer` entries in effect here (inherited when the location sets none, as
    /// `add_header`): when one applies to a response's status, an HTTP/1.1 body goes
    /// chunked and ends with these fields, their values read after the body.
    pub add_trailers: Vec<AddHeader>,
    /// `expires`.
    pub expires: Expires,
    pub redirects: RedirectSettings,
    /// `access_log` list in effect here; empty is `access_log off`.
    pub access_logs: Vec<AccessLog>,
    /// `error_log` list in effect here (set at http, server or location level) for the
    /// lines logged while serving a request here; empty: the main level's logs.
    pub error_log: Vec<ErrorLog>,
    /// `client_max_body_size` in bytes for requests served here; 0 means unlimited (→ 413).
    pub client_max_body_size: u64,
    pub files: FileSettings,
    /// Keep-alive, timeouts, `server_tokens` and body buffering for requests served here.
    pub http: LocationHttp,
    /// `limit_rate` / `limit_rate_after` in effect here.
    pub rate: RateSettings,
    /// `post_action` in effect here (inherited; `off` or unset: none).
    pub post_action: Option<PostAction>,
}

/// `post_action /uri | @name` (nginx's core module): once the response is sent, the request
/// goes on to this URI (an internal redirect, no args) or named location, and whatever that
/// answers is discarded; a `proxy_pass` there still talks to its upstream (a notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostAction {
    Uri(Vec<u8>),
    /// The name without `@`.
    Named(String),
}

/// `limit_rate rate` and `limit_rate_after size` (nginx's core module): the response body
/// goes to the client at most `rate` bytes a second once `after` bytes went at full speed.
/// Both may hold variables (as nginx 1.27's complex values) and are read when the response
/// starts; 0, empty or unset means no limit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RateSettings {
    pub limit_rate: Option<Template>,
    pub limit_rate_after: Option<Template>,
}

/// The content handler of a location: exactly one runs per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handler {
    /// Serve files from `files.root` / `files.alias`.
    Static,
    /// `proxy_pass`: forward to an upstream.
    Proxy(Box<Proxy>),
    /// `stub_status`, `anx_status`, `anx_metrics`, `anx_dashboard`: a status page.
    Status(StatusPage),
}

/// The status pages anx serves (`handlers/status/`). TOML: `status = "stub"`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusPage {
    /// `stub_status`: nginx's text, byte for byte.
    Stub,
    /// `anx_status`: everything, as JSON.
    Json,
    /// `anx_metrics`: the Prometheus text exposition format.
    Prometheus,
    /// `anx_dashboard`: an HTML page drawing the JSON (`?json` on the same URI serves it).
    Dashboard,
}

impl StatusPage {
    /// The TOML value.
    pub fn name(self) -> &'static str {
        match self {
            StatusPage::Stub => "stub",
            StatusPage::Json => "json",
            StatusPage::Prometheus => "prometheus",
            StatusPage::Dashboard => "dashboard",
        }
    }

    /// The page an nginx-syntax directive asks for.
    pub fn from_directive(name: &str) -> Option<StatusPage> {
        Some(match name {
            "stub_status" => StatusPage::Stub,
            "anx_status" => StatusPage::Json,
            "anx_metrics" => StatusPage::Prometheus,
            "anx_dashboard" => StatusPage::Dashboard,
            _ => return None,
        })
    }
}

/// One rewrite-module directive (`rewrite`, `return`, `set`, `if`, `break`), run in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `rewrite regex replacement [flag]`.
    Rewrite {
        pattern: Pattern,
        replacement: Template,
        flag: RewriteFlag,
    },
    /// `return code [text|URL]` / `return URL` (302).
    Return { status: u16, text: Option<Template> },
    /// `set $name value`.
    Set { var: usize, value: Template },
    /// `set $args value`: a writable built-in; it replaces the query.
    SetArgs { value: Template },
    /// `set $limit_rate value`: a writable built-in; the response's rate in bytes a second.
    SetLimitRate { value: Template },
    /// `if (condition) { ... }`: rewrite-module directives, plus `add_header`/`expires`.
    If {
        condition: Condition,
        steps: Vec<Step>,
        /// When the block sets `add_header` or `expires`: the enclosing location with those
        /// replaced, which the request uses from then on (nginx's if-location).
        location: Option<Box<Location>>,
    },
    /// `break`.
    Break,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteFlag {
    /// No flag: carry on with the next directive, then search the location again.
    None,
    /// `last`: stop this list and search the location for the new URI.
    Last,
    /// `break`: stop rewriting and serve the new URI in this location.
    Break,
    /// `redirect`: 302.
    Redirect,
    /// `permanent`: 301.
    Permanent,
}

/// The condition of an `if`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `if ($var)`: true unless empty or "0".
    Truthy(Template),
    /// `=` / `!=`.
    Equals {
        value: Template,
        other: Template,
        negate: bool,
    },
    /// `~`, `~*`, `!~`, `!~*`.
    Matches {
        value: Template,
        pattern: Pattern,
        negate: bool,
    },
    /// `-f`, `-d`, `-e`, `-x` and their `!` forms.
    File {
        test: FileTest,
        path: Template,
        negate: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTest {
    /// `-f`: a regular file.
    File,
    /// `-d`: a directory.
    Dir,
    /// `-e`: exists.
    Exists,
    /// `-x`: executable.
    Executable,
}

/// `try_files file ... (uri | =code | @name)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryFiles {
    /// Candidates; one ending in `/` must be a directory.
    pub candidates: Vec<Template>,
    pub fallback: TryFallback,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryFallback {
    /// An internal redirect to this URI (it may carry `?args`).
    Uri(Template),
    /// `@name`.
    Named(String),
    /// `=404`.
    Status(u16),
}

/// `error_page code ... [=[response]] uri|@name|URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPage {
    pub codes: Vec<u16>,
    pub status: ErrorPageStatus,
    pub target: ErrorPageTarget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPageStatus {
    /// No `=`: the original code is kept.
    Keep,
    /// `=200`.
    Set(u16),
    /// `=`: whatever the target answers.
    FromTarget,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorPageTarget {
    /// An internal redirect to a URI (GET, as nginx does for non-HEAD).
    Uri(Template),
    /// `@name`.
    Named(String),
    /// `http://…`/`https://…`: a redirect (302 unless `=30x` is given).
    Redirect(Template),
}

/// `add_header name value [always]` (and `add_trailer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddHeader {
    pub name: String,
    pub value: Template,
    /// Without `always` the header goes only on 200, 201, 204, 206, 301, 302, 303, 304, 307
    /// and 308 responses.
    pub always: bool,
}

/// `limit_except METHOD ... { ... }` resolved: the methods kept (HEAD added when GET is
/// listed), and the location every other method is served by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExcept {
    pub methods: Vec<String>,
    pub location: Location,
}

impl LimitExcept {
    /// Whether a request with `method` keeps the enclosing location's settings.
    pub fn allows(&self, method: &[u8]) -> bool {
        self.methods.iter().any(|m| m.as_bytes() == method)
    }
}

/// `expires`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expires {
    /// `expires off` (the default): no Expires or Cache-Control added.
    Off,
    /// `expires epoch`.
    Epoch,
    /// `expires max`.
    Max,
    /// `expires [-]time`: seconds from now (negative → `no-cache`).
    After(i64),
    /// `expires modified [-]time`: seconds from the file's modification time.
    Modified(i64),
    /// `expires @15h30m`: the next time of day, in seconds after midnight.
    DailyAt(u32),
    /// `expires [modified] $variable`: the value, read per request, is one of the forms
    /// above (without `modified`); a value that is none of them sets nothing, as nginx.
    Variable {
        modified: bool,
        template: crate::config::value::Template,
    },
}

/// `absolute_redirect`, `port_in_redirect`, `server_name_in_redirect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedirectSettings {
    pub absolute_redirect: bool,
    pub port_in_redirect: bool,
    pub server_name_in_redirect: bool,
}

impl Default for RedirectSettings {
    fn default() -> Self {
        RedirectSettings {
            absolute_redirect: true,
            port_in_redirect: true,
            server_name_in_redirect: false,
        }
    }
}

/// `map $source $name { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    /// The variable it defines, without `$`.
    pub name: String,
    pub source: Template,
    /// `hostnames`: keys may be `*.example.com`, `.example.com` or `www.example.*`.
    pub hostnames: bool,
    /// `volatile`: evaluated at each use; otherwise the first value holds for the rest of
    /// the request, internal redirects included (nginx's cached variable).
    pub volatile: bool,
    /// Exact keys, lowercased (nginx matches them case-insensitively).
    pub exact: hashbrown::HashMap<String, Template>,
    /// Wildcard keys (with `hostnames`), lowercased, in configuration order.
    pub wildcards: Vec<(String, Template)>,
    /// `~` / `~*` keys in configuration order, tried after exact and wildcard keys.
    pub regexes: Vec<(Pattern, Template)>,
    pub default: Template,
}

/// A document root or alias: a fixed directory, optionally followed by a part with variables
/// (`root /srv/$host;` → base `/srv`, rest `$host`). Files are opened beneath `base`, so
/// whatever the variables hold, a request cannot leave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocPath {
    /// The longest leading directory without variables (absolute).
    pub base: PathBuf,
    /// The rest, evaluated per request and joined to `base`.
    pub rest: Option<Template>,
}

impl DocPath {
    pub fn fixed(base: PathBuf) -> DocPath {
        DocPath { base, rest: None }
    }
}

/// Where the URI joins an alias (nginx's `clcf->alias`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasTail {
    /// Set in a prefix or exact location: the URI after that location's prefix (this many
    /// bytes) is appended.
    AfterPrefix(usize),
    /// Set in a regex location: the alias names the whole file (usually with captures);
    /// only a try_files match appends its URI.
    Whole,
}

crate::config::settings::files_settings! {
    crate::config::settings::model_struct! {
        /// Static-file settings of a location.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct FileSettings {
            /// `root`: the URI is appended to it.
            pub root: DocPath = DocPath::fixed(PathBuf::from("html")),
            /// `alias`: the location prefix is replaced by it (regex locations: it is the whole path,
            /// usually with captures).
            pub alias: Option<DocPath> = None,
            /// How much of the URI the alias replaces. nginx counts it from the location that set
            /// the alias, so a nested location inherits its setter's prefix length.
            pub alias_tail: AliasTail = AliasTail::AfterPrefix(0),
            /// `index` files tried in order for a directory request (variables allowed); one
            /// starting with `/` is an internal redirect to it, made without a file test.
            pub index: Vec<Template> = vec![Template::literal("index.html")],
            /// `autoindex on` with its `autoindex_format`.
            pub autoindex: Option<AutoindexFormat> = None,
            /// `default_type` when no extension matches.
            pub default_type: String = "text/plain".to_string(),
            /// Follow symlinks that leave the root (`disable_symlinks off` in nginx terms).
            pub allow_symlinks_outside_root: bool = false,
            /// `if_modified_since off|exact|before`: how If-Modified-Since is compared.
            pub if_modified_since: IfModifiedSince = IfModifiedSince::Before,
        }
    }
}

/// nginx's `if_modified_since`. anx's default is `before` (RFC 9110: "not modified since"),
/// where nginx's is `exact`; the README lists the difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IfModifiedSince {
    /// The header is ignored.
    Off,
    /// 304 only when the file's time equals the date.
    Exact,
    /// 304 when the file is not newer than the date.
    #[default]
    Before,
}

impl IfModifiedSince {
    pub fn name(self) -> &'static str {
        match self {
            IfModifiedSince::Off => "off",
            IfModifiedSince::Exact => "exact",
            IfModifiedSince::Before => "before",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoindexFormat {
    Html,
    Json,
    Xml,
    /// JSON wrapped in the `callback` argument's function call (plain JSON without one).
    Jsonp,
}

impl Config {
    /// Every distinct listen address across servers (one socket per address per shard).
    pub fn listen_addrs(&self) -> Vec<Listen> {
        let mut out: Vec<Listen> = Vec::new();
        for server in &self.servers {
            for l in &server.listen {
                if let Some(existing) = out.iter_mut().find(|e| e.addr == l.addr) {
                    existing.backlog = existing.backlog.max(l.backlog);
                    existing.ssl |= l.ssl;
                    existing.proxy_protocol |= l.proxy_protocol;
                    existing.rcvbuf = existing.rcvbuf.or(l.rcvbuf);
                    existing.sndbuf = existing.sndbuf.or(l.sndbuf);
                } else {
                    out.push(l.clone());
                }
            }
        }
        out
    }
}

impl Config {
    /// The first part in which two models differ, named for a reader ("server 0 locations"),
    /// or `None` when they are equal. Used by the tests that prove both front-ends and the
    /// `-T` dump agree: a bare "models differ" would say nothing about where.
    pub fn first_difference(&self, other: &Config) -> Option<String> {
        macro_rules! check {
            ($name:expr, $a:expr, $b:expr) => {
                if $a != $b {
                    return Some(format!("{}: {:?} != {:?}", $name, $a, $b));
                }
            };
        }
        check!("shards", self.shards, other.shards);
        check!("cpu_affinity", self.cpu_affinity, other.cpu_affinity);
        check!(
            "worker_connections",
            self.worker_connections,
            other.worker_connections
        );
        check!(
            "shutdown_timeout",
            self.shutdown_timeout,
            other.shutdown_timeout
        );
        check!("pid", self.pid, other.pid);
        check!("user", self.user, other.user);
        check!("error_log", self.error_log, other.error_log);
        check!("maps", self.maps, other.maps);
        check!("geos", self.geos, other.geos);
        check!("split_clients", self.split_clients, other.split_clients);
        check!("user_vars", self.user_vars, other.user_vars);
        check!("upstreams", self.upstreams, other.upstreams);
        if self.mime != other.mime {
            return Some("MIME tables differ".to_string());
        }
        check!("server count", self.servers.len(), other.servers.len());
        for (i, (a, b)) in self.servers.iter().zip(&other.servers).enumerate() {
            check!(format!("server {i} listen"), a.listen, b.listen);
            check!(format!("server {i} names"), a.names, b.names);
            check!(
                format!("server {i} primary name"),
                a.primary_name,
                b.primary_name
            );
            check!(
                format!("server {i} regex names"),
                a.name_regexes,
                b.name_regexes
            );
            check!(format!("server {i} http settings"), a.http, b.http);
            check!(
                format!("server {i} access logs"),
                a.access_logs,
                b.access_logs
            );
            check!(format!("server {i} rewrite"), a.rewrite, b.rewrite);
            check!(
                format!("server {i} error pages"),
                a.error_pages,
                b.error_pages
            );
            check!(
                format!("server {i} location count"),
                a.locations.len(),
                b.locations.len()
            );
            for (j, (la, lb)) in a.locations.iter().zip(&b.locations).enumerate() {
                check!(format!("server {i} location {j}"), la, lb);
            }
            check!(format!("server {i} own settings"), a.fallback, b.fallback);
            check!(format!("server {i} tls"), a.tls, b.tls);
        }
        check!("source", self.source, other.source);
        None
    }
}
