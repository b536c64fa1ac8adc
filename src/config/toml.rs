//! Front-end 1: the native TOML format → [`super::tree::ConfigTree`] → the model.
//!
//! serde with `deny_unknown_fields` reads the file into raw blocks (`[main]`, `[http]`,
//! `[[http.map]]`, `[[http.log_format]]`, `[[server]]`, `[[server.location]]`, nested
//! `[[…location.location]]`); values with units are checked while they are read so that every
//! error carries its line. The blocks become the same tree the nginx front-end builds, and
//! `resolve` merges and compiles it. Rewrite-module directives (`rewrite`, `return`, `set`,
//! `if`, `break`) are an imperative little language, so the `rewrite` key holds them in nginx
//! syntax rather than in a third notation invented for TOML.

mod geo;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;
use toml::Spanned;

use super::model::{AutoindexFormat, CpuAffinity, ShardCount};
use super::tree::{
    self, AddHeaderTree, At, ConfigTree, FileLayer, HttpLayer, Layers, LocationTree, LogFormatTree,
    MainSettings, MapTree, MimeSource, Origin, ProxyHeaderTree, ProxyLayer, RawAccessLog,
    RawBalance, RawErrorLog, RawHealthCheck, RawListen, RawMatch, RawPeer, RawRedirect, RawRotate,
    RawUser, ServerTree, StepTree, TlsLayer, UpstreamTree,
};
use super::units::{parse_duration, parse_size};
use super::{resolve, Config, ConfigError, ConfigErrors};
use crate::http::mime::MimeTypes;

pub use super::tree::{parse_listen_addr, parse_shards};

/// A time value: "75s", "500ms" or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time(pub Duration);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number_or_text(
            d,
            0,
            "a time such as \"75s\"",
            |n| Time(Duration::from_secs(n)),
            |t| parse_duration(t).map(Time),
        )
    }
}

/// A size value: "8k", "1m" or a number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number_or_text(d, 0, "a size such as \"8k\"", Size, |t| {
            parse_size(t).map(Size)
        })
    }
}

impl<'de> Deserialize<'de> for ShardCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number_or_text(
            d,
            1,
            "\"auto\" or a number of shards ≥ 1",
            |n| ShardCount::Fixed(n as usize),
            parse_shards,
        )
    }
}

/// A value written as a bare number (at least `min`, turned into `T` by `number`) or as
/// text with units (`text`); `expected` describes it for the error on a smaller number.
fn number_or_text<'de, D: Deserializer<'de>, T>(
    d: D,
    min: i64,
    expected: &str,
    number: impl FnOnce(u64) -> T,
    text: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Number(i64),
        Text(String),
    }
    match NumberOrText::deserialize(d)? {
        // `min` ≥ 0, so the number is not negative.
        NumberOrText::Number(n) if n >= min => Ok(number(n as u64)),
        NumberOrText::Number(n) => {
            Err(de::Error::custom(format!("expected {expected}, found {n}")))
        }
        NumberOrText::Text(t) => text(&t).map_err(de::Error::custom),
    }
}

/// Deserializes the untagged enum `T`, naming the forms a key accepts (`expected`) where
/// serde would say only that the data matched no variant.
fn one_of<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
    expected: &str,
) -> Result<T, D::Error> {
    T::deserialize(d).map_err(|_| de::Error::custom(expected))
}

/// `client_body_temp_path = "dir"` or `{ path = "dir", levels = [1, 2] }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TomlTempPath {
    Path(String),
    Full {
        path: String,
        #[serde(default)]
        levels: Vec<u8>,
    },
}

impl TomlTempPath {
    fn tree(&self) -> crate::config::tree::TempPathTree {
        let (path, levels) = match self {
            TomlTempPath::Path(p) => (p.clone(), Vec::new()),
            TomlTempPath::Full { path, levels } => (path.clone(), levels.clone()),
        };
        crate::config::tree::TempPathTree { path, levels }
    }
}

/// A key that takes one value or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(o) => vec![o],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `cpu_affinity = "auto"` or `["0101", "1010"]` (nginx's `worker_cpu_affinity` masks).
#[derive(Debug)]
struct TomlAffinity(CpuAffinity);

impl<'de> Deserialize<'de> for TomlAffinity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Word(String),
            Masks(Vec<String>),
        }
        const EXPECTED: &str = "expected \"auto\" or a list of CPU masks such as [\"01\", \"10\"]";
        let bad = || de::Error::custom(EXPECTED);
        match one_of(d, EXPECTED)? {
            Form::Word(w) if w == "auto" => Ok(TomlAffinity(CpuAffinity::Auto)),
            Form::Word(_) => Err(bad()),
            Form::Masks(masks) => {
                let mut sets = Vec::new();
                for m in &masks {
                    sets.push(parse_cpu_mask(m).map_err(de::Error::custom)?);
                }
                if sets.is_empty() {
                    return Err(bad());
                }
                Ok(TomlAffinity(CpuAffinity::Sets(sets)))
            }
        }
    }
}

