//! Active health checks: one prober thread per process probes every peer of every group that
//! has a health check, and publishes each peer's state on a [`HealthBoard`] that every shard
//! reads lock-free.
//!
//! Probes do not multiply with the shard count, and a transition is visible to every shard at
//! its next pick (one relaxed atomic load per candidate peer).

use std::sync::Arc;

use crate::config::model::Config;

/// Every peer's health-check state, shared read-only by the shards.
#[derive(Debug)]
pub struct HealthBoard {
    _todo: (),
}

impl HealthBoard {
    /// A board for `config`'s groups; every peer starts up.
    pub fn new(_config: &Config) -> Arc<HealthBoard> {
        todo!()
    }

    /// The active check's verdict on peer `peer` of group `upstream` (true when the group has
    /// no health check).
    pub fn is_up(&self, _upstream: usize, _peer: usize) -> bool {
        todo!()
    }
}

/// Starts the prober thread when some group has a health check; it stops when `board` is the
/// last reference left (the process is ending) or at exit.
pub fn start(
    _config: Arc<Config>,
    _board: Arc<HealthBoard>,
) -> Option<std::thread::JoinHandle<()>> {
    todo!()
}
