//! Peer selection for one upstream group on one shard: nginx's balancing policies and its
//! passive health accounting (`max_fails` / `fail_timeout`).
//!
//! Sits between the proxy handler and the connection pool: `serve::proxy` calls
//! [`PeerSet::pick`] once per attempt of a request, then [`PeerSet::acquire`] when it holds
//! a connection to the peer, [`PeerSet::release`] when the request is done with it, and
//! [`PeerSet::failed`] / [`PeerSet::succeeded`] with the attempt's outcome.
//!
//! Sans-io and `!Send`: each shard owns one [`PeerSet`] per upstream group. State
//! (round-robin weights, active connection counts, failure windows) is what this shard has
//! seen, as each nginx worker sees only its own without a `zone`.
//!
//! The policies follow nginx's modules (round robin, least_conn, ip_hash, hash, random):
//!
//! * Availability is the same test everywhere: not `down`, not already tried by this
//!   request, up by the active health check, not failed out (`max_fails` failures, the
//!   last one less than `fail_timeout` ago), below `max_conns`.
//! * A failed-out peer whose `fail_timeout` has passed gets one request as a probe; other
//!   picks keep skipping it until that request succeeds (its failures are then forgotten)
//!   or fails (out for another `fail_timeout`), as nginx's `checked`/`accessed` logic.
//! * Backup peers are only considered when no primary qualifies. When nothing qualifies
//!   the answer is `None` at once: modern nginx no longer forgives every peer's failures
//!   when all are failed out (it answers "no live upstreams", 502), and neither does anx.
//! * A group with exactly one peer and no backup is never failed out by passive
//!   accounting, as nginx's `single` case: there is nowhere else to send the request, so
//!   skipping the peer would only turn its errors into 502s. `down`, `max_conns`, the
//!   health check and `tried` still apply.
//! * The hashing and random policies re-draw on an unavailable peer and fall back to round
//!   robin (primaries, then backups) after 21 draws, as nginx does after `tries > 20`.
//!   nginx keeps the draw state across the attempts of one request; anx restarts the
//!   (deterministic) sequence at each pick and skips tried peers, which visits the same
//!   peers in the same order unless a skipped peer recovered in between.
//!
//! Nothing here allocates per pick: weights, cumulative ranges and the ketama ring are
//! built in [`PeerSet::new`].

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::model::{Balance, Peer, PeerAddr, Upstream};

/// Peers a request already tried (so a retry goes elsewhere).
#[derive(Debug, Clone, Default)]
pub struct Tried {
    bits: Vec<u64>,
}

impl Tried {
    pub fn insert(&mut self, peer: usize) {
        let (w, b) = (peer / 64, peer % 64);
        if self.bits.len() <= w {
            self.bits.resize(w + 1, 0);
        }
        self.bits[w] |= 1 << b;
    }

    pub fn contains(&self, peer: usize) -> bool {
        let (w, b) = (peer / 64, peer % 64);
        self.bits.get(w).is_some_and(|x| x & (1 << b) != 0)
    }
}

/// What the hashing policies hash.
#[derive(Debug, Clone, Copy)]
pub struct PickKey<'a> {
    /// The client's address (`ip_hash`).
    pub client: IpAddr,
    /// The evaluated `hash` key.
    pub hash: &'a [u8],
}

/// Draws a hashing or random policy makes before falling back to round robin (nginx gives
/// up when its `tries` counter passes 20).
const DRAWS: usize = 21;

/// Ketama points per unit of weight (nginx's `hash ... consistent`).
const POINTS_PER_WEIGHT: u32 = 160;

/// One shard's state for one upstream group.
#[derive(Debug)]
pub struct PeerSet {
    /// Indexed like `Upstream::peers`.
    peers: Vec<PeerState>,
    /// Indexes of the non-backup peers, in configuration order.
    primaries: Box<[usize]>,
    /// Indexes of the backup peers, in configuration order.
    backups: Box<[usize]>,
    /// `starts[k]`: the sum of the weights of `primaries[..k]`, so a number below
    /// `total_weight` maps to a primary the way nginx walks its list (down peers keep their
    /// share, so a peer going down does not reshuffle everybody's keys).
    starts: Box<[u64]>,
    total_weight: u64,
    /// One primary and no backup: nginx's `single`, never failed out.
    single: bool,
    kind: Kind,
    /// The ketama ring, sorted by hash (consistent hash only).
    ring: Box<[Point]>,
    /// Primaries grouped by server name; a ring point names a group (one name resolving to
    /// several addresses shares its points, the addresses then take turns by weight).
    groups: Groups,
    rng: Rng,
}

/// Peer indexes by server name (consistent hash).
type Groups = Box<[Box<[usize]>]>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    RoundRobin,
    LeastConn,
    IpHash,
    Hash,
    Consistent,
    Random,
    RandomTwo,
}

#[derive(Debug, Clone, Copy)]
struct Point {
    hash: u32,
    group: u32,
}

/// The per-shard state of one peer, with the static settings copied in so a pick reads
/// one compact array.
#[derive(Debug)]
struct PeerState {
    weight: i64,
    /// Lowered by failures, recovers by one per selection round it takes part in (nginx).
    effective_weight: i64,
    current_weight: i64,
    max_fails: u32,
    fail_timeout: Duration,
    max_conns: u32,
    down: bool,
    fails: u32,
    /// Start of the current failure window: the last failure, or the first pick after a
    /// window ended (nginx's `checked`). `None` before either happened.
    checked: Option<Instant>,
    /// The last failure (nginx's `accessed`).
    accessed: Option<Instant>,
    active: u32,
}

