//! The upstream's response head, sans-io: parsing what an upstream sends back, and writing
//! the head the client gets (hop-by-hop fields and hidden fields dropped, Location rewritten,
//! anx's Server and Date, framing chosen for the client).
//!
//! `serve::proxy` reads from the upstream into a buffer and calls [`parse_response_head`];
//! once it has a head it calls [`write_client_head`] and relays the body by the framings
//! both return.

use std::ops::Range;

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
pub fn parse_response_head(
    _buf: &[u8],
    _max: usize,
    _head_request: bool,
) -> Result<Parsed, InvalidHead> {
    todo!()
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
}

/// Writes the client-facing head for `head` (fields read from `buf`) into `out`.
/// `rewrite_location` gets each `Location` and `Refresh` value and returns a replacement
/// (`proxy_redirect`), or `None` to keep it.
pub fn write_client_head(
    _out: &mut Vec<u8>,
    _head: &UpstreamHead,
    _buf: &[u8],
    _opts: &RelayOptions,
    _rewrite_location: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
) -> ClientFraming {
    todo!()
}

/// Appends a chunk header for `len` bytes of data ("1a2b\r\n"); the data and its "\r\n"
/// follow.
pub fn chunk_header(out: &mut Vec<u8>, len: usize) {
    use std::io::Write;
    let _ = write!(out, "{len:x}\r\n");
}

/// The last chunk and the end of an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
