//! HTTP/1.x request heads: bytes → [`RequestHead`], or the status that refuses them.
//!
//! Sans-io: `serve::h1` hands this the bytes it has read; this answers "need more", a parsed
//! head (positions into the caller's buffer, so nothing is copied), or a [`HeadError`] naming
//! the status to send. httparse (SIMD) does the tokenising; the framing rules on top of it
//! (Content-Length vs Transfer-Encoding, Host, limits) are ours and strict, because a lenient
//! parser in front of other parsers is how request smuggling starts.

use std::ops::Range;

use crate::http::host::validate_host;
pub use crate::http::request_line::RequestLine;

/// What the connection loop needs to enforce on a head (nginx's header buffers).
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// Longest request line (→ 414): one `large_client_header_buffers` buffer.
    pub max_request_line: usize,
    /// Longest header line (→ 494, sent as 400): one buffer too.
    pub max_header_line: usize,
    /// Largest head, request line included (→ 494): all the buffers.
    pub max_header_bytes: usize,
    /// Most header fields (→ 494).
    pub max_headers: usize,
    /// `ignore_invalid_headers`: fields whose names are not letters, digits and `-` are
    /// dropped rather than kept.
    pub ignore_invalid_headers: bool,
    /// `underscores_in_headers`: `_` counts as valid in a name.
    pub underscores_in_headers: bool,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_request_line: 8 * 1024,
            max_header_line: 8 * 1024,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            ignore_invalid_headers: true,
            underscores_in_headers: false,
        }
    }
}

/// The most header fields httparse is ever given room for; `max_headers` is checked below it.
pub const HEADER_SLOTS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Trace,
    Connect,
    /// Any other token; the handler decides (405 on static locations).
    Other,
}

impl Method {
    /// The method a request-line token names (`Other` for extension methods).
    pub fn from_token(m: &[u8]) -> Method {
        Self::from_bytes(m)
    }

    fn from_bytes(m: &[u8]) -> Method {
        match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"PATCH" => Method::Patch,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            _ => Method::Other,
        }
    }
}

/// The protocol a request came in on. Only the HTTP/1 codec here produces requests today;
/// 2 and 3 are named so that everything deciding by version (keep-alive defaults, chunked
/// framing, upgrades, trailers) says what it does for them instead of assuming HTTP/1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    Http10,
    Http11,
    Http2,
    Http3,
}

impl Version {
    /// `$server_protocol`, as nginx prints it ("HTTP/2.0" for HTTP/2, "HTTP/3.0" for 3).
    /// For HTTP/1 it equals the token on the request line, the only two httparse accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
            Version::Http2 => "HTTP/2.0",
            Version::Http3 => "HTTP/3.0",
        }
    }
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

/// A header field as positions into the buffer the head was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: Range<usize>,
    pub value: Range<usize>,
}

/// A parsed request head. Every `Range` indexes the buffer given to [`parse_head`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    pub method_raw: Range<usize>,
    /// The request target as sent (origin-form path and query, or absolute-form).
    pub target: Range<usize>,
    /// The path and query inside `target` (absolute-form's scheme and authority removed):
    /// `$request_uri`, a `#fragment` included, as nginx keeps it.
    pub path_and_query: Range<usize>,
    /// The path inside `path_and_query`: up to the first '?' or '#' (nginx ends the URI at
    /// a fragment). Empty for "http://host?x", which means "/".
    pub path: Range<usize>,
    /// The query: after the first '?' (when no '#' comes before it) up to the next '#'.
    pub query: Option<Range<usize>>,
    pub version: Version,
    pub fields: Vec<Field>,
    /// The host name from the Host header, or from an absolute-form target (which wins,
    /// RFC 9112 §3.2.2): validated as nginx does ([`validate_host`]), without the port and
    /// without a trailing dot, case as sent.
    pub host: Option<Range<usize>>,
    pub body: BodyFraming,
    /// The client asked to keep the connection (HTTP/1.1 default, or `Connection: keep-alive` on 1.0).
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// Bytes the head occupies, up to and including the blank line.
    pub len: usize,
    /// A refusal nginx makes once the head is read and the server chosen, so that the
    /// server's `error_page` answers it: an invalid, duplicate or (on 1.1) missing Host,
    /// TRACE, CONNECT. The framing is known; the connection closes after the answer.
    pub refused: Option<HeadError>,
}