impl PeerState {
    fn new(peer: &Peer) -> PeerState {
        let weight = i64::from(peer.weight);
        PeerState {
            weight,
            effective_weight: weight,
            current_weight: 0,
            max_fails: peer.max_fails,
            fail_timeout: peer.fail_timeout,
            max_conns: peer.max_conns,
            down: peer.down,
            fails: 0,
            checked: None,
            accessed: None,
            active: 0,
        }
    }

    /// `max_fails` reached and the last failure is within `fail_timeout`.
    fn failed_out(&self, now: Instant) -> bool {
        self.max_fails > 0
            && self.fails >= self.max_fails
            && self
                .checked
                .is_some_and(|c| now.saturating_duration_since(c) <= self.fail_timeout)
    }

    fn full(&self) -> bool {
        self.max_conns > 0 && self.active >= self.max_conns
    }

    /// `self` is less loaded than `other`, relative to weight (`a/wa < b/wb` without
    /// division).
    fn load_cmp(&self, other: &PeerState) -> std::cmp::Ordering {
        let lhs = i128::from(self.active) * i128::from(other.weight);
        let rhs = i128::from(other.active) * i128::from(self.weight);
        lhs.cmp(&rhs)
    }
}

/// The availability test of one pick.
struct Filter<'a> {
    tried: &'a Tried,
    healthy: &'a dyn Fn(usize) -> bool,
    now: Instant,
}

impl Filter<'_> {
    fn ok(&self, i: usize, p: &PeerState) -> bool {
        // Cheapest first; the health check's verdict is a call and an atomic load.
        !p.down
            && !self.tried.contains(i)
            && !p.failed_out(self.now)
            && !p.full()
            && (self.healthy)(i)
    }
}

impl PeerSet {
    pub fn new(upstream: &Upstream) -> PeerSet {
        let peers: Vec<PeerState> = upstream.peers.iter().map(PeerState::new).collect();
        let primaries: Box<[usize]> = (0..upstream.peers.len())
            .filter(|&i| !upstream.peers[i].backup)
            .collect();
        let backups: Box<[usize]> = (0..upstream.peers.len())
            .filter(|&i| upstream.peers[i].backup)
            .collect();
        let mut total_weight = 0u64;
        let starts: Box<[u64]> = primaries
            .iter()
            .map(|&i| {
                let start = total_weight;
                total_weight += u64::from(upstream.peers[i].weight);
                start
            })
            .collect();
        let kind = match upstream.balance {
            Balance::RoundRobin => Kind::RoundRobin,
            Balance::LeastConn => Kind::LeastConn,
            Balance::IpHash => Kind::IpHash,
            Balance::Hash {
                consistent: false, ..
            } => Kind::Hash,
            Balance::Hash {
                consistent: true, ..
            } => Kind::Consistent,
            Balance::Random { two: false } => Kind::Random,
            Balance::Random { two: true } => Kind::RandomTwo,
        };
        let (ring, groups) = if kind == Kind::Consistent {
            ketama(upstream, &primaries)
        } else {
            (Box::default(), Box::default())
        };
        PeerSet {
            single: primaries.len() == 1 && backups.is_empty(),
            peers,
            primaries,
            backups,
            starts,
            total_weight,
            kind,
            ring,
            groups,
            rng: Rng::seeded(),
        }
    }

    /// Chooses a peer for one attempt: not `down`, not in `tried`, `healthy(i)` (the active
    /// health check's verdict), not failed out by `max_fails` within `fail_timeout`, below
    /// `max_conns`; backup peers only when no primary qualifies. `None` when none qualifies.
    ///
    /// The pick does not count a connection: call [`PeerSet::acquire`] once connected (or
    /// when taking a pooled connection).
    pub fn pick(
        &mut self,
        upstream: &Upstream,
        key: PickKey,
        tried: &Tried,
        healthy: &dyn Fn(usize) -> bool,
        now: Instant,
    ) -> Option<usize> {
        debug_assert_eq!(upstream.peers.len(), self.peers.len());
        let f = Filter {
            tried,
            healthy,
            now,
        };
        let chosen = match self.kind {
            Kind::RoundRobin => self.round_robin(&f),
            Kind::LeastConn => self.least_conn(&f),
            Kind::IpHash => self.ip_hash(key.client, &f),
            Kind::Hash => self.hash(key.hash, &f),
            Kind::Consistent => self.consistent(key.hash, &f),
            Kind::Random => self.random(&f),
            Kind::RandomTwo => self.random_two(&f),
        }?;
        // A pick after the failure window ended opens a new one. For a failed-out peer
        // that makes this attempt a probe: other picks skip the peer until the probe
        // succeeds (clearing the failures, see `succeeded`) or another window passes, so
        // a dead peer costs one request per `fail_timeout` (nginx's `checked`).
        let p = &mut self.peers[chosen];
        if p.checked
            .is_none_or(|c| now.saturating_duration_since(c) > p.fail_timeout)
        {
            p.checked = Some(now);
        }
        Some(chosen)
    }

