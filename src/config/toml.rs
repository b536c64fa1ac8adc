//! Front-end 1: the native TOML format → [`super::model::Config`].
//!
//! serde with `deny_unknown_fields` reads the file into raw blocks (`[main]`, `[http]`,
//! `[[server]]`, `[[server.location]]`); values are checked while they are read so that every
//! error carries its line; `resolve` then merges the blocks (location ← server ← http ←
//! built-in defaults), exactly as nginx inherits directives.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;
use toml::Spanned;

use super::model::{AccessLogFormat, AutoindexFormat, MatchKind, ShardCount};
use super::resolve;
use super::units::{parse_duration, parse_size};
use super::{Config, ConfigError, ConfigErrors};

/// A time value: "75s", "500ms" or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time(pub Duration);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumberOrText::deserialize(d)? {
            NumberOrText::Number(n) if n >= 0 => Ok(Time(Duration::from_secs(n as u64))),
            NumberOrText::Number(n) => Err(de::Error::custom(format!(
                "expected a time such as \"75s\", found {n}"
            ))),
            NumberOrText::Text(t) => parse_duration(&t).map(Time).map_err(de::Error::custom),
        }
    }
}

/// A size value: "8k", "1m" or a number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumberOrText::deserialize(d)? {
            NumberOrText::Number(n) if n >= 0 => Ok(Size(n as u64)),
            NumberOrText::Number(n) => Err(de::Error::custom(format!(
                "expected a size such as \"8k\", found {n}"
            ))),
            NumberOrText::Text(t) => parse_size(&t).map(Size).map_err(de::Error::custom),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for ShardCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumberOrText::deserialize(d)? {
            NumberOrText::Text(t) if t == "auto" => Ok(ShardCount::Auto),
            NumberOrText::Number(n) if n >= 1 => Ok(ShardCount::Fixed(n as usize)),
            NumberOrText::Text(t) => parse_shards(&t).map_err(de::Error::custom),
            NumberOrText::Number(n) => Err(de::Error::custom(format!(
                "expected \"auto\" or a number of shards ≥ 1, found {n}"
            ))),
        }
    }
}

/// `--shards` / `shards =` / `worker_processes`: "auto" or a positive count.
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

/// `listen`: "127.0.0.1:8080", "8080", "[::]:8080", "*:80", or a table with options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawListen {
    pub addr: SocketAddr,
    pub backlog: Option<u32>,
    pub default_server: bool,
}

impl<'de> Deserialize<'de> for RawListen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            addr: String,
            backlog: Option<u32>,
            #[serde(default)]
            default_server: bool,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            Port(u16),
            Table(Table),
        }
        let form = Form::deserialize(d).map_err(|_| {
            de::Error::custom(
                "expected \"address:port\", a port number, or { addr = \"…\", backlog = N, default_server = true }",
            )
        })?;
        match form {
            Form::Port(port) => Ok(RawListen {
                addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
                backlog: None,
                default_server: false,
            }),
            Form::Text(t) => parse_listen_addr(&t)
                .map(|addr| RawListen {
                    addr,
                    backlog: None,
                    default_server: false,
                })
                .map_err(de::Error::custom),
            Form::Table(t) => {
                let addr = parse_listen_addr(&t.addr).map_err(de::Error::custom)?;
                Ok(RawListen {
                    addr,
                    backlog: t.backlog,
                    default_server: t.default_server,
                })
            }
        }
    }
}

/// nginx's listen address forms: "addr:port", "port", "[v6]:port", "*:port".
pub fn parse_listen_addr(text: &str) -> Result<SocketAddr, String> {
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
    Err(bad())
}

/// Settings that inherit http → server → location, written once for all three blocks.
macro_rules! inheritable_block {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            pub root: Option<String>,
            pub alias: Option<String>,
            pub index: Option<Vec<String>>,
            pub autoindex: Option<bool>,
            pub autoindex_format: Option<RawAutoindexFormat>,
            pub default_type: Option<String>,
            pub allow_dotfiles: Option<bool>,
            pub allow_symlinks_outside_root: Option<bool>,
            pub etag: Option<bool>,
            pub memory_cache_max_file: Option<Size>,
            pub memory_cache_bytes: Option<Size>,
            pub max_ranges: Option<usize>,
        }

        impl $name {
            /// The file settings this block sets, for `resolve` to layer.
            pub fn file_layer(&self) -> FileLayer {
                FileLayer {
                    root: self.root.clone(),
                    alias: self.alias.clone(),
                    index: self.index.clone(),
                    autoindex: self.autoindex,
                    autoindex_format: self.autoindex_format,
                    default_type: self.default_type.clone(),
                    allow_dotfiles: self.allow_dotfiles,
                    allow_symlinks_outside_root: self.allow_symlinks_outside_root,
                    etag: self.etag,
                    memory_cache_max_file: self.memory_cache_max_file,
                    memory_cache_bytes: self.memory_cache_bytes,
                    max_ranges: self.max_ranges,
                }
            }
        }
    };
}

