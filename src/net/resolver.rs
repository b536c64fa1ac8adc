//! The `resolver` client, per shard: asks the configured name servers for a `proxy_pass`
//! host named by variables and caches the answer on this shard (no lock, no cross-shard
//! traffic; each shard learns a name on its own first use).
//!
//! `serve::proxy` calls [`ShardResolver::resolve`] before it connects; the wire format is
//! `upstream::dns` (sans-io). nginx's behaviour is kept: the name servers are used in turn
//! (each new name starts at the next one), a query without a usable reply is sent again to
//! the next server after 5 seconds, a truncated reply is asked again over TCP, A and AAAA are
//! both asked (at once) unless `ipv4=off` / `ipv6=off`, the two replies combine by nginx's
//! rules (`upstream::dns_answers`: an alias is followed only when neither has an address,
//! and then for both types; at most 50 aliases, a loop is "host not found"), and an answer
//! is cached for `valid=` or else the smallest TTL of its records, under the name asked and
//! under an alias's target; errors are not cached. The state lives in the generation's
//! `ShardUpstreams`, so a reload starts with an empty cache and resolves again.
//!
//! Written here on glommio's UDP and TCP sockets rather than with a DNS crate: the part of
//! DNS a proxy needs (one question, A/AAAA/CNAME answers) is small, and nginx's exact
//! reading of odd replies (ignored and resent, not failed) is what its users rely on.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpStream, UdpSocket};

use super::upstream::within;
use crate::config::model::DnsResolver;
use crate::upstream::dns::{self, Reply, TYPE_A, TYPE_AAAA};
use crate::upstream::dns_answers::{combine, Outcome, Response, NXDOMAIN};

/// nginx's resend timeout: a query without an answer goes to the next server after this.
const RESEND: Duration = Duration::from_secs(5);
/// Aliases followed for one name before it is "host not found" (nginx's
/// NGX_RESOLVER_MAX_RECURSION).
const MAX_CNAME_HOPS: usize = 50;
/// Names cached per resolver and shard; past this, expired ones are dropped first, then all
/// (a `$host` from clients must not grow the cache without bound).
const MAX_CACHED: usize = 4096;

/// Why a name did not resolve, printed as nginx does after "could not be resolved".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveError {
    TimedOut,
    /// The server's error code (NXDOMAIN also for "no address of the wanted types").
    Code(u8),
    /// Not a name DNS can carry.
    BadName,
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::TimedOut => write!(f, "110: Operation timed out"),
            ResolveError::Code(c) => write!(f, "{c}: {}", dns::error_text(*c)),
            ResolveError::BadName => write!(f, "1: Format error"),
        }
    }
}

struct Cached {
    addrs: Vec<IpAddr>,
    until: Instant,
}

/// One `resolver` line's state on this shard.
#[derive(Default)]
struct PerResolver {
    /// The server the next new name starts with.
    next_server: usize,
    names: HashMap<String, Cached>,
}

/// The shard's resolver state, for one configuration generation.
pub struct ShardResolver {
    by_resolver: RefCell<HashMap<DnsResolver, PerResolver>>,
    ids: Cell<u64>,
    seed: std::collections::hash_map::RandomState,
}

