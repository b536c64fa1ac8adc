//! The proxy handler: turns a request routed to a `proxy_pass` location into a
//! [`ProxyPlan`], the upstream request head and what the exchange needs to know.
//!
//! Runs in the pipeline's content phase, sans-io: it evaluates `proxy_pass`, nginx's URI
//! rules, `proxy_set_header` and the hash key with the request's variables, and forwards the
//! client's fields minus the hop-by-hop ones. `serve::proxy` then picks a peer, sends the
//! head (adding the body's framing field) and relays the answer.

use std::net::SocketAddr;

use crate::config::model::{
    Balance, Config, Location, MatchKind, Proxy, ProxyPass, Template, Upstream,
};
use crate::context::vars::Ctx;
use crate::http::hop::{connection_tokens, is_hop_by_hop};
use crate::http::request::{BodyFraming, Method};

/// Where the request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An upstream group (`Config::upstreams` index).
    Group(usize),
    /// A literal address from a `proxy_pass` with variables.
    Addr(SocketAddr),
    /// `unix:/path` from a `proxy_pass` with variables.
    Unix(std::path::PathBuf),
    /// A host name from a `proxy_pass` with variables, for the location's `resolver`
    /// (lowercased, without the port).
    Resolve { host: String, port: u16 },
}

/// Everything the exchange needs, decided before any I/O.
#[derive(Debug)]
pub struct ProxyPlan<'c> {
    pub proxy: &'c Proxy,
    pub target: Target,
    /// Request line and fields, each line ending in CRLF, without the body's framing field
    /// and without the final empty line (the exchange adds both).
    pub head: Vec<u8>,
    /// The evaluated `hash` key (empty for other policies).
    pub hash_key: Vec<u8>,
    /// The client asked to switch protocols (`Connection: upgrade`): if the upstream answers
    /// 101, the exchange relays it and then tunnels bytes both ways (nginx's rule).
    pub upgrade: bool,
    /// The method may be retried on another peer after the request was sent (nginx: not
    /// POST, LOCK, PATCH unless `non_idempotent`).
    pub idempotent: bool,
    /// The client's body goes to the upstream (`proxy_pass_request_body`).
    pub send_body: bool,
    /// `proxy_set_body` evaluated: sent instead of the client's body.
    pub set_body: Option<Vec<u8>>,
    /// `proxy_bind` evaluated: the local address of new upstream connections, and whether
    /// it is transparent.
    pub bind: Option<(SocketAddr, bool)>,
    /// The upstream request is HEAD (its answer has no body whatever its fields say).
    pub head_request: bool,
    /// The head asks the upstream to keep the connection (no `Connection: close` sent),
    /// so it may go back to the pool.
    pub reusable: bool,
    /// For `proxy_pass https://`: the name the upstream's certificate is checked against
    /// (and sent in SNI with `proxy_ssl_server_name on`): `proxy_ssl_name` evaluated, or
    /// `$proxy_host` without its port, as nginx. `None` for plain HTTP.
    pub ssl_name: Option<String>,
    /// `proxy_ssl_certificate` / `_key` with variables, evaluated (paths as written, not
    /// yet joined to the configuration's directory); `None` when they have none.
    pub ssl_certificate: Option<(String, String)>,
}

/// Why no plan could be made; the pipeline answers with the status.
#[derive(Debug)]
pub struct PlanError {
    pub status: u16,
    pub message: String,
}