/// Connection settings that inherit http → server.
macro_rules! connection_block {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        inheritable_block! {
            $(#[$meta])*
            $name {
                $($(#[$fmeta])* $field: $ty,)*
                client_header_timeout: Option<Time>,
                client_body_timeout: Option<Time>,
                keepalive_timeout: Option<Time>,
                keepalive_requests: Option<u64>,
                send_timeout: Option<Time>,
                client_max_body_size: Option<Size>,
                max_request_line: Option<Size>,
                max_header_bytes: Option<Size>,
                max_headers: Option<usize>,
                server_tokens: Option<bool>,
                merge_slashes: Option<bool>,
                access_log: Option<RawAccessLog>,
            }
        }

        impl $name {
            /// The connection settings this block sets, for `resolve` to layer.
            pub fn http_layer(&self) -> HttpLayer {
                HttpLayer {
                    client_header_timeout: self.client_header_timeout,
                    client_body_timeout: self.client_body_timeout,
                    keepalive_timeout: self.keepalive_timeout,
                    keepalive_requests: self.keepalive_requests,
                    send_timeout: self.send_timeout,
                    client_max_body_size: self.client_max_body_size,
                    max_request_line: self.max_request_line,
                    max_header_bytes: self.max_header_bytes,
                    max_headers: self.max_headers,
                    server_tokens: self.server_tokens,
                    merge_slashes: self.merge_slashes,
                    access_log: self.access_log.clone(),
                }
            }
        }
    };
}

/// The inheritable file settings of one block (all optional).
#[derive(Debug, Default, Clone)]
pub struct FileLayer {
    pub root: Option<String>,
    pub alias: Option<String>,
    pub index: Option<Vec<String>>,
    pub autoindex: Option<bool>,
    pub autoindex_format: Option<RawAutoindexFormat>,
    pub default_type: Option<String>,
    pub allow_dotfiles: Option<bool>,
    pub allow_symlinks_outside_root: Option<bool>,
    pub etag: Option<bool>,
    pub memory_cache_max_file: Option<Size>,
    pub memory_cache_bytes: Option<Size>,
    pub max_ranges: Option<usize>,
}

/// The inheritable connection settings of one block (all optional).
#[derive(Debug, Default, Clone)]
pub struct HttpLayer {
    pub client_header_timeout: Option<Time>,
    pub client_body_timeout: Option<Time>,
    pub keepalive_timeout: Option<Time>,
    pub keepalive_requests: Option<u64>,
    pub send_timeout: Option<Time>,
    pub client_max_body_size: Option<Size>,
    pub max_request_line: Option<Size>,
    pub max_header_bytes: Option<Size>,
    pub max_headers: Option<usize>,
    pub server_tokens: Option<bool>,
    pub merge_slashes: Option<bool>,
    pub access_log: Option<RawAccessLog>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawAutoindexFormat {
    Html,
    Json,
}

impl From<RawAutoindexFormat> for AutoindexFormat {
    fn from(f: RawAutoindexFormat) -> Self {
        match f {
            RawAutoindexFormat::Html => AutoindexFormat::Html,
            RawAutoindexFormat::Json => AutoindexFormat::Json,
        }
    }
}

/// `access_log = "path"`, `false` (off), or `{ path, format, buffer, flush }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawAccessLog {
    Off,
    On {
        path: String,
        format: AccessLogFormat,
        buffer: Option<u64>,
        flush: Option<Duration>,
    },
}

impl<'de> Deserialize<'de> for RawAccessLog {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            path: String,
            format: Option<String>,
            buffer: Option<Size>,
            flush: Option<Time>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Switch(bool),
            Path(String),
            Table(Table),
        }
        let form = Form::deserialize(d).map_err(|_| {
            de::Error::custom("expected a path, false, or { path = \"…\", format = \"combined\"|\"json\", buffer = \"64k\", flush = \"1s\" }")
        })?;
        match form {
            Form::Switch(false) => Ok(RawAccessLog::Off),
            Form::Switch(true) => Err(de::Error::custom(
                "access_log = true names no file: give a path",
            )),
            Form::Path(p) if p == "off" => Ok(RawAccessLog::Off),
            Form::Path(path) => Ok(RawAccessLog::On {
                path,
                format: AccessLogFormat::Combined,
                buffer: None,
                flush: None,
            }),
            Form::Table(t) => {
                let format = match t.format.as_deref() {
                    None | Some("combined") => AccessLogFormat::Combined,
                    Some("json") => AccessLogFormat::Json,
                    Some(other) => {
                        return Err(de::Error::custom(format!(
                            "unknown access log format {other:?}: expected \"combined\" or \"json\""
                        )))
                    }
                };
                Ok(RawAccessLog::On {
                    path: t.path,
                    format,
                    buffer: t.buffer.map(|s| s.0),
                    flush: t.flush.map(|t| t.0),
                })
            }
        }
    }
}

