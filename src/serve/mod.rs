//! The per-connection layer: it owns the socket and drives the codec and the pipeline.
//!
//! `shard/` accepts a connection and spawns [`h1::serve`] on it with the shard's
//! [`ShardResources`]; everything below (`pipeline`, handlers, filters, codecs) is sans-io.

pub mod body;
pub mod buffers;
pub mod h1;

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
    pub statics: RefCell<StaticState>,
    pub access_logs: AccessLogs,
    /// Routing indexes (regex sets) per configuration generation, built on first use.
    /// (Use [`ShardResources::route_index`].)
    pub routes: RefCell<Vec<(Arc<Config>, Rc<ConfigIndex>)>>,
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
}