/// nginx's CPU mask "0101": the rightmost character is CPU 0.
pub fn parse_cpu_mask(mask: &str) -> Result<Vec<usize>, String> {
    if mask.is_empty() || mask.len() > 1024 || !mask.bytes().all(|b| b == b'0' || b == b'1') {
        return Err(format!(
            "invalid CPU mask {mask:?}: expected 0s and 1s such as \"0101\""
        ));
    }
    let cpus: Vec<usize> = mask
        .bytes()
        .rev()
        .enumerate()
        .filter(|(_, b)| *b == b'1')
        .map(|(i, _)| i)
        .collect();
    if cpus.is_empty() {
        return Err(format!("CPU mask {mask:?} selects no CPU"));
    }
    Ok(cpus)
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
            #[serde(default)]
            ssl: bool,
            #[serde(default)]
            proxy_protocol: bool,
            rcvbuf: Option<Size>,
            sndbuf: Option<Size>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            Port(u16),
            Table(Table),
        }
        let form = one_of(
            d,
            "expected \"address:port\", \"unix:/path\", a port number, or { addr = \"…\", backlog = N, default_server = true, ssl = true, proxy_protocol = true, rcvbuf = \"64k\", sndbuf = \"64k\" }",
        )?;
        let addr = |text: &str| parse_listen_addr(text).map_err(de::Error::custom);
        let table = match form {
            Form::Port(port) => return Ok(RawListen::at(addr(&port.to_string())?)),
            Form::Text(t) => return Ok(RawListen::at(addr(&t)?)),
            Form::Table(t) => t,
        };
        let buffer = |size: Option<Size>| {
            size.map(|s| {
                crate::config::tree::socket_buffer(s.0)
                    .ok_or_else(|| de::Error::custom(format!("invalid buffer size {}", s.0)))
            })
            .transpose()
        };
        Ok(RawListen {
            addr: addr(&table.addr)?,
            backlog: table.backlog,
            default_server: table.default_server,
            ssl: table.ssl,
            proxy_protocol: table.proxy_protocol,
            rcvbuf: buffer(table.rcvbuf)?,
            sndbuf: buffer(table.sndbuf)?,
        })
    }
}

/// `access_log = "path"`, `false` (off), `{ path, format, buffer, flush, if }`, or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TomlAccessLogs(Vec<RawAccessLog>);

impl<'de> Deserialize<'de> for TomlAccessLogs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            path: String,
            format: Option<String>,
            buffer: Option<Size>,
            flush: Option<Time>,
            #[serde(rename = "if")]
            condition: Option<String>,
            rotate_size: Option<Size>,
            rotate_time: Option<Time>,
            rotate_keep: Option<u32>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum One {
            Switch(bool),
            Path(String),
            Table(Table),
        }
        let ones = one_of::<OneOrMany<One>, _>(
            d,
            "expected a path, false, { path = \"…\", format = \"combined\", buffer = \"64k\", flush = \"1s\", if = \"$var\" }, or a list of those",
        )?
        .into_vec();
        let mut out = Vec::new();
        for one in ones {
            out.push(match one {
                One::Switch(false) => RawAccessLog::Off,
                One::Switch(true) => {
                    return Err(de::Error::custom(
                        "access_log = true names no file: give a path",
                    ))
                }
                One::Path(p) if p == "off" => RawAccessLog::Off,
                One::Path(path) => RawAccessLog::On {
                    path,
                    format: None,
                    buffer: None,
                    flush: None,
                    condition: None,
                    rotate: RawRotate::default(),
                },
                One::Table(t) => RawAccessLog::On {
                    path: t.path,
                    format: t.format,
                    buffer: t.buffer.map(|s| s.0),
                    flush: t.flush.map(|t| t.0),
                    condition: t.condition,
                    rotate: RawRotate {
                        size: t.rotate_size.map(|s| s.0),
                        every: t.rotate_time.map(|t| t.0),
                        keep: t.rotate_keep,
                    },
                },
            });
        }
        Ok(TomlAccessLogs(out))
    }
}

/// `error_log = "path"`, `"stderr"`, `{ path = "…", level = "warn" }`, or a list of those.
#[derive(Debug)]
struct TomlErrorLogs(Vec<RawErrorLog>);

impl<'de> Deserialize<'de> for TomlErrorLogs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            path: String,
            level: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum One {
            Path(String),
            Table(Table),
        }
        let ones = one_of::<OneOrMany<One>, _>(
            d,
            "expected \"stderr\", a path, { path = \"…\", level = \"warn\" }, or a list of those",
        )?
        .into_vec();
        Ok(TomlErrorLogs(
            ones.into_iter()
                .map(|one| match one {
                    One::Path(target) => RawErrorLog {
                        target,
                        level: None,
                    },
                    One::Table(t) => RawErrorLog {
                        target: t.path,
                        level: t.level,
                    },
                })
                .collect(),
        ))
    }
}

/// `error_page = [{ codes = [404], target = "/404.html", status = 200 | "target" }]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlErrorPage {
    codes: Vec<u16>,
    target: String,
    status: Option<ErrorPageStatusForm>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ErrorPageStatusForm {
    Code(u16),
    Word(String),
}

impl TomlErrorPage {
    /// The nginx words (`404 500 =200 /x`) resolve parses for both front-ends.
    fn words(&self) -> Result<Vec<String>, String> {
        let mut words: Vec<String> = self.codes.iter().map(u16::to_string).collect();
        match &self.status {
            None => {}
            Some(ErrorPageStatusForm::Code(c)) => words.push(format!("={c}")),
            Some(ErrorPageStatusForm::Word(w)) if w == "target" => words.push("=".to_string()),
            Some(ErrorPageStatusForm::Word(w)) => {
                return Err(format!(
                    "error_page status {w:?}: expected a status code or \"target\""
                ))
            }
        }
        words.push(self.target.clone());
        Ok(words)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TomlAutoindexFormat {
    Html,
    Json,
    Xml,
    Jsonp,
}

/// `proxy_http_version = "1.1"` (a bare `1.1` is a TOML float; it is taken too).
#[derive(Debug, Clone, PartialEq, Eq)]
struct TomlHttpVersion(String);

impl<'de> Deserialize<'de> for TomlHttpVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            Float(f64),
        }
        match one_of(d, "expected \"1.0\" or \"1.1\"")? {
            Form::Text(t) => Ok(TomlHttpVersion(t)),
            // `{:?}` keeps the ".0" of 1.0.
            Form::Float(f) => Ok(TomlHttpVersion(format!("{f:?}"))),
        }
    }
}

/// `proxy_redirect = "default" | "off" | false | ["default", { from = "…", to = "…" }]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TomlRedirects(Vec<RawRedirect>);

