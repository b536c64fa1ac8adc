//! Configuration generations: what every shard reads, and what a reload replaces.
//!
//! A [`Generation`] is one loaded configuration plus the process-wide objects derived from
//! it that must change with it: the TLS listeners (certificates, keys, rustls configs) and
//! the active health checks' board and prober. The control thread builds one at start and
//! one per successful reload, off the shards, and publishes it in [`Current`]; shards read
//! it wait-free (arc-swap) once per accepted connection and between requests of a kept-alive
//! one. A connection keeps the generation it runs a request with until that request ends,
//! so a reload never tears a request; old generations are freed when their last connection
//! lets go (their health prober stops then too).

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::model::Config;
use crate::tls::TlsListeners;
use crate::upstream::health::{self, HealthBoard};

/// One configuration generation and the process-wide state built from it.
pub struct Generation {
    /// 1 for the configuration anx started with, +1 per successful reload.
    pub number: u64,
    pub config: Arc<Config>,
    /// `None` when no `listen … ssl` exists.
    pub tls: Option<TlsListeners>,
    /// `None` when no upstream group has an active health check.
    pub health: Option<Arc<HealthBoard>>,
}

impl Generation {
    /// Builds generation `number` from `config`. With `previous` (a reload), ticket secrets
    /// and the health verdicts of unchanged groups carry over. Starts the prober of this
    /// generation's health checks; it stops by itself once the generation is dropped.
    pub fn build(
        config: Config,
        number: u64,
        previous: Option<&Generation>,
    ) -> Result<Generation, String> {
        let config = Arc::new(config);
        let tls = TlsListeners::build_after(&config, previous.and_then(|p| p.tls.as_ref()))?;
        let health = config
            .upstreams
            .iter()
            .any(|u| u.health_check.is_some())
            .then(|| {
                let before = previous.and_then(|p| Some((&*p.config, p.health.as_deref()?)));
                HealthBoard::new_after(&config, before)
            });
        if let Some(board) = &health {
            // Detached: the thread ends when the board is all that is left of it.
            drop(health::start(config.clone(), board.clone()));
        }
        Ok(Generation {
            number,
            config,
            tls: (!tls.is_empty()).then_some(tls),
            health,
        })
    }
}

/// The generation new connections and new requests use; swapped by the control thread.
pub struct Current {
    generation: ArcSwap<Generation>,
}

impl Current {
    pub fn new(generation: Generation) -> Current {
        Current {
            generation: ArcSwap::from_pointee(generation),
        }
    }

    /// The current generation (wait-free).
    pub fn load(&self) -> Arc<Generation> {
        self.generation.load_full()
    }

    /// The current generation if it is not `seen`. Reading it this way touches no shared
    /// reference count while nothing changed (arc-swap's guard), so shards can ask at every
    /// accept without sharing a cache line.
    pub fn newer_than(&self, seen: &Arc<Generation>) -> Option<Arc<Generation>> {
        let guard = self.generation.load();
        (!Arc::ptr_eq(&guard, seen)).then(|| arc_swap::Guard::into_inner(guard))
    }

    /// Publishes a new generation; connections keep theirs until their request ends.
    pub fn store(&self, generation: Arc<Generation>) {
        self.generation.store(generation);
    }
}
