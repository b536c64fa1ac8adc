//! The HTTP/1.x connection loop: bytes ↔ codec ↔ pipeline, keep-alive and pipelining.
//!
//! One task per accepted connection. It reads into a pooled buffer, parses every complete
//! head it holds (pipelining), runs each through [`pipeline::run`], appends the responses to
//! one write buffer and sends them in one write per batch; file bodies go out with sendfile.
//! Timeouts: `client_header_timeout` bounds the whole head (→ 408), `keepalive_timeout` an
//! idle wait, `client_body_timeout` each body read, `send_timeout` each blocked write.
//! Any refused head gets its status and a lingering close, because the framing of whatever
//! follows it can no longer be trusted.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::net::client::ClientStream;
use futures_lite::{AsyncRead, AsyncWriteExt};

use super::body::{self, BodyOutcome};
use super::generation::ShardGeneration;
use super::park;
use super::ShardResources;
use crate::config::model::{Config, HttpSettings, LocationHttp, Server, SockAddr};
use crate::context::state::{ConnInfo, Received, RequestState};
use crate::context::vars::{Ctx, Sent};
use crate::http::request::{parse_head, BodyFraming, HeadError, HeadLimits, Method, RequestHead};
use crate::http::response::{write_head, Body, HeadContext, Response};
use crate::http::status;
use crate::metrics::{ConnTracker, Phase, ZoneMap};
use crate::net::sendfile;
use crate::pipeline::{self, Request};
use crate::route::{ConfigIndex, ListenerServers};

/// File bodies of at least this size are corked from their head on. Measured on loopback
/// (perf/bench.py, perf/results/2026-12-08-session3.md): uncorked, a 1 MiB file collapsed
/// the client's window (0.92x nginx); corked from the head, a 100 KiB file cost the shard
/// 36.8 us instead of 14.5; corking only once the socket is full did not help the 1 MiB one.
const CORK_FROM_HEAD: u64 = 512 * 1024;
/// Write buffers are sent once they hold this much, even mid-batch.
const FLUSH_AT: usize = 64 * 1024;
/// After an error, how long anx keeps reading (and discarding) what the client still sends,
/// so that the error response is not destroyed by a TCP reset (nginx's lingering close).
const LINGER_TOTAL: Duration = Duration::from_secs(5);
const LINGER_READ: Duration = Duration::from_secs(1);

/// What the TLS handshake of a connection settled (kept for its requests).
pub struct TlsConn {
    pub listener: Arc<crate::tls::TlsListener>,
    pub info: Rc<crate::tls::TlsInfo>,
    /// The SNI of the handshake (the 421 rule compares each request's Host with it).
    pub sni: Option<String>,
}

/// Everything a connection needs from its shard and listener.
pub struct Connection {
    pub stream: ClientStream,
    /// The generation the connection's current request runs under; between requests the
    /// connection moves to the shard's newest (a reload reaches kept-alive connections).
    pub generation: Rc<ShardGeneration>,
    /// `generation`'s configuration.
    pub config: Arc<Config>,
    /// The configured address of the listener that accepted it (its key in every generation).
    pub listen: SockAddr,
    pub listener: Rc<ListenerServers>,
    /// Routing index of `config` (the shard's, built once per generation).
    pub index: Rc<ConfigIndex>,
    pub shard: Rc<ShardResources>,
    pub peer: SockAddr,
    /// The local end of the connection (`$server_addr`, `$server_port`, redirects).
    pub local: SockAddr,
    /// The PROXY protocol header the connection began with (`listen … proxy_protocol`).
    pub proxy: Option<Rc<crate::net::proxy_protocol::ProxyHeader>>,
    pub id: u64,
    /// `Some` on a `listen … ssl` address.
    pub tls: Option<TlsConn>,
    /// Holds a graceful stop back while the connection is not idle.
    pub busy: super::BusyMark,
    /// The connection's place in the shard's connection gauges.
    pub tracker: ConnTracker,
    /// The shard's server-zone counters for `config`.
    pub zones: Rc<ZoneMap>,
    /// The connection's place in the shard's `worker_connections`, held for its life
    /// (parked too); dropping it frees the place.
    pub slot: Option<glommio::sync::StaticPermit>,
}

/// Why the loop stops.
pub(super) enum Stop {
    /// Close quietly (EOF, idle timeout, I/O error).
    Quiet,
    /// Answer with this status, then close with lingering.
    Refuse(u16),
    /// Idle for [`park::PARK_AFTER`] with this much of its keep-alive time left: becomes a
    /// parked record instead of a waiting task.
    Park(Duration),
}

