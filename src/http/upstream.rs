//! The upstream's response head, sans-io: parsing what an upstream sends back, and writing
//! the head the client gets (hop-by-hop fields and hidden fields dropped, Location rewritten,
//! anx's Server and Date, framing chosen for the client).
//!
//! `serve::proxy` reads from the upstream into a buffer and calls [`parse_response_head`];
//! once it has a head it calls [`write_client_head`] and relays the body by the framings
//! both return.

use std::ops::Range;

use super::hop::{connection_tokens, is_hop_by_hop};
use super::request::{trim_ows, HEADER_SLOTS};
use super::status::{is_bodyless, reason};

/// How the upstream delimits its response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body: 1xx, 204, 304, or an answer to HEAD.
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes (HTTP/1.0 style, no length).
    UntilClose,
}

/// A parsed upstream response head. Positions index the buffer it was parsed from.
#[derive(Debug, Clone)]
pub struct UpstreamHead {
    pub status: u16,
    /// HTTP/1.x minor version of the upstream's answer.
    pub minor: u8,
    /// Bytes of the head, the final empty line included.
    pub len: usize,
    /// (name, value) positions of every field, in order.
    pub fields: Vec<(Range<usize>, Range<usize>)>,
    pub framing: ResponseFraming,
    /// The upstream allows reusing the connection after this response (1.1 without
    /// `Connection: close`, 1.0 with `keep-alive`), and the framing allows it.
    pub keep_alive: bool,
}

/// What [`parse_response_head`] found at the start of the buffer.
#[derive(Debug)]
pub enum Parsed {
    /// More bytes needed.
    Incomplete,
    /// An interim 1xx head (100, 102, 103) of this many bytes: drop it and parse again.
    Interim(usize),
    Head(UpstreamHead),
}

/// Why a head is refused (nginx: "upstream sent invalid header" → 502).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidHead {
    /// Longer than `proxy_buffer_size` ("upstream sent too big header").
    TooLarge,
    Malformed(&'static str),
}

/// Parses the response head at the start of `buf`; `max` is `proxy_buffer_size`,
/// `head_request` says the request was HEAD (no body follows whatever the fields say).
///
/// Strict (RFC 9112 §6.3): the framing decided here is where this connection's next response
/// starts, and a kept-alive upstream connection carries other clients' requests later, so
/// anything ambiguous is refused rather than guessed. `Incomplete` is only answered while
/// fewer than `max` bytes are buffered: once `max` bytes hold no complete head the head can
/// no longer fit, so that is `TooLarge`.
pub fn parse_response_head(
    buf: &[u8],
    max: usize,
    head_request: bool,
) -> Result<Parsed, InvalidHead> {
    // httparse skips empty lines before the status line; nginx refuses them, and on a reused
    // connection they would mean the previous body's framing was wrong.
    if matches!(buf.first(), Some(b'\r' | b'\n')) {
        return Err(InvalidHead::Malformed("empty line before the status line"));
    }
    // Parsing only the first `max` bytes bounds the work on an endless head.
    let window = &buf[..buf.len().min(max)];
    let mut slots = [httparse::EMPTY_HEADER; HEADER_SLOTS];
    let mut resp = httparse::Response::new(&mut slots);
    let len = match resp.parse(window) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            return if buf.len() >= max {
                Err(InvalidHead::TooLarge)
            } else {
                Ok(Parsed::Incomplete)
            };
        }
        Err(e) => return Err(InvalidHead::Malformed(describe(e))),
    };
    let (Some(minor), Some(status)) = (resp.version, resp.code) else {
        return Err(InvalidHead::Malformed("invalid status line"));
    };
    // httparse takes any three digits; nginx wants 100..=999.
    if status < 100 {
        return Err(InvalidHead::Malformed("invalid status code"));
    }
    if (100..200).contains(&status) && status != 101 {
        return Ok(Parsed::Interim(len));
    }

    let pos = |s: &[u8]| -> Range<usize> {
        let start = s.as_ptr() as usize - buf.as_ptr() as usize;
        start..start + s.len()
    };
    let mut fields = Vec::with_capacity(resp.headers.len());
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut close = false;
    let mut keep_alive_token = false;
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        let value = trim_ows(h.value);
        // As nginx: a repeat of a field that can only have one value is ignored (the first
        // one wins), with a warning.
        let repeated = SINGLETONS.iter().any(|s| name.eq_ignore_ascii_case(s))
            && fields.iter().any(|(n, _): &(Range<usize>, Range<usize>)| {
                buf[n.clone()].eq_ignore_ascii_case(name)
            });
        if repeated {
            log::warn!(
                "upstream sent duplicate header line: \"{}: {}\", ignored",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(value)
            );
            continue;
        }
        fields.push((pos(name), pos(value)));
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_content_length(value)
                .ok_or(InvalidHead::Malformed("invalid Content-Length"))?;
            // Even identical repeats are refused, as nginx does: two parsers could
            // disagree on where the body ends.
            if content_length.is_some() {
                return Err(InvalidHead::Malformed("duplicate Content-Length"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // A second field would make the codings "chunked, chunked" (or worse).
            if chunked {
                return Err(InvalidHead::Malformed("duplicate Transfer-Encoding"));
            }
            if !value.eq_ignore_ascii_case(b"chunked") {
                return Err(InvalidHead::Malformed("unsupported Transfer-Encoding"));
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in connection_tokens(value) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive_token = true;
                }
            }
        }
    }
    // Checked whatever the status, as nginx does: such an upstream cannot be trusted to frame
    // its next response either.
    if chunked && content_length.is_some() {
        return Err(InvalidHead::Malformed(
            "both Content-Length and Transfer-Encoding",
        ));
    }
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
    if chunked && minor == 0 {
        return Err(InvalidHead::Malformed("Transfer-Encoding in HTTP/1.0"));
    }

    let framing = if head_request || matches!(status, 101 | 204 | 304) {
        ResponseFraming::Empty
    } else if chunked {
        ResponseFraming::Chunked
    } else if let Some(n) = content_length {
        ResponseFraming::Length(n)
    } else {
        ResponseFraming::UntilClose
    };
    let keep_alive = !close
        && (minor == 1 || keep_alive_token)
        && status != 101
        && framing != ResponseFraming::UntilClose;
    Ok(Parsed::Head(UpstreamHead {
        status,
        minor,
        len,
        fields,
        framing,
        keep_alive,
    }))
}

