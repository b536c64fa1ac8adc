//! What one request carries through the phases: the received head, and the state the phases
//! change (current URI and args, regex captures, `set` variables, map results, the location).
//!
//! `pipeline::begin` creates a [`RequestState`] when the server is chosen; every phase reads
//! and updates it; `serve::h1` keeps it after the response so the access log sees the same
//! `$uri`, captures and variables the request ended with. Nothing here allocates until a
//! phase needs it (a plain static GET only owns its normalised URI).

use std::time::Instant;

use crate::config::model::{Location, Pattern, SockAddr};
use crate::http::request::{RequestHead, RequestLine};

/// nginx's `NGX_HTTP_MAX_URI_CHANGES` + 1: the eleventh URI change is a cycle (500).
pub const URI_CHANGES: u8 = 11;

/// What the connection knows about itself; `serve::h1` fills it per request.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// `$remote_addr`, `$remote_port`.
    pub peer: SockAddr,
    /// `$server_addr`, `$server_port`: the local end of the connection.
    pub local: SockAddr,
    /// The PROXY protocol header the connection began with (`$proxy_protocol_*`); only on
    /// a `listen … proxy_protocol` address.
    pub proxy: Option<std::rc::Rc<crate::net::proxy_protocol::ProxyHeader>>,
    /// `$connection`: serial number of the connection.
    pub serial: u64,
    /// `$connection_requests`: requests on this connection so far, this one included.
    pub requests: u64,
    /// `$pipe`: this request's bytes were read before the previous response was done.
    pub pipelined: bool,
    /// What the TLS handshake settled (`$ssl_*`, `$https`, `$scheme`); `None` on a plain
    /// connection. Built once per connection by the connection side, shared by its requests.
    pub tls: Option<std::rc::Rc<crate::tls::TlsInfo>>,
    /// When the connection was accepted (`$connection_time`, `keepalive_time`).
    pub born: Instant,
}

/// The request as received: its parsed head and the bytes the head's positions index.
#[derive(Clone, Copy)]
pub struct Received<'r> {
    pub head: &'r RequestHead,
    pub buf: &'r [u8],
    pub conn: &'r ConnInfo,
    /// When the head was complete (`$request_time` counts from here).
    pub started: Instant,
}

impl<'r> Received<'r> {
    /// A request header (first of that name, ASCII case-insensitive).
    pub fn field(&self, name: &str) -> Option<&'r [u8]> {
        self.head.field(self.buf, name)
    }

    /// `$request_uri`: the target as sent (origin form; absolute form without scheme and host).
    pub fn target(&self) -> &'r [u8] {
        &self.buf[self.head.path_and_query.clone()]
    }

    /// The query of the target, without '?' and any `#fragment`; `None` when there is none
    /// (no '?', or nothing after it: nginx's `$args` is "not found" for "/x?" too).
    pub fn query(&self) -> Option<&'r [u8]> {
        let q = &self.buf[self.head.query.clone()?];
        (!q.is_empty()).then_some(q)
    }

    /// The path of the target as sent (before decoding): up to '?' or '#', empty for an
    /// absolute-form target without one.
    pub fn raw_path(&self) -> &'r [u8] {
        &self.buf[self.head.path.clone()]
    }

    /// `$request`: method, target and version (see [`RequestLine`]).
    pub fn request_line(&self) -> RequestLine<'r> {
        self.head.request_line(self.buf)
    }
}

/// `$args` as the phases left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// Still the query of the request target (no copy made).
    Request,
    /// Cleared by an internal redirect without `?` (nginx: "not found", `-` in logs).
    None,
    /// Replaced by a rewrite or a redirect target.
    Owned(Vec<u8>),
}

/// Captures of the last successful regex (`$0`..`$9`), owned: the subject may change later.
#[derive(Debug, Clone, Default)]
pub struct Captures {
    subject: Vec<u8>,
    groups: Vec<Option<(usize, usize)>>,
}

impl Captures {
    /// Capture `n` (`$n`); `None` when absent or the regex had fewer groups.
    pub fn get(&self, n: usize) -> Option<&[u8]> {
        let (s, e) = (*self.groups.get(n)?)?;
        self.subject.get(s..e)
    }

    /// No captures (`$1`… read empty).
    pub fn clear(&mut self) {
        self.groups.clear();
    }

    fn set(&mut self, subject: &[u8], caps: &regex::bytes::Captures) {
        self.subject.clear();
        self.subject.extend_from_slice(subject);
        self.groups.clear();
        self.groups
            .extend((0..caps.len()).map(|i| caps.get(i).map(|m| (m.start(), m.end()))));
    }
}

