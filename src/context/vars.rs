//! Variables: every nginx variable anx knows ([`Var`]), and templates built from them.
//!
//! The phases (rewrite, try_files, return, error_page), the headers filter (`add_header`
//! values) and the access log (`log_format`, `if=`) all evaluate through [`Ctx`], so a
//! variable means the same thing everywhere. Evaluation appends bytes to a caller's buffer;
//! a template without variables is one copy. Variables that only exist once there is a
//! response (`$sent_http_*`, `$status`, `$body_bytes_sent`, …) read it from a [`Scope`].
//!
//! "Not found" is kept apart from "empty" (nginx's `not_found`): the access log prints `-`
//! for the former only.

use std::io::Write;
use std::sync::OnceLock;

use super::state::{Received, RequestState, UpstreamVars};
use super::{clock, geo, map, request_id, split_clients};
use crate::config::model::{Config, Part, Server, Template, Var};
use crate::files::docroot;
use crate::http::host::normalize_host_into;
use crate::http::request::Method;
use crate::http::response::Response;
use crate::log::scoped::RequestLog;

/// One request being evaluated: the configuration it runs under, what was received, and
/// the state the phases built.
pub struct Ctx<'r, 'c> {
    pub config: &'c Config,
    pub server: &'c Server,
    pub req: Received<'r>,
    pub st: RequestState<'c>,
}

/// What exists only once a response does.
#[derive(Clone, Copy, Default)]
pub struct Scope<'a> {
    /// The response being built or sent (`$sent_http_*`, `$status` before logging).
    pub response: Option<&'a Response>,
    /// What was written (at access-log time, or before the trailers).
    pub sent: Option<&'a Sent>,
    /// The trailer fields added so far, "Name: value\r\n" lines (`$sent_trailer_*`).
    pub trailers: Option<&'a [u8]>,
}

/// What the connection wrote for a request, for the access log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sent {
    pub status: u16,
    /// `$body_bytes_sent`.
    pub body_bytes: u64,
    /// `$bytes_sent` (head and body).
    pub bytes: u64,
    /// `$request_length` (head and body as received).
    pub request_length: u64,
}

