//! One shard's view of a configuration generation: the routing index, the upstream state and
//! the TLS objects of its own, and what each listening address serves.
//!
//! Built once per shard per generation (on the first connection or reload command that
//! brings it) by [`super::ShardResources::generation`]; a connection holds an `Rc` to the
//! one its current request runs under and moves to the newest between requests. Nothing
//! here is shared with another shard.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use super::upstreams::ShardUpstreams;
use crate::config::model::{Config, Listen};
use crate::route::{ConfigIndex, ListenerServers};
use crate::shard::generation::Generation;
use crate::tls::TlsListener;

/// What one listen address of the generation serves.
pub struct ListenSlot {
    pub listen: Listen,
    pub servers: Rc<ListenerServers>,
    /// This shard's TLS listener (its own session cache) for a `listen … ssl` address.
    pub tls: Option<Arc<TlsListener>>,
}

/// A generation as one shard uses it.
pub struct ShardGeneration {
    pub shared: Arc<Generation>,
    pub index: Rc<ConfigIndex>,
    pub upstreams: Rc<ShardUpstreams>,
    listens: Vec<(SocketAddr, Rc<ListenSlot>)>,
}

impl ShardGeneration {
    /// This shard's state for `shared`; `previous` (the shard's generation before a reload)
    /// lends the state of upstream groups that did not change.
    pub fn build(shared: Arc<Generation>, previous: Option<&ShardGeneration>) -> ShardGeneration {
        let config = &shared.config;
        let index = Rc::new(ConfigIndex::build(config));
        let tls = shared.tls.as_ref().map(|t| t.for_shard());
        let listens = config
            .listen_addrs()
            .into_iter()
            .map(|listen| {
                let slot = ListenSlot {
                    servers: index.listener(config, listen.addr),
                    tls: tls.as_ref().and_then(|t| t.get(listen.addr).cloned()),
                    listen,
                };
                (listen.addr, Rc::new(slot))
            })
            .collect();
        let upstreams = ShardUpstreams::build(
            config,
            shared.health.clone(),
            previous.map(|p| (&*p.shared.config, &*p.upstreams)),
        );
        ShardGeneration {
            index,
            upstreams: Rc::new(upstreams),
            listens,
            shared,
        }
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.shared.config
    }

    /// What the listen address `addr` (as configured) serves; `None` once a reload has
    /// removed it.
    pub fn listen(&self, addr: SocketAddr) -> Option<&Rc<ListenSlot>> {
        self.listens
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, s)| s)
    }
}