pub(super) struct State {
    pub(super) conn: Connection,
    pub(super) rbuf: super::buffers::ReadBuf,
    pub(super) wbuf: Vec<u8>,
    requests: u64,
    nonblocking: bool,
    /// The request whose bytes are arriving is in the shard's request count already
    /// (nginx counts a request when its first bytes arrive).
    counted: bool,
    /// When the connection was accepted (`keepalive_time`, `$connection_time`).
    born: Instant,
    /// How long to wait for the next request: the `keepalive_timeout` of the location that
    /// answered the last one (nginx reads it there).
    idle_timeout: Duration,
    /// The next request's bytes were already read when the last one ended (`$pipe`, as
    /// nginx's `r->pipeline`: data left in the buffer after a response).
    pipelined: bool,
    /// `limit_rate` of the response about to be written (taken by `write_response`).
    pub(super) pace: Option<super::rate::Pace>,
    /// Whether an idle wait may end in parking (not after parking failed once).
    may_park: bool,
}

/// Serves one connection until it closes.
pub async fn serve(conn: Connection) {
    let st = State {
        conn,
        rbuf: Default::default(),
        wbuf: Vec::new(),
        requests: 0,
        nonblocking: false,
        counted: false,
        born: Instant::now(),
        idle_timeout: Duration::ZERO,
        pipelined: false,
        pace: None,
        may_park: true,
    };
    drive(st).await;
}

/// Serves a parked connection whose socket became readable, as a new task.
pub fn resume(parked: park::Parked, shard: Rc<ShardResources>) {
    let (id, peer) = (parked.id, parked.peer.clone());
    if let Some(st) = State::unparked(parked, shard) {
        super::spawn_connection(id, peer, drive(st));
    }
}

/// Runs the connection until it closes or parks.
async fn drive(mut st: State) {
    let _ = st
        .conn
        .stream
        .set_write_timeout(Some(st.default_http().send_timeout));
    loop {
        let stop = st.run().await;
        let Stop::Park(left) = stop else {
            // The closing steps are boxed for the same reason as `handle`: they would
            // otherwise enlarge every connection's future, idle or not.
            Box::pin(finish(st, stop)).await;
            return;
        };
        let shard = st.conn.shard.clone();
        st = match st.into_parked(left) {
            Ok(parked) => match shard.parking.park(&shard, parked) {
                Ok(()) => return,
                Err(parked) => match State::unparked(*parked, shard) {
                    Some(st) => st,
                    None => return,
                },
            },
            Err(st) => *st,
        };
        st.may_park = false;
    }
}

/// Answers a refusal (status page, then lingering close) and returns buffers to the pool.
async fn finish(mut st: State, stop: Stop) {
    // The lines of unbuffered access logs are on disk before the connection closes (a
    // client that saw the close finds its line, as with nginx).
    st.conn.shard.access_logs.flush_due();
    if let Stop::Refuse(code) = stop {
        let config = st.conn.config.clone();
        let server = &config.servers[st.conn.listener.default];
        let mut resp = Response::new(code);
        resp.close = true;
        // The built-in page also turns nginx's internal 494 into its 400.
        pipeline::with_error_page(&mut resp, server);
        let code = resp.status;
        let written = st
            .write_response(&resp, &server.fallback.http, false, false)
            .await;
        let out = written.map_or(0, |(h, b)| h + b);
        st.account(Some(st.conn.listener.default), code, (0, out), None);
        let sent = st.flush().await.is_ok();
        log::info!(
            "*{} client {} refused with {}, client: {}",
            st.conn.id,
            st.conn.peer,
            code,
            st.conn.peer
        );
        if sent {
            st.linger().await;
        }
    } else {
        let _ = st.flush().await;
    }
    st.rbuf.release_if_empty(&st.conn.shard.buffers);
    if !st.wbuf.is_empty() || st.wbuf.capacity() > 0 {
        st.wbuf.clear();
        st.conn.shard.buffers.give(std::mem::take(&mut st.wbuf));
    }
}

