//! `resolve`'s reverse-proxy part: `upstream {}` groups → [`Upstream`] (server addresses
//! resolved here, at load time, as nginx does), `proxy_pass` → [`ProxyPass`] (with the
//! implicit groups of `proxy_pass http://host:port`), and the `proxy_*` settings' inheritance
//! and checks. Both front-ends reach this through the tree, so they agree by construction.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::{compile, is_token_byte, Resolver};
use crate::config::model::proxy::{UPSTREAM_KEEPALIVE_REQUESTS, UPSTREAM_KEEPALIVE_TIMEOUT};
use crate::config::model::{
    Balance, HealthCheck, NextUpstream, Part, Peer, PeerAddr, Proxy, ProxyPass, ProxyRedirect,
    ProxySettings, RedirectRule, Upstream,
};
use crate::config::tree::{
    At, ConfigTree, Layers, Origin, ProxyLayer, RawBalance, RawHealthCheck, RawMatch, RawPeer,
    RawRedirect,
};

/// nginx's default `fail_timeout`.
const FAIL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an address did not resolve, in nginx's words (`… in upstream "x"`).
enum AddrError {
    /// `host not found in upstream "host"` (nginx names the host alone).
    HostNotFound(String),
    /// `invalid port`, `invalid host`, `no host`: nginx names the whole URL.
    Invalid(&'static str),
}

/// `host[:port]`, `ip[:port]`, `[v6][:port]` or `unix:/path` → its addresses (one per
/// resolved address, duplicates dropped, in the resolver's order).
fn resolve_addr(text: &str, default_port: u16) -> Result<Vec<PeerAddr>, AddrError> {
    if let Some(path) = text.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(AddrError::Invalid("no path in the unix domain socket"));
        }
        return Ok(vec![PeerAddr::Unix(PathBuf::from(path))]);
    }
    let (host, port) = split_host_port(text)?;
    let port = match port {
        None => default_port,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or(AddrError::Invalid("invalid port"))?,
        Some(_) => return Err(AddrError::Invalid("invalid port")),
    };
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![PeerAddr::Inet(SocketAddr::new(ip, port))]);
    }
    if host.starts_with('[') {
        return Err(AddrError::Invalid("invalid IPv6 address"));
    }
    // getaddrinfo, as nginx does at start-up: a name is fixed for the life of the
    // configuration (anx has no `resolver` yet).
    let found = (host, port)
        .to_socket_addrs()
        .map_err(|_| AddrError::HostNotFound(host.to_string()))?;
    let mut out: Vec<PeerAddr> = Vec::new();
    for a in found {
        let a = PeerAddr::Inet(a);
        if !out.contains(&a) {
            out.push(a);
        }
    }
    if out.is_empty() {
        return Err(AddrError::HostNotFound(host.to_string()));
    }
    Ok(out)
}

/// `host:port` → ("host", Some("port")); `[::1]:80` → ("[::1]", Some("80")).
fn split_host_port(text: &str) -> Result<(&str, Option<&str>), AddrError> {
    if text.contains(['/', '?', ' ']) {
        return Err(AddrError::Invalid("invalid host"));
    }
    let (host, port) = if text.starts_with('[') {
        match text.find(']') {
            Some(end) => match &text[end + 1..] {
                "" => (text, None),
                rest => match rest.strip_prefix(':') {
                    Some(port) => (&text[..=end], Some(port)),
                    None => return Err(AddrError::Invalid("invalid host")),
                },
            },
            None => return Err(AddrError::Invalid("invalid host")),
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err(AddrError::Invalid("no host"));
    }
    Ok((host, port))
}

impl Resolver<'_> {
    fn addr_error(&mut self, at: &Origin, url: &str, e: AddrError) {
        let msg = match e {
            AddrError::HostNotFound(host) => format!("host not found in upstream \"{host}\""),
            AddrError::Invalid(what) => format!("{what} in upstream \"{url}\""),
        };
        self.error(at, msg);
    }
}

