//! Responses as handlers and filters build them, and the HTTP/1.1 head writer.
//!
//! A handler returns a [`Response`] whose [`Body`] says how the bytes go out (in memory, or a
//! file range that `serve/` sends with sendfile); filters adjust status and fields; the writer
//! here turns it into head bytes. The memory cache hands over prebuilt field lines so a hot
//! file's head is one memcpy plus the Date.

use std::fs::File;
use std::rc::Rc;

use super::status::{is_bodyless, reason};
use super::validators::http_date;

/// A byte range of an open file.
#[derive(Debug, Clone)]
pub struct FileRange {
    pub file: Rc<File>,
    pub offset: u64,
    pub len: u64,
}

/// One part of a multipart/byteranges body: its part head, then a slice of the entity.
#[derive(Debug, Clone)]
pub struct Part {
    pub head: Vec<u8>,
    pub body: Body,
}

#[derive(Debug, Clone, Default)]
pub enum Body {
    #[default]
    Empty,
    Bytes(Vec<u8>),
    /// Shared with the shard's memory cache; `start..end` of it is sent.
    Shared {
        bytes: Rc<[u8]>,
        start: usize,
        end: usize,
    },
    File(FileRange),
    Multipart {
        parts: Vec<Part>,
        closing: Vec<u8>,
    },
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Shared { start, end, .. } => (end - start) as u64,
            Body::File(f) => f.len,
            Body::Multipart { parts, closing } => {
                parts
                    .iter()
                    .map(|p| p.head.len() as u64 + p.body.len())
                    .sum::<u64>()
                    + closing.len() as u64
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a handler answers; filters may change it before it is written.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    /// Seconds since the epoch, for Last-Modified and conditional requests.
    pub last_modified: Option<i64>,
    pub etag: Option<String>,
    /// `Location` (nginx's `headers_out.location`): kept apart from `extra` because a
    /// relative one is made absolute at the end of the request path (`filters::location`).
    pub location: Option<Vec<u8>>,
    /// Other field lines, each "Name: value\r\n".
    pub extra: Vec<u8>,
    /// Prebuilt Content-Type … Accept-Ranges lines of a cached 200; used instead of the
    /// structured fields above while set. Filters that change the response clear it.
    pub cached_fields: Option<Rc<[u8]>>,
    pub body: Body,
    /// Ranges are meaningful for this body (`Accept-Ranges: bytes`).
    pub accept_ranges: bool,
    /// The connection must close after this response.
    pub close: bool,
    /// Close the connection without sending anything (nginx's `return 444`).
    pub abort: bool,
    /// An `add_trailer` applies to this status (nginx's `expect_trailers`, set by the
    /// headers filter): the writer sends an HTTP/1.1 body chunked, ending in the trailers.
    pub trailers: bool,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            ..Response::default()
        }
    }

    /// Appends one "Name: value\r\n" field line.
    pub fn add_field(&mut self, name: &str, value: &str) {
        self.add_field_bytes(name, value.as_bytes());
    }

    /// [`Response::add_field`] for a value that need not be UTF-8 (from variables).
    pub fn add_field_bytes(&mut self, name: &str, value: &[u8]) {
        self.extra.extend_from_slice(name.as_bytes());
        self.extra.extend_from_slice(b": ");
        self.extra.extend_from_slice(value);
        self.extra.extend_from_slice(b"\r\n");
    }

    /// Removes every field line named `name` (ASCII case-insensitive) from `extra`.
    pub fn remove_field(&mut self, name: &str) {
        let mut kept = Vec::with_capacity(self.extra.len());
        for line in self.extra.split_inclusive(|&b| b == b'\n') {
            let named = memchr::memchr(b':', line)
                .is_some_and(|c| line[..c].eq_ignore_ascii_case(name.as_bytes()));
            if !named {
                kept.extend_from_slice(line);
            }
        }
        self.extra = kept;
    }

    /// Drops prebuilt fields so that the structured ones are written instead.
    pub fn uncache(&mut self) {
        self.cached_fields = None;
    }

    /// The value of response field `name` (ASCII case-insensitive) as it will be sent, for
    /// `$sent_http_NAME` (repeated fields joined with ", ", as nginx since 1.23). Fields
    /// the writer adds itself (Server, Date, Connection) are not seen here; nginx's
    /// variables do not see them either until the head is written.
    pub fn field_value(&self, name: &[u8]) -> Option<Vec<u8>> {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if self.cached_fields.is_none() {
            if is("content-type") {
                return self.content_type.as_ref().map(|c| c.as_bytes().to_vec());
            }
            if is("content-length") {
                return (!is_bodyless(self.status)).then(|| {
                    itoa::Buffer::new()
                        .format(self.body.len())
                        .as_bytes()
                        .to_vec()
                });
            }
            if is("last-modified") {
                return self.last_modified.map(|t| http_date(t).into_bytes());
            }
            if is("etag") {
                return self.etag.as_ref().map(|e| e.as_bytes().to_vec());
            }
            if is("accept-ranges") {
                return (self.accept_ranges && self.status == 200).then(|| b"bytes".to_vec());
            }
        }
        if is("location") {
            return self.location.clone();
        }
        let mut found = None;
        if let Some(cached) = self.cached_fields.as_deref() {
            joined_value(cached, name, &mut found);
        }
        joined_value(&self.extra, name, &mut found);
        found
    }
}