impl State {
    /// The record of an idle plain connection (its socket duplicated out of glommio's,
    /// which is dropped with everything else); the state back when it cannot be made.
    fn into_parked(self, left: Duration) -> Result<park::Parked, Box<State>> {
        let ClientStream::Plain(tcp) = &self.conn.stream else {
            return Err(Box::new(self));
        };
        // SAFETY: F_DUPFD_CLOEXEC on a descriptor we hold returns a new one or -1.
        let fd = unsafe { libc::fcntl(tcp.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
        if fd < 0 {
            return Err(Box::new(self));
        }
        // SAFETY: `fd` is new and owned by nobody else.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        let State {
            conn,
            requests,
            nonblocking,
            born,
            idle_timeout,
            ..
        } = self;
        Ok(park::Parked {
            fd,
            generation: conn.generation,
            listen: conn.listen,
            peer: conn.peer,
            local: conn.local,
            proxy: conn.proxy,
            id: conn.id,
            tracker: conn.tracker,
            slot: conn.slot,
            requests,
            born,
            idle_timeout,
            nonblocking,
            deadline: Instant::now() + left,
        })
    }

    /// A parked connection's state again, waiting for what its socket has for it.
    fn unparked(p: park::Parked, shard: Rc<ShardResources>) -> Option<State> {
        // SAFETY: the descriptor is moved out of the record, which owned it.
        let tcp = unsafe { glommio::net::TcpStream::from_raw_fd(p.fd.into_raw_fd()) };
        let slot = p.generation.listen(&p.listen)?.clone();
        let generation = p.generation;
        let conn = Connection {
            stream: ClientStream::Plain(tcp),
            config: generation.config().clone(),
            index: generation.index.clone(),
            zones: generation.zones.clone(),
            listener: slot.servers.clone(),
            generation,
            listen: p.listen,
            busy: super::BusyMark::new(&shard),
            shard,
            peer: p.peer,
            local: p.local,
            proxy: p.proxy,
            id: p.id,
            tls: None,
            tracker: p.tracker,
            slot: p.slot,
        };
        Some(State {
            conn,
            rbuf: Default::default(),
            wbuf: Vec::new(),
            requests: p.requests,
            nonblocking: p.nonblocking,
            counted: false,
            born: p.born,
            // The first wait is what is left of the keep-alive time.
            idle_timeout: p.deadline.saturating_duration_since(Instant::now()),
            pipelined: false,
            pace: None,
            may_park: true,
        })
    }

    fn default_http(&self) -> &HttpSettings {
        &self.conn.config.servers[self.conn.listener.default].http
    }

    fn limits(&self) -> HeadLimits {
        let h = self.default_http();
        // A head that fits nginx's first buffer (`client_header_buffer_size`) is taken
        // whatever the large buffers' limits say.
        HeadLimits {
            max_request_line: h.max_request_line.max(h.client_header_buffer_size),
            max_header_line: h.max_request_line.max(h.client_header_buffer_size),
            max_header_bytes: h.max_header_bytes.max(h.client_header_buffer_size),
            max_headers: h.max_headers,
            ignore_invalid_headers: h.ignore_invalid_headers,
            underscores_in_headers: h.underscores_in_headers,
        }
    }

    /// Moves the connection to the shard's newest generation, between requests. Its listen
    /// address may be gone from it (a reload removed the listener): then it stays, and ends
    /// with its old generation.
    fn adopt_newest_generation(&mut self) -> bool {
        let Some(newest) = self.conn.shard.newer_than(&self.conn.generation) else {
            return false;
        };
        if !newest.accepts_connection_from(&self.conn.generation, &self.conn.listen) {
            return false;
        }
        let Some(slot) = newest.listen(&self.conn.listen) else {
            return false;
        };
        self.conn.listener = slot.servers.clone();
        self.conn.config = newest.config().clone();
        self.conn.index = newest.index.clone();
        self.conn.zones = newest.zones.clone();
        let send_timeout = newest.config().servers[slot.servers.default]
            .http
            .send_timeout;
        let _ = self.conn.stream.set_write_timeout(Some(send_timeout));
        self.conn.generation = newest;
        true
    }

    async fn run(&mut self) -> Stop {
        let mut limits = self.limits();
        let mut config = self.conn.config.clone();
        let mut head_started: Option<Instant> = None;
        loop {
            let parsed = parse_head(self.rbuf.filled(), &limits);
            let head = match parsed {
                Ok(Some(head)) => head,
                Ok(None) => {
                    // nginx's stub_status: reading once a request's first bytes are in,
                    // waiting while idle.
                    if self.rbuf.is_empty() {
                        self.conn.tracker.set(Phase::Waiting);
                    } else {
                        self.count_request();
                        self.conn.tracker.set(Phase::Reading);
                    }
                    // Need more bytes: send what is pending first (pipelined batches end here).
                    if self.flush().await.is_err() {
                        return Stop::Quiet;
                    }
                    let idle = self.rbuf.is_empty();
                    if idle && self.requests > 0 {
                        // Everything answered and sent: the connection is idle. A graceful
                        // stop ends it here; otherwise it does not hold the stop back.
                        if self.conn.shard.draining() {
                            return Stop::Quiet;
                        }
                        self.conn.busy.set(false);
                    }
                    let timeout = if idle && self.requests > 0 {
                        self.idle_timeout
                    } else {
                        let started = *head_started.get_or_insert_with(Instant::now);
                        match self
                            .default_http()
                            .client_header_timeout
                            .checked_sub(started.elapsed())
                        {
                            Some(left) if !left.is_zero() => left,
                            _ => return self.refuse_head(408),
                        }
                    };
                    if idle {
                        self.rbuf.release_if_empty(&self.conn.shard.buffers);
                    }
                    // A long idle wait begins as a short one; past it the connection parks.
                    let park = idle
                        && self.requests > 0
                        && self.may_park
                        && timeout > park::PARK_AFTER
                        && matches!(self.conn.stream, ClientStream::Plain(_));
                    let wait = if park { park::PARK_AFTER } else { timeout };
                    match self.read_more(wait, limits.max_header_bytes + 1).await {
                        Ok(0) => return Stop::Quiet,
                        Ok(_) => {
                            head_started.get_or_insert_with(Instant::now);
                            self.conn.busy.set(true);
                            continue;
                        }
                        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                            if park {
                                return Stop::Park(timeout - park::PARK_AFTER);
                            }
                            return if idle && self.requests > 0 {
                                Stop::Quiet
                            } else {
                                self.refuse_head(408)
                            };
                        }
                        Err(_) => return Stop::Quiet,
                    }
                }
                Err(e) => {
                    log::info!(
                        "*{} {}, client: {}",
                        self.conn.id,
                        e.reason(),
                        self.conn.peer
                    );
                    return match e {
                        HeadError::HeadersTooLarge
                        | HeadError::UriTooLong
                        | HeadError::BadRequest(_)
                        | HeadError::NotImplemented(_)
                        | HeadError::NotAllowed(_)
                        | HeadError::VersionNotSupported => self.refuse_head(e.status()),
                    };
                }
            };
            head_started = None;
            // Each request runs under the newest generation the shard knows (a reload
            // reaches kept-alive connections at their next request).
            if self.requests > 0 && self.adopt_newest_generation() {
                limits = self.limits();
                config = self.conn.config.clone();
            }
            self.requests += 1;
            self.count_request();
            self.counted = false;
            self.conn.tracker.set(Phase::Writing);
            let started = Instant::now();
            // Boxed so that the per-request state lives on the heap only while a request is
            // handled: an idle connection's future stays small.
            match Box::pin(self.handle(&config, head, started)).await {
                Ok(true) => {
                    self.pipelined = !self.rbuf.is_empty();
                    continue;
                }
                Ok(false) => return Stop::Quiet,
                Err(stop) => return stop,
            }
        }
    }

