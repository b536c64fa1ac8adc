//! `anx -T`: the resolved model printed back as native TOML.
//!
//! Runs once on the control thread for `-T` (a one-shot command), never on the request path.
//! In: a [`Config`] as `resolve` built it, from either front-end. Out: TOML text that
//! `config::toml` loads back to an equal model, which makes `anx -T -c nginx.conf > anx.toml`
//! the nginx → TOML migration.
//!
//! The dump is deliberately explicit rather than pretty: `[main]` is written in full, the
//! MIME table inline, and every location carries every setting it has in the model (lists
//! included, empty ones as `[]` / `false`), so nothing is inherited by surprise when the file
//! is read again. Only two things rely on inheritance, because the model does not say what
//! was written: a location with `alias` omits `root` (`resolve` refuses both in one block),
//! so its server (or parent location) carries the root it inherited. Rewrite-module
//! directives go back into nginx syntax (`rewrite = '''…'''`), printed from the sources every
//! [`Template`] and [`Pattern`] keeps.

mod geo;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::model::{
    AccessLog, AccessLogFormat, AutoindexFormat, Condition, Config, CpuAffinity, DocPath, ErrorLog,
    ErrorPage, ErrorPageStatus, ErrorPageTarget, Expires, FileSettings, FileTest, Handler,
    HttpSettings, Location, LocationHttp, LogEscape, LogFormat, LogTarget, Map, MatchKind,
    PostAction, RewriteFlag, Server, SessionCache, ShardCount, Step, TlsSettings, TryFallback,
};
use super::model::{
    Balance, Peer, PeerAddr, ProbeScheme, Proxy, ProxyPass, ProxyRedirect, ProxySettings, ProxySsl,
    RedirectRule, Upstream,
};
use super::value::{Pattern, Template};

/// The whole configuration as TOML (see the module docs for the layout).
pub fn to_toml(config: &Config) -> String {
    let mut out = String::new();
    let from = config
        .source
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "<built-in>".to_string());
    // `writeln!` into a String cannot fail; the results are ignored throughout.
    let _ = writeln!(
        out,
        "# anx -T: the configuration loaded from {from}, as anx resolved it.\n\
         # Load it with `anx -c <this file>`. Every setting is written out, so editing one\n\
         # location changes only that location."
    );
    main_section(&mut out, config);
    http_section(&mut out, config);
    for upstream in config.upstreams.iter().filter(|u| !u.implicit) {
        upstream_section(&mut out, upstream);
    }
    for server in &config.servers {
        server_section(&mut out, config, server);
    }
    out
}

fn main_section(out: &mut String, config: &Config) {
    out.push_str("\n[main]\n");
    match config.shards {
        ShardCount::Auto => kv(out, "shards", &q("auto")),
        ShardCount::Fixed(n) => kv(out, "shards", &n.to_string()),
    }
    match &config.cpu_affinity {
        CpuAffinity::Auto => kv(out, "cpu_affinity", &q("auto")),
        CpuAffinity::Sets(sets) => {
            // One width for all masks, as people write them ("0101", "1010").
            let width = sets.iter().flatten().max().map_or(1, |m| m + 1);
            let masks: Vec<String> = sets.iter().map(|s| q(&cpu_mask(s, width))).collect();
            kv(out, "cpu_affinity", &list(&masks));
        }
    }
    kv(
        out,
        "worker_connections",
        &int(config.worker_connections as u64),
    );
    if let Some(t) = config.shutdown_timeout {
        kv(out, "worker_shutdown_timeout", &q(&time(t)));
    }
    if let Some(pid) = &config.pid {
        kv(out, "pid", &path(pid));
    }
    if let Some(user) = &config.user {
        kv(out, "user", &q(&user.name));
        if let Some(group) = &user.group {
            kv(out, "group", &q(group));
        }
    }
    error_logs(out, &config.error_log);

    // The MIME table inline, grouped by type (the file form would need the file next to it).
    let mut by_type: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (ext, content_type) in config.mime.entries() {
        by_type
            .entry(content_type)
            .or_default()
            .push(String::from_utf8_lossy(ext).into_owned());
    }
    out.push_str("\n[main.types]\n");
    for (content_type, exts) in by_type {
        let exts: Vec<String> = exts.iter().map(|e| q(e)).collect();
        kv(out, &q(content_type), &list(&exts));
    }
}

/// nginx's `worker_cpu_affinity` mask: one character per CPU, the rightmost is CPU 0.
fn cpu_mask(cpus: &[usize], width: usize) -> String {
    (0..width)
        .rev()
        .map(|i| if cpus.contains(&i) { '1' } else { '0' })
        .collect()
}

/// One log as `error_log` + `error_log_level` (the common case, as people write it), several
/// as a list of `{ path, level }`.
fn error_logs(out: &mut String, logs: &[ErrorLog]) {
    let target = |t: &LogTarget| match t {
        LogTarget::Stderr => q("stderr"),
        LogTarget::File(p) => path(p),
    };
    if let [one] = logs {
        kv(out, "error_log", &target(&one.target));
        kv(out, "error_log_level", &q(one.level.name()));
        return;
    }
    kv(out, "error_log", &list(&error_log_items(logs)));
}

/// Each log as `{ path, level }` (`path = "stderr"` for stderr).
fn error_log_items(logs: &[ErrorLog]) -> Vec<String> {
    logs.iter()
        .map(|l| {
            let target = match &l.target {
                LogTarget::Stderr => q("stderr"),
                LogTarget::File(p) => path(p),
            };
            format!("{{ path = {target}, level = {} }}", q(l.level.name()))
        })
        .collect()
}

/// `[[http.log_format]]` for every custom format in use, then `[[http.map]]`.
fn http_section(out: &mut String, config: &Config) {
    fn collect<'a>(locations: &'a [Location], logs: &mut Vec<&'a AccessLog>) {
        for l in locations {
            logs.extend(&l.access_logs);
            collect(&l.locations, logs);
        }
    }
    let mut logs: Vec<&AccessLog> = Vec::new();
    for server in &config.servers {
        logs.extend(&server.access_logs);
        collect(&server.locations, &mut logs);
    }
    let mut formats: Vec<&LogFormat> = Vec::new();
    for log in logs {
        if let AccessLogFormat::Custom(f) = &log.format {
            if !formats.iter().any(|known| known.name == f.name) {
                formats.push(f);
            }
        }
    }
    for f in formats {
        out.push_str("\n[[http.log_format]]\n");
        kv(out, "name", &q(&f.name));
        let escape = match f.escape {
            LogEscape::Default => "default",
            LogEscape::Json => "json",
            LogEscape::None => "none",
        };
        kv(out, "escape", &q(escape));
        kv(out, "format", &q(&f.template.source));
    }
    for map in &config.maps {
        map_table(out, map);
    }
    geo::tables(out, config);
}

