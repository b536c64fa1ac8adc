//! One certificate's stapling state, sans-io: what the slot must show after a fetch, a
//! refusal or the passing of time. `runtime::ocsp` does the I/O and applies the
//! [`Change`]s; the rules live here so tests can drive them with any "now".
//!
//! A good response is stapled and kept until it expires, whatever later fetches do
//! (a responder that is down, or answers badly, does not take the staple away early), but
//! a "revoked" or "unknown" answer removes it at once.

use super::response::{Good, Refusal};
use super::schedule::Schedule;

/// What the certificate's slot must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Staple this response from now on.
    Staple(Vec<u8>),
    /// Stop stapling (the response expired, or the certificate is no longer "good").
    Remove,
    /// Leave the slot as it is.
    Keep,
}

/// A certificate's schedule and the response it staples.
#[derive(Debug, Clone)]
pub struct Stapling {
    pub schedule: Schedule,
    good: Option<Good>,
}

impl Stapling {
    /// Nothing stapled, first fetch due at once.
    pub fn new(now: u64) -> Stapling {
        Stapling {
            schedule: Schedule::now(now),
            good: None,
        }
    }

    /// The response being stapled.
    pub fn good(&self) -> Option<&Good> {
        self.good.as_ref()
    }

    /// A fetch brought `good`.
    pub fn stapled(&mut self, good: Good, now: u64) -> Change {
        self.schedule.succeeded(now, good.next_update);
        let change = Change::Staple(good.der.clone());
        self.good = Some(good);
        change
    }

    /// A fetch failed (`None`) or its response was refused.
    pub fn failed(&mut self, refusal: Option<&Refusal>, now: u64) -> Change {
        self.schedule.failed(now);
        match refusal {
            Some(Refusal::Status(_)) => self.remove(),
            _ => self.tick(now),
        }
    }

    /// Time passed: the staple goes when it expires.
    pub fn tick(&mut self, now: u64) -> Change {
        match &self.good {
            Some(g) if !g.current(now) => self.remove(),
            _ => Change::Keep,
        }
    }

    fn remove(&mut self) -> Change {
        match self.good.take() {
            Some(_) => Change::Remove,
            None => Change::Keep,
        }
    }
}
