//! Upstream application servers for the proxy tests: small, real HTTP/1.1 servers on
//! loopback (TCP or a unix socket), one std thread per connection.
//!
//! A [`Backend`] records every request it reads (request line, header fields, the body —
//! kept up to [`BODY_KEEP`] bytes, counted and checked against the [`stream_byte`] pattern
//! in full) and counts the TCP connections it accepted. A handler chooses the [`Reply`] to
//! each request: fixed text, an echo of what arrived, a chunked body, a generated body of
//! any length (the [`stream_byte`] pattern, never held in memory), a delay, no answer at
//! all, a response cut off after part of the body, raw bytes (a malformed head), a
//! server-sent-event stream, or a WebSocket echo session.
//!
//! Connections are keep-alive: requests are served one after another until the client sends
//! `Connection: close` (or speaks HTTP/1.0 without keep-alive), a reply says
//! [`Reply::close`], or the client goes away.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Bodies longer than this are counted and pattern-checked but only this much is kept.
pub const BODY_KEEP: usize = 4 << 20;

/// Length of the repeating block behind [`stream_byte`] (a prime, so it does not line up
/// with buffer sizes).
pub const STREAM_BLOCK: usize = 65_521;

/// The repeating block of the generated-body pattern.
pub fn stream_block() -> &'static [u8] {
    static BLOCK: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BLOCK.get_or_init(|| super::pattern(STREAM_BLOCK, 0x5eed))
}

/// Byte `i` of the generated-body pattern.
pub fn stream_byte(i: u64) -> u8 {
    stream_block()[(i % STREAM_BLOCK as u64) as usize]
}

/// True if `data` equals the pattern starting at offset `at` (compares slices, so it is
/// fast even in an unoptimised test build).
pub fn matches_stream(at: u64, data: &[u8]) -> bool {
    let block = stream_block();
    let mut pos = (at % STREAM_BLOCK as u64) as usize;
    let mut rest = data;
    while !rest.is_empty() {
        let n = rest.len().min(STREAM_BLOCK - pos);
        if rest[..n] != block[pos..pos + n] {
            return false;
        }
        rest = &rest[n..];
        pos = 0;
    }
    true
}

/// Writes `len` bytes of the pattern from offset 0 to `w`.
pub fn write_stream(w: &mut impl Write, len: u64) -> std::io::Result<()> {
    let block = stream_block();
    let mut left = len;
    while left > 0 {
        let n = left.min(STREAM_BLOCK as u64) as usize;
        w.write_all(&block[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// One request as the backend received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Which accepted connection it came on (0, 1, … in accept order).
    pub conn: usize,
    pub method: String,
    pub target: String,
    /// "HTTP/1.1" or "HTTP/1.0".
    pub version: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The head exactly as received (request line to the blank line).
    pub raw_head: Vec<u8>,
    /// The body (de-chunked), up to [`BODY_KEEP`] bytes.
    pub body: Vec<u8>,
    /// Full body length.
    pub body_len: u64,
    /// The whole body equals the [`stream_byte`] pattern.
    pub body_is_stream: bool,
    /// It came with `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// When its head was complete.
    pub at: Instant,
}

impl Request {
    /// The first value of `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// The target's query part (after '?'), if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The path (before '?').
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The value of query argument `name`.
    pub fn arg(&self, name: &str) -> Option<&str> {
        self.query()?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then_some(v)
        })
    }

    fn wants_close(&self) -> bool {
        let conn = self
            .headers_named("connection")
            .join(",")
            .to_ascii_lowercase();
        if self.version == "HTTP/1.0" {
            !conn.contains("keep-alive")
        } else {
            conn.split(',').any(|t| t.trim() == "close")
        }
    }
}

/// What the backend does with one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    kind: Kind,
    close: bool,
    delay: Duration,
    /// Leave Content-Length out (the body is then delimited by closing the connection).
    no_length: bool,
    silent_close: bool,
}