fn map_table(out: &mut String, map: &Map) {
    out.push_str("\n[[http.map]]\n");
    kv(out, "source", &q(&map.source.source));
    kv(out, "variable", &q(&format!("${}", map.name)));
    kv(out, "hostnames", &map.hostnames.to_string());
    kv(out, "volatile", &map.volatile.to_string());
    kv(out, "default", &q(&map.default.source));
    // Exact keys live in a hash map; sorted so the dump is stable. Their order never
    // matters: exact keys are tried before wildcards and regexes.
    let mut exact: Vec<(&String, &Template)> = map.exact.iter().collect();
    exact.sort_by(|a, b| a.0.cmp(b.0));
    let mut entries: Vec<String> = Vec::new();
    for (key, value) in exact {
        // A literal key that starts with `~` is written `\~` in nginx's map syntax.
        let key = if key.starts_with('~') {
            format!("\\{key}")
        } else {
            key.clone()
        };
        entries.push(pair(&key, &value.source));
    }
    for (key, value) in &map.wildcards {
        entries.push(pair(key, &value.source));
    }
    for (pattern, value) in &map.regexes {
        entries.push(pair(&regex_word(pattern), &value.source));
    }
    if entries.is_empty() {
        kv(out, "entries", "[]");
    } else {
        out.push_str("entries = [\n");
        for e in entries {
            let _ = writeln!(out, "    {e},");
        }
        out.push_str("]\n");
    }
}

fn pair(a: &str, b: &str) -> String {
    format!("[{}, {}]", q(a), q(b))
}

/// `~re` / `~*re` as nginx writes a regex key or name.
fn regex_word(p: &Pattern) -> String {
    format!("{}{}", if p.caseless { "~*" } else { "~" }, p.source)
}

fn server_section(out: &mut String, config: &Config, server: &Server) {
    out.push_str("\n[[server]]\n");
    let listen: Vec<String> = server
        .listen
        .iter()
        .map(|l| {
            let mut extra = String::new();
            if l.ssl {
                extra.push_str(", ssl = true");
            }
            if l.proxy_protocol {
                extra.push_str(", proxy_protocol = true");
            }
            for (name, size) in [("rcvbuf", l.rcvbuf), ("sndbuf", l.sndbuf)] {
                if let Some(n) = size {
                    extra.push_str(&format!(", {name} = {n}"));
                }
            }
            format!(
                "{{ addr = {}, default_server = {}, backlog = {}{extra} }}",
                q(&l.addr.to_string()),
                l.default_server,
                l.backlog,
            )
        })
        .collect();
    kv(out, "listen", &list(&listen));
    kv(out, "server_name", &list(&server_names(server)));
    http_settings(out, &server.http);
    location_http(out, &server.fallback.http, true);
    if let Some(tls) = &server.tls {
        tls_settings(out, tls);
    }
    // The server level's own settings (what a URI matching no location gets); its locations
    // write theirs in full, so nothing reaches them by inheritance except `alias`
    // locations' root (see the module docs).
    layer_settings(out, &server.fallback, None);
    if !server.rewrite.is_empty() {
        kv(out, "rewrite", &script(config, &server.rewrite));
    }
    for location in &server.locations {
        location_section(out, config, location, 1, Some(&server.fallback.files));
    }
}

/// `server_name` as written: the primary name first (it becomes `$server_name`), then the
/// other exact and wildcard names, then the regex names as `~re`.
fn server_names(server: &Server) -> Vec<String> {
    let primary = server.primary_name.as_str();
    let mut names: Vec<String> = Vec::new();
    let mut primary_pending = !primary.is_empty();
    if primary_pending {
        names.push(q(primary));
    }
    for n in &server.names {
        if primary_pending && n.eq_ignore_ascii_case(primary) {
            primary_pending = false;
            continue;
        }
        names.push(q(n));
    }
    for p in &server.name_regexes {
        let word = format!("~{}", p.source);
        if primary_pending && word == primary {
            primary_pending = false;
            continue;
        }
        names.push(q(&word));
    }
    names
}

fn http_settings(out: &mut String, h: &HttpSettings) {
    settings_lines(out, super::settings::server::dump(h));
    // Destructured so that a new hand-written setting fails to compile here until the dump
    // writes it. The copies of location settings are the server level's location values,
    // which `location_http` writes.
    let HttpSettings {
        keepalive_timeout,
        client_max_body_size,
        server_tokens,
        client_header_buffer_size,
        client_body_timeout: _,
        keepalive_requests: _,
        send_timeout: _,
        ..
    } = h;
    kv(out, "keepalive_timeout", &q(&time(*keepalive_timeout)));
    kv(out, "client_max_body_size", &int(*client_max_body_size));
    kv(out, "server_tokens", &server_tokens.to_string());
    kv(
        out,
        "client_header_buffer_size",
        &int(*client_header_buffer_size as u64),
    );
}

/// The `-T` lines of a group of `config::settings`.
fn settings_lines(out: &mut String, lines: Vec<(&str, String)>) {
    for (key, value) in lines {
        kv(out, key, &value);
    }
}

/// A location's connection and body settings; `server_level` leaves out the keys the
/// server's [`HttpSettings`] already wrote.
fn location_http(out: &mut String, h: &LocationHttp, server_level: bool) {
    settings_lines(out, super::settings::conn::dump(h));
    let LocationHttp {
        keepalive_timeout,
        keepalive_header,
        keepalive_disable,
        server_tokens,
        body,
        ..
    } = h;
    if !server_level {
        kv(out, "keepalive_timeout", &q(&time(*keepalive_timeout)));
        kv(out, "server_tokens", &server_tokens.to_string());
    }
    if let Some(t) = keepalive_header {
        kv(out, "keepalive_header_timeout", &q(&time(*t)));
    }
    let mut browsers = Vec::new();
    if keepalive_disable.msie6 {
        browsers.push(q("msie6"));
    }
    if keepalive_disable.safari {
        browsers.push(q("safari"));
    }
    if browsers.is_empty() {
        browsers.push(q("none"));
    }
    kv(out, "keepalive_disable", &list(&browsers));
    kv(out, "client_body_buffer_size", &int(body.buffer_size));
    let levels: Vec<String> = body
        .temp_path
        .levels
        .iter()
        .map(|l| l.to_string())
        .collect();
    kv(
        out,
        "client_body_temp_path",
        &format!(
            "{{ path = {}, levels = {} }}",
            q(&body.temp_path.path.display().to_string()),
            list(&levels)
        ),
    );
    kv(
        out,
        "client_body_in_file_only",
        &q(body.in_file_only.name()),
    );
    kv(
        out,
        "client_body_in_single_buffer",
        &body.single_buffer.to_string(),
    );
}