impl RequestHead {
    /// `$request`, computed from the head's parts in `buf`.
    pub fn request_line<'b>(&self, buf: &'b [u8]) -> RequestLine<'b> {
        RequestLine {
            method: &buf[self.method_raw.clone()],
            target: &buf[self.target.clone()],
            version: self.version,
        }
    }

    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn field<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        self.fields
            .iter()
            .find(|f| buf[f.name.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(|f| &buf[f.value.clone()])
    }
}

/// Why a head is refused; the status to answer with. Every refusal closes the connection,
/// because the framing of what follows can no longer be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// 400: malformed syntax, framing conflicts, missing Host.
    BadRequest(&'static str),
    /// 414: request line longer than `max_request_line`.
    UriTooLong,
    /// 405: TRACE, and CONNECT (anx is no forward proxy), as nginx refuses them before any
    /// location is looked at.
    NotAllowed(&'static str),
    /// nginx's 494 (sent as 400 "Request Header Or Cookie Too Large"): a header line
    /// longer than one buffer, a head larger than `max_header_bytes`, or more than
    /// `max_headers` fields.
    HeadersTooLarge,
    /// 501: a transfer coding anx does not implement.
    NotImplemented(&'static str),
    /// 505: an HTTP major version other than 1.
    VersionNotSupported,
}

impl HeadError {
    pub fn status(&self) -> u16 {
        match self {
            HeadError::BadRequest(_) => 400,
            HeadError::UriTooLong => 414,
            HeadError::NotAllowed(_) => 405,
            HeadError::HeadersTooLarge => 494,
            HeadError::NotImplemented(_) => 501,
            HeadError::VersionNotSupported => 505,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            HeadError::BadRequest(why)
            | HeadError::NotImplemented(why)
            | HeadError::NotAllowed(why) => why,
            HeadError::UriTooLong => "request line too long",
            HeadError::HeadersTooLarge => "request header too large",
            HeadError::VersionNotSupported => "unsupported HTTP version",
        }
    }
}

/// Parses a request head from the start of `buf`. `Ok(None)` means more bytes are needed
/// (and none of the limits is exceeded yet).
pub fn parse_head(buf: &[u8], limits: &HeadLimits) -> Result<Option<RequestHead>, HeadError> {
    // nginx (and RFC 9112 §2.2) skips empty lines before a request line.
    let skip = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let buf_all = buf;
    let buf = &buf[skip..];

    let line_end = memchr::memchr(b'\n', buf);
    match line_end {
        None if buf.len() > limits.max_request_line => return Err(HeadError::UriTooLong),
        Some(end) if end > limits.max_request_line => return Err(HeadError::UriTooLong),
        _ => {}
    }
    if let Some(end) = line_end {
        check_version(&buf[..end])?;
    }

    let mut slots = [httparse::EMPTY_HEADER; HEADER_SLOTS];
    let mut req = httparse::Request::new(&mut slots);
    let status = req.parse(buf);
    let len = match status {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_header_bytes {
                return Err(HeadError::HeadersTooLarge);
            }
            // The line being received may already be longer than a buffer.
            let last = memchr::memrchr(b'\n', buf).map_or(0, |i| i + 1);
            if line_end.is_some() && buf.len() - last > limits.max_header_line {
                return Err(HeadError::HeadersTooLarge);
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::HeadersTooLarge),
        Err(httparse::Error::Version) => return Err(HeadError::BadRequest("invalid HTTP version")),
        Err(httparse::Error::Token) => return Err(HeadError::BadRequest("invalid request method")),
        Err(httparse::Error::HeaderName) => {
            return Err(HeadError::BadRequest("invalid header name"))
        }
        Err(httparse::Error::HeaderValue) => {
            return Err(HeadError::BadRequest("invalid header value"))
        }
        Err(httparse::Error::NewLine) => return Err(HeadError::BadRequest("invalid line ending")),
        Err(httparse::Error::Status) => return Err(HeadError::BadRequest("invalid request")),
    };
    if len > limits.max_header_bytes {
        return Err(HeadError::HeadersTooLarge);
    }
    if req.headers.len() > limits.max_headers {
        return Err(HeadError::HeadersTooLarge);
    }

    let pos = |s: &[u8]| -> Range<usize> {
        let start = s.as_ptr() as usize - buf_all.as_ptr() as usize;
        start..start + s.len()
    };
    let (Some(method_raw), Some(target_raw), Some(minor)) = (req.method, req.path, req.version)
    else {
        return Err(HeadError::BadRequest("incomplete request line"));
    };
    let method_raw = method_raw.as_bytes();
    let target_bytes = target_raw.as_bytes();
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };

    let mut head = RequestHead {
        method: Method::from_bytes(method_raw),
        method_raw: pos(method_raw),
        target: pos(target_bytes),
        path_and_query: pos(target_bytes),
        path: pos(target_bytes),
        query: None,
        version,
        fields: Vec::with_capacity(req.headers.len()),
        host: None,
        body: BodyFraming::None,
        keep_alive: version == Version::Http11,
        expect_continue: false,
        len: skip + len,
        refused: None,
    };
    // The first refusal of the kind [`RequestHead::refused`] holds.
    let mut late: Option<HeadError> = None;

    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    // A Transfer-Encoding other than chunked is refused once the head is read, after a
    // duplicate (400) would have been found, as nginx orders them.
    let mut unsupported_coding = false;
    let mut host_seen = false;
    let mut unique_seen = 0u8;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        let value = trim_ows(h.value);
        // name, ": ", value and CRLF: what one nginx buffer must hold.
        if name.len() + h.value.len() + 4 > limits.max_header_line {
            return Err(HeadError::HeadersTooLarge);
        }
        if limits.ignore_invalid_headers && !valid_name(name, limits.underscores_in_headers) {
            // nginx logs and drops such a field (httparse has refused the worst already).
            continue;
        }
        head.fields.push(Field {
            name: pos(name),
            value: pos(value),
        });
        if let Some(bit) = unique_field(name) {
            if unique_seen & bit != 0 {
                return Err(HeadError::BadRequest("client sent duplicate header line"));
            }
            unique_seen |= bit;
        }
        if name.eq_ignore_ascii_case(b"host") {
            // A refused Host leaves `host` empty: the address's default server answers.
            if host_seen {
                late.get_or_insert(HeadError::BadRequest("client sent duplicate host header"));
                head.host = None;
                continue;
            }
            host_seen = true;
            match validate_host(value) {
                Some(name) => head.host = Some(pos(&value[..name])),
                None => {
                    late.get_or_insert(HeadError::BadRequest("client sent invalid host header"));
                }
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_content_length(value)
                .ok_or(HeadError::BadRequest("invalid Content-Length"))?;
            if content_length.is_some() {
                return Err(HeadError::BadRequest("duplicate Content-Length"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if chunked || unsupported_coding {
                return Err(HeadError::BadRequest("duplicate Transfer-Encoding"));
            }
            chunked = value.eq_ignore_ascii_case(b"chunked");
            unsupported_coding = !chunked;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',') {
                let token = trim_ows(token);
                if token.eq_ignore_ascii_case(b"close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == Version::Http10 {
                    head.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            // Other expectations are ignored, as nginx does (RFC 9110 allows 417 or this).
            if value.eq_ignore_ascii_case(b"100-continue") {
                head.expect_continue = version == Version::Http11;
            }
        }
    }
    if unsupported_coding {
        return Err(HeadError::NotImplemented("unsupported Transfer-Encoding"));
    }
    // Connection: close wins over keep-alive whatever their order.
    if head.fields.iter().any(|f| {
        buf_all[f.name.clone()].eq_ignore_ascii_case(b"connection")
            && has_close(&buf_all[f.value.clone()])
    }) {
        head.keep_alive = false;
    }

    head.body = match (content_length, chunked) {
        (Some(_), true) => {
            return Err(HeadError::BadRequest(
                "both Content-Length and Transfer-Encoding",
            ))
        }
        (_, true) if version == Version::Http10 => {
            return Err(HeadError::BadRequest("Transfer-Encoding in HTTP/1.0"))
        }
        (_, true) => BodyFraming::Chunked,
        (Some(0), false) | (None, false) => BodyFraming::None,
        (Some(n), false) => BodyFraming::Length(n),
    };

    if head.method == Method::Connect {
        // nginx reads CONNECT's target as host:port only; then refuses the method itself.
        match authority_end(target_bytes) {
            Some(end)
                if end == target_bytes.len()
                    && connect_port(target_bytes)
                    && validate_host(target_bytes).is_some() =>
            {
                head.refused =
                    Some(late.unwrap_or(HeadError::NotAllowed("client sent CONNECT method")));
                return Ok(Some(head));
            }
            _ => return Err(HeadError::BadRequest("invalid CONNECT target")),
        }
    }
    if target_bytes.first() != Some(&b'/') {
        resolve_absolute_form(&mut head, target_bytes, &pos, method_raw)?;
    }
    split_path(&mut head, buf_all);
    // RFC 9112 §3.2: an HTTP/1.1 request without a Host field is refused even when its
    // target is in absolute form (nginx too).
    if !host_seen && version == Version::Http11 {
        late.get_or_insert(HeadError::BadRequest(
            "client sent HTTP/1.1 request without \"Host\" header",
        ));
    }
    if head.method == Method::Trace {
        // nginx refuses TRACE once the head is read: echoing a request back (cookies and
        // all) is a cross-site tracing hole.
        late.get_or_insert(HeadError::NotAllowed("client sent TRACE method"));
    }
    head.refused = late;
    Ok(Some(head))
}

/// Sets `path` and `query` inside `path_and_query`: nginx ends the path at the first '?'
/// or '#', and the query (when '?' came first) at the next '#'.
fn split_path(head: &mut RequestHead, buf: &[u8]) {
    let pq = head.path_and_query.clone();
    let bytes = &buf[pq.clone()];
    let Some(i) = memchr::memchr2(b'?', b'#', bytes) else {
        head.path = pq;
        return;
    };
    head.path = pq.start..pq.start + i;
    if bytes[i] == b'?' {
        let rest = &bytes[i + 1..];
        let end = memchr::memchr(b'#', rest).unwrap_or(rest.len());
        let start = pq.start + i + 1;
        head.query = Some(start..start + end);
    }
}

/// Where the authority at the start of `rest` ends, read as nginx's request-line parser
/// reads it: a reg-name of letters, digits, '.' and '-', or a bracketed IP literal (IPv6 or
/// IPvFuture characters), then optionally ':' and digits; it must be followed by '/', '?'
/// or the end of the target. `None` for any other byte (userinfo, '#', '\\', '_' …).
/// [`validate_host`] then applies the rules on dots, port range and emptiness.
fn authority_end(rest: &[u8]) -> Option<usize> {
    let mut i = 0;
    if rest.first() == Some(&b'[') {
        let close = rest.iter().position(|&b| b == b']')?;
        let literal_ok = rest[1..close].iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || b == b':'
                || crate::http::host::is_unreserved_or_sub_delim(b)
        });
        if !literal_ok {
            return None;
        }
        i = close + 1;
    } else {
        while i < rest.len() && (rest[i].is_ascii_alphanumeric() || matches!(rest[i], b'.' | b'-'))
        {
            i += 1;
        }
    }
    if rest.get(i) == Some(&b':') {
        i += 1;
        while rest.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    match rest.get(i) {
        None | Some(b'/') | Some(b'?') => Some(i),
        Some(_) => None,
    }
}

/// CONNECT's authority has a non-empty port.
fn connect_port(authority: &[u8]) -> bool {
    let after_name = if authority.first() == Some(&b'[') {
        memchr::memchr(b']', authority).map_or(authority.len(), |i| i + 1)
    } else {
        memchr::memchr(b':', authority).unwrap_or(authority.len())
    };
    authority.len() > after_name + 1 && authority[after_name] == b':'
}

/// nginx's valid header name with `ignore_invalid_headers on`: letters, digits, `-`, and
/// `_` when `underscores_in_headers` is on.
fn valid_name(name: &[u8], underscores: bool) -> bool {
    name.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || (underscores && b == b'_'))
}

fn has_close(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| trim_ows(t).eq_ignore_ascii_case(b"close"))
}

/// `OPTIONS *`, or absolute-form `scheme://authority[/path][?query]`: any scheme nginx's
/// grammar allows (a letter, then letters, digits, '+', '-', '.'), the authority as
/// [`authority_end`] and [`validate_host`] accept it; anything else is malformed.
fn resolve_absolute_form(
    head: &mut RequestHead,
    target: &[u8],
    pos: &dyn Fn(&[u8]) -> Range<usize>,
    method: &[u8],
) -> Result<(), HeadError> {
    if target == b"*" && method == b"OPTIONS" {
        return Ok(());
    }
    let scheme_len = target
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
        .unwrap_or(target.len());
    let rest = match target.get(scheme_len..) {
        Some(r) if scheme_len > 0 && target[0].is_ascii_alphabetic() && r.starts_with(b"://") => {
            &r[3..]
        }
        _ => return Err(HeadError::BadRequest("invalid request target")),
    };
    let bad_host = HeadError::BadRequest("client sent invalid host in request line");
    let authority = &rest[..authority_end(rest).ok_or(bad_host)?];
    let name = validate_host(authority).ok_or(bad_host)?;
    head.host = Some(pos(&authority[..name]));
    let path = &rest[authority.len()..];
    head.path_and_query = if path.is_empty() {
        // "http://host" means "/": like nginx, point at the first '/' of "://" (so that
        // `$request_uri` is "/" too).
        let slash = pos(rest).start - 2;
        slash..slash + 1
    } else {
        pos(path)
    };
    Ok(())
}

/// A bit for each request field nginx takes once and refuses to see twice
/// (`ngx_http_process_unique_header_line`); Host, Content-Length and Transfer-Encoding
/// have their own checks.
fn unique_field(name: &[u8]) -> Option<u8> {
    const NAMES: [&[u8]; 8] = [
        b"if-modified-since",
        b"if-unmodified-since",
        b"if-match",
        b"if-none-match",
        b"if-range",
        b"content-range",
        b"authorization",
        b"expect",
    ];
    // Most fields start with another letter: one comparison rules them out.
    if !matches!(
        name.first().map(u8::to_ascii_lowercase),
        Some(b'i' | b'c' | b'a' | b'e')
    ) {
        return None;
    }
    let at = NAMES.iter().position(|n| name.eq_ignore_ascii_case(n))?;
    Some(1 << at)
}

/// RFC 9112: version is "HTTP/" DIGIT "." DIGIT; major versions other than 1 get 505.
fn check_version(line: &[u8]) -> Result<(), HeadError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(space) = memchr::memrchr(b' ', line) else {
        return Ok(()); // httparse reports the malformed line
    };
    let version = &line[space + 1..];
    if version.len() == 8 && version.starts_with(b"HTTP/") && version[6] == b'.' {
        let (major, minor) = (version[5], version[7]);
        if major.is_ascii_digit() && minor.is_ascii_digit() && major != b'1' && major != b'0' {
            return Err(HeadError::VersionNotSupported);
        }
        if major == b'1' && minor.is_ascii_digit() && minor > b'1' {
            // nginx serves HTTP/1.2+ as 1.1; httparse does not parse them, so refuse clearly.
            return Err(HeadError::VersionNotSupported);
        }
    }
    Ok(())
}

/// Only digits, at most 19 of them (no sign, no spaces inside, no lists).
fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for &d in value {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(n)
}

/// Strips optional whitespace (SP / HTAB) from both ends of a field value.
pub fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_request_line: 64,
        max_header_line: 64,
        max_header_bytes: 256,
        max_headers: 4,
        ignore_invalid_headers: true,
        underscores_in_headers: false,
    };

    fn parse(raw: &[u8]) -> Result<Option<RequestHead>, HeadError> {
        parse_head(raw, &LIMITS)
    }

    fn ok(raw: &[u8]) -> RequestHead {
        match parse(raw) {
            Ok(Some(h)) => h,
            other => panic!("expected a head, got {other:?}"),
        }
    }

    #[test]
    fn simple_get() {
        let raw = b"GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\nrest";
        let h = ok(raw);
        assert_eq!(h.method, Method::Get);
        assert_eq!(&raw[h.target.clone()], b"/a?b=c");
        assert_eq!(&raw[h.host.clone().unwrap()], b"x");
        assert_eq!(h.len, raw.len() - 4);
        assert!(h.keep_alive);
        assert_eq!(h.body, BodyFraming::None);
    }

    #[test]
    fn unique_fields_may_not_repeat() {
        for name in [
            "If-Match",
            "if-none-match",
            "Authorization",
            "Expect",
            "Content-Range",
        ] {
            let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{name}: a\r\n{name}: b\r\n\r\n");
            assert_eq!(
                parse(raw.as_bytes()),
                Err(HeadError::BadRequest("client sent duplicate header line")),
                "{name}"
            );
        }
        // Fields that may repeat, and a unique field once, pass.
        ok(b"GET / HTTP/1.1\r\nHost: x\r\nVia: a\r\nVia: b\r\nIf-Match: a\r\n\r\n");
        // A duplicate Transfer-Encoding is found before the coding is refused.
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\nTransfer-Encoding: bar\r\n\r\n"),
            Err(HeadError::BadRequest("duplicate Transfer-Encoding"))
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\n\r\n"),
            Err(HeadError::NotImplemented("unsupported Transfer-Encoding"))
        );
    }

    #[test]
    fn partial_needs_more() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None));
        assert_eq!(parse(b"GE"), Ok(None));
    }

    #[test]
    fn leading_empty_lines_skipped() {
        let h = ok(b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(h.len, 4 + 27);
    }

    #[test]
    fn http10_keepalive_rules() {
        assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(!ok(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(
            !ok(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n").keep_alive
        );
    }

    #[test]
    fn limits() {
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(80));
        assert_eq!(parse(long.as_bytes()), Err(HeadError::UriTooLong));
        let unfinished = format!("GET /{}", "a".repeat(80));
        assert_eq!(parse(unfinished.as_bytes()), Err(HeadError::UriTooLong));
        let big = format!("GET / HTTP/1.1\r\nHost: x\r\nA: {}\r\n", "b".repeat(300));
        assert_eq!(parse(big.as_bytes()), Err(HeadError::HeadersTooLarge));
        let many = b"GET / HTTP/1.1\r\nHost: x\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\n\r\n";
        assert_eq!(parse(many), Err(HeadError::HeadersTooLarge));
    }

    #[test]
    fn framing_conflicts() {
        let both = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(parse(both), Err(HeadError::BadRequest(_))));
        let dup = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n";
        assert!(matches!(parse(dup), Err(HeadError::BadRequest(_))));
        for bad in ["+3", "3 3", "0x3", "", "-1", "99999999999999999999", "3,3"] {
            let raw = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {bad}\r\n\r\n");
            assert!(
                matches!(parse(raw.as_bytes()), Err(HeadError::BadRequest(_))),
                "{bad:?}"
            );
        }
        let gzip = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert!(matches!(parse(gzip), Err(HeadError::NotImplemented(_))));
        let chunked = ok(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(chunked.body, BodyFraming::Chunked);
        let te10 = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(parse(te10), Err(HeadError::BadRequest(_))));
    }

    #[test]
    fn malformed_bytes() {
        let cases: [&[u8]; 7] = [
            b"GET / HTTP/1.1\r\nHost: x\r\nA: b\rc\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nA: b\0c\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nA : b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\x01\r\n\r\n",
            b"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHo\x7fst: x\r\n\r\n",
        ];
        for raw in cases {
            assert!(
                matches!(parse(raw), Err(HeadError::BadRequest(_))),
                "{:?} → {:?}",
                String::from_utf8_lossy(raw),
                parse(raw)
            );
        }
    }

    #[test]
    fn host_rules() {
        // Refused once the server is chosen (its error_page answers), with no host: the
        // address's default server is the one.
        for raw in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a..b\r\n\r\n",
        ] {
            let h = ok(raw);
            assert!(matches!(h.refused, Some(HeadError::BadRequest(_))));
            assert!(h.host.is_none());
        }
        // The first refusal is the one reported.
        assert_eq!(
            late(b"TRACE / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
            Some(HeadError::BadRequest("client sent invalid host header"))
        );
        assert_eq!(ok(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").refused, None);
        assert!(ok(b"GET / HTTP/1.1\r\nHost: .a.b.:80\r\n\r\n")
            .host
            .is_some());
        assert!(ok(b"GET / HTTP/1.0\r\n\r\n").host.is_none());
    }

    #[test]
    fn versions() {
        assert_eq!(
            parse(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"),
            Err(HeadError::VersionNotSupported)
        );
        assert_eq!(
            parse(b"GET / HTTP/3.0\r\n"),
            Err(HeadError::VersionNotSupported)
        );
        assert!(matches!(
            parse(b"GET / HTTP/x.y\r\nHost: x\r\n\r\n"),
            Err(HeadError::BadRequest(_))
        ));
        assert!(matches!(
            parse(b"GET / FOO\r\n\r\n"),
            Err(HeadError::BadRequest(_))
        ));
    }

    fn host_of(raw: &[u8]) -> Vec<u8> {
        let h = ok(raw);
        raw[h.host.clone().expect("a host")].to_vec()
    }

    /// Refused with 400, at once or once the server is chosen.
    fn refused(raw: &[u8]) -> bool {
        match parse(raw) {
            Err(HeadError::BadRequest(_)) => true,
            Ok(Some(h)) => matches!(h.refused, Some(HeadError::BadRequest(_))),
            _ => false,
        }
    }

    fn late(raw: &[u8]) -> Option<HeadError> {
        match parse(raw) {
            Ok(Some(h)) => h.refused,
            other => panic!("expected a head, got {other:?}"),
        }
    }

    #[test]
    fn absolute_form() {
        let raw = b"GET http://Example.com:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n";
        let h = ok(raw);
        assert_eq!(&raw[h.host.clone().unwrap()], b"Example.com");
        assert_eq!(&raw[h.path_and_query.clone()], b"/p?q");
        let raw = b"GET http://h HTTP/1.1\r\nHost: h\r\n\r\n";
        let h = ok(raw);
        assert_eq!(&raw[h.path_and_query.clone()], b"/");
        assert_eq!(&raw[h.path.clone()], b"/");
        // Any scheme nginx's grammar allows (it serves them all alike).
        assert_eq!(host_of(b"GET ftp://h/ HTTP/1.0\r\n\r\n"), b"h");
        assert_eq!(host_of(b"GET h2+x.y://h/ HTTP/1.0\r\n\r\n"), b"h");
        assert!(refused(b"GET 1http://h/ HTTP/1.0\r\n\r\n"));
        assert!(refused(b"GET http:/h/ HTTP/1.0\r\n\r\n"));
        assert!(refused(b"GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n"));
    }

    #[test]
    fn absolute_form_authority() {
        let abs = |a: &str| format!("GET http://{a}/ HTTP/1.0\r\n\r\n");
        for (authority, host) in [
            ("l", "l"),
            ("abcd-ef.g02.xyz:", "abcd-ef.g02.xyz"),
            ("x.y.:2", "x.y"),
            ("[::1]:5", "[::1]"),
            ("[::1]:", "[::1]"),
            ("[v1F.a-_~!$&'()*+,;=:]", "[v1F.a-_~!$&'()*+,;=:]"),
        ] {
            assert_eq!(
                host_of(abs(authority).as_bytes()),
                host.as_bytes(),
                "{authority}"
            );
        }
        // The request line is stricter than the Host field: a reg-name there is letters,
        // digits, '.' and '-' only.
        for bad in [
            "", ".", "a_b", "a%41", "a!b", "\\e/x", "a..b", "a:80:80", "a:1.2", "a:65536",
            "[::1].", "[::1]x", "x[::1]", "[::1", "[a..b]", "[a\\b]", "a#f",
        ] {
            assert!(refused(abs(bad).as_bytes()), "{bad:?}");
        }
        assert!(refused(b"GET http://a#f HTTP/1.0\r\n\r\n"));
        let h = ok(b"GET http://a?x#f HTTP/1.0\r\n\r\n");
        assert!(h.path.is_empty());
        // HTTP/1.1 needs the Host field even when the target names the host.
        assert!(refused(b"GET http://a/x HTTP/1.1\r\n\r\n"));
        // An invalid Host field is refused even though the target's host wins.
        assert!(refused(b"GET http://a/x HTTP/1.1\r\nHost: b/c\r\n\r\n"));
    }

    #[test]
    fn host_field_forms() {
        let field = |v: &str| format!("GET / HTTP/1.0\r\nHost: {v}\r\n\r\n");
        for (value, host) in [
            ("L", "L"),
            ("a_b.c", "a_b.c"),
            ("a%41b", "a%41b"),
            ("a!b$c", "a!b$c"),
            (".a.b", ".a.b"),
            ("a:", "a"),
            ("a:0080", "a"),
            ("a:65535", "a"),
            ("a.", "a"),
            ("a.:88", "a"),
            ("1.2.3.4:", "1.2.3.4"),
            ("[]", "[]"),
            ("[::ffff:1.2.3.4]:80", "[::ffff:1.2.3.4]"),
        ] {
            assert_eq!(host_of(field(value).as_bytes()), host.as_bytes(), "{value}");
        }
        for bad in [
            "",
            ".",
            ":80",
            "..a",
            "a..",
            "a/b",
            "a\\b",
            "a:65536",
            "a:1.2",
            "a:1:2",
            "[::1].",
            "[::1].:98",
            "[::1]x",
            "x[::1]:98",
            "[::1",
            "[a..b]",
            "[a/b]",
            "a@b",
            "a b",
        ] {
            assert!(refused(field(bad).as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn fragment_ends_path_and_query() {
        let split = |target: &str| {
            let raw = format!("GET {target} HTTP/1.0\r\n\r\n");
            let h = ok(raw.as_bytes());
            let b = raw.as_bytes();
            (
                String::from_utf8_lossy(&b[h.path.clone()]).into_owned(),
                h.query.map(|q| String::from_utf8_lossy(&b[q]).into_owned()),
                String::from_utf8_lossy(&b[h.path_and_query]).into_owned(),
            )
        };
        let s = |v: &str| v.to_string();
        assert_eq!(split("/a?b"), (s("/a"), Some(s("b")), s("/a?b")));
        assert_eq!(split("/a/.#f"), (s("/a/."), None, s("/a/.#f")));
        assert_eq!(split("/a#b?c"), (s("/a"), None, s("/a#b?c")));
        assert_eq!(split("/a?b#c?d"), (s("/a"), Some(s("b")), s("/a?b#c?d")));
        assert_eq!(split("/a?#c"), (s("/a"), Some(s("")), s("/a?#c")));
        assert_eq!(split("/a%23b"), (s("/a%23b"), None, s("/a%23b")));
        assert_eq!(split("http://h:1?x#y"), (s(""), Some(s("x")), s("?x#y")));
    }

    #[test]
    fn trace_and_connect_refused() {
        assert_eq!(
            late(b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(HeadError::NotAllowed("client sent TRACE method"))
        );
        // The head is still checked first.
        assert!(refused(b"TRACE / HTTP/1.1\r\n\r\n"));
        for ok_target in ["a:1", "[::1]:443", "a.b.:8080"] {
            let raw = format!("CONNECT {ok_target} HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(
                late(raw.as_bytes()),
                Some(HeadError::NotAllowed("client sent CONNECT method")),
                "{ok_target}"
            );
        }
        for bad in [
            "/",
            "a",
            "a:",
            "a:x",
            "a:1/",
            "http://a:1/",
            "a:99999",
            "[::1]",
        ] {
            let raw = format!("CONNECT {bad} HTTP/1.1\r\nHost: a\r\n\r\n");
            assert!(refused(raw.as_bytes()), "{bad}");
        }
        assert_eq!(HeadError::NotAllowed("x").status(), 405);
    }

    #[test]
    fn expect() {
        let h =
            ok(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
        assert!(h.expect_continue);
        assert_eq!(h.body, BodyFraming::Length(5));
    }
}
