//! Inheritance, defaults and cross-checks: the unresolved tree → the resolved model.
//!
//! The one place that knows how a setting flows from http to server to location (and into
//! nested locations), what the defaults are, and which combinations are invalid. Text is
//! compiled here (through [`super::compile`]): templates, regexes, rewrite steps. Every error
//! names the file and line it is about; all errors of a load are collected before returning.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod conn;
mod geo;
mod ocsp;
mod proxy;
mod tls;
pub mod user;

use super::compile::{self, Scope};
use super::model::{
    AccessLog, AccessLogFormat, AddHeader, AliasTail, Config, CpuAffinity, DocPath, ErrorLevel,
    ErrorLog, ErrorPage, Expires, FileSettings, Handler, HttpSettings, LimitExcept, Listen,
    Location, LogEscape, LogFormat, LogTarget, Map, MatchKind, ProxySettings, RedirectSettings,
    Rotate, Server, ShardCount, Step, Upstream, DEFAULT_ROTATE_KEEP, DEFAULT_WORKER_CONNECTIONS,
    JSON_LOG_FORMAT,
};
use super::tree::{
    AddHeaderTree, At, ConfigTree, Layers, LocationTree, MimeSource, Origin, RawAccessLog,
    RawMatch, RawRotate, ServerTree, StepTree,
};
use super::value::{Part, Template, Var};
use super::{ConfigError, ConfigErrors};
use crate::http::mime::MimeTypes;

/// Default listen backlog: the kernel clamps it to `net.core.somaxconn`.
pub const DEFAULT_BACKLOG: u32 = 4096;

/// Collects errors and resolves relative paths for one load.
struct Resolver<'a> {
    base_dir: &'a Path,
    scope: Scope,
    log_formats: Vec<LogFormat>,
    /// `upstream {}` groups, then the implicit groups proxy_pass creates.
    upstreams: Vec<Upstream>,
    errors: Vec<ConfigError>,
    /// Remarks that are not errors (an expired certificate, a cipher rustls lacks).
    notes: Vec<ConfigError>,
    /// Addresses that serve TLS (some server has `listen … ssl` for them), with the index
    /// of each one's default server.
    ssl_addrs: Vec<tls::SslAddr>,
    /// How fixed `proxy_pass` URLs use each group (by index), for the health checks.
    group_uses: Vec<proxy::GroupUse>,
    /// Where each group's `anx_health_check` was written (group index, origin).
    health_origins: Vec<(usize, Origin)>,
}

impl Resolver<'_> {
    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    fn error(&mut self, at: &Origin, message: impl Into<String>) {
        self.errors.push(at.error(message));
    }

    fn template(&mut self, at: &Origin, text: &str) -> Template {
        self.scope.template(text).unwrap_or_else(|msg| {
            self.error(at, msg);
            Template::literal("")
        })
    }

    /// `root`/`alias` text → the fixed base directory plus the part with variables.
    fn doc_path(&mut self, at: &At<String>) -> DocPath {
        let text = at.value.as_str();
        let Some(var_at) = text.find('$') else {
            return DocPath::fixed(self.path(text));
        };
        let literal = &text[..var_at];
        let (base, rest) = match literal.rfind('/') {
            Some(slash) => (&text[..slash.max(1)], &text[slash + 1..]),
            None => ("", text),
        };
        let base = if base.is_empty() && !text.starts_with('/') {
            self.base_dir.to_path_buf()
        } else if base.is_empty() {
            PathBuf::from("/")
        } else {
            self.path(base)
        };
        DocPath {
            base,
            rest: Some(self.template(&at.origin, rest)),
        }
    }
}

/// Resolves a tree from either front-end into the model.
pub fn resolve(tree: &ConfigTree) -> Result<Config, ConfigErrors> {
    resolve_with_notes(tree).map(|(config, _)| config)
}