/// A server's `ssl_*` settings under nginx's names (files by path: they are read again
/// when the dump is loaded).
fn tls_settings(out: &mut String, t: &TlsSettings) {
    // Destructured so that a new setting fails to compile here until the dump writes it.
    let TlsSettings {
        certificates,
        protocols,
        ciphers,
        prefer_server_ciphers,
        ecdh_curve,
        session_tickets,
        session_ticket_keys,
        session_timeout,
        session_cache,
        client_certificate,
        trusted_certificate,
        verify_client,
        verify_depth,
        crl,
        stapling,
        stapling_file,
        stapling_responder,
        stapling_verify,
        client_ocsp,
        password_file,
        reject_handshake,
    } = t;
    let paths = |v: Vec<&Path>| list(&v.into_iter().map(path).collect::<Vec<_>>());
    kv(
        out,
        "ssl_certificate",
        &paths(
            certificates
                .iter()
                .map(|c| c.chain.path.as_path())
                .collect(),
        ),
    );
    kv(
        out,
        "ssl_certificate_key",
        &paths(certificates.iter().map(|c| c.key.path.as_path()).collect()),
    );
    let versions: Vec<String> = protocols.iter().map(|v| q(v.name())).collect();
    kv(out, "ssl_protocols", &list(&versions));
    let suites: Vec<String> = ciphers
        .iter()
        .map(|c| crate::tls::names::cipher_name(*c))
        .collect();
    kv(out, "ssl_ciphers", &q(&suites.join(":")));
    kv(
        out,
        "ssl_prefer_server_ciphers",
        &prefer_server_ciphers.to_string(),
    );
    let groups: Vec<String> = ecdh_curve
        .iter()
        .map(|g| crate::tls::names::group_name(*g))
        .collect();
    kv(out, "ssl_ecdh_curve", &q(&groups.join(":")));
    kv(out, "ssl_session_tickets", &session_tickets.to_string());
    if !session_ticket_keys.is_empty() {
        kv(
            out,
            "ssl_session_ticket_key",
            &paths(
                session_ticket_keys
                    .iter()
                    .map(|k| k.path.as_path())
                    .collect(),
            ),
        );
    }
    kv(out, "ssl_session_timeout", &q(&time(*session_timeout)));
    let cache = match session_cache {
        SessionCache::Off => "off".to_string(),
        SessionCache::None => "none".to_string(),
        SessionCache::PerShard { sessions } => format!("builtin:{sessions}"),
        SessionCache::Shared { sessions } => format!(
            "shared:SSL:{}",
            *sessions as u64 * crate::config::model::tls::SESSION_CACHE_BYTES_PER_SESSION
        ),
    };
    kv(out, "ssl_session_cache", &q(&cache));
    if let Some(f) = client_certificate {
        kv(out, "ssl_client_certificate", &path(&f.path));
    }
    if let Some(f) = trusted_certificate {
        kv(out, "ssl_trusted_certificate", &path(&f.path));
    }
    kv(out, "ssl_verify_client", &q(verify_client.name()));
    kv(out, "ssl_verify_depth", &verify_depth.to_string());
    if let Some(f) = crl {
        kv(out, "ssl_crl", &path(&f.path));
    }
    kv(out, "ssl_stapling", &stapling.to_string());
    if let Some(f) = stapling_file {
        kv(out, "ssl_stapling_file", &path(&f.path));
    }
    if let Some(url) = stapling_responder {
        kv(out, "ssl_stapling_responder", &q(url));
    }
    kv(out, "ssl_stapling_verify", &stapling_verify.to_string());
    if let Some(o) = client_ocsp {
        kv(out, "ssl_ocsp", &q(if o.leaf_only { "leaf" } else { "on" }));
        if let Some(r) = &o.responder {
            kv(out, "ssl_ocsp_responder", &q(&r.url));
        }
        if let Some(c) = &o.cache {
            let bytes = c.entries as u64 * crate::config::model::tls::OCSP_CACHE_BYTES_PER_ENTRY;
            kv(
                out,
                "ssl_ocsp_cache",
                &q(&format!("shared:{}:{bytes}", c.name)),
            );
        }
    }
    if let Some(f) = password_file {
        kv(out, "ssl_password_file", &path(f));
    }
    kv(out, "ssl_reject_handshake", &reject_handshake.to_string());
}

/// One location and, after its keys, its nested locations (`[[server.location.location]]`).
/// `inherited_root` is the root the parent level hands down (for `alias` locations).
fn location_section(
    out: &mut String,
    config: &Config,
    loc: &Location,
    depth: usize,
    parent: Option<&FileSettings>,
) {
    let _ = writeln!(out, "\n[[server{}]]", ".location".repeat(depth));
    let (path, kind) = match loc.match_kind {
        MatchKind::Exact => (bytes(&loc.path), "exact"),
        MatchKind::PrefixNoRegex => (bytes(&loc.path), "prefix_no_regex"),
        MatchKind::Prefix => (bytes(&loc.path), "prefix"),
        MatchKind::Regex => match &loc.regex {
            Some(p) => (
                p.source.clone(),
                if p.caseless {
                    "regex_caseless"
                } else {
                    "regex"
                },
            ),
            None => (bytes(&loc.path), "regex"),
        },
        MatchKind::Named => (bytes(&loc.path), "named"),
    };
    kv(out, "path", &q(&path));
    kv(out, "match", &q(kind));
    kv(out, "internal", &loc.internal.to_string());
    layer_settings(out, loc, parent);
    match &loc.handler {
        // The static handler is the default.
        Handler::Static => {}
        // Proxy settings exist in the model only where a proxy_pass is, so they are
        // written there, in full (a nested proxy location writes its own again).
        Handler::Proxy(p) => proxy_settings(out, config, p),
        Handler::Status(page) => kv(out, "status", &q(page.name())),
    }
    // The server level writes its own with the connection settings.
    kv(out, "client_max_body_size", &int(loc.client_max_body_size));
    if let Some(le) = &loc.limit_except {
        let methods: Vec<String> = le.methods.iter().map(|m| q(m)).collect();
        let pass = match &le.location.handler {
            Handler::Proxy(p) => format!(", proxy_pass = {}", q(&proxy_url(config, p))),
            _ => String::new(),
        };
        kv(
            out,
            "limit_except",
            &format!(
                "{{ methods = [{}]{pass}, access = {} }}",
                methods.join(", "),
                geo::access(&le.location.access)
            ),
        );
    }
    location_http(out, &loc.http, false);
    if !loc.rewrite.is_empty() {
        kv(out, "rewrite", &script(config, &loc.rewrite));
    }
    for nested in &loc.locations {
        location_section(out, config, nested, depth + 1, Some(&loc.files));
    }
}

