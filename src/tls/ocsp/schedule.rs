//! When to fetch a certificate's OCSP response next, sans-io (times are Unix seconds, so
//! tests choose "now").
//!
//! After a good response: at half of its remaining validity (nextUpdate − now), at most an
//! hour away, at least [`MIN_REFRESH_SECS`]; an hour when it has no nextUpdate. nginx
//! refreshes up to five minutes before nextUpdate, which leaves little room for a responder
//! that is down; halving keeps the staple current through several failed attempts.
//! After a failure: [`FIRST_RETRY_SECS`], doubling on each further failure up to
//! [`MAX_RETRY_SECS`] (nginx waits five minutes every time; the short first retries staple
//! soon after a responder that was down at start-up comes back).

/// The longest a good response is kept without asking again (nginx's hour).
pub const MAX_REFRESH_SECS: u64 = 3600;
/// The shortest wait after a good response, however close its nextUpdate.
pub const MIN_REFRESH_SECS: u64 = 5;
/// The first wait after a failed fetch.
pub const FIRST_RETRY_SECS: u64 = 1;
/// The longest wait after failed fetches (nginx's retry interval).
pub const MAX_RETRY_SECS: u64 = 300;

/// One certificate's place in the fetch schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// When the next fetch is due (Unix seconds).
    pub due: u64,
    /// Failed fetches since the last good one.
    pub failures: u32,
}

impl Schedule {
    /// Due at once (start of a generation).
    pub fn now(now: u64) -> Schedule {
        Schedule {
            due: now,
            failures: 0,
        }
    }

    pub fn is_due(&self, now: u64) -> bool {
        now >= self.due
    }

    /// After a good response valid until `next_update`.
    pub fn succeeded(&mut self, now: u64, next_update: Option<u64>) {
        self.failures = 0;
        let wait = match next_update {
            None => MAX_REFRESH_SECS,
            Some(next) => (next.saturating_sub(now) / 2).clamp(MIN_REFRESH_SECS, MAX_REFRESH_SECS),
        };
        self.due = now.saturating_add(wait);
    }

    /// After a failed fetch or a response that was refused.
    pub fn failed(&mut self, now: u64) {
        let shift = self.failures.min(16);
        let wait = FIRST_RETRY_SECS
            .saturating_mul(1u64 << shift)
            .min(MAX_RETRY_SECS);
        self.failures = self.failures.saturating_add(1);
        self.due = now.saturating_add(wait);
    }
}
