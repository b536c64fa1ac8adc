//! The upstream exchange of a proxied request, on the client's connection task.
//!
//! `serve::h1` hands over once the pipeline chose a `proxy_pass` location and built the
//! [`ProxyPlan`]. Here: read the client's body when it is to be buffered, pick a peer
//! (`upstream::balance`), take an idle connection from the shard's pool or connect, send
//! the head and body, read the response head (`http::upstream`), retry on another peer as
//! `proxy_next_upstream` allows, then relay the head and stream the body to the client
//! through one bounded buffer (one loop for every framing: `http::body::Decoder` →
//! `filters::body::BodyChain` → the client's encoder), and give the connection back to the
//! pool when it ended cleanly. A 101 turns into a tunnel (`serve::tunnel`). A failure before anything was sent
//! to the client goes back to the pipeline (`pipeline::resume`) for its error page.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::h1::{State, Stop};
use super::spill::Stored;
use super::upstreams::ShardUpstreams;
use crate::config::model::{Config, ErrorLevel, Peer, PeerAddr, PostAction, Upstream};
use crate::context::state::{ConnInfo, Received, RequestState};
use crate::context::vars::{Ctx, Sent};
use crate::filters::body::{BodyChain, Trailers};
use crate::handlers::proxy::{send_framing, ProxyPlan, SendBody, Target};
use crate::http::body::{DecodeError, Decoder, Encoder};
use crate::http::request::{BodyFraming, RequestHead};
use crate::http::response::Response;
use crate::http::upstream::{
    self as codec, ClientFraming, InvalidHead, Parsed, RelayOptions, ResponseFraming, UpstreamHead,
};
use crate::net::client::PeerActivity;
use crate::net::upstream::UpstreamConn;
use crate::pipeline::{self, Request, Resume, Selected};
use crate::upstream::balance::PickKey;
use crate::upstream::retry::{Decision, End, Failure, Outcome, PeerMark, Retries};

/// A pooled connection idle longer than this is checked (one non-blocking peek) before it
/// is reused; one used more recently goes straight to work, and if the upstream closed it
/// after all, an idempotent request is sent again on a new connection.
const STALE_CHECK_AFTER: Duration = Duration::from_millis(500);
/// How long an upstream may think before the client's connection is watched for it
/// leaving. The watch is an io_uring receive (MSG_PEEK) and its cancellation: measured at
/// about 7 µs of CPU per proxied request when armed at once, so answers quicker than this
/// never pay it, and a client that leaves is still noticed within this much of the
/// upstream's first wait.
const CLIENT_WATCH_AFTER: Duration = Duration::from_millis(100);

/// The relay buffer: one per exchange, from the shard's pool.
const RELAY_BUF: usize = 64 * 1024;

/// What `serve::h1` hands over.
pub(super) struct Job<'a, 'c> {
    pub config: &'c Arc<Config>,
    pub selected: &'a Selected<'c>,
    pub head: &'a RequestHead,
    /// A copy of the request head's bytes (`head`'s positions index it).
    pub head_copy: &'a [u8],
    pub conn: &'a ConnInfo,
    pub started: Instant,
    /// The client connection may stay open after this response.
    pub keep_alive: bool,
    pub now: i64,
    /// The answering location's connection and body settings.
    pub http: &'c crate::config::model::LocationHttp,
    /// The answering location's `error_log` (empty: the main logs): the exchange's lines
    /// go there, across its awaits.
    pub error_log: &'c [crate::config::model::ErrorLog],
    /// A `post_action`'s exchange: the answer is read and dropped, nothing is logged.
    pub discard: bool,
    /// Where the exchange leaves the `post_action` of the location that answered last.
    pub post_action: &'a Cell<Option<&'c PostAction>>,
}

impl<'c> Job<'_, 'c> {
    /// The request as the variables see it.
    pub(super) fn received(&self) -> Received<'_> {
        Received {
            head: self.head,
            buf: self.head_copy,
            conn: self.conn,
            started: self.started,
        }
    }
}

/// The client's body, as far as the exchange has it.
enum ClientBody {
    None,
    /// Read whole, in memory or a temporary file (retries possible).
    Buffered(super::spill::Stored),
    /// Still on the client's connection; sent after the head, once.
    Stream(BodyFraming),
    /// Streamed to an attempt already: a retry would have nothing to send. Holds the
    /// body when it fitted `client_body_buffer_size` (nginx's `$request_body` still shows
    /// it then).
    Spent(Option<Rc<Vec<u8>>>),
}

/// An attempt that got a response head.
struct Answer {
    conn: UpstreamConn,
    peer: Option<usize>,
    /// Requests sent on `conn` (this one included), for `keepalive_requests`.
    uses: u64,
    /// When `conn` was opened, for `keepalive_time`.
    opened: Instant,
    head: UpstreamHead,
    /// What was read: the head, and whatever of the body came with it.
    buf: Vec<u8>,
    filled: usize,
    /// Bytes of request sent on this attempt (`$upstream_bytes_sent`).
    sent: u64,
}

/// Runs the exchange; the result is the connection loop's (`Ok(true)` keeps the client
/// connection).
pub(super) async fn serve<'c>(
    st: &mut State,
    job: Job<'_, 'c>,
    mut state: RequestState<'c>,
    mut plan: Box<ProxyPlan<'c>>,
) -> Result<bool, Stop> {
    // A static response's pacing never carries over to this one (its own is read in relay).
    st.pace = None;
    let server = job.selected.server;
    let max_body = state
        .location
        .map_or(server.http.client_max_body_size, |l| l.client_max_body_size);
    let mut body = match read_body(st, &job, &plan, max_body).await {
        Ok(b) => b,
        Err(stop) => return stop,
    };
    if let ClientBody::Buffered(stored) = &body {
        state.body = Some(stored.vars());
    }
    loop {
        let upstreams = st.conn.generation.upstreams.clone();
        match exchange(st, &job, &mut state, &plan, &mut body, &upstreams, max_body).await {
            Ok(keep) => return Ok(keep),
            Err(Fallback::Close) => return Ok(false),
            Err(Fallback::ClientGone) => {
                body.note_vars(&mut state);
                log_request(st, &job, state, &Response::new(499), None);
                return Ok(false);
            }
            Err(fallback) => {
                body.note_vars(&mut state);
                let shard = st.conn.shard.clone();
                let generation = st.conn.generation.clone();
                let req = Request {
                    head: job.head,
                    buf: job.head_copy,
                    listener: &st.conn.listener,
                    conn: job.conn,
                    started: job.started,
                    declared_body: None,
                    index: None,
                    status: Some(shard.status_sources(&generation)),
                };
                let outcome = {
                    let mut statics = shard.statics.borrow_mut();
                    let how = match fallback {
                        Fallback::Accel(redirect) => {
                            let (target, carried) = *redirect;
                            Resume::Accel(target, carried)
                        }
                        Fallback::Intercepted(resp) => Resume::Failed(resp),
                        Fallback::Status(code) => Resume::Failed(Response::new(code)),
                        Fallback::Close | Fallback::ClientGone => return Ok(false),
                    };
                    let (config, selected, now) = (job.config, job.selected, job.now);
                    pipeline::resume(config, selected, &req, &mut statics, now, state, how)
                };
                let response = match outcome {
                    pipeline::Outcome::Respond { response, state: s } => {
                        state = s;
                        response
                    }
                    pipeline::Outcome::Exchange {
                        exchange: pipeline::Exchange::Proxy(next),
                        state: s,
                    } => {
                        // An error page or X-Accel-Redirect served by another proxied location.
                        state = s;
                        body.next_location(&plan, &next);
                        plan = next;
                        continue;
                    }
                };
                // limit_rate (or X-Accel-Limit-Rate) of the location that answers.
                st.pace = state.location.and_then(|loc| {
                    super::rate::for_request(
                        job.config,
                        server,
                        job.received(),
                        &mut state,
                        &loc.rate,
                    )
                });
                let keep =
                    job.keep_alive && !response.close && !matches!(body, ClientBody::Stream(_));
                let written = if super::trailers::chunked(&response, job.head, job.http) {
                    let mut src = trailer_source(&job, &mut state);
                    st.write_chunked(&response, job.http, keep, &mut src).await
                } else {
                    st.write_response(
                        &response,
                        job.http,
                        keep,
                        job.head.method == crate::http::request::Method::Head,
                    )
                    .await
                };
                log_request(st, &job, state, &response, written.as_ref().ok().copied());
                return match written {
                    Ok(_) if keep => Ok(true),
                    Ok(_) => {
                        let _ = st.flush().await;
                        Ok(false)
                    }
                    Err(_) => Ok(false),
                };
            }
        }
    }
}