/// Builds the plan for `loc`'s `proxy_pass`.
pub fn plan<'c>(
    ctx: &mut Ctx<'_, 'c>,
    loc: &'c Location,
    proxy: &'c Proxy,
    method: Method,
) -> Result<ProxyPlan<'c>, PlanError> {
    let config = ctx.config;
    let (target, proxy_host, proxy_port, uri, https) = match &proxy.pass {
        ProxyPass::Fixed {
            upstream,
            proxy_host,
            proxy_port,
            uri,
            https: tls,
        } => {
            let uri = uri.as_deref().map(|part| replace_prefix(ctx, loc, part));
            (
                Target::Group(*upstream),
                proxy_host.as_bytes().to_vec(),
                *proxy_port,
                uri,
                *tls,
            )
        }
        ProxyPass::Dynamic(template) => {
            let d = dynamic_target(ctx, template, config, proxy.settings.resolver.is_some())?;
            (d.target, d.proxy_host, d.proxy_port, d.uri, d.https)
        }
    };
    let uri = uri.unwrap_or_else(|| unchanged_uri(ctx));
    ctx.st.proxy_target = Some((proxy_host, proxy_port));

    let settings = &proxy.settings;
    let upgrade = wants_upgrade(ctx);
    let group = match target {
        Target::Group(i) => config.upstreams.get(i),
        Target::Addr(_) | Target::Unix(_) | Target::Resolve { .. } => None,
    };
    // Keep-alive to the upstream needs HTTP/1.1 and a pool to go back to. nginx also needs
    // `proxy_set_header Connection ""` for it; anx drops its default `Connection: close`
    // by itself when both hold, and an explicit Connection header still wins.
    let pooled = settings.http_minor == 1 && group.is_some_and(|g| g.keepalive > 0);
    let minor = settings.http_minor;

    let mut head = Vec::with_capacity(512);
    let sent_method = match &settings.method {
        Some(m) => {
            let mut out = Vec::new();
            ctx.eval(m, &mut out);
            out
        }
        // After an error page or X-Accel-Redirect the request runs as GET (nginx rewrites
        // its method), HEAD staying HEAD.
        None if ctx.st.as_get && method != Method::Head => b"GET".to_vec(),
        None => ctx.req.buf[ctx.req.head.method_raw.clone()].to_vec(),
    };
    head.extend_from_slice(&sent_method);
    head.push(b' ');
    head.extend_from_slice(&uri);
    head.extend_from_slice(if minor == 1 {
        b" HTTP/1.1\r\n"
    } else {
        b" HTTP/1.0\r\n"
    });

    let set = &settings.set_headers;
    let named = |name: &str| set.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !named("host") {
        let host = ctx.st.proxy_target.as_ref().map_or(&[][..], |t| &t.0[..]);
        push_field(&mut head, b"Host", host);
    }
    // As nginx: the upgrade reaches the upstream only through the configuration
    // (`proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";`
    // with `proxy_http_version 1.1`); a connection that may switch protocols never goes
    // back to the pool.
    let mut reusable = pooled && !upgrade;
    if !named("connection") && !pooled {
        push_field(&mut head, b"Connection", b"close");
    }
    let mut value = Vec::new();
    for (name, template) in set {
        value.clear();
        ctx.eval(template, &mut value);
        if value.is_empty() {
            continue;
        }
        if name.eq_ignore_ascii_case("connection") {
            reusable = pooled
                && !connection_tokens(&value).any(|t| t.eq_ignore_ascii_case(b"close"))
                && !upgrade;
        }
        push_field(&mut head, name.as_bytes(), &value);
    }
    if settings.pass_request_headers {
        forward_client_fields(ctx, &mut head, set);
    }

    let hash_key = match group.map(|g| &g.balance) {
        Some(Balance::Hash { key, .. }) => {
            let mut out = Vec::new();
            ctx.eval(key, &mut out);
            out
        }
        _ => Vec::new(),
    };
    let sent = Method::from_token(&sent_method);
    let ssl_name = https.then(|| ssl_name(ctx, settings));
    let ssl_certificate = match &settings.ssl.certificate_vars {
        Some(vars) if https => {
            let cert = String::from_utf8_lossy(&ctx.eval_vec(&vars.certificate)).into_owned();
            // nginx evaluates the key only for a certificate.
            let key = match cert.is_empty() {
                true => String::new(),
                false => String::from_utf8_lossy(&ctx.eval_vec(&vars.key)).into_owned(),
            };
            Some((cert, key))
        }
        _ => None,
    };
    let bind = match &settings.bind {
        None => None,
        Some(b) => {
            let mut text = Vec::new();
            ctx.eval(&b.addr, &mut text);
            if text.is_empty() {
                None
            } else {
                match crate::config::model::addr::local_addr(&text) {
                    Some(a) => Some((a, b.transparent)),
                    None => {
                        return Err(PlanError {
                            status: 500,
                            message: format!(
                                "invalid local address \"{}\"",
                                String::from_utf8_lossy(&text)
                            ),
                        })
                    }
                }
            }
        }
    };
    let set_body = settings.set_body.as_ref().map(|t| {
        let mut out = Vec::new();
        ctx.eval(t, &mut out);
        out
    });
    Ok(ProxyPlan {
        proxy,
        target,
        head,
        hash_key,
        upgrade,
        idempotent: !matches!(sent, Method::Post | Method::Patch)
            && !sent_method.eq_ignore_ascii_case(b"LOCK"),
        send_body: settings.pass_request_body && method != Method::Head,
        set_body,
        bind,
        head_request: sent == Method::Head,
        reusable,
        ssl_name,
        ssl_certificate,
    })
}

