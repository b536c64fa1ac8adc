//! The configuration snapshot every shard reads: one `Arc<Config>` swapped without locks.
//!
//! Readers call [`Snapshot::load`] once per connection and keep that `Arc` until the
//! connection ends, so a reload (a later issue) never tears a request; the control thread
//! calls [`Snapshot::store`]. arc-swap makes both wait-free for readers.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::Config;

pub struct Snapshot {
    current: ArcSwap<Config>,
}

impl Snapshot {
    pub fn new(config: Config) -> Snapshot {
        Snapshot {
            current: ArcSwap::from_pointee(config),
        }
    }

    /// The current generation.
    pub fn load(&self) -> Arc<Config> {
        self.current.load_full()
    }

    /// Publishes a new generation; connections already running keep theirs.
    pub fn store(&self, config: Config) {
        self.current.store(Arc::new(config));
    }
}