/// A `post_action`'s exchange: the request goes to the upstream (with its
/// `proxy_set_body`, never the client's body, which the main request used up), and the
/// answer is read and dropped.
pub(super) async fn discard<'c>(
    st: &mut State,
    job: Job<'_, 'c>,
    mut state: RequestState<'c>,
    plan: Box<ProxyPlan<'c>>,
) {
    let mut body = match &plan.set_body {
        Some(b) => ClientBody::Buffered(Stored::Memory(Rc::new(b.clone()))),
        None => ClientBody::None,
    };
    let upstreams = st.conn.generation.upstreams.clone();
    let _ = exchange(st, &job, &mut state, &plan, &mut body, &upstreams, 0).await;
}

/// How an exchange that relayed nothing ends.
enum Fallback {
    /// Answer with this status (through error_page).
    Status(u16),
    /// An upstream error intercepted for error_page (`proxy_intercept_errors`), with the
    /// fields nginx keeps from it (a 401's WWW-Authenticate).
    Intercepted(Response),
    /// The upstream's X-Accel-Redirect: where to, and the fields the redirect keeps.
    Accel(Box<(crate::http::accel::Target, crate::http::accel::Carried)>),
    /// The client is gone or the response was cut: close without a word.
    Close,
    /// The client left before the upstream answered: logged as 499, then closed.
    ClientGone,
}

/// Reads the body now when it is small enough (or must be measured); otherwise leaves it
/// on the connection to stream.
async fn read_body(
    st: &mut State,
    job: &Job<'_, '_>,
    plan: &ProxyPlan<'_>,
    max_body: u64,
) -> Result<ClientBody, Result<bool, Stop>> {
    let framing = job.head.body;
    if let Some(body) = &plan.set_body {
        // proxy_set_body: the client's body (if any) is read and dropped.
        if framing != BodyFraming::None {
            if job.head.expect_continue {
                st.wbuf_mut()
                    .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                if st.flush().await.is_err() {
                    return Err(Ok(false));
                }
            }
            let timeout = job.http.client_body_timeout;
            match super::body::discard(st, framing, max_body, timeout).await {
                super::body::BodyOutcome::Done => {}
                other => return Err(body_refusal(other)),
            }
        }
        return Ok(ClientBody::Buffered(Stored::Memory(Rc::new(body.clone()))));
    }
    // nginx answers the expectation when the body is to be read, even an empty one.
    if job.head.expect_continue {
        st.wbuf_mut()
            .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        if st.flush().await.is_err() {
            return Err(Ok(false));
        }
    }
    if framing == BodyFraming::None {
        return Ok(ClientBody::None);
    }
    let timeout = job.http.client_body_timeout;
    if !plan.send_body {
        // proxy_pass_request_body off: the body is read and dropped, as a static location
        // would.
        return match super::body::discard(st, framing, max_body, timeout).await {
            super::body::BodyOutcome::Done => Ok(ClientBody::None),
            other => Err(body_refusal(other)),
        };
    }
    let settings = &plan.proxy.settings;
    // A chunked body for an HTTP/1.0 upstream must be measured first, whatever
    // proxy_request_buffering says (as nginx).
    let buffer = match framing {
        BodyFraming::Length(_) => settings.request_buffering,
        BodyFraming::Chunked => settings.request_buffering || settings.http_minor == 0,
        BodyFraming::None => false,
    };
    if !buffer {
        return Ok(ClientBody::Stream(framing));
    }
    let body = &job.http.body;
    match super::spill::store(st, framing, max_body, timeout, body).await {
        Ok(stored) => Ok(ClientBody::Buffered(stored)),
        Err(super::spill::StoreError::Client(outcome)) => Err(body_refusal(outcome)),
        Err(super::spill::StoreError::Disk(e)) => {
            crate::log::scoped::emit(
                job.error_log,
                crate::config::model::ErrorLevel::Error,
                format_args!(
                    "*{} writing the request body to a temporary file under {} failed: {e}, \
                     client: {}",
                    st.conn.id,
                    body.temp_path.path.display(),
                    st.conn.peer
                ),
            );
            Err(Err(Stop::Refuse(500)))
        }
    }
}

fn body_refusal(outcome: super::body::BodyOutcome) -> Result<bool, Stop> {
    use super::body::BodyOutcome;
    match outcome {
        BodyOutcome::Done => Ok(true),
        BodyOutcome::TooLarge => Err(Stop::Refuse(413)),
        BodyOutcome::Malformed => Err(Stop::Refuse(400)),
        BodyOutcome::TimedOut => Err(Stop::Refuse(408)),
        BodyOutcome::Closed => Ok(false),
    }
}

