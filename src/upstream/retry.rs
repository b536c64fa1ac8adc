//! The retry decision of a proxied request: between the balancer's pick ([`super::balance`])
//! and each attempt of `serve::proxy`'s exchange.
//!
//! The exchange asks [`Retries::may_start`] before each attempt, picks a peer with the set
//! of peers already tried ([`Retries::tried`]), says so ([`Retries::begin`]), runs the
//! attempt and hands its [`Outcome`] to [`Retries::decide`], whose [`Decision`] says whether
//! the answer goes to the client, the next peer is tried, or the exchange gives up. When no
//! further attempt may start, [`Retries::finish`] says what the exchange ends with. This is
//! nginx's `proxy_next_upstream`, `proxy_next_upstream_tries` and
//! `proxy_next_upstream_timeout`: bookkeeping only, no I/O, with the times passed in.

use std::time::{Duration, Instant};

use super::balance::Tried;
use crate::config::model::{NextUpstream, ProxySettings};

/// Why an attempt failed, in `proxy_next_upstream`'s terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Error,
    Timeout,
    InvalidHeader,
    /// The client closed while the upstream had not answered (nginx's 499): no peer's
    /// fault, and nothing to retry for.
    ClientClosed,
}

impl Failure {
    /// The status the exchange ends with when this is its last failure.
    pub fn status(self) -> u16 {
        match self {
            Failure::Timeout => 504,
            Failure::ClientClosed => 499,
            _ => 502,
        }
    }
}

/// What an attempt came to. `A` is the caller's answer (a connection with a response head);
/// the unit only keeps it as the fallback or hands it back.
pub enum Outcome<A> {
    /// A response head with this status.
    Answer { status: u16, answer: A },
    /// No usable response head; `body_sent` when part of the request's body went out.
    Failed { failure: Failure, body_sent: bool },
}

/// What the exchange does after an attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision<A> {
    /// Relay this answer to the client.
    Relay(A),
    /// Move on: another attempt if [`Retries::may_start`] allows, else [`Retries::finish`].
    /// An answer asking for a retry is kept meanwhile, to go out if nothing better comes.
    Next,
    /// End the exchange with this status (through error_page).
    GiveUp(u16),
    /// The client left before an answer: nothing goes out (logged as 499).
    ClientGone,
}

/// How the exchange ends when no further attempt may start.
#[derive(Debug, PartialEq, Eq)]
pub enum End<A> {
    /// The last answer that asked for a retry goes out as it is.
    Relay(A),
    /// This status (through error_page).
    Status(u16),
}

/// How an attempt's outcome counts for its peer's health (`max_fails`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerMark {
    Succeeded,
    Failed,
    /// Neither: the peer's record stays as it is.
    Neutral,
}

/// One exchange's retry bookkeeping.
pub struct Retries<A> {
    next: NextUpstream,
    /// `proxy_next_upstream_tries`, with 0 (unlimited) as `u32::MAX`.
    limit: u32,
    /// `proxy_next_upstream_timeout` (zero: none), from `first_try`.
    timeout: Duration,
    first_try: Instant,
    /// Each peer is tried at most once per request.
    peers: usize,
    /// The request may be sent twice (its method, or `non_idempotent`).
    resendable: bool,
    tries: u32,
    tried: Tried,
    /// None until an attempt failed.
    last_failure: Option<Failure>,
    kept: Option<A>,
}

impl<A> Retries<A> {
    /// For an exchange that started at `first_try`, over `peers` peers (at least one is
    /// counted), for a request whose method is `idempotent` or not.
    pub fn new(
        settings: &ProxySettings,
        peers: usize,
        idempotent: bool,
        first_try: Instant,
    ) -> Self {
        let next = settings.next_upstream;
        Retries {
            next,
            limit: match settings.next_upstream_tries {
                0 => u32::MAX,
                n => n,
            },
            timeout: settings.next_upstream_timeout,
            first_try,
            peers: peers.max(1),
            resendable: idempotent || next.non_idempotent,
            tries: 0,
            tried: Tried::default(),
            last_failure: None,
            kept: None,
        }
    }

    /// Whether another attempt may start at `now`: tries and peers left and, after the
    /// first, time left and the client's body still at hand (`body_spent`: streamed to an
    /// attempt already).
    pub fn may_start(&self, now: Instant, body_spent: bool) -> bool {
        if self.tries >= self.limit || self.tries as usize >= self.peers {
            return false;
        }
        if self.tries == 0 {
            return true;
        }
        let out_of_time = !self.timeout.is_zero()
            && now.saturating_duration_since(self.first_try) >= self.timeout;
        !out_of_time && !body_spent
    }

    /// Attempts started so far.
    pub fn tries(&self) -> u32 {
        self.tries
    }

    /// The group's peers tried so far, for the balancer to skip.
    pub fn tried(&self) -> &Tried {
        &self.tried
    }

    /// An attempt starts (on `peer` of a group, if any). Hands back the answer kept from
    /// the attempt before, which will not go out now: the caller releases it.
    pub fn begin(&mut self, peer: Option<usize>) -> Option<A> {
        if let Some(p) = peer {
            self.tried.insert(p);
        }
        self.tries += 1;
        self.kept.take()
    }

    /// How an outcome counts for its peer: an answer whose status `proxy_next_upstream`
    /// lists is a failure, except 403 and 404 (as nginx); any other answer a success; a
    /// failed attempt a failure, unless the client caused it.
    pub fn peer_mark(&self, outcome: &Outcome<A>) -> PeerMark {
        match outcome {
            Outcome::Answer { status, .. } if self.next.statuses.contains(*status) => {
                if matches!(status, 403 | 404) {
                    PeerMark::Neutral
                } else {
                    PeerMark::Failed
                }
            }
            Outcome::Answer { .. } => PeerMark::Succeeded,
            Outcome::Failed {
                failure: Failure::ClientClosed,
                ..
            } => PeerMark::Neutral,
            Outcome::Failed { .. } => PeerMark::Failed,
        }
    }

    /// What follows an attempt's outcome. `body_spent`: the client's body was streamed to
    /// the upstream and cannot be sent again.
    pub fn decide(&mut self, outcome: Outcome<A>, body_spent: bool) -> Decision<A> {
        match outcome {
            Outcome::Answer { status, answer } => {
                let retry = self.next.statuses.contains(status);
                if retry && self.resendable && !body_spent {
                    self.kept = Some(answer);
                    Decision::Next
                } else {
                    Decision::Relay(answer)
                }
            }
            Outcome::Failed { failure, body_sent } => {
                self.last_failure = Some(failure);
                let wanted = match failure {
                    Failure::Error => self.next.error,
                    Failure::Timeout => self.next.timeout,
                    Failure::InvalidHeader => self.next.invalid_header,
                    Failure::ClientClosed => return Decision::ClientGone,
                };
                // A request that went out in part is only sent again when it may be twice.
                if wanted && (!body_sent || self.resendable) && !body_spent {
                    Decision::Next
                } else {
                    Decision::GiveUp(failure.status())
                }
            }
        }
    }

    /// What the exchange ends with when no further attempt may start: the kept answer, or
    /// the last failure's status (502 when nothing was tried).
    pub fn finish(self) -> End<A> {
        match self.kept {
            Some(answer) => End::Relay(answer),
            None => End::Status(self.last_failure.map_or(502, Failure::status)),
        }
    }
}

#[cfg(test)]
mod tests;