impl<'r, 'c> Ctx<'r, 'c> {
    /// Where this request's error-log lines go: the `error_log` of the location serving it
    /// (the server level's before one is chosen), with nginx's client/server/request/host
    /// context.
    pub fn log(&self) -> RequestLog<'_> {
        let logs = self.st.location.map_or(&[][..], |l| &l.error_log[..]);
        RequestLog {
            logs,
            conn: self.req.conn.serial,
            client: &self.req.conn.peer,
            server: &self.server.primary_name,
            request: crate::log::scoped::RequestText::Received(self.req),
        }
    }

    /// Appends the value of `t` (variables that are not found add nothing).
    pub fn eval(&mut self, t: &Template, out: &mut Vec<u8>) {
        self.eval_in(t, out, Scope::default());
    }

    /// Like [`Ctx::eval`], with response-time variables available.
    pub fn eval_in(&mut self, t: &Template, out: &mut Vec<u8>, scope: Scope) {
        for part in &t.parts {
            match part {
                Part::Literal(s) => out.extend_from_slice(s.as_bytes()),
                Part::Var(v) => {
                    self.var(v, out, scope);
                }
            }
        }
    }

    /// The value of `t` as a new buffer.
    pub fn eval_vec(&mut self, t: &Template) -> Vec<u8> {
        let mut out = Vec::new();
        self.eval(t, &mut out);
        out
    }

    /// nginx's truth of a value: neither empty nor "0" (`if ($x)`, `access_log if=`).
    pub fn truthy(&mut self, t: &Template, scope: Scope) -> bool {
        if let Some(lit) = t.as_literal() {
            return !(lit.is_empty() || lit == "0");
        }
        let mut v = Vec::new();
        self.eval_in(t, &mut v, scope);
        !(v.is_empty() || v == b"0")
    }

    /// Appends the value of `v`; false when the variable is "not found".
    pub fn var(&mut self, v: &Var, out: &mut Vec<u8>, scope: Scope) -> bool {
        let req = self.req;
        match v {
            Var::Uri => out.extend_from_slice(&self.st.uri),
            Var::RequestUri => out.extend_from_slice(req.target()),
            Var::Args => return put(out, self.st.args(&req)),
            Var::Arg(name) => return put(out, self.st.args(&req).and_then(|a| arg(a, name))),
            Var::IsArgs => {
                if self.st.args(&req).is_some_and(|a| !a.is_empty()) {
                    out.push(b'?');
                }
            }
            Var::Host => self.host(out),
            Var::Http(name) => return self.header(name, out),
            Var::Cookie(name) => return put(out, cookie(&req, name)),
            Var::SentHttp(name) => {
                let name = dashed(name);
                let value = scope.response.and_then(|r| r.field_value(&name));
                return put(out, value.as_deref());
            }
            Var::SentTrailer(name) => return joined(out, scope.trailers.unwrap_or_default(), name),
            Var::RemoteAddr => req.conn.peer.write_host(out),
            Var::RemotePort => port(out, req.conn.peer.port()),
            Var::ServerAddr => req.conn.local.write_host(out),
            Var::ServerPort => port(out, req.conn.local.port()),
            Var::ProxyProtocolAddr
            | Var::ProxyProtocolPort
            | Var::ProxyProtocolServerAddr
            | Var::ProxyProtocolServerPort
            | Var::ProxyProtocolTlv(_) => return self.proxy_protocol(v, out),
            Var::ServerName => server_name(self.server, out),
            Var::Scheme => match req.conn.tls {
                Some(_) => out.extend_from_slice(b"https"),
                None => out.extend_from_slice(b"http"),
            },
            Var::Https => {
                if req.conn.tls.is_some() {
                    out.extend_from_slice(b"on");
                }
            }
            Var::SslProtocol
            | Var::SslCipher
            | Var::SslServerName
            | Var::SslSessionReused
            | Var::SslClientVerify
            | Var::SslClientSDn
            | Var::SslClientFingerprint
            | Var::Ssl(_) => return ssl_var(req.conn.tls.as_deref(), v, out),
            // No authentication module yet: never set, so logs print "-" as nginx does
            // for a request without credentials.
            Var::RemoteUser => return put(out, remote_user(&req).as_deref()),
            Var::RequestMethod => {
                if self.st.as_get && req.head.method != Method::Head {
                    out.extend_from_slice(b"GET");
                } else {
                    out.extend_from_slice(&req.buf[req.head.method_raw.clone()]);
                }
            }
            Var::Request => req.request_line().write_to(out),
            Var::ServerProtocol => out.extend_from_slice(req.head.version.as_str().as_bytes()),
            Var::DocumentRoot => return docroot::document_root(self, out),
            Var::RealpathRoot => return docroot::realpath_root(self, out),
            Var::RequestFilename => return docroot::request_filename(self, out),
            Var::ContentType => return self.header("content-type", out),
            Var::ContentLength => return put(out, req.field("content-length")),
            Var::Status => {
                // nginx: err_status, else the response's status so far.
                let status = match (scope.sent, scope.response) {
                    (Some(s), _) => s.status,
                    (None, Some(r)) => r.status,
                    (None, None) if self.st.err_status != 0 => self.st.err_status,
                    (None, None) => self.st.status,
                };
                let _ = write!(out, "{status:03}");
            }
            Var::BodyBytesSent => num(out, scope.sent.map_or(0, |s| s.body_bytes)),
            Var::BytesSent => num(out, scope.sent.map_or(0, |s| s.bytes)),
            Var::RequestLength => num(
                out,
                scope.sent.map_or(req.head.len as u64, |s| s.request_length),
            ),
            Var::RequestTime => clock::append_seconds_millis(out, req.started.elapsed()),
            Var::Msec => clock::append_msec(out),
            Var::TimeLocal => clock::append_time_local(out),
            Var::TimeIso8601 => clock::append_time_iso8601(out),
            Var::RequestId => {
                let id = *self.st.request_id.get_or_insert_with(request_id::draw);
                out.extend_from_slice(&id);
            }
            Var::Connection => num(out, req.conn.serial),
            Var::ConnectionRequests => num(out, req.conn.requests),
            Var::ConnectionsActive => num(out, crate::metrics::node_connections().active),
            Var::ConnectionsReading => num(out, crate::metrics::node_connections().reading),
            Var::ConnectionsWriting => num(out, crate::metrics::node_connections().writing),
            Var::ConnectionsWaiting => num(out, crate::metrics::node_connections().waiting),
            Var::LimitRate => {
                let rate = match self.st.limit_rate {
                    Some(n) => n,
                    None => {
                        let template = self.st.location.and_then(|l| l.rate.limit_rate.as_ref());
                        let mut text = Vec::new();
                        if let Some(t) = template {
                            self.eval(t, &mut text);
                        }
                        crate::config::tree::size_value(&text).unwrap_or(0)
                    }
                };
                num(out, rate);
            }
            Var::Pipe => out.push(if req.conn.pipelined { b'p' } else { b'.' }),
            Var::ConnectionTime => clock::append_seconds_millis(out, req.conn.born.elapsed()),
            Var::RequestBody => {
                // nginx: the body when it is in memory, "not found" before it was read.
                let Some(body) = &self.st.body else {
                    return false;
                };
                if let Some(m) = &body.memory {
                    out.extend_from_slice(m);
                }
            }
            Var::RequestBodyFile => {
                let file = self.st.body.as_ref().and_then(|b| b.file.as_ref());
                let Some(file) = file else {
                    return false;
                };
                out.extend_from_slice(file.as_os_str().as_encoded_bytes());
            }
            Var::Pid => num(out, u64::from(std::process::id())),
            Var::Hostname => out.extend_from_slice(hostname().as_bytes()),
            Var::NginxVersion => out.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes()),
            Var::Capture(n) => {
                if let Some(c) = self.st.captures.get(usize::from(*n)) {
                    out.extend_from_slice(c);
                }
            }
            Var::NamedCapture(name) => return put(out, self.st.named_capture(name)),
            Var::User(i) => return put(out, self.st.user.get(*i).and_then(|v| v.as_deref())),
            Var::Map(i) => map::value(self, *i, out, scope),
            Var::Geo(i) => geo::value(self, *i, out, scope),
            Var::Split(i) => split_clients::value(self, *i, out, scope),
            Var::ProxyHost => {
                let host = self.st.proxy_target.as_ref().map(|(h, _)| h.as_slice());
                return put(out, host);
            }
            Var::ProxyPort => match &self.st.proxy_target {
                // A unix socket has no port: nginx's $proxy_port is empty there.
                Some((_, 0)) => {}
                Some((_, port)) => num(out, u64::from(*port)),
                None => return false,
            },
            Var::ProxyAddXForwardedFor => self.x_forwarded_for(out),
            Var::UpstreamAddr
            | Var::UpstreamStatus
            | Var::UpstreamResponseTime
            | Var::UpstreamConnectTime
            | Var::UpstreamHeaderTime
            | Var::UpstreamBytesReceived
            | Var::UpstreamBytesSent
            | Var::UpstreamHttp(_)
            | Var::UpstreamCookie(_)
            | Var::UpstreamResponseLength => match self.st.upstream.as_deref() {
                Some(u) => return upstream_var(u, v, out),
                // No upstream exchange (yet): nginx's "not found", `-` in the log.
                None => return false,
            },
        }
        true
    }

    /// `$proxy_add_x_forwarded_for`: every X-Forwarded-For field of the request joined with
    /// ", " (nginx 1.23+ reads them all), then `$remote_addr`.
    fn x_forwarded_for(&self, out: &mut Vec<u8>) {
        let buf = self.req.buf;
        for f in &self.req.head.fields {
            if buf[f.name.clone()].eq_ignore_ascii_case(b"x-forwarded-for") {
                out.extend_from_slice(&buf[f.value.clone()]);
                out.extend_from_slice(b", ");
            }
        }
        self.req.conn.peer.write_host(out);
    }

    /// The `$proxy_protocol_*` variables: not found on a connection without a PROXY header.
    fn proxy_protocol(&self, v: &Var, out: &mut Vec<u8>) -> bool {
        let Some(pp) = self.req.conn.proxy.as_deref() else {
            return false;
        };
        match v {
            Var::ProxyProtocolAddr => out.extend_from_slice(pp.src_addr.as_bytes()),
            Var::ProxyProtocolServerAddr => out.extend_from_slice(pp.dst_addr.as_bytes()),
            Var::ProxyProtocolPort => port(out, Some(pp.src_port)),
            Var::ProxyProtocolServerPort => port(out, Some(pp.dst_port)),
            Var::ProxyProtocolTlv(name) => match pp.tlv(name, out) {
                Ok(found) => return found,
                Err(e) => {
                    self.log().error(format_args!("{e}"));
                    return false;
                }
            },
            _ => return false,
        }
        true
    }

    /// `$host`: the request's host (lowercased, no port, no trailing dot), else the
    /// server's first name.
    pub fn host(&self, out: &mut Vec<u8>) {
        let start = out.len();
        if let Some(h) = self.req.head.host.clone() {
            normalize_host_into(&self.req.buf[h], out);
        }
        if out.len() == start {
            server_name(self.server, out);
        }
    }

    /// `$http_NAME`: repeated fields joined as nginx does, Cookie lines with "; ", the
    /// others with ", ".
    fn header(&self, name: &str, out: &mut Vec<u8>) -> bool {
        let buf = self.req.buf;
        let mut found = false;
        let is_cookie = name.eq_ignore_ascii_case("cookie");
        for f in &self.req.head.fields {
            if !same_header(&buf[f.name.clone()], name.as_bytes()) {
                continue;
            }
            // nginx joins repeated fields: cookies with "; ", the others with ", ".
            if found {
                out.extend_from_slice(if is_cookie { b"; " } else { b", " });
            }
            out.extend_from_slice(&buf[f.value.clone()]);
            found = true;
        }
        found
    }
}

