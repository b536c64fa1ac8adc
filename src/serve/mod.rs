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
}

impl ShardResources {
    /// The routing index for `config`, built once per shard per generation.
    pub fn route_index(&self, config: &Arc<Config>) -> Rc<ConfigIndex> {
        let mut routes = self.routes.borrow_mut();
        if let Some((_, index)) = routes.iter().find(|(c, _)| Arc::ptr_eq(c, config)) {
            return index.clone();
        }
        let index = Rc::new(ConfigIndex::build(config));
        routes.push((config.clone(), index.clone()));
        if routes.len() > ROUTE_GENERATIONS {
            routes.remove(0);
        }
        index
    }

    /// This shard's upstream state for `config`, built once per generation.
    pub fn upstreams(&self, config: &Arc<Config>) -> Rc<upstreams::ShardUpstreams> {
        let mut all = self.upstreams.borrow_mut();
        if let Some((_, u)) = all.iter().find(|(c, _)| Arc::ptr_eq(c, config)) {
            return u.clone();
        }
        let built = Rc::new(upstreams::ShardUpstreams::build(config));
        all.push((config.clone(), built.clone()));
        if all.len() > ROUTE_GENERATIONS {
            all.remove(0);
        }
        built
    }

    /// The health check's verdict on a peer (up when there is no check).
    pub fn peer_up(&self, upstream: usize, peer: usize) -> bool {
        self.health.as_ref().is_none_or(|h| h.is_up(upstream, peer))
    }
}
