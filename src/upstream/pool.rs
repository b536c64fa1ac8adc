//! Idle upstream connections kept for reuse, per shard, per group and peer (nginx's
//! `keepalive N` cache). Generic over the connection type so it stays sans-io.
//!
//! A connection goes back only when its response ended cleanly and the upstream allowed
//! reuse; it leaves after `keepalive_timeout` idle or `keepalive_requests` uses.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One idle connection and what the pool knows about it.
#[derive(Debug)]
pub struct Idle<C> {
    pub conn: C,
    /// Requests already sent on it.
    pub requests: u64,
    pub since: Instant,
    /// When the connection was opened (`keepalive_time` counts from here).
    pub opened: Instant,
}

/// The idle connections of one upstream group on one shard.
#[derive(Debug)]
pub struct Pool<C> {
    /// (peer index, idle connection), most recently used last.
    idle: VecDeque<(usize, Idle<C>)>,
    capacity: usize,
    timeout: Duration,
}

impl<C> Pool<C> {
    /// `capacity` is `keepalive N`; `timeout` the upstream's `keepalive_timeout`.
    pub fn new(capacity: usize, timeout: Duration) -> Pool<C> {
        Pool {
            idle: VecDeque::new(),
            capacity,
            timeout,
        }
    }

    /// The most recently used idle connection to `peer` that has not timed out; expired
    /// ones found on the way are dropped (closed).
    pub fn take(&mut self, peer: usize, now: Instant) -> Option<Idle<C>> {
        let timeout = self.timeout;
        self.idle
            .retain(|(_, c)| now.saturating_duration_since(c.since) < timeout);
        let at = self.idle.iter().rposition(|(p, _)| *p == peer)?;
        self.idle.remove(at).map(|(_, c)| c)
    }

    /// Keeps `conn` for reuse; when full, the least recently used one is closed (nginx's
    /// behaviour: the cache keeps the newest).
    pub fn put(&mut self, peer: usize, conn: C, requests: u64, opened: Instant, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        if self.idle.len() >= self.capacity {
            self.idle.pop_front();
        }
        self.idle.push_back((
            peer,
            Idle {
                conn,
                requests,
                since: now,
                opened,
            },
        ));
    }

    /// Drops connections idle longer than the timeout (called from the shard's timer).
    pub fn expire(&mut self, now: Instant) {
        let timeout = self.timeout;
        self.idle
            .retain(|(_, c)| now.saturating_duration_since(c.since) < timeout);
    }

    pub fn len(&self) -> usize {
        self.idle.len()
    }

    pub fn is_empty(&self) -> bool {
        self.idle.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_and_bounded() {
        let t0 = Instant::now();
        let mut pool = Pool::new(2, Duration::from_secs(60));
        pool.put(0, "a", 1, t0, t0);
        pool.put(0, "b", 1, t0, t0);
        pool.put(1, "c", 1, t0, t0);
        assert_eq!(pool.len(), 2, "the oldest was closed");
        assert_eq!(pool.take(0, t0).map(|c| c.conn), Some("b"));
        assert!(pool.take(0, t0).is_none());
        assert_eq!(pool.take(1, t0).map(|c| c.conn), Some("c"));
    }

    #[test]
    fn expired_connections_are_not_reused() {
        let t0 = Instant::now();
        let mut pool = Pool::new(4, Duration::from_secs(1));
        pool.put(0, "a", 3, t0, t0);
        assert!(pool.take(0, t0 + Duration::from_secs(2)).is_none());
        assert!(pool.is_empty());
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut pool = Pool::new(0, Duration::from_secs(1));
        pool.put(0, "a", 1, Instant::now(), Instant::now());
        assert!(pool.is_empty());
    }
}