    /// A connection to `peer` is now in use by a request (least_conn, random two,
    /// max_conns).
    pub fn acquire(&mut self, peer: usize) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.active = p.active.saturating_add(1);
        }
    }

    /// The request using a connection to `peer` is finished with it.
    pub fn release(&mut self, peer: usize) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.active = p.active.saturating_sub(1);
        }
    }

    /// An attempt on `peer` failed (nginx's `NGX_PEER_FAILED`). Returns true when this
    /// failure made the peer unavailable (reached `max_fails`), so the caller logs it once.
    ///
    /// The peer's effective weight drops by `weight / max_fails` and climbs back by one per
    /// round robin round, as nginx's, so a peer that failed once gets traffic back gently.
    pub fn failed(&mut self, upstream: &Upstream, peer: usize, now: Instant) -> bool {
        debug_assert_eq!(upstream.peers.len(), self.peers.len());
        if self.single {
            return false;
        }
        let Some(p) = self.peers.get_mut(peer) else {
            return false;
        };
        // Out already, unless this is the outcome of the one probe let through when the
        // window ended (the pick moved `checked` past `accessed`): failing that probe puts
        // the peer out again, which is worth reporting again.
        let was_out = p.failed_out(now) && p.accessed >= p.checked;
        p.fails = p.fails.saturating_add(1);
        p.accessed = Some(now);
        p.checked = Some(now);
        if p.max_fails == 0 {
            return false;
        }
        p.effective_weight = (p.effective_weight - p.weight / i64::from(p.max_fails)).max(0);
        !was_out && p.fails >= p.max_fails
    }

    /// An attempt on `peer` succeeded: its failure count starts again, but only when the
    /// peer was picked after its failure window had ended (nginx's `accessed < checked`).
    /// A success inside the window leaves the count alone, so `max_fails` failures spread
    /// over one `fail_timeout` still fail the peer out even with successes in between.
    pub fn succeeded(&mut self, peer: usize) {
        if let Some(p) = self.peers.get_mut(peer) {
            if p.accessed < p.checked {
                p.fails = 0;
            }
        }
    }

    /// Connections to `peer` this shard has in use.
    pub fn active(&self, peer: usize) -> u32 {
        self.peers.get(peer).map_or(0, |p| p.active)
    }

    /// Failures counted against `peer` in its current window (for a status page).
    pub fn fails(&self, peer: usize) -> u32 {
        self.peers.get(peer).map_or(0, |p| p.fails)
    }

    /// Whether passive accounting has `peer` failed out at `now` (for a status page).
    pub fn failed_out(&self, peer: usize, now: Instant) -> bool {
        self.peers.get(peer).is_some_and(|p| p.failed_out(now))
    }

    /// Smooth weighted round robin over the primaries, then over the backups.
    fn round_robin(&mut self, f: &Filter) -> Option<usize> {
        smooth(&mut self.peers, &self.primaries, f)
            .or_else(|| smooth(&mut self.peers, &self.backups, f))
    }

    fn least_conn(&mut self, f: &Filter) -> Option<usize> {
        least_conn(&mut self.peers, &self.primaries, f)
            .or_else(|| least_conn(&mut self.peers, &self.backups, f))
    }

    /// The primary owning `w` (below `total_weight`) in nginx's weighted walk.
    fn weighted(&self, w: u64) -> usize {
        let k = self.starts.partition_point(|&s| s <= w).saturating_sub(1);
        self.primaries[k]
    }

    fn ip_hash(&mut self, client: IpAddr, f: &Filter) -> Option<usize> {
        if self.primaries.len() < 2 || self.total_weight == 0 {
            return self.round_robin(f);
        }
        // A v4 client on a dual-stack socket is hashed as the v4 address it is, so it lands
        // where a v4 listener would send it.
        let v6;
        let v4;
        let bytes: &[u8] = match client.to_canonical() {
            IpAddr::V4(a) => {
                v4 = a.octets();
                &v4[..3]
            }
            IpAddr::V6(a) => {
                v6 = a.octets();
                &v6
            }
        };
        let mut hash: u64 = 89;
        for _ in 0..DRAWS {
            for &b in bytes {
                hash = (hash * 113 + u64::from(b)) % 6271;
            }
            let i = self.weighted(hash % self.total_weight);
            if f.ok(i, &self.peers[i]) {
                return Some(i);
            }
        }
        self.round_robin(f)
    }

    fn hash(&mut self, key: &[u8], f: &Filter) -> Option<usize> {
        if self.primaries.len() < 2 || self.total_weight == 0 || key.is_empty() {
            return self.round_robin(f);
        }
        // Cache::Memcached's scheme, as nginx: add the top 15 bits of crc32 of the key, then
        // of the draw number written before the key, and reduce by the total weight.
        let mut hash: u32 = 0;
        let mut digits = itoa::Buffer::new();
        for draw in 0..DRAWS {
            let mut crc = Crc32::new();
            if draw > 0 {
                crc.update(digits.format(draw).as_bytes());
            }
            crc.update(key);
            hash = hash.wrapping_add((crc.finish() >> 16) & 0x7fff);
            let i = self.weighted(u64::from(hash) % self.total_weight);
            if f.ok(i, &self.peers[i]) {
                return Some(i);
            }
        }
        self.round_robin(f)
    }

    fn consistent(&mut self, key: &[u8], f: &Filter) -> Option<usize> {
        if self.primaries.len() < 2 || self.ring.is_empty() || key.is_empty() {
            return self.round_robin(f);
        }
        let hash = crc32(key);
        // The first point at or after the key's hash, wrapping around the ring; on an
        // unavailable server, the next point.
        let start = self.ring.partition_point(|p| p.hash < hash);
        for step in 0..DRAWS {
            let point = self.ring[(start + step) % self.ring.len()];
            let members = &self.groups[point.group as usize];
            if let Some(i) = smooth(&mut self.peers, members, f) {
                return Some(i);
            }
        }
        self.round_robin(f)
    }

    fn draw(&mut self) -> usize {
        let w = self.rng.below(self.total_weight);
        self.weighted(w)
    }

    fn random(&mut self, f: &Filter) -> Option<usize> {
        if self.primaries.len() < 2 || self.total_weight == 0 {
            return self.round_robin(f);
        }
        for _ in 0..DRAWS {
            let i = self.draw();
            if f.ok(i, &self.peers[i]) {
                return Some(i);
            }
        }
        self.round_robin(f)
    }

    /// Two distinct available peers drawn by weight; the less loaded (relative to weight)
    /// wins, the second on a tie (nginx's `random two least_conn`).
    fn random_two(&mut self, f: &Filter) -> Option<usize> {
        if self.primaries.len() < 2 || self.total_weight == 0 {
            return self.round_robin(f);
        }
        let mut first: Option<usize> = None;
        for _ in 0..DRAWS {
            let i = self.draw();
            if first == Some(i) || !f.ok(i, &self.peers[i]) {
                continue;
            }
            match first {
                None => first = Some(i),
                Some(a) => {
                    let worse = self.peers[i].load_cmp(&self.peers[a]).is_gt();
                    return Some(if worse { a } else { i });
                }
            }
        }
        // Fewer than two available peers found: round robin settles it (nginx too).
        self.round_robin(f)
    }
}

