//! Active health checks: one prober thread per process probes every peer of every group that
//! has a health check, and publishes each peer's state on a [`HealthBoard`] that every shard
//! reads lock-free.
//!
//! Where it sits: off the request path. A shard's `PeerSet::pick` asks
//! [`HealthBoard::is_up`] for each candidate peer (one relaxed atomic load), so a transition
//! the prober publishes is seen by every shard at its next pick; the shards never wait on
//! the prober and the prober never touches their state.
//!
//! Probes do not multiply with the shard count: one thread ("anx-health") with blocking std
//! sockets (inside TLS for a group whose `HealthCheck::tls` says so, see `probe_conn`)
//! sends `GET uri HTTP/1.0` to each peer on its group's interval, each peer on its
//! own schedule (`interval` after its previous probe was due, so every peer is probed every
//! `interval`, not `interval × peers`). Probes run one after another, so a round of peers
//! that all time out takes up to `peers × timeout`; a schedule that falls behind skips ahead
//! rather than bursting.
//!
//! A peer goes down after `fails` consecutive failed probes and up again after `passes`
//! consecutive passed ones; each transition is logged (warn for down, notice for up). The
//! thread ends when it holds the last reference to the board (the server dropped its own,
//! at exit or when a reload replaced the generation); it checks at least every 100 ms.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::probe_conn::{Conn, OpenError, ProbeClient};
use crate::config::model::{Config, HealthCheck, Peer, Upstream};

/// Most of a probe's response read (head and body).
const MAX_RESPONSE: usize = 64 * 1024;

/// The longest the prober sleeps between looks at its schedule and at the board's owners.
const TICK: Duration = Duration::from_millis(100);

/// Every peer's health-check state, shared read-only by the shards.
#[derive(Debug)]
pub struct HealthBoard {
    /// Indexed like `Config::upstreams`; empty for a group without a health check.
    groups: Box<[Box<[PeerHealth]>]>,
}

/// What the prober knows about one peer. Written only by the prober; every figure is an
/// atomic so the shards (and a status page) read it without locks.
#[derive(Debug)]
pub struct PeerHealth {
    up: AtomicBool,
    consecutive_fails: AtomicU32,
    consecutive_passes: AtomicU32,
    checks: AtomicU64,
    failures: AtomicU64,
    /// 0 when the last probe got no status line.
    last_status: AtomicU16,
    /// Milliseconds since the Unix epoch; 0 before the first probe.
    last_check_ms: AtomicU64,
}

impl PeerHealth {
    fn new() -> PeerHealth {
        PeerHealth {
            up: AtomicBool::new(true),
            consecutive_fails: AtomicU32::new(0),
            consecutive_passes: AtomicU32::new(0),
            checks: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_status: AtomicU16::new(0),
            last_check_ms: AtomicU64::new(0),
        }
    }

    fn copy_from(&self, other: &PeerHealth) {
        self.up.store(other.up.load(Relaxed), Relaxed);
        let copy32 = |to: &AtomicU32, from: &AtomicU32| to.store(from.load(Relaxed), Relaxed);
        let copy64 = |to: &AtomicU64, from: &AtomicU64| to.store(from.load(Relaxed), Relaxed);
        copy32(&self.consecutive_fails, &other.consecutive_fails);
        copy32(&self.consecutive_passes, &other.consecutive_passes);
        copy64(&self.checks, &other.checks);
        copy64(&self.failures, &other.failures);
        copy64(&self.last_check_ms, &other.last_check_ms);
        self.last_status
            .store(other.last_status.load(Relaxed), Relaxed);
    }

    /// The verdict: false after `fails` consecutive failures, until `passes` passes.
    pub fn is_up(&self) -> bool {
        self.up.load(Relaxed)
    }

    /// Failed probes since the last passed one.
    pub fn consecutive_fails(&self) -> u32 {
        self.consecutive_fails.load(Relaxed)
    }

    /// Passed probes since the last failed one.
    pub fn consecutive_passes(&self) -> u32 {
        self.consecutive_passes.load(Relaxed)
    }

    /// Probes made.
    pub fn checks(&self) -> u64 {
        self.checks.load(Relaxed)
    }

    /// Probes that failed.
    pub fn failures(&self) -> u64 {
        self.failures.load(Relaxed)
    }