/// [`resolve`], plus the remarks that are not errors (an expired certificate, a cipher name
/// rustls does not implement), for `-t` and the start-up log.
pub fn resolve_with_notes(tree: &ConfigTree) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
    let mut r = Resolver {
        base_dir: &tree.base_dir,
        scope: Scope::default(),
        log_formats: Vec::new(),
        upstreams: Vec::new(),
        errors: Vec::new(),
        notes: Vec::new(),
        ssl_addrs: tls::ssl_addresses(tree),
        group_uses: Vec::new(),
        health_origins: Vec::new(),
    };
    let whole = Origin {
        file: tree.source.clone().map(std::sync::Arc::new),
        line: None,
    };

    collect_scope(tree, &mut r);
    let maps = resolve_maps(tree, &mut r);
    let geos = geo::resolve_geos(tree, &mut r);
    let split_clients = geo::resolve_split_clients(tree, &mut r);
    resolve_log_formats(tree, &mut r);
    proxy::resolve_upstreams(tree, &mut r);
    proxy::check_redirect_default(&tree.http, None, &mut r);

    let main = &tree.main;
    let error_log = resolve_error_logs(main, &mut r);
    let mime = match &main.mime {
        None => MimeTypes::builtin(),
        Some(At {
            value: MimeSource::Table(t),
            ..
        }) => t.clone(),
        Some(At {
            value: MimeSource::File(p),
            origin,
        }) => {
            let path = r.path(p);
            match super::files::read_to_string(&path) {
                Ok(text) => MimeTypes::parse_nginx(&text).unwrap_or_else(|msg| {
                    r.errors.push(ConfigError {
                        file: Some(path.clone()),
                        line: None,
                        message: msg,
                    });
                    MimeTypes::builtin()
                }),
                Err(e) => {
                    r.error(
                        origin,
                        format!("mime_types: cannot read {}: {e}", path.display()),
                    );
                    MimeTypes::builtin()
                }
            }
        }
    };
    if let Some(CpuAffinity::Sets(sets)) = &main.cpu_affinity {
        if sets.iter().any(Vec::is_empty) {
            r.error(&whole, "cpu_affinity: every mask must select a CPU");
        }
    }
    let user = main.user.as_ref().and_then(|u| user::resolve(u, &mut r));
    if main.worker_connections == Some(0) {
        r.error(&whole, "worker_connections must be at least 1");
    }

    if tree.servers.is_empty() {
        r.error(&whole, "no server block: anx would listen nowhere");
    }
    let servers: Vec<Server> = tree
        .servers
        .iter()
        .enumerate()
        .map(|(i, s)| resolve_server(i, s, &tree.http, &mut r))
        .collect();
    proxy::health_tls(&mut r);

    if !r.errors.is_empty() {
        // Reported in file order, as a reader goes through the file.
        r.errors
            .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        return Err(ConfigErrors(r.errors));
    }
    let pid = main.pid.as_ref().map(|p| r.path(&p.value));
    let mut user_vars: Vec<(String, usize)> = r.scope.user.into_iter().collect();
    user_vars.sort_by_key(|(_, i)| *i);
    let logs_read_sent_fields = r.log_formats.iter().any(|f| {
        f.template
            .parts
            .iter()
            .any(|p| matches!(p, Part::Var(Var::SentHttp(_))))
    });
    let config = Config {
        logs_read_sent_fields,
        source: tree.source.clone(),
        shards: main.shards.unwrap_or(ShardCount::Auto),
        cpu_affinity: main.cpu_affinity.clone().unwrap_or(CpuAffinity::Auto),
        worker_connections: main
            .worker_connections
            .unwrap_or(DEFAULT_WORKER_CONNECTIONS),
        shutdown_timeout: main.shutdown_timeout,
        pid,
        user,
        error_log,
        servers,
        mime,
        maps,
        geos,
        split_clients,
        user_vars: user_vars.into_iter().map(|(n, _)| n).collect(),
        upstreams: r.upstreams,
    };
    Ok((config, r.notes))
}

/// Finds every name a template may use beyond the built-ins: `set` targets, map results and
/// named regex captures. Done before compiling anything, so order in the file does not matter
/// (nginx resolves variables at the end of the configuration, too).
fn collect_scope(tree: &ConfigTree, r: &mut Resolver) {
    fn steps(list: &[At<StepTree>], r: &mut Resolver) {
        for at in list {
            match &at.value {
                StepTree::Set { name, .. } => {
                    if name == "args" || name == "limit_rate" {
                        // Writable, as in nginx: compiled to Step::SetArgs.
                    } else if compile::is_builtin(name) {
                        r.error(&at.origin, format!("the duplicate \"{name}\" variable"));
                    } else if !r.scope.user.contains_key(name) {
                        let i = r.scope.user.len();
                        r.scope.user.insert(name.clone(), i);
                    }
                }
                StepTree::Rewrite { regex, .. } => captures(regex, r),
                StepTree::If {
                    condition,
                    steps: inner,
                    ..
                } => {
                    if let [_, op, re] = condition.as_slice() {
                        if op.contains('~') {
                            captures(re, r);
                        }
                    }
                    steps(inner, r);
                }
                StepTree::Return { .. } | StepTree::Break => {}
            }
        }
    }
    fn captures(source: &str, r: &mut Resolver) {
        for name in compile::capture_names(source) {
            r.scope.captures.insert(name);
        }
    }
    fn location(l: &LocationTree, r: &mut Resolver) {
        if matches!(l.match_kind, RawMatch::Regex | RawMatch::RegexCaseless) {
            captures(&l.path, r);
        }
        steps(&l.rewrite, r);
        for n in &l.locations {
            location(&n.value, r);
        }
    }
    for (i, m) in tree.maps.iter().enumerate() {
        if r.scope.maps.insert(m.value.name.clone(), i).is_some() {
            r.error(
                &m.origin,
                format!("the duplicate \"{}\" variable", m.value.name),
            );
        }
        for e in &m.value.entries {
            if let Some(re) = e.value.0.strip_prefix('~') {
                captures(re.strip_prefix('*').unwrap_or(re), r);
            }
        }
    }
    geo::register(tree, r);
    for s in &tree.servers {
        for n in &s.value.names {
            if let Some(re) = n.value.strip_prefix('~') {
                captures(re, r);
            }
        }
        steps(&s.value.rewrite, r);
        for l in &s.value.locations {
            location(&l.value, r);
        }
    }
}

