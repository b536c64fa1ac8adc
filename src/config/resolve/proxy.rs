//! `resolve`'s reverse-proxy part: `upstream {}` groups → [`Upstream`] (server addresses
//! resolved here, at load time, as nginx does), `proxy_pass` → [`ProxyPass`] (with the
//! implicit groups of `proxy_pass http://host:port`), and the `proxy_*` settings' inheritance
//! and checks. Both front-ends reach this through the tree, so they agree by construction.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::{compile, is_token_byte, Resolver};
use crate::config::model::proxy::{
    UPSTREAM_KEEPALIVE_REQUESTS, UPSTREAM_KEEPALIVE_TIME, UPSTREAM_KEEPALIVE_TIMEOUT,
};
use crate::config::model::{
    Balance, CertificateVars, DnsResolver, HealthCheck, Loaded, NextUpstream, Part, Peer, PeerAddr,
    ProbeScheme, ProbeTls, Proxy, ProxyPass, ProxyRedirect, ProxySettings, ProxySsl, RedirectRule,
    Upstream,
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
        let health_check = u.health_check.as_ref().map(|h| {
            r.health_origins.push((r.upstreams.len(), h.origin.clone()));
            health_check(&h.value, &h.origin, r)
        });
        r.upstreams.push(Upstream {
            name: u.name.clone(),
            peers,
            balance,
            keepalive: u.keepalive.unwrap_or(0),
            keepalive_timeout: u.keepalive_timeout.unwrap_or(UPSTREAM_KEEPALIVE_TIMEOUT),
            keepalive_requests: u.keepalive_requests.unwrap_or(UPSTREAM_KEEPALIVE_REQUESTS),
            keepalive_time: u.keepalive_time.unwrap_or(UPSTREAM_KEEPALIVE_TIME),
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
    h.scheme = match raw.scheme.as_deref() {
        None => None,
        Some("http") => Some(ProbeScheme::Http),
        Some("https") => Some(ProbeScheme::Https),
        Some(other) => {
            bad(
                r,
                &format!("invalid scheme \"{other}\": expected http or https"),
            );
            None
        }
    };
    h
}

/// How the fixed `proxy_pass` URLs of the configuration use one group.
#[derive(Debug, Clone, Default)]
pub(super) struct GroupUse {
    http: bool,
    /// The `proxy_ssl_*` settings of the first location with `proxy_pass https://` to it.
    https: Option<ProxySsl>,
}

/// Records that a location's fixed `proxy_pass` reaches its group over http or https.
pub(super) fn note_use(pass: &ProxyPass, ssl: &ProxySsl, r: &mut Resolver) {
    let ProxyPass::Fixed {
        upstream, https, ..
    } = pass
    else {
        return;
    };
    if r.group_uses.len() <= *upstream {
        r.group_uses.resize(*upstream + 1, GroupUse::default());
    }
    let used = &mut r.group_uses[*upstream];
    if *https {
        used.https.get_or_insert_with(|| ssl.clone());
    } else {
        used.http = true;
    }
}

/// Decides, once every location is resolved, whether each group's health probes speak TLS
/// and with which settings (the rule is on [`HealthCheck::tls`]). A group reached over both
/// http:// and https:// must say which its probes use.
pub(super) fn health_tls(r: &mut Resolver) {
    for (i, origin) in std::mem::take(&mut r.health_origins) {
        let used = r.group_uses.get(i).cloned().unwrap_or_default();
        let Some(group) = r.upstreams.get(i) else {
            continue;
        };
        let Some(check) = &group.health_check else {
            continue;
        };
        let (scheme, host, group_name) = (check.scheme, check.host.clone(), group.name.clone());
        let ssl = match scheme {
            Some(ProbeScheme::Http) => None,
            Some(ProbeScheme::Https) => Some(used.https.unwrap_or_default()),
            None if used.http && used.https.is_some() => {
                let message = format!(
                    "anx_health_check: upstream \"{}\" is proxied to over both http:// and \
                     https://: add scheme=http or scheme=https",
                    group_name
                );
                r.error(&origin, message);
                None
            }
            None => used.https,
        };
        let tls = ssl.map(|ssl| {
            let literal = ssl
                .name
                .as_ref()
                .filter(|t| !t.has_vars())
                .map(|t| t.source.clone());
            let name = literal.or(host).unwrap_or_else(|| group_host(&group_name));
            ProbeTls { ssl, name }
        });
        if let Some(check) = r.upstreams[i].health_check.as_mut() {
            check.tls = tls;
        }
    }
}

/// A group's name without a port (`127.0.0.1:8443` → `127.0.0.1`, `[::1]:443` → `::1`).
fn group_host(name: &str) -> String {
    if let Some(rest) = name.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    match name.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host.to_string(),
        _ => name.to_string(),
    }
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
                let lower = head.to_ascii_lowercase();
                let scheme_ok = ["http://", "https://"]
                    .iter()
                    .any(|s| lower.starts_with(s) || s.starts_with(&lower));
                if !scheme_ok {
                    r.error(origin, "invalid URL prefix");
                    return None;
                }
            }
            return Some(ProxyPass::Dynamic(t));
        }
    }
    let (rest, https) = if let Some(rest) = strip_prefix_ci(text, "https://") {
        (rest, true)
    } else if let Some(rest) = strip_prefix_ci(text, "http://") {
        (rest, false)
    } else {
        r.error(origin, "invalid URL prefix");
        return None;
    };
    let default_port = if https { 443 } else { 80 };
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
        let addrs = match resolve_addr(authority, default_port) {
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
            https,
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
            proxy_port: default_port,
            uri,
            https,
        });
    }
    let addrs = match resolve_addr(authority, default_port) {
        Ok(a) => a,
        Err(e) => {
            r.addr_error(origin, rest, e);
            return None;
        }
    };
    let port = match addrs.first() {
        Some(PeerAddr::Inet(a)) => a.port(),
        _ => default_port,
    };
    let upstream = implicit_group(r, &format!("{host}:{port}"), addrs);
    Some(ProxyPass::Fixed {
        upstream,
        // As nginx: the port is part of $proxy_host only when it is not the scheme's.
        proxy_host: if port == default_port {
            host
        } else {
            authority
        }
        .to_string(),
        proxy_port: port,
        uri,
        https,
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
        keepalive_time: UPSTREAM_KEEPALIVE_TIME,
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
    crate::config::settings::proxy::inherit(out, p);
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
    if let Some(words) = &p.next_upstream {
        match next_upstream(&words.value) {
            Ok(n) => out.next_upstream = n,
            Err(msg) => r.error(&words.origin, msg),
        }
    }
    inherit_ssl(&mut out.ssl, p, r);
    if let Some(words) = &p.resolver {
        out.resolver = dns_resolver(&words.value, &words.origin, r);
    }
    if let Some(list) = &p.cookie_domain {
        out.cookie_domains = cookie_rewrites(list, "proxy_cookie_domain", r);
    }
    if let Some(list) = &p.cookie_path {
        out.cookie_paths = cookie_rewrites(list, "proxy_cookie_path", r);
    }
    if let Some(list) = &p.cookie_flags {
        out.cookie_flags = cookie_flags(list, r);
    }
    if let Some(words) = &p.ignore_headers {
        out.ignore_headers = Default::default();
        for w in &words.value {
            if !out.ignore_headers.add(w) {
                r.error(
                    &words.origin,
                    format!("invalid value \"{w}\" in \"proxy_ignore_headers\" directive"),
                );
            }
        }
    }
    if let Some(words) = &p.bind {
        out.bind = proxy_bind(&words.value, &words.origin, r);
    }
    if let Some(body) = &p.set_body {
        out.set_body = Some(r.template(&body.origin, &body.value));
    }
}

/// `proxy_bind off | address [transparent]`; an address without variables is checked now.
fn proxy_bind(
    words: &[String],
    at: &Origin,
    r: &mut Resolver,
) -> Option<crate::config::model::ProxyBind> {
    let addr = words.first()?;
    if words.len() == 1 && addr == "off" {
        return None;
    }
    let transparent = match words.get(1).map(String::as_str) {
        None => false,
        Some("transparent") => true,
        Some(other) => {
            r.error(at, format!("invalid parameter \"{other}\""));
            return None;
        }
    };
    if !addr.contains('$') && crate::config::model::addr::local_addr(addr.as_bytes()).is_none() {
        r.error(at, format!("invalid address \"{addr}\""));
        return None;
    }
    Some(crate::config::model::ProxyBind {
        addr: r.template(at, addr),
        transparent,
    })
}

/// `off` stands alone at its level (nginx: with any rule it is a duplicate); `Some(())`
/// when the list is a plain `off`.
fn cookie_off(list: &[At<Vec<String>>], directive: &str, r: &mut Resolver) -> Option<bool> {
    let off = list
        .iter()
        .position(|w| w.value.len() == 1 && w.value[0] == "off");
    for w in list {
        if w.value.len() == 1 && w.value[0] != "off" {
            r.error(&w.origin, format!("invalid parameter \"{}\"", w.value[0]));
            return None;
        }
    }
    match off {
        Some(_) if list.len() > 1 => {
            r.error(
                &list[1].origin,
                format!("\"{directive}\" directive is duplicate"),
            );
            None
        }
        Some(_) => Some(true),
        None => Some(false),
    }
}

/// `proxy_cookie_domain` / `proxy_cookie_path` rules, with nginx's readings: a domain's
/// leading dot is dropped from both sides and its regex is caseless; a path's `~*` is.
fn cookie_rewrites(
    list: &[At<Vec<String>>],
    directive: &str,
    r: &mut Resolver,
) -> Vec<crate::config::model::CookieRewrite> {
    use crate::config::model::{CookieMatch, CookieRewrite};
    if cookie_off(list, directive, r) != Some(false) {
        return Vec::new();
    }
    let domain = directive == "proxy_cookie_domain";
    let mut out = Vec::new();
    for w in list {
        let (from, to) = (&w.value[0], &w.value[1]);
        let from = if let Some(re) = from.strip_prefix('~') {
            // Domain regexes are caseless in nginx; `~*` (what `anx -T` writes) says so too.
            let (re, caseless) = match re.strip_prefix('*') {
                Some(rest) => (rest, true),
                None => (re, domain),
            };
            match compile::pattern(re, caseless) {
                Ok(p) => CookieMatch::Regex(p),
                Err(msg) => {
                    r.error(&w.origin, msg);
                    continue;
                }
            }
        } else if domain {
            let from = from.strip_prefix('.').unwrap_or(from);
            CookieMatch::Literal(r.template(&w.origin, from))
        } else {
            CookieMatch::Literal(r.template(&w.origin, from))
        };
        let to = match (&from, domain) {
            (CookieMatch::Literal(_), true) => to.strip_prefix('.').unwrap_or(to),
            _ => to.as_str(),
        };
        let to = r.template(&w.origin, to);
        out.push(CookieRewrite { from, to });
    }
    out
}

/// `proxy_cookie_flags` rules; a flag without variables is checked now.
fn cookie_flags(
    list: &[At<Vec<String>>],
    r: &mut Resolver,
) -> Vec<crate::config::model::CookieFlags> {
    use crate::config::model::{CookieFlags, CookieMatch};
    if cookie_off(list, "proxy_cookie_flags", r) != Some(false) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for w in list {
        // Always caseless; `~*` is accepted as the same (what `anx -T` writes).
        let regex = w.value[0]
            .strip_prefix('~')
            .map(|re| re.strip_prefix('*').unwrap_or(re));
        let cookie = match regex {
            Some(re) => match compile::pattern(re, true) {
                Ok(p) => CookieMatch::Regex(p),
                Err(msg) => {
                    r.error(&w.origin, msg);
                    continue;
                }
            },
            None => CookieMatch::Literal(r.template(&w.origin, &w.value[0])),
        };
        let mut flags = Vec::new();
        for flag in &w.value[1..] {
            if !flag.contains('$') && !crate::config::model::proxy::cookie_flags::is_flag(flag) {
                r.error(&w.origin, format!("invalid parameter \"{flag}\""));
                continue;
            }
            flags.push(r.template(&w.origin, flag));
        }
        out.push(CookieFlags { cookie, flags });
    }
    out
}

/// `resolver address ... [valid=time] [ipv4=on|off] [ipv6=on|off]`, in nginx's words. An
/// address is an IP literal or a name (resolved now, by the system, as nginx does), with
/// an optional port (53 by default); IPv6 literals go in brackets.
fn dns_resolver(words: &[String], at: &Origin, r: &mut Resolver) -> Option<DnsResolver> {
    let mut out = DnsResolver {
        servers: Vec::new(),
        valid: None,
        ipv4: true,
        ipv6: true,
    };
    let mut ok = true;
    for word in words {
        let switch = |value: &str| match value {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        };
        if let Some(v) = word.strip_prefix("valid=") {
            match crate::config::tree::time(v) {
                Ok(t) => out.valid = Some(t),
                Err(_) => {
                    r.error(at, format!("invalid parameter: {word}"));
                    ok = false;
                }
            }
            continue;
        }
        if let Some(v) = word.strip_prefix("ipv4=") {
            match switch(v) {
                Some(on) => out.ipv4 = on,
                None => {
                    r.error(at, format!("invalid parameter: {word}"));
                    ok = false;
                }
            }
            continue;
        }
        if let Some(v) = word.strip_prefix("ipv6=") {
            match switch(v) {
                Some(on) => out.ipv6 = on,
                None => {
                    r.error(at, format!("invalid parameter: {word}"));
                    ok = false;
                }
            }
            continue;
        }
        if word.starts_with("status_zone=") {
            r.error(
                at,
                "the \"status_zone\" parameter of \"resolver\" is not supported by anx",
            );
            ok = false;
            continue;
        }
        match name_server(word) {
            Ok(addrs) => out.servers.extend(addrs),
            Err(msg) => {
                r.error(at, format!("{msg} in resolver \"{word}\""));
                ok = false;
            }
        }
    }
    if !out.ipv4 && !out.ipv6 {
        r.error(at, "\"ipv4\" and \"ipv6\" cannot both be \"off\"");
        ok = false;
    }
    if out.servers.is_empty() && ok {
        r.error(at, "invalid number of arguments in \"resolver\" directive");
        ok = false;
    }
    ok.then_some(out)
}

/// One name server address of `resolver`: its socket addresses.
fn name_server(word: &str) -> Result<Vec<SocketAddr>, String> {
    let (host, port) = if let Some(rest) = word.strip_prefix('[') {
        let Some((v6, tail)) = rest.split_once(']') else {
            return Err("invalid host".to_string());
        };
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p),
            None if tail.is_empty() => None,
            None => return Err("invalid host".to_string()),
        };
        (v6, port)
    } else {
        match word.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (word, None),
        }
    };
    let port = match port {
        None => 53,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err("invalid port".to_string()),
        },
    };
    if host.is_empty() {
        return Err("no host".to_string());
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match (host, port).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err("host not found".to_string())
            } else {
                Ok(addrs)
            }
        }
        Err(_) => Err("host not found".to_string()),
    }
}

