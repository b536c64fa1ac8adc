//! Peer selection for one upstream group on one shard: nginx's balancing policies and its
//! passive health accounting (`max_fails` / `fail_timeout`).
//!
//! Sans-io and `!Send`: each shard owns one [`PeerSet`] per upstream group and calls
//! [`PeerSet::pick`] once per attempt of a request. State (round-robin weights, active
//! connection counts, failure windows) is what this shard has seen.

use std::net::IpAddr;
use std::time::Instant;

use crate::config::model::Upstream;

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

/// One shard's state for one upstream group.
#[derive(Debug)]
pub struct PeerSet {
    _todo: (),
}

impl PeerSet {
    pub fn new(_upstream: &Upstream) -> PeerSet {
        todo!()
    }

    /// Chooses a peer for one attempt: not `down`, not in `tried`, `healthy(i)` (the active
    /// health check's verdict), not failed out by `max_fails` within `fail_timeout`, below
    /// `max_conns`; backup peers only when no primary qualifies. `None` when none qualifies.
    pub fn pick(
        &mut self,
        _upstream: &Upstream,
        _key: PickKey,
        _tried: &Tried,
        _healthy: &dyn Fn(usize) -> bool,
        _now: Instant,
    ) -> Option<usize> {
        todo!()
    }

    /// A connection to `peer` is now in use by a request (least_conn, max_conns).
    pub fn acquire(&mut self, _peer: usize) {
        todo!()
    }

    /// The request using a connection to `peer` is finished with it.
    pub fn release(&mut self, _peer: usize) {
        todo!()
    }

    /// An attempt on `peer` failed (nginx's `NGX_PEER_FAILED`). Returns true when this
    /// failure made the peer unavailable (reached `max_fails`), so the caller logs it once.
    pub fn failed(&mut self, _upstream: &Upstream, _peer: usize, _now: Instant) -> bool {
        todo!()
    }

    /// An attempt on `peer` succeeded: its failure count starts again.
    pub fn succeeded(&mut self, _peer: usize) {
        todo!()
    }

    /// Connections to `peer` this shard has in use.
    pub fn active(&self, _peer: usize) -> u32 {
        todo!()
    }
}