fn resolve_maps(tree: &ConfigTree, r: &mut Resolver) -> Vec<Map> {
    let mut maps = Vec::new();
    for at in &tree.maps {
        let m = &at.value;
        let source = r.template(&at.origin, &m.source);
        let default = match &m.default {
            Some(d) => r.template(&at.origin, d),
            None => Template::literal(""),
        };
        let mut map = Map {
            name: m.name.clone(),
            source,
            hostnames: m.hostnames,
            volatile: m.volatile,
            exact: hashbrown::HashMap::new(),
            wildcards: Vec::new(),
            regexes: Vec::new(),
            default,
        };
        for e in &m.entries {
            let (key, value) = &e.value;
            let value = r.template(&e.origin, value);
            if let Some(re) = key.strip_prefix('~') {
                let (re, caseless) = match re.strip_prefix('*') {
                    Some(rest) => (rest, true),
                    None => (re, false),
                };
                match compile::pattern(re, caseless) {
                    Ok(p) => map.regexes.push((p, value)),
                    Err(msg) => r.error(&e.origin, msg),
                }
                continue;
            }
            let key = key.strip_prefix('\\').unwrap_or(key).to_ascii_lowercase();
            let wildcard = m.hostnames && crate::http::host::is_wildcard(key.as_bytes());
            if wildcard {
                map.wildcards.push((key, value));
            } else if map.exact.insert(key.clone(), value).is_some() {
                r.error(&e.origin, format!("duplicate map key \"{key}\""));
            }
        }
        maps.push(map);
    }
    maps
}

fn resolve_log_formats(tree: &ConfigTree, r: &mut Resolver) {
    for at in &tree.log_formats {
        let f = &at.value;
        if f.name == "combined" || r.log_formats.iter().any(|l| l.name == f.name) {
            r.error(
                &at.origin,
                format!("duplicate \"log_format\" name \"{}\"", f.name),
            );
            continue;
        }
        let escape = match f.escape.as_deref() {
            None | Some("default") => LogEscape::Default,
            Some("json") => LogEscape::Json,
            Some("none") => LogEscape::None,
            Some(other) => {
                r.error(
                    &at.origin,
                    format!("unknown log format escaping \"{other}\""),
                );
                LogEscape::Default
            }
        };
        let template = r.template(&at.origin, &f.text);
        r.log_formats.push(LogFormat {
            name: f.name.clone(),
            escape,
            template,
        });
    }
}

/// An http, server or location level's `error_log` list: each with its own level, else
/// nginx's `error`.
fn scoped_error_logs(logs: &[At<super::tree::RawErrorLog>], r: &mut Resolver) -> Vec<ErrorLog> {
    logs.iter()
        .map(|at| ErrorLog {
            target: match at.value.target.as_str() {
                "stderr" => LogTarget::Stderr,
                p => LogTarget::File(r.path(p)),
            },
            level: match &at.value.level {
                None => ErrorLevel::Error,
                Some(l) => ErrorLevel::parse(l).unwrap_or_else(|| {
                    r.error(&at.origin, format!("invalid log level \"{l}\""));
                    ErrorLevel::Error
                }),
            },
        })
        .collect()
}

/// Every `error_log` with its level (its own, else `error_log_level`, else `notice`); stderr
/// when none is given.
fn resolve_error_logs(main: &super::tree::MainSettings, r: &mut Resolver) -> Vec<ErrorLog> {
    let level_of = |word: &At<String>, r: &mut Resolver| {
        ErrorLevel::parse(&word.value).unwrap_or_else(|| {
            r.error(
                &word.origin,
                format!(
                    "error_log level: unknown level {:?}: expected debug, info, notice, warn, error, crit, alert or emerg",
                    word.value
                ),
            );
            ErrorLevel::Notice
        })
    };
    let default = match &main.error_log_level {
        None => ErrorLevel::Notice,
        Some(l) => level_of(l, r),
    };
    let mut logs: Vec<ErrorLog> = main
        .error_log
        .iter()
        .map(|at| ErrorLog {
            target: match at.value.target.as_str() {
                "stderr" => LogTarget::Stderr,
                p => LogTarget::File(r.path(p)),
            },
            level: match &at.value.level {
                None => default,
                Some(l) => level_of(&At::new(l.clone(), at.origin.clone()), r),
            },
        })
        .collect();
    if logs.is_empty() {
        logs.push(ErrorLog {
            target: LogTarget::Stderr,
            level: default,
        });
    }
    logs
}