/// Every `upstream {}` block, in order, into `r.upstreams` (before any proxy_pass looks a
/// name up, so a block may come after the locations that use it, as in nginx).
pub(super) fn resolve_upstreams(tree: &ConfigTree, r: &mut Resolver) {
    for at in &tree.upstreams {
        let u = &at.value;
        let origin = &at.origin;
        if r.upstreams
            .iter()
            .any(|known| known.name.eq_ignore_ascii_case(&u.name))
        {
            r.error(origin, format!("duplicate upstream \"{}\"", u.name));
            continue;
        }
        if u.servers.is_empty() {
            r.error(origin, "no servers are inside upstream");
        }
        let balance = match u.balance.as_ref().map(|b| &b.value) {
            None | Some(RawBalance::RoundRobin) => Balance::RoundRobin,
            Some(RawBalance::LeastConn) => Balance::LeastConn,
            Some(RawBalance::IpHash) => Balance::IpHash,
            Some(RawBalance::Random { two }) => Balance::Random { two: *two },
            Some(RawBalance::Hash { key, consistent }) => {
                let b_origin = u.balance.as_ref().map_or(origin, |b| &b.origin).clone();
                Balance::Hash {
                    key: r.template(&b_origin, key),
                    consistent: *consistent,
                }
            }
        };
        // nginx's hash, ip_hash and random do not take backup servers.
        let backup_allowed = matches!(balance, Balance::RoundRobin | Balance::LeastConn);
        let mut peers = Vec::new();
        for s in &u.servers {
            if s.value.backup && !backup_allowed {
                r.error(
                    &s.origin,
                    "balancing method does not support parameter \"backup\"",
                );
            }
            peers.extend(peers_of(s, r));
        }
        if !peers.is_empty() && peers.iter().all(|p: &Peer| p.backup) {
            r.error(origin, format!("no servers in upstream \"{}\"", u.name));
        }
        let health_check = u
            .health_check
            .as_ref()
            .map(|h| health_check(&h.value, &h.origin, r));
        r.upstreams.push(Upstream {
            name: u.name.clone(),
            peers,
            balance,
            keepalive: u.keepalive.unwrap_or(0),
            keepalive_timeout: u.keepalive_timeout.unwrap_or(UPSTREAM_KEEPALIVE_TIMEOUT),
            keepalive_requests: u.keepalive_requests.unwrap_or(UPSTREAM_KEEPALIVE_REQUESTS),
            health_check,
            implicit: false,
        });
    }
}

/// One `server` line: a peer per address it resolves to.
fn peers_of(at: &At<RawPeer>, r: &mut Resolver) -> Vec<Peer> {
    let s = &at.value;
    let addrs = match resolve_addr(&s.addr, 80) {
        Ok(a) => a,
        Err(e) => {
            r.addr_error(&at.origin, &s.addr, e);
            return Vec::new();
        }
    };
    if s.weight == Some(0) {
        r.error(&at.origin, "invalid parameter \"weight=0\"");
    }
    addrs
        .into_iter()
        .map(|addr| Peer {
            addr,
            name: s.addr.clone(),
            weight: s.weight.unwrap_or(1),
            max_fails: s.max_fails.unwrap_or(1),
            fail_timeout: s.fail_timeout.unwrap_or(FAIL_TIMEOUT),
            backup: s.backup,
            down: s.down,
            max_conns: s.max_conns.unwrap_or(0),
        })
        .collect()
}

fn health_check(raw: &RawHealthCheck, origin: &Origin, r: &mut Resolver) -> HealthCheck {
    let mut h = HealthCheck::default();
    let bad = |r: &mut Resolver, what: &str| r.error(origin, format!("anx_health_check: {what}"));
    if let Some(t) = raw.interval {
        if t.is_zero() {
            bad(r, "interval must be more than 0");
        }
        h.interval = t;
    }
    if let Some(t) = raw.timeout {
        if t.is_zero() {
            bad(r, "timeout must be more than 0");
        }
        h.timeout = t;
    }
    if let Some(n) = raw.fails {
        if n == 0 {
            bad(r, "fails must be at least 1");
        }
        h.fails = n;
    }
    if let Some(n) = raw.passes {
        if n == 0 {
            bad(r, "passes must be at least 1");
        }
        h.passes = n;
    }
    if let Some(uri) = &raw.uri {
        if !uri.starts_with('/') || uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
            bad(
                r,
                &format!("uri \"{uri}\" must start with '/' and hold no spaces"),
            );
        }
        h.uri = uri.clone();
    }
    if let Some(host) = &raw.host {
        if host.is_empty() || host.bytes().any(|b| b <= b' ' || b == 0x7f) {
            bad(r, &format!("invalid host \"{host}\""));
        }
        h.host = Some(host.clone());
    }
    if !raw.status.is_empty() {
        h.status = Vec::new();
        for s in &raw.status {
            let range = match s.split_once('-') {
                Some((lo, hi)) => lo.parse::<u16>().ok().zip(hi.parse::<u16>().ok()),
                None => s.parse::<u16>().ok().map(|c| (c, c)),
            };
            match range {
                Some((lo, hi)) if (100..=599).contains(&lo) && lo <= hi && hi <= 599 => {
                    h.status.push((lo, hi));
                }
                _ => bad(
                    r,
                    &format!("invalid status \"{s}\": expected a code or a range such as 200-399"),
                ),
            }
        }
    }
    if let Some(body) = &raw.body {
        match compile::pattern(body, false) {
            Ok(p) => h.body = Some(p),
            Err(msg) => bad(r, &format!("body: {msg}")),
        }
    }
    h
}