    /// The status of the last probe's response; `None` when it got none (refused, timed
    /// out, closed, garbled) or before the first probe.
    pub fn last_status(&self) -> Option<u16> {
        Some(self.last_status.load(Relaxed)).filter(|&s| s != 0)
    }

    /// When the last probe finished; `None` before the first.
    pub fn last_check(&self) -> Option<SystemTime> {
        match self.last_check_ms.load(Relaxed) {
            0 => None,
            ms => Some(UNIX_EPOCH + Duration::from_millis(ms)),
        }
    }
}

impl HealthBoard {
    /// A board for `config`'s groups; every peer starts up.
    pub fn new(config: &Config) -> Arc<HealthBoard> {
        let groups = config
            .upstreams
            .iter()
            .map(|u| match u.health_check {
                Some(_) => u.peers.iter().map(|_| PeerHealth::new()).collect(),
                None => Box::default(),
            })
            .collect();
        Arc::new(HealthBoard { groups })
    }

    /// A board for a reloaded `config`: a group unchanged since `previous` (same name, same
    /// peers, same check) keeps its peers' verdicts and figures, so a peer that was down
    /// stays down until it passes again instead of getting traffic right after the reload.
    pub fn new_after(
        config: &Config,
        previous: Option<(&Config, &HealthBoard)>,
    ) -> Arc<HealthBoard> {
        let board = Self::new(config);
        let Some((old_config, old_board)) = previous else {
            return board;
        };
        for (u, group) in config.upstreams.iter().enumerate() {
            let Some(old_u) = old_config.upstreams.iter().position(|o| o == group) else {
                continue;
            };
            for (p, peer) in board.groups[u].iter().enumerate() {
                if let Some(old) = old_board.peer(old_u, p) {
                    peer.copy_from(old);
                }
            }
        }
        board
    }

    /// The active check's verdict on peer `peer` of group `upstream` (true when the group has
    /// no health check).
    pub fn is_up(&self, upstream: usize, peer: usize) -> bool {
        self.peer(upstream, peer).is_none_or(PeerHealth::is_up)
    }

    /// The figures of one checked peer; `None` when the group has no health check (or the
    /// indexes are out of range).
    pub fn peer(&self, upstream: usize, peer: usize) -> Option<&PeerHealth> {
        self.groups.get(upstream)?.get(peer)
    }
}

/// Starts the prober thread when some group has a health check; it stops when `board` is the
/// last reference left (the process is ending) or at exit.
pub fn start(config: Arc<Config>, board: Arc<HealthBoard>) -> Option<std::thread::JoinHandle<()>> {
    if !config.upstreams.iter().any(|u| u.health_check.is_some()) {
        return None;
    }
    let spawned = std::thread::Builder::new()
        .name("anx-health".to_string())
        .spawn(move || run(&config, &board));
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            log::error!("cannot start the health check thread: {e}");
            None
        }
    }
}

/// One peer's place in the prober's schedule.
struct Target {
    upstream: usize,
    peer: usize,
    next: Instant,
}