/// The settings a block passes down to the blocks inside it.
#[derive(Clone)]
struct Inherited {
    files: FileSettings,
    error_pages: Vec<ErrorPage>,
    add_headers: Vec<AddHeader>,
    add_trailers: Vec<AddHeader>,
    expires: Expires,
    redirects: RedirectSettings,
    access_logs: Vec<AccessLog>,
    access: std::sync::Arc<super::model::AccessRules>,
    error_log: Vec<ErrorLog>,
    try_files: Option<super::model::TryFiles>,
    client_max_body_size: u64,
    http: super::model::LocationHttp,
    /// `autoindex` and `autoindex_format` inherit separately; the model combines them.
    autoindex_on: bool,
    autoindex_format: super::model::AutoindexFormat,
    proxy: ProxySettings,
    rate: super::model::RateSettings,
    post_action: Option<super::model::PostAction>,
}

impl Inherited {
    fn file_settings(&self) -> FileSettings {
        FileSettings {
            autoindex: self.autoindex_on.then_some(self.autoindex_format),
            ..self.files.clone()
        }
    }
}

fn resolve_server(index: usize, at: &At<ServerTree>, http: &Layers, r: &mut Resolver) -> Server {
    let server = &at.value;
    let origin = &at.origin;
    if server.listen.is_empty() {
        r.error(origin, "server has no listen address");
    }
    let listen = server
        .listen
        .iter()
        .map(|l| Listen {
            addr: l.value.addr.clone(),
            backlog: l.value.backlog.unwrap_or(DEFAULT_BACKLOG),
            default_server: l.value.default_server,
            ssl: l.value.ssl,
            proxy_protocol: l.value.proxy_protocol,
            rcvbuf: l.value.rcvbuf,
            sndbuf: l.value.sndbuf,
        })
        .collect();
    let ssl_addrs = std::mem::take(&mut r.ssl_addrs);
    let tls = tls::resolve_server(index, at, http, &ssl_addrs, r);
    r.ssl_addrs = ssl_addrs;

    let conn = merge_http(&[http, &server.layers], origin, r);
    let base = Inherited {
        files: FileSettings {
            root: DocPath::fixed(r.path("html")),
            ..FileSettings::default()
        },
        error_pages: Vec::new(),
        add_headers: Vec::new(),
        add_trailers: Vec::new(),
        expires: Expires::Off,
        redirects: RedirectSettings::default(),
        access_logs: Vec::new(),
        access: Default::default(),
        error_log: Vec::new(),
        try_files: None,
        client_max_body_size: HttpSettings::default().client_max_body_size,
        http: {
            // nginx's default directory, under the prefix.
            let mut h = super::model::LocationHttp::default();
            h.body.temp_path.path = r.path("client_body_temp");
            h
        },
        autoindex_on: false,
        autoindex_format: super::model::AutoindexFormat::Html,
        proxy: ProxySettings::default(),
        rate: super::model::RateSettings::default(),
        post_action: None,
    };
    let http_level = inherit(&base, http, origin, r);
    let server_level = inherit(&http_level, &server.layers, origin, r);
    proxy::check_redirect_default(&server.layers, None, r);
    if server.layers.files.alias.is_some() || http.files.alias.is_some() {
        r.error(origin, "\"alias\" directive is not allowed here");
    }

    let mut names = Vec::new();
    let mut name_regexes = Vec::new();
    for n in &server.names {
        match n.value.strip_prefix('~') {
            Some(re) => match compile::pattern(re, true) {
                Ok(p) => name_regexes.push(p),
                Err(msg) => r.error(&n.origin, msg),
            },
            None => names.push(n.value.to_ascii_lowercase()),
        }
    }
    let primary_name = server
        .names
        .first()
        .map(|n| n.value.clone())
        .unwrap_or_default();

    check_server_ifs(&server.rewrite, r);
    let rewrite = compile::steps(&r.scope, &server.rewrite, &mut r.errors);
    let locations: Vec<Location> = server
        .locations
        .iter()
        .map(|l| resolve_location(l, &server_level, None, r))
        .collect();
    check_siblings(&server.locations, r);
    let fallback = Box::new(Location {
        match_kind: MatchKind::Prefix,
        path: Vec::new(),
        regex: None,
        internal: false,
        auto_redirect: false,
        limit_except: None,
        access: server_level.access.clone(),
        locations: Vec::new(),
        rewrite: Vec::new(),
        try_files: server_level.try_files.clone(),
        handler: Handler::Static,
        error_pages: server_level.error_pages.clone(),
        add_headers: server_level.add_headers.clone(),
        add_trailers: server_level.add_trailers.clone(),
        expires: server_level.expires.clone(),
        redirects: server_level.redirects,
        access_logs: server_level.access_logs.clone(),
        error_log: server_level.error_log.clone(),
        client_max_body_size: server_level.client_max_body_size,
        rate: server_level.rate.clone(),
        post_action: server_level.post_action.clone(),
        files: server_level.file_settings(),
        http: server_level.http.clone(),
    });

    Server {
        listen,
        names,
        name_regexes,
        primary_name,
        http: conn,
        access_logs: server_level.access_logs,
        rewrite,
        error_pages: server_level.error_pages,
        locations,
        fallback,
        tls,
    }
}