/// `[main]`: process-wide settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMain {
    pub shards: Option<ShardCount>,
    /// "stderr" or a path.
    pub error_log: Option<String>,
    pub error_log_level: Option<String>,
    /// An nginx-format mime.types file, relative to the configuration's directory.
    pub mime_types: Option<String>,
}

connection_block! {
    /// `[http]`: defaults every server and location inherits.
    RawHttp {}
}

connection_block! {
    /// `[[server]]`.
    RawServer {
        listen: Vec<RawListen>,
        server_name: Option<Vec<String>>,
        #[serde(default)]
        location: Vec<Spanned<RawLocation>>,
    }
}

/// `return = { status = 301, text = "https://…" }` or `return = 204`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReturn {
    pub status: u16,
    pub text: Option<String>,
}

impl<'de> Deserialize<'de> for RawReturn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            status: u16,
            text: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Status(u16),
            Table(Table),
        }
        let form = Form::deserialize(d).map_err(|_| {
            de::Error::custom("expected a status code or { status = 301, text = \"URL or body\" }")
        })?;
        let (status, text) = match form {
            Form::Status(s) => (s, None),
            Form::Table(t) => (t.status, t.text),
        };
        if !(100..=999).contains(&status) || (100..200).contains(&status) {
            return Err(de::Error::custom(format!(
                "return status must be 200–999, found {status}"
            )));
        }
        Ok(RawReturn { status, text })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawMatch {
    Prefix,
    Exact,
    PrefixNoRegex,
}

impl From<RawMatch> for MatchKind {
    fn from(m: RawMatch) -> Self {
        match m {
            RawMatch::Prefix => MatchKind::Prefix,
            RawMatch::Exact => MatchKind::Exact,
            RawMatch::PrefixNoRegex => MatchKind::PrefixNoRegex,
        }
    }
}

inheritable_block! {
    /// `[[server.location]]`.
    RawLocation {
        path: String,
        #[serde(rename = "match")]
        match_kind: Option<RawMatch>,
        #[serde(rename = "return")]
        return_action: Option<RawReturn>,
    }
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub main: RawMain,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub server: Vec<Spanned<RawServer>>,
}

/// Line number (1-based) of a byte offset in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Parses TOML text; relative paths resolve against `base_dir` (the configuration's folder).
pub fn parse(text: &str, file: Option<&Path>, base_dir: &Path) -> Result<Config, ConfigErrors> {
    let raw: RawConfig = ::toml::from_str(text).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.map(Path::to_path_buf),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().trim().to_string(),
        }])
    })?;
    let ctx = resolve::Context {
        text,
        file: file.map(Path::to_path_buf),
        base_dir: PathBuf::from(base_dir),
    };
    resolve::resolve(&raw, &ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<ConfigError> {
        match parse(text, Some(Path::new("t.toml")), Path::new("/srv")) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = errors("[[server]]\nlisten = [\"127.0.0.1:1\"]\nbogus = 1\n");
        assert_eq!(e[0].line, Some(3));
        assert!(e[0].message.contains("bogus"), "{}", e[0].message);
    }

    #[test]
    fn bad_duration_names_line() {
        let e = errors("[http]\n\nkeepalive_timeout = \"10x\"\n");
        assert_eq!(e[0].line, Some(3));
        assert!(e[0].message.contains("expected a time"), "{}", e[0].message);
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
        assert!(parse_listen_addr("nowhere").is_err());
        assert!(parse_listen_addr("1.2.3.4:99999").is_err());
    }

    #[test]
    fn full_example_parses() {
        let cfg = parse(
            r#"
            [main]
            shards = "auto"
            [http]
            keepalive_timeout = "5s"
            server_tokens = false
            [[server]]
            listen = ["127.0.0.1:8080", { addr = "[::1]:8080", default_server = true, backlog = 511 }]
            server_name = ["example.com"]
            root = "html"
            access_log = { path = "logs/access.log", format = "json" }
            [[server.location]]
            path = "/"
            index = ["index.html", "index.htm"]
            [[server.location]]
            path = "/health"
            match = "exact"
            return = { status = 200, text = "ok" }
            "#,
            None,
            Path::new("/srv"),
        )
        .unwrap();
        assert_eq!(cfg.shards, ShardCount::Auto);
        let s = &cfg.servers[0];
        assert_eq!(s.listen.len(), 2);
        assert_eq!(s.listen[1].backlog, 511);
        assert!(s.listen[1].default_server);
        assert_eq!(s.http.keepalive_timeout, Duration::from_secs(5));
        assert!(!s.http.server_tokens);
        assert_eq!(s.locations[0].files.root, PathBuf::from("/srv/html"));
        assert_eq!(s.locations[1].match_kind, MatchKind::Exact);
    }
}