/// `$server_name` as nginx keeps it: the first name lowercased, without the leading '.' of
/// a ".example.com" form (a regex name as written).
pub fn server_name(server: &Server, out: &mut Vec<u8>) {
    let name = server.primary_name.as_bytes();
    if name.first() == Some(&b'~') {
        out.extend_from_slice(name);
        return;
    }
    let name = name.strip_prefix(b".").unwrap_or(name);
    out.extend(name.iter().map(u8::to_ascii_lowercase));
}

/// The `$upstream_*` variables, in nginx's formats: one entry per attempt, ", " between
/// them, times as seconds with three decimals, `-` for an attempt without the value.
fn upstream_var(u: &UpstreamVars, v: &Var, out: &mut Vec<u8>) -> bool {
    fn join<T>(out: &mut Vec<u8>, items: &[T], mut one: impl FnMut(&mut Vec<u8>, &T)) -> bool {
        if items.is_empty() {
            return false;
        }
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            one(out, item);
        }
        true
    }
    fn seconds(out: &mut Vec<u8>, t: &Option<f64>) {
        match t {
            Some(s) if s.is_finite() && *s >= 0.0 => {
                let ms = (s * 1000.0).round() as u64;
                let _ = write!(out, "{}.{:03}", ms / 1000, ms % 1000);
            }
            _ => out.push(b'-'),
        }
    }
    match v {
        Var::UpstreamAddr => join(out, &u.addr, |out, a| out.extend_from_slice(a)),
        Var::UpstreamStatus => join(out, &u.status, |out, s| match s {
            0 => out.push(b'-'),
            s => num(out, u64::from(*s)),
        }),
        Var::UpstreamResponseTime => join(out, &u.response_time, seconds),
        Var::UpstreamConnectTime => join(out, &u.connect_time, seconds),
        Var::UpstreamHeaderTime => join(out, &u.header_time, seconds),
        Var::UpstreamBytesReceived => {
            num(out, u.bytes_received);
            true
        }
        Var::UpstreamBytesSent => {
            num(out, u.bytes_sent);
            true
        }
        Var::UpstreamHttp(name) => joined(out, &u.head_fields, name),
        Var::UpstreamCookie(name) => put(out, upstream_cookie(&u.head_fields, name)),
        Var::UpstreamResponseLength => join(out, &u.response_length, |out, n| num(out, *n)),
        _ => false,
    }
}