    /// Runs one request; `Ok(true)` to keep the connection for the next one.
    async fn handle(
        &mut self,
        config: &Arc<Config>,
        head: RequestHead,
        started: Instant,
    ) -> Result<bool, Stop> {
        #[cfg(debug_assertions)]
        if test_hooks::panics_at(&self.rbuf.filled()[head.path.clone()]) {
            panic!("test hook: ANX_TEST_PANIC_PATH");
        }
        let now = crate::http::date::now_secs();
        let conn = ConnInfo {
            peer: self.conn.peer.clone(),
            local: self.conn.local.clone(),
            proxy: self.conn.proxy.clone(),
            serial: self.conn.id,
            requests: self.requests,
            pipelined: self.pipelined,
            tls: self.conn.tls.as_ref().map(|t| t.info.clone()),
            born: self.born,
        };
        let index = self.conn.index.clone();
        let shard = self.conn.shard.clone();
        let buf = self.rbuf.filled();
        let generation = self.conn.generation.clone();
        let req = Request {
            head: &head,
            buf,
            listener: &self.conn.listener,
            conn: &conn,
            started,
            declared_body: match head.body {
                BodyFraming::Length(n) => Some(n),
                _ => None,
            },
            index: Some(&index),
            status: Some(shard.status_sources(&generation)),
        };
        let handshake = self.conn.tls.as_ref().map(|tls| pipeline::Handshake {
            listener: &tls.listener,
            sni: tls.sni.as_deref(),
        });
        let selected = match pipeline::select_server(config, &req, handshake) {
            Ok(selected) => selected,
            // Closed like any refused head: the client retries on a connection of its own.
            Err(misdirected) => return Err(Stop::Refuse(misdirected.status())),
        };
        let server: &Server = selected.server;
        let http = &server.http;

        let run = {
            let mut statics = shard.statics.borrow_mut();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pipeline::run(config, &selected, &req, &mut statics, now)
            }))
        };
        let mut outcome = match run {
            Ok(outcome) => outcome,
            Err(_) => {
                log::error!(
                    "*{} request handler panicked, client: {}",
                    self.conn.id,
                    self.conn.peer
                );
                let mut r = Response::new(500);
                r.close = true;
                pipeline::with_error_page(&mut r, server);
                pipeline::Outcome::Respond {
                    response: r,
                    state: RequestState::new(Vec::new()),
                }
            }
        };
        if let Some(refusal) = head.refused {
            log::info!(
                "*{} {}, client: {}",
                self.conn.id,
                refusal.reason(),
                self.conn.peer
            );
            // As nginx: no keep-alive, and the body is not read (lingering close drops it).
            if let pipeline::Outcome::Respond { response, .. } = &mut outcome {
                response.close = true;
            }
        }
        // nginx reads the keep-alive settings from the location that answers.
        let lh = outcome
            .state()
            .location
            .map_or(&server.fallback.http, |l| &l.http);
        let keep_alive = head.keep_alive
            && head.refused.is_none()
            && !self.conn.shard.draining()
            && !lh.keepalive_timeout.is_zero()
            && self.requests < lh.keepalive_requests
            // `started` is this request's clock reading: no second one for keepalive_time.
            && started.saturating_duration_since(self.born) < lh.keepalive_time
            && !lh.keepalive_disable.refuses(
                || head.field(buf, "user-agent"),
                head.method == Method::Post,
            );
        self.idle_timeout = lh.keepalive_timeout;
        if self.conn.stream.write_timeout() != Some(lh.send_timeout) {
            let _ = self.conn.stream.set_write_timeout(Some(lh.send_timeout));
        }
        let (mut response, mut state) = match outcome {
            pipeline::Outcome::Respond { response, state } => (response, state),
            pipeline::Outcome::Exchange {
                exchange: pipeline::Exchange::Proxy(plan),
                state,
            } => {
                // The exchange reads the body and more from the same buffer: it works on a copy
                // of the head.
                let head_copy = buf[..head.len].to_vec();
                self.rbuf.consume(head.len);
                let post_action = std::cell::Cell::new(None);
                let job = super::proxy::Job {
                    config,
                    selected: &selected,
                    head: &head,
                    head_copy: &head_copy,
                    conn: &conn,
                    started,
                    keep_alive,
                    now,
                    http: lh,
                    error_log: state
                        .location
                        .map_or(&server.fallback.error_log[..], |l| &l.error_log[..]),
                    discard: false,
                    post_action: &post_action,
                };
                let result = Box::pin(super::proxy::serve(self, job, state, plan)).await;
                if let Some(action) = post_action.get() {
                    let (to, head) = ((config, &selected), (&head, &head_copy[..]));
                    Box::pin(self.post_action(to, head, &conn, (started, now), action)).await;
                }
                return result;
            }
        };

        // The log lines are written after the response, when the read buffer has moved on:
        // keep a copy of the head (one copy, only when something logs this request).
        let logs = state
            .location
            .map_or(&server.access_logs[..], |l| &l.access_logs[..]);
        let trailers = super::trailers::chunked(&response, &head, lh);
        let post_action = state.location.and_then(|l| l.post_action.as_ref());
        let head_copy = (!logs.is_empty() || trailers || post_action.is_some())
            .then(|| buf[..head.len].to_vec());
        let head_request = head.method == Method::Head;
        let expect_continue = head.expect_continue;
        let framing = head.body;
        self.pace = match state.location {
            Some(loc) => {
                let recv = Received {
                    head: &head,
                    buf,
                    conn: &conn,
                    started,
                };
                super::rate::for_request(config, server, recv, &mut state, &loc.rate)
            }
            None => None,
        };
        self.rbuf.consume(head.len);

        if response.abort {
            // `return 444`: no answer at all; earlier pipelined answers still go out.
            let _ = self.flush().await;
            let length = (head.len as u64, 0);
            self.account(
                Some(selected.position),
                response.status,
                length,
                Some(started),
            );
            if let Some(copy) = &head_copy {
                let sent = Sent {
                    status: response.status,
                    request_length: head.len as u64,
                    ..Sent::default()
                };
                self.log(
                    config,
                    server,
                    logs,
                    (&head, copy, &conn, started),
                    state,
                    &response,
                    &sent,
                );
            }
            return Ok(false);
        }

        // The body: read and dropped (no handler consumes bodies yet), unless answering
        // without it is cheaper and safe (an error to a client still waiting for 100-continue).
        if framing != BodyFraming::None && !response.close {
            if expect_continue && response.status >= 400 {
                response.close = true;
            } else {
                if expect_continue {
                    self.wbuf_mut()
                        .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                    if self.flush().await.is_err() {
                        return Ok(false);
                    }
                }
                // The limit is the location's that answered (nginx checks it there too).
                let max_body = state
                    .location
                    .map_or(http.client_max_body_size, |l| l.client_max_body_size);
                match body::discard(self, framing, max_body, lh.client_body_timeout).await {
                    BodyOutcome::Done => {}
                    BodyOutcome::TooLarge => return Err(Stop::Refuse(413)),
                    BodyOutcome::Malformed => return Err(Stop::Refuse(400)),
                    BodyOutcome::TimedOut => return Err(Stop::Refuse(408)),
                    BodyOutcome::Closed => return Ok(false),
                }
            }
        }

        let keep = keep_alive && !response.close;
        let written = match head_copy.as_deref().filter(|_| trailers) {
            Some(copy) => {
                let mut src = super::trailers::TrailerSource {
                    config,
                    server,
                    recv: Received {
                        head: &head,
                        buf: copy,
                        conn: &conn,
                        started,
                    },
                    state: &mut state,
                };
                self.write_chunked(&response, lh, keep, &mut src).await
            }
            None => self.write_response(&response, lh, keep, head_request).await,
        };
        let (head_bytes, body_bytes) = written.as_ref().map_or((0, 0), |w| *w);
        let body_len = match framing {
            BodyFraming::Length(n) => n,
            _ => 0,
        };
        let bytes = (head.len as u64 + body_len, head_bytes + body_bytes);
        self.account(
            Some(selected.position),
            response.status,
            bytes,
            Some(started),
        );
        if let Some(copy) = &head_copy {
            let sent = Sent {
                status: response.status,
                body_bytes,
                bytes: head_bytes + body_bytes,
                request_length: head.len as u64 + body_len,
            };
            self.log(
                config,
                server,
                logs,
                (&head, copy, &conn, started),
                state,
                &response,
                &sent,
            );
        }
        if let (Some(action), Some(copy)) = (post_action, &head_copy) {
            let to = (config, &selected);
            Box::pin(self.post_action(to, (&head, copy), &conn, (started, now), action)).await;
        }
        match written {
            Ok(_) if keep => Ok(true),
            Ok(_) => {
                let _ = self.flush().await;
                if response.close {
                    self.linger().await;
                }
                Ok(false)
            }
            Err(_) => Ok(false),
        }
    }

    /// A head that cannot be served (malformed, too large, too slow): a request for
    /// stub_status all the same, as nginx counts it, answered with `status`.
    fn refuse_head(&mut self, status: u16) -> Stop {
        self.count_request();
        Stop::Refuse(status)
    }

    /// Counts the request now arriving, once.
    fn count_request(&mut self) {
        if !std::mem::replace(&mut self.counted, true) {
            self.conn.tracker.metrics().block().requests.inc();
        }
    }

    /// Counts one finished request: its status, `(received, sent)` bytes and duration, for
    /// the shard and for the zone of the server at `server` (position in `Config::servers`).
    pub(super) fn account(
        &self,
        server: Option<usize>,
        status: u16,
        (received, sent): (u64, u64),
        started: Option<Instant>,
    ) {
        let zone = server.and_then(|p| self.conn.zones.get(p));
        let block = self.conn.tracker.metrics().block();
        crate::metrics::finished(block, zone, status, (received, sent), started);
    }

    /// Writes the request's access-log lines (the location's logs, else the server's).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn log<'c>(
        &self,
        config: &'c Config,
        server: &'c Server,
        logs: &'c [crate::config::model::AccessLog],
        (head, buf, conn, started): (&RequestHead, &[u8], &ConnInfo, Instant),
        state: RequestState<'c>,
        response: &Response,
        sent: &Sent,
    ) {
        let mut ctx = Ctx {
            config,
            server,
            req: Received {
                head,
                buf,
                conn,
                started,
            },
            st: state,
        };
        for log in logs {
            self.conn
                .shard
                .access_logs
                .record(log, &mut ctx, response, sent);
        }
        self.conn.shard.flush_logs_soon();
    }

    pub(super) fn wbuf_mut(&mut self) -> &mut Vec<u8> {
        if self.wbuf.capacity() == 0 {
            self.wbuf = self.conn.shard.buffers.take_empty();
        }
        &mut self.wbuf
    }

    /// Appends (or sends) one response; returns (head bytes, body bytes).
    pub(super) async fn write_response(
        &mut self,
        resp: &Response,
        http: &LocationHttp,
        keep_alive: bool,
        head_request: bool,
    ) -> io::Result<(u64, u64)> {
        let ctx = head_context(http, keep_alive, false);
        // Taken whatever happens, so it never outlives its response.
        let pace = self.pace.take();
        let before = self.wbuf.len();
        write_head(self.wbuf_mut(), resp, &ctx);
        let head_bytes = (self.wbuf.len() - before) as u64;
        if head_request || status::is_bodyless(resp.status) {
            return Ok((head_bytes, 0));
        }
        let body_bytes = resp.body.len();
        match pace {
            Some(mut pace) => self.write_body_paced(&resp.body, &mut pace).await?,
            None => self.write_body(&resp.body).await?,
        }
        self.flush_if_full().await?;
        Ok((head_bytes, body_bytes))
    }

    /// Sends the write buffer once it holds [`FLUSH_AT`] bytes (mid-batch).
    pub(super) async fn flush_if_full(&mut self) -> io::Result<()> {
        if self.wbuf.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    pub(super) async fn write_body(&mut self, body: &Body) -> io::Result<()> {
        match body {
            Body::Empty => Ok(()),
            Body::Bytes(b) => {
                self.wbuf_mut().extend_from_slice(b);
                Ok(())
            }
            Body::Shared { bytes, start, end } => {
                self.wbuf_mut().extend_from_slice(&bytes[*start..*end]);
                Ok(())
            }
            Body::File(range) => self.send_file(range).await,
            Body::Multipart { parts, closing } => {
                for part in parts {
                    self.wbuf_mut().extend_from_slice(&part.head);
                    Box::pin(self.write_body(&part.body)).await?;
                }
                self.wbuf_mut().extend_from_slice(closing);
                Ok(())
            }
        }
    }

    /// Sends a file range with sendfile after flushing what precedes it. When the socket is
    /// full, waits for room by writing one byte of the file through glommio (which parks the
    /// task until the socket is writable), then resumes zero-copy.
    async fn send_file(&mut self, range: &crate::http::response::FileRange) -> io::Result<()> {
        let Some(fd) = self.conn.stream.sendfile_fd() else {
            self.flush().await?;
            return self.copy_file(range).await;
        };
        if !self.nonblocking {
            sendfile::set_nonblocking(fd)?;
            self.nonblocking = true;
        }
        // A large body goes out corked from its head on (sendfile::set_cork says why);
        // smaller ones only once the socket is full.
        let mut corked = range.len >= CORK_FROM_HEAD && sendfile::set_cork(fd, true).is_ok();
        let result = match self.flush().await {
            Ok(()) => self.sendfile_range(fd, range, &mut corked).await,
            Err(e) => Err(e),
        };
        if corked {
            let _ = sendfile::set_cork(fd, false);
        }
        result
    }

    async fn sendfile_range(
        &mut self,
        fd: std::os::fd::RawFd,
        range: &crate::http::response::FileRange,
        corked: &mut bool,
    ) -> io::Result<()> {
        let file_fd = range.file.as_raw_fd();
        let mut offset = range.offset;
        let end = range.offset + range.len;
        while offset < end {
            match sendfile::sendfile_some(fd, file_fd, offset, end - offset)? {
                Some(n) => offset += n as u64,
                None => {
                    // The socket is full: the rest goes out corked (sendfile::set_cork says
                    // why), uncorked by the caller after the last byte. Bodies that fit the
                    // socket buffer are never corked: on loopback that doubled the server's
                    // CPU per 100 KiB file (16 → 34 µs) for nothing.
                    if !*corked {
                        *corked = sendfile::set_cork(fd, true).is_ok();
                    }
                    let mut byte = [0u8; 1];
                    let n = read_at(&range.file, &mut byte, offset)?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "file truncated while sending",
                        ));
                    }
                    self.conn.stream.write_all(&byte).await?;
                    offset += 1;
                }
            }
        }
        Ok(())
    }

    /// Sends a file range through the stream, 64 KiB at a time (a TLS stream must encrypt
    /// it, so sendfile cannot be used).
    async fn copy_file(&mut self, range: &crate::http::response::FileRange) -> io::Result<()> {
        let mut offset = range.offset;
        let end = range.offset + range.len;
        let mut buf = self.conn.shard.relay_buffers.take();
        let result = async {
            while offset < end {
                let want = ((end - offset) as usize).min(buf.len());
                let n = read_at(&range.file, &mut buf[..want], offset)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file truncated while sending",
                    ));
                }
                self.conn.stream.write_all(&buf[..n]).await?;
                offset += n as u64;
            }
            self.conn.stream.flush().await
        }
        .await;
        self.conn.shard.relay_buffers.give(buf);
        result
    }

    /// Sends the write buffer, then returns it to the pool.
    pub(super) async fn flush(&mut self) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let mut result = self.conn.stream.write_all(&self.wbuf).await;
        if result.is_ok() {
            // A TLS session holds what it has not sent yet until flushed.
            result = self.conn.stream.flush().await;
        }
        self.wbuf.clear();
        self.conn.shard.buffers.give(std::mem::take(&mut self.wbuf));
        result
    }

    /// Reads more bytes into the read buffer within `timeout`. The buffer comes from the
    /// shard's pool only while bytes are pending, so an idle connection holds none.
    pub(super) async fn read_more(&mut self, timeout: Duration, limit: usize) -> io::Result<usize> {
        self.conn
            .stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let shard = self.conn.shard.clone();
        let pool = &shard.buffers;
        let rbuf = &mut self.rbuf;
        let stream = &mut self.conn.stream;
        futures_lite::future::poll_fn(|cx| {
            if rbuf.has_buffer() {
                let spare = rbuf.spare(pool, limit);
                if spare.is_empty() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::OutOfMemory,
                        "read buffer at its limit",
                    )));
                }
                match Pin::new(&mut *stream).poll_read(cx, spare) {
                    Poll::Ready(Ok(n)) => {
                        rbuf.filled_more(n);
                        Poll::Ready(Ok(n))
                    }
                    other => other,
                }
            } else {
                // Idle: borrow a pooled buffer for this poll only.
                let mut buf = pool.take();
                match Pin::new(&mut *stream).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        rbuf.adopt(buf, n);
                        Poll::Ready(Ok(n))
                    }
                    other => {
                        pool.give(buf);
                        other
                    }
                }
            }
        })
        .await
    }

    /// Reads and discards whatever the client still sends, for a short while, after our
    /// response to an error; then the connection drops.
    pub(super) async fn linger(&mut self) {
        let _ = self.conn.stream.flush().await;
        let _ = self.conn.stream.shutdown_write().await;
        let deadline = Instant::now() + LINGER_TOTAL;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let n = self
                .read_more(left.min(LINGER_READ), super::buffers::CHUNK)
                .await;
            let filled = self.rbuf.filled().len();
            self.rbuf.consume(filled);
            match n {
                Ok(n) if n > 0 => continue,
                _ => break,
            }
        }
    }
}

