//! The directive table's inheritable settings (nginx front-end, control thread only): the
//! directives http, server and location blocks share, filling a [`Layers`].

use super::{arg, words, Walker};
use crate::config::model::AutoindexFormat;
use crate::config::nginx::parser::Directive;
use crate::config::tree::{self, AddHeaderTree, At, Layers, RawAccessLog};

/// Which block a [`Layers`] belongs to: a few settings are refused at some levels.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    Http,
    Server,
    Location { named: bool },
}

impl Walker {
    /// `access_log off` or `access_log path [format [buffer=size] [flush=time] [if=cond]
    /// [rotate_size=size] [rotate_time=time] [rotate_keep=n]]` (the `rotate_*` parameters
    /// are anx's own).
    fn access_log(&mut self, d: &Directive) -> Option<RawAccessLog> {
        let path = arg(d, 0);
        if path == "off" {
            if d.args.len() > 1 {
                self.error(d, format!("invalid parameter \"{}\"", arg(d, 1)));
                return None;
            }
            return Some(RawAccessLog::Off);
        }
        if path.starts_with("syslog:") {
            self.error(
                d,
                "\"access_log\" to \"syslog:\" is not supported by anx yet",
            );
            return None;
        }
        // As nginx, the second word is always the format name.
        let format = d.args.get(1).map(|a| a.value.clone());
        let (mut buffer, mut flush, mut condition) = (None, None, None);
        let mut rotate = tree::RawRotate::default();
        let mut ok = true;
        for a in d.args.iter().skip(2) {
            let word = a.value.as_str();
            if let Some(value) = word.strip_prefix("buffer=") {
                match tree::size(value) {
                    Ok(n) if n > 0 => buffer = Some(n),
                    _ => {
                        self.error(d, format!("invalid buffer size \"{value}\""));
                        ok = false;
                    }
                }
            } else if let Some(value) = word.strip_prefix("flush=") {
                match tree::time(value) {
                    Ok(t) if !t.is_zero() => flush = Some(t),
                    _ => {
                        self.error(d, format!("invalid flush time \"{value}\""));
                        ok = false;
                    }
                }
            } else if let Some(value) = word.strip_prefix("if=") {
                condition = Some(value.to_string());
            } else if let Some(value) = word.strip_prefix("rotate_size=") {
                match tree::size(value) {
                    Ok(n) if n > 0 => rotate.size = Some(n),
                    _ => {
                        self.error(d, format!("invalid rotate_size \"{value}\""));
                        ok = false;
                    }
                }
            } else if let Some(value) = word.strip_prefix("rotate_time=") {
                match tree::time(value) {
                    Ok(t) if t.as_secs() > 0 => rotate.every = Some(t),
                    _ => {
                        self.error(d, format!("invalid rotate_time \"{value}\""));
                        ok = false;
                    }
                }
            } else if let Some(value) = word.strip_prefix("rotate_keep=") {
                match value.parse::<u32>() {
                    Ok(n) if n > 0 => rotate.keep = Some(n),
                    _ => {
                        self.error(d, format!("invalid rotate_keep \"{value}\""));
                        ok = false;
                    }
                }
            } else if word == "gzip" || word.starts_with("gzip=") {
                self.error(
                    d,
                    "the \"gzip\" parameter of \"access_log\" is not supported by anx yet",
                );
                ok = false;
            } else {
                self.error(d, format!("invalid parameter \"{word}\""));
                ok = false;
            }
        }
        if ok && flush.is_some() && buffer.is_none() {
            self.error(d, format!("no buffer is defined for access_log \"{path}\""));
            ok = false;
        }
        ok.then(|| RawAccessLog::On {
            path: path.to_string(),
            format,
            buffer,
            flush,
            condition,
            rotate,
        })
    }

