//! The directive table's http, server and location blocks (nginx front-end, control thread
//! only): `server`, `location` and its nesting rules, `listen`, `server_name`, `types`, `map`
//! and `log_format`. The settings these blocks share are in `layers`.

use super::layers::Level;
use super::{arg, is_no_op_directive, is_no_op_parameter, Walker, HTTP, LOC, SRV};
use crate::config::model::StatusPage;
use crate::config::nginx::parser::Directive;
use crate::config::tree::{
    self, At, ConfigTree, Layers, LocationTree, LogFormatTree, MainSettings, MapTree, MimeSource,
    RawListen, RawMatch, ServerTree,
};
use crate::http::mime::MimeTypes;

/// A location's kind and path, as nested locations are checked against their parent.
struct Parent<'a> {
    kind: RawMatch,
    path: &'a str,
}

/// How nginx names a location in its messages: the path, `@name` for a named one.
fn shown(kind: RawMatch, path: &str) -> String {
    if kind == RawMatch::Named {
        format!("@{path}")
    } else {
        path.to_string()
    }
}

impl Walker {
    pub(super) fn http_block(&mut self, dirs: &[Directive], tree: &mut ConfigTree) {
        for d in dirs {
            if !self.check(d, HTTP) {
                continue;
            }
            match d.name.as_str() {
                "server" => {
                    let server = self.server(d);
                    tree.servers.push(server);
                }
                "types" => self.types(d, &mut tree.main),
                "map" => {
                    if let Some(map) = self.map(d) {
                        tree.maps.push(map);
                    }
                }
                "geo" => {
                    if let Some(geo) = self.geo(d) {
                        tree.geos.push(geo);
                    }
                }
                "split_clients" => {
                    if let Some(split) = self.split_clients(d) {
                        tree.split_clients.push(split);
                    }
                }
                "log_format" => self.log_format(d, &mut tree.log_formats),
                "upstream" => {
                    if let Some(upstream) = self.upstream(d) {
                        tree.upstreams.push(upstream);
                    }
                }
                name if is_no_op_directive(name) => self.no_op(d),
                _ => self.layer(d, &mut tree.http, Level::Http),
            }
        }
    }

    fn server(&mut self, d: &Directive) -> At<ServerTree> {
        let mut server = ServerTree::default();
        for d in d.block.as_deref().unwrap_or_default() {
            if !self.check(d, SRV) {
                continue;
            }
            match d.name.as_str() {
                "listen" => match tree::expand_port_range(arg(d, 0)) {
                    None => {
                        if let Some(listen) = self.listen(d) {
                            server.listen.push(listen);
                        }
                    }
                    Some(Ok(addrs)) => {
                        for addr in addrs {
                            let mut one = d.clone();
                            if let Some(first) = one.args.first_mut() {
                                first.value = addr;
                            }
                            if let Some(listen) = self.listen(&one) {
                                server.listen.push(listen);
                            }
                        }
                    }
                    Some(Err(e)) => self.error(d, format!("\"listen\" directive: {e}")),
                },
                "server_name" => {
                    let origin = self.origin(d);
                    server.names.extend(
                        d.args
                            .iter()
                            .map(|a| At::new(a.value.clone(), origin.clone())),
                    );
                }
                "location" => {
                    if let Some(location) = self.location(d, None) {
                        server.locations.push(location);
                    }
                }
                "if" | "rewrite" | "return" | "set" | "break" => {
                    if let Some(step) = self.step(d, super::SIF) {
                        server.rewrite.push(step);
                    }
                }
                "types" => self.not_at_this_level(d, "write it in http"),
                name if is_no_op_directive(name) => self.no_op(d),
                _ => self.layer(d, &mut server.layers, Level::Server),
            }
        }
        At::new(server, self.origin(d))
    }

