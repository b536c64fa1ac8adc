//! The per-connection layer: it owns the socket and drives the codec and the pipeline.
//!
//! `shard/` accepts a connection and spawns [`h1::serve`] on it with the shard's
//! [`ShardResources`]; everything below (`pipeline`, handlers, filters, codecs) is sans-io.

pub mod body;
pub mod buffers;
pub mod h1;

use std::cell::RefCell;

use crate::handlers::static_files::StaticState;
use crate::log::access::AccessLogs;

/// What one shard shares between its connections (never between shards).
#[derive(Default)]
pub struct ShardResources {
    pub id: usize,
    pub buffers: buffers::BufferPool,
    pub statics: RefCell<StaticState>,
    pub access_logs: AccessLogs,
}