    /// The settings http, server and location blocks share (and inherit).
    pub(super) fn layer(&mut self, d: &Directive, layers: &mut Layers, level: Level) {
        if self.declared_setting(d, layers) {
            return;
        }
        let files = &mut layers.files;
        let conn = &mut layers.conn;
        match d.name.as_str() {
            "root" | "alias" => self.root_or_alias(d, layers, level),
            "allow" | "deny" => self.access_rule(d, &mut layers.access),
            "index" => {
                let mut ok = true;
                for (i, a) in d.args.iter().enumerate() {
                    if a.value.is_empty() {
                        self.error(d, "index \"\" in \"index\" directive is invalid");
                        ok = false;
                    } else if a.value.starts_with('/') && i + 1 != d.args.len() {
                        self.error(
                            d,
                            "only the last index in \"index\" directive should be absolute",
                        );
                        ok = false;
                    }
                }
                // Several `index` directives at one level add up, as in nginx.
                if ok {
                    files.index.get_or_insert_with(Vec::new).extend(words(d));
                }
            }
            "autoindex" => self.once(d, &mut files.autoindex, |w| w.flag(d)),
            // nginx compares enumerated values in any case.
            "autoindex_format" => self.once(d, &mut files.autoindex_format, |w| {
                match arg(d, 0).to_ascii_lowercase().as_str() {
                    "html" => Some(AutoindexFormat::Html),
                    "json" => Some(AutoindexFormat::Json),
                    "xml" => Some(AutoindexFormat::Xml),
                    "jsonp" => Some(AutoindexFormat::Jsonp),
                    _ => {
                        w.error(
                            d,
                            format!(
                                "invalid value \"{}\" in \"autoindex_format\" directive, it \
                                 must be \"html\" or \"json\"",
                                arg(d, 0)
                            ),
                        );
                        None
                    }
                }
            }),
            "default_type" => {
                self.once(d, &mut files.default_type, |_| Some(arg(d, 0).to_string()))
            }
            "if_modified_since" => self.once(d, &mut files.if_modified_since, |w| {
                use crate::config::model::IfModifiedSince;
                match arg(d, 0).to_ascii_lowercase().as_str() {
                    "off" => Some(IfModifiedSince::Off),
                    "exact" => Some(IfModifiedSince::Exact),
                    "before" => Some(IfModifiedSince::Before),
                    other => {
                        w.error(
                            d,
                            format!("invalid value \"{other}\" in \"if_modified_since\" directive, it must be \"off\", \"exact\" or \"before\""),
                        );
                        None
                    }
                }
            }),
            "disable_symlinks" => self.once(d, &mut files.allow_symlinks_outside_root, |w| {
                w.disable_symlinks(d)
            }),
            "try_files" => self.once(d, &mut layers.try_files, |w| {
                Some(At::new(words(d), w.origin(d)))
            }),
            "error_page" => {
                let page = At::new(words(d), self.origin(d));
                layers.error_pages.get_or_insert_with(Vec::new).push(page);
            }
            "add_header" | "add_trailer" => {
                let always = match d.args.get(2).map(|a| a.value.as_str()) {
                    None => false,
                    Some("always") => true,
                    Some(other) => {
                        self.error(d, format!("invalid parameter \"{other}\""));
                        return;
                    }
                };
                let header = AddHeaderTree {
                    name: arg(d, 0).to_string(),
                    value: arg(d, 1).to_string(),
                    always,
                };
                let header = At::new(header, self.origin(d));
                let list = if d.name == "add_header" {
                    &mut layers.add_headers
                } else {
                    &mut layers.add_trailers
                };
                list.get_or_insert_with(Vec::new).push(header);
            }
            "expires" => self.once(d, &mut layers.expires, |w| {
                Some(At::new(words(d), w.origin(d)))
            }),
            "absolute_redirect" => self.once(d, &mut layers.absolute_redirect, |w| w.flag(d)),
            "limit_rate" => self.once(d, &mut layers.limit_rate, |w| {
                Some(At::new(arg(d, 0).to_string(), w.origin(d)))
            }),
            "limit_rate_after" => self.once(d, &mut layers.limit_rate_after, |w| {
                Some(At::new(arg(d, 0).to_string(), w.origin(d)))
            }),
            "post_action" => self.once(d, &mut layers.post_action, |w| {
                Some(At::new(arg(d, 0).to_string(), w.origin(d)))
            }),
            "port_in_redirect" => self.once(d, &mut layers.port_in_redirect, |w| w.flag(d)),
            "server_name_in_redirect" => {
                self.once(d, &mut layers.server_name_in_redirect, |w| w.flag(d))
            }
            "error_log" => {
                // Each directive adds a log to this level's list, which replaces the
                // inherited one for the requests served here.
                if let Some(log) = self.raw_error_log(d) {
                    let log = At::new(log, self.origin(d));
                    layers.error_logs.get_or_insert_with(Vec::new).push(log);
                }
            }
            "access_log" => {
                // Each directive adds a log to this level's list.
                if let Some(log) = self.access_log(d) {
                    let log = At::new(log, self.origin(d));
                    layers.access_logs.get_or_insert_with(Vec::new).push(log);
                }
            }
            "keepalive_timeout" => {
                if conn.keepalive_timeout.is_some() {
                    self.duplicate(d);
                    return;
                }
                let timeout = self.time(d, arg(d, 0));
                let header = match d.args.get(1) {
                    Some(a) => match self.time(d, &a.value) {
                        Some(t) => Some(t),
                        None => return,
                    },
                    None => None,
                };
                conn.keepalive_timeout = timeout;
                conn.keepalive_header = header;
            }
            "keepalive_disable" => self.once(d, &mut conn.keepalive_disable, |_| Some(words(d))),
            "client_body_buffer_size" => self.once(d, &mut conn.client_body_buffer_size, |w| {
                w.size(d, arg(d, 0))
            }),
            "client_body_temp_path" => self.once(d, &mut conn.client_body_temp_path, |w| {
                let mut levels = Vec::new();
                for a in d.args.iter().skip(1) {
                    match a.value.parse::<u8>() {
                        Ok(n @ 1..=2) => levels.push(n),
                        _ => {
                            w.error(d, format!("invalid value \"{}\"", a.value));
                            return None;
                        }
                    }
                }
                let path = tree::TempPathTree {
                    path: arg(d, 0).to_string(),
                    levels,
                };
                Some(At::new(path, w.origin(d)))
            }),
            "client_body_in_file_only" => self.once(d, &mut conn.client_body_in_file_only, |_| {
                Some(arg(d, 0).to_string())
            }),
            "client_body_in_single_buffer" => {
                self.once(d, &mut conn.client_body_in_single_buffer, |w| w.flag(d))
            }
            "client_header_buffer_size" => self.once(d, &mut conn.client_header_buffer_size, |w| {
                w.size(d, arg(d, 0)).filter(|&n| n > 0)
            }),
            "client_max_body_size" => {
                // 0 stays 0: "unlimited", as in nginx.
                self.once(d, &mut conn.client_max_body_size, |w| w.size(d, arg(d, 0)))
            }
            "large_client_header_buffers" => {
                if conn.max_request_line.is_some() || conn.max_header_bytes.is_some() {
                    self.duplicate(d);
                    return;
                }
                let count: Option<u64> = self.number(d, arg(d, 0));
                let size = self.size(d, arg(d, 1));
                let (Some(count), Some(size)) = (count, size) else {
                    return;
                };
                // nginx's buffers hold the request line (one buffer) and the header
                // fields (all of them together): anx's two limits.
                let total = count.checked_mul(size).map(usize::try_from);
                match (usize::try_from(size), total) {
                    (Ok(size), Some(Ok(total))) if count > 0 && size > 0 => {
                        conn.max_request_line = Some(size);
                        conn.max_header_bytes = Some(total);
                    }
                    _ => self.error(
                        d,
                        format!(
                            "invalid value \"{} {}\" in \"large_client_header_buffers\" directive",
                            arg(d, 0),
                            arg(d, 1)
                        ),
                    ),
                }
            }
            "server_tokens" => self.once(d, &mut conn.server_tokens, |w| {
                match arg(d, 0).to_ascii_lowercase().as_str() {
                    "on" => Some(true),
                    "off" => Some(false),
                    // nginx without a `--build=` name (anx has none) shows the version,
                    // as "on" does.
                    "build" => Some(true),
                    _ => {
                        w.error(
                            d,
                            format!(
                                "invalid value \"{}\" in \"server_tokens\" directive, it must \
                             be \"on\", \"off\" or \"build\"",
                                arg(d, 0)
                            ),
                        );
                        None
                    }
                }
            }),
            name if name.starts_with("proxy_") || name.starts_with("resolver") => {
                self.proxy_setting(d, &mut layers.proxy)
            }
            name if name.starts_with("ssl_") => self.tls_setting(d, &mut layers.tls),
            _ => self.unhandled(d),
        }
    }