/// `proxy_ssl_name`, or `$proxy_host` with its port cut off (nginx's
/// `ngx_http_upstream_ssl_name`: a bracketed IPv6 literal keeps its colons).
fn ssl_name(ctx: &mut Ctx, settings: &crate::config::model::ProxySettings) -> String {
    let mut name = Vec::new();
    match &settings.ssl.name {
        Some(t) => ctx.eval(t, &mut name),
        None => {
            if let Some((host, _)) = &ctx.st.proxy_target {
                name.extend_from_slice(host);
            }
        }
    }
    let end = if name.first() == Some(&b'[') {
        name.iter()
            .position(|&b| b == b']')
            .map_or(name.len(), |i| i + 1)
    } else {
        name.iter().position(|&b| b == b':').unwrap_or(name.len())
    };
    name.truncate(end);
    // rustls takes IPv6 literals without brackets.
    let name = name
        .strip_prefix(b"[")
        .and_then(|n| n.strip_suffix(b"]"))
        .unwrap_or(&name);
    String::from_utf8_lossy(name).into_owned()
}

fn push_field(head: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    head.extend_from_slice(name);
    head.extend_from_slice(b": ");
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n");
}

/// The client's fields that go on: everything except hop-by-hop fields, the ones anx sets
/// itself (Host, framing, Expect) and the ones `proxy_set_header` names.
fn forward_client_fields(ctx: &Ctx, head: &mut Vec<u8>, set: &[(String, Template)]) {
    let req = &ctx.req;
    let buf = req.buf;
    let tokens: Vec<&[u8]> = req
        .head
        .fields
        .iter()
        .filter(|f| buf[f.name.clone()].eq_ignore_ascii_case(b"connection"))
        .flat_map(|f| connection_tokens(&buf[f.value.clone()]))
        .collect();
    for f in &req.head.fields {
        let name = &buf[f.name.clone()];
        if is_hop_by_hop(name, &tokens)
            || name.eq_ignore_ascii_case(b"host")
            || name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"expect")
            || set
                .iter()
                .any(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        {
            continue;
        }
        push_field(head, name, &buf[f.value.clone()]);
    }
}

/// `Connection: upgrade` with an `Upgrade` field, on HTTP/1.1.
fn wants_upgrade(ctx: &Ctx) -> bool {
    let req = &ctx.req;
    if req.head.version != crate::http::request::Version::Http11 {
        return false;
    }
    let buf = req.buf;
    let has_upgrade = req.field("upgrade").is_some_and(|v| !v.is_empty());
    has_upgrade
        && req
            .head
            .fields
            .iter()
            .filter(|f| buf[f.name.clone()].eq_ignore_ascii_case(b"connection"))
            .flat_map(|f| connection_tokens(&buf[f.value.clone()]))
            .any(|t| t.eq_ignore_ascii_case(b"upgrade"))
}

/// With a URI part in proxy_pass: the part of the (normalised) URI that matched the
/// location is replaced by it, and the result is escaped again (nginx's rule).
fn replace_prefix(ctx: &Ctx, loc: &Location, part: &[u8]) -> Vec<u8> {
    let uri = &ctx.st.uri;
    if !ctx.st.valid_location {
        // `rewrite ... break` (or `break` after a rewrite) kept a new URI here: nginx
        // passes it whole, without the URI part.
        let mut out = Vec::with_capacity(uri.len() + 16);
        escape_uri(uri, &mut out);
        append_args(ctx, &mut out);
        return out;
    }
    let matched = match loc.match_kind {
        MatchKind::Prefix | MatchKind::PrefixNoRegex | MatchKind::Exact
            if uri.starts_with(&loc.path) =>
        {
            loc.path.len()
        }
        // A rewrite moved the URI out of the prefix: nginx passes the new URI whole.
        _ => 0,
    };
    let mut out = Vec::with_capacity(part.len() + uri.len());
    out.extend_from_slice(part);
    escape_uri(&uri[matched..], &mut out);
    append_args(ctx, &mut out);
    out
}

/// Without a URI part: the request's own target when the URI was not changed, else the
/// current URI escaped, with its args.
fn unchanged_uri(ctx: &Ctx) -> Vec<u8> {
    if !ctx.st.internal {
        return ctx.req.target().to_vec();
    }
    let mut out = Vec::with_capacity(ctx.st.uri.len() + 16);
    escape_uri(&ctx.st.uri, &mut out);
    append_args(ctx, &mut out);
    out
}