/// nginx's message for a URI part where the request URI cannot be mapped onto it.
const URI_PART: &str = "\"proxy_pass\" cannot have URI part in location given by regular \
                        expression, or inside named location, or inside \"if\" statement, or \
                        inside \"limit_except\" block";

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    match text.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => Some(&text[prefix.len()..]),
        _ => None,
    }
}

/// `proxy_pass URL` of a location whose kind is `kind`. `None` after an error.
pub(super) fn proxy_pass(at: &At<String>, kind: RawMatch, r: &mut Resolver) -> Option<ProxyPass> {
    let text = at.value.as_str();
    let origin = &at.origin;
    let tls = || "proxy_pass https is not supported yet (TLS issue)".to_string();
    if text.contains('$') {
        let before = r.errors.len();
        let t = r.template(origin, text);
        if r.errors.len() != before {
            return None;
        }
        if t.has_vars() {
            // The scheme, when it is written out, must be one anx speaks; a URL that starts
            // with a variable is checked per request.
            if let Some(Part::Literal(head)) = t.parts.first() {
                if strip_prefix_ci(head, "https://").is_some() {
                    r.error(origin, tls());
                    return None;
                }
                let lower = head.to_ascii_lowercase();
                if !lower.starts_with("http://") && !"http://".starts_with(&lower) {
                    r.error(origin, "invalid URL prefix");
                    return None;
                }
            }
            return Some(ProxyPass::Dynamic(t));
        }
    }
    if strip_prefix_ci(text, "https://").is_some() {
        r.error(origin, tls());
        return None;
    }
    let Some(rest) = strip_prefix_ci(text, "http://") else {
        r.error(origin, "invalid URL prefix");
        return None;
    };
    // `unix:/path:/uri`: the path ends at the next ':'.
    let (authority, uri) = match rest.strip_prefix("unix:") {
        Some(path) => match path.find(':') {
            Some(i) => (&rest[..5 + i], Some(&path[i + 1..])),
            None => (rest, None),
        },
        None => {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            (&rest[..end], (end < rest.len()).then(|| &rest[end..]))
        }
    };
    if uri.is_some()
        && matches!(
            kind,
            RawMatch::Regex | RawMatch::RegexCaseless | RawMatch::Named
        )
    {
        r.error(origin, URI_PART);
        return None;
    }
    let uri = uri.map(|u| u.as_bytes().to_vec());

    if authority.starts_with("unix:") {
        let addrs = match resolve_addr(authority, 80) {
            Ok(a) => a,
            Err(e) => {
                r.addr_error(origin, rest, e);
                return None;
            }
        };
        let upstream = implicit_group(r, authority, addrs);
        // nginx sends `Host: localhost` to a unix socket; $proxy_port is empty there.
        return Some(ProxyPass::Fixed {
            upstream,
            proxy_host: "localhost".to_string(),
            proxy_port: 0,
            uri,
        });
    }
    let (host, port_text) = match split_host_port(authority) {
        Ok(parts) => parts,
        Err(e) => {
            r.addr_error(origin, rest, e);
            return None;
        }
    };
    if let Some(i) = r
        .upstreams
        .iter()
        .position(|u| !u.implicit && u.name.eq_ignore_ascii_case(host))
    {
        if let Some(port) = port_text {
            let name = r.upstreams[i].name.clone();
            r.error(
                origin,
                format!("upstream \"{name}\" may not have port {port}"),
            );
            return None;
        }
        return Some(ProxyPass::Fixed {
            upstream: i,
            proxy_host: host.to_string(),
            proxy_port: 80,
            uri,
        });
    }
    let addrs = match resolve_addr(authority, 80) {
        Ok(a) => a,
        Err(e) => {
            r.addr_error(origin, rest, e);
            return None;
        }
    };
    let port = match addrs.first() {
        Some(PeerAddr::Inet(a)) => a.port(),
        _ => 80,
    };
    let upstream = implicit_group(r, &format!("{host}:{port}"), addrs);
    Some(ProxyPass::Fixed {
        upstream,
        proxy_host: if port == 80 { host } else { authority }.to_string(),
        proxy_port: port,
        uri,
    })
}