impl<'de> Deserialize<'de> for TomlRedirects {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Rule {
            from: String,
            to: String,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum One {
            Switch(bool),
            Word(String),
            Rule(Rule),
        }
        let ones = one_of::<OneOrMany<One>, _>(
            d,
            "expected \"default\", \"off\", false, { from = \"…\", to = \"…\" }, or a list of those",
        )?
        .into_vec();
        let mut out = Vec::new();
        for one in ones {
            out.push(match one {
                One::Switch(false) => RawRedirect::Off,
                One::Word(w) if w == "off" => RawRedirect::Off,
                One::Word(w) if w == "default" => RawRedirect::Default,
                One::Switch(true) | One::Word(_) => {
                    return Err(de::Error::custom(
                        "proxy_redirect: expected \"default\", \"off\" or { from, to }",
                    ))
                }
                One::Rule(r) => RawRedirect::Rule {
                    from: r.from,
                    to: r.to,
                },
            });
        }
        Ok(TomlRedirects(out))
    }
}

/// Settings every block may set (http, server, location), written once for all of them.
/// The groups of `config::settings` that follow add their keys.
macro_rules! layered_block {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }
     $([$group:ident: $layer:path => $model:path, $levels:ident in $lf:ident;
        $($(#[$smeta:meta])* $sfield:ident: $sty:ty = $sdefault:expr;
            $kind:ident, $key:ident $(, nginx $($dir:literal)+)?;)*
     ])*) => {
        $(#[$meta])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $name {
            $($(#[$fmeta])* $field: $ty,)*
            $($($key: Option<<
                $crate::config::settings::kind::$kind as $crate::config::settings::Kind<$sty>
            >::Toml>,)*)*
            root: Option<String>,
            alias: Option<String>,
            index: Option<Vec<String>>,
            autoindex: Option<bool>,
            autoindex_format: Option<TomlAutoindexFormat>,
            default_type: Option<String>,
            allow_symlinks_outside_root: Option<bool>,
            if_modified_since: Option<crate::config::model::IfModifiedSince>,
            try_files: Option<Vec<String>>,
            error_page: Option<Vec<TomlErrorPage>>,
            add_header: Option<Vec<AddHeaderTree>>,
            add_trailer: Option<Vec<AddHeaderTree>>,
            expires: Option<String>,
            absolute_redirect: Option<bool>,
            limit_rate: Option<String>,
            limit_rate_after: Option<String>,
            port_in_redirect: Option<bool>,
            server_name_in_redirect: Option<bool>,
            access_log: Option<TomlAccessLogs>,
            /// nginx's `allow`/`deny`, in order.
            access: Option<Vec<geo::TomlAccessRule>>,
            error_log: Option<TomlErrorLogs>,
            proxy_set_header: Option<Vec<ProxyHeaderTree>>,
            proxy_hide_header: Option<Vec<String>>,
            proxy_pass_header: Option<Vec<String>>,
            proxy_http_version: Option<TomlHttpVersion>,
            proxy_method: Option<String>,
            proxy_redirect: Option<TomlRedirects>,
            proxy_next_upstream: Option<Vec<String>>,
            proxy_ssl_verify: Option<bool>,
            proxy_ssl_trusted_certificate: Option<String>,
            proxy_ssl_verify_depth: Option<u32>,
            proxy_ssl_server_name: Option<bool>,
            proxy_ssl_name: Option<String>,
            proxy_ssl_certificate: Option<String>,
            proxy_ssl_certificate_key: Option<String>,
            proxy_ssl_password_file: Option<String>,
            proxy_ssl_crl: Option<String>,
            proxy_ssl_protocols: Option<Vec<String>>,
            proxy_ssl_session_reuse: Option<bool>,
            keepalive_timeout: Option<Time>,
            /// `keepalive_timeout`'s second argument.
            keepalive_header_timeout: Option<Time>,
            keepalive_disable: Option<OneOrMany<String>>,
            server_tokens: Option<bool>,
            client_max_body_size: Option<Size>,
            client_body_buffer_size: Option<Size>,
            client_body_temp_path: Option<TomlTempPath>,
            client_body_in_file_only: Option<String>,
            client_body_in_single_buffer: Option<bool>,
            resolver: Option<Vec<String>>,
            proxy_cookie_domain: Option<Vec<Vec<String>>>,
            proxy_cookie_path: Option<Vec<Vec<String>>>,
            proxy_cookie_flags: Option<Vec<Vec<String>>>,
            proxy_set_body: Option<String>,
            proxy_bind: Option<Vec<String>>,
            proxy_ignore_headers: Option<Vec<String>>,
            /// nginx's `post_action`: `"/uri"`, `"@name"` or `"off"`.
            post_action: Option<String>,
        }

        impl $name {
            /// Everything this block sets except connection settings, as tree layers.
            fn common_layers(&self, at: &Origin, errors: &mut Vec<ConfigError>) -> Layers {
                let here = |v: &String| At::new(v.clone(), at.clone());
                let error_pages = self.error_page.as_ref().map(|pages| {
                    pages
                        .iter()
                        .filter_map(|p| match p.words() {
                            Ok(w) => Some(At::new(w, at.clone())),
                            Err(msg) => {
                                errors.push(at.error(msg));
                                None
                            }
                        })
                        .collect()
                });
                let mut layers = Layers {
                    conn: HttpLayer {
                        keepalive_timeout: self.keepalive_timeout.map(|t| t.0),
                        keepalive_header: self.keepalive_header_timeout.map(|t| t.0),
                        keepalive_disable: self
                            .keepalive_disable
                            .as_ref()
                            .map(|w| w.clone().into_vec()),
                        server_tokens: self.server_tokens,
                        client_max_body_size: self.client_max_body_size.map(|s| s.0),
                        client_body_buffer_size: self.client_body_buffer_size.map(|s| s.0),
                        client_body_temp_path: self
                            .client_body_temp_path
                            .as_ref()
                            .map(|t| At::new(t.tree(), at.clone())),
                        client_body_in_file_only: self.client_body_in_file_only.clone(),
                        client_body_in_single_buffer: self.client_body_in_single_buffer,
                        ..HttpLayer::default()
                    },
                    files: FileLayer {
                        root: self.root.as_ref().map(here),
                        alias: self.alias.as_ref().map(here),
                        index: self.index.clone(),
                        autoindex: self.autoindex,
                        autoindex_format: self.autoindex_format.map(|f| match f {
                            TomlAutoindexFormat::Html => AutoindexFormat::Html,
                            TomlAutoindexFormat::Json => AutoindexFormat::Json,
                            TomlAutoindexFormat::Xml => AutoindexFormat::Xml,
                            TomlAutoindexFormat::Jsonp => AutoindexFormat::Jsonp,
                        }),
                        default_type: self.default_type.clone(),
                        allow_symlinks_outside_root: self.allow_symlinks_outside_root,
                        if_modified_since: self.if_modified_since,
                        ..FileLayer::default()
                    },
                    try_files: self.try_files.as_ref().map(|v| At::new(v.clone(), at.clone())),
                    error_pages,
                    add_headers: self.add_header.as_ref().map(|v| {
                        v.iter().map(|h| At::new(h.clone(), at.clone())).collect()
                    }),
                    add_trailers: self.add_trailer.as_ref().map(|v| {
                        v.iter().map(|h| At::new(h.clone(), at.clone())).collect()
                    }),
                    expires: self.expires.as_ref().map(|e| {
                        At::new(e.split_whitespace().map(str::to_string).collect(), at.clone())
                    }),
                    absolute_redirect: self.absolute_redirect,
                    limit_rate: self.limit_rate.as_ref().map(here),
                    limit_rate_after: self.limit_rate_after.as_ref().map(here),
                    post_action: self.post_action.as_ref().map(here),
                    port_in_redirect: self.port_in_redirect,
                    server_name_in_redirect: self.server_name_in_redirect,
                    access_logs: self.access_log.as_ref().map(|l| {
                        l.0.iter().map(|a| At::new(a.clone(), at.clone())).collect()
                    }),
                    access: geo::access(&self.access, at, errors),
                    error_logs: self.error_log.as_ref().map(|l| {
                        l.0.iter().map(|a| At::new(a.clone(), at.clone())).collect()
                    }),
                    proxy: self.proxy_layer(at),
                    tls: TlsLayer::default(),
                };
                $($(
                    layers.$lf.$sfield = self.$key.map(<
                        $crate::config::settings::kind::$kind as $crate::config::settings::Kind<$sty>
                    >::from_toml);
                )*)*
                layers
            }

            /// The `proxy_*` keys of this block.
            fn proxy_layer(&self, at: &Origin) -> ProxyLayer {
                let here = |v: &String| At::new(v.clone(), at.clone());
                let all = |v: &Vec<String>| v.iter().map(here).collect::<Vec<_>>();
                ProxyLayer {
                    set_headers: self.proxy_set_header.as_ref().map(|v| {
                        v.iter().map(|h| At::new(h.clone(), at.clone())).collect()
                    }),
                    hide_headers: self.proxy_hide_header.as_ref().map(all),
                    pass_headers: self.proxy_pass_header.as_ref().map(all),
                    http_version: self.proxy_http_version.as_ref().map(|v| here(&v.0)),
                    method: self.proxy_method.as_ref().map(here),
                    redirect: self.proxy_redirect.as_ref().map(|r| {
                        r.0.iter().map(|r| At::new(r.clone(), at.clone())).collect()
                    }),
                    next_upstream: self
                        .proxy_next_upstream
                        .as_ref()
                        .map(|v| At::new(v.clone(), at.clone())),
                    ssl_verify: self.proxy_ssl_verify,
                    ssl_trusted_certificate: self.proxy_ssl_trusted_certificate.as_ref().map(here),
                    ssl_verify_depth: self.proxy_ssl_verify_depth,
                    ssl_server_name: self.proxy_ssl_server_name,
                    ssl_name: self.proxy_ssl_name.as_ref().map(here),
                    ssl_certificate: self.proxy_ssl_certificate.as_ref().map(here),
                    ssl_certificate_key: self.proxy_ssl_certificate_key.as_ref().map(here),
                    ssl_protocols: self
                        .proxy_ssl_protocols
                        .as_ref()
                        .map(|v| At::new(v.clone(), at.clone())),
                    ssl_session_reuse: self.proxy_ssl_session_reuse,
                    resolver: self
                        .resolver
                        .as_ref()
                        .map(|v| At::new(v.clone(), at.clone())),
                    cookie_domain: self.proxy_cookie_domain.as_ref().map(|v| {
                        v.iter().map(|w| At::new(w.clone(), at.clone())).collect()
                    }),
                    cookie_path: self.proxy_cookie_path.as_ref().map(|v| {
                        v.iter().map(|w| At::new(w.clone(), at.clone())).collect()
                    }),
                    set_body: self.proxy_set_body.as_ref().map(here),
                    ignore_headers: self
                        .proxy_ignore_headers
                        .as_ref()
                        .map(|v| At::new(v.clone(), at.clone())),
                    bind: self
                        .proxy_bind
                        .as_ref()
                        .map(|v| At::new(v.clone(), at.clone())),
                    cookie_flags: self.proxy_cookie_flags.as_ref().map(|v| {
                        v.iter().map(|w| At::new(w.clone(), at.clone())).collect()
                    }),
                    ssl_password_file: self.proxy_ssl_password_file.as_ref().map(here),
                    ssl_crl: self.proxy_ssl_crl.as_ref().map(here),
                    ..ProxyLayer::default()
                }
            }
        }
    };
}

/// Connection settings only http and server blocks may set.
/// The group of `config::settings` that follows (http and server levels) adds its keys.
macro_rules! connection_block {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }
     $([$group:ident: $layer:path => $model:path, $levels:ident in $lf:ident;
        $($(#[$smeta:meta])* $sfield:ident: $sty:ty = $sdefault:expr;
            $kind:ident, $key:ident $(, nginx $($dir:literal)+)?;)*
     ])*) => {
        $crate::config::settings::conn_settings! { $crate::config::settings::files_settings! {
        $crate::config::settings::proxy_settings! { layered_block! {
            $(#[$meta])*
            $name {
                $($(#[$fmeta])* $field: $ty,)*
                $($($key: Option<<
                    $crate::config::settings::kind::$kind as $crate::config::settings::Kind<$sty>
                >::Toml>,)*)*
                client_header_buffer_size: Option<Size>,
                ssl_certificate: Option<OneOrMany<String>>,
                ssl_certificate_key: Option<OneOrMany<String>>,
                ssl_protocols: Option<Vec<String>>,
                ssl_ciphers: Option<String>,
                ssl_prefer_server_ciphers: Option<bool>,
                ssl_ecdh_curve: Option<String>,
                ssl_session_tickets: Option<bool>,
                ssl_session_ticket_key: Option<OneOrMany<String>>,
                ssl_session_timeout: Option<Time>,
                ssl_session_cache: Option<String>,
                ssl_client_certificate: Option<String>,
                ssl_trusted_certificate: Option<String>,
                ssl_verify_client: Option<String>,
                ssl_verify_depth: Option<u32>,
                ssl_crl: Option<String>,
                ssl_stapling: Option<bool>,
                ssl_stapling_file: Option<String>,
                ssl_stapling_responder: Option<String>,
                ssl_stapling_verify: Option<bool>,
                ssl_ocsp: Option<String>,
                ssl_ocsp_responder: Option<String>,
                ssl_ocsp_cache: Option<String>,
                ssl_password_file: Option<String>,
                ssl_reject_handshake: Option<bool>,
            }
        } } } }

        impl $name {
            /// All the layers this block sets.
            fn layers(&self, at: &Origin, errors: &mut Vec<ConfigError>) -> Layers {
                let mut layers = self.common_layers(at, errors);
                layers.conn.client_header_buffer_size = self.client_header_buffer_size.map(|s| s.0);
                $($(
                    layers.$lf.$sfield = self.$key.map(<
                        $crate::config::settings::kind::$kind as $crate::config::settings::Kind<$sty>
                    >::from_toml);
                )*)*
                layers.tls = self.tls_layer(at);
                layers
            }

            /// The `ssl_*` keys of this block (nginx's names, nginx's words).
            fn tls_layer(&self, at: &Origin) -> TlsLayer {
                let here = |v: &String| At::new(v.clone(), at.clone());
                let all = |v: &OneOrMany<String>| match v {
                    OneOrMany::One(one) => vec![here(one)],
                    OneOrMany::Many(many) => many.iter().map(here).collect(),
                };
                TlsLayer {
                    certificates: self.ssl_certificate.as_ref().map(all),
                    certificate_keys: self.ssl_certificate_key.as_ref().map(all),
                    protocols: self.ssl_protocols.as_ref().map(|v| At::new(v.clone(), at.clone())),
                    ciphers: self.ssl_ciphers.as_ref().map(here),
                    prefer_server_ciphers: self.ssl_prefer_server_ciphers,
                    ecdh_curve: self.ssl_ecdh_curve.as_ref().map(here),
                    session_tickets: self.ssl_session_tickets,
                    session_ticket_keys: self.ssl_session_ticket_key.as_ref().map(all),
                    session_timeout: self.ssl_session_timeout.map(|t| t.0),
                    session_cache: self.ssl_session_cache.as_ref().map(|c| {
                        At::new(c.split_whitespace().map(str::to_string).collect(), at.clone())
                    }),
                    client_certificate: self.ssl_client_certificate.as_ref().map(here),
                    trusted_certificate: self.ssl_trusted_certificate.as_ref().map(here),
                    verify_client: self.ssl_verify_client.as_ref().map(here),
                    verify_depth: self.ssl_verify_depth,
                    crl: self.ssl_crl.as_ref().map(here),
                    stapling: self.ssl_stapling.map(|v| At::new(v, at.clone())),
                    stapling_file: self.ssl_stapling_file.as_ref().map(here),
                    stapling_responder: self.ssl_stapling_responder.as_ref().map(here),
                    stapling_verify: self.ssl_stapling_verify,
                    ocsp: self.ssl_ocsp.as_ref().map(here),
                    ocsp_responder: self.ssl_ocsp_responder.as_ref().map(here),
                    ocsp_cache: self.ssl_ocsp_cache.as_ref().map(here),
                    password_file: self.ssl_password_file.as_ref().map(here),
                    reject_handshake: self.ssl_reject_handshake,
                }
            }
        }
    };
}

/// `[main]`: process-wide settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlMain {
    shards: Option<ShardCount>,
    cpu_affinity: Option<TomlAffinity>,
    worker_connections: Option<usize>,
    /// The longest a graceful stop (SIGQUIT) waits for requests in flight.
    worker_shutdown_timeout: Option<Time>,
    pid: Option<String>,
    /// nginx's `user USER [GROUP]`, as two keys.
    user: Option<Spanned<String>>,
    group: Option<Spanned<String>>,
    /// "stderr", a path, `{ path, level }`, or a list of those.
    error_log: Option<TomlErrorLogs>,
    error_log_level: Option<String>,
    /// An nginx-format mime.types file, relative to the configuration's directory.
    mime_types: Option<String>,
    /// The MIME table inline: `"text/html" = ["html", "htm"]`.
    types: Option<BTreeMap<String, Vec<String>>>,
}

/// `[[http.map]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlMap {
    source: String,
    variable: String,
    #[serde(default)]
    hostnames: bool,
    #[serde(default)]
    volatile: bool,
    default: Option<String>,
    #[serde(default)]
    entries: Vec<(String, String)>,
}

/// `[[http.log_format]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlLogFormat {
    name: String,
    escape: Option<String>,
    format: String,
}