/// Tries peers until one answers, then relays its answer. `Err` when nothing was relayed.
#[allow(clippy::too_many_arguments)]
async fn exchange<'c>(
    st: &mut State,
    job: &Job<'_, 'c>,
    state: &mut RequestState<'c>,
    plan: &ProxyPlan<'c>,
    body: &mut ClientBody,
    upstreams: &Rc<ShardUpstreams>,
    max_body: u64,
) -> Result<bool, Fallback> {
    let config: &Config = job.config;
    let settings = &plan.proxy.settings;
    state.upstream.get_or_insert_with(Default::default);
    let first_try = Instant::now();
    let group = match plan.target {
        Target::Group(i) => config.upstreams.get(i).map(|u| (i, u)),
        Target::Addr(_) | Target::Unix(_) | Target::Resolve { .. } => None,
    };
    // The addresses of a proxy_pass with variables: a literal one, or what the location's
    // `resolver` says the name is (each tried in turn, as nginx's implicit group of them).
    let addrs: Vec<PeerAddr> = match &plan.target {
        Target::Group(_) => Vec::new(),
        Target::Addr(a) => vec![PeerAddr::Inet(*a)],
        Target::Unix(p) => vec![PeerAddr::Unix(p.clone())],
        Target::Resolve { host, port } => {
            let Some(res) = settings.resolver.as_ref() else {
                return Err(Fallback::Status(502));
            };
            match upstreams
                .resolver
                .resolve(res, host, settings.resolver_timeout)
                .await
            {
                Ok(ips) => ips
                    .into_iter()
                    .map(|ip| PeerAddr::Inet(SocketAddr::new(ip, *port)))
                    .collect(),
                Err(e) => {
                    log_resolve_error(st, job, host, &e);
                    return Err(Fallback::Status(502));
                }
            }
        }
    };
    // Each peer is tried at most once per request (the balancer skips tried ones); a
    // literal address has one.
    let peer_count = group.map_or(addrs.len(), |(_, u)| u.peers.len());
    // A client certificate a request names by variables that does not load is the
    // server's error (nginx: 500 before any connection), not the upstream's.
    if let (Some(_), Some(cert)) = (&plan.ssl_name, &plan.ssl_certificate) {
        if let Err(e) = upstreams.tls_config(plan.proxy, Some(cert)) {
            log_request_error(st, job, &e);
            return Err(Fallback::Status(500));
        }
    }
    let mut retries: Retries<Answer> =
        Retries::new(settings, peer_count, plan.idempotent, first_try);
    while retries.may_start(Instant::now(), matches!(body, ClientBody::Spent(_))) {
        // Choose the peer.
        let (peer, addr, peer_name): (Option<usize>, PeerAddr, String) = match (&plan.target, group)
        {
            (Target::Addr(_) | Target::Unix(_) | Target::Resolve { .. }, _) => {
                let turn = retries.tries() as usize % addrs.len().max(1);
                let Some(a) = addrs.get(turn) else {
                    return Err(Fallback::Status(502));
                };
                (None, a.clone(), a.to_string())
            }
            (Target::Group(gi), Some((_, up))) => {
                let Some(g) = upstreams.groups.get(*gi) else {
                    return Err(Fallback::Status(502));
                };
                let key = PickKey {
                    // nginx's ip_hash hashes a Unix client as a zero address.
                    client: job
                        .conn
                        .peer
                        .ip()
                        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
                    hash: &plan.hash_key,
                };
                let healthy = |p: usize| upstreams.peer_up(*gi, p);
                let picked =
                    g.peers
                        .borrow_mut()
                        .pick(up, key, retries.tried(), &healthy, Instant::now());
                let Some(p) = picked else {
                    // nginx's "no live upstreams": the attempt is named by the group.
                    let vars = state.upstream.get_or_insert_with(Default::default);
                    vars.addr.push(up.name.clone().into_bytes());
                    vars.status.push(502);
                    vars.connect_time.push(None);
                    vars.header_time.push(None);
                    vars.response_time.push(Some(0.0));
                    vars.response_length.push(0);
                    if retries.tries() == 0 {
                        log_upstream_line(
                            ErrorLevel::Error,
                            st,
                            job,
                            plan,
                            &up.name,
                            "no live upstreams",
                            "connecting to upstream",
                        );
                    }
                    break;
                };
                let peer: &Peer = &up.peers[p];
                let name = g.addr_names.get(p).cloned().unwrap_or_default();
                (Some(p), peer.addr.clone(), name)
            }
            (Target::Group(_), None) => return Err(Fallback::Status(502)),
        };
        if let Some(prev) = retries.begin(peer) {
            release(upstreams, group, prev.peer);
        }
        let attempt_started = Instant::now();
        let result = attempt(st, job, plan, body, upstreams, group, peer, &addr, max_body).await;
        let vars = state.upstream.get_or_insert_with(Default::default);
        vars.addr.push(peer_name.clone().into_bytes());
        let outcome = match result {
            Ok((answer, connect_time)) => {
                let status = answer.head.status;
                vars.status.push(status);
                vars.connect_time.push(Some(connect_time));
                vars.header_time
                    .push(Some(attempt_started.elapsed().as_secs_f64()));
                vars.response_time.push(None);
                vars.response_length.push(0);
                vars.bytes_received += answer.head.len as u64;
                vars.bytes_sent += answer.sent;
                let group_state = group
                    .zip(answer.peer)
                    .and_then(|((gi, up), p)| upstreams.groups.get(gi).map(|g| (g, up, p)));
                let outcome = Outcome::Answer { status, answer };
                if let Some((g, up, p)) = group_state {
                    g.answered(p, status, attempt_started.elapsed());
                    match retries.peer_mark(&outcome) {
                        PeerMark::Failed => {
                            if g.failed(up, p, Instant::now()) {
                                log_peer_down(up, p);
                            }
                        }
                        PeerMark::Succeeded => g.peers.borrow_mut().succeeded(p),
                        PeerMark::Neutral => {}
                    }
                }
                outcome
            }
            Err(AttemptError {
                failure,
                message,
                action,
                sent,
            }) => {
                vars.status.push(failure.status());
                vars.connect_time.push(None);
                vars.header_time.push(None);
                vars.response_time
                    .push(Some(attempt_started.elapsed().as_secs_f64()));
                vars.response_length.push(0);
                let outcome = Outcome::Failed {
                    failure,
                    body_sent: sent,
                };
                // nginx names the peer that failed, not its group; a client that left is
                // logged at info: its doing, not the upstream's.
                let level = match failure {
                    Failure::ClientClosed => ErrorLevel::Info,
                    _ => ErrorLevel::Error,
                };
                log_upstream_line(level, st, job, plan, &peer_name, &message, action);
                if let (Some((gi, up)), Some(p)) = (group, peer) {
                    if let Some(g) = upstreams.groups.get(gi) {
                        g.release(p);
                        if retries.peer_mark(&outcome) == PeerMark::Failed
                            && g.failed(up, p, Instant::now())
                        {
                            log_peer_down(up, p);
                        }
                    }
                }
                outcome
            }
        };
        match retries.decide(outcome, matches!(body, ClientBody::Spent(_))) {
            Decision::Relay(answer) => {
                body.note_vars(state);
                return relay(
                    st,
                    job,
                    state,
                    plan,
                    upstreams,
                    group,
                    answer,
                    attempt_started,
                )
                .await;
            }
            Decision::Next => {}
            Decision::GiveUp(status) => return Err(Fallback::Status(status)),
            Decision::ClientGone => return Err(Fallback::ClientGone),
        }
    }
    match retries.finish() {
        End::Relay(answer) => {
            let started = Instant::now();
            body.note_vars(state);
            relay(st, job, state, plan, upstreams, group, answer, started).await
        }
        End::Status(status) => Err(Fallback::Status(status)),
    }
}

/// Ends an exchange's hold on its peer; the connection goes back to the group's pool when
/// `reusable` and the group's keep-alive limits (`uses` requests so far, `opened` when)
/// allow it, else it is closed.
fn give_back(
    upstreams: &ShardUpstreams,
    group: Option<(usize, &Upstream)>,
    peer: Option<usize>,
    conn: UpstreamConn,
    reusable: bool,
    (uses, opened): (u64, Instant),
) {
    if let (Some((gi, up)), Some(p)) = (group, peer) {
        if let Some(g) = upstreams.groups.get(gi) {
            g.release(p);
            let young = opened.elapsed() < up.keepalive_time;
            if reusable && young && uses < up.keepalive_requests && up.keepalive > 0 {
                g.pool
                    .borrow_mut()
                    .put(p, conn, uses, opened, Instant::now());
            }
        }
    }
}

