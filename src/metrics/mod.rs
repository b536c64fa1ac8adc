//! Status and metrics: counters written on the request path, read by the status handlers.
//!
//! Where it sits: the control thread creates one [`Registry`] per process (`runtime::run`)
//! and hands it to every shard; it outlives configuration reloads. On the request path a
//! shard writes only its own blocks (`blocks`): `shard/` counts accepted connections and
//! TLS handshakes, `serve::h1` connection states, requests and responses per server zone,
//! `serve::proxy` attempts per upstream peer. The handlers in `handlers/status/` read
//! everything through [`report::Report`], summing the shards. Metric names live in
//! `names.rs` only.

pub mod blocks;
pub mod control;
pub mod counter;
pub mod names;
pub mod process;
pub mod report;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam::utils::CachePadded;

use crate::config::model::{Config, Server};
use blocks::{Named, PeerBlock, PerShard, ShardBlock, ZoneBlock};
pub use control::Control;

/// Every counter of the process.
pub struct Registry {
    /// When the server started (process start, for uptime and `process_start_time_seconds`).
    pub started: SystemTime,
    started_at: Instant,
    shards: Box<[CachePadded<ShardBlock>]>,
    zones: Named<String, ZoneBlock>,
    /// Keyed by (group name, peer address as `$upstream_addr` prints it).
    peers: Named<(String, String), PeerBlock>,
    /// Filled by the control thread's reload.
    pub control: Control,
}

impl Registry {
    pub fn new(shards: usize) -> Arc<Registry> {
        Arc::new(Registry {
            started: SystemTime::now(),
            started_at: Instant::now(),
            shards: (0..shards.max(1)).map(|_| CachePadded::default()).collect(),
            zones: Named::new(shards.max(1)),
            peers: Named::new(shards.max(1)),
            control: Control::default(),
        })
    }

    pub fn uptime(&self) -> Duration {
        self.started_at.elapsed()
    }

    pub fn shards(&self) -> &[CachePadded<ShardBlock>] {
        &self.shards
    }

    /// The handle shard `id` counts through.
    pub fn for_shard(self: &Arc<Registry>, id: usize) -> ShardMetrics {
        THIS_SHARDS_REGISTRY.with(|r| {
            let _ = r.set(self.clone());
        });
        ShardMetrics {
            registry: self.clone(),
            id: id.min(self.shards.len() - 1),
        }
    }

    pub(crate) fn zone(&self, name: &str) -> Option<PerShard<ZoneBlock>> {
        self.zones.get(&name.to_string())
    }

    pub(crate) fn peer(&self, group: &str, addr: &str) -> Option<PerShard<PeerBlock>> {
        self.peers.get(&(group.to_string(), addr.to_string()))
    }
}

thread_local! {
    /// The registry of the shard running on this thread, for variables that read node-wide
    /// counters (`$connections_*`) from deep in the request path without a handle threaded
    /// through every call (and without an `Arc` clone per request).
    static THIS_SHARDS_REGISTRY: std::cell::OnceCell<Arc<Registry>> = const { std::cell::OnceCell::new() };
}

/// The node's connection counters as this thread's shard sees them (zeros off a shard thread).
pub fn node_connections() -> report::Connections {
    THIS_SHARDS_REGISTRY.with(|r| {
        r.get()
            .map(|r| report::Connections::of_node(r))
            .unwrap_or_default()
    })
}

/// The zone name of a server block: its first `server_name`, else its first listen
/// address (blocks with the same name share a zone).
pub fn zone_name(server: &Server) -> String {
    if !server.primary_name.is_empty() {
        return server.primary_name.clone();
    }
    server
        .listen
        .first()
        .map_or_else(|| "_".to_string(), |l| l.addr.to_string())
}

/// One shard's way into the registry.
#[derive(Clone)]
pub struct ShardMetrics {
    registry: Arc<Registry>,
    id: usize,
}

/// A registry of its own for one shard (for shard state built outside `runtime::run`).
impl Default for ShardMetrics {
    fn default() -> Self {
        Registry::new(1).for_shard(0)
    }
}