crate::config::settings::server_settings! { connection_block! {
    /// `[http]`: defaults every server and location inherits.
    TomlHttp {
        #[serde(default)]
        map: Vec<Spanned<TomlMap>>,
        #[serde(default)]
        geo: Vec<Spanned<geo::TomlGeo>>,
        #[serde(default)]
        split_clients: Vec<Spanned<geo::TomlSplitClients>>,
        #[serde(default)]
        log_format: Vec<Spanned<TomlLogFormat>>,
    }
} }

crate::config::settings::server_settings! { connection_block! {
    /// `[[server]]`.
    TomlServer {
        listen: Vec<RawListen>,
        server_name: Option<Vec<String>>,
        rewrite: Option<Spanned<String>>,
        #[serde(default)]
        location: Vec<Spanned<TomlLocation>>,
    }
} }

/// `return = { status = 301, text = "https://…" }` or `return = 204`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TomlReturn {
    status: u16,
    text: Option<String>,
}

impl<'de> Deserialize<'de> for TomlReturn {
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
        let form = one_of(
            d,
            "expected a status code or { status = 301, text = \"URL or body\" }",
        )?;
        let (status, text) = match form {
            Form::Status(s) => (s, None),
            Form::Table(t) => (t.status, t.text),
        };
        if status > 999 {
            return Err(de::Error::custom(format!(
                "return status must be 0–999, found {status}"
            )));
        }
        Ok(TomlReturn { status, text })
    }
}

