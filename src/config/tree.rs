//! The unresolved configuration tree: what both front-ends build and `resolve` consumes.
//!
//! `config::toml` (serde) and `config::nginx` (directive table) each turn their file into a
//! [`ConfigTree`]: blocks as written, every setting optional, text not yet compiled, each
//! piece tagged with the [`Origin`] (file:line) errors should name. `resolve` is then the one
//! place that knows inheritance, defaults, regex and variable compilation, so both formats
//! load to the same `model::Config` by construction.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::model::{AutoindexFormat, CpuAffinity, RewriteFlag, ShardCount, SockAddr, StatusPage};
use super::units::{parse_duration, parse_size};
use crate::http::mime::MimeTypes;

/// Where a piece of configuration was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub file: Option<Arc<PathBuf>>,
    pub line: Option<usize>,
}

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> At<T> {
    pub fn new(value: T, origin: Origin) -> At<T> {
        At { value, origin }
    }
}

/// A whole configuration as written.
#[derive(Debug, Clone, Default)]
pub struct ConfigTree {
    /// The file it came from (`None` for the embedded default and `-g` only).
    pub source: Option<PathBuf>,
    /// Relative paths (root, logs, pid, includes) resolve against this.
    pub base_dir: PathBuf,
    pub main: MainSettings,
    /// Settings at `http {}` / `[http]` level, inherited by every server.
    pub http: Layers,
    pub maps: Vec<At<MapTree>>,
    pub geos: Vec<At<GeoTree>>,
    pub split_clients: Vec<At<SplitClientsTree>>,
    pub log_formats: Vec<At<LogFormatTree>>,
    /// `upstream name {}` / `[[upstream]]` groups, in configuration order.
    pub upstreams: Vec<At<UpstreamTree>>,
    pub servers: Vec<At<ServerTree>>,
    /// Remarks for the operator that are not errors ("daemon on has no effect"), printed by
    /// `-t` and at start-up; they are not part of the model.
    pub notes: Vec<super::ConfigError>,
}

/// Process-wide settings (nginx's main context, TOML's `[main]`).
#[derive(Debug, Clone, Default)]
pub struct MainSettings {
    pub shards: Option<ShardCount>,
    pub cpu_affinity: Option<CpuAffinity>,
    pub worker_connections: Option<usize>,
    /// `worker_shutdown_timeout`: the longest a graceful stop waits for requests in flight.
    pub shutdown_timeout: Option<std::time::Duration>,
    /// `pid` path as written.
    pub pid: Option<At<String>>,
    /// `user USER [GROUP]` as written.
    pub user: Option<At<RawUser>>,
    /// Every `error_log`, in order: "stderr" or a path as written, and its own level.
    pub error_log: Vec<At<RawErrorLog>>,
    /// The level of the logs that give none (TOML's `error_log_level`).
    pub error_log_level: Option<At<String>>,
    pub mime: Option<At<MimeSource>>,
}

/// `user USER [GROUP]` as written (TOML: `[main] user`, `group`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawUser {
    pub name: String,
    pub group: Option<String>,
}

/// Where the MIME table comes from.
#[derive(Debug, Clone)]
pub enum MimeSource {
    /// An nginx-format `types {}` file, path as written (TOML's `mime_types`).
    File(String),
    /// A table already read (nginx's `types {}` blocks).
    Table(MimeTypes),
}

/// One `server {}` / `[[server]]`.
#[derive(Debug, Clone, Default)]
pub struct ServerTree {
    pub listen: Vec<At<RawListen>>,
    /// `server_name` entries as written (`~regex` included).
    pub names: Vec<At<String>>,
    pub layers: Layers,
    pub rewrite: Vec<At<StepTree>>,
    pub locations: Vec<At<LocationTree>>,
}

/// `limit_except` as written: the methods that keep the location's own settings, and what
/// the block sets for every other method.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitExceptTree {
    /// Upper-case method names as written (`GET` implies `HEAD`, as nginx).
    pub methods: Vec<String>,
    /// `proxy_pass` inside the block: the handler for the other methods.
    pub proxy_pass: Option<At<String>>,
    /// `allow`/`deny` inside the block (replacing the location's for the other methods).
    pub access: Option<Vec<At<AccessTree>>>,
}