fn release(upstreams: &ShardUpstreams, group: Option<(usize, &Upstream)>, peer: Option<usize>) {
    if let (Some((gi, _)), Some(p)) = (group, peer) {
        if let Some(g) = upstreams.groups.get(gi) {
            g.release(p);
        }
    }
}

fn log_peer_down(up: &Upstream, p: usize) {
    if let Some(peer) = up.peers.get(p) {
        log::warn!(
            "upstream server temporarily disabled: upstream \"{}\" peer {} reached max_fails={} (fail_timeout={}s)",
            up.name,
            peer.addr,
            peer.max_fails,
            peer.fail_timeout.as_secs()
        );
    }
}

/// An attempt's failure: its kind, the message and the action for the error log, and
/// whether part of the request (its body) was already sent.
struct AttemptError {
    failure: Failure,
    message: String,
    action: &'static str,
    sent: bool,
}

impl AttemptError {
    fn new(failure: Failure, message: impl Into<String>, action: &'static str, sent: bool) -> Self {
        AttemptError {
            failure,
            message: message.into(),
            action,
            sent,
        }
    }
}

/// One attempt on one peer: connection (pooled or new), request, response head.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    st: &mut State,
    job: &Job<'_, '_>,
    plan: &ProxyPlan<'_>,
    body: &mut ClientBody,
    upstreams: &ShardUpstreams,
    group: Option<(usize, &Upstream)>,
    peer: Option<usize>,
    addr: &PeerAddr,
    max_body: u64,
) -> Result<(Answer, f64), AttemptError> {
    let settings = &plan.proxy.settings;
    let started = Instant::now();
    // A pooled connection first; if the upstream had closed it meanwhile, the request is
    // sent again on a new one (that is no failure of the peer).
    let mut pooled = None;
    // A failed config is reported by the handshake below; no pooled connection matches it.
    let tls_config = plan.ssl_name.as_ref().and_then(|_| {
        upstreams
            .tls_config(plan.proxy, plan.ssl_certificate.as_ref())
            .ok()
    });
    let wanted_tls = tls_config.as_ref().zip(plan.ssl_name.as_deref());
    if let (Some((gi, up)), Some(p)) = (group, peer) {
        if let Some(g) = upstreams.groups.get(gi) {
            let mut pool = g.pool.borrow_mut();
            while let Some(idle) = pool.take(p, Instant::now()) {
                // Only a connection idle for a while can have been closed by the upstream's
                // own keep-alive timeout; checking every reuse cost a syscall per request.
                let checked = idle.since.elapsed() < STALE_CHECK_AFTER || idle.conn.still_open();
                // A group may serve `http://` and `https://` locations (or one URL with
                // variables that evaluates to either): a connection is only reused with the
                // scheme, TLS settings and name it was opened for (else it is dropped).
                let same = if plan.ssl_name.is_some() {
                    wanted_tls.is_some_and(|w| idle.conn.opened_for(Some(w)))
                } else {
                    idle.conn.opened_for(None)
                };
                if idle.requests < up.keepalive_requests && checked && same {
                    pooled = Some(idle);
                    break;
                }
            }
        }
    }
    if let (Some((gi, _)), Some(p)) = (group, peer) {
        if let Some(g) = upstreams.groups.get(gi) {
            g.acquire(p);
        }
    }
    if let Some(idle) = pooled {
        let uses = idle.requests + 1;
        let opened = idle.opened;
        match send_and_read(st, job, plan, body, idle.conn, max_body, true).await {
            Ok((conn, head, buf, filled, sent)) => {
                return Ok((
                    Answer {
                        conn,
                        peer,
                        uses,
                        opened,
                        head,
                        buf,
                        filled,
                        sent,
                    },
                    0.0,
                ));
            }
            // A streamed body went with the stale attempt: there is nothing to send again.
            Err(Retry::Stale) if matches!(body, ClientBody::Spent(_)) || !plan.idempotent => {
                return Err(AttemptError::new(
                    Failure::Error,
                    "upstream prematurely closed a kept-alive connection",
                    "sending request to upstream",
                    true,
                ));
            }
            Err(Retry::Stale) => {}
            Err(Retry::Failed(e)) => return Err(e),
        }
    }
    let connected = match (plan.bind, addr) {
        (Some((local, transparent)), PeerAddr::Inet(a)) => {
            let timeout = settings.connect_timeout.max(Duration::from_millis(1));
            UpstreamConn::connect_from(*a, local, transparent, timeout).await
        }
        _ => UpstreamConn::connect(addr, settings.connect_timeout).await,
    };
    let conn = match connected {
        Ok(c) => c,
        Err(e) => {
            let failure = if e.kind() == io::ErrorKind::TimedOut {
                Failure::Timeout
            } else {
                Failure::Error
            };
            let message = match failure {
                Failure::Timeout => "upstream timed out (110: Connection timed out)".to_string(),
                _ => format!("connect() failed ({})", crate::log::os_error(&e)),
            };
            return Err(AttemptError::new(
                failure,
                message,
                "connecting to upstream",
                false,
            ));
        }
    };
    let conn = match &plan.ssl_name {
        Some(name) => {
            let left = settings.connect_timeout.saturating_sub(started.elapsed());
            handshake(conn, upstreams, plan, name, left).await?
        }
        None => conn,
    };
    let connect_time = started.elapsed().as_secs_f64();
    match send_and_read(st, job, plan, body, conn, max_body, false).await {
        Ok((conn, head, buf, filled, sent)) => Ok((
            Answer {
                conn,
                peer,
                uses: 1,
                opened: started,
                head,
                buf,
                filled,
                sent,
            },
            connect_time,
        )),
        Err(Retry::Stale) => Err(AttemptError::new(
            Failure::Error,
            "upstream prematurely closed connection".to_string(),
            "reading response header from upstream",
            true,
        )),
        Err(Retry::Failed(e)) => Err(e),
    }
}

/// The TLS handshake of a new `https://` upstream connection, within what is left of
/// `proxy_connect_timeout`. A failure is an attempt failure (502, `proxy_next_upstream
/// error`), logged in nginx's words.
async fn handshake(
    conn: UpstreamConn,
    upstreams: &ShardUpstreams,
    plan: &ProxyPlan<'_>,
    name: &str,
    left: Duration,
) -> Result<UpstreamConn, AttemptError> {
    const ACTION: &str = "SSL handshaking to upstream";
    let fail = |failure, message: String| AttemptError::new(failure, message, ACTION, false);
    let config = upstreams
        .tls_config(plan.proxy, plan.ssl_certificate.as_ref())
        .map_err(|e| {
            fail(
                Failure::Error,
                format!("SSL client configuration failed ({e})"),
            )
        })?;
    if rustls::pki_types::ServerName::try_from(name).is_err() {
        return Err(fail(
            Failure::Error,
            format!("invalid proxy_ssl_name \"{name}\""),
        ));
    }
    match conn
        .handshake(config, name, left.max(Duration::from_millis(1)))
        .await
    {
        Ok(c) => Ok(c),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(fail(
            Failure::Timeout,
            "upstream timed out (110: Connection timed out)".to_string(),
        )),
        Err(e) => {
            let verify = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
            let message = if verify {
                format!("upstream SSL certificate verify error: ({e})")
            } else {
                format!("SSL_do_handshake() failed ({e})")
            };
            Err(fail(Failure::Error, message))
        }
    }
}