crate::config::settings::conn_settings! { crate::config::settings::files_settings! {
crate::config::settings::proxy_settings! { layered_block! {
    /// `[[server.location]]` and nested `[[….location]]`.
    TomlLocation {
        path: String,
        #[serde(rename = "match")]
        match_kind: Option<RawMatch>,
        #[serde(default)]
        internal: bool,
        rewrite: Option<Spanned<String>>,
        #[serde(rename = "return")]
        return_action: Option<TomlReturn>,
        /// `proxy_pass = "http://app/"`: the location's handler (not inherited).
        proxy_pass: Option<String>,
        /// `status = "stub" | "json" | "prometheus" | "dashboard"`: a status page handler.
        status: Option<crate::config::model::StatusPage>,
        /// nginx's `limit_except`: `{ methods = ["GET"], proxy_pass = "..." }`.
        limit_except: Option<TomlLimitExcept>,
        #[serde(default)]
        location: Vec<Spanned<TomlLocation>>,
    }
} } } }

/// `limit_except = { methods = [...], proxy_pass = "..." }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlLimitExcept {
    methods: Vec<String>,
    proxy_pass: Option<String>,
    access: Option<Vec<geo::TomlAccessRule>>,
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlConfig {
    #[serde(default)]
    main: TomlMain,
    #[serde(default)]
    http: TomlHttp,
    #[serde(default)]
    upstream: Vec<Spanned<TomlUpstream>>,
    #[serde(default)]
    server: Vec<Spanned<TomlServer>>,
}