impl ShardMetrics {
    #[inline]
    pub fn block(&self) -> &ShardBlock {
        &self.registry.shards[self.id]
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// This shard's zone blocks for `config`'s servers, by position in `Config::servers`
    /// (built once per shard per configuration generation).
    pub fn zones(&self, config: &Config) -> ZoneMap {
        ZoneMap {
            id: self.id,
            zones: config
                .servers
                .iter()
                .map(|s| self.registry.zones.get_or_create(&zone_name(s)))
                .collect(),
        }
    }

    /// This shard's blocks for the peers of one upstream group, by peer position.
    pub fn peers(&self, group: &str, addrs: &[String]) -> PeerMap {
        PeerMap {
            id: self.id,
            peers: addrs
                .iter()
                .map(|a| {
                    self.registry
                        .peers
                        .get_or_create(&(group.to_string(), a.clone()))
                })
                .collect(),
        }
    }

    /// Counts an accepted connection and tracks its state until the tracker drops.
    pub fn connection(&self) -> ConnTracker {
        let b = self.block();
        b.accepted.inc();
        b.handled.inc();
        b.active.add(1);
        ConnTracker {
            metrics: self.clone(),
            phase: Phase::Waiting,
        }
    }
}

/// Zone blocks of one generation's servers, for one shard.
pub struct ZoneMap {
    id: usize,
    zones: Vec<PerShard<ZoneBlock>>,
}

impl ZoneMap {
    #[inline]
    pub fn get(&self, server: usize) -> Option<&ZoneBlock> {
        self.zones.get(server).map(|z| &*z[self.id])
    }
}

/// Peer blocks of one group, for one shard.
pub struct PeerMap {
    id: usize,
    peers: Vec<PerShard<PeerBlock>>,
}

impl PeerMap {
    #[inline]
    pub fn get(&self, peer: usize) -> Option<&PeerBlock> {
        self.peers.get(peer).map(|p| &*p[self.id])
    }
}

/// Counts one finished request on its shard's `block` and its server's `zone`: the status
/// class, `(received, sent)` bytes and, when `started` is known, the duration.
#[inline]
pub fn finished(
    block: &ShardBlock,
    zone: Option<&ZoneBlock>,
    status: u16,
    (received, sent): (u64, u64),
    started: Option<Instant>,
) {
    block.responses.record(status);
    block.bytes_in.add(received);
    block.bytes_out.add(sent);
    if let Some(t) = started {
        block.request_time.observe(t.elapsed());
    }
    if let Some(z) = zone {
        z.requests.inc();
        z.responses.record(status);
        z.bytes_in.add(received);
        z.bytes_out.add(sent);
    }
}

/// What a client connection is doing, in stub_status's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Idle: no request bytes yet (new or keep-alive), or in the TLS handshake.
    Waiting,
    /// Reading a request head.
    Reading,
    /// Handling a request and writing its response.
    Writing,
}

/// One connection's place in the connection gauges; leaves them when dropped.
pub struct ConnTracker {
    metrics: ShardMetrics,
    phase: Phase,
}

impl ConnTracker {
    #[inline]
    pub fn set(&mut self, phase: Phase) {
        if phase == self.phase {
            return;
        }
        let b = self.metrics.block();
        if let Some(g) = Self::gauge(b, self.phase) {
            g.add(-1);
        }
        if let Some(g) = Self::gauge(b, phase) {
            g.add(1);
        }
        self.phase = phase;
    }

    pub fn metrics(&self) -> &ShardMetrics {
        &self.metrics
    }

    fn gauge(b: &ShardBlock, phase: Phase) -> Option<&counter::Gauge> {
        match phase {
            Phase::Waiting => None,
            Phase::Reading => Some(&b.reading),
            Phase::Writing => Some(&b.writing),
        }
    }
}

impl Drop for ConnTracker {
    fn drop(&mut self) {
        self.set(Phase::Waiting);
        self.metrics.block().active.add(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_moves_through_the_gauges_and_leaves_them() {
        let r = Registry::new(2);
        let m = r.for_shard(1);
        let mut t = m.connection();
        t.set(Phase::Reading);
        t.set(Phase::Writing);
        let b = &r.shards()[1];
        assert_eq!(
            (b.active.get(), b.reading.get(), b.writing.get()),
            (1, 0, 1)
        );
        drop(t);
        assert_eq!(
            (b.active.get(), b.reading.get(), b.writing.get()),
            (0, 0, 0)
        );
        assert_eq!((b.accepted.get(), r.shards()[0].accepted.get()), (1, 0));
    }
}
