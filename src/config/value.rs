//! Compiled values of the configuration: strings with variables ([`Template`]), the
//! variables themselves ([`Var`]) and regular expressions ([`Pattern`]).
//!
//! Front-ends hand `resolve` plain text (`"https://$host$request_uri"`, `"^/(.*)\.php$"`);
//! `resolve` compiles it into these types once, at load time, so an unknown variable or a
//! regex the `regex` crate cannot run is a configuration error and never a surprise on the
//! request path. Every type keeps its source text: equality compares sources, and `anx -T`
//! prints them back.

use std::fmt;

/// One variable a template or condition reads (nginx's `$name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Var {
    /// `$uri`, `$document_uri`: the current, normalised (decoded) URI path.
    Uri,
    /// `$request_uri`: the original request target, as received.
    RequestUri,
    /// `$args`, `$query_string`.
    Args,
    /// `$arg_NAME` (name kept as written; matched case-insensitively, as nginx does).
    Arg(String),
    /// `$is_args`: "?" when there are arguments.
    IsArgs,
    /// `$host`: Host without port, lowercased; else the server's first name.
    Host,
    /// `$http_NAME`: a request header (name lowercased, `_` read as `-`).
    Http(String),
    /// `$cookie_NAME`.
    Cookie(String),
    /// `$sent_http_NAME`: a response header.
    SentHttp(String),
    /// `$sent_trailer_NAME`: a trailer field already added (`add_trailer` values read it).
    SentTrailer(String),
    RemoteAddr,
    RemotePort,
    /// `$remote_user`: the user name of a Basic Authorization field.
    RemoteUser,
    ServerAddr,
    ServerPort,
    /// `$server_name`: the chosen server's first name.
    ServerName,
    Scheme,
    /// `$https`: "on" on TLS connections, else empty.
    Https,
    /// `$ssl_protocol`: `TLSv1.2` / `TLSv1.3` (not found on a plain connection).
    SslProtocol,
    /// `$ssl_cipher`: the suite's OpenSSL name.
    SslCipher,
    /// `$ssl_server_name`: the SNI.
    SslServerName,
    /// `$ssl_session_reused`: `r` or `.`.
    SslSessionReused,
    /// `$ssl_client_verify`: `SUCCESS`, `FAILED:reason` or `NONE`.
    SslClientVerify,
    /// `$ssl_client_s_dn`: the client certificate's subject (RFC 2253).
    SslClientSDn,
    /// `$ssl_client_fingerprint`: SHA-1 of the client certificate, hex.
    SslClientFingerprint,
    /// The other `$ssl_*` variables (`$ssl_client_cert`, `$ssl_curve`, …), printed by
    /// `tls::info`.
    Ssl(crate::tls::info::SslVar),
    RequestMethod,
    /// `$request`: the request line.
    Request,
    ServerProtocol,
    DocumentRoot,
    RealpathRoot,
    RequestFilename,
    ContentType,
    ContentLength,
    Status,
    BodyBytesSent,
    BytesSent,
    RequestLength,
    RequestTime,
    Msec,
    TimeLocal,
    TimeIso8601,
    RequestId,
    Connection,
    ConnectionRequests,
    /// `$connections_active`, `_reading`, `_writing`, `_waiting`: the node's, as stub_status.
    ConnectionsActive,
    ConnectionsReading,
    ConnectionsWriting,
    ConnectionsWaiting,
    /// `$limit_rate`: bytes a second (`set $limit_rate` changes it; 0 is no limit).
    LimitRate,
    /// `$pipe`: "p" for a pipelined request, "." otherwise.
    Pipe,
    /// `$connection_time`: seconds (with milliseconds) since the connection was accepted.
    ConnectionTime,
    /// `$request_body`: the body read for a buffered proxy, when it is in memory.
    RequestBody,
    /// `$request_body_file`: the temporary file holding the body, when it is in one.
    RequestBodyFile,
    Pid,
    Hostname,
    /// `$nginx_version` (anx reports its own version).
    NginxVersion,
    /// `$proxy_host`: the proxy_pass host ("host" or "host:port" as written).
    ProxyHost,
    /// `$proxy_port` (empty for a unix socket).
    ProxyPort,
    /// `$proxy_add_x_forwarded_for`: the request's X-Forwarded-For, ", ", `$remote_addr`.
    ProxyAddXForwardedFor,
    /// `$upstream_addr`: the peers tried, ", " between them.
    UpstreamAddr,
    /// `$upstream_status`, one per attempt.
    UpstreamStatus,
    /// `$upstream_response_time`, seconds with milliseconds, one per attempt.
    UpstreamResponseTime,
    UpstreamConnectTime,
    UpstreamHeaderTime,
    UpstreamBytesReceived,
    UpstreamBytesSent,
    /// `$upstream_http_NAME`: a field of the upstream's response head (name lowercased,
    /// `_` read as `-`).
    UpstreamHttp(String),
    /// `$upstream_cookie_NAME`: the value of cookie NAME in the upstream's Set-Cookie
    /// fields (name as written, compared case-insensitively).
    UpstreamCookie(String),
    /// `$upstream_response_length`: body bytes received, one per attempt.
    UpstreamResponseLength,
    /// `$1` … `$9` of the last successful regex (nginx has no `$0`).
    Capture(u8),
    /// A named capture `(?<name>…)` of the last successful regex.
    NamedCapture(String),
    /// A variable created by `set`: index into [`crate::config::Config::user_vars`].
    User(usize),
    /// A `map` result: index into [`crate::config::Config::maps`].
    Map(usize),
    /// A `geo` result: index into [`crate::config::Config::geos`].
    Geo(usize),
    /// A `split_clients` result: index into [`crate::config::Config::split_clients`].
    Split(usize),
    /// `$proxy_protocol_addr` / `_port` / `_server_addr` / `_server_port`: what the
    /// connection's PROXY header says (not found without one).
    ProxyProtocolAddr,
    ProxyProtocolPort,
    ProxyProtocolServerAddr,
    ProxyProtocolServerPort,
    /// `$proxy_protocol_tlv_NAME`: a TLV of the PROXY v2 header.
    ProxyProtocolTlv(crate::net::proxy_protocol::TlvName),
}

/// A piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    Var(Var),
}

/// A string with variables, compiled: `"https://$host$request_uri"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// As written in the configuration.
    pub source: String,
    pub parts: Vec<Part>,
}

impl Template {
    /// A template without variables.
    pub fn literal(text: &str) -> Template {
        Template {
            source: text.to_string(),
            parts: if text.is_empty() {
                Vec::new()
            } else {
                vec![Part::Literal(text.to_string())]
            },
        }
    }

    /// The text when the template has no variables.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(s)] => Some(s),
            _ => None,
        }
    }

    pub fn has_vars(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var(_)))
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A compiled regular expression (`location ~`, `rewrite`, `if ~`, `map ~`, `server_name ~`).
#[derive(Debug, Clone)]
pub struct Pattern {
    /// As written, without the `~`/`~*` marker.
    pub source: String,
    /// `~*`: case-insensitive.
    pub caseless: bool,
    /// Matches bytes: URIs need not be UTF-8 after percent-decoding.
    pub regex: regex::bytes::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.caseless == other.caseless
    }
}

impl Eq for Pattern {}

impl Pattern {
    /// Names of the named groups, in order (each becomes a variable).
    pub fn capture_names(&self) -> impl Iterator<Item = &str> {
        self.regex.capture_names().flatten()
    }
}