/// Adds the value of every "Name: value\r\n" line of `block` named `name` (ASCII
/// case-insensitive) to `found`, joined with ", " as nginx's `$sent_http_*` and
/// `$sent_trailer_*` give repeated fields.
pub fn joined_value(block: &[u8], name: &[u8], found: &mut Option<Vec<u8>>) {
    for line in block.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        if !line[..colon].eq_ignore_ascii_case(name) {
            continue;
        }
        // A field value has no leading or trailing white space (RFC 9110 §5.5).
        let v = crate::http::request::trim_ows(&line[colon + 1..]);
        match found {
            None => *found = Some(v.to_vec()),
            Some(all) => {
                all.extend_from_slice(b", ");
                all.extend_from_slice(v);
            }
        }
    }
}

/// Values the writer adds to every head.
pub struct HeadContext {
    /// `Server: anx/VERSION` (server_tokens on) or `Server: anx`.
    pub server_tokens: bool,
    pub keep_alive: bool,
    /// `keepalive_timeout`'s header timeout in seconds: `Keep-Alive: timeout=N` with
    /// keep-alive.
    pub keepalive_header: Option<u64>,
    /// The body goes chunked (it ends in `add_trailer` fields): `Transfer-Encoding:
    /// chunked` instead of Content-Length.
    pub chunked: bool,
}

/// Builds the field lines a cached 200 shares between requests (see `cached_fields`).
pub fn cached_field_lines(
    content_type: &str,
    len: u64,
    last_modified: Option<i64>,
    etag: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    write_entity_fields(
        &mut out,
        Some(content_type),
        Some(len),
        last_modified,
        etag,
        true,
    );
    out
}

