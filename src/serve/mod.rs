//! The per-connection layer: it owns the socket and drives the codec and the pipeline.
//!
//! `shard/` accepts a connection and spawns [`h1::serve`] on it with the shard's
//! [`ShardResources`]; everything below (`pipeline`, handlers, filters, codecs) is sans-io.

pub mod body;
pub mod buffers;
pub mod h1;
pub mod proxy;
pub mod tunnel;
pub mod upstreams;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use crate::config::model::Config;
use crate::handlers::static_files::StaticState;
use crate::log::access::AccessLogs;
use crate::metrics::{ShardMetrics, ZoneMap};
use crate::route::ConfigIndex;

/// Configuration generations a shard keeps routing indexes for (a reload briefly has
/// connections on the old and the new one).
const ROUTE_GENERATIONS: usize = 2;

/// What one shard shares between its connections (never between shards).
#[derive(Default)]
pub struct ShardResources {
    pub id: usize,
    pub buffers: buffers::BufferPool,
    /// The proxy's relay buffers (64 KiB each, kept full-length: never zeroed again).
    pub relay_buffers: buffers::BufferPool,
    pub statics: RefCell<StaticState>,
    pub access_logs: AccessLogs,
    /// Routing indexes (regex sets) per configuration generation, built on first use.
    /// (Use [`ShardResources::route_index`].)
    pub routes: RefCell<Vec<(Arc<Config>, Rc<ConfigIndex>)>>,
    /// Upstream groups (balancing state, idle pools) per configuration generation.
    /// (Use [`ShardResources::upstreams`].)
    pub upstreams: RefCell<Vec<(Arc<Config>, Rc<upstreams::ShardUpstreams>)>>,
    /// The active health checks' verdicts, written by the prober thread (shared, read-only
    /// here); `None` when no group has a health check.
    pub health: Option<Arc<crate::upstream::health::HealthBoard>>,
    /// This shard's counters in the process's registry (`metrics/`).
    pub metrics: ShardMetrics,
    /// Server-zone counters per configuration generation (use [`ShardResources::zones`]).
    pub zones: RefCell<Vec<(Arc<Config>, Rc<ZoneMap>)>>,
}

/// The entry of `config` in a per-generation list, built by `build` the first time; the
/// oldest entry goes once more than [`ROUTE_GENERATIONS`] are kept.
fn per_generation<T>(
    list: &RefCell<Vec<(Arc<Config>, Rc<T>)>>,
    config: &Arc<Config>,
    build: impl FnOnce() -> T,
) -> Rc<T> {
    let mut all = list.borrow_mut();
    if let Some((_, v)) = all.iter().find(|(c, _)| Arc::ptr_eq(c, config)) {
        return v.clone();
    }
    let built = Rc::new(build());
    all.push((config.clone(), built.clone()));
    if all.len() > ROUTE_GENERATIONS {
        all.remove(0);
    }
    built
}

impl ShardResources {
    /// The routing index for `config`, built once per shard per generation.
    pub fn route_index(&self, config: &Arc<Config>) -> Rc<ConfigIndex> {
        per_generation(&self.routes, config, || ConfigIndex::build(config))
    }

    /// This shard's upstream state for `config`, built once per generation.
    pub fn upstreams(&self, config: &Arc<Config>) -> Rc<upstreams::ShardUpstreams> {
        per_generation(&self.upstreams, config, || {
            upstreams::ShardUpstreams::build(config, &self.metrics)
        })
    }

    /// This shard's server-zone counters for `config`'s servers, mapped once per generation.
    pub fn zones(&self, config: &Arc<Config>) -> Rc<ZoneMap> {
        per_generation(&self.zones, config, || self.metrics.zones(config))
    }

    /// What the status pages read: the registry and the health checks' verdicts.
    pub fn status_sources(&self) -> crate::handlers::status::Sources<'_> {
        crate::handlers::status::Sources {
            registry: self.metrics.registry(),
            health: self.health.as_deref(),
        }
    }

    /// The health check's verdict on a peer (up when there is no check).
    pub fn peer_up(&self, upstream: usize, peer: usize) -> bool {
        self.health.as_ref().is_none_or(|h| h.is_up(upstream, peer))
    }
}