fn describe(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status | httparse::Error::Token => "invalid status line",
        httparse::Error::Version => "invalid HTTP version",
        httparse::Error::TooManyHeaders => "too many header fields",
    }
}

/// Only digits, at most 19 of them (no sign, no spaces inside, no lists).
fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// How the body goes to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFraming {
    Empty,
    Length(u64),
    /// Re-encoded as chunks (the upstream's was chunked or close-delimited; client is 1.1).
    Chunked,
    /// Close-delimited (a 1.0 client and no length), so the connection closes after it.
    Close,
}

/// What the client-facing head depends on besides the upstream's head.
pub struct RelayOptions<'a> {
    /// `proxy_hide_header` names (lowercase), hidden as well as the default set.
    pub hide: &'a [String],
    /// `proxy_pass_header` names (lowercase), let through from the default hidden set.
    pub pass: &'a [String],
    pub server_tokens: bool,
    /// The client connection stays open after this response (keep-alive is offered).
    pub keep_alive: bool,
    /// The client's HTTP/1.x minor version.
    pub client_minor: u8,
    /// The client asked with HEAD.
    pub head_request: bool,
    /// A 101 being relayed for an upgrade: `Upgrade` and `Connection: upgrade` go through.
    pub upgrade: bool,
    /// Field lines to append ("Name: value\r\n", from add_header), already chosen for this
    /// status.
    pub extra: &'a [u8],
    /// `chunked_transfer_encoding`: a body of unknown length goes chunked to an HTTP/1.1
    /// client (off: it ends with the connection).
    pub chunked: bool,
    /// `keepalive_timeout`'s header timeout, in seconds: `Keep-Alive: timeout=N`.
    pub keepalive_header: Option<u64>,
    /// `expires` wrote its own Expires and Cache-Control (in `extra`): the upstream's are
    /// dropped.
    pub replace_cache_fields: bool,
    /// The body ends in `add_trailer` fields (checked for this client already): it goes
    /// chunked even when the upstream gave its length.
    pub trailers: bool,
}

/// Fields nginx's proxy module hides from the client unless `proxy_pass_header` names them
/// (`ngx_http_proxy_hide_headers`): Date and Server are the proxy's own, the X-Accel ones are
/// instructions to the proxy.
const DEFAULT_HIDDEN: [&[u8]; 8] = [
    b"date",
    b"server",
    b"x-pad",
    b"x-accel-expires",
    b"x-accel-redirect",
    b"x-accel-limit-rate",
    b"x-accel-buffering",
    b"x-accel-charset",
];