/// The methods `limit_except` takes (nginx's list).
pub const LIMIT_EXCEPT_METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "MKCOL",
    "COPY",
    "MOVE",
    "OPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "LOCK",
    "UNLOCK",
    "PATCH",
];

/// How a location's path is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawMatch {
    /// `location /x`
    Prefix,
    /// `location = /x`
    Exact,
    /// `location ^~ /x`
    PrefixNoRegex,
    /// `location ~ re`
    Regex,
    /// `location ~* re`
    RegexCaseless,
    /// `location @name` (path is the name without `@`).
    Named,
}

/// One `location {}` / `[[…location]]`.
#[derive(Debug, Clone)]
pub struct LocationTree {
    pub match_kind: RawMatch,
    pub path: String,
    pub internal: bool,
    /// `proxy_pass URL` as written (not inherited: it is the location's handler).
    pub proxy_pass: Option<At<String>>,
    /// `stub_status` / `anx_status` / `anx_metrics` / `anx_dashboard` (also a handler).
    pub status: Option<At<StatusPage>>,
    pub layers: Layers,
    pub rewrite: Vec<At<StepTree>>,
    pub locations: Vec<At<LocationTree>>,
    /// `limit_except METHOD ... { ... }`.
    pub limit_except: Option<At<LimitExceptTree>>,
}

/// A rewrite-module directive as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepTree {
    Rewrite {
        regex: String,
        replacement: String,
        flag: RewriteFlag,
    },
    /// `return code [text]`; `return URL` is `status` 302 with the URL as text.
    Return {
        status: u16,
        text: Option<String>,
    },
    /// `set $name value` (`name` without `$`).
    Set {
        name: String,
        value: String,
    },
    /// `if (...)`: the condition's words with the parentheses removed.
    If {
        condition: Vec<String>,
        steps: Vec<At<StepTree>>,
        /// `add_header` / `expires` written inside the block (the rest stays empty).
        headers: Box<Layers>,
        /// `proxy_pass` inside the block (an `if` in a location): the handler while the
        /// condition holds.
        proxy_pass: Option<At<String>>,
    },
    Break,
}

/// `map $source $name { hostnames; default v; key value; ... }`.
#[derive(Debug, Clone, Default)]
pub struct MapTree {
    pub source: String,
    /// Without `$`.
    pub name: String,
    pub hostnames: bool,
    /// `volatile`: the value is not kept for the rest of the request.
    pub volatile: bool,
    pub default: Option<String>,
    /// Keys as written (`~re`, `~*re`, `\~literal`, `*.host`), in order.
    pub entries: Vec<At<(String, String)>>,
}

/// `geo [$address] $name { … }` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoTree {
    /// `$address` as written; `None` reads the client's address.
    pub source: Option<String>,
    /// Without `$`.
    pub name: String,
    pub ranges: bool,
    pub proxy_recursive: bool,
    pub volatile: bool,
    /// `default`, networks (or ranges), `delete` and `proxy`, in order.
    pub entries: Vec<At<GeoEntry>>,
}

/// One line of a `geo` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeoEntry {
    Default(String),
    /// `proxy address|CIDR`.
    Proxy(String),
    /// `CIDR value` or, with `ranges`, `from-to value`.
    Net {
        net: String,
        value: String,
    },
    Delete(String),
}

/// `split_clients $string $name { N% value; * value; }` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitClientsTree {
    pub source: String,
    /// Without `$`.
    pub name: String,
    /// ("51.2%" or "*", value), in order.
    pub parts: Vec<At<(String, String)>>,
}

/// `allow what` / `deny what`: an address, a CIDR, `unix:` or `all`, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTree {
    pub allow: bool,
    pub what: String,
}

/// `log_format name [escape=…] text…` (the text pieces already joined).
#[derive(Debug, Clone, Default)]
pub struct LogFormatTree {
    pub name: String,
    /// "default", "json" or "none" as written.
    pub escape: Option<String>,
    pub text: String,
}

