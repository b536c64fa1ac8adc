//! One shard's upstream state for one configuration generation: a [`PeerSet`] (balancing
//! and passive health) and a pool of idle connections per upstream group.
//!
//! Built on first use from the `Config`'s groups and kept in `ShardResources`; never shared
//! with another shard, so nothing here locks.

use std::cell::RefCell;
use std::time::Instant;

use crate::config::model::Config;
use crate::net::upstream::UpstreamConn;
use crate::upstream::balance::PeerSet;
use crate::upstream::pool::Pool;

/// The state of one group on this shard.
pub struct GroupState {
    pub peers: RefCell<PeerSet>,
    pub pool: RefCell<Pool<UpstreamConn>>,
    /// Each peer's address as `$upstream_addr` prints it, formatted once.
    pub addr_names: Vec<String>,
}

/// Every group of one configuration generation, on this shard.
pub struct ShardUpstreams {
    pub groups: Vec<GroupState>,
}

impl ShardUpstreams {
    pub fn build(config: &Config) -> ShardUpstreams {
        ShardUpstreams {
            groups: config
                .upstreams
                .iter()
                .map(|u| GroupState {
                    peers: RefCell::new(PeerSet::new(u)),
                    pool: RefCell::new(Pool::new(u.keepalive, u.keepalive_timeout)),
                    addr_names: u.peers.iter().map(|p| p.addr.to_string()).collect(),
                })
                .collect(),
        }
    }

    /// Closes pooled connections that have been idle past their `keepalive_timeout`.
    pub fn expire(&self, now: Instant) {
        for g in &self.groups {
            if let Ok(mut pool) = g.pool.try_borrow_mut() {
                pool.expire(now);
            }
        }
    }
}