enum Retry {
    /// A reused connection failed before any byte of an answer: try a new one.
    Stale,
    Failed(AttemptError),
}

/// Sends the request on `conn` and reads the response head.
async fn send_and_read(
    st: &mut State,
    job: &Job<'_, '_>,
    plan: &ProxyPlan<'_>,
    body: &mut ClientBody,
    mut conn: UpstreamConn,
    max_body: u64,
    reused: bool,
) -> Result<(UpstreamConn, UpstreamHead, Vec<u8>, usize, u64), Retry> {
    let settings = &plan.proxy.settings;
    let send_timeout = settings.send_timeout;
    let mut out = st.conn.shard.buffers.take_empty();
    out.extend_from_slice(&plan.head);
    let framing = match body {
        ClientBody::None | ClientBody::Spent(_) => SendBody::None,
        ClientBody::Buffered(b) => SendBody::Length(b.len()),
        ClientBody::Stream(f) => send_framing(*f, true),
    };
    let framing = match (framing, body.is_buffered(), job.head.body) {
        // A buffered chunked body was measured: it goes with a length.
        (_, true, _) => framing,
        (f, _, _) => f,
    };
    match framing {
        SendBody::None if job.head.body != BodyFraming::None && plan.send_body => {
            out.extend_from_slice(b"Content-Length: 0\r\n");
        }
        SendBody::None => {}
        SendBody::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        SendBody::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
    let body_in_head = match body {
        ClientBody::Buffered(Stored::Memory(b)) if b.len() <= 64 * 1024 => {
            out.extend_from_slice(b);
            true
        }
        _ => false,
    };
    let mut sent = out.len() as u64;
    // A streamed body's first bytes go in one write with the head (as nginx's preread).
    let streaming = matches!(body, ClientBody::Stream(_));
    let sent_head = if streaming {
        Ok(())
    } else {
        conn.write_within(&out, send_timeout).await
    };
    if let Err(e) = sent_head {
        out.clear();
        st.conn.shard.buffers.give(out);
        return Err(stale_or_failed(
            &e,
            reused,
            "sending request to upstream",
            false,
        ));
    }
    match body {
        ClientBody::Buffered(Stored::Memory(b)) if !body_in_head => {
            sent += b.len() as u64;
            if let Err(e) = conn.write_within(b, send_timeout).await {
                return Err(Retry::Failed(io_failure(
                    &e,
                    "sending request to upstream",
                    true,
                )));
            }
        }
        ClientBody::Buffered(Stored::File(f)) => {
            sent += send_file_body(st, &mut conn, f, send_timeout).await?;
        }
        ClientBody::Stream(framing) => {
            let framing = *framing;
            let streamed = stream_body(
                st,
                job,
                &mut conn,
                (framing, max_body),
                send_timeout,
                (&out, reused),
            )
            .await;
            out.clear();
            st.conn.shard.buffers.give(out);
            match streamed {
                Ok((n, kept)) => {
                    *body = ClientBody::Spent(kept);
                    sent += n;
                }
                // Nothing of the body was taken: it goes again on a new connection.
                Err(Retry::Stale) => return Err(Retry::Stale),
                Err(e) => {
                    *body = ClientBody::Spent(None);
                    return Err(e);
                }
            }
        }
        _ => {
            out.clear();
            st.conn.shard.buffers.give(out);
        }
    }
    // The response head.
    let mut buf = st.conn.shard.relay_buffers.take();
    if buf.len() < RELAY_BUF {
        buf.resize(RELAY_BUF, 0);
    }
    let mut filled = 0usize;
    let max = settings.buffer_size;
    // Until the client sends something (a pipelined request), its closing is watched for
    // while the upstream thinks (nginx's test_reading).
    let mut watch_client = !settings.ignore_client_abort;
    loop {
        match codec::parse_response_head(&buf[..filled], max, plan.head_request) {
            Ok(Parsed::Head(head)) => return Ok((conn, head, buf, filled, sent)),
            Ok(Parsed::Interim(len)) => {
                buf.copy_within(len..filled, 0);
                filled -= len;
                continue;
            }
            Ok(Parsed::Incomplete) => {}
            Err(InvalidHead::TooLarge) => {
                st.conn.shard.relay_buffers.give(buf);
                return Err(Retry::Failed(AttemptError::new(
                    Failure::InvalidHeader,
                    "upstream sent too big header".to_string(),
                    "reading response header from upstream",
                    true,
                )));
            }
            Err(InvalidHead::Malformed(why)) => {
                st.conn.shard.relay_buffers.give(buf);
                return Err(Retry::Failed(AttemptError::new(
                    Failure::InvalidHeader,
                    format!("upstream sent invalid header ({why})"),
                    "reading response header from upstream",
                    true,
                )));
            }
        }
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        // With proxy_limit_rate, as nginx, the head is read into a proxy_buffer_size buffer:
        // no more of the body than fits there comes unpaced.
        let end = match settings.limit_rate {
            0 => buf.len(),
            _ => max.clamp(filled + 1, buf.len()),
        };
        let read = conn.read_within(&mut buf[filled..end], settings.read_timeout);
        let read = if watch_client {
            let client = async {
                glommio::timer::sleep(CLIENT_WATCH_AFTER).await;
                Err(st.conn.stream.peer_activity().await)
            };
            match futures_lite::future::or(async { Ok(read.await) }, client).await {
                Ok(r) => r,
                Err(PeerActivity::Sent) => {
                    watch_client = false;
                    continue;
                }
                Err(PeerActivity::Closed) => {
                    st.conn.shard.relay_buffers.give(buf);
                    return Err(Retry::Failed(AttemptError::new(
                        Failure::ClientClosed,
                        "client prematurely closed connection",
                        "reading response header from upstream",
                        true,
                    )));
                }
            }
        } else {
            read.await
        };
        match read {
            Ok(0) => {
                st.conn.shard.relay_buffers.give(buf);
                if reused && filled == 0 {
                    return Err(Retry::Stale);
                }
                return Err(Retry::Failed(AttemptError::new(
                    Failure::Error,
                    "upstream prematurely closed connection".to_string(),
                    "reading response header from upstream",
                    true,
                )));
            }
            Ok(n) => filled += n,
            Err(e) => {
                st.conn.shard.relay_buffers.give(buf);
                let action = "reading response header from upstream";
                if filled > 0 {
                    return Err(Retry::Failed(io_failure(&e, action, true)));
                }
                return Err(stale_or_failed(&e, reused, action, true));
            }
        }
    }
}

/// A reused connection that fails (not by timing out) before any answer was probably
/// closed by the upstream while idle: the request goes again on a new connection.
fn stale_or_failed(e: &io::Error, reused: bool, action: &'static str, sent: bool) -> Retry {
    if reused && e.kind() != io::ErrorKind::TimedOut {
        Retry::Stale
    } else {
        Retry::Failed(io_failure(e, action, sent))
    }
}

/// Sends a body held in a temporary file, one relay buffer at a time.
async fn send_file_body(
    st: &mut State,
    conn: &mut UpstreamConn,
    file: &super::spill::TempBody,
    send_timeout: Duration,
) -> Result<u64, Retry> {
    let mut buf = st.conn.shard.relay_buffers.take();
    if buf.len() < RELAY_BUF {
        buf.resize(RELAY_BUF, 0);
    }
    let mut offset = 0u64;
    let result = loop {
        if offset >= file.len {
            break Ok(offset);
        }
        let want = ((file.len - offset) as usize).min(buf.len());
        let n = match file.read_at(&mut buf[..want], offset) {
            Ok(0) => {
                break Err(AttemptError::new(
                    Failure::Error,
                    format!("request body file {} was truncated", file.path.display()),
                    "sending request to upstream",
                    true,
                ))
            }
            Ok(n) => n,
            Err(e) => {
                break Err(AttemptError::new(
                    Failure::Error,
                    format!("reading request body file {}: {e}", file.path.display()),
                    "sending request to upstream",
                    true,
                ))
            }
        };
        if let Err(e) = conn.write_within(&buf[..n], send_timeout).await {
            break Err(io_failure(&e, "sending request to upstream", true));
        }
        offset += n as u64;
    };
    st.conn.shard.relay_buffers.give(buf);
    result.map_err(Retry::Failed)
}

impl ClientBody {
    /// The body for the next proxied location of the same request (after an error page or
    /// X-Accel-Redirect): that location's `proxy_set_body`, else what is left of the
    /// client's (nothing when the last location's own body replaced it, or when it was
    /// streamed to the first attempt).
    fn next_location(&mut self, last: &ProxyPlan<'_>, next: &ProxyPlan<'_>) {
        if let Some(b) = &next.set_body {
            *self = ClientBody::Buffered(Stored::Memory(Rc::new(b.clone())));
        } else if last.set_body.is_some() {
            *self = ClientBody::None;
        } else if matches!(self, ClientBody::Stream(_)) {
            *self = ClientBody::Spent(None);
        }
    }

    /// A streamed body that fitted the buffer becomes `$request_body`, as in nginx.
    fn note_vars(&self, state: &mut RequestState<'_>) {
        if let ClientBody::Spent(Some(b)) = self {
            state.body = Some(crate::context::state::BodyVars {
                memory: Some(b.clone()),
                file: None,
            });
        }
    }

    fn is_buffered(&self) -> bool {
        matches!(self, ClientBody::Buffered(_))
    }
}

fn io_failure(e: &io::Error, action: &'static str, sent: bool) -> AttemptError {
    if e.kind() == io::ErrorKind::TimedOut {
        AttemptError::new(
            Failure::Timeout,
            "upstream timed out (110: Connection timed out)".to_string(),
            action,
            sent,
        )
    } else {
        AttemptError::new(Failure::Error, format!("{e}"), action, sent)
    }
}

/// Streams the client's body to the upstream as it arrives (Content-Length as is, chunked
/// re-chunked: what one read decoded goes as one chunk), within `client_body_timeout` per
/// read and `proxy_send_timeout` per write. The request head goes in the first write with
/// the body bytes already read. Returns the body bytes sent, and the body itself when it
/// fitted `client_body_buffer_size` (for `$request_body`). `Retry::Stale` only when the
/// first write failed on a reused connection; nothing was taken from the client then.
async fn stream_body(
    st: &mut State,
    job: &Job<'_, '_>,
    conn: &mut UpstreamConn,
    (framing, max_body): (BodyFraming, u64),
    send_timeout: Duration,
    (head, reused): (&[u8], bool),
) -> Result<(u64, Option<Rc<Vec<u8>>>), Retry> {
    let body_timeout = job.http.client_body_timeout;
    let keep_up_to = job.http.body.buffer_size;
    let failed = |why: &str| {
        Retry::Failed(AttemptError::new(
            Failure::Error,
            why.to_string(),
            "sending request to upstream",
            true,
        ))
    };
    let Some(mut decoder) = Decoder::request(framing, max_body) else {
        return Ok((0, None));
    };
    // A length goes as it came; a chunked body is framed again here (the upstream gets its
    // own chunks: what one read decoded goes as one).
    let encoder = match framing {
        BodyFraming::Chunked => Encoder::Chunked,
        _ => Encoder::Identity,
    };
    let mut sent = 0u64;
    let mut kept: Option<Vec<u8>> = Some(Vec::new());
    let mut out = Vec::with_capacity(head.len() + super::buffers::CHUNK + 16);
    out.extend_from_slice(head);
    let mut data = Vec::new();
    let mut first = true;
    loop {
        data.clear();
        let progress = match decoder.decode(st.pending(), &mut |d| data.extend_from_slice(d)) {
            Ok(p) => p,
            Err(DecodeError::TooLarge) => {
                return Err(failed("client intended to send too large chunked body"))
            }
            Err(DecodeError::Malformed(_)) => {
                return Err(failed("client sent invalid chunked body"))
            }
        };
        let (consumed, done) = (progress.consumed, progress.done);
        encoder.data(&mut out, &data);
        if done {
            encoder.end(&mut out, &mut |_| {});
        }
        if let Some(k) = kept.as_mut() {
            if (k.len() + data.len()) as u64 <= keep_up_to {
                k.extend_from_slice(&data);
            } else {
                kept = None;
            }
        }
        if !out.is_empty() {
            if let Err(e) = conn.write_within(&out, send_timeout).await {
                if first {
                    return Err(stale_or_failed(
                        &e,
                        reused,
                        "sending request to upstream",
                        false,
                    ));
                }
                st.consume(consumed);
                return Err(Retry::Failed(io_failure(
                    &e,
                    "sending request to upstream",
                    true,
                )));
            }
            if first {
                sent += (out.len() - head.len()) as u64;
            } else {
                sent += out.len() as u64;
            }
            first = false;
            out.clear();
        }
        st.consume(consumed);
        if done {
            return Ok((sent, kept.map(Rc::new)));
        }
        match st.read_more(body_timeout, super::buffers::CHUNK).await {
            Ok(n) if n > 0 => {}
            _ => return Err(failed("client prematurely closed connection")),
        }
    }
}

/// Relays an answer: head, then body by its framing; pools the connection afterwards when
/// it ended cleanly.
#[allow(clippy::too_many_arguments)]
async fn relay<'c>(
    st: &mut State,
    job: &Job<'_, 'c>,
    state: &mut RequestState<'c>,
    plan: &ProxyPlan<'c>,
    upstreams: &ShardUpstreams,
    group: Option<(usize, &Upstream)>,
    answer: Answer,
    attempt_started: Instant,
) -> Result<bool, Fallback> {
    let Answer {
        mut conn,
        peer,
        uses,
        opened,
        head,
        mut buf,
        mut filled,
        ..
    } = answer;
    let settings = &plan.proxy.settings;
    let server = job.selected.server;
    let status = head.status;
    if let Some(vars) = state.upstream.as_mut() {
        vars.head_fields = codec::raw_fields(&head, &buf[..filled]);
    }
    if job.discard {
        // A post action's answer is only read.
        let timeout = settings.read_timeout;
        let clean = super::post_action::drain(&mut conn, &head, &mut buf, filled, timeout).await;
        st.conn.shard.relay_buffers.give(buf);
        let reusable = clean
            && head.keep_alive
            && plan.reusable
            && head.framing != ResponseFraming::UntilClose;
        give_back(upstreams, group, peer, conn, reusable, (uses, opened));
        return Ok(false);
    }
    // proxy_intercept_errors: the upstream's error goes to this location's error_page.
    if settings.intercept_errors && status >= 300 && pipeline::has_error_page(state, server, status)
    {
        let mut resp = Response::new(status);
        if status == 401 {
            for (n, v) in &head.fields {
                if buf[n.clone()].eq_ignore_ascii_case(b"www-authenticate") {
                    resp.extra.extend_from_slice(b"WWW-Authenticate: ");
                    resp.extra.extend_from_slice(&buf[v.clone()]);
                    resp.extra.extend_from_slice(b"\r\n");
                }
            }
        }
        st.conn.shard.relay_buffers.give(buf);
        release(upstreams, group, peer);
        return Err(Fallback::Intercepted(resp));
    }
    if let Some(redirect) = super::accel::redirect(job, state, settings, &head, &buf[..filled]) {
        // nginx drops the answer's body: the connection is kept only when it had none.
        let empty = matches!(
            head.framing,
            ResponseFraming::Empty | ResponseFraming::Length(0)
        ) && filled == head.len;
        st.conn.shard.relay_buffers.give(buf);
        let reusable = empty && head.keep_alive && plan.reusable;
        give_back(upstreams, group, peer, conn, reusable, (uses, opened));
        if let Some(t) = state
            .upstream
            .as_mut()
            .and_then(|v| v.response_time.last_mut())
        {
            *t = Some(attempt_started.elapsed().as_secs_f64());
        }
        return Err(Fallback::Accel(Box::new(redirect)));
    }
    let upgrade = plan.upgrade && status == 101;
    // add_header / expires for this status, and proxy_redirect, with the request's
    // variables ($upstream_http_* included).
    let client_minor = match job.head.version {
        crate::http::request::Version::Http10 => 0,
        crate::http::request::Version::Http11 => 1,
        // Only `serve::h1` relays today; a 2 or 3 stream's body ends with the stream, never chunked.
        crate::http::request::Version::Http2 | crate::http::request::Version::Http3 => 0,
    };
    let head_request = job.head.method == crate::http::request::Method::Head;
    let before = st.wbuf.len();
    let mut extra = Response::new(status);
    let client_framing = {
        let mut ctx = Ctx {
            config: job.config,
            server,
            req: Received {
                head: job.head,
                buf: job.head_copy,
                conn: job.conn,
                started: job.started,
            },
            st: std::mem::replace(state, RequestState::new(Vec::new())),
        };
        // `expires modified` counts from the upstream's Last-Modified.
        extra.last_modified = codec::field(&head, &buf[..filled], "last-modified")
            .and_then(crate::http::validators::parse_http_date);
        crate::filters::headers(&mut extra, &mut ctx);
        let opts = RelayOptions {
            // `expires` set its own: the upstream's are replaced, as nginx's set_expires.
            replace_cache_fields: extra.field_value(b"expires").is_some(),
            hide: &settings.hide_headers,
            pass: &settings.pass_headers,
            server_tokens: job.http.server_tokens,
            keep_alive: job.keep_alive && !upgrade,
            chunked: job.http.chunked_transfer_encoding,
            keepalive_header: job.http.keepalive_header.map(|t| t.as_secs()),
            trailers: !upgrade && super::trailers::chunked(&extra, job.head, job.http),
            client_minor,
            head_request,
            upgrade,
            extra: &extra.extra,
        };
        let out = st.wbuf_mut();
        let framing = codec::write_client_head(out, &head, &buf[..filled], &opts, &mut |n, v| {
            if n.eq_ignore_ascii_case(b"set-cookie") {
                return crate::handlers::proxy_cookie::rewrite_set_cookie(&mut ctx, settings, v);
            }
            if n.eq_ignore_ascii_case(b"refresh") {
                // As nginx: only the URL after "url=" is rewritten, and left as it comes out.
                let at = v.windows(4).position(|w| w.eq_ignore_ascii_case(b"url="))? + 4;
                let url = crate::handlers::proxy::rewrite_location(&mut ctx, plan, &v[at..])?;
                let mut out = v[..at].to_vec();
                out.extend_from_slice(&url);
                return Some(out);
            }
            crate::handlers::proxy::rewrite_location(&mut ctx, plan, v)
                .map(|path| crate::filters::location::absolute_for(&path, &ctx))
        });
        *state = ctx.st;
        framing
    };
    // What `$sent_http_*` reads in the access log: the field lines as sent (copied only
    // when a log format asks).
    let sent_fields: Option<Rc<[u8]>> = job.config.logs_read_sent_fields.then(|| {
        let head = &st.wbuf[before..];
        let fields = memchr::memmem::find(head, b"\r\n").map_or(head, |i| &head[i + 2..]);
        Rc::from(fields)
    });
    // X-Accel-Limit-Rate from the upstream wins over limit_rate ("off" lifts it), as nginx.
    if let Some(rate) = super::accel::limit_rate(settings, &head, &buf[..filled]) {
        state.limit_rate = Some(rate);
    }
    // limit_rate of the location that answers, read once the upstream's head is in.
    let mut pace = state.location.and_then(|loc| {
        let recv = Received {
            head: job.head,
            buf: job.head_copy,
            conn: job.conn,
            started: job.started,
        };
        super::rate::for_request(job.config, server, recv, state, &loc.rate)
    });
    // proxy_limit_rate: the upstream is read no faster than this (what came with the head
    // counts).
    let mut upstream_pace = super::rate::Pace::upstream(settings.limit_rate, Instant::now());
    if let Some(p) = upstream_pace.as_mut() {
        p.sent(filled - head.len);
    }
    let head_bytes = (st.wbuf.len() - before) as u64;
    let mut body_start = head.len;

    if upgrade {
        if st.flush().await.is_err() {
            release(upstreams, group, peer);
            return Err(Fallback::Close);
        }
        let leftover = buf[body_start..filled].to_vec();
        st.conn.shard.relay_buffers.give(buf);
        let mut response = Response::new(101);
        response.cached_fields = sent_fields;
        let moved = super::tunnel::run(st, &mut conn, &leftover, settings.read_timeout).await;
        release(upstreams, group, peer);
        if let Some(vars) = state.upstream.as_mut() {
            if let Some(t) = vars.response_time.last_mut() {
                *t = Some(attempt_started.elapsed().as_secs_f64());
            }
            vars.bytes_received += moved.0;
        }
        let state = std::mem::replace(state, RequestState::new(Vec::new()));
        log_request(st, job, state, &response, Some((head_bytes, moved.0)));
        return Ok(false);
    }

    let client_keep = job.keep_alive && client_framing != ClientFraming::Close;
    // The body: decoded by the upstream's framing, through the body-filter chain, framed
    // by the client's.
    let mut chain = BodyChain::new(Encoder::for_client(client_framing));
    let mut clean = false;
    let mut client_ok = true;
    // The body has ended: its end (the last chunk and trailers) goes out once the upstream
    // variables are final.
    let mut ended = false;
    let mut received = (filled - head.len) as u64;
    match Decoder::response(head.framing) {
        None => clean = true,
        Some(mut decoder) => loop {
            let input = &buf[body_start..filled];
            let wbuf = st.wbuf_mut();
            match decoder.decode(input, &mut |data| chain.data(data, wbuf)) {
                Err(_) => break,
                Ok(progress) if progress.done => {
                    clean = progress.consumed == input.len();
                    // Bytes beyond a declared length put the connection out of step: the
                    // client's body is left unended, as it always was (a chunked one that
                    // ended before extra bytes still gets its last chunk).
                    ended = clean || matches!(decoder, Decoder::Chunked(_));
                    break;
                }
                Ok(_) => {}
            }
            // What arrived goes out before the next read (with `proxy_buffering` on or off:
            // anx never holds a response back to fill buffers).
            if !st.wbuf.is_empty() && st.flush_paced(pace.as_mut()).await.is_err() {
                client_ok = false;
                break;
            }
            body_start = 0;
            let timeout = settings.read_timeout;
            match read_paced(&mut conn, &mut buf, timeout, upstream_pace.as_mut()).await {
                Ok(0) => {
                    clean = decoder.ends_at_close();
                    ended = clean;
                    break;
                }
                Err(_) => break,
                Ok(n) => {
                    filled = n;
                    received += n as u64;
                }
            }
        },
    }
    st.conn.shard.relay_buffers.give(buf);
    if let Some(vars) = state.upstream.as_mut() {
        if let Some(t) = vars.response_time.last_mut() {
            *t = Some(attempt_started.elapsed().as_secs_f64());
        }
        if let Some(n) = vars.response_length.last_mut() {
            *n = received;
        }
        vars.bytes_received += received;
    }
    if ended {
        let mut trailers = extra.trailers.then(|| super::trailers::Relayed {
            src: trailer_source(job, state),
            resp: &extra,
            head_bytes,
        });
        let trailers = trailers.as_mut().map(|t| t as &mut dyn Trailers);
        chain.end(st.wbuf_mut(), trailers);
    }
    if !clean && client_ok {
        log_upstream_line(
            ErrorLevel::Error,
            st,
            job,
            plan,
            &group
                .zip(peer)
                .and_then(|((_, u), p)| u.peers.get(p))
                .map_or_else(String::new, |p| p.addr.to_string()),
            "upstream prematurely closed connection",
            "reading upstream",
        );
    }
    // Back to the pool only after a clean end, when both sides agreed to keep it.
    let reusable =
        clean && head.keep_alive && plan.reusable && head.framing != ResponseFraming::UntilClose;
    give_back(upstreams, group, peer, conn, reusable, (uses, opened));
    let flushed = if client_ok {
        st.flush_paced(pace.as_mut()).await.is_ok()
    } else {
        false
    };
    let mut response = Response::new(status);
    response.cached_fields = sent_fields;
    let state = std::mem::replace(state, RequestState::new(Vec::new()));
    log_request(st, job, state, &response, Some((head_bytes, chain.sent())));
    if !clean || !flushed {
        // The client got a cut response: closing is the only honest end.
        return Err(Fallback::Close);
    }
    Ok(client_keep)
}