/// Duplicate locations and named locations in the wrong place, among siblings.
fn check_siblings(list: &[At<LocationTree>], r: &mut Resolver) {
    for (i, a) in list.iter().enumerate() {
        for b in &list[..i] {
            let same_kind = match (a.value.match_kind, b.value.match_kind) {
                // `^~ /x` and `/x` are the same prefix to nginx.
                (RawMatch::Prefix | RawMatch::PrefixNoRegex, RawMatch::Prefix)
                | (RawMatch::Prefix, RawMatch::PrefixNoRegex) => true,
                (x, y) => x == y,
            };
            if same_kind && a.value.path == b.value.path {
                r.error(
                    &a.origin,
                    format!("duplicate location \"{}\"", a.value.path),
                );
            }
        }
    }
}

fn resolve_location(
    at: &At<LocationTree>,
    parent: &Inherited,
    parent_loc: Option<(&LocationTree, &Origin)>,
    r: &mut Resolver,
) -> Location {
    let l = &at.value;
    let origin = &at.origin;
    let match_kind = match l.match_kind {
        RawMatch::Prefix => MatchKind::Prefix,
        RawMatch::Exact => MatchKind::Exact,
        RawMatch::PrefixNoRegex => MatchKind::PrefixNoRegex,
        RawMatch::Regex | RawMatch::RegexCaseless => MatchKind::Regex,
        RawMatch::Named => MatchKind::Named,
    };
    let regex = match l.match_kind {
        RawMatch::Regex | RawMatch::RegexCaseless => {
            match compile::pattern(&l.path, l.match_kind == RawMatch::RegexCaseless) {
                Ok(p) => Some(p),
                Err(msg) => {
                    r.error(origin, format!("location \"~ {}\": {msg}", l.path));
                    None
                }
            }
        }
        _ => None,
    };
    match match_kind {
        MatchKind::Prefix | MatchKind::Exact | MatchKind::PrefixNoRegex
            if !l.path.starts_with('/') && !l.path.is_empty() =>
        {
            // nginx accepts such prefixes but they can never match a normalised URI.
            r.error(
                origin,
                format!("location path must start with '/', found \"{}\"", l.path),
            );
        }
        MatchKind::Named if parent_loc.is_some() => r.error(
            origin,
            format!(
                "named location \"@{}\" can be on the server level only",
                l.path
            ),
        ),
        _ => {}
    }
    if let Some((p, _)) = parent_loc {
        let outside = match (p.match_kind, match_kind) {
            (RawMatch::Exact, _) => Some("location \"{}\" cannot be inside the exact location"),
            (RawMatch::Named, _) => Some("location \"{}\" cannot be inside the named location"),
            (RawMatch::Prefix | RawMatch::PrefixNoRegex, MatchKind::Prefix)
            | (RawMatch::Prefix | RawMatch::PrefixNoRegex, MatchKind::PrefixNoRegex)
            | (RawMatch::Prefix | RawMatch::PrefixNoRegex, MatchKind::Exact)
                if !l.path.starts_with(&p.path) =>
            {
                Some("location \"{}\" is outside location")
            }
            _ => None,
        };
        if let Some(msg) = outside {
            r.error(origin, msg.replace("{}", &l.path));
        }
    }

    let mut here = inherit(parent, &l.layers, origin, r);
    if l.layers.files.root.is_some() && l.layers.files.alias.is_some() {
        r.error(origin, "location sets both root and alias: use one");
    }
    if l.layers.files.alias.is_some() {
        here.files.alias_tail = match match_kind {
            MatchKind::Regex => AliasTail::Whole,
            _ => AliasTail::AfterPrefix(l.path.len()),
        };
    }
    let mut rewrite: Vec<Step> = compile::steps(&r.scope, &l.rewrite, &mut r.errors);
    let locations: Vec<Location> = l
        .locations
        .iter()
        .map(|n| resolve_location(n, &here, Some((l, origin)), r))
        .collect();
    check_siblings(&l.locations, r);

    let handler = match (&l.proxy_pass, &l.status) {
        (Some(_), Some(page)) => {
            r.error(
                &page.origin,
                "a location cannot have both proxy_pass and a status page",
            );
            Handler::Static
        }
        (None, Some(page)) => Handler::Status(page.value),
        (None, None) => {
            proxy::check_redirect_default(&l.layers, None, r);
            Handler::Static
        }
        (Some(url), None) => proxy_handler(url, l, &here, r),
    };
    let files = here.file_settings();
    // nginx sets it for every `*_pass` handler in a location whose name ends with `/`.
    let auto_redirect = matches!(handler, Handler::Proxy(_)) && l.path.ends_with('/');
    let mut location = Location {
        match_kind,
        path: l.path.as_bytes().to_vec(),
        regex,
        internal: l.internal,
        auto_redirect,
        limit_except: None,
        access: here.access.clone(),
        locations,
        // Filled below, once the location exists for its if-blocks to copy.
        rewrite: Vec::new(),
        try_files: here.try_files.clone(),
        handler,
        error_pages: here.error_pages.clone(),
        add_headers: here.add_headers.clone(),
        add_trailers: here.add_trailers.clone(),
        expires: here.expires.clone(),
        redirects: here.redirects,
        files,
        access_logs: here.access_logs.clone(),
        error_log: here.error_log.clone(),
        client_max_body_size: here.client_max_body_size,
        http: here.http.clone(),
        rate: here.rate.clone(),
        post_action: here.post_action.clone(),
    };
    if_locations(&mut rewrite, &l.rewrite, l, &location, &here, r);
    location.rewrite = rewrite;
    if let Some(le) = &l.limit_except {
        // nginx's limit_except is a nameless location inside this one, inheriting all of
        // it; the request moves there after the location search when its method is not
        // listed.
        let mut inner = location.clone();
        inner.locations = Vec::new();
        inner.auto_redirect = false;
        if let Some(url) = &le.value.proxy_pass {
            inner.handler = proxy_handler(url, l, &here, r);
        }
        // As any nginx block: rules written inside replace the location's.
        if let Some(rules) = &le.value.access {
            inner.access = geo::access_rules(rules, r);
        }
        let mut methods = le.value.methods.clone();
        if methods.iter().any(|m| m == "GET") && !methods.iter().any(|m| m == "HEAD") {
            methods.push("HEAD".to_string());
        }
        location.limit_except = Some(Box::new(LimitExcept {
            methods,
            location: inner,
        }));
    }
    location
}