#[derive(Debug, Clone)]
enum Kind {
    Body(Vec<u8>),
    Chunked {
        chunks: Vec<Vec<u8>>,
        trailers: Vec<(String, String)>,
        /// Pause between chunks.
        gap: Duration,
    },
    Stream(u64),
    /// Announce `declared` bytes, send `sent` of them, close.
    Die {
        declared: u64,
        sent: u64,
    },
    Raw(Vec<u8>),
    Never,
    /// Close without answering.
    Drop,
    Sse {
        events: usize,
        interval: Duration,
    },
    WebSocket,
}

impl Reply {
    fn new(status: u16, kind: Kind) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            kind,
            close: false,
            delay: Duration::ZERO,
            no_length: false,
            silent_close: false,
        }
    }

    /// `status` with a text body.
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply::new(status, Kind::Body(body.into())).header("Content-Type", "text/plain")
    }

    /// 200 with a body.
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::text(200, body)
    }

    /// 200 whose body is the request head as received followed by its (kept) body.
    pub fn echo(req: &Request) -> Reply {
        let mut b = req.raw_head.clone();
        b.extend_from_slice(&req.body);
        Reply::text(200, b)
    }

    /// A chunked body made of these chunks.
    pub fn chunked(chunks: Vec<Vec<u8>>) -> Reply {
        Reply::new(
            200,
            Kind::Chunked {
                chunks,
                trailers: Vec::new(),
                gap: Duration::ZERO,
            },
        )
        .header("Content-Type", "application/octet-stream")
    }

    /// A chunked body with trailer fields after the last chunk (announced in `Trailer`).
    pub fn chunked_with_trailers(chunks: Vec<Vec<u8>>, trailers: &[(&str, &str)]) -> Reply {
        let names: Vec<&str> = trailers.iter().map(|(n, _)| *n).collect();
        Reply::new(
            200,
            Kind::Chunked {
                chunks,
                trailers: trailers
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                gap: Duration::ZERO,
            },
        )
        .header("Trailer", &names.join(", "))
    }

    /// A chunked body whose chunks are written `gap` apart.
    pub fn chunked_slowly(chunks: Vec<Vec<u8>>, gap: Duration) -> Reply {
        Reply::new(
            200,
            Kind::Chunked {
                chunks,
                trailers: Vec::new(),
                gap,
            },
        )
    }

    /// 200 with `len` bytes of the [`stream_byte`] pattern and a Content-Length.
    pub fn stream(len: u64) -> Reply {
        Reply::new(200, Kind::Stream(len)).header("Content-Type", "application/octet-stream")
    }

    /// Announces `declared` body bytes, sends `sent` of the pattern, then closes.
    pub fn die_mid_body(declared: u64, sent: u64) -> Reply {
        Reply::new(200, Kind::Die { declared, sent })
    }

    /// These bytes as they are, then close.
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply::new(0, Kind::Raw(bytes.into()))
    }

    /// Never answers (the connection stays open until the client goes away).
    pub fn never() -> Reply {
        Reply::new(0, Kind::Never)
    }

    /// Closes the connection without a byte.
    pub fn drop_connection() -> Reply {
        Reply::new(0, Kind::Drop)
    }

    /// A text/event-stream of `events` events `interval` apart, no length, closed at the
    /// end. Each event's send time is recorded ([`Backend::sse_sent`]).
    pub fn sse(events: usize, interval: Duration) -> Reply {
        Reply::new(200, Kind::Sse { events, interval })
            .header("Content-Type", "text/event-stream")
            .header("Cache-Control", "no-cache")
    }

    /// Accepts a WebSocket upgrade and echoes messages (see [`Backend`] docs on the
    /// session's special messages).
    pub fn websocket() -> Reply {
        Reply::new(101, Kind::WebSocket)
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn status(mut self, status: u16) -> Reply {
        self.status = status;
        self
    }

    /// Close the connection after this reply (and say so with `Connection: close` unless
    /// the reply sets its own Connection field).
    pub fn close(mut self) -> Reply {
        self.close = true;
        self
    }

    /// Close the connection after this reply without announcing it (a keep-alive response
    /// whose connection then goes away, as an idle timeout would do).
    pub fn close_silently(mut self) -> Reply {
        self.close = true;
        self.silent_close = true;
        self
    }

    /// Wait this long before answering.
    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// No Content-Length: the body ends when the connection closes (implies close).
    pub fn without_length(mut self) -> Reply {
        self.no_length = true;
        self.close = true;
        self
    }
}