/// What the trailers of the response to `job` are read with.
fn trailer_source<'a, 'c>(
    job: &'a Job<'_, 'c>,
    state: &'a mut RequestState<'c>,
) -> super::trailers::TrailerSource<'a, 'c> {
    super::trailers::TrailerSource {
        config: job.config,
        server: job.selected.server,
        recv: Received {
            head: job.head,
            buf: job.head_copy,
            conn: job.conn,
            started: job.started,
        },
        state,
    }
}

/// One read from the upstream, after waiting for `pace` (`proxy_limit_rate`) when given.
async fn read_paced(
    conn: &mut UpstreamConn,
    buf: &mut [u8],
    timeout: Duration,
    pace: Option<&mut super::rate::Pace>,
) -> io::Result<usize> {
    let Some(pace) = pace else {
        return conn.read_within(buf, timeout).await;
    };
    let wait = pace.wait(Instant::now());
    if !wait.is_zero() {
        glommio::timer::sleep(wait).await;
    }
    let want = pace.slice().min(buf.len());
    let n = conn.read_within(&mut buf[..want], timeout).await?;
    pace.sent(n);
    Ok(n)
}

/// The access-log lines of a proxied request.
fn log_request<'c>(
    st: &State,
    job: &Job<'_, 'c>,
    state: RequestState<'c>,
    response: &Response,
    written: Option<(u64, u64)>,
) {
    job.post_action
        .set(state.location.and_then(|l| l.post_action.as_ref()));
    let server = job.selected.server;
    let (head_bytes, body_bytes) = written.unwrap_or((0, 0));
    let body_len = match job.head.body {
        BodyFraming::Length(n) => n,
        _ => 0,
    };
    let bytes = (job.head.len as u64 + body_len, head_bytes + body_bytes);
    st.account(
        Some(job.selected.position),
        response.status,
        bytes,
        Some(job.started),
    );
    let logs = state
        .location
        .map_or(&server.access_logs[..], |l| &l.access_logs[..]);
    if logs.is_empty() {
        return;
    }
    let sent = Sent {
        status: response.status,
        body_bytes,
        bytes: head_bytes + body_bytes,
        request_length: job.head.len as u64 + body_len,
    };
    st.log(
        job.config,
        server,
        logs,
        (job.head, job.head_copy, job.conn, job.started),
        state,
        response,
        &sent,
    );
}