/// The `proxy_ssl_*` part of [`inherit`]: files are read here, at load time, so a missing
/// CA or key is a config error rather than a 502 later.
fn inherit_ssl(out: &mut ProxySsl, p: &ProxyLayer, r: &mut Resolver) {
    if let Some(v) = p.ssl_verify {
        out.verify = v;
    }
    if let Some(at) = &p.ssl_trusted_certificate {
        out.trusted_certificate = super::tls::ca_file(at, "proxy_ssl_trusted_certificate", r);
    }
    if let Some(n) = p.ssl_verify_depth {
        out.verify_depth = n;
    }
    if let Some(v) = p.ssl_server_name {
        out.server_name = v;
    }
    if let Some(at) = &p.ssl_name {
        out.name = Some(r.template(&at.origin, &at.value));
    }
    if let Some(at) = &p.ssl_password_file {
        out.password_file = Some(r.path(&at.value));
    }
    if let Some(at) = &p.ssl_crl {
        out.crl = super::tls::crl_file(at, "proxy_ssl_crl", r);
    }
    match (&p.ssl_certificate, &p.ssl_certificate_key) {
        // `proxy_ssl_certificate ""` cancels an inherited certificate (nginx 1.21.0).
        (Some(cert), Some(key)) if cert.value.is_empty() && key.value.is_empty() => {
            out.certificate = None;
            out.certificate_vars = None;
        }
        (Some(cert), Some(key)) => {
            let password_file = match (&out.password_file, &p.ssl_password_file) {
                (Some(path), at) => match crate::config::files::read(path) {
                    Ok(bytes) => Some(Loaded::new(path.clone(), bytes)),
                    Err(e) => {
                        let origin = at.as_ref().map_or(&key.origin, |a| &a.origin);
                        r.error(origin, format!("cannot open \"{}\": {e}", path.display()));
                        None
                    }
                },
                (None, _) => None,
            };
            if cert.value.contains('$') || key.value.contains('$') {
                // Loaded per request (nginx 1.21.0); the pass phrases are kept for then.
                out.certificate = None;
                out.certificate_vars = Some(CertificateVars {
                    certificate: r.template(&cert.origin, &cert.value),
                    key: r.template(&key.origin, &key.value),
                    base_dir: r.path(""),
                    password_file,
                });
            } else {
                let passwords = password_file
                    .map(|f| crate::tls::keyfile::passwords(&f.data))
                    .unwrap_or_default();
                out.certificate_vars = None;
                out.certificate =
                    super::tls::certificate_pair(cert, key, "proxy_ssl", &passwords, r);
            }
        }
        (None, None) => {}
        // Each file alone means nothing; loading them as a pair at the level that names
        // them keeps the key check (does it match the certificate?) at load time.
        (Some(at), None) => r.error(
            &at.origin,
            "no \"proxy_ssl_certificate_key\" is defined for \"proxy_ssl_certificate\" at \
             this level",
        ),
        (None, Some(at)) => r.error(
            &at.origin,
            "no \"proxy_ssl_certificate\" is defined for \"proxy_ssl_certificate_key\" at \
             this level",
        ),
    }
    if let Some(at) = &p.ssl_protocols {
        out.protocols = super::tls::protocols(at, "proxy_ssl_protocols", r);
    }
    if let Some(v) = p.ssl_session_reuse {
        out.session_reuse = v;
    }
}