/// A location's `proxy_pass` (or its limit_except's) as a handler, with its checks.
fn proxy_handler(
    url: &At<String>,
    l: &LocationTree,
    here: &Inherited,
    r: &mut Resolver,
) -> Handler {
    match proxy::proxy_pass(url, l.match_kind, r) {
        Some(pass) => {
            proxy::check_redirect_default(&l.layers, Some(&pass), r);
            proxy::check_ssl(&pass, &here.proxy.ssl, &url.origin, r);
            proxy::note_use(&pass, &here.proxy.ssl, r);
            Handler::Proxy(Box::new(proxy::finish(pass, &here.proxy)))
        }
        None => Handler::Static,
    }
}

/// Gives each `if` block that sets `add_header`/`add_trailer`/`expires` its own location: the enclosing
/// one with those settings replaced (nginx's if-location), used once the condition holds.
fn if_locations(
    steps: &mut [Step],
    tree: &[At<StepTree>],
    l: &LocationTree,
    enclosing: &Location,
    here: &Inherited,
    r: &mut Resolver,
) {
    // compile::steps drops steps with errors; then the load fails anyway.
    if steps.len() != tree.len() {
        return;
    }
    for (step, at) in steps.iter_mut().zip(tree) {
        if let (
            Step::If {
                steps: inner,
                location,
                ..
            },
            StepTree::If {
                steps: inner_tree,
                headers,
                proxy_pass,
                ..
            },
        ) = (step, &at.value)
        {
            let mut if_here = here.clone();
            if **headers != Layers::default() || proxy_pass.is_some() {
                if_here = inherit(here, headers, &at.origin, r);
                // nginx's "if is a location": proxy_pass inside it is that location's
                // handler while the condition holds.
                let handler = match proxy_pass {
                    Some(url) => proxy_handler(url, l, &if_here, r),
                    None => enclosing.handler.clone(),
                };
                *location = Some(Box::new(Location {
                    add_headers: if_here.add_headers.clone(),
                    add_trailers: if_here.add_trailers.clone(),
                    expires: if_here.expires.clone(),
                    handler,
                    // Never routed to: its own copy of the subtree would only cost memory.
                    locations: Vec::new(),
                    ..enclosing.clone()
                }));
            }
            if_locations(inner, inner_tree, l, enclosing, &if_here, r);
        }
    }
}

/// Server-level `if` blocks may not set headers (nginx allows add_header/expires only in an
/// `if` inside a location).
fn check_server_ifs(tree: &[At<StepTree>], r: &mut Resolver) {
    for at in tree {
        if let StepTree::If {
            steps,
            headers,
            proxy_pass,
            ..
        } = &at.value
        {
            if **headers != Layers::default() {
                r.error(
                    &at.origin,
                    "\"add_header\", \"add_trailer\" and \"expires\" inside a server-level if are \
                     not allowed; \
                     put the if in a location",
                );
            }
            if let Some(p) = proxy_pass {
                r.error(
                    &p.origin,
                    "\"proxy_pass\" directive is not allowed here: an if at server level \
                     cannot hold it; put the if in a location",
                );
            }
            check_server_ifs(steps, r);
        }
    }
}