fn run(config: &Config, board: &Arc<HealthBoard>) {
    let start = Instant::now();
    // Built once: the TLS client of each group whose probes speak TLS (its session cache
    // lets later probes resume).
    let clients: Vec<Option<ProbeClient>> = config
        .upstreams
        .iter()
        .map(|u| {
            let tls = u.health_check.as_ref()?.tls.as_ref()?;
            Some(ProbeClient::new(tls))
        })
        .collect();
    let mut targets: Vec<Target> = Vec::new();
    for (u, group) in config.upstreams.iter().enumerate() {
        if group.health_check.is_none() {
            continue;
        }
        for (p, peer) in group.peers.iter().enumerate() {
            // A `down` peer is never used; probing it would only make noise.
            if !peer.down {
                targets.push(Target {
                    upstream: u,
                    peer: p,
                    next: start,
                });
            }
        }
    }
    loop {
        if Arc::strong_count(board) == 1 {
            return;
        }
        let now = Instant::now();
        let mut soonest = now + TICK;
        for t in &mut targets {
            if t.next <= now {
                let group = &config.upstreams[t.upstream];
                let Some(check) = &group.health_check else {
                    continue;
                };
                if let Some(health) = board.peer(t.upstream, t.peer) {
                    let tls = clients.get(t.upstream).and_then(Option::as_ref);
                    let outcome = probe(group, &group.peers[t.peer], check, tls);
                    record(group, &group.peers[t.peer], check, health, &outcome);
                }
                // On the interval's grid, unless probing fell a whole interval behind.
                t.next += check.interval.max(Duration::from_millis(1));
                let after = Instant::now();
                if t.next < after {
                    t.next = after + check.interval;
                }
                if Arc::strong_count(board) == 1 {
                    return;
                }
            }
            soonest = soonest.min(t.next);
        }
        let wait = soonest.saturating_duration_since(Instant::now()).min(TICK);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// Why a probe failed (the log line's parenthesis).
#[derive(Debug)]
enum Failure {
    Connect(io::Error),
    /// TLS could not start (the handshake's own errors are `Io`).
    Tls(String),
    TimedOut,
    Io(io::Error),
    /// The connection closed before a whole response head arrived, or the head did not
    /// parse.
    Invalid,
    Status(u16),
    Body(u16),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "connect() failed: {e}"),
            Failure::Tls(e) => write!(f, "SSL: {e}"),
            Failure::TimedOut => f.write_str("timed out"),
            Failure::Io(e) => write!(f, "{e}"),
            Failure::Invalid => f.write_str("invalid response"),
            Failure::Status(s) => write!(f, "status {s}"),
            Failure::Body(s) => write!(f, "status {s}, body does not match"),
        }
    }
}

/// Pass with the response status, or why not.
type Outcome = Result<u16, Failure>;

fn record(group: &Upstream, peer: &Peer, check: &HealthCheck, h: &PeerHealth, outcome: &Outcome) {
    h.checks.fetch_add(1, Relaxed);
    let status = match outcome {
        Ok(s) | Err(Failure::Status(s) | Failure::Body(s)) => *s,
        Err(_) => 0,
    };
    h.last_status.store(status, Relaxed);
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
    });
    h.last_check_ms.store(ms, Relaxed);
    match outcome {
        Ok(_) => {
            h.consecutive_fails.store(0, Relaxed);
            let passes = h.consecutive_passes.load(Relaxed).saturating_add(1);
            h.consecutive_passes.store(passes, Relaxed);
            if !h.is_up() && passes >= check.passes.max(1) {
                h.up.store(true, Relaxed);
                log::info!(
                    "upstream \"{}\" peer {} is up again: health check passed",
                    group.name,
                    peer_label(peer)
                );
            }
        }
        Err(why) => {
            h.failures.fetch_add(1, Relaxed);
            h.consecutive_passes.store(0, Relaxed);
            let fails = h.consecutive_fails.load(Relaxed).saturating_add(1);
            h.consecutive_fails.store(fails, Relaxed);
            if h.is_up() && fails >= check.fails.max(1) {
                h.up.store(false, Relaxed);
                log::warn!(
                    "upstream \"{}\" peer {} is down: health check failed ({why})",
                    group.name,
                    peer_label(peer)
                );
            }
        }
    }
}

