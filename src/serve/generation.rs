//! One shard's view of a configuration generation: the routing index, the upstream state and
//! the TLS objects of its own, and what each listening address serves.
//!
//! Built once per shard per generation (on the first connection or reload command that
//! brings it) by [`super::ShardResources::generation`]; a connection holds an `Rc` to the
//! one its current request runs under and moves to the newest between requests. Nothing
//! here is shared with another shard.

use std::rc::Rc;
use std::sync::Arc;

use super::upstreams::ShardUpstreams;
use crate::config::model::{Config, Listen, SockAddr, TlsSettings};
use crate::config::value::Pattern;
use crate::metrics::{ShardMetrics, ZoneMap};
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

/// The names and TLS settings of every server on a listen address, in order.
type TlsView<'a> = Vec<(&'a Vec<String>, &'a Vec<Pattern>, &'a Option<TlsSettings>)>;

fn tls_view<'a>(g: &'a ShardGeneration, slot: &ListenSlot) -> TlsView<'a> {
    slot.servers
        .servers
        .iter()
        .filter_map(|&i| g.config().servers.get(i))
        .map(|s| (&s.names, &s.name_regexes, &s.tls))
        .collect()
}

/// A generation as one shard uses it.
pub struct ShardGeneration {
    pub shared: Arc<Generation>,
    pub index: Rc<ConfigIndex>,
    pub upstreams: Rc<ShardUpstreams>,
    /// This generation's servers mapped onto the shard's server-zone counters (by name).
    pub zones: Rc<ZoneMap>,
    listens: Vec<(SockAddr, Rc<ListenSlot>)>,
}

impl ShardGeneration {
    /// This shard's state for `shared`; `previous` (the shard's generation before a reload)
    /// lends the state of upstream groups that did not change.
    pub fn build(
        shared: Arc<Generation>,
        previous: Option<&ShardGeneration>,
        metrics: &ShardMetrics,
    ) -> ShardGeneration {
        let config = &shared.config;
        let index = Rc::new(ConfigIndex::build(config));
        let tls = shared.tls.as_ref().map(|t| t.for_shard());
        let listens = config
            .listen_addrs()
            .into_iter()
            .map(|listen| {
                let slot = ListenSlot {
                    servers: index.listener(config, &listen.addr),
                    tls: tls.as_ref().and_then(|t| t.get(&listen.addr).cloned()),
                    listen: listen.clone(),
                };
                (listen.addr, Rc::new(slot))
            })
            .collect();
        let upstreams = ShardUpstreams::build(
            config,
            shared.health.clone(),
            previous.map(|p| (&*p.shared.config, &*p.upstreams)),
            metrics,
        );
        ShardGeneration {
            zones: Rc::new(metrics.zones(config)),
            index,
            upstreams: Rc::new(upstreams),
            listens,
            shared,
        }
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.shared.config
    }

    /// Whether a connection accepted on `addr` under `older` may run its next request under
    /// this generation: the address must still speak the same protocol (plain or TLS), and
    /// for TLS every server on it must keep its names and `ssl_*` settings. The handshake
    /// (certificate, client verification) happened under the old settings; moving a TLS
    /// connection to changed ones could let it reach a server whose client check it never
    /// passed. Such a connection stays on its generation until it closes.
    pub fn accepts_connection_from(&self, older: &ShardGeneration, addr: &SockAddr) -> bool {
        let (Some(new), Some(old)) = (self.listen(addr), older.listen(addr)) else {
            return false;
        };
        if new.listen.ssl != old.listen.ssl {
            return false;
        }
        if !new.listen.ssl {
            return true;
        }
        tls_view(self, new) == tls_view(older, old)
    }

    /// What the listen address `addr` (as configured) serves; `None` once a reload has
    /// removed it.
    pub fn listen(&self, addr: &SockAddr) -> Option<&Rc<ListenSlot>> {
        self.listens.iter().find(|(a, _)| a == addr).map(|(_, s)| s)
    }
}