/// nginx's answer to plain HTTP on a TLS port: a 400 page naming the mistake, then close.
pub async fn refuse_plain_http(mut stream: glommio::net::TcpStream, server_tokens: bool) {
    const REASON: &str = "The plain HTTP request was sent to HTTPS port";
    let footer = if server_tokens {
        concat!("anx/", env!("CARGO_PKG_VERSION"))
    } else {
        "anx"
    };
    let page = format!(
        "<html>\r\n<head><title>400 {REASON}</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>{REASON}</center>\r\n<hr><center>{footer}</center>\r\n</body>\r\n</html>\r\n"
    );
    let mut resp = Response::new(400);
    resp.close = true;
    resp.content_type = Some("text/html".to_string());
    resp.body = Body::Bytes(page.into_bytes());
    let mut out = Vec::new();
    write_head(
        &mut out,
        &resp,
        &HeadContext {
            server_tokens,
            keep_alive: false,
            keepalive_header: None,
            chunked: false,
        },
    );
    if let Body::Bytes(b) = &resp.body {
        out.extend_from_slice(b);
    }
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(&out).await.is_ok() {
        let _ = stream.shutdown(std::net::Shutdown::Write).await;
        // Read what the client still sends for a moment, so the close does not reset
        // the page away.
        let _ = stream.set_read_timeout(Some(LINGER_READ));
        let mut sink = [0u8; 4096];
        let deadline = Instant::now() + LINGER_READ;
        while Instant::now() < deadline {
            match futures_lite::AsyncReadExt::read(&mut stream, &mut sink).await {
                Ok(n) if n > 0 => continue,
                _ => break,
            }
        }
    }
}