/// The address, and the server name as written when it says something else.
fn peer_label(peer: &Peer) -> String {
    let addr = peer.addr.to_string();
    if peer.name.is_empty() || peer.name == addr {
        addr
    } else {
        format!("{addr} ({})", peer.name)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// One probe of one peer; the whole exchange must finish within the check's timeout.
/// With `tls`, the probe goes inside a TLS session (the handshake is part of the exchange
/// and of its timeout).
fn probe(group: &Upstream, peer: &Peer, check: &HealthCheck, tls: Option<&ProbeClient>) -> Outcome {
    let timeout = check.timeout.max(Duration::from_millis(1));
    let deadline = Instant::now() + timeout;
    let mut conn = Conn::open(&peer.addr, timeout, tls).map_err(|e| match e {
        OpenError::Connect(e) if is_timeout(&e) => Failure::TimedOut,
        OpenError::Connect(e) => Failure::Connect(e),
        OpenError::Tls(why) => Failure::Tls(why),
    })?;
    let host = check.host.as_deref().unwrap_or(&group.name);
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: anx-health-check\r\nConnection: close\r\n\r\n",
        check.uri
    );
    let remaining = |deadline: Instant| {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(Failure::TimedOut)
        } else {
            Ok(left)
        }
    };
    let io_failure = |e: io::Error| {
        if is_timeout(&e) {
            Failure::TimedOut
        } else {
            Failure::Io(e)
        }
    };
    conn.set_timeouts(remaining(deadline)?)
        .map_err(Failure::Io)?;
    conn.write_all(request.as_bytes()).map_err(io_failure)?;
    conn.flush().map_err(io_failure)?;

    let mut buf = vec![0u8; MAX_RESPONSE];
    let mut len = 0;
    let mut head: Option<(u16, usize, Option<usize>)> = None; // (status, head length, content-length)
    loop {
        if let Some((_, head_len, content_length)) = head {
            // Enough read: the status decides alone, or the body is complete.
            let body_len = len - head_len;
            if check.body.is_none() || content_length.is_some_and(|cl| body_len >= cl) {
                break;
            }
        }
        if len == buf.len() {
            break;
        }
        conn.set_timeouts(remaining(deadline)?)
            .map_err(Failure::Io)?;
        let n = match conn.read_some(&mut buf[len..], len > 0) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_failure(e)),
        };
        if n == 0 {
            break;
        }
        len += n;
        if head.is_none() {
            head = parse_head(&buf[..len])?;
        }
    }
    let Some((status, head_len, content_length)) = head else {
        return Err(Failure::Invalid);
    };
    if !status_passes(&check.status, status) {
        return Err(Failure::Status(status));
    }
    if let Some(pattern) = &check.body {
        let end = content_length.map_or(len, |cl| len.min(head_len.saturating_add(cl)));
        if !pattern.regex.is_match(&buf[head_len..end]) {
            return Err(Failure::Body(status));
        }
    }
    Ok(status)
}

/// The status, head length and Content-Length once the head is complete; `None` while it is
/// not.
fn parse_head(data: &[u8]) -> Result<Option<(u16, usize, Option<usize>)>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(data) {
        Ok(httparse::Status::Complete(head_len)) => {
            let status = response.code.ok_or(Failure::Invalid)?;
            let content_length = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .and_then(|v| v.trim().parse::<usize>().ok());
            Ok(Some((status, head_len, content_length)))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(Failure::Invalid),
    }
}