/// Every field `name` (lowercase, `-` for `_`) in raw "Name: value\r\n" lines, joined
/// with ", " as nginx joins repeated fields for a variable; false when there is none.
fn joined(out: &mut Vec<u8>, fields: &[u8], name: &str) -> bool {
    let mut found = None;
    crate::http::response::joined_value(fields, name.as_bytes(), &mut found);
    put(out, found.as_deref())
}

/// `$upstream_cookie_NAME`, read as nginx does: the first Set-Cookie field whose value
/// starts with NAME (any case), spaces, `=`: its value after spaces up to the first `;`.
/// Only a field's leading name=value pair counts; an empty value is "not found".
fn upstream_cookie<'a>(fields: &'a [u8], name: &str) -> Option<&'a [u8]> {
    for line in fields.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        if !same_header(&line[..colon], b"set-cookie") {
            continue;
        }
        let value = crate::http::request::trim_ows(&line[colon + 1..]);
        let n = name.len();
        if value.len() <= n || !value[..n].eq_ignore_ascii_case(name.as_bytes()) {
            continue;
        }
        let rest = &value[n..];
        let rest = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
        let Some(rest) = rest.strip_prefix(b"=") else {
            continue;
        };
        let rest = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
        let end = memchr::memchr(b';', rest).unwrap_or(rest.len());
        return Some(&rest[..end]).filter(|v| !v.is_empty());
    }
    None
}