/// `[[upstream]]`: nginx's `upstream name {}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlUpstream {
    name: String,
    servers: Vec<RawPeer>,
    balance: Option<TomlBalance>,
    /// Idle connections kept per shard; 0 (the default) closes after each request.
    keepalive: Option<usize>,
    keepalive_timeout: Option<Time>,
    keepalive_requests: Option<u64>,
    keepalive_time: Option<Time>,
    health_check: Option<TomlHealthCheck>,
}

/// `servers = ["127.0.0.1:9001", { addr = "…", weight = 2, backup = true, … }]`.
impl<'de> Deserialize<'de> for RawPeer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            addr: String,
            weight: Option<u32>,
            max_fails: Option<u32>,
            fail_timeout: Option<Time>,
            #[serde(default)]
            backup: bool,
            #[serde(default)]
            down: bool,
            max_conns: Option<u32>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Addr(String),
            Table(Table),
        }
        let form = one_of(
            d,
            "expected \"host:port\", \"unix:/path\", or { addr = \"…\", weight = N, max_fails = N, fail_timeout = \"10s\", backup = true, down = true, max_conns = N }",
        )?;
        Ok(match form {
            Form::Addr(addr) => RawPeer {
                addr,
                ..RawPeer::default()
            },
            Form::Table(t) => {
                if t.weight == Some(0) {
                    return Err(de::Error::custom("weight must be at least 1"));
                }
                RawPeer {
                    addr: t.addr,
                    weight: t.weight,
                    max_fails: t.max_fails,
                    fail_timeout: t.fail_timeout.map(|t| t.0),
                    backup: t.backup,
                    down: t.down,
                    max_conns: t.max_conns,
                }
            }
        })
    }
}

/// `balance = "round_robin" | "least_conn" | "ip_hash" | "random" | "random_two" |
/// { hash = "$request_uri", consistent = true }`.
#[derive(Debug)]
struct TomlBalance(RawBalance);

impl<'de> Deserialize<'de> for TomlBalance {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Hash {
            hash: String,
            #[serde(default)]
            consistent: bool,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Word(String),
            Hash(Hash),
        }
        const EXPECTED: &str = "expected \"round_robin\", \"least_conn\", \"ip_hash\", \"random\", \"random_two\" or { hash = \"$key\", consistent = true }";
        let bad = || de::Error::custom(EXPECTED);
        Ok(TomlBalance(match one_of(d, EXPECTED)? {
            Form::Word(w) => match w.as_str() {
                "round_robin" => RawBalance::RoundRobin,
                "least_conn" => RawBalance::LeastConn,
                "ip_hash" => RawBalance::IpHash,
                "random" => RawBalance::Random { two: false },
                "random_two" => RawBalance::Random { two: true },
                _ => return Err(bad()),
            },
            Form::Hash(h) => RawBalance::Hash {
                key: h.hash,
                consistent: h.consistent,
            },
        }))
    }
}