/// A `map` result: computed on first use, then kept for the rest of the request.
#[derive(Debug, Clone, Default)]
pub enum MapSlot {
    #[default]
    Unset,
    /// Being computed (a map that depends on itself reads empty, not forever).
    Busy,
    Done(Vec<u8>),
}

/// The state the phases share for one request.
#[derive(Debug)]
pub struct RequestState<'c> {
    /// `$uri`: the normalised path, changed by rewrites and internal redirects.
    pub uri: Vec<u8>,
    pub args: Args,
    /// Reached by an internal redirect or a rewrite: `internal` locations may answer.
    pub internal: bool,
    /// A rewrite without `break` changed the URI: search the location again.
    pub uri_changed: bool,
    /// nginx's `valid_location`: cleared when a `break` keeps a rewritten URI in the
    /// location, so `proxy_pass` with a URI part then passes the new URI whole.
    pub valid_location: bool,
    /// `set $limit_rate`: replaces the location's `limit_rate` for this response.
    pub limit_rate: Option<u64>,
    /// URI changes left before the request is a cycle (see [`URI_CHANGES`]).
    pub uri_changes_left: u8,
    /// The location chosen last (the one whose settings apply).
    pub location: Option<&'c Location>,
    pub captures: Captures,
    /// Named captures, as variables: they stay set until a later regex sets them again.
    pub named: Vec<(&'c str, Vec<u8>)>,
    /// `set` variables, indexed like `Config::user_vars` (sized on first `set`).
    pub user: Vec<Option<Vec<u8>>>,
    /// `map` results, indexed like `Config::maps` (sized on first use).
    pub maps: Vec<MapSlot>,
    /// `geo` results (non-volatile ones), indexed like `Config::geos`.
    pub geo: Vec<MapSlot>,
    /// `split_clients` results, indexed like `Config::split_clients`.
    pub splits: Vec<MapSlot>,
    /// `$request_id`, drawn on first use.
    pub request_id: Option<[u8; 32]>,
    /// An error page redirected this request: it runs as GET (HEAD stays HEAD).
    pub as_get: bool,
    /// try_files matched in a location whose alias names a whole file (regex location): the
    /// URI it settled on is appended to that alias from now on (nginx's add_uri_to_alias).
    pub alias_takes_uri: bool,
    /// `error_page` already redirected once: later errors get the built-in page.
    pub error_page_used: bool,
    /// A matched `if` with `proxy_pass` set the content handler, and a later matched `if`
    /// brought a configuration without one: nginx keeps the handler and finds no upstream
    /// configuration (500).
    pub handler_without_upstream: bool,
    /// The status an error page keeps (nginx's `err_status`); 0 when none.
    pub err_status: u16,
    /// The status a `return` is answering with, for `$status` in its own text (nginx has
    /// set `headers_out.status` by then); 0 before.
    pub status: u16,
    /// The Location and other fields of a response an error page replaced: nginx keeps its
    /// response headers across the redirect, so the error page's answer carries them.
    pub location_field: Option<Vec<u8>>,
    pub carried_fields: Vec<u8>,
    /// The Content-Type of an upstream answer whose X-Accel-Redirect started this request
    /// again: the redirected answer's type unless it has none (nginx's handlers keep a
    /// type already set).
    pub carried_type: Option<String>,
    /// A static file allowed ranges once: nginx's `allow_ranges` stays set for the rest of
    /// the request (an error page's answer honours Range too).
    pub ranges_allowed: bool,
    /// Keep-alive is off for this request (an error nginx closes after, e.g. 400, 413, 500),
    /// whatever page ends up answering it.
    pub close: bool,
    /// `$proxy_host` / `$proxy_port` of the proxy_pass in effect (set by `handlers::proxy`
    /// before it evaluates `proxy_set_header`).
    pub proxy_target: Option<(Vec<u8>, u16)>,
    /// What the upstream exchange recorded, for `$upstream_*` (filled by `serve::proxy`).
    pub upstream: Option<Box<UpstreamVars>>,
    /// The request body as read for a handler, for `$request_body` / `$request_body_file`
    /// (filled by `serve::proxy` once a buffered body is complete).
    pub body: Option<BodyVars>,
}

/// Where a read request body is: in memory (`$request_body`), or in a file
/// (`$request_body_file`; `$request_body` is then empty, as nginx).
#[derive(Debug, Clone, Default)]
pub struct BodyVars {
    pub memory: Option<std::rc::Rc<Vec<u8>>>,
    pub file: Option<std::path::PathBuf>,
}