/// The implicit group named `name` (shared by every proxy_pass to the same host:port).
fn implicit_group(r: &mut Resolver, name: &str, addrs: Vec<PeerAddr>) -> usize {
    if let Some(i) = r
        .upstreams
        .iter()
        .position(|u| u.implicit && u.name == name)
    {
        return i;
    }
    let peers = addrs
        .into_iter()
        .map(|addr| Peer {
            addr,
            name: name.to_string(),
            weight: 1,
            max_fails: 1,
            fail_timeout: FAIL_TIMEOUT,
            backup: false,
            down: false,
            max_conns: 0,
        })
        .collect();
    r.upstreams.push(Upstream {
        name: name.to_string(),
        peers,
        balance: Balance::RoundRobin,
        keepalive: 0,
        keepalive_timeout: UPSTREAM_KEEPALIVE_TIMEOUT,
        keepalive_requests: UPSTREAM_KEEPALIVE_REQUESTS,
        health_check: None,
        implicit: true,
    });
    r.upstreams.len() - 1
}

/// nginx ties an explicit `proxy_redirect default` to the proxy_pass of its own location:
/// elsewhere, or with a proxy_pass that has variables, it is an error.
pub(super) fn check_redirect_default(layers: &Layers, pass: Option<&ProxyPass>, r: &mut Resolver) {
    let Some(list) = &layers.proxy.redirect else {
        return;
    };
    for at in list.iter().filter(|a| a.value == RawRedirect::Default) {
        match pass {
            None => r.error(
                &at.origin,
                "\"proxy_redirect default\" should be placed after the \"proxy_pass\" directive",
            ),
            Some(ProxyPass::Dynamic(_)) => r.error(
                &at.origin,
                "\"proxy_redirect default\" cannot be used with \"proxy_pass\" directive with \
                 variables",
            ),
            Some(ProxyPass::Fixed { .. }) => {}
        }
    }
}

/// A location's Proxy: its pass and the settings in effect there. With variables in the
/// URL the default redirect rewriting does not apply (nginx has no URL to compare with), so
/// an inherited `default` is dropped here and the model says what happens.
pub(super) fn finish(pass: ProxyPass, settings: &ProxySettings) -> Proxy {
    let mut settings = settings.clone();
    if matches!(pass, ProxyPass::Dynamic(_)) {
        settings.redirect = match settings.redirect {
            ProxyRedirect::Default | ProxyRedirect::Off => ProxyRedirect::Off,
            ProxyRedirect::Rules(rules) => {
                let rules: Vec<RedirectRule> = rules
                    .into_iter()
                    .filter(|rule| *rule != RedirectRule::Default)
                    .collect();
                if rules.is_empty() {
                    ProxyRedirect::Off
                } else {
                    ProxyRedirect::Rules(rules)
                }
            }
        };
    }
    Proxy { pass, settings }
}

/// Applies one level's `proxy_*` settings on top of what it inherits.
pub(super) fn inherit(out: &mut ProxySettings, p: &ProxyLayer, r: &mut Resolver) {
    if let Some(list) = &p.set_headers {
        out.set_headers = Vec::new();
        for h in list {
            let name = &h.value.name;
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                r.error(&h.origin, format!("invalid header name \"{name}\""));
            }
            if h.value.value.contains(['\r', '\n']) {
                r.error(
                    &h.origin,
                    format!("header \"{name}\" value contains a line break"),
                );
            }
            let value = r.template(&h.origin, &h.value.value);
            out.set_headers.push((name.clone(), value));
        }
    }
    if let Some(list) = &p.hide_headers {
        out.hide_headers = header_names(list, r);
    }
    if let Some(list) = &p.pass_headers {
        out.pass_headers = header_names(list, r);
    }
    if let Some(v) = &p.http_version {
        match v.value.as_str() {
            "1.0" => out.http_minor = 0,
            "1.1" => out.http_minor = 1,
            other => r.error(
                &v.origin,
                format!(
                    "invalid value \"{other}\" in \"proxy_http_version\" directive, it must be \
                     \"1.0\" or \"1.1\""
                ),
            ),
        }
    }
    if let Some(m) = &p.method {
        if m.value.is_empty() || m.value.bytes().any(|b| b <= b' ' || b == 0x7f) {
            r.error(&m.origin, format!("invalid proxy_method \"{}\"", m.value));
        }
        out.method = Some(r.template(&m.origin, &m.value));
    }
    if let Some(list) = &p.redirect {
        out.redirect = redirect(list, r);
    }
    if let Some(t) = p.connect_timeout {
        out.connect_timeout = t;
    }
    if let Some(t) = p.read_timeout {
        out.read_timeout = t;
    }
    if let Some(t) = p.send_timeout {
        out.send_timeout = t;
    }
    if let Some(words) = &p.next_upstream {
        match next_upstream(&words.value) {
            Ok(n) => out.next_upstream = n,
            Err(msg) => r.error(&words.origin, msg),
        }
    }
    if let Some(n) = p.next_upstream_tries {
        out.next_upstream_tries = n;
    }
    if let Some(t) = p.next_upstream_timeout {
        out.next_upstream_timeout = t;
    }
    if let Some(v) = p.buffering {
        out.buffering = v;
    }
    if let Some(v) = p.request_buffering {
        out.request_buffering = v;
    }
    if let Some(size) = &p.buffer_size {
        match usize::try_from(size.value) {
            Ok(n) if n >= 1024 => out.buffer_size = n,
            // Smaller than any real response head with a few fields: a typo, not a limit.
            _ => r.error(&size.origin, "proxy_buffer_size must be at least 1k"),
        }
    }
    if let Some(v) = p.intercept_errors {
        out.intercept_errors = v;
    }
    if let Some(v) = p.pass_request_headers {
        out.pass_request_headers = v;
    }
    if let Some(v) = p.pass_request_body {
        out.pass_request_body = v;
    }
}