/// What the head writer adds for a response of a location with `http` settings.
pub(super) fn head_context(http: &LocationHttp, keep_alive: bool, chunked: bool) -> HeadContext {
    HeadContext {
        server_tokens: http.server_tokens,
        keep_alive,
        keepalive_header: http.keepalive_header.map(|t| t.as_secs()),
        chunked,
    }
}

fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    file.read_at(buf, offset)
}

/// Access to the read side for the body reader.
impl State {
    pub(super) fn pending(&self) -> &[u8] {
        self.rbuf.filled()
    }

    pub(super) fn consume(&mut self, n: usize) {
        self.rbuf.consume(n);
    }
}

/// Debug builds only: `ANX_TEST_PANIC_PATH=/p` in the environment makes a request for `/p`
/// panic in the connection task, outside the pipeline's own fence, so a test can prove that
/// a panic ends one connection and never the shard. Release builds have no such hook.
#[cfg(debug_assertions)]
mod test_hooks {
    use std::sync::OnceLock;

    pub fn panics_at(path: &[u8]) -> bool {
        static PATH: OnceLock<Option<Vec<u8>>> = OnceLock::new();
        let wanted = PATH.get_or_init(|| {
            std::env::var_os("ANX_TEST_PANIC_PATH")
                .map(|p| std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()).to_vec())
        });
        wanted.as_deref() == Some(path)
    }
}