/// Settings that inherit http → server → location (and into nested locations). `None`
/// means "not set here"; for the list-valued ones (`error_page`, `add_header`,
/// `add_trailer`, `access_log`), `Some` at a level replaces the inherited list entirely, as nginx does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layers {
    pub conn: HttpLayer,
    pub files: FileLayer,
    /// `try_files` words as written.
    pub try_files: Option<At<Vec<String>>>,
    /// Each `error_page` directive's words as written.
    pub error_pages: Option<Vec<At<Vec<String>>>>,
    pub add_headers: Option<Vec<At<AddHeaderTree>>>,
    /// `add_trailer` entries (the same shape as `add_header`; a separate list that
    /// inherits on its own).
    pub add_trailers: Option<Vec<At<AddHeaderTree>>>,
    /// `expires` words as written (`["modified", "1h"]`, `["max"]`).
    pub expires: Option<At<Vec<String>>>,
    pub absolute_redirect: Option<bool>,
    pub port_in_redirect: Option<bool>,
    pub server_name_in_redirect: Option<bool>,
    pub access_logs: Option<Vec<At<RawAccessLog>>>,
    /// `allow`/`deny` rules in order; `Some` at a level replaces the inherited list.
    pub access: Option<Vec<At<AccessTree>>>,
    /// `error_log` at this level (replaces the inherited list for requests served here).
    pub error_logs: Option<Vec<At<RawErrorLog>>>,
    pub proxy: ProxyLayer,
    /// `ssl_*` settings (http and server levels only).
    pub tls: TlsLayer,
    /// `limit_rate` and `limit_rate_after` as written (a size, or variables).
    pub limit_rate: Option<At<String>>,
    pub limit_rate_after: Option<At<String>>,
    /// `post_action` as written (`/uri`, `@name` or `off`).
    pub post_action: Option<At<String>>,
}

/// The inheritable `ssl_*` settings of one block, as written (files are read, names mapped
/// and cross-checks made by `resolve`, for both front-ends). `Some` at a level replaces what
/// it inherits; `ssl_certificate` and `ssl_certificate_key` pair up by position.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TlsLayer {
    pub certificates: Option<Vec<At<String>>>,
    pub certificate_keys: Option<Vec<At<String>>>,
    /// `ssl_protocols` words.
    pub protocols: Option<At<Vec<String>>>,
    /// `ssl_ciphers` as written (OpenSSL cipher-list syntax).
    pub ciphers: Option<At<String>>,
    pub prefer_server_ciphers: Option<bool>,
    /// `ssl_ecdh_curve` as written (`auto` or `X25519:prime256v1`).
    pub ecdh_curve: Option<At<String>>,
    pub session_tickets: Option<bool>,
    pub session_ticket_keys: Option<Vec<At<String>>>,
    pub session_timeout: Option<Duration>,
    /// `ssl_session_cache` words (`off`, `none`, `builtin:1000`, `shared:SSL:10m`).
    pub session_cache: Option<At<Vec<String>>>,
    pub client_certificate: Option<At<String>>,
    pub trusted_certificate: Option<At<String>>,
    /// `on`, `off`, `optional` or `optional_no_ca`.
    pub verify_client: Option<At<String>>,
    pub verify_depth: Option<u32>,
    pub crl: Option<At<String>>,
    pub stapling: Option<At<bool>>,
    pub stapling_file: Option<At<String>>,
    pub stapling_responder: Option<At<String>>,
    pub stapling_verify: Option<bool>,
    /// `ssl_ocsp` (`on`, `leaf`, `off`), `ssl_ocsp_responder`, `ssl_ocsp_cache` as written.
    pub ocsp: Option<At<String>>,
    pub ocsp_responder: Option<At<String>>,
    pub ocsp_cache: Option<At<String>>,
    /// `ssl_password_file`: pass phrases for encrypted `ssl_certificate_key` files.
    pub password_file: Option<At<String>>,
    /// `ssl_reject_handshake`.
    pub reject_handshake: Option<bool>,
}

