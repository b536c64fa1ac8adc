//! Log reopening: one process-wide generation number, bumped by whoever wants every log file
//! reopened (the control thread on SIGUSR1 / `anx -s reopen`, `log::rotate` after it renamed
//! a file) and read by everyone who holds one open.
//!
//! Nothing here is on the request path: a shard compares the generation on its tick (every
//! 100 ms, `shard/`), flushes its access-log buffers into the files it has open, then drops
//! them; the next line opens the file afresh by name. The error log compares it before each
//! line (one relaxed atomic load). So a line buffered before the bump lands in the old file
//! (the renamed one) and a line buffered after the shard saw the bump in the new one; none is
//! lost and none is written twice.

use std::sync::atomic::{AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Asks every shard and the error log to reopen their files (lock-free, callable from any
/// thread, signal handlers' threads included). Returns the new generation.
pub fn request() -> u64 {
    GENERATION.fetch_add(1, Ordering::AcqRel) + 1
}

/// The current generation: a holder of open files that saw another one reopens them.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_bumps_the_generation() {
        let before = super::generation();
        let after = super::request();
        assert!(after > before);
        assert!(super::generation() >= after);
    }
}