/// nginx's error-log line for a `proxy_pass` host the resolver could not find.
fn log_resolve_error(
    st: &State,
    job: &Job<'_, '_>,
    host: &str,
    e: &crate::net::resolver::ResolveError,
) {
    let recv = Received {
        head: job.head,
        buf: job.head_copy,
        conn: job.conn,
        started: job.started,
    };
    log::error!(
        "*{} {} could not be resolved ({}), client: {}, server: {}, request: \"{}\"",
        st.conn.id,
        host,
        e,
        job.conn.peer.host(),
        job.selected.server.primary_name,
        recv.request_line(),
    );
}

/// An error-log line for the request, in nginx's form (client, server, request).
fn log_request_error(st: &State, job: &Job<'_, '_>, message: &str) {
    request_log(st, job).error(format_args!("{message}"));
}

fn request_log<'a>(st: &State, job: &'a Job<'_, '_>) -> crate::log::scoped::RequestLog<'a> {
    let recv = Received {
        head: job.head,
        buf: job.head_copy,
        conn: job.conn,
        started: job.started,
    };
    crate::log::scoped::RequestLog {
        logs: job.error_log,
        conn: st.conn.id,
        client: &job.conn.peer,
        server: &job.selected.server.primary_name,
        request: crate::log::scoped::RequestText::Received(recv),
    }
}

/// nginx's error-log line for an upstream problem: what happened, while doing what, and
/// for which client, server, request, upstream and host.
fn log_upstream_line(
    level: ErrorLevel,
    st: &State,
    job: &Job<'_, '_>,
    plan: &ProxyPlan<'_>,
    upstream: &str,
    message: &str,
    action: &str,
) {
    let uri = plan
        .head
        .split(|&b| b == b' ')
        .nth(1)
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    request_log(st, job).log_with(
        level,
        format_args!("{message} while {action}"),
        format_args!(", upstream: \"http://{upstream}{uri}\""),
    );
}