fn header_names(list: &[At<String>], r: &mut Resolver) -> Vec<String> {
    let mut out = Vec::new();
    for at in list {
        let name = &at.value;
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            r.error(&at.origin, format!("invalid header name \"{name}\""));
        }
        out.push(name.to_ascii_lowercase());
    }
    out
}

fn redirect(list: &[At<RawRedirect>], r: &mut Resolver) -> ProxyRedirect {
    // nginx: `off` stands alone at its level; with anything else it is a duplicate.
    if list.len() > 1 && list.iter().any(|a| a.value == RawRedirect::Off) {
        r.error(&list[1].origin, "\"proxy_redirect\" directive is duplicate");
        return ProxyRedirect::Off;
    }
    let mut rules = Vec::new();
    for at in list {
        match &at.value {
            RawRedirect::Off => return ProxyRedirect::Off,
            RawRedirect::Default => rules.push(RedirectRule::Default),
            RawRedirect::Rule { from, to } => {
                let to = r.template(&at.origin, to);
                if let Some(re) = from.strip_prefix('~') {
                    let (re, caseless) = match re.strip_prefix('*') {
                        Some(rest) => (rest, true),
                        None => (re, false),
                    };
                    match compile::pattern(re, caseless) {
                        Ok(from) => rules.push(RedirectRule::Regex { from, to }),
                        Err(msg) => r.error(&at.origin, msg),
                    }
                } else {
                    let from = r.template(&at.origin, from);
                    rules.push(RedirectRule::Prefix { from, to });
                }
            }
        }
    }
    // `proxy_redirect default;` alone is the default.
    if rules == [RedirectRule::Default] {
        ProxyRedirect::Default
    } else {
        ProxyRedirect::Rules(rules)
    }
}

/// `proxy_next_upstream` words (`off` anywhere turns everything off, as nginx's merge does).
/// Statuses are stored in ascending order whatever order they were written in, so equal
/// settings compare equal.
pub fn next_upstream(words: &[String]) -> Result<NextUpstream, String> {
    let mut n = NextUpstream::off();
    let mut statuses = BTreeSet::new();
    let mut off = false;
    for w in words {
        match w.as_str() {
            "off" => off = true,
            "error" => n.error = true,
            "timeout" => n.timeout = true,
            "invalid_header" => n.invalid_header = true,
            "non_idempotent" => n.non_idempotent = true,
            "http_500" => _ = statuses.insert(500),
            "http_502" => _ = statuses.insert(502),
            "http_503" => _ = statuses.insert(503),
            "http_504" => _ = statuses.insert(504),
            "http_403" => _ = statuses.insert(403),
            "http_404" => _ = statuses.insert(404),
            "http_429" => _ = statuses.insert(429),
            "updating" => {
                return Err(
                    "\"proxy_next_upstream updating\" is not supported by anx yet (no cache)"
                        .to_string(),
                )
            }
            other => return Err(format!("invalid value \"{other}\"")),
        }
    }
    if words.is_empty() {
        return Err("invalid number of arguments in \"proxy_next_upstream\" directive".into());
    }
    if off {
        return Ok(NextUpstream::off());
    }
    for code in statuses {
        n.statuses.push(code);
    }
    Ok(n)
}
