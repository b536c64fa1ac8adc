//! The counter blocks: one per shard for the shard's connections and requests, and one per
//! shard inside each server zone and each upstream peer.
//!
//! A block is written only by its shard (`counter` explains why that needs no lock) and
//! sits on cache lines of its own ([`CachePadded`]), so two shards counting at the same
//! moment never touch the same line. Zones and peers are found by name ([`Named`]), not by
//! their index in one configuration, so their counts go on across reloads; each shard maps
//! a configuration generation's indexes to them once (`metrics::ShardMetrics`).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use crossbeam::utils::CachePadded;

use super::counter::{Counter, Gauge, Histogram};

/// Responses by status class: 1xx … 5xx.
#[derive(Debug, Default)]
pub struct Classes([Counter; 5]);

impl Classes {
    #[inline]
    pub fn record(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.0[class].inc();
    }

    pub fn add_to(&self, into: &mut [u64; 5]) {
        for (sum, c) in into.iter_mut().zip(&self.0) {
            *sum += c.get();
        }
    }
}

/// One shard's own figures (what stub_status shows, and more).
#[derive(Debug, Default)]
pub struct ShardBlock {
    pub accepted: Counter,
    pub handled: Counter,
    /// Client connections open now.
    pub active: Gauge,
    /// Of those, reading a request head, and answering a request (nginx's meanings;
    /// waiting = active − reading − writing).
    pub reading: Gauge,
    pub writing: Gauge,
    /// Of the waiting ones, parked without a task (`serve/park`).
    pub parked: Gauge,
    pub requests: Counter,
    pub responses: Classes,
    /// Request bytes received (heads and declared bodies) and response bytes sent.
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    /// From the complete request head to the end of the response.
    pub request_time: Histogram,
    pub tls_handshakes: Counter,
    pub tls_failed: Counter,
    pub tls_resumed: Counter,
}

/// One shard's figures for one server zone (a `server {}` block, by its first name).
#[derive(Debug, Default)]
pub struct ZoneBlock {
    pub requests: Counter,
    pub responses: Classes,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
}

/// One shard's figures for one upstream peer.
#[derive(Debug, Default)]
pub struct PeerBlock {
    /// Attempts sent to the peer (a retried request counts once per peer tried).
    pub requests: Counter,
    /// Response heads received, by class.
    pub responses: Classes,
    /// Attempts that failed (connect, send, timeout, invalid head).
    pub fails: Counter,
    /// Connections to the peer in use now (pooled idle ones excluded).
    pub active: Gauge,
    /// From the attempt's start to the response head (`$upstream_header_time`).
    pub header_time: Histogram,
    /// Milliseconds since the Unix epoch until which this shard's passive check
    /// (`max_fails`/`fail_timeout`) keeps the peer out; 0 when it never did.
    pub unavailable_until_ms: Counter,
}

/// A block per shard for one named thing.
pub type PerShard<B> = Arc<[CachePadded<B>]>;

/// Named blocks, created the first time a configuration names them and kept for the life of
/// the process. The lock is taken when a shard maps a new configuration generation and when
/// a status page reads, never per request.
pub struct Named<K, B> {
    shards: usize,
    map: Mutex<HashMap<K, PerShard<B>>>,
}

impl<K: Eq + Hash + Clone, B: Default> Named<K, B> {
    pub fn new(shards: usize) -> Self {
        Named {
            shards,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The blocks of `key`, created when new.
    pub fn get_or_create(&self, key: &K) -> PerShard<B> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key.clone())
            .or_insert_with(|| (0..self.shards).map(|_| CachePadded::default()).collect())
            .clone()
    }

    /// The blocks of `key` if some configuration named it.
    pub fn get(&self, key: &K) -> Option<PerShard<B>> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_in_their_class_and_odd_ones_at_the_edges() {
        let c = Classes::default();
        for s in [101, 200, 204, 302, 404, 444, 502, 999, 0] {
            c.record(s);
        }
        let mut sum = [0; 5];
        c.add_to(&mut sum);
        assert_eq!(sum, [2, 2, 1, 2, 2]);
    }

    #[test]
    fn a_name_keeps_its_blocks() {
        let named: Named<String, ZoneBlock> = Named::new(2);
        let a = named.get_or_create(&"a".to_string());
        a[1].requests.inc();
        let again = named.get_or_create(&"a".to_string());
        assert_eq!(again.len(), 2);
        assert_eq!(again[1].requests.get(), 1);
        assert!(named.get(&"b".to_string()).is_none());
    }

    #[test]
    fn shard_blocks_do_not_share_cache_lines() {
        let blocks: PerShard<PeerBlock> = (0..2).map(|_| CachePadded::default()).collect();
        let a = std::ptr::from_ref(&*blocks[0]) as usize;
        let b = std::ptr::from_ref(&*blocks[1]) as usize;
        let line = std::mem::align_of::<CachePadded<u8>>();
        assert!(line >= 64 && b - a >= line && a % line == 0);
    }
}