/// One level's `add_header` (or `add_trailer`) list, checked: a token name and a value
/// without line breaks (either would split the header or trailer section).
fn add_headers(list: &[At<AddHeaderTree>], r: &mut Resolver) -> Vec<AddHeader> {
    let mut out = Vec::with_capacity(list.len());
    for h in list {
        let name = &h.value.name;
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            r.error(&h.origin, format!("invalid header name \"{name}\""));
        }
        let value = r.template(&h.origin, &h.value.value);
        if h.value.value.contains(['\r', '\n']) {
            r.error(
                &h.origin,
                format!("header \"{name}\" value contains a line break"),
            );
        }
        out.push(AddHeader {
            name: name.clone(),
            value,
            always: h.value.always,
        });
    }
    out
}

/// Applies one block's layers on top of what it inherits.
fn inherit(parent: &Inherited, layers: &Layers, origin: &Origin, r: &mut Resolver) -> Inherited {
    let mut out = parent.clone();
    // nginx does not merge try_files: a server-level one never reaches the locations.
    out.try_files = None;
    if let Some(v) = layers.conn.client_max_body_size {
        out.client_max_body_size = v;
    }
    conn::inherit(&mut out.http, &layers.conn, origin, r);
    let f = &layers.files;
    super::settings::files::inherit(&mut out.files, f);
    if let Some(root) = &f.root {
        out.files.root = r.doc_path(root);
        // A root set here replaces an alias set above, as nginx's merge does.
        out.files.alias = None;
    }
    if let Some(alias) = &f.alias {
        out.files.alias = Some(r.doc_path(alias));
    }
    if let Some(v) = &f.index {
        out.files.index = Vec::new();
        for (i, name) in v.iter().enumerate() {
            if name.is_empty() {
                r.error(origin, "index \"\" is invalid");
            } else if name.starts_with('/') && i + 1 != v.len() {
                r.error(
                    origin,
                    "only the last index in \"index\" directive should be absolute",
                );
            }
            let template = r.template(origin, name);
            out.files.index.push(template);
        }
    }
    if let Some(v) = f.autoindex {
        out.autoindex_on = v;
    }
    if let Some(v) = f.autoindex_format {
        out.autoindex_format = v;
    }
    if let Some(v) = &f.default_type {
        if v.is_empty() || v.contains(['\r', '\n']) {
            r.error(origin, "default_type must be a MIME type");
        }
        out.files.default_type = v.clone();
    }
    if let Some(v) = f.allow_symlinks_outside_root {
        out.files.allow_symlinks_outside_root = v;
    }
    if let Some(v) = f.if_modified_since {
        out.files.if_modified_since = v;
    }
    if let Some(words) = &layers.try_files {
        match compile::try_files(&r.scope, &words.value) {
            Ok(t) => out.try_files = Some(t),
            Err(msg) => r.error(&words.origin, msg),
        }
    }
    if let Some(pages) = &layers.error_pages {
        out.error_pages = Vec::new();
        for p in pages {
            match compile::error_page(&r.scope, &p.value) {
                Ok(e) => out.error_pages.push(e),
                Err(msg) => r.error(&p.origin, msg),
            }
        }
    }
    if let Some(headers) = &layers.add_headers {
        out.add_headers = add_headers(headers, r);
    }
    if let Some(trailers) = &layers.add_trailers {
        out.add_trailers = add_headers(trailers, r);
    }
    if let Some(words) = &layers.expires {
        let (modified, last) = match words.value.as_slice() {
            [m, t] if m == "modified" => (true, t.as_str()),
            [t] => (false, t.as_str()),
            _ => (false, ""),
        };
        if last.contains('$') {
            out.expires = Expires::Variable {
                modified,
                template: r.template(&words.origin, last),
            };
        } else {
            match compile::expires(&words.value) {
                Ok(e) => out.expires = e,
                Err(msg) => r.error(&words.origin, msg),
            }
        }
    }
    if let Some(v) = layers.absolute_redirect {
        out.redirects.absolute_redirect = v;
    }
    for (at, slot, name) in [
        (&layers.limit_rate, &mut out.rate.limit_rate, "limit_rate"),
        (
            &layers.limit_rate_after,
            &mut out.rate.limit_rate_after,
            "limit_rate_after",
        ),
    ] {
        let Some(at) = at else { continue };
        // A size without variables is checked now, with nginx's words.
        if !at.value.contains('$') && super::tree::size(&at.value).is_err() {
            r.error(&at.origin, format!("\"{name}\" directive invalid value"));
            continue;
        }
        *slot = Some(r.template(&at.origin, &at.value));
    }
    if let Some(at) = &layers.post_action {
        out.post_action = post_action(at, r);
    }
    if let Some(v) = layers.port_in_redirect {
        out.redirects.port_in_redirect = v;
    }
    if let Some(v) = layers.server_name_in_redirect {
        out.redirects.server_name_in_redirect = v;
    }
    if let Some(rules) = &layers.access {
        out.access = geo::access_rules(rules, r);
    }
    if let Some(logs) = &layers.error_logs {
        out.error_log = scoped_error_logs(logs, r);
    }
    if let Some(logs) = &layers.access_logs {
        out.access_logs = Vec::new();
        // nginx: an `access_log off` anywhere in a level's list turns the whole level off.
        let off = logs.iter().any(|l| l.value == RawAccessLog::Off);
        for l in logs.iter().filter(|_| !off) {
            if let Some(log) = access_log(l, r) {
                out.access_logs.push(log);
            }
        }
    }
    proxy::inherit(&mut out.proxy, &layers.proxy, r);
    out
}