fn append_args(ctx: &Ctx, out: &mut Vec<u8>) {
    if let Some(args) = ctx.st.args(&ctx.req) {
        out.push(b'?');
        out.extend_from_slice(args);
    }
}

/// nginx's `NGX_ESCAPE_URI` set: controls, space, `#`, `%`, `?` and bytes ≥ 0x7f.
pub fn escape_uri(path: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in path {
        if b <= 0x20 || b >= 0x7f || matches!(b, b'#' | b'%' | b'?') {
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        } else {
            out.push(b);
        }
    }
}

/// A `proxy_pass` with variables, evaluated: where it goes and what `$proxy_host`,
/// `$proxy_port` and the upstream URI become.
struct Dynamic {
    target: Target,
    proxy_host: Vec<u8>,
    proxy_port: u16,
    /// The URI part, when the URL has one: the whole upstream URI.
    uri: Option<Vec<u8>>,
    /// The URL's scheme was `https://`: the connection is TLS with the location's
    /// `proxy_ssl_*` settings.
    https: bool,
}

/// A `proxy_pass` with variables: the scheme is `http://` or `https://`, the host names a
/// group or is a literal address.
fn dynamic_target(
    ctx: &mut Ctx,
    template: &Template,
    config: &Config,
    resolver: bool,
) -> Result<Dynamic, PlanError> {
    let mut url = Vec::new();
    ctx.eval(template, &mut url);
    let invalid = |what: &str| PlanError {
        status: 500,
        message: format!(
            "invalid URL prefix in \"{}\" ({what})",
            String::from_utf8_lossy(&url)
        ),
    };
    let scheme = |s: &[u8]| url.len() >= s.len() && url[..s.len()].eq_ignore_ascii_case(s);
    let (rest, https) = if scheme(b"http://") {
        (&url[7..], false)
    } else if scheme(b"https://") {
        (&url[8..], true)
    } else {
        return Err(invalid("only http:// and https:// are supported"));
    };
    let default_port = if https { 443 } else { 80 };
    // "unix:/path[:uri]", as nginx reads it: the socket path ends at the next ':'.
    if rest.len() > 5 && rest[..5].eq_ignore_ascii_case(b"unix:") {
        let path_and_uri = &rest[5..];
        let (path, uri) = match memchr::memchr(b':', path_and_uri) {
            Some(i) => (&path_and_uri[..i], Some(path_and_uri[i + 1..].to_vec())),
            None => (path_and_uri, None),
        };
        if path.is_empty() {
            return Err(invalid("no path in the unix socket"));
        }
        let path = std::path::PathBuf::from(String::from_utf8_lossy(path).into_owned());
        return Ok(Dynamic {
            target: Target::Unix(path),
            // nginx's host for a unix socket.
            proxy_host: b"localhost".to_vec(),
            proxy_port: 0,
            uri: uri.filter(|u| !u.is_empty()),
            https,
        });
    }
    let (authority, uri) = match memchr::memchr(b'/', rest) {
        Some(i) => (&rest[..i], Some(rest[i..].to_vec())),
        None => (rest, None),
    };
    if authority.is_empty() {
        return Err(invalid("no host"));
    }
    let host = String::from_utf8_lossy(authority).to_ascii_lowercase();
    let found = |target, proxy_port| Dynamic {
        target,
        proxy_host: authority.to_vec(),
        proxy_port,
        uri: uri.clone(),
        https,
    };
    if let Some(i) = find_group(&config.upstreams, &host) {
        return Ok(found(Target::Group(i), default_port));
    }
    // A literal address: "ip:port", "[v6]:port", or an address without a port (the
    // scheme's).
    let literal = host.parse::<SocketAddr>().ok().or_else(|| {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, default_port))
    });
    if let Some(addr) = literal {
        return Ok(found(Target::Addr(addr), addr.port()));
    }
    if resolver {
        // "name" or "name:port"; the name is looked up by `serve::proxy` before it connects.
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) => match port.parse::<u16>() {
                Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => (name, p),
                _ => return Err(invalid("invalid port")),
            },
            None => (host.as_str(), default_port),
        };
        if name.is_empty() || name.starts_with('[') {
            return Err(invalid("invalid host"));
        }
        let target = Target::Resolve {
            host: name.to_string(),
            port,
        };
        return Ok(found(target, port));
    }
    Err(PlanError {
        status: 502,
        message: format!("no resolver defined to resolve {host}"),
    })
}