/// `health_check = { interval = "5s", uri = "/", timeout = "1s", fails = 1, passes = 1,
/// status = ["200-399"], body = "regex", host = "name", scheme = "https" }`, or `true`
/// for all defaults.
#[derive(Debug)]
struct TomlHealthCheck(Option<RawHealthCheck>);

impl<'de> Deserialize<'de> for TomlHealthCheck {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Status {
            Code(u16),
            Text(String),
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            interval: Option<Time>,
            uri: Option<String>,
            timeout: Option<Time>,
            fails: Option<u32>,
            passes: Option<u32>,
            status: Option<Vec<Status>>,
            body: Option<String>,
            host: Option<String>,
            scheme: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Switch(bool),
            Table(Table),
        }
        let form = one_of(
            d,
            "expected true, false, or { interval = \"5s\", uri = \"/\", timeout = \"1s\", fails = 1, passes = 1, status = [\"200-399\"], body = \"regex\", host = \"name\", scheme = \"https\" }",
        )?;
        Ok(TomlHealthCheck(match form {
            Form::Switch(false) => None,
            Form::Switch(true) => Some(RawHealthCheck::default()),
            Form::Table(t) => Some(RawHealthCheck {
                interval: t.interval.map(|t| t.0),
                uri: t.uri,
                timeout: t.timeout.map(|t| t.0),
                fails: t.fails,
                passes: t.passes,
                status: t
                    .status
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| match s {
                        Status::Code(c) => c.to_string(),
                        Status::Text(t) => t,
                    })
                    .collect(),
                body: t.body,
                host: t.host,
                scheme: t.scheme,
            }),
        }))
    }
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

impl Origin {
    /// A configuration error at this place.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.as_deref().cloned(),
            line: self.line,
            message: message.into(),
        }
    }
}

/// Turns byte offsets of one TOML file into origins.
struct Locator<'a> {
    text: &'a str,
    file: Option<Arc<PathBuf>>,
}

impl Locator<'_> {
    fn at(&self, offset: usize) -> Origin {
        Origin {
            file: self.file.clone(),
            line: Some(line_of(self.text, offset)),
        }
    }

    fn whole_file(&self) -> Origin {
        Origin {
            file: self.file.clone(),
            line: None,
        }
    }
}

/// Parses TOML text; relative paths resolve against `base_dir` (the configuration's folder).
pub fn parse(text: &str, file: Option<&Path>, base_dir: &Path) -> Result<Config, ConfigErrors> {
    let tree = parse_tree(text, file, base_dir)?;
    resolve::resolve(&tree)
}

/// `[main] user` and `group`; a group alone is an error (nginx's GROUP needs its USER).
fn main_user(
    user: Option<Spanned<String>>,
    group: Option<Spanned<String>>,
    loc: &Locator,
    errors: &mut Vec<ConfigError>,
) -> Option<At<RawUser>> {
    match (user, group) {
        (Some(user), group) => Some(At::new(
            RawUser {
                name: user.get_ref().clone(),
                group: group.map(Spanned::into_inner),
            },
            loc.at(user.span().start),
        )),
        (None, Some(group)) => {
            errors.push(
                loc.at(group.span().start)
                    .error("[main] group needs a user: set user = \"…\" too"),
            );
            None
        }
        (None, None) => None,
    }
}