/// Every inheritable setting of one level, written explicitly.
fn layer_settings(out: &mut String, loc: &Location, parent: Option<&FileSettings>) {
    let f = &loc.files;
    match &f.alias {
        None => kv(out, "root", &doc_path(&f.root)),
        Some(alias) => {
            // `root` and `alias` cannot share a block; the root comes from the parent, which
            // was given this location's root. Write it only if that is somehow not so (the
            // reload then reports the conflict instead of silently changing the model).
            if parent.map(|p| &p.root) != Some(&f.root) {
                kv(out, "root", &doc_path(&f.root));
            }
            // An inherited alias is left to inheritance: written here, it would count from
            // this location's prefix instead of its setter's.
            let inherited = parent
                .is_some_and(|p| p.alias.as_ref() == Some(alias) && p.alias_tail == f.alias_tail);
            if !inherited {
                kv(out, "alias", &doc_path(alias));
            }
        }
    }
    settings_lines(out, super::settings::files::dump(f));
    let index: Vec<String> = f.index.iter().map(|i| q(&i.source)).collect();
    kv(out, "index", &list(&index));
    kv(out, "autoindex", &f.autoindex.is_some().to_string());
    if let Some(format) = f.autoindex {
        let word = match format {
            AutoindexFormat::Html => "html",
            AutoindexFormat::Json => "json",
            AutoindexFormat::Xml => "xml",
            AutoindexFormat::Jsonp => "jsonp",
        };
        kv(out, "autoindex_format", &q(word));
    }
    kv(out, "default_type", &q(&f.default_type));
    kv(
        out,
        "allow_symlinks_outside_root",
        &f.allow_symlinks_outside_root.to_string(),
    );
    kv(out, "if_modified_since", &q(f.if_modified_since.name()));

    if let Some(t) = &loc.try_files {
        let mut words: Vec<String> = t.candidates.iter().map(|c| q(&c.source)).collect();
        words.push(q(&match &t.fallback {
            TryFallback::Uri(u) => u.source.clone(),
            TryFallback::Named(n) => format!("@{n}"),
            TryFallback::Status(s) => format!("={s}"),
        }));
        kv(out, "try_files", &list(&words));
    }
    kv(out, "error_page", &error_pages(&loc.error_pages));
    kv(out, "add_header", &list(&header_entries(&loc.add_headers)));
    if !loc.add_trailers.is_empty() {
        kv(
            out,
            "add_trailer",
            &list(&header_entries(&loc.add_trailers)),
        );
    }
    kv(out, "expires", &q(&expires(&loc.expires)));
    if let Some(t) = &loc.rate.limit_rate {
        kv(out, "limit_rate", &q(&t.source));
    }
    if let Some(t) = &loc.rate.limit_rate_after {
        kv(out, "limit_rate_after", &q(&t.source));
    }
    match &loc.post_action {
        Some(PostAction::Uri(u)) => kv(out, "post_action", &q(&String::from_utf8_lossy(u))),
        Some(PostAction::Named(n)) => kv(out, "post_action", &q(&format!("@{n}"))),
        None => {}
    }
    kv(
        out,
        "absolute_redirect",
        &loc.redirects.absolute_redirect.to_string(),
    );
    kv(
        out,
        "port_in_redirect",
        &loc.redirects.port_in_redirect.to_string(),
    );
    kv(
        out,
        "server_name_in_redirect",
        &loc.redirects.server_name_in_redirect.to_string(),
    );
    kv(out, "access_log", &access_logs(&loc.access_logs));
    kv(out, "access", &geo::access(&loc.access));
    if !loc.error_log.is_empty() {
        kv(out, "error_log", &list(&error_log_items(&loc.error_log)));
    }
}

/// `[[upstream]]`: one table per `upstream {}` block (the implicit groups come back from
/// their proxy_pass).
fn upstream_section(out: &mut String, u: &Upstream) {
    out.push_str("\n[[upstream]]\n");
    kv(out, "name", &q(&u.name));
    let servers: Vec<String> = server_lines(&u.peers)
        .into_iter()
        .map(|p| {
            format!(
                "{{ addr = {}, weight = {}, max_fails = {}, fail_timeout = {}, backup = {}, \
                 down = {}, max_conns = {} }}",
                q(&p.name),
                p.weight,
                p.max_fails,
                q(&time(p.fail_timeout)),
                p.backup,
                p.down,
                p.max_conns
            )
        })
        .collect();
    if servers.is_empty() {
        kv(out, "servers", "[]");
    } else {
        out.push_str("servers = [\n");
        for s in servers {
            let _ = writeln!(out, "    {s},");
        }
        out.push_str("]\n");
    }
    let balance = match &u.balance {
        Balance::RoundRobin => q("round_robin"),
        Balance::LeastConn => q("least_conn"),
        Balance::IpHash => q("ip_hash"),
        Balance::Random { two: false } => q("random"),
        Balance::Random { two: true } => q("random_two"),
        Balance::Hash { key, consistent } => {
            format!("{{ hash = {}, consistent = {consistent} }}", q(&key.source))
        }
    };
    kv(out, "balance", &balance);
    kv(out, "keepalive", &int(u.keepalive as u64));
    kv(out, "keepalive_timeout", &q(&time(u.keepalive_timeout)));
    kv(out, "keepalive_requests", &int(u.keepalive_requests));
    kv(out, "keepalive_time", &q(&time(u.keepalive_time)));
    if let Some(h) = &u.health_check {
        let status: Vec<String> = h
            .status
            .iter()
            .map(|(lo, hi)| {
                if lo == hi {
                    q(&lo.to_string())
                } else {
                    q(&format!("{lo}-{hi}"))
                }
            })
            .collect();
        let mut table = format!(
            "{{ interval = {}, uri = {}, timeout = {}, fails = {}, passes = {}, status = {}",
            q(&time(h.interval)),
            q(&h.uri),
            q(&time(h.timeout)),
            h.fails,
            h.passes,
            list(&status)
        );
        if let Some(body) = &h.body {
            let _ = write!(table, ", body = {}", q(&body.source));
        }
        if let Some(host) = &h.host {
            let _ = write!(table, ", host = {}", q(host));
        }
        // As written: the TLS settings it resolves to come from the locations again.
        if let Some(scheme) = h.scheme {
            let name = match scheme {
                ProbeScheme::Http => "http",
                ProbeScheme::Https => "https",
            };
            let _ = write!(table, ", scheme = {}", q(name));
        }
        table.push_str(" }");
        kv(out, "health_check", &table);
    }
}

/// The `server` lines a group's peers came from: one line gives one peer per address its
/// name resolved to, so consecutive peers with the same name and parameters are one line,
/// until an address repeats (then the same line was written twice).
fn server_lines(peers: &[Peer]) -> Vec<&Peer> {
    let mut lines: Vec<&Peer> = Vec::new();
    let mut current: Vec<&PeerAddr> = Vec::new();
    for p in peers {
        let same_line = lines.last().is_some_and(|last| {
            last.name == p.name
                && last.weight == p.weight
                && last.max_fails == p.max_fails
                && last.fail_timeout == p.fail_timeout
                && last.backup == p.backup
                && last.down == p.down
                && last.max_conns == p.max_conns
                && !current.contains(&&p.addr)
        });
        if same_line {
            current.push(&p.addr);
        } else {
            lines.push(p);
            current = vec![&p.addr];
        }
    }
    lines
}

/// `proxy_pass` as written (rebuilt from the model) and every `proxy_*` setting.
fn proxy_settings(out: &mut String, config: &Config, p: &Proxy) {
    kv(out, "proxy_pass", &q(&proxy_url(config, p)));
    proxy_only_settings(out, p);
}

/// `proxy_pass` as written, rebuilt from the model.
fn proxy_url(config: &Config, p: &Proxy) -> String {
    match &p.pass {
        ProxyPass::Dynamic(t) => t.source.clone(),
        ProxyPass::Fixed {
            upstream,
            proxy_host,
            uri,
            https,
            ..
        } => {
            let uri = uri.as_deref().map(bytes).unwrap_or_default();
            let scheme = if *https { "https" } else { "http" };
            match config.upstreams.get(*upstream) {
                // `http://unix:/path:/uri`: the path ends at the ':' before the URI.
                Some(u) if u.implicit && u.name.starts_with("unix:") => {
                    if uri.is_empty() {
                        format!("{scheme}://{}", u.name)
                    } else {
                        format!("{scheme}://{}:{uri}", u.name)
                    }
                }
                _ => format!("{scheme}://{proxy_host}{uri}"),
            }
        }
    }
}