fn find_group(upstreams: &[Upstream], host: &str) -> Option<usize> {
    upstreams
        .iter()
        .position(|u| !u.implicit && u.name.eq_ignore_ascii_case(host))
        .or_else(|| {
            upstreams
                .iter()
                .position(|u| u.implicit && u.name.eq_ignore_ascii_case(host))
        })
}

/// How the request body is sent to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendBody {
    None,
    Length(u64),
    Chunked,
}

/// The framing field for `framing` (what the client sent) on an upstream request of
/// HTTP/1.`minor`: a chunked body goes on chunked to 1.1 upstreams; a 1.0 upstream needs a
/// length, so the exchange buffers it first.
pub fn send_framing(framing: BodyFraming, send_body: bool) -> SendBody {
    match (framing, send_body) {
        (_, false) | (BodyFraming::None, _) => SendBody::None,
        (BodyFraming::Length(n), true) => SendBody::Length(n),
        (BodyFraming::Chunked, true) => SendBody::Chunked,
    }
}

/// `proxy_redirect`: the replacement for a `Location` / `Refresh` value from the upstream,
/// or `None` to keep it. Rules are tried in order; the first that matches wins.
pub fn rewrite_location<'c>(
    ctx: &mut Ctx<'_, 'c>,
    plan: &ProxyPlan<'c>,
    value: &[u8],
) -> Option<Vec<u8>> {
    use crate::config::model::{ProxyRedirect, RedirectRule};
    match &plan.proxy.settings.redirect {
        ProxyRedirect::Off => None,
        ProxyRedirect::Default => default_redirect(ctx, plan, value),
        ProxyRedirect::Rules(rules) => {
            for rule in rules {
                let replaced = match rule {
                    RedirectRule::Default => default_redirect(ctx, plan, value),
                    RedirectRule::Prefix { from, to } => {
                        let mut prefix = Vec::new();
                        ctx.eval(from, &mut prefix);
                        if value.len() >= prefix.len()
                            && value[..prefix.len()].eq_ignore_ascii_case(&prefix)
                        {
                            let mut out = Vec::new();
                            ctx.eval(to, &mut out);
                            out.extend_from_slice(&value[prefix.len()..]);
                            Some(out)
                        } else {
                            None
                        }
                    }
                    RedirectRule::Regex { from, to } => {
                        if ctx.st.match_bytes(from, value) {
                            let mut out = Vec::new();
                            ctx.eval(to, &mut out);
                            Some(out)
                        } else {
                            None
                        }
                    }
                };
                if replaced.is_some() {
                    return replaced;
                }
            }
            None
        }
    }
}

/// nginx's `proxy_redirect default`: the proxy_pass URL is replaced by the location's
/// prefix (`http://b/two/` → `/one/`, `https://` for an https URL); without a URI part,
/// `http://b/` → `/`. Only for a
/// proxy_pass without variables in a prefix or exact location.
fn default_redirect(ctx: &Ctx, plan: &ProxyPlan, value: &[u8]) -> Option<Vec<u8>> {
    let ProxyPass::Fixed {
        proxy_host,
        uri,
        https,
        ..
    } = &plan.proxy.pass
    else {
        return None;
    };
    let loc = ctx.st.location?;
    if !matches!(
        loc.match_kind,
        MatchKind::Prefix | MatchKind::PrefixNoRegex | MatchKind::Exact
    ) {
        return None;
    }
    let mut from = if *https {
        b"https://".to_vec()
    } else {
        b"http://".to_vec()
    };
    from.extend_from_slice(proxy_host.as_bytes());
    let to: &[u8] = match uri {
        Some(part) => {
            from.extend_from_slice(part);
            &loc.path
        }
        None => {
            from.push(b'/');
            b"/"
        }
    };
    if value.len() >= from.len() && value[..from.len()].eq_ignore_ascii_case(&from) {
        let mut out = to.to_vec();
        out.extend_from_slice(&value[from.len()..]);
        Some(out)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_nginx_escapes() {
        let mut out = Vec::new();
        escape_uri("/a b/%/?/#/é/ok-~".as_bytes(), &mut out);
        assert_eq!(out, b"/a%20b/%25/%3F/%23/%C3%A9/ok-~");
    }
}