crate::config::settings::proxy_settings! {
    crate::config::settings::layer_struct! {
        /// The inheritable `proxy_*` settings of one block (all optional; the
        /// scalar ones are declared in `config::settings`). Lists follow nginx's
        /// arrays: `Some` at a level replaces the inherited list. Words that need compiling or
        /// cross-checks (`proxy_http_version`, `proxy_next_upstream`, `proxy_redirect`) are kept as
        /// written for `resolve`, so both front-ends share one reading of them.
        #[derive(Debug, Default, Clone, PartialEq, Eq)]
        pub struct ProxyLayer {
            pub set_headers: Option<Vec<At<ProxyHeaderTree>>>,
            pub hide_headers: Option<Vec<At<String>>>,
            pub pass_headers: Option<Vec<At<String>>>,
            /// "1.0" or "1.1".
            pub http_version: Option<At<String>>,
            pub method: Option<At<String>>,
            pub redirect: Option<Vec<At<RawRedirect>>>,
            pub next_upstream: Option<At<Vec<String>>>,
            pub ssl_verify: Option<bool>,
            pub ssl_trusted_certificate: Option<At<String>>,
            pub ssl_verify_depth: Option<u32>,
            pub ssl_server_name: Option<bool>,
            pub ssl_name: Option<At<String>>,
            pub ssl_certificate: Option<At<String>>,
            pub ssl_certificate_key: Option<At<String>>,
            pub ssl_protocols: Option<At<Vec<String>>>,
            pub ssl_session_reuse: Option<bool>,
            /// `resolver` words as written (addresses and `valid=`/`ipv4=`/`ipv6=`).
            pub resolver: Option<At<Vec<String>>>,
            /// `proxy_cookie_domain`, `proxy_cookie_path`, `proxy_cookie_flags`: each directive's
            /// words (`["off"]` alone for off).
            pub cookie_domain: Option<Vec<At<Vec<String>>>>,
            pub cookie_path: Option<Vec<At<Vec<String>>>>,
            pub cookie_flags: Option<Vec<At<Vec<String>>>>,
            pub set_body: Option<At<String>>,
            /// `proxy_bind` words (`off`, or an address and maybe `transparent`).
            pub bind: Option<At<Vec<String>>>,
            /// `proxy_ignore_headers` names as written.
            pub ignore_headers: Option<At<Vec<String>>>,
            pub ssl_password_file: Option<At<String>>,
            pub ssl_crl: Option<At<String>>,
        }
    }
}

/// `proxy_set_header name value`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyHeaderTree {
    pub name: String,
    pub value: String,
}

/// One `proxy_redirect` directive as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawRedirect {
    Default,
    Off,
    /// `from` may start with `~` / `~*` (a regex).
    Rule {
        from: String,
        to: String,
    },
}

/// One `upstream name {}` / `[[upstream]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTree {
    pub name: String,
    pub servers: Vec<At<RawPeer>>,
    /// The balancing method; `None` is round-robin. nginx lets a later one replace an
    /// earlier one (with a warning), so the front-end keeps the last.
    pub balance: Option<At<RawBalance>>,
    pub keepalive: Option<usize>,
    pub keepalive_timeout: Option<Duration>,
    pub keepalive_requests: Option<u64>,
    pub keepalive_time: Option<Duration>,
    pub health_check: Option<At<RawHealthCheck>>,
}

/// `server addr [weight=N] [max_fails=N] [fail_timeout=time] [backup] [down] [max_conns=N]`:
/// the address as written (resolved by `resolve`), the parameters already read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawPeer {
    pub addr: String,
    pub weight: Option<u32>,
    pub max_fails: Option<u32>,
    pub fail_timeout: Option<Duration>,
    pub backup: bool,
    pub down: bool,
    pub max_conns: Option<u32>,
}

/// A balancing method as written (`hash`'s key not compiled yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawBalance {
    RoundRobin,
    LeastConn,
    IpHash,
    Hash { key: String, consistent: bool },
    Random { two: bool },
}

/// `anx_health_check [interval=] [uri=] [timeout=] [fails=] [passes=] [status=] [body=]
/// [host=]` / `health_check = { … }`; unset parts take `HealthCheck::default()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawHealthCheck {
    pub interval: Option<Duration>,
    pub uri: Option<String>,
    pub timeout: Option<Duration>,
    pub fails: Option<u32>,
    pub passes: Option<u32>,
    /// Ranges as written: "200-399", "204".
    pub status: Vec<String>,
    pub body: Option<String>,
    pub host: Option<String>,
    /// `scheme=http|https` as written (checked by `resolve`).
    pub scheme: Option<String>,
}

/// `add_header name value [always]` (and `add_trailer`, which takes the same words).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddHeaderTree {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub always: bool,
}