/// An http-level `upstream name { server <b>; }` line for [`super::proxy_conf`].
pub fn upstream(name: &str, b: &Backend) -> String {
    format!("    upstream {name} {{ server {}; }}\n", b.addr())
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Request>>,
    accepted: AtomicUsize,
    /// Connections currently open.
    open: AtomicUsize,
    sse_sent: Mutex<Vec<Instant>>,
    ws_messages: Mutex<Vec<(u8, Vec<u8>)>>,
    /// Clones of open connections, shut down on drop so no thread outlives the test.
    live: Mutex<HashMap<usize, Live>>,
    stop: AtomicBool,
    ws_closed: AtomicUsize,
}

enum Live {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Live {
    fn shutdown(&self) {
        let _ = match self {
            Live::Tcp(s) => s.shutdown(Shutdown::Both),
            Live::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

/// Where a backend listens.
#[derive(Debug, Clone)]
pub enum Where {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// A running backend; stops (and closes every connection) on drop.
///
/// WebSocket sessions echo text and binary messages, answer a ping with a pong carrying the
/// same payload, and answer a close with a close carrying the same code. Two text messages
/// are commands: `server-close` makes the backend send a close frame (1000, "bye") and then
/// shut the TCP connection; `server-drop` makes it drop the TCP connection without a frame.
pub struct Backend {
    pub at: Where,
    state: Arc<State>,
    handler: Arc<RwLock<Handler>>,
}

impl Backend {
    /// A TCP backend on 127.0.0.1:ephemeral answering with `handler`.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let addr = listener.local_addr().unwrap();
        let b = Backend::new(Where::Tcp(addr), handler);
        let (state, h) = (b.state.clone(), b.handler.clone());
        std::thread::spawn(move || {
            for s in listener.incoming() {
                if state.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(s) = s else { continue };
                let _ = s.set_nodelay(true);
                let live = Live::Tcp(s.try_clone().unwrap());
                spawn_conn(state.clone(), h.clone(), s, live);
            }
        });
        b
    }

    /// A backend on a unix socket at `path`.
    pub fn start_unix(
        path: &Path,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Backend {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind unix backend");
        let b = Backend::new(Where::Unix(path.to_path_buf()), handler);
        let (state, h) = (b.state.clone(), b.handler.clone());
        std::thread::spawn(move || {
            for s in listener.incoming() {
                if state.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(s) = s else { continue };
                let live = Live::Unix(s.try_clone().unwrap());
                spawn_conn(state.clone(), h.clone(), s, live);
            }
        });
        b
    }

    fn new(at: Where, handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Backend {
        Backend {
            at,
            state: Arc::new(State::default()),
            handler: Arc::new(RwLock::new(Arc::new(handler))),
        }
    }

    /// Always 200 with `body` (e.g. the backend's name, to see who answered).
    pub fn text(body: &str) -> Backend {
        let body = body.to_string();
        Backend::start(move |_| Reply::ok(body.clone()))
    }

    /// Always answers with [`Reply::echo`].
    pub fn echo() -> Backend {
        Backend::start(Reply::echo)
    }

    /// Replaces the handler for the requests that follow.
    pub fn set_handler(&self, handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) {
        *self.handler.write().unwrap() = Arc::new(handler);
    }

    pub fn port(&self) -> u16 {
        match &self.at {
            Where::Tcp(a) => a.port(),
            Where::Unix(_) => panic!("a unix-socket backend has no port"),
        }
    }

    /// The address as an nginx `server`/`proxy_pass` would name it:
    /// `127.0.0.1:PORT` or `unix:/path`.
    pub fn addr(&self) -> String {
        match &self.at {
            Where::Tcp(a) => a.to_string(),
            Where::Unix(p) => format!("unix:{}", p.display()),
        }
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }

    /// How many requests arrived so far.
    pub fn count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// How many requests for `path` (the target before '?') arrived so far.
    pub fn count_path(&self, path: &str) -> usize {
        self.state
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path() == path)
            .count()
    }

    /// The last request received; panics if there was none.
    pub fn last(&self) -> Request {
        self.state
            .requests
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the backend received no request")
    }

    /// Forgets the requests received so far (connection counts stay).
    pub fn clear(&self) {
        self.state.requests.lock().unwrap().clear();
    }

    /// TCP (or unix) connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Connections open right now.
    pub fn open(&self) -> usize {
        self.state.open.load(Ordering::SeqCst)
    }

    /// When each SSE event was written, in order (over every SSE reply so far).
    pub fn sse_sent(&self) -> Vec<Instant> {
        self.state.sse_sent.lock().unwrap().clone()
    }

    /// WebSocket data messages received (opcode, payload), in order.
    pub fn ws_messages(&self) -> Vec<(u8, Vec<u8>)> {
        self.state.ws_messages.lock().unwrap().clone()
    }

    /// WebSocket sessions that ended (by a close handshake, a command or EOF).
    pub fn ws_closed(&self) -> usize {
        self.state.ws_closed.load(Ordering::SeqCst)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        match &self.at {
            Where::Tcp(a) => {
                let _ = TcpStream::connect_timeout(a, Duration::from_secs(1));
            }
            Where::Unix(p) => {
                let _ = UnixStream::connect(p);
                let _ = std::fs::remove_file(p);
            }
        }
        for l in self.state.live.lock().unwrap().values() {
            l.shutdown();
        }
    }
}

/// Byte streams a backend connection can run on.
trait Stream: Read + Write + Send + 'static {}
impl Stream for TcpStream {}
impl Stream for UnixStream {}

fn spawn_conn<S: Stream>(state: Arc<State>, handler: Arc<RwLock<Handler>>, s: S, live: Live) {
    let id = state.accepted.fetch_add(1, Ordering::SeqCst);
    state.open.fetch_add(1, Ordering::SeqCst);
    state.live.lock().unwrap().insert(id, live);
    std::thread::spawn(move || {
        let mut c = BConn {
            s,
            buf: Vec::new(),
            tmp: vec![0u8; 256 * 1024],
            id,
        };
        let _ = c.serve(&state, &handler);
        if let Some(l) = state.live.lock().unwrap().remove(&id) {
            l.shutdown();
        }
        state.open.fetch_sub(1, Ordering::SeqCst);
    });
}

struct BConn<S> {
    s: S,
    buf: Vec<u8>,
    /// Read buffer, reused.
    tmp: Vec<u8>,
    id: usize,
}

type Res<T> = Result<T, String>;

impl<S: Stream> BConn<S> {
    /// Reads more into the buffer; Ok(0) at EOF.
    fn fill(&mut self) -> Res<usize> {
        loop {
            match self.s.read(&mut self.tmp) {
                Ok(n) => {
                    self.buf.extend_from_slice(&self.tmp[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    fn line(&mut self) -> Res<Vec<u8>> {
        loop {
            if let Some(i) = super::find(&self.buf, b"\r\n") {
                let l = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(l);
            }
            if self.fill()? == 0 {
                return Err("eof in a line".into());
            }
        }
    }

    fn serve(&mut self, state: &State, handler: &RwLock<Handler>) -> Res<()> {
        loop {
            let Some(mut req) = self.read_request()? else {
                return Ok(());
            };
            req.conn = self.id;
            state.requests.lock().unwrap().push(req.clone());
            let h = handler.read().unwrap().clone();
            let reply = h(&req);
            if !self.reply(state, &req, reply)? || req.wants_close() {
                return Ok(());
            }
        }
    }

    /// One request, or None at a clean EOF between requests.
    fn read_request(&mut self) -> Res<Option<Request>> {
        let head_end = loop {
            if let Some(i) = super::find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.fill()? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err("eof inside a request head".into());
            }
        };
        let raw_head = self.buf[..head_end].to_vec();
        self.buf.drain(..head_end);
        let at = Instant::now();
        let text = String::from_utf8_lossy(&raw_head[..head_end - 4]).into_owned();
        let mut lines = text.split("\r\n");
        let rl = lines.next().unwrap_or_default();
        let mut parts = rl.splitn(3, ' ');
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let version = parts.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.to_string(), v.trim().to_string()))
            .collect();
        let mut req = Request {
            conn: 0,
            method,
            target,
            version,
            headers,
            raw_head,
            body: Vec::new(),
            body_len: 0,
            body_is_stream: true,
            chunked: false,
            at,
        };
        let te = req
            .header("transfer-encoding")
            .map(|v| v.to_ascii_lowercase());
        if te.as_deref().is_some_and(|v| v.contains("chunked")) {
            req.chunked = true;
            loop {
                let size = super::chunk_size(&String::from_utf8_lossy(&self.line()?))? as u64;
                if size == 0 {
                    while !self.line()?.is_empty() {}
                    break;
                }
                self.body_bytes(&mut req, size)?;
                if !self.line()?.is_empty() {
                    return Err("chunk not followed by CRLF".into());
                }
            }
        } else if let Some(len) = req.header("content-length") {
            let len: u64 = len.trim().parse().map_err(|_| "bad content-length")?;
            self.body_bytes(&mut req, len)?;
        }
        Ok(Some(req))
    }

    fn body_bytes(&mut self, req: &mut Request, mut n: u64) -> Res<()> {
        while n > 0 {
            if self.buf.is_empty() {
                // Straight from the socket into `tmp`: no copy through `buf`.
                let want = (self.tmp.len() as u64).min(n) as usize;
                let got = loop {
                    match self.s.read(&mut self.tmp[..want]) {
                        Ok(0) => return Err("eof inside a request body".into()),
                        Ok(k) => break k,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e.to_string()),
                    }
                };
                take_body(req, &self.tmp[..got]);
                n -= got as u64;
                continue;
            }
            let take = (self.buf.len() as u64).min(n) as usize;
            take_body(req, &self.buf[..take]);
            self.buf.drain(..take);
            n -= take as u64;
        }
        Ok(())
    }

    fn head(&self, req: &Request, reply: &Reply, framing: Option<String>) -> Vec<u8> {
        let mut h = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
        for (n, v) in &reply.headers {
            h.push_str(&format!("{n}: {v}\r\n"));
        }
        if let Some(f) = framing {
            h.push_str(&f);
        }
        let has_conn = reply
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("connection"));
        if reply.close && !has_conn && !reply.silent_close {
            h.push_str("Connection: close\r\n");
        } else if req.version == "HTTP/1.0" && !req.wants_close() && !has_conn {
            h.push_str("Connection: keep-alive\r\n");
        }
        h.push_str("\r\n");
        h.into_bytes()
    }

    /// Writes the reply; false when the connection must close afterwards.
    fn reply(&mut self, state: &State, req: &Request, reply: Reply) -> Res<bool> {
        if !reply.delay.is_zero() {
            std::thread::sleep(reply.delay);
        }
        let head_only = req.method == "HEAD";
        let has = |name: &str| {
            reply
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        let io = |e: std::io::Error| e.to_string();
        match &reply.kind {
            Kind::Body(b) => {
                let framing = (!reply.no_length && !has("content-length"))
                    .then(|| format!("Content-Length: {}\r\n", b.len()));
                let mut out = self.head(req, &reply, framing);
                if !head_only {
                    out.extend_from_slice(b);
                }
                self.s.write_all(&out).map_err(io)?;
            }
            Kind::Chunked {
                chunks,
                trailers,
                gap,
            } => {
                let out = self.head(
                    req,
                    &reply,
                    Some("Transfer-Encoding: chunked\r\n".to_string()),
                );
                self.s.write_all(&out).map_err(io)?;
                if !head_only {
                    for c in chunks {
                        if !gap.is_zero() {
                            std::thread::sleep(*gap);
                        }
                        let mut piece = format!("{:x}\r\n", c.len()).into_bytes();
                        piece.extend_from_slice(c);
                        piece.extend_from_slice(b"\r\n");
                        self.s.write_all(&piece).map_err(io)?;
                    }
                    let mut end = b"0\r\n".to_vec();
                    for (n, v) in trailers {
                        end.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
                    }
                    end.extend_from_slice(b"\r\n");
                    self.s.write_all(&end).map_err(io)?;
                }
            }
            Kind::Stream(len) => {
                let out = self.head(req, &reply, Some(format!("Content-Length: {len}\r\n")));
                self.s.write_all(&out).map_err(io)?;
                if !head_only {
                    write_stream(&mut self.s, *len).map_err(io)?;
                }
            }
            Kind::Die { declared, sent } => {
                let out = self.head(req, &reply, Some(format!("Content-Length: {declared}\r\n")));
                self.s.write_all(&out).map_err(io)?;
                write_stream(&mut self.s, *sent).map_err(io)?;
                let _ = self.s.flush();
                return Ok(false);
            }
            Kind::Raw(bytes) => {
                self.s.write_all(bytes).map_err(io)?;
                return Ok(false);
            }
            Kind::Never => {
                // Hold the connection until the client (anx) closes it or the test ends.
                while self.fill()? > 0 {}
                return Ok(false);
            }
            Kind::Drop => return Ok(false),
            Kind::Sse { events, interval } => {
                let out = self.head(req, &reply, None);
                self.s.write_all(&out).map_err(io)?;
                for k in 0..*events {
                    if k > 0 {
                        std::thread::sleep(*interval);
                    }
                    let ev = format!("id: {k}\ndata: event {k}\n\n");
                    state.sse_sent.lock().unwrap().push(Instant::now());
                    self.s.write_all(ev.as_bytes()).map_err(io)?;
                }
                return Ok(false);
            }
            Kind::WebSocket => {
                self.websocket(state, req, &reply)?;
                return Ok(false);
            }
        }
        Ok(!reply.close && !reply.no_length)
    }

    fn websocket(&mut self, state: &State, req: &Request, reply: &Reply) -> Res<()> {
        let key = req
            .header("sec-websocket-key")
            .ok_or("upgrade without Sec-WebSocket-Key")?;
        let upgrade_ok = req
            .header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        if !upgrade_ok {
            let r = Reply::text(400, "not a websocket upgrade\n").close();
            let out = self.head(req, &r, Some("Content-Length: 24\r\n".into()));
            let _ = self.s.write_all(&out);
            let _ = self.s.write_all(b"not a websocket upgrade\n");
            return Ok(());
        }
        let mut h = String::from("HTTP/1.1 101 Switching Protocols\r\n");
        h.push_str("Upgrade: websocket\r\nConnection: Upgrade\r\n");
        h.push_str(&format!("Sec-WebSocket-Accept: {}\r\n", ws_accept(key)));
        for (n, v) in &reply.headers {
            h.push_str(&format!("{n}: {v}\r\n"));
        }
        h.push_str("\r\n");
        self.s.write_all(h.as_bytes()).map_err(|e| e.to_string())?;
        let end = |state: &State| {
            state.ws_closed.fetch_add(1, Ordering::SeqCst);
        };
        loop {
            let frame = match self.ws_read() {
                Ok(Some(f)) => f,
                Ok(None) | Err(_) => {
                    end(state);
                    return Ok(());
                }
            };
            let (op, payload) = frame;
            let w = |s: &mut S, op: u8, p: &[u8]| s.write_all(&ws_frame(op, p, None));
            match op {
                0x1 if payload == b"server-close" => {
                    let mut p = 1000u16.to_be_bytes().to_vec();
                    p.extend_from_slice(b"bye");
                    let _ = w(&mut self.s, 0x8, &p);
                    end(state);
                    return Ok(());
                }
                0x1 if payload == b"server-drop" => {
                    end(state);
                    return Ok(());
                }
                0x1 | 0x2 => {
                    state
                        .ws_messages
                        .lock()
                        .unwrap()
                        .push((op, payload.clone()));
                    w(&mut self.s, op, &payload).map_err(|e| e.to_string())?;
                }
                0x9 => w(&mut self.s, 0xA, &payload).map_err(|e| e.to_string())?,
                0xA => {}
                0x8 => {
                    let code = payload.get(..2).unwrap_or(&[]).to_vec();
                    let _ = w(&mut self.s, 0x8, &code);
                    end(state);
                    return Ok(());
                }
                _ => {
                    end(state);
                    return Ok(());
                }
            }
        }
    }

    /// One whole frame (no fragmentation in these tests); None at EOF.
    fn ws_read(&mut self) -> Res<Option<(u8, Vec<u8>)>> {
        if let Some(f) = ws_parse(&mut self.buf) {
            return Ok(Some(f));
        }
        loop {
            if self.fill()? == 0 {
                return Ok(None);
            }
            if let Some(f) = ws_parse(&mut self.buf) {
                return Ok(Some(f));
            }
        }
    }
}

/// Accounts `piece` as the next part of `req`'s body.
fn take_body(req: &mut Request, piece: &[u8]) {
    if req.body_is_stream && !matches_stream(req.body_len, piece) {
        req.body_is_stream = false;
    }
    let keep = BODY_KEEP.saturating_sub(req.body.len()).min(piece.len());
    req.body.extend_from_slice(&piece[..keep]);
    req.body_len += piece.len() as u64;
}

/// Takes one complete frame off the front of `buf` (unmasking it), if there is one.
pub fn ws_parse(buf: &mut Vec<u8>) -> Option<(u8, Vec<u8>)> {
    if buf.len() < 2 {
        return None;
    }
    let op = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let mut len = (buf[1] & 0x7f) as u64;
    let mut pos = 2;
    if len == 126 {
        if buf.len() < 4 {
            return None;
        }
        len = u16::from_be_bytes([buf[2], buf[3]]) as u64;
        pos = 4;
    } else if len == 127 {
        if buf.len() < 10 {
            return None;
        }
        len = u64::from_be_bytes(buf[2..10].try_into().unwrap());
        pos = 10;
    }
    let mask = if masked {
        if buf.len() < pos + 4 {
            return None;
        }
        let m = [buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]];
        pos += 4;
        Some(m)
    } else {
        None
    };
    let end = pos + len as usize;
    if buf.len() < end {
        return None;
    }
    let mut payload = buf[pos..end].to_vec();
    if let Some(m) = mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= m[i % 4];
        }
    }
    buf.drain(..end);
    Some((op, payload))
}

/// A final frame with opcode `op`; masked with `mask` (clients must mask).
pub fn ws_frame(op: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![0x80 | op];
    let m = if mask.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    if n < 126 {
        f.push(m | n as u8);
    } else if n < 65536 {
        f.push(m | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(m | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    match mask {
        Some(k) => {
            f.extend_from_slice(&k);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2).
pub fn ws_accept(key: &str) -> String {
    let mut s = key.trim().as_bytes().to_vec();
    s.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64(&sha1(&s))
}

/// SHA-1 (FIPS 180-4), enough for the WebSocket handshake.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Whatever",
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn refused_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