/// Within one of the inclusive ranges; an empty list means the default, 200–399.
fn status_passes(ranges: &[(u16, u16)], status: u16) -> bool {
    if ranges.is_empty() {
        return (200..=399).contains(&status);
    }
    ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::proxy::{UPSTREAM_KEEPALIVE_REQUESTS, UPSTREAM_KEEPALIVE_TIMEOUT};
    use crate::config::model::{Balance, Pattern, PeerAddr};
    use std::io::Read;
    use std::net::{SocketAddr, TcpListener};
    use std::sync::Mutex;

    /// What a test backend does with a probe.
    #[derive(Debug, Clone, Copy)]
    enum Reply {
        Answer(u16, &'static str),
        Close,
        Hang,
    }

    /// A loopback backend answering as told; its thread lives as long as the test process.
    struct Backend {
        addr: SocketAddr,
        reply: Arc<Mutex<Reply>>,
    }

    impl Backend {
        fn start(reply: Reply) -> Backend {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let reply = Arc::new(Mutex::new(reply));
            let shared = reply.clone();
            std::thread::spawn(move || {
                let mut hung = Vec::new();
                for conn in listener.incoming() {
                    let Ok(mut conn) = conn else { continue };
                    let now = *shared.lock().unwrap();
                    serve(&mut conn, now);
                    if let Reply::Hang = now {
                        hung.push(conn);
                    }
                }
            });
            Backend { addr, reply }
        }

        fn set(&self, reply: Reply) {
            *self.reply.lock().unwrap() = reply;
        }
    }

    fn serve<S: Read + Write>(conn: &mut S, reply: Reply) {
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        assert!(req.starts_with(b"GET /health HTTP/1.0\r\n"), "{req:?}");
        const UA: &[u8] = b"User-Agent: anx-health-check\r\n";
        assert!(req.windows(UA.len()).any(|w| w == UA), "{req:?}");
        assert!(req.windows(8).any(|w| w == b"\r\nHost: "), "{req:?}");
        assert!(req.ends_with(b"\r\nConnection: close\r\n\r\n"), "{req:?}");
        if let Reply::Answer(status, body) = reply {
            let answer = format!(
                "HTTP/1.0 {status} X\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(answer.as_bytes());
        }
    }

    fn check(fails: u32, passes: u32) -> HealthCheck {
        HealthCheck {
            interval: Duration::from_millis(50),
            uri: "/health".to_string(),
            host: None,
            timeout: Duration::from_millis(300),
            fails,
            passes,
            status: vec![(200, 399)],
            body: None,
            scheme: None,
            tls: None,
        }
    }

    fn peer(addr: PeerAddr) -> Peer {
        Peer {
            name: addr.to_string(),
            addr,
            weight: 1,
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            backup: false,
            down: false,
            max_conns: 0,
        }
    }

    fn group(name: &str, peers: Vec<PeerAddr>, check: Option<HealthCheck>) -> Upstream {
        Upstream {
            name: name.to_string(),
            peers: peers.into_iter().map(peer).collect(),
            balance: Balance::RoundRobin,
            keepalive: 0,
            keepalive_timeout: UPSTREAM_KEEPALIVE_TIMEOUT,
            keepalive_requests: UPSTREAM_KEEPALIVE_REQUESTS,
            keepalive_time: crate::config::model::proxy::UPSTREAM_KEEPALIVE_TIME,
            health_check: check,
            implicit: false,
        }
    }

    fn inet(b: &Backend) -> PeerAddr {
        PeerAddr::Inet(b.addr)
    }

    /// The embedded default configuration with `groups` as its upstreams.
    fn config(groups: Vec<Upstream>) -> Arc<Config> {
        let mut config = crate::config::embedded_default().unwrap();
        config.upstreams = groups;
        Arc::new(config)
    }

    fn running(groups: Vec<Upstream>) -> (Arc<HealthBoard>, std::thread::JoinHandle<()>) {
        let config = config(groups);
        let board = HealthBoard::new(&config);
        let handle = start(config, board.clone()).expect("a prober");
        (board, handle)
    }

    /// Polls `cond` until it holds (true) or a generous deadline passes (false).
    fn eventually(mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    fn regex(source: &str) -> Pattern {
        Pattern {
            source: source.to_string(),
            caseless: false,
            regex: regex::bytes::Regex::new(source).unwrap(),
        }
    }

    #[test]
    fn board_defaults_to_up() {
        let config = config(vec![
            group("plain", vec![PeerAddr::Unix("/nonexistent".into())], None),
            group(
                "checked",
                vec![PeerAddr::Unix("/nonexistent".into())],
                Some(check(1, 1)),
            ),
        ]);
        let board = HealthBoard::new(&config);
        assert!(board.is_up(0, 0));
        assert!(board.peer(0, 0).is_none(), "no figures without a check");
        assert!(board.is_up(1, 0));
        assert!(board.is_up(7, 7), "out of range is up");
        let h = board.peer(1, 0).unwrap();
        assert_eq!(
            (h.checks(), h.last_status(), h.last_check()),
            (0, None, None)
        );
    }

    #[test]
    fn no_health_check_no_thread() {
        let config = config(vec![group("plain", vec![], None)]);
        let board = HealthBoard::new(&config);
        assert!(start(config, board).is_none());
    }

    #[test]
    fn down_after_fails_up_after_passes() {
        let b = Backend::start(Reply::Answer(500, "no"));
        let (board, _h) = running(vec![group("app", vec![inet(&b)], Some(check(3, 2)))]);
        let h = board.peer(0, 0).unwrap();
        // Never down before the third consecutive failure.
        assert!(eventually(|| {
            let up = h.is_up();
            let failures = h.failures();
            assert!(up || failures >= 3, "down after {failures} failures");
            !up
        }));
        assert!(!board.is_up(0, 0));
        assert_eq!(h.last_status(), Some(500));
        assert!(h.consecutive_fails() >= 3);
        assert!(h.last_check().is_some());
        b.set(Reply::Answer(200, "ok"));
        assert!(eventually(|| {
            let up = h.is_up();
            assert!(!up || h.consecutive_passes() >= 2);
            up
        }));
        assert_eq!(h.last_status(), Some(200));
        assert_eq!(h.consecutive_fails(), 0);
        assert!(h.checks() >= 5);
    }

    #[test]
    fn timeout_closed_and_refused_are_failures() {
        let hang = Backend::start(Reply::Hang);
        let close = Backend::start(Reply::Close);
        let refused = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let good = Backend::start(Reply::Answer(204, ""));
        let mut c = check(1, 1);
        c.timeout = Duration::from_millis(100);
        let (board, _h) = running(vec![group(
            "app",
            vec![
                inet(&hang),
                inet(&close),
                PeerAddr::Inet(refused),
                inet(&good),
            ],
            Some(c),
        )]);
        assert!(eventually(|| !board.is_up(0, 0)
            && !board.is_up(0, 1)
            && !board.is_up(0, 2)));
        for p in 0..3 {
            assert_eq!(board.peer(0, p).unwrap().last_status(), None);
        }
        assert!(eventually(|| board.peer(0, 3).unwrap().checks() >= 3));
        assert!(board.is_up(0, 3));
        assert_eq!(board.peer(0, 3).unwrap().failures(), 0);
    }

    #[test]
    fn body_must_match() {
        let good = Backend::start(Reply::Answer(200, "status: ok"));
        let bad = Backend::start(Reply::Answer(200, "status: degraded"));
        let mut c = check(1, 1);
        c.body = Some(regex("ok$"));
        let (board, _h) = running(vec![group("app", vec![inet(&good), inet(&bad)], Some(c))]);
        assert!(eventually(|| !board.is_up(0, 1)));
        assert_eq!(board.peer(0, 1).unwrap().last_status(), Some(200));
        assert!(eventually(|| board.peer(0, 0).unwrap().checks() >= 2));
        assert!(board.is_up(0, 0));
    }

    #[test]
    fn status_ranges() {
        let b = Backend::start(Reply::Answer(204, ""));
        let mut strict = check(1, 1);
        strict.status = vec![(200, 200), (301, 302)];
        let mut loose = check(1, 1);
        loose.status = vec![(200, 299)];
        let (board, _h) = running(vec![
            group("strict", vec![inet(&b)], Some(strict)),
            group("loose", vec![inet(&b)], Some(loose)),
        ]);
        assert!(eventually(|| !board.is_up(0, 0)));
        assert!(eventually(|| board.peer(1, 0).unwrap().checks() >= 2));
        assert!(board.is_up(1, 0));
        b.set(Reply::Answer(302, ""));
        assert!(eventually(|| board.is_up(0, 0)));
        assert!(status_passes(&[], 399) && !status_passes(&[], 400));
    }

    #[test]
    fn unix_socket_peer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                serve(&mut conn, Reply::Answer(503, ""));
            }
        });
        let (board, _h) = running(vec![group(
            "app",
            vec![PeerAddr::Unix(path)],
            Some(check(1, 1)),
        )]);
        assert!(eventually(|| !board.is_up(0, 0)));
        assert_eq!(board.peer(0, 0).unwrap().last_status(), Some(503));
    }

    #[test]
    fn each_peer_is_probed_every_interval() {
        let backends: Vec<Backend> = (0..4)
            .map(|_| Backend::start(Reply::Answer(200, "")))
            .collect();
        let mut c = check(1, 1);
        c.interval = Duration::from_millis(100);
        let began = Instant::now();
        let (board, _h) = running(vec![group(
            "app",
            backends.iter().map(inet).collect(),
            Some(c),
        )]);
        // Six probes each take 500 ms on independent schedules; probing one peer per
        // interval in turn would need 2.4 s.
        assert!(eventually(|| (0..4).all(|p| board
            .peer(0, p)
            .unwrap()
            .checks()
            >= 6)));
        let took = began.elapsed();
        assert!(took < Duration::from_millis(1800), "{took:?}");
    }

    #[test]
    fn thread_stops_when_board_dropped() {
        let b = Backend::start(Reply::Answer(200, ""));
        let (board, handle) = running(vec![group("app", vec![inet(&b)], Some(check(1, 1)))]);
        assert!(eventually(|| board.peer(0, 0).unwrap().checks() >= 1));
        drop(board);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(handle.join().is_ok());
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(true));
    }
}