    /// `location [=|^~|~|~*] path {}` or `location @name {}`, with nginx's nesting rules.
    /// `None` when it may not stand where it is (its block is still checked).
    fn location(&mut self, d: &Directive, parent: Option<Parent<'_>>) -> Option<At<LocationTree>> {
        // A refused location's block is still checked, for the other errors in it.
        let mut allowed = true;
        let (kind, path) = if d.args.len() == 2 {
            let kind = match arg(d, 0) {
                "=" => RawMatch::Exact,
                "^~" => RawMatch::PrefixNoRegex,
                "~" => RawMatch::Regex,
                "~*" => RawMatch::RegexCaseless,
                other => {
                    self.error(d, format!("invalid location modifier \"{other}\""));
                    allowed = false;
                    RawMatch::Prefix
                }
            };
            (kind, arg(d, 1).to_string())
        } else {
            // nginx also reads the modifier glued to the path: `=/x`, `^~/x`, `~*\.png$`.
            let name = arg(d, 0);
            if let Some(rest) = name.strip_prefix('=') {
                (RawMatch::Exact, rest.to_string())
            } else if let Some(rest) = name.strip_prefix("^~") {
                (RawMatch::PrefixNoRegex, rest.to_string())
            } else if let Some(rest) = name.strip_prefix("~*") {
                (RawMatch::RegexCaseless, rest.to_string())
            } else if let Some(rest) = name.strip_prefix('~') {
                (RawMatch::Regex, rest.to_string())
            } else if let Some(rest) = name.strip_prefix('@') {
                (RawMatch::Named, rest.to_string())
            } else {
                (RawMatch::Prefix, name.to_string())
            }
        };
        if let Some(parent) = &parent {
            let me = shown(kind, &path);
            let message = if parent.kind == RawMatch::Exact {
                Some(format!(
                    "location \"{me}\" cannot be inside the exact location \"{}\"",
                    parent.path
                ))
            } else if parent.kind == RawMatch::Named {
                Some(format!(
                    "location \"{me}\" cannot be inside the named location \"@{}\"",
                    parent.path
                ))
            } else if kind == RawMatch::Named {
                Some(format!(
                    "named location \"{me}\" can be on the server level only"
                ))
            } else if !matches!(kind, RawMatch::Regex | RawMatch::RegexCaseless)
                && !path.starts_with(parent.path)
            {
                // As nginx, even against a regex parent's pattern text.
                Some(format!(
                    "location \"{me}\" is outside location \"{}\"",
                    parent.path
                ))
            } else {
                None
            };
            if let Some(message) = message {
                self.error(d, message);
                allowed = false;
            }
        }
        let mut location = LocationTree {
            match_kind: kind,
            path,
            internal: false,
            proxy_pass: None,
            status: None,
            layers: Layers::default(),
            rewrite: Vec::new(),
            locations: Vec::new(),
            limit_except: None,
        };
        self.location_body(d.block.as_deref().unwrap_or_default(), &mut location);
        allowed.then(|| At::new(location, self.origin(d)))
    }

    /// `stub_status [on]`, `anx_status`, `anx_metrics`, `anx_dashboard`: the location's
    /// handler, one per location.
    fn status_page(&mut self, d: &Directive, slot: &mut Option<At<StatusPage>>) {
        let Some(page) = StatusPage::from_directive(&d.name) else {
            return self.unhandled(d);
        };
        if !d.args.is_empty() && !arg(d, 0).eq_ignore_ascii_case("on") {
            return self.error(
                d,
                format!("invalid parameter \"{}\" in \"{}\"", arg(d, 0), d.name),
            );
        }
        if slot.is_some() {
            return self.error(
                d,
                format!("\"{}\": this location already has a status page", d.name),
            );
        }
        *slot = Some(At::new(page, self.origin(d)));
    }