fn put(out: &mut Vec<u8>, v: Option<&[u8]>) -> bool {
    match v {
        Some(v) => {
            out.extend_from_slice(v);
            true
        }
        None => false,
    }
}

fn num(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// The `$ssl_*` variables: not found on a plain connection (a log prints `-`), as in nginx;
/// on a TLS one, empty where the handshake has nothing to say (no client certificate).
fn ssl_var(tls: Option<&crate::tls::TlsInfo>, v: &Var, out: &mut Vec<u8>) -> bool {
    let Some(tls) = tls else {
        return false;
    };
    let text =
        |out: &mut Vec<u8>, s: Option<&str>| out.extend_from_slice(s.unwrap_or("").as_bytes());
    match v {
        Var::SslProtocol => out.extend_from_slice(tls.protocol.as_bytes()),
        Var::SslCipher => out.extend_from_slice(tls.cipher.as_bytes()),
        Var::SslServerName => text(out, tls.server_name.as_deref()),
        Var::SslSessionReused => out.push(if tls.session_reused { b'r' } else { b'.' }),
        Var::SslClientVerify => out.extend_from_slice(tls.client_verify.text().as_bytes()),
        Var::SslClientSDn => text(out, tls.client_s_dn.as_deref()),
        Var::SslClientFingerprint => text(out, tls.client_fingerprint.as_deref()),
        Var::Ssl(var) => tls.print(*var, out),
        _ => return false,
    }
    true
}

/// A port as nginx's `$remote_port` / `$server_port` print it: nothing for a Unix socket
/// (and for 0, as nginx prints only 1–65535).
fn port(out: &mut Vec<u8>, port: Option<u16>) {
    if let Some(p) = port.filter(|&p| p > 0) {
        num(out, u64::from(p));
    }
}

/// A header name from a variable (`user_agent`, `user-agent`) against a field name.
fn same_header(field: &[u8], var_name: &[u8]) -> bool {
    field.len() == var_name.len()
        && field.iter().zip(var_name).all(|(&f, &v)| {
            let v = if v == b'_' { b'-' } else { v };
            f.eq_ignore_ascii_case(&v)
        })
}

fn dashed(name: &str) -> Vec<u8> {
    name.bytes()
        .map(|b| if b == b'_' { b'-' } else { b })
        .collect()
}

/// `$arg_NAME` as nginx's `ngx_http_arg`: the first `NAME=` (case-insensitive) at the start
/// of the args or after '&'; the value runs to the next '&'. A bare `NAME` is not a match.
pub fn arg<'a>(args: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let name = name.as_bytes();
    for pair in args.split(|&b| b == b'&') {
        if pair.len() > name.len()
            && pair[name.len()] == b'='
            && pair[..name.len()].eq_ignore_ascii_case(name)
        {
            return Some(&pair[name.len() + 1..]);
        }
    }
    None
}