/// nginx's smooth weighted round robin over `list`: every available peer gains its
/// effective weight, the richest wins and pays the round's total. With weights 5,1,1 the
/// order is a a b a c a a.
fn smooth(peers: &mut [PeerState], list: &[usize], f: &Filter) -> Option<usize> {
    let mut best: Option<(usize, i64)> = None;
    let mut total = 0i64;
    for &i in list {
        let p = &mut peers[i];
        if !f.ok(i, p) {
            continue;
        }
        p.current_weight += p.effective_weight;
        total += p.effective_weight;
        if p.effective_weight < p.weight {
            p.effective_weight += 1;
        }
        if best.is_none_or(|(_, cw)| p.current_weight > cw) {
            best = Some((i, p.current_weight));
        }
    }
    let (b, _) = best?;
    peers[b].current_weight -= total;
    Some(b)
}

/// nginx's least_conn over `list`: the fewest active connections relative to weight; ties
/// go round robin among the tied peers.
fn least_conn(peers: &mut [PeerState], list: &[usize], f: &Filter) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None; // (position in list, peer)
    let mut many = false;
    for (k, &i) in list.iter().enumerate() {
        if !f.ok(i, &peers[i]) {
            continue;
        }
        match best {
            None => best = Some((k, i)),
            Some((_, b)) => match peers[i].load_cmp(&peers[b]) {
                std::cmp::Ordering::Less => {
                    best = Some((k, i));
                    many = false;
                }
                std::cmp::Ordering::Equal => many = true,
                std::cmp::Ordering::Greater => {}
            },
        }
    }
    let (k0, b0) = best?;
    if !many {
        return Some(b0);
    }
    // Tied peers all come at or after the first of them.
    let mut chosen = b0;
    let mut total = 0i64;
    for &i in &list[k0..] {
        if !f.ok(i, &peers[i]) || peers[i].load_cmp(&peers[b0]).is_ne() {
            continue;
        }
        let p = &mut peers[i];
        p.current_weight += p.effective_weight;
        total += p.effective_weight;
        if p.effective_weight < p.weight {
            p.effective_weight += 1;
        }
        if i != chosen && peers[i].current_weight > peers[chosen].current_weight {
            chosen = i;
        }
    }
    peers[chosen].current_weight -= total;
    Some(chosen)
}

/// The ketama ring of a consistent-hash group, as nginx builds it: for each server,
/// `160 × weight` points, the first crc32("host\0port"), each next one the crc32 continued
/// over the previous point's four bytes (Cache::Memcached::Fast's scheme). Peers sharing a
/// server name share its points.
fn ketama(upstream: &Upstream, primaries: &[usize]) -> (Box<[Point]>, Groups) {
    let mut names: Vec<String> = Vec::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut points: Vec<Point> = Vec::new();
    for &i in primaries {
        let peer = &upstream.peers[i];
        let name = server_name(peer);
        let group = match names.iter().position(|n| *n == name) {
            Some(g) => g,
            None => {
                names.push(name);
                groups.push(Vec::new());
                names.len() - 1
            }
        };
        groups[group].push(i);
        let (host, port) = split_host_port(&names[group]);
        let mut base = Crc32::new();
        base.update(host);
        base.update(&[0]);
        base.update(port);
        let mut prev = 0u32;
        for _ in 0..peer.weight.saturating_mul(POINTS_PER_WEIGHT) {
            let mut crc = base;
            crc.update(&prev.to_le_bytes());
            prev = crc.finish();
            points.push(Point {
                hash: prev,
                group: group as u32,
            });
        }
    }
    // Ties between servers go to the earlier one, so the ring does not depend on sort
    // order; equal points of one server (several addresses) collapse.
    points.sort_unstable_by_key(|p| (p.hash, p.group));
    points.dedup_by_key(|p| p.hash);
    (
        points.into_boxed_slice(),
        groups.into_iter().map(Vec::into_boxed_slice).collect(),
    )
}

/// The server as written in the configuration; the address when the name is missing.
fn server_name(peer: &Peer) -> String {
    if peer.name.is_empty() {
        match &peer.addr {
            PeerAddr::Inet(a) => a.to_string(),
            PeerAddr::Unix(p) => format!("unix:{}", p.display()),
        }
    } else {
        peer.name.clone()
    }
}

/// "host:port" → (host, port); "unix:/path" → (/path, ""); no port → (name, "").
fn split_host_port(name: &str) -> (&[u8], &[u8]) {
    let b = name.as_bytes();
    if b.len() >= 5 && b[..5].eq_ignore_ascii_case(b"unix:") {
        return (&b[5..], b"");
    }
    let digits = b.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    let colon = b.len() - digits;
    if colon > 0 && b[colon - 1] == b':' {
        (&b[..colon - 1], &b[colon..])
    } else {
        (b, b"")
    }
}