fn write_entity_fields(
    out: &mut Vec<u8>,
    content_type: Option<&str>,
    content_length: Option<u64>,
    last_modified: Option<i64>,
    etag: Option<&str>,
    accept_ranges: bool,
) {
    if let Some(ct) = content_type {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(ct.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(len) = content_length {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(t) = last_modified {
        out.extend_from_slice(b"Last-Modified: ");
        out.extend_from_slice(http_date(t).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(tag) = etag {
        out.extend_from_slice(b"ETag: ");
        out.extend_from_slice(tag.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if accept_ranges {
        out.extend_from_slice(b"Accept-Ranges: bytes\r\n");
    }
}

/// Appends the status line and header section of `resp` to `out`.
pub fn write_head(out: &mut Vec<u8>, resp: &Response, ctx: &HeadContext) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(resp.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(resp.status).as_bytes());
    out.extend_from_slice(if ctx.server_tokens {
        concat!("\r\nServer: anx/", env!("CARGO_PKG_VERSION"), "\r\nDate: ").as_bytes()
    } else {
        b"\r\nServer: anx\r\nDate: "
    });
    super::date::append_now(out);
    out.extend_from_slice(b"\r\n");
    match &resp.cached_fields {
        // The prebuilt lines carry a Content-Length.
        Some(fields) if !ctx.chunked => out.extend_from_slice(fields),
        _ => {
            let bodyless = is_bodyless(resp.status);
            write_entity_fields(
                out,
                resp.content_type.as_deref().filter(|_| resp.status != 304),
                (!bodyless && !ctx.chunked).then(|| resp.body.len()),
                resp.last_modified,
                resp.etag.as_deref(),
                resp.accept_ranges && resp.status == 200,
            );
            if ctx.chunked {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            }
        }
    }
    if let Some(location) = &resp.location {
        out.extend_from_slice(b"Location: ");
        out.extend_from_slice(location);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&resp.extra);
    if ctx.keep_alive && !resp.close {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
        if let Some(t) = ctx.keepalive_header {
            out.extend_from_slice(b"Keep-Alive: timeout=");
            out.extend_from_slice(itoa::Buffer::new().format(t).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(b"Connection: close\r\n\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_field_values_join_repeated_fields() {
        let mut r = Response::new(200);
        r.add_field("Cache-Control", "max-age=1");
        r.add_field("X-A", "one");
        r.add_field("cache-control", "private");
        r.add_field("X-A", "two");
        assert_eq!(
            r.field_value(b"Cache-Control").as_deref(),
            Some(&b"max-age=1, private"[..])
        );
        assert_eq!(r.field_value(b"x-a").as_deref(), Some(&b"one, two"[..]));
        assert_eq!(r.field_value(b"link"), None);
    }

    fn head_of(resp: &Response, keep_alive: bool) -> String {
        let mut out = Vec::new();
        write_head(
            &mut out,
            resp,
            &HeadContext {
                server_tokens: false,
                keep_alive,
                keepalive_header: None,
                chunked: false,
            },
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn structured_head() {
        let mut r = Response::new(200);
        r.content_type = Some("text/html".into());
        r.body = Body::Bytes(b"hello".to_vec());
        r.etag = Some("\"1-5\"".into());
        r.add_field("X-A", "b");
        let h = head_of(&r, true);
        assert!(
            h.starts_with("HTTP/1.1 200 OK\r\nServer: anx\r\nDate: "),
            "{h}"
        );
        assert!(h.contains("\r\nContent-Type: text/html\r\nContent-Length: 5\r\nETag: \"1-5\"\r\nX-A: b\r\nConnection: keep-alive\r\n\r\n"), "{h}");
    }

    #[test]
    fn not_modified_has_no_length_or_type() {
        let mut r = Response::new(304);
        r.content_type = Some("text/html".into());
        r.etag = Some("\"1-5\"".into());
        let h = head_of(&r, false);
        assert!(!h.contains("Content-Length"), "{h}");
        assert!(!h.contains("Content-Type"), "{h}");
        assert!(h.ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn cached_fields_used_verbatim() {
        let mut r = Response::new(200);
        r.cached_fields = Some(Rc::from(cached_field_lines(
            "text/plain",
            3,
            Some(0),
            Some("\"0-3\""),
        )));
        let h = head_of(&r, true);
        assert!(h.contains("Content-Type: text/plain\r\nContent-Length: 3\r\nLast-Modified: Thu, 01 Jan 1970 00:00:00 GMT\r\nETag: \"0-3\"\r\nAccept-Ranges: bytes\r\n"), "{h}");
    }
}