/// Parses TOML text into the unresolved tree.
pub fn parse_tree(
    text: &str,
    file: Option<&Path>,
    base_dir: &Path,
) -> Result<ConfigTree, ConfigErrors> {
    let raw: TomlConfig = ::toml::from_str(text).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.map(Path::to_path_buf),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().trim().to_string(),
        }])
    })?;
    let loc = Locator {
        text,
        file: file.map(|f| Arc::new(f.to_path_buf())),
    };
    let mut errors = Vec::new();
    let whole = loc.whole_file();

    let main = MainSettings {
        shards: raw.main.shards,
        cpu_affinity: raw.main.cpu_affinity.map(|a| a.0),
        worker_connections: raw.main.worker_connections,
        shutdown_timeout: raw.main.worker_shutdown_timeout.map(|t| t.0),
        pid: raw.main.pid.map(|p| At::new(p, whole.clone())),
        user: main_user(raw.main.user, raw.main.group, &loc, &mut errors),
        error_log: raw
            .main
            .error_log
            .map_or_else(Vec::new, |l| l.0)
            .into_iter()
            .map(|l| At::new(l, whole.clone()))
            .collect(),
        error_log_level: raw.main.error_log_level.map(|p| At::new(p, whole.clone())),
        mime: match (raw.main.mime_types, raw.main.types) {
            (Some(_), Some(_)) => {
                errors.push(whole.error("[main] sets both mime_types and types: use one"));
                None
            }
            (Some(path), None) => Some(At::new(MimeSource::File(path), whole.clone())),
            (None, Some(table)) => {
                let mut mime = MimeTypes::default();
                for (content_type, exts) in &table {
                    for ext in exts {
                        mime.insert(ext, content_type);
                    }
                }
                Some(At::new(MimeSource::Table(mime), whole.clone()))
            }
            (None, None) => None,
        },
    };

    let http = raw.http.layers(&whole, &mut errors);
    let maps = raw
        .http
        .map
        .iter()
        .map(|m| {
            let origin = loc.at(m.span().start);
            let m = m.get_ref();
            At::new(
                MapTree {
                    source: m.source.clone(),
                    name: m.variable.trim_start_matches('$').to_string(),
                    hostnames: m.hostnames,
                    volatile: m.volatile,
                    default: m.default.clone(),
                    entries: m
                        .entries
                        .iter()
                        .map(|e| At::new(e.clone(), origin.clone()))
                        .collect(),
                },
                origin,
            )
        })
        .collect();
    let geos = raw
        .http
        .geo
        .iter()
        .filter_map(|g| {
            let origin = loc.at(g.span().start);
            let tree = g.get_ref().tree(&origin, &mut errors)?;
            Some(At::new(tree, origin))
        })
        .collect();
    let split_clients = raw
        .http
        .split_clients
        .iter()
        .filter_map(|s| {
            let origin = loc.at(s.span().start);
            let tree = s.get_ref().tree(&origin, &mut errors)?;
            Some(At::new(tree, origin))
        })
        .collect();
    let log_formats = raw
        .http
        .log_format
        .iter()
        .map(|f| {
            let origin = loc.at(f.span().start);
            let f = f.get_ref();
            At::new(
                LogFormatTree {
                    name: f.name.clone(),
                    escape: f.escape.clone(),
                    text: f.format.clone(),
                },
                origin,
            )
        })
        .collect();

    let upstreams = raw
        .upstream
        .iter()
        .map(|u| {
            let origin = loc.at(u.span().start);
            let u = u.get_ref();
            let at = |v| At::new(v, origin.clone());
            At::new(
                UpstreamTree {
                    name: u.name.clone(),
                    servers: u.servers.iter().map(|p| at(p.clone())).collect(),
                    balance: u
                        .balance
                        .as_ref()
                        .map(|b| At::new(b.0.clone(), origin.clone())),
                    keepalive: u.keepalive,
                    keepalive_timeout: u.keepalive_timeout.map(|t| t.0),
                    keepalive_requests: u.keepalive_requests,
                    keepalive_time: u.keepalive_time.map(|t| t.0),
                    health_check: u
                        .health_check
                        .as_ref()
                        .and_then(|h| h.0.clone())
                        .map(|h| At::new(h, origin.clone())),
                },
                origin.clone(),
            )
        })
        .collect();

    let mut servers = Vec::new();
    for spanned in &raw.server {
        let origin = loc.at(spanned.span().start);
        let s = spanned.get_ref();
        let server = ServerTree {
            listen: s
                .listen
                .iter()
                .map(|l| At::new(l.clone(), origin.clone()))
                .collect(),
            names: s
                .server_name
                .iter()
                .flatten()
                .map(|n| At::new(n.clone(), origin.clone()))
                .collect(),
            layers: s.layers(&origin, &mut errors),
            rewrite: script(&s.rewrite, &loc, &mut errors),
            locations: s
                .location
                .iter()
                .map(|l| location(l, &loc, &mut errors))
                .collect(),
        };
        servers.push(At::new(server, origin));
    }

    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(ConfigTree {
        source: file.map(Path::to_path_buf),
        base_dir: base_dir.to_path_buf(),
        main,
        http,
        maps,
        geos,
        split_clients,
        log_formats,
        upstreams,
        servers,
        notes: Vec::new(),
    })
}

fn location(
    spanned: &Spanned<TomlLocation>,
    loc: &Locator,
    errors: &mut Vec<ConfigError>,
) -> At<LocationTree> {
    let origin = loc.at(spanned.span().start);
    let l = spanned.get_ref();
    let mut rewrite = script(&l.rewrite, loc, errors);
    if let Some(r) = &l.return_action {
        rewrite.push(At::new(
            StepTree::Return {
                status: r.status,
                text: r.text.clone(),
            },
            origin.clone(),
        ));
    }
    let layers = l.common_layers(&origin, errors);
    At::new(
        LocationTree {
            match_kind: l.match_kind.unwrap_or(RawMatch::Prefix),
            path: l.path.clone(),
            internal: l.internal,
            proxy_pass: l
                .proxy_pass
                .as_ref()
                .map(|p| At::new(p.clone(), origin.clone())),
            status: l.status.map(|p| At::new(p, origin.clone())),
            layers,
            rewrite,
            locations: l
                .location
                .iter()
                .map(|n| location(n, loc, errors))
                .collect(),
            limit_except: l.limit_except.as_ref().and_then(|le| {
                let mut methods = Vec::new();
                for m in &le.methods {
                    let upper = m.to_ascii_uppercase();
                    if !crate::config::tree::LIMIT_EXCEPT_METHODS.contains(&upper.as_str()) {
                        errors.push(origin.error(format!("limit_except: invalid method \"{m}\"")));
                        return None;
                    }
                    if !methods.contains(&upper) {
                        methods.push(upper);
                    }
                }
                if methods.is_empty() {
                    errors.push(origin.error("limit_except: methods must name at least one"));
                    return None;
                }
                Some(At::new(
                    crate::config::tree::LimitExceptTree {
                        methods,
                        proxy_pass: le
                            .proxy_pass
                            .as_ref()
                            .map(|p| At::new(p.clone(), origin.clone())),
                        access: geo::access(&le.access, &origin, errors),
                    },
                    origin.clone(),
                ))
            }),
        },
        origin,
    )
}

/// The `rewrite` key: rewrite-module directives in nginx syntax.
fn script(
    text: &Option<Spanned<String>>,
    loc: &Locator,
    errors: &mut Vec<ConfigError>,
) -> Vec<At<StepTree>> {
    let Some(text) = text else {
        return Vec::new();
    };
    let origin = loc.at(text.span().start);
    match super::nginx::script_from_text(text.get_ref(), &origin) {
        Ok(steps) => steps,
        Err(e) => {
            errors.extend(e.0);
            Vec::new()
        }
    }
}

/// Keeps `tree` referenced for readers of this module: values the TOML keys map onto.
#[allow(unused_imports)]
use tree::Layers as _LayersDoc;

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
        assert_eq!(s.locations[0].files.root.base, PathBuf::from("/srv/html"));
        assert_eq!(
            s.locations[1].match_kind,
            crate::config::model::MatchKind::Exact
        );
    }
}