/// What one proxied request learnt from its upstream attempts, for the `$upstream_*`
/// variables. Lists have one entry per attempt, printed as nginx does (", " between peers).
#[derive(Debug, Clone, Default)]
pub struct UpstreamVars {
    /// `$upstream_addr`: the peers tried, in order ("127.0.0.1:9000, unix:/run/app.sock").
    pub addr: Vec<Vec<u8>>,
    /// `$upstream_status`, one per attempt (502/504 for an attempt that got no response).
    pub status: Vec<u16>,
    /// `$upstream_connect_time`, `$upstream_header_time`, `$upstream_response_time` per
    /// attempt, in seconds (`None` prints `-`).
    pub connect_time: Vec<Option<f64>>,
    pub header_time: Vec<Option<f64>>,
    pub response_time: Vec<Option<f64>>,
    /// `$upstream_bytes_received` / `$upstream_bytes_sent` (summed over attempts).
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// The last response head received, raw ("Name: value\r\n" lines), for
    /// `$upstream_http_NAME`.
    pub head_fields: Vec<u8>,
    /// `$upstream_response_length`: body bytes received per attempt (0 for one that got
    /// no response).
    pub response_length: Vec<u64>,
}

impl<'c> RequestState<'c> {
    pub fn new(uri: Vec<u8>) -> RequestState<'c> {
        RequestState {
            uri,
            args: Args::Request,
            internal: false,
            uri_changed: false,
            valid_location: true,
            limit_rate: None,
            uri_changes_left: URI_CHANGES,
            location: None,
            captures: Captures::default(),
            named: Vec::new(),
            user: Vec::new(),
            maps: Vec::new(),
            geo: Vec::new(),
            splits: Vec::new(),
            request_id: None,
            as_get: false,
            alias_takes_uri: false,
            handler_without_upstream: false,
            error_page_used: false,
            err_status: 0,
            status: 0,
            location_field: None,
            carried_fields: Vec::new(),
            carried_type: None,
            ranges_allowed: false,
            close: false,
            proxy_target: None,
            upstream: None,
            body: None,
        }
    }

    /// `$args`: `None` when there are none at all (no '?'), as nginx's "not found".
    pub fn args<'a>(&'a self, req: &Received<'a>) -> Option<&'a [u8]> {
        match &self.args {
            Args::Request => req.query(),
            Args::None => None,
            Args::Owned(a) => Some(a),
        }
    }

    /// Runs `pattern` on the current URI, recording captures on a match.
    pub fn match_uri(&mut self, pattern: &'c Pattern) -> bool {
        regex_match(&mut self.captures, &mut self.named, pattern, &self.uri)
    }

    /// Runs `pattern` on `subject`, recording captures on a match.
    pub fn match_bytes(&mut self, pattern: &'c Pattern, subject: &[u8]) -> bool {
        regex_match(&mut self.captures, &mut self.named, pattern, subject)
    }

    /// Counts one URI change; false when that makes a cycle (the request must end in 500).
    pub fn count_uri_change(&mut self) -> bool {
        self.uri_changes_left = self.uri_changes_left.saturating_sub(1);
        self.uri_changes_left > 0
    }

    /// The value of `$name` from a named capture.
    pub fn named_capture(&self, name: &str) -> Option<&[u8]> {
        self.named
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Runs a regex as nginx does: a match replaces the numbered captures (a regex without
/// groups leaves `$1`… empty, as nginx 1.22 does) and sets its named groups as variables; a
/// miss changes nothing here (the rewrite module clears captures on a miss itself). A regex
/// without groups runs as `is_match`; one with groups runs once, for its captures (the
/// regex crate finds the match before it extracts groups, so a miss costs no more).
pub fn regex_match<'c>(
    captures: &mut Captures,
    named: &mut Vec<(&'c str, Vec<u8>)>,
    pattern: &'c Pattern,
    subject: &[u8],
) -> bool {
    let re = &pattern.regex;
    if re.captures_len() <= 1 {
        if !re.is_match(subject) {
            return false;
        }
        captures.clear();
        return true;
    }
    let Some(caps) = re.captures(subject) else {
        return false;
    };
    captures.set(subject, &caps);
    for (i, name) in re.capture_names().enumerate() {
        let Some(name) = name else { continue };
        let value = caps
            .get(i)
            .map(|m| m.as_bytes().to_vec())
            .unwrap_or_default();
        match named.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => named.push((name, value)),
        }
    }
    true
}