    fn location_body(&mut self, dirs: &[Directive], location: &mut LocationTree) {
        let named = location.match_kind == RawMatch::Named;
        for d in dirs {
            if !self.check(d, LOC) {
                continue;
            }
            match d.name.as_str() {
                "location" => {
                    let parent = Parent {
                        kind: location.match_kind,
                        path: &location.path,
                    };
                    if let Some(nested) = self.location(d, Some(parent)) {
                        location.locations.push(nested);
                    }
                }
                "internal" => location.internal = true,
                "limit_except" => {
                    if location.limit_except.is_some() {
                        self.error(d, "\"limit_except\" directive is duplicate");
                    } else {
                        location.limit_except = self.limit_except(d);
                    }
                }
                "proxy_pass" => self.once(d, &mut location.proxy_pass, |w| {
                    Some(At::new(arg(d, 0).to_string(), w.origin(d)))
                }),
                name if StatusPage::from_directive(name).is_some() => {
                    self.status_page(d, &mut location.status)
                }
                "if" | "rewrite" | "return" | "set" | "break" => {
                    if let Some(step) = self.step(d, super::LIF) {
                        location.rewrite.push(step);
                    }
                }
                "types" => self.not_at_this_level(d, "write it in http"),
                name if is_no_op_directive(name) => self.no_op(d),
                _ => self.layer(d, &mut location.layers, Level::Location { named }),
            }
        }
    }

    /// `limit_except METHOD ... { proxy_pass ...; }`: the block applies to the methods not
    /// listed. nginx allows the access, auth and proxy_pass directives inside; anx has
    /// proxy_pass, allow and deny (auth is refused by the table until it exists).
    fn limit_except(&mut self, d: &Directive) -> Option<At<tree::LimitExceptTree>> {
        let mut le = tree::LimitExceptTree::default();
        let mut ok = true;
        for a in &d.args {
            let method = a.value.to_ascii_uppercase();
            if !tree::LIMIT_EXCEPT_METHODS.contains(&method.as_str()) {
                self.error(d, format!("invalid method \"{}\"", a.value));
                ok = false;
            } else if !le.methods.contains(&method) {
                le.methods.push(method);
            }
        }
        for inner in d.block.as_deref().unwrap_or_default() {
            if !self.check(inner, super::LMT) {
                continue;
            }
            match inner.name.as_str() {
                "proxy_pass" => self.once(inner, &mut le.proxy_pass, |w| {
                    Some(At::new(arg(inner, 0).to_string(), w.origin(inner)))
                }),
                "allow" | "deny" => self.access_rule(inner, &mut le.access),
                _ => self.unhandled(inner),
            }
        }
        ok.then(|| At::new(le, self.origin(d)))
    }

    /// `listen addr[:port]|unix:/path [default_server] [backlog=N] [rcvbuf=SIZE]
    /// [sndbuf=SIZE] [reuseport] [ssl] [proxy_protocol]`.
    fn listen(&mut self, d: &Directive) -> Option<At<RawListen>> {
        let addr = match tree::parse_listen_addr(arg(d, 0)) {
            Ok(addr) => addr,
            Err(e) => {
                self.error(d, format!("\"listen\" directive: {e}"));
                return None;
            }
        };
        let mut listen = RawListen::at(addr);
        let mut ok = true;
        for a in d.args.iter().skip(1) {
            let word = a.value.as_str();
            // `name=value` parameters are named by what precedes the "=".
            let (valued, value) = match word.split_once('=') {
                Some((name, value)) => (Some(name), value),
                None => (None, ""),
            };
            let unsupported = match (word, valued) {
                ("default_server" | "default", _) => {
                    listen.default_server = true;
                    continue;
                }
                (_, Some("backlog")) => {
                    match value.parse::<u32>() {
                        Ok(n) if n > 0 && value.bytes().all(|b| b.is_ascii_digit()) => {
                            listen.backlog = Some(n);
                        }
                        _ => {
                            self.error(d, format!("invalid backlog \"{value}\""));
                            ok = false;
                        }
                    }
                    continue;
                }
                (_, Some(name @ ("rcvbuf" | "sndbuf"))) => {
                    match tree::parse_socket_buffer(value) {
                        Some(n) if name == "rcvbuf" => listen.rcvbuf = Some(n),
                        Some(n) => listen.sndbuf = Some(n),
                        None => {
                            self.error(d, format!("invalid {name} \"{value}\""));
                            ok = false;
                        }
                    }
                    continue;
                }
                _ if is_no_op_parameter("listen", word) => continue,
                ("ssl", _) => {
                    listen.ssl = true;
                    continue;
                }
                ("proxy_protocol", _) => {
                    listen.proxy_protocol = true;
                    continue;
                }
                ("http2" | "quic" | "deferred" | "bind", _) => word,
                (
                    _,
                    Some(
                        name @ ("ipv6only" | "so_keepalive" | "setfib" | "fastopen"
                        | "accept_filter"),
                    ),
                ) => name,
                _ => {
                    self.error(d, format!("invalid parameter \"{word}\""));
                    ok = false;
                    continue;
                }
            };
            self.error(
                d,
                format!(
                    "the \"{unsupported}\" parameter of \"listen\" is not supported by anx yet"
                ),
            );
            ok = false;
        }
        ok.then(|| At::new(listen, self.origin(d)))
    }