    /// `root path` / `alias path`: one of them per block, with nginx's messages.
    fn root_or_alias(&mut self, d: &Directive, layers: &mut Layers, level: Level) {
        let files = &mut layers.files;
        let alias = d.name == "alias";
        let (mine, other) = if alias {
            (&files.alias, &files.root)
        } else {
            (&files.root, &files.alias)
        };
        if mine.is_some() {
            self.duplicate(d);
            return;
        }
        if other.is_some() {
            let earlier = if alias { "root" } else { "alias" };
            self.error(
                d,
                format!(
                    "\"{}\" directive is duplicate, \"{earlier}\" directive was specified earlier",
                    d.name
                ),
            );
            return;
        }
        if alias && level == (Level::Location { named: true }) {
            self.error(
                d,
                "the \"alias\" directive cannot be used inside the named location",
            );
            return;
        }
        let path = arg(d, 0);
        for var in ["document_root", "realpath_root"] {
            if path.contains(&format!("${var}")) || path.contains(&format!("${{{var}}}")) {
                self.error(
                    d,
                    format!(
                        "the ${var} variable cannot be used in the \"{}\" directive",
                        d.name
                    ),
                );
                return;
            }
        }
        let value = Some(At::new(path.to_string(), self.origin(d)));
        if alias {
            files.alias = value;
        } else {
            files.root = value;
        }
    }

    /// `disable_symlinks off | on | if_not_owner [from=$document_root]` →
    /// `allow_symlinks_outside_root`. anx's check is "does the resolved file stay under the
    /// root", which is what `on from=$document_root` asks for; other `from=` parts are not
    /// supported.
    fn disable_symlinks(&mut self, d: &Directive) -> Option<bool> {
        let allow = match arg(d, 0) {
            "off" => true,
            "on" | "if_not_owner" => false,
            other => {
                self.error(
                    d,
                    format!(
                        "invalid value \"{other}\" in \"disable_symlinks\" directive, it must \
                         be \"off\", \"on\" or \"if_not_owner\""
                    ),
                );
                return None;
            }
        };
        if let Some(second) = d.args.get(1) {
            let Some(from) = second.value.strip_prefix("from=") else {
                self.error(d, format!("invalid parameter \"{}\"", second.value));
                return None;
            };
            if allow {
                self.error(d, "\"from=\" cannot be used with \"off\" parameter");
                return None;
            }
            if from != "$document_root" {
                self.error(
                    d,
                    format!(
                        "\"disable_symlinks ... from={from}\" is not supported by anx yet; \
                         only from=$document_root is"
                    ),
                );
                return None;
            }
        }
        Some(allow)
    }
}