/// `$cookie_NAME`: the first `NAME=value` (name case-insensitive) among the Cookie fields.
fn cookie<'r>(req: &Received<'r>, name: &str) -> Option<&'r [u8]> {
    let name = name.as_bytes();
    for f in &req.head.fields {
        if !req.buf[f.name.clone()].eq_ignore_ascii_case(b"cookie") {
            continue;
        }
        // nginx (1.29.6) splits cookies at ';' only: "a=1, b=2" is one cookie named a.
        for pair in req.buf[f.value.clone()].split(|&b| b == b';') {
            let pair = crate::http::request::trim_ows(pair);
            if pair.len() > name.len()
                && pair[name.len()] == b'='
                && pair[..name.len()].eq_ignore_ascii_case(name)
            {
                return Some(&pair[name.len() + 1..]);
            }
        }
    }
    None
}

/// `$remote_user` as nginx's `ngx_http_auth_basic_user`: the user name of a Basic
/// Authorization field (whether or not auth_basic checks it), the decoded text before ':'.
fn remote_user(req: &Received) -> Option<Vec<u8>> {
    let value = req.field("authorization")?;
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let encoded = std::str::from_utf8(&value[6..])
        .ok()?
        .trim_start_matches(' ');
    if encoded.is_empty() {
        return None;
    }
    let mut decoded = crate::tls::keyfile::base64_decode(encoded)?;
    let colon = memchr::memchr(b':', &decoded)?;
    decoded.truncate(colon);
    Some(decoded)
}