/// nginx refuses `proxy_ssl_verify on` without `proxy_ssl_trusted_certificate` (it has no
/// default trust store), for a location that proxies over https or may do so (a URL with
/// variables, as nginx, which sets up TLS for every such location).
pub(super) fn check_ssl(pass: &ProxyPass, ssl: &ProxySsl, at: &Origin, r: &mut Resolver) {
    let may_be_https = match pass {
        ProxyPass::Fixed { https, .. } => *https,
        ProxyPass::Dynamic(_) => true,
    };
    if may_be_https && ssl.verify && ssl.trusted_certificate.is_none() {
        r.error(at, "no proxy_ssl_trusted_certificate for proxy_ssl_verify");
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::model::{
        Balance, Config, Handler, PeerAddr, Proxy, ProxyPass, ProxyRedirect, RedirectRule,
        TlsVersion,
    };

    /// `body` inside `http {}` of an nginx.conf: body line 1 is file line 3.
    fn nginx(body: &str) -> Result<Config, Vec<(Option<usize>, String)>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, format!("events {{}}\nhttp {{\n{body}\n}}\n")).expect("write");
        crate::config::load(&file).map_err(|e| {
            e.0.into_iter()
                .map(|e| {
                    assert_eq!(e.file.as_deref(), Some(file.as_path()), "{}", e.message);
                    (e.line, e.message)
                })
                .collect()
        })
    }

    fn ok(body: &str) -> Config {
        nginx(body).unwrap_or_else(|e| panic!("unexpected errors: {e:?}"))
    }

    fn errors(body: &str) -> Vec<(Option<usize>, String)> {
        match nginx(body) {
            Ok(_) => panic!("expected errors for:\n{body}"),
            Err(e) => e,
        }
    }

    /// The one error of `body`, with its line.
    fn one_error(body: &str) -> (Option<usize>, String) {
        let mut all = errors(body);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    /// A server on line 3 whose location `/` (line 4) holds `loc`.
    fn in_location(loc: &str) -> String {
        format!("server {{ listen 127.0.0.1:1;\nlocation / {{\n{loc}\n}} }}")
    }

    fn proxy(c: &Config, i: usize) -> &Proxy {
        match &c.servers[0].locations[i].handler {
            Handler::Proxy(p) => p,
            Handler::Static | Handler::Status(_) => panic!("location {i} is not a proxy"),
        }
    }

    const SERVER: &str = "server { listen 127.0.0.1:1; }";

    #[test]
    fn upstream_groups() {
        let c = ok(&format!(
            "upstream app {{
                least_conn;
                server 127.0.0.1:9001 weight=2 max_fails=3 fail_timeout=5s;
                server 127.0.0.2 backup;
                server localhost:9003 down max_conns=10;
                server unix:/run/app.sock;
                keepalive 8;
                keepalive_timeout 30s;
                keepalive_requests 50;
                anx_health_check interval=2s uri=/health status=200-299,304 status=418 body=^ok host=app.local;
            }}
            upstream h {{ hash $request_uri consistent; server 127.0.0.1:1; }}
            upstream i {{ ip_hash; server 127.0.0.1:1; }}
            upstream r {{ random two least_conn; server 127.0.0.1:1; }}
            upstream r1 {{ random; server [::1]:1; }}
            upstream d {{ server 127.0.0.1:1; }}
            {SERVER}"
        ));
        let app = &c.upstreams[0];
        assert_eq!(app.name, "app");
        assert!(!app.implicit);
        assert_eq!(app.balance, Balance::LeastConn);
        assert_eq!(
            (app.keepalive, app.keepalive_timeout, app.keepalive_requests),
            (8, Duration::from_secs(30), 50)
        );
        let p = &app.peers;
        assert_eq!(p[0].addr, PeerAddr::Inet("127.0.0.1:9001".parse().unwrap()));
        assert_eq!(
            (p[0].weight, p[0].max_fails, p[0].fail_timeout),
            (2, 3, Duration::from_secs(5))
        );
        assert_eq!(p[1].addr, PeerAddr::Inet("127.0.0.2:80".parse().unwrap()));
        assert_eq!(p[1].name, "127.0.0.2");
        assert!(p[1].backup);
        assert_eq!(
            (
                p[1].weight,
                p[1].max_fails,
                p[1].fail_timeout,
                p[1].max_conns
            ),
            (1, 1, Duration::from_secs(10), 0)
        );
        // localhost: one peer per address it resolves to, each named as written.
        let local: Vec<_> = p.iter().filter(|p| p.name == "localhost:9003").collect();
        assert!(!local.is_empty());
        assert!(local.iter().all(|p| p.down && p.max_conns == 10));
        let last = p.last().unwrap();
        assert_eq!(last.addr, PeerAddr::Unix("/run/app.sock".into()));
        let hc = app.health_check.as_ref().unwrap();
        assert_eq!(hc.interval, Duration::from_secs(2));
        assert_eq!(hc.uri, "/health");
        assert_eq!(hc.status, vec![(200, 299), (304, 304), (418, 418)]);
        assert_eq!(hc.host.as_deref(), Some("app.local"));
        assert_eq!(hc.body.as_ref().unwrap().source, "^ok");
        assert_eq!(
            (hc.timeout, hc.fails, hc.passes),
            (Duration::from_secs(1), 1, 1)
        );
        assert!(matches!(
            &c.upstreams[1].balance,
            Balance::Hash { key, consistent: true } if key.source == "$request_uri"
        ));
        assert_eq!(c.upstreams[2].balance, Balance::IpHash);
        assert_eq!(c.upstreams[3].balance, Balance::Random { two: true });
        assert_eq!(c.upstreams[4].balance, Balance::Random { two: false });
        let d = &c.upstreams[5];
        assert_eq!(d.balance, Balance::RoundRobin);
        assert_eq!((d.keepalive, d.keepalive_requests), (0, 1000));
        assert_eq!(d.keepalive_timeout, Duration::from_secs(60));
        assert!(d.health_check.is_none());
        // nginx only warns when a method is replaced; the later one holds.
        let c = ok(&format!(
            "upstream a {{ least_conn; ip_hash; server 127.0.0.1:1; }}\n{SERVER}"
        ));
        assert_eq!(c.upstreams[0].balance, Balance::IpHash);
    }

    #[test]
    fn upstream_errors() {
        let e = errors(&format!(
            "upstream a {{ server 127.0.0.1:1; }}\nupstream A {{ server 127.0.0.1:1; }}\n{SERVER}"
        ));
        assert_eq!(e, vec![(Some(4), "duplicate upstream \"A\"".to_string())]);
        assert_eq!(
            one_error(&format!("upstream a {{\n}}\n{SERVER}")),
            (Some(3), "no servers are inside upstream".into())
        );
        for method in ["hash $uri", "ip_hash", "random"] {
            assert_eq!(
                one_error(&format!(
                    "upstream a {{ {method};\nserver 127.0.0.1:1;\nserver 127.0.0.1:2 backup; }}\n{SERVER}"
                )),
                (
                    Some(5),
                    "balancing method does not support parameter \"backup\"".into()
                ),
                "{method}"
            );
        }
        assert_eq!(
            one_error(&format!(
                "upstream a {{ server 127.0.0.1:2 backup; }}\n{SERVER}"
            )),
            (Some(3), "no servers in upstream \"a\"".into())
        );
        assert_eq!(
            one_error(&format!(
                "upstream a {{\nserver nosuch.invalid:80; }}\n{SERVER}"
            )),
            (
                Some(4),
                "host not found in upstream \"nosuch.invalid\"".into()
            )
        );
        let cases = [
            ("server 127.0.0.1:0;", "invalid port in upstream \"127.0.0.1:0\""),
            ("server 127.0.0.1/x;", "invalid host in upstream \"127.0.0.1/x\""),
            ("server 127.0.0.1 weight=0;", "invalid parameter \"weight=0\""),
            ("server 127.0.0.1 fail_timeout=5x;", "invalid parameter \"fail_timeout=5x\""),
            ("server 127.0.0.1 bogus;", "invalid parameter \"bogus\""),
            ("server 127.0.0.1; keepalive 0;", "invalid value \"0\" in \"keepalive\" directive"),
            ("server 127.0.0.1; hash $nope;", "unknown \"nope\" variable"),
            ("server 127.0.0.1; hash $uri x;", "invalid parameter \"x\""),
            ("server 127.0.0.1; random one;", "invalid parameter \"one\""),
            ("server 127.0.0.1; random two least_time=header;", "invalid parameter \"least_time=header\""),
            ("server 127.0.0.1; keepalive 1; keepalive 2;", "\"keepalive\" directive is duplicate"),
            ("server 127.0.0.1; anx_health_check status=99;", "anx_health_check: invalid status \"99\": expected a code or a range such as 200-399"),
            ("server 127.0.0.1; anx_health_check uri=health;", "anx_health_check: uri \"health\" must start with '/' and hold no spaces"),
            ("server 127.0.0.1; anx_health_check fails=0;", "anx_health_check: fails must be at least 1"),
            ("server 127.0.0.1; anx_health_check every=1s;", "invalid parameter \"every=1s\""),
            ("server 127.0.0.1; zone z 64k;", "\"zone\" directive is not supported by anx yet (ngx_http_upstream_zone_module: anx keeps each upstream group's state per shard; no shared zone is needed)"),
            ("server 127.0.0.1; proxy_pass http://a;", "\"proxy_pass\" directive is not allowed here"),
        ];
        for (inner, message) in cases {
            assert_eq!(
                one_error(&format!("upstream a {{\n{inner} }}\n{SERVER}")),
                (Some(4), message.to_string()),
                "{inner}"
            );
        }
        assert_eq!(
            one_error(&format!("least_conn;\n{SERVER}")),
            (
                Some(3),
                "\"least_conn\" directive is not allowed here".into()
            )
        );
    }

    #[test]
    fn proxy_pass_forms() {
        let c = ok("upstream app { server 127.0.0.1:9000; }
            server { listen 127.0.0.1:1;
                location /a { proxy_pass http://App; }
                location /b { proxy_pass http://127.0.0.1:8080/v1/; }
                location /c { proxy_pass HTTP://127.0.0.1:8080; }
                location /d { proxy_pass http://127.0.0.1:80/; }
                location /e { proxy_pass http://unix:/run/a.sock:/u/; }
                location /f { proxy_pass http://unix:/run/a.sock; }
                location /g { proxy_pass http://$host$request_uri; }
                location ~ ^/h { proxy_pass http://app; }
                location @i { proxy_pass $scheme://app$uri; }
                location /j { proxy_pass http://[::1]:8081?x=1; }
                location /k { root /srv; }
            }");
        let fixed = |i: usize| match &proxy(&c, i).pass {
            ProxyPass::Fixed {
                upstream,
                proxy_host,
                proxy_port,
                uri,
                ..
            } => (
                *upstream,
                proxy_host.as_str(),
                *proxy_port,
                uri.as_deref()
                    .map(|u| String::from_utf8_lossy(u).into_owned()),
            ),
            ProxyPass::Dynamic(_) => panic!("location {i} is dynamic"),
        };
        assert_eq!(fixed(0), (0, "App", 80, None));
        assert_eq!(fixed(1), (1, "127.0.0.1:8080", 8080, Some("/v1/".into())));
        // The same host:port shares its implicit group.
        assert_eq!(fixed(2), (1, "127.0.0.1:8080", 8080, None));
        assert_eq!(fixed(3), (2, "127.0.0.1", 80, Some("/".into())));
        assert_eq!(fixed(4), (3, "localhost", 0, Some("/u/".into())));
        assert_eq!(fixed(5), (3, "localhost", 0, None));
        assert!(
            matches!(&proxy(&c, 6).pass, ProxyPass::Dynamic(t) if t.source == "http://$host$request_uri")
        );
        assert_eq!(fixed(7), (0, "app", 80, None));
        assert!(matches!(&proxy(&c, 8).pass, ProxyPass::Dynamic(_)));
        assert_eq!(fixed(9), (4, "[::1]:8081", 8081, Some("?x=1".into())));
        assert_eq!(c.servers[0].locations[10].handler, Handler::Static);
        let names: Vec<(&str, bool)> = c
            .upstreams
            .iter()
            .map(|u| (u.name.as_str(), u.implicit))
            .collect();
        assert_eq!(
            names,
            vec![
                ("app", false),
                ("127.0.0.1:8080", true),
                ("127.0.0.1:80", true),
                ("unix:/run/a.sock", true),
                ("[::1]:8081", true),
            ]
        );
        let implicit = &c.upstreams[1];
        assert_eq!(implicit.keepalive, 0);
        assert_eq!(implicit.peers.len(), 1);
        assert_eq!(implicit.peers[0].name, "127.0.0.1:8080");
        assert_eq!(
            c.upstreams[3].peers[0].addr,
            PeerAddr::Unix("/run/a.sock".into())
        );
    }

    #[test]
    fn probe_names_lose_their_port() {
        for (group, name) in [
            ("app", "app"),
            ("127.0.0.1:8443", "127.0.0.1"),
            ("[::1]:443", "::1"),
            ("backend.test:9", "backend.test"),
        ] {
            assert_eq!(super::group_host(group), name, "{group}");
        }
    }

    #[test]
    fn proxy_pass_https() {
        let c = ok("upstream app { server 127.0.0.1:9443; }
            server { listen 127.0.0.1:1;
                proxy_ssl_server_name on;
                proxy_ssl_session_reuse off;
                location /a { proxy_pass https://app/x/; proxy_ssl_name $host; }
                location /b { proxy_pass https://127.0.0.1; }
                location /c { proxy_pass HTTPS://127.0.0.1:8443; proxy_ssl_protocols TLSv1.3; }
                location /d { proxy_pass http://127.0.0.1:443; }
                location /e { proxy_pass HTTPS://$host$uri; }
            }");
        let fixed = |i: usize| match &proxy(&c, i).pass {
            ProxyPass::Fixed {
                upstream,
                proxy_host,
                proxy_port,
                https,
                ..
            } => (*upstream, proxy_host.as_str(), *proxy_port, *https),
            ProxyPass::Dynamic(_) => panic!("location {i} is dynamic"),
        };
        assert_eq!(fixed(0), (0, "app", 443, true));
        // 443 is https's own port: not part of $proxy_host.
        assert_eq!(fixed(1), (1, "127.0.0.1", 443, true));
        assert_eq!(fixed(2), (2, "127.0.0.1:8443", 8443, true));
        // The same address over plain http shares the implicit group, and is no TLS.
        assert_eq!(fixed(3), (1, "127.0.0.1:443", 443, false));
        let a = &proxy(&c, 0).settings.ssl;
        assert!(a.server_name && !a.session_reuse && !a.verify);
        assert_eq!(a.name.as_ref().map(|t| t.source.as_str()), Some("$host"));
        assert_eq!(a.protocols, vec![TlsVersion::Tls12, TlsVersion::Tls13]);
        let c3 = &proxy(&c, 2).settings.ssl;
        assert!(c3.name.is_none() && c3.server_name);
        assert_eq!(c3.protocols, vec![TlsVersion::Tls13]);
        // With variables the scheme is read per request; the settings are the location's.
        match &proxy(&c, 4).pass {
            ProxyPass::Dynamic(t) => assert_eq!(t.source, "HTTPS://$host$uri"),
            other => panic!("location 4 is {other:?}"),
        }
        assert!(proxy(&c, 4).settings.ssl.server_name);
    }

    #[test]
    fn proxy_ssl_certificate_with_variables() {
        let c = ok("server { listen 127.0.0.1:1;
                proxy_ssl_certificate $arg_c.crt;
                proxy_ssl_certificate_key /keys/$arg_c.key;
                location /a { proxy_pass https://127.0.0.1; }
                location /b { proxy_pass https://127.0.0.1;
                    proxy_ssl_certificate \"\"; proxy_ssl_certificate_key \"\"; }
            }");
        let a = &proxy(&c, 0).settings.ssl;
        assert!(a.certificate.is_none());
        let vars = a
            .certificate_vars
            .as_ref()
            .expect("certificate with variables");
        assert_eq!(vars.certificate.source, "$arg_c.crt");
        assert!(vars.certificate.has_vars() && vars.key.has_vars());
        assert!(vars.password_file.is_none());
        // `""` cancels an inherited certificate with variables too.
        let b = &proxy(&c, 1).settings.ssl;
        assert!(b.certificate.is_none() && b.certificate_vars.is_none());
    }

    #[test]
    fn proxy_pass_errors() {
        let cases = [
            (
                "proxy_pass https://$host; proxy_ssl_verify on;",
                "no proxy_ssl_trusted_certificate for proxy_ssl_verify",
            ),
            (
                "proxy_pass $scheme://$host; proxy_ssl_verify on;",
                "no proxy_ssl_trusted_certificate for proxy_ssl_verify",
            ),
            (
                "proxy_pass https://127.0.0.1; proxy_ssl_verify on;",
                "no proxy_ssl_trusted_certificate for proxy_ssl_verify",
            ),
            (
                "proxy_pass https://127.0.0.1; proxy_ssl_certificate /nonexistent.pem;",
                "no \"proxy_ssl_certificate_key\" is defined for \"proxy_ssl_certificate\" at \
                 this level",
            ),
            (
                "proxy_pass https://127.0.0.1; proxy_ssl_protocols TLSv1.3 SSLv9;",
                "invalid value \"SSLv9\" in \"proxy_ssl_protocols\" directive",
            ),
            ("proxy_pass ftp://a;", "invalid URL prefix"),
            ("proxy_pass ftp://$host;", "invalid URL prefix"),
            ("proxy_pass http://;", "no host in upstream \"\""),
            (
                "proxy_pass http://127.0.0.1:99999/x;",
                "invalid port in upstream \"127.0.0.1:99999/x\"",
            ),
            (
                "proxy_pass http://nosuch.invalid/x;",
                "host not found in upstream \"nosuch.invalid\"",
            ),
            ("proxy_pass http://$nope;", "unknown \"nope\" variable"),
            (
                "proxy_pass http://a:1; proxy_pass http://a:2;",
                "\"proxy_pass\" directive is duplicate",
            ),
            (
                "if ($uri) { proxy_pass http://127.0.0.1; proxy_pass http://127.0.0.2; }",
                "\"proxy_pass\" directive is duplicate",
            ),
        ];
        for (loc, message) in cases {
            let (line, got) = one_error(&in_location(loc));
            assert_eq!((line, got.as_str()), (Some(5), message), "{loc}");
        }
        let uri_part = super::URI_PART.to_string();
        for (kind, url) in [("~ ^/x", "http://127.0.0.1/x"), ("@n", "http://127.0.0.1/")] {
            assert_eq!(
                one_error(&format!(
                    "server {{ listen 127.0.0.1:1;\nlocation {kind} {{ proxy_pass {url}; }} }}"
                )),
                (Some(4), uri_part.clone())
            );
        }
        assert_eq!(
            one_error(&format!(
                "upstream app {{ server 127.0.0.1; }}\n{}",
                in_location("proxy_pass http://app:8080;")
            )),
            (Some(6), "upstream \"app\" may not have port 8080".into())
        );
        assert_eq!(
            one_error("server { listen 127.0.0.1:1;\nproxy_pass http://a; }"),
            (
                Some(4),
                "\"proxy_pass\" directive is not allowed here".into()
            )
        );
    }

    #[test]
    fn settings_inherit_and_replace() {
        let c = ok("proxy_set_header X-A a;
            proxy_set_header X-B $remote_addr;
            proxy_hide_header X-Powered-By;
            proxy_read_timeout 30s;
            proxy_next_upstream http_504 error http_502 http_502;
            proxy_buffers 8 4k;
            proxy_busy_buffers_size 8k;
            proxy_max_temp_file_size 0;
            proxy_temp_file_write_size 16k;
            server { listen 127.0.0.1:1;
                proxy_http_version 1.1;
                location /a {
                    proxy_pass http://127.0.0.1:9;
                    proxy_set_header Host $proxy_host;
                    proxy_redirect default;
                    proxy_redirect ~*^http://x(/.*)$ $1;
                    proxy_redirect http://$host/ /;
                }
                location /b {
                    proxy_set_header X-C c;
                    proxy_pass_header Server;
                    proxy_method $request_method;
                    proxy_connect_timeout 2s;
                    proxy_send_timeout 3s;
                    proxy_next_upstream_tries 2;
                    proxy_next_upstream_timeout 5s;
                    proxy_buffering off;
                    proxy_request_buffering off;
                    proxy_buffer_size 16k;
                    proxy_intercept_errors on;
                    proxy_pass_request_headers off;
                    proxy_pass_request_body off;
                    proxy_redirect off;
                    location /b/c { proxy_pass http://127.0.0.1:9; proxy_next_upstream off; }
                }
                location /d { proxy_pass http://$host; }
                location /e { proxy_pass http://127.0.0.1:9; proxy_redirect default; }
            }");
        let a = &proxy(&c, 0).settings;
        let headers: Vec<(&str, &str)> = a
            .set_headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.source.as_str()))
            .collect();
        assert_eq!(headers, vec![("Host", "$proxy_host")]);
        assert_eq!(a.hide_headers, vec!["x-powered-by".to_string()]);
        assert_eq!(a.http_minor, 1);
        assert_eq!(a.read_timeout, Duration::from_secs(30));
        assert_eq!(a.connect_timeout, Duration::from_secs(60));
        let n = a.next_upstream;
        assert!(n.error && !n.timeout && !n.invalid_header && !n.non_idempotent);
        assert_eq!(n.statuses.iter().collect::<Vec<_>>(), vec![502, 504]);
        let ProxyRedirect::Rules(rules) = &a.redirect else {
            panic!("{:?}", a.redirect);
        };
        assert_eq!(rules[0], RedirectRule::Default);
        assert!(
            matches!(&rules[1], RedirectRule::Regex { from, to } if from.caseless && from.source == "^http://x(/.*)$" && to.source == "$1")
        );
        assert!(
            matches!(&rules[2], RedirectRule::Prefix { from, .. } if from.source == "http://$host/")
        );

        let nested = match &c.servers[0].locations[1].locations[0].handler {
            Handler::Proxy(p) => &p.settings,
            Handler::Static | Handler::Status(_) => panic!("nested location is not a proxy"),
        };
        let headers: Vec<&str> = nested.set_headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(headers, vec!["X-C"]);
        assert_eq!(nested.pass_headers, vec!["server".to_string()]);
        assert_eq!(
            nested.method.as_ref().map(|m| m.source.as_str()),
            Some("$request_method")
        );
        assert_eq!(
            (
                nested.connect_timeout,
                nested.send_timeout,
                nested.next_upstream_timeout
            ),
            (
                Duration::from_secs(2),
                Duration::from_secs(3),
                Duration::from_secs(5)
            )
        );
        assert_eq!(nested.next_upstream_tries, 2);
        assert_eq!(
            nested.next_upstream,
            crate::config::model::NextUpstream::off()
        );
        assert!(!nested.buffering && !nested.request_buffering && nested.intercept_errors);
        assert!(!nested.pass_request_headers && !nested.pass_request_body);
        assert_eq!(nested.buffer_size, 16 * 1024);
        assert_eq!(nested.redirect, ProxyRedirect::Off);
        // The b location itself is static: its proxy settings only reach the nested one.
        assert_eq!(c.servers[0].locations[1].handler, Handler::Static);
        // With variables in the URL the default redirect does not apply.
        assert_eq!(proxy(&c, 2).settings.redirect, ProxyRedirect::Off);
        // `proxy_redirect default` alone is the default.
        assert_eq!(proxy(&c, 3).settings.redirect, ProxyRedirect::Default);
    }

    #[test]
    fn settings_errors() {
        let cases = [
            ("proxy_http_version 2.0;", "invalid value \"2.0\" in \"proxy_http_version\" directive, it must be \"1.0\" or \"1.1\""),
            ("proxy_next_upstream error bogus;", "invalid value \"bogus\""),
            ("proxy_redirect / /a; proxy_redirect off;", "\"proxy_redirect\" directive is duplicate"),
            ("proxy_redirect bogus;", "invalid parameter \"bogus\""),
            ("proxy_redirect ~(( /b;", "invalid regex \"((\": error: unclosed group"),
            ("proxy_redirect default;", "\"proxy_redirect default\" should be placed after the \"proxy_pass\" directive"),
            ("proxy_pass http://$host; proxy_redirect default;", "\"proxy_redirect default\" cannot be used with \"proxy_pass\" directive with variables"),
            ("proxy_set_header \"a b\" x;", "invalid header name \"a b\""),
            ("proxy_hide_header \"\";", "invalid header name \"\""),
            ("proxy_set_header X $nope;", "unknown \"nope\" variable"),
            ("proxy_read_timeout 5x;", "\"proxy_read_timeout\" directive: expected a time such as \"75s\", \"500ms\" or \"1h 30m\", found \"5x\""),
            ("resolver 127.0.0.1 valid=soon;", "invalid parameter: valid=soon"),
            ("resolver 127.0.0.1 ipv6=no;", "invalid parameter: ipv6=no"),
            ("resolver [::1;", "invalid host in resolver \"[::1\""),
            ("resolver 127.0.0.1 ipv4=off ipv6=off;", "\"ipv4\" and \"ipv6\" cannot both be \"off\""),
            ("resolver_timeout 5x;", "\"resolver_timeout\" directive: expected a time such as \"75s\", \"500ms\" or \"1h 30m\", found \"5x\""),
            ("proxy_buffering maybe;", "invalid value \"maybe\" in \"proxy_buffering\" directive, it must be \"on\" or \"off\""),
            ("proxy_connect_timeout 1s; proxy_connect_timeout 2s;", "\"proxy_connect_timeout\" directive is duplicate"),
            ("proxy_cache c;", "\"proxy_cache\" directive is not supported by anx yet (ngx_http_upstream_cache: proxy caching is planned)"),
        ];
        for (loc, message) in cases {
            let (line, got) = one_error(&in_location(loc));
            assert_eq!((line, got.as_str()), (Some(5), message), "{loc}");
        }
        assert_eq!(
            one_error(&format!("proxy_redirect default;\n{SERVER}")),
            (
                Some(3),
                "\"proxy_redirect default\" should be placed after the \"proxy_pass\" directive"
                    .into()
            )
        );
    }

    #[test]
    fn toml_forms_and_errors() {
        let parse = |text: &str| {
            crate::config::toml::parse(text, Some(Path::new("t.toml")), Path::new("/srv"))
        };
        // A server proxying to the group `app`, after the [[upstream]] table that defines it.
        const APP_SERVER: &str = r#"
[[server]]
listen = ["127.0.0.1:1"]
proxy_http_version = 1.1
[[server.location]]
path = "/"
proxy_pass = "http://app/"
proxy_redirect = false
"#;
        let c = parse(&format!(
            r#"
[[upstream]]
name = "app"
servers = ["127.0.0.1:9001", {{ addr = "127.0.0.1:9002", weight = 2, backup = true }}]
balance = {{ hash = "$request_uri" }}
health_check = true
{APP_SERVER}"#
        ));
        // A hash group with a backup server is refused, at the [[upstream]] line.
        let e = c.unwrap_err().0;
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].line, Some(2));
        assert_eq!(
            e[0].message,
            "balancing method does not support parameter \"backup\""
        );

        let c = parse(&format!(
            r#"
[[upstream]]
name = "app"
servers = ["127.0.0.1:9001"]
health_check = true
{APP_SERVER}"#
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.upstreams[0].health_check, Some(Default::default()));
        let p = proxy(&c, 0);
        assert_eq!(p.settings.http_minor, 1);
        assert_eq!(p.settings.redirect, ProxyRedirect::Off);

        for (text, line, needle) in [
            (
                "[[upstream]]\nname = \"a\"\nservers = []\nbogus = 1\n",
                4,
                "bogus",
            ),
            (
                "[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1\"]\nbalance = \"fastest\"\n",
                4,
                "round_robin",
            ),
            (
                "[[upstream]]\nname = \"a\"\nservers = [{ addr = \"127.0.0.1\", weight = 0 }]\n",
                3,
                "weight must be at least 1",
            ),
            (
                "[[server]]\nlisten = [\"127.0.0.1:1\"]\nproxy_redirect = true\n",
                3,
                "proxy_redirect",
            ),
            (
                "[[server]]\nlisten = [\"127.0.0.1:1\"]\nproxy_pass = \"http://a\"\n",
                3,
                "proxy_pass",
            ),
        ] {
            let e = parse(text).unwrap_err().0;
            assert_eq!(e[0].line, Some(line), "{text}: {e:?}");
            assert!(e[0].message.contains(needle), "{text}: {}", e[0].message);
        }
    }
}
