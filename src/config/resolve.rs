//! Inheritance, defaults and cross-checks: raw blocks → the resolved model.
//!
//! The one place that knows how a setting flows from `[http]` to `[[server]]` to
//! `[[server.location]]`, what the defaults are, and which combinations are invalid. Every
//! error names the file and line of the block it is about; all errors of a file are collected
//! before returning.

use std::path::{Path, PathBuf};

use super::model::{
    AccessLog, Config, ErrorLog, FileSettings, Handler, HttpSettings, Listen, Location, LogTarget,
    MatchKind, ReturnAction, Server, ShardCount,
};
use super::toml::{line_of, FileLayer, HttpLayer, RawAccessLog, RawConfig, RawServer};
use super::{ConfigError, ConfigErrors};
use crate::http::mime::MimeTypes;

/// Where the text came from, for error messages and relative paths.
pub struct Context<'a> {
    pub text: &'a str,
    pub file: Option<PathBuf>,
    pub base_dir: PathBuf,
}

impl Context<'_> {
    fn error(&self, offset: Option<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: offset.map(|o| line_of(self.text, o)),
            message: message.into(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

/// Default listen backlog: the kernel clamps it to `net.core.somaxconn`.
pub const DEFAULT_BACKLOG: u32 = 4096;

pub fn resolve(raw: &RawConfig, ctx: &Context) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();

    let error_log = ErrorLog {
        target: match raw.main.error_log.as_deref() {
            None | Some("stderr") => LogTarget::Stderr,
            Some(p) => LogTarget::File(ctx.path(p)),
        },
        level: match raw.main.error_log_level.as_deref() {
            None => log::LevelFilter::Info,
            Some(l) => parse_level(l).unwrap_or_else(|msg| {
                errors.push(ctx.error(None, format!("[main] error_log_level: {msg}")));
                log::LevelFilter::Info
            }),
        },
    };

    let mime = match raw.main.mime_types.as_deref() {
        None => MimeTypes::builtin(),
        Some(p) => {
            let path = ctx.path(p);
            match std::fs::read_to_string(&path) {
                Ok(text) => MimeTypes::parse_nginx(&text).unwrap_or_else(|msg| {
                    errors.push(ConfigError {
                        file: Some(path.clone()),
                        line: None,
                        message: msg,
                    });
                    MimeTypes::builtin()
                }),
                Err(e) => {
                    errors.push(ctx.error(
                        None,
                        format!("[main] mime_types: cannot read {}: {e}", path.display()),
                    ));
                    MimeTypes::builtin()
                }
            }
        }
    };

    if raw.server.is_empty() {
        errors.push(ctx.error(None, "no [[server]] block: anx would listen nowhere"));
    }

    let http_layer = raw.http.http_layer();
    let http_files = raw.http.file_layer();
    let mut servers = Vec::new();
    for spanned in &raw.server {
        let offset = Some(spanned.span().start);
        let server = spanned.get_ref();
        servers.push(resolve_server(
            server,
            offset,
            &http_layer,
            &http_files,
            ctx,
            &mut errors,
        ));
    }

    if errors.is_empty() {
        Ok(Config {
            source: ctx.file.clone(),
            shards: raw.main.shards.unwrap_or(ShardCount::Auto),
            error_log,
            servers,
            mime,
        })
    } else {
        Err(ConfigErrors(errors))
    }
}

fn parse_level(l: &str) -> Result<log::LevelFilter, String> {
    match l {
        "debug" => Ok(log::LevelFilter::Debug),
        "info" | "notice" => Ok(log::LevelFilter::Info),
        "warn" => Ok(log::LevelFilter::Warn),
        "error" | "crit" | "alert" | "emerg" => Ok(log::LevelFilter::Error),
        other => Err(format!(
            "unknown level {other:?}: expected debug, info, notice, warn, error, crit, alert or emerg"
        )),
    }
}

fn resolve_server(
    server: &RawServer,
    offset: Option<usize>,
    http_layer: &HttpLayer,
    http_files: &FileLayer,
    ctx: &Context,
    errors: &mut Vec<ConfigError>,
) -> Server {
    if server.listen.is_empty() {
        errors.push(ctx.error(offset, "[[server]] has no listen address"));
    }
    let listen = server
        .listen
        .iter()
        .map(|l| Listen {
            addr: l.addr,
            backlog: l.backlog.unwrap_or(DEFAULT_BACKLOG),
            default_server: l.default_server,
        })
        .collect();

    let layer = server.http_layer();
    let http = merge_http(&[http_layer, &layer], ctx, offset, errors);
    let access_log = match layer.access_log.as_ref().or(http_layer.access_log.as_ref()) {
        None | Some(RawAccessLog::Off) => None,
        Some(RawAccessLog::On {
            path,
            format,
            buffer,
            flush,
        }) => Some(AccessLog {
            path: ctx.path(path),
            format: *format,
            buffer_bytes: buffer.unwrap_or(64 * 1024) as usize,
            flush: flush.unwrap_or(std::time::Duration::from_secs(1)),
        }),
    };

    let server_files = server.file_layer();
    let mut locations = Vec::new();
    for spanned in &server.location {
        let loc = spanned.get_ref();
        let loc_offset = Some(spanned.span().start);
        let files = merge_files(
            &[http_files, &server_files, &loc.file_layer()],
            ctx,
            loc_offset,
            errors,
        );
        if !loc.path.starts_with('/') {
            errors.push(ctx.error(
                loc_offset,
                format!("location path must start with '/', found {:?}", loc.path),
            ));
        }
        let match_kind: MatchKind = loc.match_kind.map(Into::into).unwrap_or(MatchKind::Prefix);
        if files.alias.is_some() && loc.root.is_some() {
            errors.push(ctx.error(loc_offset, "location sets both root and alias: use one"));
        }
        if locations
            .iter()
            .any(|l: &Location| l.path == loc.path.as_bytes() && l.match_kind == match_kind)
        {
            errors.push(ctx.error(loc_offset, format!("duplicate location {:?}", loc.path)));
        }
        let handler = match &loc.return_action {
            Some(r) => {
                if is_redirect(r.status) && r.text.is_none() {
                    errors.push(ctx.error(
                        loc_offset,
                        format!("return {} needs a URL in text", r.status),
                    ));
                }
                Handler::Return(ReturnAction {
                    status: r.status,
                    text: r.text.clone(),
                })
            }
            None => Handler::Static,
        };
        locations.push(Location {
            match_kind,
            path: loc.path.as_bytes().to_vec(),
            handler,
            files,
        });
    }
    if locations.is_empty() {
        // A server with no location serves its root, as nginx does.
        locations.push(Location {
            match_kind: MatchKind::Prefix,
            path: b"/".to_vec(),
            handler: Handler::Static,
            files: merge_files(&[http_files, &server_files], ctx, offset, errors),
        });
    }

    Server {
        listen,
        names: server.server_name.clone().unwrap_or_default(),
        http,
        access_log,
        locations,
    }
}

/// 301/302/303/307/308: `return` with a URL.
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

fn merge_http(
    layers: &[&HttpLayer],
    ctx: &Context,
    offset: Option<usize>,
    errors: &mut Vec<ConfigError>,
) -> HttpSettings {
    let mut s = HttpSettings::default();
    for l in layers {
        if let Some(v) = l.client_header_timeout {
            s.client_header_timeout = v.0;
        }
        if let Some(v) = l.client_body_timeout {
            s.client_body_timeout = v.0;
        }
        if let Some(v) = l.keepalive_timeout {
            s.keepalive_timeout = v.0;
        }
        if let Some(v) = l.keepalive_requests {
            s.keepalive_requests = v;
        }
        if let Some(v) = l.send_timeout {
            s.send_timeout = v.0;
        }
        if let Some(v) = l.client_max_body_size {
            s.client_max_body_size = v.0;
        }
        if let Some(v) = l.max_request_line {
            s.max_request_line = v.0 as usize;
        }
        if let Some(v) = l.max_header_bytes {
            s.max_header_bytes = v.0 as usize;
        }
        if let Some(v) = l.max_headers {
            s.max_headers = v;
        }
        if let Some(v) = l.server_tokens {
            s.server_tokens = v;
        }
        if let Some(v) = l.merge_slashes {
            s.merge_slashes = v;
        }
    }
    if s.max_request_line < 64 {
        errors.push(ctx.error(offset, "max_request_line must be at least 64 bytes"));
    }
    if s.max_header_bytes < s.max_request_line {
        errors.push(ctx.error(offset, "max_header_bytes must be at least max_request_line"));
    }
    if s.max_headers == 0 || s.max_headers > 1000 {
        errors.push(ctx.error(offset, "max_headers must be between 1 and 1000"));
    }
    s
}

fn merge_files(
    layers: &[&FileLayer],
    ctx: &Context,
    offset: Option<usize>,
    errors: &mut Vec<ConfigError>,
) -> FileSettings {
    let mut f = FileSettings {
        root: ctx.path("html"),
        ..FileSettings::default()
    };
    let mut autoindex = false;
    let mut format = super::model::AutoindexFormat::Html;
    for l in layers {
        if let Some(v) = &l.root {
            f.root = ctx.path(v);
        }
        if let Some(v) = &l.alias {
            f.alias = Some(ctx.path(v));
        }
        if let Some(v) = &l.index {
            f.index = v.clone();
        }
        if let Some(v) = l.autoindex {
            autoindex = v;
        }
        if let Some(v) = l.autoindex_format {
            format = v.into();
        }
        if let Some(v) = &l.default_type {
            f.default_type = v.clone();
        }
        if let Some(v) = l.allow_dotfiles {
            f.allow_dotfiles = v;
        }
        if let Some(v) = l.allow_symlinks_outside_root {
            f.allow_symlinks_outside_root = v;
        }
        if let Some(v) = l.etag {
            f.etag = v;
        }
        if let Some(v) = l.memory_cache_max_file {
            f.memory_cache_max_file = v.0;
        }
        if let Some(v) = l.memory_cache_bytes {
            f.memory_cache_bytes = v.0;
        }
        if let Some(v) = l.max_ranges {
            f.max_ranges = v;
        }
    }
    f.autoindex = autoindex.then_some(format);
    for name in &f.index {
        if name.is_empty() || name.contains('/') {
            errors.push(ctx.error(
                offset,
                format!("index {name:?}: expected a file name without '/'"),
            ));
        }
    }
    if f.default_type.is_empty() || f.default_type.contains(['\r', '\n']) {
        errors.push(ctx.error(offset, "default_type must be a MIME type"));
    }
    f
}