/// `$hostname`: this machine's name, read once per process.
fn hostname() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc != 0 {
            return String::new();
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_cookie_reads_like_nginx() {
        let cookie = |set: &str| {
            let fields = format!("Content-Type: text/plain\r\nSet-Cookie: {set}\r\n");
            upstream_cookie(fields.as_bytes(), "tc")
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(cookie("tc="), None);
        assert_eq!(cookie("tc =   ; Domain=example.com;"), None);
        assert_eq!(cookie("tc\t=\tcontent ;"), None);
        assert_eq!(cookie("=tc=content"), None);
        assert_eq!(cookie("TC = content"), Some("content".into()));
        assert_eq!(
            cookie("tc=con  tent; Domain=example.com"),
            Some("con  tent".into())
        );
        assert_eq!(cookie("tc==;abc"), Some("=".into()));
        assert_eq!(cookie("tc=first,tc=second"), Some("first,tc=second".into()));
        assert_eq!(cookie("tc=first;tc=second"), Some("first".into()));
        assert_eq!(cookie("tcx=1"), None);
    }

    #[test]
    fn args_by_name() {
        assert_eq!(arg(b"a=1&B=2&c", "b"), Some(&b"2"[..]));
        assert_eq!(arg(b"a=1&B=2&c", "c"), None);
        assert_eq!(arg(b"xa=1&a=3", "a"), Some(&b"3"[..]));
        assert_eq!(arg(b"a=", "a"), Some(&b""[..]));
        assert_eq!(arg(b"", "a"), None);
    }

    #[test]
    fn upstream_variables() {
        let u = UpstreamVars {
            addr: vec![b"127.0.0.1:9001".to_vec(), b"unix:/run/a.sock".to_vec()],
            status: vec![502, 200],
            connect_time: vec![Some(0.0004), None],
            header_time: vec![Some(1.2345), Some(0.010)],
            response_time: vec![Some(2.0), Some(0.0126)],
            bytes_received: 1234,
            bytes_sent: 56,
            head_fields: b"Content-Type: text/html\r\nX-Cache:  HIT \r\nX-Cache: MISS\r\n".to_vec(),
            response_length: vec![0, 23],
        };
        let get = |v: Var| {
            let mut out = Vec::new();
            let found = upstream_var(&u, &v, &mut out);
            (found, String::from_utf8(out).unwrap())
        };
        assert_eq!(
            get(Var::UpstreamAddr),
            (true, "127.0.0.1:9001, unix:/run/a.sock".into())
        );
        assert_eq!(get(Var::UpstreamStatus), (true, "502, 200".into()));
        assert_eq!(get(Var::UpstreamResponseLength), (true, "0, 23".into()));
        assert_eq!(get(Var::UpstreamConnectTime), (true, "0.000, -".into()));
        assert_eq!(get(Var::UpstreamHeaderTime), (true, "1.235, 0.010".into()));
        assert_eq!(
            get(Var::UpstreamResponseTime),
            (true, "2.000, 0.013".into())
        );
        assert_eq!(get(Var::UpstreamBytesReceived), (true, "1234".into()));
        assert_eq!(get(Var::UpstreamBytesSent), (true, "56".into()));
        // Repeated fields joined, as nginx's `$upstream_http_*` gives them.
        assert_eq!(
            get(Var::UpstreamHttp("x-cache".into())),
            (true, "HIT, MISS".into())
        );
        assert_eq!(
            get(Var::UpstreamHttp("content-type".into())),
            (true, "text/html".into())
        );
        assert_eq!(get(Var::UpstreamHttp("missing".into())), (false, "".into()));
        let empty = UpstreamVars::default();
        assert!(!upstream_var(&empty, &Var::UpstreamAddr, &mut Vec::new()));
    }

    #[test]
    fn header_names() {
        assert!(same_header(b"User-Agent", b"user_agent"));
        assert!(same_header(b"user-agent", b"user-agent"));
        assert!(!same_header(b"User-Agents", b"user_agent"));
    }
}

#[cfg(test)]
mod request_tests {
    use crate::context::testing::{body, fixture};
    use std::path::Path;

    const SERVER: &str = "[[server]]\nlisten = [\"127.0.0.1:8080\"]\nserver_name = [\"main.test\", \"*.main.test\"]\n";

    /// The body `return 200 "<text>"` answers for `request` (extra TOML before the server).
    fn answer_with(http: &str, text: &str, request: &str) -> String {
        let toml = format!(
            "{http}\n{SERVER}[[server.location]]\npath = \"/\"\nreturn = {{ status = 200, text = '{text}' }}\n"
        );
        let fx = fixture(&toml, Path::new("/srv"), request);
        body(&fx.respond())
    }

    fn answer(text: &str, request: &str) -> String {
        answer_with("", text, request)
    }

    #[test]
    fn uri_and_args() {
        let req = "GET /a/./b//c?x=1&Y=2&z HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(
            answer(
                "$uri|$args|$arg_y|$arg_z|$is_args|$request_uri|$query_string",
                req
            ),
            "/a/b/c|x=1&Y=2&z|2||?|/a/./b//c?x=1&Y=2&z|x=1&Y=2&z"
        );
        let req = "GET /p? HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(answer("[$args][$is_args]", req), "[][]");
        let req = "GET http://other.test/abs?q=1 HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(answer("$request_uri $host", req), "/abs?q=1 other.test");
    }

    #[test]
    fn host_and_names() {
        let req = "GET / HTTP/1.1\r\nHost: WWW.Main.TEST.:8080\r\n\r\n";
        assert_eq!(answer("$host $server_name", req), "www.main.test main.test");
        let req = "GET / HTTP/1.0\r\n\r\n";
        assert_eq!(answer("$host", req), "main.test");
    }

    #[test]
    fn headers_and_cookies() {
        let req = "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: t/1\r\nX-Long-Name: v\r\nCookie: a=1; Sid=abc\r\nCookie: c=3\r\nContent-Type: text/x\r\n\r\n";
        assert_eq!(
            answer("$http_user_agent|$http_x_long_name|$cookie_sid|$cookie_c|$http_cookie|$content_type|[$content_length]|[$http_missing]", req),
            "t/1|v|abc|3|a=1; Sid=abc; c=3|text/x|[]|[]"
        );
    }

    #[test]
    fn request_line_and_connection() {
        let req = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(
            answer(
                "$request|$request_method|$server_protocol|$scheme|[$https]",
                req
            ),
            "GET /x HTTP/1.1|GET|HTTP/1.1|http|[]"
        );
        assert_eq!(
            answer("$remote_addr:$remote_port $server_addr:$server_port $connection $connection_requests", req),
            "10.0.0.7:5555 127.0.0.1:8080 42 3"
        );
        assert_eq!(answer("$status", req), "200");
        assert_eq!(answer("$nginx_version", req), env!("CARGO_PKG_VERSION"));
        assert_eq!(answer("$pid", req), std::process::id().to_string());
    }

    #[test]
    fn proxy_variables_outside_a_proxied_request() {
        let req = "GET /x HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n\r\n";
        assert_eq!(
            answer("$proxy_add_x_forwarded_for", req),
            "1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.7"
        );
        let req = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(answer("$proxy_add_x_forwarded_for", req), "10.0.0.7");
        // Not found before (or without) an upstream exchange.
        assert_eq!(
            answer("[$proxy_host][$proxy_port][$upstream_addr][$upstream_status][$upstream_http_server]", req),
            "[][][][][]"
        );
    }

    #[test]
    fn request_id_is_stable_within_a_request() {
        let req = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
        let two = answer("$request_id$request_id", req);
        assert_eq!(two.len(), 64);
        assert_eq!(two[..32], two[32..]);
        assert_ne!(answer("$request_id", req), two[..32]);
    }

    #[test]
    fn time_variables() {
        let req = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
        let t = answer("$time_iso8601|$time_local|$msec|$request_time", req);
        let parts: Vec<&str> = t.split('|').collect();
        assert_eq!(parts[0].len(), 25, "{t}");
        assert_eq!(parts[1].len(), 26, "{t}");
        assert!(parts[2].contains('.'), "{t}");
        assert!(parts[3].starts_with("0."), "{t}");
    }

    const MAPS: &str = r#"
[http]
[[http.map]]
source = "$http_x_k"
variable = "mk"
default = "dflt"
entries = [["Exact", "exact-hit"], ["~^re(\\d+)$", "re-$1"], ["~*^CI", "caseless"]]
[[http.map]]
source = "$host"
variable = "mh"
hostnames = true
default = "none"
entries = [["*.wild.test", "leading"], ["www.tail.*", "trailing"], [".dot.test", "dotted"], ["a.b.wild.test", "exact"]]
[[http.map]]
source = "$self"
variable = "self"
default = "x$self"
"#;

    #[test]
    fn maps() {
        let get = |k: &str, host: &str| {
            let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\nX-K: {k}\r\n\r\n");
            answer_with(MAPS, "$mk|$mh", &req)
        };
        assert_eq!(get("Exact", "h"), "exact-hit|none");
        assert_eq!(get("EXACT", "x.wild.test"), "exact-hit|leading");
        assert_eq!(get("re42", "www.tail.org"), "re-42|trailing");
        assert_eq!(get("cixx", "dot.test"), "caseless|dotted");
        assert_eq!(get("nothing", "A.B.Wild.Test."), "dflt|exact");
        // A map that reads itself ends (empty), it does not loop.
        let req = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(answer_with(MAPS, "[$self]", req), "[x]");
    }

    #[test]
    fn named_captures_from_server_name() {
        let toml = "[[server]]\nlisten = [\"127.0.0.1:8080\"]\nserver_name = ['~^(?<sub>[a-z]+)\\.rx\\.test$']\n[[server.location]]\npath = \"/\"\nreturn = { status = 200, text = '$sub/$1' }\n";
        let fx = fixture(
            toml,
            Path::new("/srv"),
            "GET / HTTP/1.1\r\nHost: Abc.RX.test\r\n\r\n",
        );
        assert_eq!(body(&fx.respond()), "abc/abc");
    }
}