/// Every `proxy_*` setting but `proxy_pass`.
fn proxy_only_settings(out: &mut String, p: &Proxy) {
    settings_lines(out, super::settings::proxy::dump(&p.settings));
    // Destructured so that a new hand-written setting fails to compile here until the dump
    // writes it (the declared ones are written above).
    let ProxySettings {
        set_headers,
        hide_headers,
        pass_headers,
        http_minor,
        method,
        redirect,
        next_upstream,
        ssl,
        resolver,
        cookie_domains,
        cookie_paths,
        cookie_flags,
        set_body,
        bind,
        ignore_headers,
        ..
    } = &p.settings;
    let headers: Vec<String> = set_headers
        .iter()
        .map(|(name, value)| format!("{{ name = {}, value = {} }}", q(name), q(&value.source)))
        .collect();
    kv(out, "proxy_set_header", &list(&headers));
    let names = |v: &[String]| list(&v.iter().map(|n| q(n)).collect::<Vec<_>>());
    kv(out, "proxy_hide_header", &names(hide_headers));
    kv(out, "proxy_pass_header", &names(pass_headers));
    kv(out, "proxy_http_version", &q(&format!("1.{http_minor}")));
    if let Some(m) = method {
        kv(out, "proxy_method", &q(&m.source));
    }
    let redirect = match redirect {
        ProxyRedirect::Default => q("default"),
        ProxyRedirect::Off => q("off"),
        ProxyRedirect::Rules(rules) => {
            let items: Vec<String> = rules
                .iter()
                .map(|rule| match rule {
                    RedirectRule::Default => q("default"),
                    RedirectRule::Prefix { from, to } => {
                        format!("{{ from = {}, to = {} }}", q(&from.source), q(&to.source))
                    }
                    RedirectRule::Regex { from, to } => format!(
                        "{{ from = {}, to = {} }}",
                        q(&regex_word(from)),
                        q(&to.source)
                    ),
                })
                .collect();
            list(&items)
        }
    };
    kv(out, "proxy_redirect", &redirect);
    let n = next_upstream;
    let mut words: Vec<String> = Vec::new();
    for (on, word) in [
        (n.error, "error"),
        (n.timeout, "timeout"),
        (n.invalid_header, "invalid_header"),
    ] {
        if on {
            words.push(q(word));
        }
    }
    words.extend(n.statuses.iter().map(|c| q(&format!("http_{c}"))));
    if n.non_idempotent {
        words.push(q("non_idempotent"));
    }
    if words.is_empty() {
        words.push(q("off"));
    }
    kv(out, "proxy_next_upstream", &list(&words));
    proxy_ssl(out, ssl);
    if let Some(res) = resolver {
        let mut words: Vec<String> = res.servers.iter().map(|a| q(&a.to_string())).collect();
        if let Some(v) = res.valid {
            words.push(q(&format!("valid={}", time(v))));
        }
        if !res.ipv4 {
            words.push(q("ipv4=off"));
        }
        if !res.ipv6 {
            words.push(q("ipv6=off"));
        }
        kv(out, "resolver", &list(&words));
    }
    let ignored: Vec<String> = ignore_headers.names().map(q).collect();
    if !ignored.is_empty() {
        kv(out, "proxy_ignore_headers", &list(&ignored));
    }
    if let Some(b) = bind {
        let mut words = vec![q(&b.addr.source)];
        if b.transparent {
            words.push(q("transparent"));
        }
        kv(out, "proxy_bind", &list(&words));
    }
    if let Some(t) = set_body {
        kv(out, "proxy_set_body", &q(&t.source));
    }
    cookie_rules(out, "proxy_cookie_domain", cookie_domains);
    cookie_rules(out, "proxy_cookie_path", cookie_paths);
    if !cookie_flags.is_empty() {
        let items: Vec<String> = cookie_flags
            .iter()
            .map(|f| {
                let mut words = vec![q(&cookie_match(&f.cookie))];
                words.extend(f.flags.iter().map(|t| q(&t.source)));
                list(&words)
            })
            .collect();
        kv(out, "proxy_cookie_flags", &list(&items));
    }
}

/// The `proxy_ssl_*` settings (files by path, never their bytes).
/// A cookie rule's match as written (`~` / `~*` before a regex).
fn cookie_match(m: &crate::config::model::CookieMatch) -> String {
    match m {
        crate::config::model::CookieMatch::Literal(t) => t.source.clone(),
        crate::config::model::CookieMatch::Regex(p) => regex_word(p),
    }
}

fn cookie_rules(out: &mut String, key: &str, rules: &[crate::config::model::CookieRewrite]) {
    if rules.is_empty() {
        return;
    }
    let items: Vec<String> = rules
        .iter()
        .map(|r| list(&[q(&cookie_match(&r.from)), q(&r.to.source)]))
        .collect();
    kv(out, key, &list(&items));
}

fn proxy_ssl(out: &mut String, ssl: &ProxySsl) {
    let ProxySsl {
        verify,
        trusted_certificate,
        verify_depth,
        server_name,
        name,
        certificate,
        certificate_vars,
        protocols,
        session_reuse,
        password_file,
        crl,
    } = ssl;
    kv(out, "proxy_ssl_verify", &verify.to_string());
    if let Some(f) = trusted_certificate {
        kv(out, "proxy_ssl_trusted_certificate", &path(&f.path));
    }
    kv(out, "proxy_ssl_verify_depth", &verify_depth.to_string());
    kv(out, "proxy_ssl_server_name", &server_name.to_string());
    if let Some(t) = name {
        kv(out, "proxy_ssl_name", &q(&t.source));
    }
    if let Some(c) = certificate {
        kv(out, "proxy_ssl_certificate", &path(&c.chain.path));
        kv(out, "proxy_ssl_certificate_key", &path(&c.key.path));
    }
    if let Some(c) = certificate_vars {
        kv(out, "proxy_ssl_certificate", &q(&c.certificate.source));
        kv(out, "proxy_ssl_certificate_key", &q(&c.key.source));
    }
    let versions: Vec<String> = protocols.iter().map(|v| q(v.name())).collect();
    kv(out, "proxy_ssl_protocols", &list(&versions));
    kv(out, "proxy_ssl_session_reuse", &session_reuse.to_string());
    if let Some(f) = password_file {
        kv(out, "proxy_ssl_password_file", &path(f));
    }
    if let Some(f) = crl {
        kv(out, "proxy_ssl_crl", &path(&f.path));
    }
}

/// `add_header` / `add_trailer` entries as TOML inline tables.
fn header_entries(list: &[crate::config::model::AddHeader]) -> Vec<String> {
    list.iter()
        .map(|h| {
            format!(
                "{{ name = {}, value = {}, always = {} }}",
                q(&h.name),
                q(&h.value.source),
                h.always
            )
        })
        .collect()
}

fn error_pages(pages: &[ErrorPage]) -> String {
    let items: Vec<String> = pages
        .iter()
        .map(|p| {
            let codes: Vec<String> = p.codes.iter().map(u16::to_string).collect();
            let target = match &p.target {
                ErrorPageTarget::Uri(t) | ErrorPageTarget::Redirect(t) => t.source.clone(),
                ErrorPageTarget::Named(n) => format!("@{n}"),
            };
            let status = match p.status {
                ErrorPageStatus::Keep => String::new(),
                ErrorPageStatus::Set(code) => format!(", status = {code}"),
                ErrorPageStatus::FromTarget => format!(", status = {}", q("target")),
            };
            format!(
                "{{ codes = {}, target = {}{status} }}",
                list(&codes),
                q(&target)
            )
        })
        .collect();
    list(&items)
}