impl Default for ShardResolver {
    fn default() -> Self {
        ShardResolver {
            by_resolver: RefCell::new(HashMap::new()),
            ids: Cell::new(0),
            seed: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl ShardResolver {
    /// A query id that a spoofer cannot guess from the previous one.
    fn next_id(&self) -> u16 {
        let n = self.ids.get().wrapping_add(1);
        self.ids.set(n);
        let mut h = self.seed.build_hasher();
        h.write_u64(n);
        h.finish() as u16
    }

    /// A live cache entry: the addresses and when they expire.
    fn cached(
        &self,
        res: &DnsResolver,
        name: &str,
        now: Instant,
    ) -> Option<(Vec<IpAddr>, Instant)> {
        let map = self.by_resolver.borrow();
        let hit = map.get(res)?.names.get(name)?;
        (hit.until > now).then(|| (hit.addrs.clone(), hit.until))
    }

    fn store(&self, res: &DnsResolver, name: String, addrs: Vec<IpAddr>, until: Instant) {
        let mut map = self.by_resolver.borrow_mut();
        let per = map.entry(res.clone()).or_default();
        if per.names.len() >= MAX_CACHED {
            let now = Instant::now();
            per.names.retain(|_, c| c.until > now);
            if per.names.len() >= MAX_CACHED {
                per.names.clear();
            }
        }
        per.names.insert(name, Cached { addrs, until });
    }

    fn first_server(&self, res: &DnsResolver) -> usize {
        let mut map = self.by_resolver.borrow_mut();
        let per = map.entry(res.clone()).or_default();
        let n = per.next_server;
        per.next_server = (n + 1) % res.servers.len().max(1);
        n
    }

    /// The addresses of `name` (A records first, then AAAA), from the cache or the name
    /// servers, within `timeout`.
    pub async fn resolve(
        &self,
        res: &DnsResolver,
        name: &str,
        timeout: Duration,
    ) -> Result<Vec<IpAddr>, ResolveError> {
        let key = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        let now = Instant::now();
        if let Some((addrs, _)) = self.cached(res, &key, now) {
            return Ok(addrs);
        }
        if res.servers.is_empty() {
            return Err(ResolveError::TimedOut);
        }
        let deadline = now + timeout;
        // The names left for an alias so far: a loop ends at once as "host not found",
        // where nginx gets there after its 50 hops.
        let mut chain: Vec<String> = Vec::new();
        let mut qname = key.clone();
        // The smallest TTL of the aliases followed.
        let mut alias_ttl = u32::MAX;
        let (addrs, until) = loop {
            if !chain.is_empty() {
                let now = Instant::now();
                if let Some((addrs, until)) = self.cached(res, &qname, now) {
                    let own = validity(res, alias_ttl).map(|v| until.min(now + v));
                    break (addrs, own);
                }
            }
            match self.ask_name(res, &qname, deadline).await? {
                Outcome::Addrs { addrs, ttl } => {
                    let now = Instant::now();
                    if !chain.is_empty() {
                        // The alias's target is a name of its own, cached as nginx does.
                        if let Some(valid) = validity(res, ttl) {
                            self.store(res, qname, addrs.clone(), now + valid);
                        }
                    }
                    let own = validity(res, ttl.min(alias_ttl)).map(|v| now + v);
                    break (addrs, own);
                }
                Outcome::Alias { target, ttl } => {
                    alias_ttl = alias_ttl.min(ttl);
                    if chain.len() >= MAX_CNAME_HOPS || target == qname || chain.contains(&target) {
                        return Err(ResolveError::Code(NXDOMAIN));
                    }
                    chain.push(std::mem::replace(&mut qname, target));
                }
                Outcome::Fail(code) => return Err(ResolveError::Code(code)),
                Outcome::Unusable => {
                    // nginx drops such a reply and answers nothing until the timeout.
                    log::error!("resolver: no A or CNAME types in DNS response for {qname}");
                    glommio::timer::sleep(left(deadline)).await;
                    return Err(ResolveError::TimedOut);
                }
            }
        };
        if let Some(until) = until {
            self.store(res, key, addrs.clone(), until);
        }
        Ok(addrs)
    }

    /// Asks one name for each type switched on (both at once, starting with the next server
    /// in turn, as nginx starts each new name) and combines the replies as nginx does.
    async fn ask_name(
        &self,
        res: &DnsResolver,
        name: &str,
        deadline: Instant,
    ) -> Result<Outcome, ResolveError> {
        let server = self.first_server(res);
        let ask = |qtype| self.ask(&res.servers, server, name, qtype, deadline);
        Ok(match (res.ipv4, res.ipv6) {
            (true, true) => {
                let (a, aaaa) = futures_lite::future::zip(ask(TYPE_A), ask(TYPE_AAAA)).await;
                combine(Some(a?), aaaa?)
            }
            (true, false) => combine(None, ask(TYPE_A).await?),
            (false, true) => combine(None, ask(TYPE_AAAA).await?),
            // The configuration refuses a resolver that asks for nothing.
            (false, false) => Outcome::Fail(NXDOMAIN),
        })
    }

    /// One question until a usable reply (an answer or a DNS error code): to
    /// `servers[server]`, then to the next one every [`RESEND`], until `deadline`.
    async fn ask(
        &self,
        servers: &[SocketAddr],
        mut server: usize,
        name: &str,
        qtype: u16,
        deadline: Instant,
    ) -> Result<Response, ResolveError> {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(ResolveError::TimedOut);
            }
            let addr = servers[server % servers.len()];
            let id = self.next_id();
            let query = dns::query(id, name, qtype).ok_or(ResolveError::BadName)?;
            let round_end = (now + RESEND).min(deadline);
            let got = match udp_round(addr, &query, id, name, qtype, round_end).await {
                Some(Reply::Truncated) => tcp_round(addr, &query, id, name, qtype, round_end).await,
                other => other,
            };
            match got {
                Some(Reply::Answer(answer)) => return Ok(Ok(answer)),
                Some(Reply::Error(code)) => return Ok(Err(code)),
                _ => server = (server + 1) % servers.len(),
            }
        }
    }
}

/// How long an answer with records of `ttl` seconds is cached: `valid=` or the TTL; `None`
/// for not at all.
fn validity(res: &DnsResolver, ttl: u32) -> Option<Duration> {
    let valid = res.valid.unwrap_or(Duration::from_secs(u64::from(ttl)));
    (!valid.is_zero()).then_some(valid)
}

fn left(until: Instant) -> Duration {
    until.saturating_duration_since(Instant::now())
}

/// Sends `query` over UDP and reads replies until one answers it or `until` passes.
async fn udp_round(
    addr: SocketAddr,
    query: &[u8],
    id: u16,
    name: &str,
    qtype: u16,
    until: Instant,
) -> Option<Reply> {
    let local: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let attempt = async {
        let socket = UdpSocket::bind(local)?;
        socket.connect(addr).await?;
        socket.send(query).await?;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = socket.recv(&mut buf).await?;
            match dns::parse(&buf[..n], id, name, qtype, false) {
                Reply::Ignore(why) => log::debug!("resolver: {why} for {name} from {addr}"),
                reply => return Ok::<Reply, io::Error>(reply),
            }
        }
    };
    match within(left(until), "resolver", attempt).await {
        Ok(reply) => Some(reply),
        Err(e) => {
            if e.kind() != io::ErrorKind::TimedOut {
                // An unreachable server: wait out the round as nginx's resend timer does,
                // so a single dead server is not asked in a busy loop.
                log::error!("resolver: {name} on {addr}: {e}");
                glommio::timer::sleep(left(until)).await;
            }
            None
        }
    }
}

/// Asks `query` over TCP (two-byte length prefix each way) within `until`.
async fn tcp_round(
    addr: SocketAddr,
    query: &[u8],
    id: u16,
    name: &str,
    qtype: u16,
    until: Instant,
) -> Option<Reply> {
    let attempt = async {
        let mut stream =
            TcpStream::connect_timeout(addr, left(until).max(Duration::from_millis(1)))
                .await
                .map_err(io::Error::from)?;
        let mut out = (query.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(query);
        stream.write_all(&out).await?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut buf).await?;
        Ok::<Vec<u8>, io::Error>(buf)
    };
    match within(left(until), "resolver", attempt).await {
        Ok(buf) => match dns::parse(&buf, id, name, qtype, true) {
            Reply::Ignore(why) => {
                log::debug!("resolver: {why} for {name} from {addr} (TCP)");
                None
            }
            reply => Some(reply),
        },
        Err(e) => {
            if e.kind() != io::ErrorKind::TimedOut {
                log::error!("resolver: {name} on {addr} (TCP): {e}");
                glommio::timer::sleep(left(until)).await;
            }
            None
        }
    }
}