crate::config::settings::files_settings! {
    crate::config::settings::layer_struct! {
        /// The inheritable file settings of one block (all optional; the scalar ones
        /// are declared in `config::settings`).
        #[derive(Debug, Default, Clone, PartialEq, Eq)]
        pub struct FileLayer {
            pub root: Option<At<String>>,
            pub alias: Option<At<String>>,
            pub index: Option<Vec<String>>,
            pub autoindex: Option<bool>,
            pub autoindex_format: Option<AutoindexFormat>,
            pub default_type: Option<String>,
            pub allow_symlinks_outside_root: Option<bool>,
            pub if_modified_since: Option<super::model::IfModifiedSince>,
        }
    }
}

crate::config::settings::conn_settings! { crate::config::settings::server_settings! {
    crate::config::settings::layer_struct! {
        /// The inheritable connection settings of one block (all optional; the scalar ones
        /// are declared in `config::settings`).
        #[derive(Debug, Default, Clone, PartialEq, Eq)]
        pub struct HttpLayer {
            pub keepalive_timeout: Option<Duration>,
            pub client_max_body_size: Option<u64>,
            pub server_tokens: Option<bool>,
            /// `keepalive_timeout`'s second argument (the `Keep-Alive: timeout=` header).
            pub keepalive_header: Option<Duration>,
            /// `keepalive_disable` words as written (`none`, `msie6`, `safari`).
            pub keepalive_disable: Option<Vec<String>>,
            pub client_body_buffer_size: Option<u64>,
            pub client_body_temp_path: Option<At<TempPathTree>>,
            /// `client_body_in_file_only` word as written (`on`, `clean`, `off`).
            pub client_body_in_file_only: Option<String>,
            pub client_body_in_single_buffer: Option<bool>,
            pub client_header_buffer_size: Option<u64>,
        }
    }
} }

/// `client_body_temp_path path [level1 [level2 [level3]]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempPathTree {
    pub path: String,
    /// Digits of the hashed name per directory level (each 1 or 2).
    pub levels: Vec<u8>,
}

/// `error_log stderr|path [level]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawErrorLog {
    pub target: String,
    pub level: Option<String>,
}

/// `access_log off` or `access_log path [format] [buffer=] [flush=] [if=] [rotate_*=]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawAccessLog {
    Off,
    On {
        path: String,
        /// Format name: "combined" (default), "common", "json", or a `log_format` name.
        format: Option<String>,
        buffer: Option<u64>,
        flush: Option<Duration>,
        condition: Option<String>,
        rotate: RawRotate,
    },
}

/// `rotate_size=`, `rotate_time=`, `rotate_keep=` as given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawRotate {
    pub size: Option<u64>,
    pub every: Option<Duration>,
    pub keep: Option<u32>,
}

/// `listen address:port|unix:/path [default_server] [backlog=N] [rcvbuf=SIZE]
/// [sndbuf=SIZE] [reuseport] [ssl] [proxy_protocol]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawListen {
    pub addr: SockAddr,
    pub backlog: Option<u32>,
    pub default_server: bool,
    pub ssl: bool,
    pub proxy_protocol: bool,
    pub rcvbuf: Option<u32>,
    pub sndbuf: Option<u32>,
}

impl RawListen {
    /// `listen ADDR` with no parameters.
    pub fn at(addr: SockAddr) -> RawListen {
        RawListen {
            addr,
            backlog: None,
            default_server: false,
            ssl: false,
            proxy_protocol: false,
            rcvbuf: None,
            sndbuf: None,
        }
    }
}

/// `rcvbuf=` / `sndbuf=` as nginx reads them: a size ("8k") above 0.
pub fn parse_socket_buffer(text: &str) -> Option<u32> {
    parse_size(text).ok().and_then(socket_buffer)
}

/// A socket buffer size in bytes, if the socket option (an int) can take it.
pub fn socket_buffer(bytes: u64) -> Option<u32> {
    u32::try_from(bytes)
        .ok()
        .filter(|&n| n > 0 && n <= i32::MAX as u32)
}

/// `--shards`, `shards =`, `worker_processes`: "auto" or a positive count.
pub fn parse_shards(text: &str) -> Result<ShardCount, String> {
    if text == "auto" {
        return Ok(ShardCount::Auto);
    }
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(ShardCount::Fixed(n)),
        _ => Err(format!(
            "expected \"auto\" or a number of shards ≥ 1, found {text:?}"
        )),
    }
}

