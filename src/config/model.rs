//! The resolved configuration model: what every shard reads.
//!
//! Front-ends (`config::toml` today, nginx syntax later) produce exactly this; inheritance and
//! defaults are already applied, so the request path never looks anything up twice. A `Config`
//! is immutable once built and shared between shards as one `Arc<Config>` snapshot.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::http::mime::MimeTypes;

/// The whole configuration of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this snapshot was loaded from (`None` for the embedded default).
    pub source: Option<PathBuf>,
    /// How many shards to run (`worker_processes` in nginx).
    pub shards: ShardCount,
    /// Error log destination and level (`error_log` in nginx).
    pub error_log: ErrorLog,
    /// Every virtual server, in configuration order.
    pub servers: Vec<Server>,
    /// Extension → MIME type (`types` / `include mime.types` in nginx).
    pub mime: MimeTypes,
}

/// `--shards auto|N`, `worker_processes auto|N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardCount {
    /// One shard per core the process may run on.
    Auto,
    /// The first N cores.
    Fixed(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorLog {
    pub target: LogTarget,
    pub level: log::LevelFilter,
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
    /// `server_name`; empty means "any".
    pub names: Vec<String>,
    pub http: HttpSettings,
    /// `access_log`; `None` is `access_log off`.
    pub access_log: Option<AccessLog>,
    /// Locations in configuration order; routing picks by nginx rules.
    pub locations: Vec<Location>,
}

/// `listen address:port [default_server] [backlog=N]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Listen {
    pub addr: SocketAddr,
    pub backlog: u32,
    pub default_server: bool,
}

/// Connection and request limits of a server (nginx's core http directives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// `client_header_timeout`: the whole request head must arrive within this (→ 408).
    pub client_header_timeout: Duration,
    /// `client_body_timeout`: gap allowed between two reads of a request body (→ 408).
    pub client_body_timeout: Duration,
    /// `keepalive_timeout`: how long an idle keep-alive connection is kept; zero disables keep-alive.
    pub keepalive_timeout: Duration,
    /// `keepalive_requests`: requests served on one connection before it is closed.
    pub keepalive_requests: u64,
    /// `send_timeout`: gap allowed between two successful writes to the client.
    pub send_timeout: Duration,
    /// `client_max_body_size` in bytes; 0 means unlimited (→ 413 when exceeded).
    pub client_max_body_size: u64,
    /// Longest request line in bytes (→ 414). nginx: `large_client_header_buffers` size.
    pub max_request_line: usize,
    /// Largest request head (request line + headers) in bytes (→ 431).
    pub max_header_bytes: usize,
    /// Most header fields in one request (→ 431).
    pub max_headers: usize,
    /// `server_tokens`: `Server: anx/VERSION` when on, `Server: anx` when off.
    pub server_tokens: bool,
    /// `merge_slashes`.
    pub merge_slashes: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            client_header_timeout: Duration::from_secs(60),
            client_body_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(75),
            keepalive_requests: 1000,
            send_timeout: Duration::from_secs(60),
            client_max_body_size: 1024 * 1024,
            max_request_line: 8 * 1024,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            server_tokens: true,
            merge_slashes: true,
        }
    }
}

/// `access_log path [format]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLog {
    pub path: PathBuf,
    pub format: AccessLogFormat,
    /// Bytes buffered per shard before a write (`buffer=`).
    pub buffer_bytes: usize,
    /// Longest time a line may sit in the buffer (`flush=`).
    pub flush: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLogFormat {
    /// nginx's `combined`.
    Combined,
    /// One JSON object per line.
    Json,
}

/// How a location's path is matched (nginx's modifiers; regex comes with the nginx front-end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// `location = /x`
    Exact,
    /// `location ^~ /x`: longest prefix, and stops the regex search.
    PrefixNoRegex,
    /// `location /x`
    Prefix,
}

/// One `location {}` with everything it inherited already merged in.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub match_kind: MatchKind,
    /// The path the location matches (already normalised, no modifier).
    pub path: Vec<u8>,
    pub handler: Handler,
    pub files: FileSettings,
}

/// The content handler of a location: exactly one runs per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handler {
    /// Serve files from `files.root` / `files.alias`.
    Static,
    /// `return code [text|URL]`.
    Return(ReturnAction),
}

/// `return code [text]` / `return 3xx URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnAction {
    pub status: u16,
    /// Body for non-redirects, URL (Location header) for 301/302/303/307/308.
    pub text: Option<String>,
}

/// Static-file settings of a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSettings {
    /// `root`: the URI is appended to it.
    pub root: PathBuf,
    /// `alias`: the location prefix is replaced by it.
    pub alias: Option<PathBuf>,
    /// `index` files tried in order for a directory request.
    pub index: Vec<String>,
    /// `autoindex on` with its `autoindex_format`.
    pub autoindex: Option<AutoindexFormat>,
    /// `default_type` when no extension matches.
    pub default_type: String,
    /// Serve names starting with '.' (nginx serves them; anx refuses them by default).
    pub allow_dotfiles: bool,
    /// Follow symlinks that leave the root (`disable_symlinks off` in nginx terms).
    pub allow_symlinks_outside_root: bool,
    /// `etag on|off`.
    pub etag: bool,
    /// Files up to this size are kept in the shard's memory cache (0 disables the cache).
    pub memory_cache_max_file: u64,
    /// Bound of the shard's memory cache in bytes.
    pub memory_cache_bytes: u64,
    /// Ranges allowed in one request before the full body is sent (`max_ranges`).
    pub max_ranges: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoindexFormat {
    Html,
    Json,
}

impl Default for FileSettings {
    fn default() -> Self {
        FileSettings {
            root: PathBuf::from("html"),
            alias: None,
            index: vec!["index.html".to_string()],
            autoindex: None,
            default_type: "text/plain".to_string(),
            allow_dotfiles: false,
            allow_symlinks_outside_root: false,
            etag: true,
            memory_cache_max_file: 64 * 1024,
            memory_cache_bytes: 64 * 1024 * 1024,
            max_ranges: 16,
        }
    }
}

impl Config {
    /// Every distinct listen address across servers (one socket per address per shard).
    pub fn listen_addrs(&self) -> Vec<Listen> {
        let mut out: Vec<Listen> = Vec::new();
        for server in &self.servers {
            for l in &server.listen {
                if let Some(existing) = out.iter_mut().find(|e| e.addr == l.addr) {
                    existing.backlog = existing.backlog.max(l.backlog);
                } else {
                    out.push(*l);
                }
            }
        }
        out
    }
}