/// CRC-32 (IEEE 802.3, reflected, the zlib one nginx uses), table-driven.
#[derive(Debug, Clone, Copy)]
struct Crc32(u32);

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

impl Crc32 {
    fn new() -> Crc32 {
        Crc32(0xffff_ffff)
    }

    fn update(&mut self, data: &[u8]) {
        let mut c = self.0;
        for &b in data {
            c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }

    fn finish(self) -> u32 {
        self.0 ^ 0xffff_ffff
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(data);
    c.finish()
}

/// splitmix64: plenty for spreading load, and one per shard needs no locking.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    /// Seeded from the standard library's per-process random keys (which also differ per
    /// `RandomState`), so shards do not draw in lockstep.
    fn seeded() -> Rng {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(0);
        Rng(h.finish())
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (> 0), by multiply-shift rather than a biased, slower modulo.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::proxy::{UPSTREAM_KEEPALIVE_REQUESTS, UPSTREAM_KEEPALIVE_TIMEOUT};
    use crate::config::model::Template;
    use std::net::{Ipv4Addr, SocketAddr};

    fn peer(port: u16, weight: u32) -> Peer {
        Peer {
            addr: PeerAddr::Inet(SocketAddr::from(([127, 0, 0, 1], port))),
            name: format!("127.0.0.1:{port}"),
            weight,
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            backup: false,
            down: false,
            max_conns: 0,
        }
    }

    fn group(balance: Balance, peers: Vec<Peer>) -> Upstream {
        Upstream {
            name: "app".to_string(),
            peers,
            balance,
            keepalive: 0,
            keepalive_timeout: UPSTREAM_KEEPALIVE_TIMEOUT,
            keepalive_requests: UPSTREAM_KEEPALIVE_REQUESTS,
            keepalive_time: crate::config::model::proxy::UPSTREAM_KEEPALIVE_TIME,
            health_check: None,
            implicit: false,
        }
    }

    fn weighted(balance: Balance, weights: &[u32]) -> Upstream {
        let peers = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| peer(9000 + i as u16, w))
            .collect();
        group(balance, peers)
    }

    fn hash(consistent: bool) -> Balance {
        Balance::Hash {
            key: Template::literal("$request_uri"),
            consistent,
        }
    }

    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

    fn key(hash: &[u8]) -> PickKey<'_> {
        PickKey {
            client: CLIENT,
            hash,
        }
    }

    /// One pick with nothing tried and every peer healthy.
    fn pick(set: &mut PeerSet, up: &Upstream, now: Instant) -> Option<usize> {
        set.pick(up, key(b"/"), &Tried::default(), &|_| true, now)
    }

    fn counts(set: &mut PeerSet, up: &Upstream, n: usize) -> Vec<usize> {
        let now = Instant::now();
        let mut c = vec![0; up.peers.len()];
        for _ in 0..n {
            c[pick(set, up, now).expect("a peer")] += 1;
        }
        c
    }