/// `false` for none (`access_log off`), else every log as a table.
fn access_logs(logs: &[AccessLog]) -> String {
    if logs.is_empty() {
        return "false".to_string();
    }
    let items: Vec<String> = logs
        .iter()
        .map(|l| {
            let format = match &l.format {
                AccessLogFormat::Combined => "combined",
                AccessLogFormat::Common => "common",
                AccessLogFormat::Json(_) => "json",
                AccessLogFormat::Custom(f) => f.name.as_str(),
            };
            let mut rotate = String::new();
            if let Some(r) = &l.rotate {
                if let Some(size) = r.size {
                    rotate.push_str(&format!(", rotate_size = {}", int(size)));
                }
                if let Some(every) = r.every {
                    rotate.push_str(&format!(", rotate_time = {}", q(&time(every))));
                }
                rotate.push_str(&format!(", rotate_keep = {}", r.keep));
            }
            let condition = match &l.condition {
                Some(c) => format!(", if = {}", q(&c.source)),
                None => String::new(),
            };
            let buffer = if l.buffered {
                format!(
                    ", buffer = {}, flush = {}",
                    int(l.buffer_bytes as u64),
                    q(&time(l.flush))
                )
            } else {
                String::new()
            };
            format!(
                "{{ path = {}, format = {}{buffer}{condition}{rotate} }}",
                path(&l.path),
                q(format),
            )
        })
        .collect();
    list(&items)
}

/// `expires` in nginx's words.
fn expires(e: &Expires) -> String {
    match *e {
        Expires::Off => "off".to_string(),
        Expires::Epoch => "epoch".to_string(),
        Expires::Max => "max".to_string(),
        Expires::After(s) => signed_seconds(s),
        Expires::Modified(s) => format!("modified {}", signed_seconds(s)),
        Expires::DailyAt(s) => format!("@{}", time(Duration::from_secs(u64::from(s)))),
        Expires::Variable {
            modified,
            ref template,
        } => {
            let prefix = if modified { "modified " } else { "" };
            format!("{prefix}{}", template.source)
        }
    }
}

fn signed_seconds(s: i64) -> String {
    let t = time(Duration::from_secs(s.unsigned_abs()));
    if s < 0 {
        format!("-{t}")
    } else {
        t
    }
}

/// A duration in the units `units::parse_duration` reads: "75s", "1m", "1h30m", "500ms".
/// Under an hour and not whole minutes, plain seconds ("75s", as nginx configs write it).
pub(super) fn time(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let mut secs = d.as_secs();
    if secs < 3600 && secs % 60 != 0 {
        return format!("{secs}s");
    }
    let mut s = String::new();
    for (unit, size) in [("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            let _ = write!(s, "{}{unit}", secs / size);
            secs %= size;
        }
    }
    if s.is_empty() {
        s.push_str("0s");
    }
    s
}

/// A `root`/`alias` as written: the fixed base joined with its variable rest.
fn doc_path(p: &DocPath) -> String {
    let base = p.base.to_string_lossy();
    let text = match &p.rest {
        None => base.into_owned(),
        Some(rest) if base.ends_with('/') || rest.source.starts_with('/') => {
            format!("{base}{}", rest.source)
        }
        Some(rest) => format!("{base}/{}", rest.source),
    };
    q(&text)
}

fn path(p: &Path) -> String {
    q(&p.to_string_lossy())
}

fn bytes(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---- rewrite-module directives back in nginx syntax ----

/// The steps as a TOML string holding nginx directives, one per line.
fn script(config: &Config, steps: &[Step]) -> String {
    let mut text = String::new();
    write_steps(&mut text, config, steps, 0);
    // A multi-line literal string keeps backslashes as they are, which regexes are full of;
    // fall back to an escaped string in the unlikely case the text cannot be one.
    if !text.contains("'''") && !text.chars().any(|c| c.is_control() && c != '\n') {
        format!("'''\n{text}'''")
    } else {
        q(&text)
    }
}

fn write_steps(out: &mut String, config: &Config, steps: &[Step], depth: usize) {
    for step in steps {
        let indent = "    ".repeat(depth);
        out.push_str(&indent);
        match step {
            Step::Rewrite {
                pattern,
                replacement,
                flag,
            } => {
                let _ = write!(
                    out,
                    "rewrite {} {}",
                    word(&pattern.source),
                    word(&replacement.source)
                );
                let flag = match flag {
                    RewriteFlag::None => "",
                    RewriteFlag::Last => " last",
                    RewriteFlag::Break => " break",
                    RewriteFlag::Redirect => " redirect",
                    RewriteFlag::Permanent => " permanent",
                };
                let _ = writeln!(out, "{flag};");
            }
            Step::Return { status, text } => match text {
                Some(t) => {
                    let _ = writeln!(out, "return {status} {};", word(&t.source));
                }
                None => {
                    let _ = writeln!(out, "return {status};");
                }
            },
            Step::Set { var, value } => {
                let name = config.user_vars.get(*var).map_or("", String::as_str);
                let _ = writeln!(out, "set ${name} {};", word(&value.source));
            }
            Step::SetArgs { value } => {
                let _ = writeln!(out, "set $args {};", word(&value.source));
            }
            Step::SetLimitRate { value } => {
                let _ = writeln!(out, "set $limit_rate {};", word(&value.source));
            }
            Step::If {
                condition,
                steps,
                location,
            } => {
                let _ = writeln!(out, "if {} {{", condition_text(condition));
                if let Some(loc) = location {
                    // The block's own list replaces the location's, so writing the whole
                    // list (and expires) reads back to the same if-location.
                    let inner = "    ".repeat(depth + 1);
                    let lists = [
                        ("add_header", &loc.add_headers),
                        ("add_trailer", &loc.add_trailers),
                    ];
                    for (directive, list) in lists {
                        for h in list {
                            let always = if h.always { " always" } else { "" };
                            let _ = writeln!(
                                out,
                                "{inner}{directive} {} {}{always};",
                                word(&h.name),
                                word(&h.value.source)
                            );
                        }
                    }
                    let _ = writeln!(out, "{inner}expires {};", expires(&loc.expires));
                    // The if-location's handler: its own proxy_pass or the enclosing one's,
                    // which written here means the same.
                    if let Handler::Proxy(p) = &loc.handler {
                        let _ = writeln!(out, "{inner}proxy_pass {};", word(&proxy_url(config, p)));
                    }
                }
                write_steps(out, config, steps, depth + 1);
                out.push_str(&indent);
                out.push_str("}\n");
            }
            Step::Break => out.push_str("break;\n"),
        }
    }
}

/// `(…)` of an `if`, in the form nginx's parser splits back into the same words.
fn condition_text(c: &Condition) -> String {
    let words: Vec<String> = match c {
        Condition::Truthy(t) => vec![word(&t.source)],
        Condition::Equals {
            value,
            other,
            negate,
        } => vec![
            word(&value.source),
            (if *negate { "!=" } else { "=" }).to_string(),
            word(&other.source),
        ],
        Condition::Matches {
            value,
            pattern,
            negate,
        } => {
            let op = match (negate, pattern.caseless) {
                (false, false) => "~",
                (false, true) => "~*",
                (true, false) => "!~",
                (true, true) => "!~*",
            };
            vec![word(&value.source), op.to_string(), word(&pattern.source)]
        }
        Condition::File { test, path, negate } => {
            let flag = match test {
                FileTest::File => "f",
                FileTest::Dir => "d",
                FileTest::Exists => "e",
                FileTest::Executable => "x",
            };
            let bang = if *negate { "!" } else { "" };
            vec![format!("{bang}-{flag}"), word(&path.source)]
        }
    };
    // nginx strips "(" from the first word and ")" from the last. A quoted first word cannot
    // carry the "(" (a quote opens a word only at its start), so it gets a "(" of its own; a
    // ")" right after a closing quote is a word of its own, which nginx also accepts.
    let open = if words.first().is_some_and(|w| w.starts_with('"')) {
        "( "
    } else {
        "("
    };
    format!("{open}{})", words.join(" "))
}

/// One nginx word that the nginx lexer reads back as `value`: quoted when it holds
/// whitespace, `;`, `{`, `}`, quotes or is empty; backslashes doubled where the lexer
/// would otherwise take them as an escape (`\"` `\'` `\\` `\t` `\r` `\n`, or a final `\`).
pub fn word(value: &str) -> String {
    let quote = value.is_empty()
        || value.starts_with('#')
        || value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, ';' | '{' | '}' | '"' | '\''));
    let mut out = String::with_capacity(value.len() + 2);
    if quote {
        out.push('"');
    }
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                None | Some('"' | '\'' | '\\' | 't' | 'r' | 'n') => out.push_str("\\\\"),
                Some(_) => out.push('\\'),
            },
            '"' => out.push_str("\\\""),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    if quote {
        out.push('"');
    }
    out
}