    /// `types { type ext...; }` at http level: several blocks merge into one table, a later
    /// extension replacing an earlier one as in nginx.
    fn types(&mut self, d: &Directive, main: &mut MainSettings) {
        let origin = self.origin(d);
        let slot = main
            .mime
            .get_or_insert_with(|| At::new(MimeSource::Table(MimeTypes::default()), origin));
        let MimeSource::Table(table) = &mut slot.value else {
            // Only this front-end fills `mime`, and only with a table.
            return;
        };
        for entry in d.block.as_deref().unwrap_or_default() {
            if entry.block.is_some() {
                self.error(entry, "unexpected \"{\"");
                continue;
            }
            for ext in &entry.args {
                // A "/" in an extension almost always means a missing ";" after the previous
                // type, which nginx would silently turn into an extension.
                if ext.value.is_empty() || ext.value.contains('/') {
                    self.error(
                        entry,
                        format!(
                            "invalid extension \"{}\" for \"{}\" in \"types\" (missing \";\"?)",
                            ext.value, entry.name
                        ),
                    );
                    continue;
                }
                table.insert(&ext.value, &entry.name);
            }
        }
    }

    /// `map $source $name { [hostnames;] [volatile;] [default value;] key value; ... }`.
    fn map(&mut self, d: &Directive) -> Option<At<MapTree>> {
        let source = arg(d, 0).to_string();
        let Some(name) = arg(d, 1).strip_prefix('$') else {
            self.error(d, format!("invalid variable name \"{}\"", arg(d, 1)));
            return None;
        };
        let mut map = MapTree {
            source,
            name: name.to_string(),
            ..MapTree::default()
        };
        for entry in d.block.as_deref().unwrap_or_default() {
            if entry.block.is_some() {
                self.error(entry, "unexpected \"{\"");
                continue;
            }
            match (entry.name.as_str(), entry.args.as_slice()) {
                ("hostnames", []) => map.hostnames = true,
                ("volatile", []) => map.volatile = true,
                ("default", [value]) => {
                    if map.default.is_some() {
                        self.error(entry, "duplicate default map parameter");
                    } else {
                        map.default = Some(value.value.clone());
                    }
                }
                (key, [value]) => map.entries.push(At::new(
                    (key.to_string(), value.value.clone()),
                    self.origin(entry),
                )),
                _ => self.error(entry, "invalid number of the map parameters"),
            }
        }
        Some(At::new(map, self.origin(d)))
    }

    /// `log_format name [escape=default|json|none] text...`: the pieces are joined with
    /// nothing between them, as nginx does.
    fn log_format(&mut self, d: &Directive, formats: &mut Vec<At<LogFormatTree>>) {
        let name = arg(d, 0);
        // nginx predefines `combined`, so defining it again is a duplicate there too.
        if name == "combined" || formats.iter().any(|f| f.value.name == name) {
            self.error(d, format!("duplicate \"log_format\" name \"{name}\""));
            return;
        }
        let mut text_from = 1;
        let mut escape = None;
        if let Some(value) = arg(d, 1).strip_prefix("escape=") {
            if !matches!(value, "default" | "json" | "none") {
                self.error(d, format!("unknown log format escaping \"{value}\""));
                return;
            }
            escape = Some(value.to_string());
            text_from = 2;
        }
        let text: String = d
            .args
            .iter()
            .skip(text_from)
            .map(|a| a.value.as_str())
            .collect();
        formats.push(At::new(
            LogFormatTree {
                name: name.to_string(),
                escape,
                text,
            },
            self.origin(d),
        ));
    }
}