/// `post_action /uri | @name | off`. nginx takes any word and, for one that is neither a
/// URI nor a named location, fails each request's post action with "could not find named
/// location"; anx says so at load time instead.
fn post_action(at: &At<String>, r: &mut Resolver) -> Option<super::model::PostAction> {
    use super::model::PostAction;
    let v = &at.value;
    if v == "off" {
        None
    } else if v.starts_with('/') {
        Some(PostAction::Uri(v.as_bytes().to_vec()))
    } else if let Some(name) = v.strip_prefix('@').filter(|n| !n.is_empty()) {
        Some(PostAction::Named(name.to_string()))
    } else {
        r.error(
            &at.origin,
            format!("invalid post_action \"{v}\": a URI (/...), a named location (@...) or off"),
        );
        None
    }
}

fn access_log(at: &At<RawAccessLog>, r: &mut Resolver) -> Option<AccessLog> {
    let RawAccessLog::On {
        path,
        format,
        buffer,
        flush,
        condition,
        rotate,
    } = &at.value
    else {
        return None;
    };
    let format = match format.as_deref() {
        None | Some("combined") => AccessLogFormat::Combined,
        Some(name) => match r.log_formats.iter().find(|f| f.name == name) {
            Some(f) => AccessLogFormat::Custom(f.clone()),
            None if name == "common" => AccessLogFormat::Common,
            None if name == "json" => AccessLogFormat::Json(LogFormat {
                name: "json".to_string(),
                escape: LogEscape::Json,
                template: r.template(&at.origin, JSON_LOG_FORMAT),
            }),
            None => {
                r.error(&at.origin, format!("unknown log format \"{name}\""));
                AccessLogFormat::Combined
            }
        },
    };
    let condition = condition.as_deref().map(|c| {
        let c = c.strip_prefix("if=").unwrap_or(c);
        r.template(&at.origin, c)
    });
    Some(AccessLog {
        path: r.path(path),
        format,
        buffer_bytes: buffer.unwrap_or(64 * 1024) as usize,
        // TOML may give `flush` alone (nginx refuses it without a buffer): buffered too.
        buffered: buffer.is_some() || flush.is_some(),
        flush: flush.unwrap_or(Duration::from_secs(1)),
        condition,
        rotate: resolve_rotate(rotate, at, r),
    })
}

/// `rotate_keep` alone rotates nothing: say so rather than ignore it.
fn resolve_rotate(raw: &RawRotate, at: &At<RawAccessLog>, r: &mut Resolver) -> Option<Rotate> {
    if raw.size.is_none() && raw.every.is_none() {
        if raw.keep.is_some() {
            r.error(
                &at.origin,
                "access_log: rotate_keep needs rotate_size or rotate_time",
            );
        }
        return None;
    }
    Some(Rotate {
        size: raw.size,
        every: raw.every,
        keep: raw.keep.unwrap_or(DEFAULT_ROTATE_KEEP),
    })
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// 301/302/303/307/308: `return` with a URL.
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

fn merge_http(layers: &[&Layers], origin: &Origin, r: &mut Resolver) -> HttpSettings {
    let mut s = HttpSettings::default();
    for l in layers.iter().map(|l| &l.conn) {
        super::settings::server::inherit(&mut s, l);
        // The server level's copies of location settings (read before a location is chosen).
        if let Some(v) = l.client_body_timeout {
            s.client_body_timeout = v;
        }
        if let Some(v) = l.keepalive_timeout {
            s.keepalive_timeout = v;
        }
        if let Some(v) = l.keepalive_requests {
            s.keepalive_requests = v;
        }
        if let Some(v) = l.send_timeout {
            s.send_timeout = v;
        }
        if let Some(v) = l.client_max_body_size {
            s.client_max_body_size = v;
        }
        if let Some(v) = l.server_tokens {
            s.server_tokens = v;
        }
        if let Some(v) = l.client_header_buffer_size {
            s.client_header_buffer_size = v as usize;
        }
    }
    if s.max_request_line < 64 {
        r.error(origin, "max_request_line must be at least 64 bytes");
    }
    if s.max_header_bytes < s.max_request_line {
        r.error(origin, "max_header_bytes must be at least max_request_line");
    }
    if s.max_headers == 0 || s.max_headers > 1000 {
        r.error(origin, "max_headers must be between 1 and 1000");
    }
    s
}