/// nginx's listen address forms: "addr:port", "port", "[v6]:port", "*:port", "localhost:port".
/// nginx's port range in a listen address (1.27.3): `127.0.0.1:8182-8183` is one listen per
/// port, written out here; `None` when `text` names no range. The model holds the ports,
/// so `-T` writes them as a list.
pub fn expand_port_range(text: &str) -> Option<Result<Vec<String>, String>> {
    if text.starts_with("unix:") {
        return None;
    }
    let (host, ports) = text.rsplit_once(':')?;
    let (first, last) = ports.split_once('-')?;
    let parse = |p: &str| p.parse::<u16>().ok().filter(|&p| p > 0);
    let (Some(first), Some(last)) = (parse(first), parse(last)) else {
        return Some(Err(format!("invalid port range \"{ports}\" in \"{text}\"")));
    };
    if first > last {
        return Some(Err(format!("invalid port range \"{ports}\" in \"{text}\"")));
    }
    Some(Ok((first..=last).map(|p| format!("{host}:{p}")).collect()))
}

/// A listen address: one of the TCP forms below, or `unix:/path` (nginx's Unix-domain
/// listen; the path must not be empty).
pub fn parse_listen_addr(text: &str) -> Result<SockAddr, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(format!("no path in the unix domain socket \"{text}\""));
        }
        return Ok(SockAddr::Unix(std::sync::Arc::from(std::path::Path::new(
            path,
        ))));
    }
    parse_inet_listen_addr(text).map(SockAddr::Inet)
}

fn parse_inet_listen_addr(text: &str) -> Result<SocketAddr, String> {
    let bad = || {
        format!("expected a listen address such as \"127.0.0.1:8080\", \"8080\" or \"[::]:8080\", found {text:?}")
    };
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Some(port) = text.strip_prefix("*:") {
        let port = port.parse::<u16>().map_err(|_| bad())?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Some((host, port)) = text.rsplit_once(':') {
        if host == "localhost" {
            let port = port.parse::<u16>().map_err(|_| bad())?;
            return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
        }
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        // nginx: an address without a port listens on 80.
        return Ok(SocketAddr::new(ip, 80));
    }
    Err(bad())
}

/// A time value as nginx writes it ("75s", "500ms", "1h 30m", bare seconds).
pub fn time(text: &str) -> Result<Duration, String> {
    parse_duration(text)
}

/// A size value as nginx writes it ("8k", "1m", bare bytes).
pub fn size(text: &str) -> Result<u64, String> {
    parse_size(text)
}

/// A size read from a variable at run time (`limit_rate $x`, `set $limit_rate`): `None`
/// for an empty or invalid value.
pub fn size_value(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() {
        return None;
    }
    parse_size(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_port_ranges() {
        assert_eq!(
            expand_port_range("127.0.0.1:8182-8184"),
            Some(Ok(vec![
                "127.0.0.1:8182".to_string(),
                "127.0.0.1:8183".to_string(),
                "127.0.0.1:8184".to_string()
            ]))
        );
        assert_eq!(
            expand_port_range("[::1]:80-80"),
            Some(Ok(vec!["[::1]:80".to_string()]))
        );
        assert!(matches!(expand_port_range("127.0.0.1:9-8"), Some(Err(_))));
        assert!(matches!(expand_port_range("127.0.0.1:0-8"), Some(Err(_))));
        assert_eq!(expand_port_range("127.0.0.1:8080"), None);
        assert_eq!(expand_port_range("[::1]:8080"), None);
        assert_eq!(expand_port_range("unix:/tmp/a-b/s.sock"), None);
    }

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen_addr("8080").unwrap(),
            "0.0.0.0:8080".parse().unwrap()
        );
        assert_eq!(
            parse_listen_addr("[::]:80").unwrap(),
            "[::]:80".parse().unwrap()
        );
        assert_eq!(
            parse_listen_addr("*:81").unwrap(),
            "0.0.0.0:81".parse().unwrap()
        );
        assert_eq!(
            parse_listen_addr("127.0.0.2").unwrap(),
            "127.0.0.2:80".parse().unwrap()
        );
        assert!(parse_listen_addr("nowhere").is_err());
        assert!(parse_listen_addr("1.2.3.4:99999").is_err());
    }
}