/// A replacement for a field's value given its name and value, or `None` to keep it.
pub type FieldRewrite<'a> = dyn FnMut(&[u8], &[u8]) -> Option<Vec<u8>> + 'a;

/// Writes the client-facing head for `head` (fields read from `buf`) into `out`.
/// `rewrite` gets the name and value of each `Location`, `Refresh` and `Set-Cookie` field
/// and returns a replacement (`proxy_redirect`, `proxy_cookie_*`), or `None` to keep it.
///
/// Order: status line, Server, Date, the upstream's fields as sent (minus hop-by-hop and
/// hidden ones), the framing field, Connection (or Upgrade + `Connection: upgrade`), then
/// `opts.extra`. The status line is HTTP/1.1 with the upstream's reason phrase when it is
/// plain visible ASCII, anx's otherwise.
///
/// Hiding follows nginx: a name is hidden when it is in the default set or `opts.hide`, and
/// not in `opts.pass` (so `pass` wins over both). When the upstream's own Server or Date is
/// passed, anx does not add its own. A replacement carrying CR, LF or NUL is ignored and the value kept,
/// since it would split the head.
pub fn write_client_head(
    out: &mut Vec<u8>,
    head: &UpstreamHead,
    buf: &[u8],
    opts: &RelayOptions,
    rewrite: &mut FieldRewrite<'_>,
) -> ClientFraming {
    let named =
        |name: &[u8], list: &[String]| list.iter().any(|n| name.eq_ignore_ascii_case(n.as_bytes()));
    let replaced = |name: &[u8]| {
        opts.replace_cache_fields
            && (name.eq_ignore_ascii_case(b"expires")
                || name.eq_ignore_ascii_case(b"cache-control"))
    };
    let hidden = |name: &[u8]| {
        ((DEFAULT_HIDDEN.iter().any(|h| name.eq_ignore_ascii_case(h)) || named(name, opts.hide))
            && !named(name, opts.pass))
            || replaced(name)
    };
    let connection: Vec<&[u8]> = head
        .fields
        .iter()
        .filter(|(n, _)| buf[n.clone()].eq_ignore_ascii_case(b"connection"))
        .flat_map(|(_, v)| connection_tokens(&buf[v.clone()]))
        .collect();
    let upgrade = opts.upgrade && head.status == 101;
    let framing = if upgrade || opts.head_request || head.framing == ResponseFraming::Empty {
        ClientFraming::Empty
    } else {
        match head.framing {
            ResponseFraming::Length(n) if !opts.trailers => ClientFraming::Length(n),
            _ if opts.client_minor >= 1 && opts.chunked => ClientFraming::Chunked,
            _ => ClientFraming::Close,
        }
    };

    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(head.status).as_bytes());
    out.push(b' ');
    let phrase = reason_phrase(head, buf);
    if !phrase.is_empty() && phrase.iter().all(|&b| (b' '..=b'~').contains(&b)) {
        out.extend_from_slice(phrase);
    } else {
        out.extend_from_slice(reason(head.status).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    let passes_own =
        |name: &str| named(name.as_bytes(), opts.pass) && field(head, buf, name).is_some();
    if !passes_own("server") {
        out.extend_from_slice(if opts.server_tokens {
            concat!("Server: anx/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes()
        } else {
            b"Server: anx\r\n"
        });
    }
    if !passes_own("date") {
        out.extend_from_slice(b"Date: ");
        super::date::append_now(out);
        out.extend_from_slice(b"\r\n");
    }

    for (n, v) in &head.fields {
        let name = &buf[n.clone()];
        if is_hop_by_hop(name, &connection)
            || name.eq_ignore_ascii_case(b"content-length")
            || hidden(name)
        {
            continue;
        }
        let value = &buf[v.clone()];
        let replaced = if name.eq_ignore_ascii_case(b"location")
            || name.eq_ignore_ascii_case(b"refresh")
            || name.eq_ignore_ascii_case(b"set-cookie")
        {
            rewrite(name, value).filter(|r| !r.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)))
        } else {
            None
        };
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(replaced.as_deref().unwrap_or(value));
        out.extend_from_slice(b"\r\n");
    }

    match framing {
        ClientFraming::Empty => {
            // nginx answers HEAD with the length a GET would have had.
            if opts.head_request && !upgrade && !is_bodyless(head.status) {
                if let Some(len) = field(head, buf, "content-length") {
                    out.extend_from_slice(b"Content-Length: ");
                    out.extend_from_slice(len);
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        ClientFraming::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        ClientFraming::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        ClientFraming::Close => {}
    }
    if upgrade {
        if let Some(protocol) = field(head, buf, "upgrade") {
            out.extend_from_slice(b"Upgrade: ");
            out.extend_from_slice(protocol);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Connection: upgrade\r\n");
    } else if opts.keep_alive && framing != ClientFraming::Close {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
        if let Some(t) = opts.keepalive_header {
            out.extend_from_slice(b"Keep-Alive: timeout=");
            out.extend_from_slice(itoa::Buffer::new().format(t).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    } else {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(opts.extra);
    out.extend_from_slice(b"\r\n");
    framing
}

/// The reason phrase of the status line `head` was parsed from (empty when there is none).
/// The parser refused anything before "HTTP/1.x NNN", so the phrase starts at byte 13.
fn reason_phrase<'a>(head: &UpstreamHead, buf: &'a [u8]) -> &'a [u8] {
    let head_bytes = buf.get(..head.len).unwrap_or_default();
    let line = match memchr::memchr(b'\n', head_bytes) {
        Some(end) => &head_bytes[..end],
        None => head_bytes,
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.get(13..).unwrap_or_default()
}

/// The value of the first field named `name` (ASCII case-insensitive).
pub fn field<'a>(head: &UpstreamHead, buf: &'a [u8], name: &str) -> Option<&'a [u8]> {
    head.fields
        .iter()
        .find(|(n, _)| buf[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| &buf[v.clone()])
}

/// Every field as the upstream sent it, one "Name: value\r\n" line each, in order (for
/// `$upstream_http_*`, which sees hidden and hop-by-hop fields too).
pub fn raw_fields(head: &UpstreamHead, buf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len);
    for (n, v) in &head.fields {
        out.extend_from_slice(&buf[n.clone()]);
        out.extend_from_slice(b": ");
        out.extend_from_slice(&buf[v.clone()]);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Fields of which nginx keeps the first and ignores repeats.
const SINGLETONS: &[&[u8]] = &[
    b"content-type",
    b"date",
    b"etag",
    b"server",
    b"location",
    b"refresh",
    b"last-modified",
    b"expires",
    b"x-accel-expires",
    b"x-accel-redirect",
    b"x-accel-limit-rate",
];

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 4096;

    fn parse(raw: &[u8]) -> Result<Parsed, InvalidHead> {
        parse_response_head(raw, MAX, false)
    }

    fn head(raw: &[u8]) -> UpstreamHead {
        head_for(raw, false)
    }

    fn head_for(raw: &[u8], head_request: bool) -> UpstreamHead {
        match parse_response_head(raw, MAX, head_request) {
            Ok(Parsed::Head(h)) => h,
            other => panic!("{:?} → {other:?}", String::from_utf8_lossy(raw)),
        }
    }

    fn malformed(raw: &[u8]) -> bool {
        matches!(parse(raw), Err(InvalidHead::Malformed(_)))
    }

    fn opts() -> RelayOptions<'static> {
        RelayOptions {
            hide: &[],
            pass: &[],
            server_tokens: false,
            keep_alive: true,
            client_minor: 1,
            head_request: false,
            upgrade: false,
            extra: b"",
            chunked: true,
            keepalive_header: None,
            replace_cache_fields: false,
            trailers: false,
        }
    }

    #[test]
    fn trailers_make_a_known_length_chunked() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        let o = RelayOptions {
            trailers: true,
            ..opts()
        };
        let (text, framing) = client_head(raw, &o);
        assert_eq!(framing, ClientFraming::Chunked);
        assert!(text.contains("Transfer-Encoding: chunked\r\n"), "{text}");
        assert!(!text.contains("Content-Length"), "{text}");
        let (text, framing) = client_head(raw, &opts());
        assert_eq!(framing, ClientFraming::Length(3));
        assert!(text.contains("Content-Length: 3\r\n"), "{text}");
    }

    fn client_head(raw: &[u8], opts: &RelayOptions) -> (String, ClientFraming) {
        let h = head_for(raw, opts.head_request);
        let mut out = Vec::new();
        let framing = write_client_head(&mut out, &h, raw, opts, &mut |_, _| None);
        (String::from_utf8(out).unwrap(), framing)
    }

    /// The head with its Date line removed (the only part that varies).
    fn without_date(h: &str) -> String {
        h.split_inclusive("\r\n")
            .filter(|l| !l.starts_with("Date: "))
            .collect()
    }

    #[test]
    fn length_framing_and_positions() {
        let raw =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length:  5 \r\n\r\nhello";
        let h = head(raw);
        assert_eq!(h.status, 200);
        assert_eq!(h.minor, 1);
        assert_eq!(h.len, raw.len() - 5);
        assert_eq!(h.framing, ResponseFraming::Length(5));
        assert!(h.keep_alive);
        assert_eq!(h.fields.len(), 2);
        assert_eq!(&raw[h.fields[1].0.clone()], b"Content-Length");
        assert_eq!(&raw[h.fields[1].1.clone()], b"5");
        assert_eq!(field(&h, raw, "content-type"), Some(&b"text/plain"[..]));
        assert_eq!(field(&h, raw, "x-none"), None);
        assert_eq!(
            raw_fields(&h, raw),
            b"Content-Type: text/plain\r\nContent-Length: 5\r\n"
        );
    }

    #[test]
    fn chunked_framing() {
        let h = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(h.framing, ResponseFraming::Chunked);
        assert!(h.keep_alive);
        for bad in ["gzip, chunked", "chunked, gzip", "gzip", "identity", ""] {
            let raw = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {bad}\r\n\r\n");
            assert!(malformed(raw.as_bytes()), "{bad:?}");
        }
        assert!(malformed(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        assert!(malformed(
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
    }

    #[test]
    fn until_close_framing() {
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
        assert_eq!(h.framing, ResponseFraming::UntilClose);
        assert!(!h.keep_alive);
        let h = head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(h.framing, ResponseFraming::UntilClose);
        assert!(!h.keep_alive);
    }

    #[test]
    fn empty_framing() {
        for status in ["204 No Content", "304 Not Modified"] {
            let raw = format!("HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\n");
            let h = head(raw.as_bytes());
            assert_eq!(h.framing, ResponseFraming::Empty, "{status}");
            assert!(h.keep_alive);
        }
        let h = head(b"HTTP/1.1 304 Not Modified\r\n\r\n");
        assert_eq!(h.framing, ResponseFraming::Empty);
        let h = head_for(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true);
        assert_eq!(h.framing, ResponseFraming::Empty);
        assert!(h.keep_alive);
        let h = head_for(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            true,
        );
        assert_eq!(h.framing, ResponseFraming::Empty);
        // Still validated when they do not frame anything.
        assert!(malformed(
            b"HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n"
        ));
        assert!(matches!(
            parse_response_head(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                MAX,
                true
            ),
            Err(InvalidHead::Malformed(_))
        ));
    }

    #[test]
    fn keep_alive_rules() {
        assert!(
            !head(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").keep_alive
        );
        assert!(
            !head(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\nConnection: x, Close\r\n\r\n")
                .keep_alive
        );
        assert!(!head(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
        assert!(
            head(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n")
                .keep_alive
        );
    }

    #[test]
    fn interim_responses_are_skipped() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let mut at = 0;
        let mut interims = 0;
        let h = loop {
            match parse(&raw[at..]).unwrap() {
                Parsed::Interim(n) => {
                    at += n;
                    interims += 1;
                }
                Parsed::Head(h) => break h,
                Parsed::Incomplete => panic!("incomplete"),
            }
        };
        assert_eq!(interims, 2);
        assert_eq!(h.status, 200);
        assert_eq!(at + h.len, raw.len());
        assert!(matches!(
            parse(b"HTTP/1.1 102 Processing\r\n\r\n"),
            Ok(Parsed::Interim(27))
        ));
    }

    #[test]
    fn switching_protocols() {
        let raw = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: abc\r\n\r\n\x81\x05";
        let h = head(raw);
        assert_eq!(h.framing, ResponseFraming::Empty);
        assert!(!h.keep_alive);
        assert_eq!(h.len, raw.len() - 2);
        let o = RelayOptions {
            upgrade: true,
            ..opts()
        };
        let (text, framing) = client_head(raw, &o);
        assert_eq!(framing, ClientFraming::Empty);
        assert_eq!(
            without_date(&text),
            "HTTP/1.1 101 Switching Protocols\r\nServer: anx\r\nSec-WebSocket-Accept: abc\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
        );
    }

    #[test]
    fn content_length_rules() {
        // nginx refuses even an identical repeat.
        assert!(malformed(
            b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n"
        ));
        let h =
            head(b"HTTP/1.1 200 OK\r\nExpires: foo\r\nX-A: 1\r\nexpires: bar\r\nX-A: 2\r\n\r\n");
        let names: Vec<&[u8]> = h
            .fields
            .iter()
            .map(|(n, _)| {
                &b"HTTP/1.1 200 OK\r\nExpires: foo\r\nX-A: 1\r\nexpires: bar\r\nX-A: 2\r\n\r\n"
                    [n.clone()]
            })
            .collect();
        assert_eq!(
            names,
            [&b"Expires"[..], b"X-A", b"X-A"],
            "a repeated Expires is ignored"
        );
        assert!(malformed(
            b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n"
        ));
        assert!(malformed(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        assert!(malformed(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
        ));
        for bad in [
            "+3",
            "3 3",
            "0x3",
            "",
            "-1",
            "99999999999999999999",
            "18446744073709551616",
            "3,3",
            "3, 3",
        ] {
            let raw = format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n");
            assert!(malformed(raw.as_bytes()), "{bad:?}");
        }
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: 0000000000000000012\r\n\r\n");
        assert_eq!(h.framing, ResponseFraming::Length(12));
    }

    #[test]
    fn too_large_and_incomplete() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        for cut in 0..raw.len() {
            assert!(
                matches!(parse(&raw[..cut]), Ok(Parsed::Incomplete)),
                "{cut}"
            );
        }
        assert!(matches!(
            parse_response_head(raw, raw.len(), false),
            Ok(Parsed::Head(_))
        ));
        // The complete head is one byte too long.
        assert_eq!(
            parse_response_head(raw, raw.len() - 1, false).unwrap_err(),
            InvalidHead::TooLarge
        );
        // No complete head within max, however much more is buffered.
        let big = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(100));
        assert_eq!(
            parse_response_head(&big.as_bytes()[..64], 64, false).unwrap_err(),
            InvalidHead::TooLarge
        );
        assert_eq!(
            parse_response_head(big.as_bytes(), 64, false).unwrap_err(),
            InvalidHead::TooLarge
        );
        assert!(matches!(
            parse_response_head(&big.as_bytes()[..63], 64, false),
            Ok(Parsed::Incomplete)
        ));
        let many: String = (0..200).map(|i| format!("X-{i}: v\r\n")).collect();
        let raw = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
        assert!(malformed(raw.as_bytes()));
    }

    #[test]
    fn malformed_heads() {
        let cases: [&[u8]; 16] = [
            b"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA : b\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\tA: b\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA\x7f: b\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n: b\r\n\r\n",
            b"HTTP/1.1 099 Low\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1  200 OK\r\n\r\n",
            b"HTTP/1.2 200 OK\r\n\r\n",
            b"HTTP/2.0 200 OK\r\n\r\n",
            b"HTTP/1.1 200 O\rK\r\n\r\n",
            b"\r\nHTTP/1.1 200 OK\r\n\r\n",
            b"<html>hello</html>\r\n\r\n",
        ];
        for raw in cases {
            assert!(
                malformed(raw),
                "{:?} → {:?}",
                String::from_utf8_lossy(raw),
                parse(raw)
            );
        }
        // Bare LF line endings are tolerated, as nginx does.
        let h = head(b"HTTP/1.1 200 OK\nContent-Length: 1\n\nx");
        assert_eq!(h.framing, ResponseFraming::Length(1));
        assert_eq!(h.len, 35);
    }

    #[test]
    fn client_head_basic() {
        let raw = b"HTTP/1.1 200 Fine\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-App: 1\r\n\r\nhello";
        let o = RelayOptions {
            extra: b"X-Added: yes\r\n",
            ..opts()
        };
        let (text, framing) = client_head(raw, &o);
        assert_eq!(framing, ClientFraming::Length(5));
        assert!(
            text.starts_with("HTTP/1.1 200 Fine\r\nServer: anx\r\nDate: "),
            "{text}"
        );
        assert_eq!(
            without_date(&text),
            "HTTP/1.1 200 Fine\r\nServer: anx\r\nContent-Type: text/plain\r\nX-App: 1\r\nContent-Length: 5\r\nConnection: keep-alive\r\nX-Added: yes\r\n\r\n"
        );
        let o = RelayOptions {
            server_tokens: true,
            keep_alive: false,
            ..opts()
        };
        let (text, _) = client_head(raw, &o);
        assert!(
            text.contains(concat!(
                "\r\nServer: anx/",
                env!("CARGO_PKG_VERSION"),
                "\r\n"
            )),
            "{text}"
        );
        assert!(text.ends_with("Connection: close\r\n\r\n"), "{text}");
    }

    #[test]
    fn reason_phrases() {
        let reason_of = |raw: &[u8]| {
            let (text, _) = client_head(raw, &opts());
            text.split("\r\n").next().unwrap().to_string()
        };
        assert_eq!(
            reason_of(b"HTTP/1.1 404 Nope nope\r\nContent-Length: 0\r\n\r\n"),
            "HTTP/1.1 404 Nope nope"
        );
        assert_eq!(
            reason_of(b"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"),
            "HTTP/1.1 404 Not Found"
        );
        assert_eq!(
            reason_of(b"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"),
            "HTTP/1.1 404 Not Found"
        );
        assert_eq!(
            reason_of(b"HTTP/1.1 404 Caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n"),
            "HTTP/1.1 404 Not Found"
        );
        assert_eq!(
            reason_of(b"HTTP/1.1 404 a\tb\r\nContent-Length: 0\r\n\r\n"),
            "HTTP/1.1 404 Not Found"
        );
        assert_eq!(
            reason_of(b"HTTP/1.0 599\nContent-Length: 0\n\n"),
            "HTTP/1.1 599 "
        );
    }

    #[test]
    fn hop_by_hop_fields_are_stripped() {
        let raw = b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: timeout=5\r\nX-Secret: s\r\nProxy-Authenticate: Basic\r\nTrailer: X-T\r\nUpgrade: h2c\r\nTransfer-Encoding: chunked\r\nX-Public: p\r\n\r\n";
        let (text, framing) = client_head(raw, &opts());
        assert_eq!(framing, ClientFraming::Chunked);
        assert_eq!(
            without_date(&text),
            "HTTP/1.1 200 OK\r\nServer: anx\r\nX-Public: p\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn hidden_fields_and_options() {
        let raw = b"HTTP/1.1 200 OK\r\nServer: gunicorn\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nX-Pad: avoid browser bug\r\nX-Accel-Redirect: /internal\r\nX-Accel-Buffering: no\r\nX-Powered-By: php\r\nX-Keep: k\r\nContent-Length: 0\r\n\r\n";
        let (text, _) = client_head(raw, &opts());
        assert_eq!(
            without_date(&text),
            "HTTP/1.1 200 OK\r\nServer: anx\r\nX-Powered-By: php\r\nX-Keep: k\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
        );
        assert_eq!(text.matches("Date: ").count(), 1);
        assert!(!text.contains("1970"));

        let hide = ["x-powered-by".to_string()];
        let pass = ["server".to_string(), "x-accel-buffering".to_string()];
        let o = RelayOptions {
            hide: &hide,
            pass: &pass,
            server_tokens: true,
            ..opts()
        };
        let (text, _) = client_head(raw, &o);
        assert_eq!(
            without_date(&text),
            "HTTP/1.1 200 OK\r\nServer: gunicorn\r\nX-Accel-Buffering: no\r\nX-Keep: k\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
        );
        // The upstream's Date passed means anx adds none of its own.
        let pass = ["date".to_string()];
        let o = RelayOptions {
            pass: &pass,
            ..opts()
        };
        let (text, _) = client_head(raw, &o);
        assert_eq!(text.matches("Date: ").count(), 1);
        assert!(text.contains("Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"));
        // Passing Server with no upstream Server still gets anx's.
        let pass = ["server".to_string()];
        let o = RelayOptions {
            pass: &pass,
            ..opts()
        };
        let (text, _) = client_head(b"HTTP/1.1 204 No Content\r\n\r\n", &o);
        assert!(text.contains("\r\nServer: anx\r\n"), "{text}");
    }

    #[test]
    fn location_and_refresh_rewritten() {
        let raw = b"HTTP/1.1 302 Found\r\nLocation: http://backend:8080/a\r\nRefresh: 5; url=http://backend:8080/b\r\nContent-Location: http://backend:8080/c\r\nContent-Length: 0\r\n\r\n";
        let h = head(raw);
        let mut seen = Vec::new();
        let mut out = Vec::new();
        write_client_head(&mut out, &h, raw, &opts(), &mut |_, v| {
            seen.push(v.to_vec());
            v.starts_with(b"http://backend:8080/")
                .then(|| [&b"https://example.com/"[..], &v[20..]].concat())
        });
        let text = String::from_utf8(out).unwrap();
        assert_eq!(seen.len(), 2);
        assert!(
            text.contains("\r\nLocation: https://example.com/a\r\n"),
            "{text}"
        );
        // The whole Refresh value goes to the callback (serve::proxy cuts out its URL).
        assert!(
            text.contains("\r\nRefresh: 5; url=http://backend:8080/b\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nContent-Location: http://backend:8080/c\r\n"),
            "{text}"
        );

        // A replacement that would split the head is ignored.
        let mut out = Vec::new();
        write_client_head(&mut out, &h, raw, &opts(), &mut |_, _| {
            Some(b"/x\r\nSet-Cookie: a=b".to_vec())
        });
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("\r\nLocation: http://backend:8080/a\r\n"),
            "{text}"
        );
        assert!(!text.contains("Set-Cookie"));
    }

    #[test]
    fn client_framing_choices() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let close = b"HTTP/1.0 200 OK\r\n\r\n";
        for raw in [&chunked[..], close] {
            let (text, framing) = client_head(raw, &opts());
            assert_eq!(framing, ClientFraming::Chunked);
            assert!(text.contains("\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n"));
            let o = RelayOptions {
                client_minor: 0,
                ..opts()
            };
            let (text, framing) = client_head(raw, &o);
            assert_eq!(framing, ClientFraming::Close);
            assert!(!text.contains("Transfer-Encoding"), "{text}");
            assert!(!text.contains("Content-Length"), "{text}");
            assert!(text.ends_with("\r\nConnection: close\r\n\r\n"), "{text}");
        }
        let o = RelayOptions {
            client_minor: 0,
            ..opts()
        };
        let (text, framing) = client_head(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", &o);
        assert_eq!(framing, ClientFraming::Length(3));
        assert!(text.ends_with("\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n"));
        let (text, framing) = client_head(
            b"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
            &opts(),
        );
        assert_eq!(framing, ClientFraming::Empty);
        assert!(!text.contains("Content-Length"), "{text}");
    }

    #[test]
    fn head_request_keeps_content_length() {
        let o = RelayOptions {
            head_request: true,
            ..opts()
        };
        let (text, framing) = client_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", &o);
        assert_eq!(framing, ClientFraming::Empty);
        assert!(text.contains("\r\nContent-Length: 1234\r\n"), "{text}");
        let (text, framing) =
            client_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &o);
        assert_eq!(framing, ClientFraming::Empty);
        assert!(
            !text.contains("Content-Length") && !text.contains("Transfer-Encoding"),
            "{text}"
        );
        let (text, _) = client_head(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
            &o,
        );
        assert!(!text.contains("Content-Length"), "{text}");
    }

    /// Deterministic xorshift, so a failure reproduces.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    fn check_no_panic(buf: &[u8], max: usize) {
        for head_request in [false, true] {
            if let Ok(Parsed::Head(h)) = parse_response_head(buf, max, head_request) {
                assert!(h.len <= buf.len() && h.len <= max);
                for (n, v) in &h.fields {
                    assert!(n.end <= h.len && v.end <= h.len);
                    assert!(!buf[v.clone()]
                        .iter()
                        .any(|&b| matches!(b, b'\r' | b'\n' | 0)));
                }
                for upgrade in [false, true] {
                    let o = RelayOptions {
                        head_request,
                        upgrade,
                        client_minor: (h.len % 2) as u8,
                        ..opts()
                    };
                    let mut out = Vec::new();
                    write_client_head(&mut out, &h, buf, &o, &mut |_, v| Some(v.to_vec()));
                    assert!(out.ends_with(b"\r\n\r\n"));
                }
                let _ = raw_fields(&h, buf);
            } else if let Ok(Parsed::Interim(n)) = parse_response_head(buf, max, head_request) {
                assert!(n <= buf.len() && n <= max);
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        let seeds: [&[u8]; 4] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close, x\r\nLocation: /a\r\n\r\nhello",
            b"HTTP/1.0 101 Switching Protocols\nUpgrade: websocket\n\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 599 \xff\xfe\r\nTransfer-Encoding: chunked\r\nX: \x80\r\n\r\n",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for seed in seeds {
            for cut in 0..=seed.len() {
                check_no_panic(&seed[..cut], MAX);
                check_no_panic(&seed[..cut], cut / 2);
            }
            for _ in 0..2000 {
                let mut m = seed.to_vec();
                for _ in 0..1 + next(&mut state) % 4 {
                    let at = (next(&mut state) as usize) % m.len();
                    let byte = next(&mut state) as u8;
                    match next(&mut state) % 3 {
                        0 => m[at] = byte,
                        1 => m.insert(at, byte),
                        _ => {
                            m.remove(at);
                        }
                    }
                    if m.is_empty() {
                        break;
                    }
                }
                check_no_panic(&m, MAX);
                check_no_panic(&m, m.len() / 2);
            }
        }
        for _ in 0..2000 {
            let len = (next(&mut state) % 64) as usize;
            let mut m = b"HTTP/1.1 ".to_vec();
            m.extend((0..len).map(|_| next(&mut state) as u8));
            check_no_panic(&m, MAX);
            check_no_panic(&m[9..], MAX);
        }
    }
}