// ---- TOML pieces ----

/// A TOML string, escaped by the `toml` crate (backslashes and quotes survive).
pub(super) fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A TOML integer; values beyond i64 (never in practice) as a digit string the size and
/// count parsers also read.
pub(super) fn int(n: u64) -> String {
    if i64::try_from(n).is_ok() {
        n.to_string()
    } else {
        q(&n.to_string())
    }
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

fn kv(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(out, "{key} = {value}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::nginx::lexer::{End, Lexer, Mode};
    use std::path::PathBuf;

    /// Loads TOML text, dumps it, loads the dump, and checks the two models are equal.
    fn round_trip(text: &str) -> (Config, String) {
        let base = Path::new("/srv/site");
        let first = crate::config::toml::parse(text, Some(Path::new("/srv/site/a.toml")), base)
            .unwrap_or_else(|e| panic!("original does not load: {e}"));
        let dumped = to_toml(&first);
        let mut second = crate::config::toml::parse(
            &dumped,
            Some(Path::new("/elsewhere/b.toml")),
            Path::new("/elsewhere"),
        )
        .unwrap_or_else(|e| panic!("dump does not load: {e}\n{dumped}"));
        second.source = first.source.clone();
        assert!(first == second, "models differ; dump:\n{dumped}");
        // A second dump is identical: the format is stable.
        assert_eq!(to_toml(&second), dumped);
        (first, dumped)
    }

    #[test]
    fn words_quote_and_escape_like_the_nginx_lexer_reads() {
        assert_eq!(word("^/a/(.*)$"), "^/a/(.*)$");
        assert_eq!(word("\\.php$"), "\\.php$");
        assert_eq!(word(""), "\"\"");
        assert_eq!(word("a b"), "\"a b\"");
        assert_eq!(word("^/(\\d{3})$"), "\"^/(\\d{3})$\"");
        assert_eq!(word("a\\\\b"), "a\\\\\\b");
        // Whatever the value, the lexer reads back exactly it.
        for value in [
            "plain",
            "",
            "a b",
            "say \"hi\"",
            "it's",
            "a\\\\b",
            "\\t",
            "end\\",
            "tab\there",
            "line\nbreak",
            "#x",
            "a#b",
            "{",
            "}",
            "x{2}",
            "${host}",
            "semi;colon",
            "\\;",
            "\\\"",
            "(",
            ")",
        ] {
            let text = format!("x {};", word(value));
            let mut lexer = Lexer::new(text.as_bytes(), Mode::File);
            let st = lexer
                .next_statement()
                .unwrap_or_else(|e| panic!("{value:?} as {text:?}: {e:?}"));
            assert_eq!(st.end, End::Semicolon, "{value:?} as {text:?}");
            assert_eq!(st.words.len(), 2, "{value:?} as {text:?}");
            assert_eq!(st.words[1].value, value, "{value:?} as {text:?}");
        }
    }

    #[test]
    fn masks_and_times() {
        assert_eq!(cpu_mask(&[0], 1), "1");
        assert_eq!(cpu_mask(&[1, 3], 4), "1010");
        assert_eq!(cpu_mask(&[0], 4), "0001");
        assert_eq!(time(Duration::from_secs(75)), "75s");
        assert_eq!(time(Duration::from_secs(120)), "2m");
        assert_eq!(time(Duration::from_secs(5430)), "1h30m30s");
        assert_eq!(time(Duration::from_secs(3600)), "1h");
        assert_eq!(time(Duration::from_millis(1500)), "1500ms");
        assert_eq!(time(Duration::ZERO), "0s");
        assert_eq!(expires(&Expires::After(-1)), "-1s");
        assert_eq!(expires(&Expires::Modified(3600)), "modified 1h");
        assert_eq!(expires(&Expires::DailyAt(15 * 3600 + 30 * 60)), "@15h30m");
    }

    #[test]
    fn every_level_reads_back() {
        use crate::config::model::ErrorLevel;
        for level in ErrorLevel::ALL {
            let text = format!(
                "[main]\nerror_log_level = {}\n[[server]]\nlisten = [\"127.0.0.1:1\"]\n",
                q(level.name())
            );
            let c = crate::config::toml::parse(&text, None, Path::new("/")).unwrap();
            assert_eq!(c.error_log[0].level, level);
        }
    }

    #[test]
    fn several_error_logs_round_trip() {
        let text = "[main]\nerror_log = [\"stderr\", { path = \"/l/e.log\", level = \"crit\" }]\nerror_log_level = \"warn\"\n[[server]]\nlisten = [\"127.0.0.1:1\"]\n";
        let c = crate::config::toml::parse(text, None, Path::new("/")).unwrap();
        assert_eq!(c.error_log.len(), 2);
        use crate::config::model::ErrorLevel;
        assert_eq!(c.error_log[0].level, ErrorLevel::Warn);
        assert_eq!(c.error_log[1].level, ErrorLevel::Crit);
        let again = crate::config::toml::parse(&to_toml(&c), None, Path::new("/")).unwrap();
        assert_eq!(again.error_log, c.error_log);
    }

    #[test]
    fn minimal_config_round_trips() {
        round_trip(
            r#"
            [[server]]
            listen = ["127.0.0.1:8080"]
            [[server.location]]
            path = "/"
            "#,
        );
    }

    #[test]
    fn shipped_config_round_trips() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/anx.toml");
        let text = std::fs::read_to_string(&file).expect("conf/anx.toml");
        let first = crate::config::load(&file).expect("conf/anx.toml loads");
        let dumped = to_toml(&first);
        let mut second = crate::config::toml::parse(&dumped, None, Path::new("/elsewhere"))
            .unwrap_or_else(|e| panic!("dump does not load: {e}\n{dumped}"));
        second.source = first.source.clone();
        assert!(
            first == second,
            "models differ; original:\n{text}\ndump:\n{dumped}"
        );
    }

    /// Loads an nginx-syntax file, dumps it, and checks the TOML loads to the same model.
    fn nginx_round_trip(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, text).unwrap();
        std::fs::write(dir.path().join("mime.types"), "types { text/html html; }").unwrap();
        let first = crate::config::load(&file).unwrap_or_else(|e| panic!("nginx.conf: {e}"));
        let dumped = to_toml(&first);
        let mut second = crate::config::toml::parse(&dumped, None, Path::new("/elsewhere"))
            .unwrap_or_else(|e| panic!("dump does not load: {e}\n{dumped}"));
        second.source = first.source.clone();
        assert!(first == second, "models differ; dump:\n{dumped}");
        dumped
    }

    #[test]
    fn shipped_nginx_config_round_trips() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/nginx.conf");
        let first = crate::config::load(&file).expect("conf/nginx.conf loads");
        let dumped = to_toml(&first);
        let mut second = crate::config::toml::parse(&dumped, None, Path::new("/elsewhere"))
            .unwrap_or_else(|e| panic!("dump does not load: {e}\n{dumped}"));
        second.source = first.source.clone();
        assert!(first == second, "models differ; dump:\n{dumped}");
    }

    #[test]
    fn nginx_config_with_every_family_round_trips() {
        nginx_round_trip(
            r#"
            worker_processes 4;
            worker_cpu_affinity 0001 0010 1100;
            pid logs/anx.pid;
            error_log logs/error.log info;
            events { worker_connections 1024; }
            http {
                include mime.types;
                default_type application/octet-stream;
                log_format main escape=none '$remote_addr - "$request" $status';
                map $http_host $backend {
                    hostnames;
                    default "b";
                    \~tilde literal;
                    .example.com ex;
                    www.example.* www;
                    ~^api\.(?<tenant>[a-z]+)\. "api $tenant";
                    ~*^CDN cdn;
                }
                map $uri $is_static { default 0; ~\.(css|js)$ 1; }
                add_header X-Http 1;
                server {
                    listen 127.0.0.1:8081 default_server backlog=128;
                    listen [::1]:8081;
                    server_name ~^(?<sub>.+)\.example\.net$ Example.COM *.example.com;
                    root /srv/www;
                    access_log logs/access.log main buffer=32k flush=5s if=$is_static;
                    error_page 500 502 503 504 /50x.html;
                    set $a "";
                    if ($request_method = POST) { return 405; }
                    if ( "$http_x_a b" = "x y" ) { set $a "q;{}"; }
                    if ($uri ~ "^/(\d{2})(a)$") { rewrite ^ /two/$1 last; }
                    location / {
                        try_files $uri $uri/ /index.html;
                        expires modified -1h;
                        location /nested/ {
                            alias /srv/nested/;
                            error_page 404 = @fallback;
                            add_header X-Nested "yes and no" always;
                        }
                    }
                    location ~* \.(png|jpg)$ { expires @15h30m; access_log off; }
                    location ^~ /static/ { autoindex on; autoindex_format json; etag off; }
                    location = /exact { return 200 "it's \"exact\"\n"; }
                    location @fallback { internal; return 302 https://example.com$request_uri; }
                    location /esc { rewrite "^/esc/(.*)\\\\x$" '/e/$1\t' break; }
                }
                server {
                    listen 8082;
                    absolute_redirect off;
                    port_in_redirect off;
                    server_name_in_redirect on;
                    location / { root html; index a.html b.html; }
                }
            }
            "#,
        );
    }

    #[test]
    fn everything_round_trips() {
        let (config, dumped) = round_trip(
            r#"
            [main]
            shards = 3
            cpu_affinity = ["0101", "1010"]
            worker_connections = 777
            pid = "run/anx.pid"
            error_log = "logs/error.log"
            error_log_level = "warn"
            [main.types]
            "text/html" = ["html", "htm"]
            "image/png" = ["png"]

            [http]
            keepalive_timeout = "5s"
            client_max_body_size = 0
            add_header = [{ name = "X-Http", value = "1" }]
            root = "html"

            [[http.log_format]]
            name = "main"
            escape = "json"
            format = "$remote_addr \"$request\" $status"

            [[http.map]]
            source = "$host"
            variable = "$site"
            hostnames = true
            default = "none"
            entries = [["example.com", "ex"], ["*.example.org", "org"], ["~^www\\.(?<rest>.+)$", "www-$rest"], ["~*^API\\.", "api"]]

            [[server]]
            listen = ["127.0.0.1:8080", { addr = "[::1]:8080", default_server = true, backlog = 511 }]
            server_name = ["Example.com", "*.example.com", "~^(?<sub>.+)\\.example\\.net$"]
            send_timeout = "1m 30s"
            error_page = [{ codes = [500, 502], target = "/50x.html" }]
            access_log = { path = "logs/access.log", format = "main", buffer = "32k", flush = "2s", if = "$site" }
            rewrite = '''
            if ($host = old.example.com) { return 301 https://example.com$request_uri; }
            rewrite ^/old/(.*)$ /new/$1 permanent;
            set $flavour "a b";
            if ($http_user_agent ~* "bot{2}") { set $flavour bot; }
            if (!-f $request_filename) { break; }
            '''

            [[server.location]]
            path = "/"
            index = ["index.html", "index.htm"]
            try_files = ["$uri", "$uri/", "@fallback"]
            error_page = [{ codes = [404], target = "@fallback", status = "target" }, { codes = [403], target = "https://example.com/denied", status = 302 }]
            expires = "modified 1h"
            absolute_redirect = false
            access_log = false

            [[server.location.location]]
            path = "/static/"
            alias = "/srv/static/"
            autoindex = true
            autoindex_format = "json"
            add_header = [{ name = "Cache-Control", value = "public, $flavour", always = true }]
            expires = "max"

            [[server.location.location.location]]
            path = "\\.(png|jpg)$"
            match = "regex_caseless"
            expires = "@15h30m"

            [[server.location]]
            path = "/dl/"
            alias = "/srv/downloads/"

            [[server.location]]
            path = "/exact"
            match = "exact"
            return = { status = 200, text = "ok\n" }

            [[server.location]]
            path = "/nr/"
            match = "prefix_no_regex"
            root = "/srv/$host/x"
            rewrite = '''
            rewrite "^/nr/(\d{3})$" /n/$1 last;
            return 404 "nothing \"here\"";
            '''

            [[server.location]]
            path = "fallback"
            match = "named"
            internal = true
            try_files = ["/index.html", "=404"]
            expires = "-1"
            "#,
        );
        assert_eq!(config.servers.len(), 1);
        assert!(
            dumped.contains("cpu_affinity = [\"0101\", \"1010\"]"),
            "{dumped}"
        );
        assert!(dumped.contains("'''"), "{dumped}");
        assert_eq!(config.servers[0].primary_name, "Example.com");
        assert_eq!(
            config.pid,
            Some(PathBuf::from("/srv/site/run/anx.pid")),
            "relative pid resolves against the file's directory"
        );
    }
}
