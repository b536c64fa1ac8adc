//! The control thread's figures: configuration generation and reload results.
//!
//! Written by the control thread (reload runs there), read by status pages on the shards.
//! Reloads are rare, so the last result's text sits behind a mutex.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::SystemTime;

/// How the last reload went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastReload {
    pub at: SystemTime,
    pub ok: bool,
    /// What the reload said (the error of an invalid configuration, or a summary).
    pub message: String,
}

/// Reload bookkeeping; one per process, inside the [`super::Registry`].
#[derive(Debug)]
pub struct Control {
    /// 1 for the configuration anx started with, +1 per successful reload.
    generation: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    last_reload: Mutex<Option<LastReload>>,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            generation: AtomicU64::new(1),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            last_reload: Mutex::new(None),
        }
    }
}

impl Control {
    /// Records a reload's result; a successful one starts a new generation.
    pub fn record_reload(&self, ok: bool, message: &str) {
        if ok {
            self.generation.fetch_add(1, Relaxed);
            self.reloads_ok.fetch_add(1, Relaxed);
        } else {
            self.reloads_failed.fetch_add(1, Relaxed);
        }
        let mut last = self.last_reload.lock().unwrap_or_else(|e| e.into_inner());
        *last = Some(LastReload {
            at: SystemTime::now(),
            ok,
            message: message.to_string(),
        });
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    pub fn reloads_ok(&self) -> u64 {
        self.reloads_ok.load(Relaxed)
    }

    pub fn reloads_failed(&self) -> u64 {
        self.reloads_failed.load(Relaxed)
    }

    pub fn last_reload(&self) -> Option<LastReload> {
        self.last_reload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloads_count_and_only_good_ones_move_the_generation() {
        let c = Control::default();
        assert_eq!(c.generation(), 1);
        assert!(c.last_reload().is_none());
        c.record_reload(true, "reloaded");
        c.record_reload(false, "anx.conf:3: unknown directive \"x\"");
        assert_eq!(
            (c.generation(), c.reloads_ok(), c.reloads_failed()),
            (2, 1, 1)
        );
        let last = c.last_reload().unwrap();
        assert!(!last.ok);
        assert!(last.message.contains("anx.conf:3"));
    }
}
