//! One shard's upstream state for one configuration generation: a [`PeerSet`] (balancing
//! and passive health) and a pool of idle connections per upstream group.
//!
//! Built on first use from the `Config`'s groups and kept in `ShardResources`; never shared
//! with another shard, so nothing here locks. The TLS client configs of `proxy_pass
//! https://` locations live here too, one per location, built on first use: each holds
//! this shard's session cache.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::model::{Config, Proxy, Upstream};
use crate::metrics::{PeerMap, ShardMetrics};
use crate::net::upstream::UpstreamConn;
use crate::upstream::balance::PeerSet;
use crate::upstream::health::HealthBoard;
use crate::upstream::pool::Pool;

/// How many client certificate configs of `proxy_ssl_certificate` with variables a shard
/// keeps per generation; past it, one is dropped for each new one.
const CERTIFICATE_CONFIGS: usize = 64;

/// The state of one group on this shard.
pub struct GroupState {
    pub peers: RefCell<PeerSet>,
    pub pool: RefCell<Pool<UpstreamConn>>,
    /// Each peer's address as `$upstream_addr` prints it, formatted once.
    pub addr_names: Vec<String>,
    /// This shard's counters for each peer (kept by group name and address across reloads).
    pub metrics: PeerMap,
}

impl GroupState {
    /// An attempt on `peer` starts: a connection goes to work (the balancer's count, the
    /// peer's gauge and its request count).
    pub fn acquire(&self, peer: usize) {
        self.peers.borrow_mut().acquire(peer);
        if let Some(m) = self.metrics.get(peer) {
            m.active.add(1);
            m.requests.inc();
        }
    }

    /// `peer` sent a response head with `status`, `elapsed` after the attempt started.
    pub fn answered(&self, peer: usize, status: u16, elapsed: Duration) {
        if let Some(m) = self.metrics.get(peer) {
            m.responses.record(status);
            m.header_time.observe(elapsed);
        }
    }

    /// An attempt on `peer` failed, as `max_fails` counts failures; true when that takes
    /// the peer out for its `fail_timeout` on this shard.
    pub fn failed(&self, up: &Upstream, peer: usize, now: Instant) -> bool {
        let out = self.peers.borrow_mut().failed(up, peer, now);
        if let Some(m) = self.metrics.get(peer) {
            m.fails.inc();
            if out {
                let timeout = up
                    .peers
                    .get(peer)
                    .map_or(Duration::ZERO, |p| p.fail_timeout);
                let until = SystemTime::now() + timeout;
                let ms = until
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                m.unavailable_until_ms
                    .set(u64::try_from(ms).unwrap_or(u64::MAX));
            }
        }
        out
    }

    /// The connection to `peer` is done with (pooled or closed).
    pub fn release(&self, peer: usize) {
        self.peers.borrow_mut().release(peer);
        if let Some(m) = self.metrics.get(peer) {
            m.active.add(-1);
        }
    }
}

/// Every group of one configuration generation, on this shard.
pub struct ShardUpstreams {
    /// Shared with the previous generation's state for every group the reload left
    /// unchanged, so its balancer position and idle connections survive the reload.
    pub groups: Vec<Rc<GroupState>>,
    /// The active health checks' verdicts of this generation (written by its prober).
    health: Option<Arc<HealthBoard>>,
    /// TLS client configs by the address of the location's [`Proxy`]: the `Config` this
    /// state belongs to outlives it and never moves its locations, so the address names one
    /// location for the whole generation.
    tls: RefCell<HashMap<usize, Arc<rustls::ClientConfig>>>,
    /// The same for locations whose `proxy_ssl_certificate` has variables, by location and
    /// the paths a request named, at most [`CERTIFICATE_CONFIGS`] of them: each request
    /// naming loaded files reuses their config (and its session cache) instead of reading
    /// them again, as nginx does per request.
    tls_vars: RefCell<HashMap<(usize, String, String), Arc<rustls::ClientConfig>>>,
    /// `resolver` answers cached on this shard for this generation (a reload resolves
    /// again, as nginx's new workers do).
    pub resolver: crate::net::resolver::ShardResolver,
}

impl ShardUpstreams {
    /// This shard's state for `config`'s groups; with `previous` (the generation before a
    /// reload), each group whose configuration is unchanged keeps its state.
    pub fn build(
        config: &Config,
        health: Option<Arc<HealthBoard>>,
        previous: Option<(&Config, &ShardUpstreams)>,
        metrics: &ShardMetrics,
    ) -> ShardUpstreams {
        let kept = |u: &Upstream| {
            let (old_config, old) = previous?;
            let i = old_config.upstreams.iter().position(|o| o == u)?;
            old.groups.get(i).cloned()
        };
        ShardUpstreams {
            groups: config
                .upstreams
                .iter()
                .map(|u| {
                    kept(u).unwrap_or_else(|| {
                        let addr_names: Vec<String> =
                            u.peers.iter().map(|p| p.addr.to_string()).collect();
                        Rc::new(GroupState {
                            peers: RefCell::new(PeerSet::new(u)),
                            pool: RefCell::new(Pool::new(u.keepalive, u.keepalive_timeout)),
                            metrics: metrics.peers(&u.name, &addr_names),
                            addr_names,
                        })
                    })
                })
                .collect(),
            health,
            tls: RefCell::new(HashMap::new()),
            tls_vars: RefCell::new(HashMap::new()),
            resolver: crate::net::resolver::ShardResolver::default(),
        }
    }

    /// The health check's verdict on a peer (up when its group has no check).
    pub fn peer_up(&self, upstream: usize, peer: usize) -> bool {
        self.health.as_ref().is_none_or(|h| h.is_up(upstream, peer))
    }

    /// The TLS client config of `proxy`'s location on this shard, built the first time;
    /// `certificate` is the plan's evaluated `proxy_ssl_certificate` with variables, whose
    /// files are read the first time a request names them.
    pub fn tls_config(
        &self,
        proxy: &Proxy,
        certificate: Option<&(String, String)>,
    ) -> Result<Arc<rustls::ClientConfig>, String> {
        let at = std::ptr::from_ref(proxy) as usize;
        let ssl = &proxy.settings.ssl;
        if let (Some(vars), Some((cert, key))) = (&ssl.certificate_vars, certificate) {
            let id = (at, cert.clone(), key.clone());
            if let Some(c) = self.tls_vars.borrow().get(&id) {
                return Ok(Arc::clone(c));
            }
            let config = crate::tls::upstream::client_config_for(ssl, vars, cert, key)?;
            let mut map = self.tls_vars.borrow_mut();
            if map.len() >= CERTIFICATE_CONFIGS {
                if let Some(old) = map.keys().next().cloned() {
                    map.remove(&old);
                }
            }
            map.insert(id, Arc::clone(&config));
            return Ok(config);
        }
        if let Some(c) = self.tls.borrow().get(&at) {
            return Ok(Arc::clone(c));
        }
        let config = crate::tls::upstream::client_config(ssl).map_err(|e| e.to_string())?;
        self.tls.borrow_mut().insert(at, Arc::clone(&config));
        Ok(config)
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