    fn all_policies() -> Vec<Balance> {
        vec![
            Balance::RoundRobin,
            Balance::LeastConn,
            Balance::IpHash,
            hash(false),
            hash(true),
            Balance::Random { two: false },
            Balance::Random { two: true },
        ]
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn smooth_round_robin_order_matches_nginx() {
        let up = weighted(Balance::RoundRobin, &[5, 1, 1]);
        let mut set = PeerSet::new(&up);
        let now = Instant::now();
        let order: Vec<usize> = (0..7).map(|_| pick(&mut set, &up, now).unwrap()).collect();
        assert_eq!(order, vec![0, 0, 1, 0, 2, 0, 0]);
        // And the cycle repeats.
        let again: Vec<usize> = (0..7).map(|_| pick(&mut set, &up, now).unwrap()).collect();
        assert_eq!(again, order);
    }

    #[test]
    fn round_robin_distribution_is_exact() {
        let up = weighted(Balance::RoundRobin, &[1, 2, 3]);
        let mut set = PeerSet::new(&up);
        // 1666 full cycles of 6, then the cycle's first four: c b a c.
        assert_eq!(counts(&mut set, &up, 10_000), vec![1667, 3333, 5000]);
    }

    #[test]
    fn failure_lowers_effective_weight_then_it_recovers() {
        let mut up = weighted(Balance::RoundRobin, &[10, 10]);
        up.peers[0].max_fails = 10;
        let mut set = PeerSet::new(&up);
        let now = Instant::now();
        assert!(!set.failed(&up, 0, now));
        assert_eq!(set.peers[0].effective_weight, 9);
        for _ in 0..20 {
            pick(&mut set, &up, now);
        }
        assert_eq!(set.peers[0].effective_weight, 10);
    }

    #[test]
    fn least_conn_prefers_idle_peer() {
        let up = weighted(Balance::LeastConn, &[1, 1, 1]);
        let mut set = PeerSet::new(&up);
        let now = Instant::now();
        set.acquire(0);
        set.acquire(1);
        for _ in 0..10 {
            assert_eq!(pick(&mut set, &up, now), Some(2));
        }
        set.acquire(2);
        set.acquire(2);
        set.release(0);
        assert_eq!(set.active(0), 0);
        assert_eq!(pick(&mut set, &up, now), Some(0));
    }

    #[test]
    fn least_conn_weighs_and_breaks_ties_round_robin() {
        // One connection each, but peer 1 has twice the weight: it is the less loaded.
        let up = weighted(Balance::LeastConn, &[1, 2]);
        let mut set = PeerSet::new(&up);
        let now = Instant::now();
        set.acquire(0);
        set.acquire(1);
        assert_eq!(pick(&mut set, &up, now), Some(1));
        // All idle and equal: they take turns.
        let up = weighted(Balance::LeastConn, &[1, 1, 1]);
        let mut set = PeerSet::new(&up);
        assert_eq!(counts(&mut set, &up, 300), vec![100, 100, 100]);
    }

    #[test]
    fn ip_hash_is_sticky_per_24() {
        let up = weighted(Balance::IpHash, &[1, 1, 1, 1]);
        let mut set = PeerSet::new(&up);
        let now = Instant::now();
        let none = Tried::default();
        let at = |set: &mut PeerSet, ip: [u8; 4]| {
            let k = PickKey {
                client: IpAddr::from(ip),
                hash: b"",
            };
            set.pick(&up, k, &none, &|_| true, now).unwrap()
        };
        let first = at(&mut set, [203, 0, 113, 9]);
        for last in 0..=255 {
            assert_eq!(at(&mut set, [203, 0, 113, last]), first);
        }
        let mut fresh = PeerSet::new(&up);
        assert_eq!(at(&mut fresh, [203, 0, 113, 1]), first);
        // A v4 client seen on a dual-stack socket hashes the same.
        let mapped = PickKey {
            client: IpAddr::from(Ipv4Addr::new(203, 0, 113, 1).to_ipv6_mapped()),
            hash: b"",
        };
        assert_eq!(fresh.pick(&up, mapped, &none, &|_| true, now), Some(first));
        // Different networks spread over every peer.
        let mut seen = [false; 4];
        for net in 0..200u8 {
            seen[at(&mut set, [10, net, 1, 1])] = true;
        }
        assert_eq!(seen, [true; 4]);
    }

    #[test]
    fn ip_hash_rehashes_past_an_unavailable_peer_consistently() {
        let up = weighted(Balance::IpHash, &[1, 1, 1, 1]);
        let now = Instant::now();
        let none = Tried::default();
        let k = PickKey {
            client: IpAddr::from([198, 51, 100, 20]),
            hash: b"",
        };
        let mut set = PeerSet::new(&up);
        let home = set.pick(&up, k, &none, &|_| true, now).unwrap();
        let not_home = |i: usize| i != home;
        let other = set.pick(&up, k, &none, &not_home, now).unwrap();
        assert_ne!(other, home);
        for _ in 0..10 {
            assert_eq!(set.pick(&up, k, &none, &not_home, now), Some(other));
        }
        // Home comes back: the client goes home again.
        assert_eq!(set.pick(&up, k, &none, &|_| true, now), Some(home));
    }

    #[test]
    fn ip_hash_v6_uses_whole_address() {
        let up = weighted(Balance::IpHash, &[1, 1, 1, 1]);
        let mut set = PeerSet::new(&up);
        let now = Instant::now();
        let none = Tried::default();
        let mut seen = [false; 4];
        for last in 0..64u16 {
            let ip: IpAddr = format!("2001:db8::{last:x}").parse().unwrap();
            let k = PickKey {
                client: ip,
                hash: b"",
            };
            let a = set.pick(&up, k, &none, &|_| true, now).unwrap();
            assert_eq!(set.pick(&up, k, &none, &|_| true, now), Some(a));
            seen[a] = true;
        }
        assert_eq!(seen, [true; 4]);
    }

    #[test]
    fn hash_is_sticky_and_spreads() {
        let up = weighted(hash(false), &[1, 1, 1]);
        let mut set = PeerSet::new(&up);
        let mut fresh = PeerSet::new(&up);
        let now = Instant::now();
        let none = Tried::default();
        let mut c = [0usize; 3];
        for n in 0..3000 {
            let k = format!("/item/{n}");
            let a = set
                .pick(&up, key(k.as_bytes()), &none, &|_| true, now)
                .unwrap();
            assert_eq!(
                set.pick(&up, key(k.as_bytes()), &none, &|_| true, now),
                Some(a)
            );
            assert_eq!(
                fresh.pick(&up, key(k.as_bytes()), &none, &|_| true, now),
                Some(a)
            );
            c[a] += 1;
        }
        assert!(c.iter().all(|&x| (700..1300).contains(&x)), "{c:?}");
    }

    #[test]
    fn hash_rehashes_past_tried_peer() {
        let up = weighted(hash(false), &[1, 1, 1]);
        let mut set = PeerSet::new(&up);
        let now = Instant::now();
        let mut tried = Tried::default();
        let a = set.pick(&up, key(b"/x"), &tried, &|_| true, now).unwrap();
        tried.insert(a);
        let b = set.pick(&up, key(b"/x"), &tried, &|_| true, now).unwrap();
        assert_ne!(a, b);
        assert_eq!(set.pick(&up, key(b"/x"), &tried, &|_| true, now), Some(b));
    }

    #[test]
    fn empty_hash_key_goes_round_robin() {
        let up = weighted(hash(false), &[1, 1]);
        let mut set = PeerSet::new(&up);
        let now = Instant::now();
        let none = Tried::default();
        let a = set.pick(&up, key(b""), &none, &|_| true, now);
        let b = set.pick(&up, key(b""), &none, &|_| true, now);
        assert_ne!(a, b);
    }

    fn ketama_owner(set: &mut PeerSet, up: &Upstream, k: &str) -> String {
        let now = Instant::now();
        let i = set
            .pick(up, key(k.as_bytes()), &Tried::default(), &|_| true, now)
            .unwrap();
        up.peers[i].name.clone()
    }

    #[test]
    fn consistent_hash_is_sticky_and_balanced() {
        let up = weighted(hash(true), &[1, 1, 1, 1]);
        assert_eq!(PeerSet::new(&up).ring.len(), 640);
        let mut set = PeerSet::new(&up);
        let mut fresh = PeerSet::new(&up);
        let mut c = std::collections::HashMap::new();
        for n in 0..4000 {
            let k = format!("/k/{n}");
            let a = ketama_owner(&mut set, &up, &k);
            assert_eq!(ketama_owner(&mut set, &up, &k), a);
            assert_eq!(ketama_owner(&mut fresh, &up, &k), a);
            *c.entry(a).or_insert(0usize) += 1;
        }
        assert_eq!(c.len(), 4);
        assert!(c.values().all(|&x| (600..1400).contains(&x)), "{c:?}");
    }

    #[test]
    fn consistent_hash_remaps_only_the_removed_peers_keys() {
        let four = weighted(hash(true), &[1, 1, 1, 1]);
        let mut three = four.clone();
        let removed = three.peers.remove(2).name;
        let mut s4 = PeerSet::new(&four);
        let mut s3 = PeerSet::new(&three);
        let (mut moved, mut lost) = (0, 0);
        for n in 0..10_000 {
            let k = format!("key-{n}");
            let before = ketama_owner(&mut s4, &four, &k);
            let after = ketama_owner(&mut s3, &three, &k);
            if before == removed {
                lost += 1;
            } else if before != after {
                moved += 1;
            }
        }
        assert!(lost > 1000, "the removed peer owned {lost} keys");
        assert_eq!(moved, 0, "keys of surviving peers must stay put");
    }

    #[test]
    fn consistent_hash_skips_unavailable_peer() {
        let up = weighted(hash(true), &[1, 1, 1]);
        let mut set = PeerSet::new(&up);
        let now = Instant::now();
        let none = Tried::default();
        for n in 0..200 {
            let k = format!("/{n}");
            let a = set
                .pick(&up, key(k.as_bytes()), &none, &|_| true, now)
                .unwrap();
            let b = set
                .pick(&up, key(k.as_bytes()), &none, &|i| i != a, now)
                .unwrap();
            assert_ne!(a, b);
        }
    }

    #[test]
    fn ketama_name_split() {
        assert_eq!(split_host_port("a.b:80"), (&b"a.b"[..], &b"80"[..]));
        assert_eq!(split_host_port("[::1]:8080"), (&b"[::1]"[..], &b"8080"[..]));
        assert_eq!(
            split_host_port("unix:/run/x.sock"),
            (&b"/run/x.sock"[..], &b""[..])
        );
        assert_eq!(split_host_port("backend"), (&b"backend"[..], &b""[..]));
        assert_eq!(split_host_port("8080"), (&b"8080"[..], &b""[..]));
    }

    #[test]
    fn random_follows_weights() {
        let up = weighted(Balance::Random { two: false }, &[1, 3]);
        let mut set = PeerSet::new(&up);
        let c = counts(&mut set, &up, 10_000);
        assert!((2200..2800).contains(&c[0]), "{c:?}");
        let up = weighted(Balance::Random { two: true }, &[1, 1, 1]);
        let mut set = PeerSet::new(&up);
        let c = counts(&mut set, &up, 9000);
        assert!(c.iter().all(|&x| (2600..3400).contains(&x)), "{c:?}");
    }

    #[test]
    fn random_two_prefers_less_loaded() {
        let up = weighted(Balance::Random { two: true }, &[1, 1, 1]);
        let mut set = PeerSet::new(&up);
        let now = Instant::now();
        for _ in 0..5 {
            set.acquire(1);
        }
        set.acquire(0);
        let mut c = [0usize; 3];
        for _ in 0..1000 {
            c[pick(&mut set, &up, now).unwrap()] += 1;
        }
        // Every pair holding peer 1 drops it; the pair {0, 2} goes to 2.
        assert_eq!(c[1], 0, "{c:?}");
        assert!(c[2] > c[0], "{c:?}");
    }

    #[test]
    fn max_fails_within_fail_timeout() {
        let mut up = weighted(Balance::RoundRobin, &[1, 1]);
        up.peers[0].max_fails = 2;
        up.peers[0].fail_timeout = Duration::from_secs(10);
        let mut set = PeerSet::new(&up);
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        assert!(!set.failed(&up, 0, t0));
        assert!(!set.failed_out(0, t0));
        // Still usable with one failure.
        let picks: Vec<_> = (0..2)
            .map(|_| pick(&mut set, &up, t0 + s).unwrap())
            .collect();
        assert!(picks.contains(&0));
        // A success inside the window does not forgive (nginx's accessed < checked).
        set.succeeded(0);
        assert_eq!(set.fails(0), 1);
        assert!(
            set.failed(&up, 0, t0 + 2 * s),
            "the second failure disables"
        );
        assert!(
            !set.failed(&up, 0, t0 + 2 * s),
            "only the transition reports"
        );
        for _ in 0..10 {
            assert_eq!(pick(&mut set, &up, t0 + 5 * s), Some(1));
        }
        // Window over: the peer is tried again, and a success clears its failures.
        let later = t0 + 13 * s;
        let picks: Vec<_> = (0..2)
            .map(|_| pick(&mut set, &up, later).unwrap())
            .collect();
        assert!(picks.contains(&0));
        // That one attempt is a probe: nobody else goes there until it answers.
        for _ in 0..4 {
            assert_eq!(pick(&mut set, &up, later), Some(1));
        }
        set.succeeded(0);
        assert_eq!(set.fails(0), 0);
        // Or, failing on its comeback, it is out for another window at once.
        let mut set2 = PeerSet::new(&up);
        set2.failed(&up, 0, t0);
        set2.failed(&up, 0, t0);
        let picks: Vec<_> = (0..2)
            .map(|_| pick(&mut set2, &up, later).unwrap())
            .collect();
        assert!(picks.contains(&0));
        assert!(set2.failed(&up, 0, later));
        assert_eq!(pick(&mut set2, &up, later + s), Some(1));
    }

    #[test]
    fn max_fails_zero_never_fails_out() {
        let mut up = weighted(Balance::RoundRobin, &[1, 1]);
        up.peers[0].max_fails = 0;
        let mut set = PeerSet::new(&up);
        let now = Instant::now();
        for _ in 0..5 {
            assert!(!set.failed(&up, 0, now));
        }
        assert_eq!(counts(&mut set, &up, 10), vec![5, 5]);
    }

    #[test]
    fn single_peer_is_never_failed_out() {
        let up = weighted(Balance::RoundRobin, &[1]);
        let mut set = PeerSet::new(&up);
        let now = Instant::now();
        assert!(!set.failed(&up, 0, now));
        assert!(!set.failed(&up, 0, now));
        assert_eq!(pick(&mut set, &up, now), Some(0));
        // But `down` and the health check still count.
        assert_eq!(
            set.pick(&up, key(b""), &Tried::default(), &|_| false, now),
            None
        );
    }

    #[test]
    fn backup_only_when_primaries_unavailable() {
        for balance in [Balance::RoundRobin, Balance::LeastConn] {
            let mut up = weighted(balance, &[1, 1, 1]);
            up.peers[2].backup = true;
            let mut set = PeerSet::new(&up);
            let now = Instant::now();
            assert_eq!(counts(&mut set, &up, 100)[2], 0);
            // Peer 0 failed out, peer 1 unhealthy: the backup serves.
            assert!(set.failed(&up, 0, now));
            let healthy = |i: usize| i != 1;
            let none = Tried::default();
            assert_eq!(set.pick(&up, key(b""), &none, &healthy, now), Some(2));
            // Peer 1 back: the primaries again.
            assert_eq!(set.pick(&up, key(b""), &none, &|_| true, now), Some(1));
        }
    }

    #[test]
    fn hashing_policies_fall_back_to_backup() {
        for balance in all_policies() {
            let mut up = weighted(balance.clone(), &[1, 1, 1]);
            up.peers[2].backup = true;
            let mut set = PeerSet::new(&up);
            let now = Instant::now();
            let none = Tried::default();
            let got = set.pick(&up, key(b"/k"), &none, &|i| i == 2, now);
            assert_eq!(got, Some(2), "{balance:?}");
        }
    }

    #[test]
    fn all_unavailable_is_none() {
        for balance in all_policies() {
            let mut up = weighted(balance.clone(), &[1, 1, 1]);
            let now = Instant::now();
            let none = Tried::default();
            // Down.
            up.peers.iter_mut().for_each(|p| p.down = true);
            let mut set = PeerSet::new(&up);
            assert_eq!(
                set.pick(&up, key(b"/k"), &none, &|_| true, now),
                None,
                "{balance:?}"
            );
            // Unhealthy.
            up.peers.iter_mut().for_each(|p| p.down = false);
            let mut set = PeerSet::new(&up);
            assert_eq!(
                set.pick(&up, key(b"/k"), &none, &|_| false, now),
                None,
                "{balance:?}"
            );
            // All failed out: no amnesty, "no live upstreams".
            for i in 0..3 {
                set.failed(&up, i, now);
            }
            assert_eq!(
                set.pick(&up, key(b"/k"), &none, &|_| true, now),
                None,
                "{balance:?}"
            );
            // All tried.
            let mut set = PeerSet::new(&up);
            let mut tried = Tried::default();
            (0..3).for_each(|i| tried.insert(i));
            assert_eq!(
                set.pick(&up, key(b"/k"), &tried, &|_| true, now),
                None,
                "{balance:?}"
            );
        }
    }

    #[test]
    fn tried_peers_are_skipped() {
        for balance in all_policies() {
            let up = weighted(balance.clone(), &[1, 1, 1]);
            let mut set = PeerSet::new(&up);
            let now = Instant::now();
            let mut tried = Tried::default();
            let a = set.pick(&up, key(b"/k"), &tried, &|_| true, now).unwrap();
            tried.insert(a);
            let b = set.pick(&up, key(b"/k"), &tried, &|_| true, now).unwrap();
            tried.insert(b);
            let c = set.pick(&up, key(b"/k"), &tried, &|_| true, now).unwrap();
            tried.insert(c);
            assert!(a != b && b != c && a != c, "{balance:?}: {a} {b} {c}");
            assert_eq!(set.pick(&up, key(b"/k"), &tried, &|_| true, now), None);
        }
    }

    #[test]
    fn max_conns_is_honoured() {
        for balance in all_policies() {
            let mut up = weighted(balance.clone(), &[1, 1]);
            up.peers[0].max_conns = 1;
            up.peers[1].max_conns = 2;
            let mut set = PeerSet::new(&up);
            let now = Instant::now();
            let none = Tried::default();
            for _ in 0..3 {
                let p = set.pick(&up, key(b"/k"), &none, &|_| true, now).unwrap();
                set.acquire(p);
            }
            assert_eq!((set.active(0), set.active(1)), (1, 2), "{balance:?}");
            assert_eq!(set.pick(&up, key(b"/k"), &none, &|_| true, now), None);
            set.release(1);
            assert_eq!(set.pick(&up, key(b"/k"), &none, &|_| true, now), Some(1));
        }
    }

    #[test]
    fn out_of_range_indexes_are_harmless() {
        let up = weighted(Balance::RoundRobin, &[1, 1]);
        let mut set = PeerSet::new(&up);
        set.acquire(9);
        set.release(9);
        set.succeeded(9);
        assert!(!set.failed(&up, 9, Instant::now()));
        assert_eq!(set.active(9), 0);
    }
}
