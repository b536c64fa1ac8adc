use std::time::{Duration, Instant};

use super::*;
use crate::config::model::ProxySettings;

/// The answers in these tests: a name to tell them apart.
type Answer = &'static str;

fn settings(next: NextUpstream, tries: u32, timeout: Duration) -> ProxySettings {
    ProxySettings {
        next_upstream: next,
        next_upstream_tries: tries,
        next_upstream_timeout: timeout,
        ..ProxySettings::default()
    }
}

/// `proxy_next_upstream error timeout` (nginx's default) plus these statuses.
fn with_statuses(codes: &[u16]) -> NextUpstream {
    let mut next = NextUpstream::default();
    for &c in codes {
        next.statuses.push(c);
    }
    next
}

fn retries(next: NextUpstream, peers: usize, idempotent: bool) -> Retries<Answer> {
    Retries::new(
        &settings(next, 0, Duration::ZERO),
        peers,
        idempotent,
        Instant::now(),
    )
}

/// The decision after a first attempt on one of three peers.
fn first(next: NextUpstream, idempotent: bool, outcome: Outcome<Answer>) -> Decision<Answer> {
    let mut r = retries(next, 3, idempotent);
    r.begin(None);
    r.decide(outcome, false)
}

fn failed(failure: Failure, body_sent: bool) -> Outcome<Answer> {
    Outcome::Failed { failure, body_sent }
}

fn answer(status: u16, answer: Answer) -> Outcome<Answer> {
    Outcome::Answer { status, answer }
}

/// How many attempts run, each failing with `failure`, under `proxy_next_upstream_tries`
/// `tries` over `peers` peers.
fn attempts(tries: u32, peers: usize, failure: Failure) -> u32 {
    let now = Instant::now();
    let s = settings(NextUpstream::default(), tries, Duration::ZERO);
    let mut r: Retries<Answer> = Retries::new(&s, peers, true, now);
    while r.may_start(now, false) {
        r.begin(None);
        if r.decide(failed(failure, false), false) != Decision::Next {
            break;
        }
        assert!(r.tries() < 100, "no end to the attempts");
    }
    r.tries()
}

#[test]
fn attempts_stop_at_the_tries_limit_or_the_peer_count() {
    // (proxy_next_upstream_tries, peers, attempts)
    let cases = [
        // The limit stops before the peers run out.
        (2, 5, 2),
        (1, 5, 1),
        // 0 is unlimited: each peer once.
        (0, 7, 7),
        // Each peer at most once, whatever the limit.
        (5, 3, 3),
        // An empty list still gets its one attempt (a literal address).
        (0, 0, 1),
    ];
    for (tries, peers, want) in cases {
        for failure in [Failure::Error, Failure::Timeout] {
            let got = attempts(tries, peers, failure);
            assert_eq!(got, want, "tries {tries}, peers {peers}, {failure:?}");
        }
    }
}

#[test]
fn deadline_between_attempts_not_before_the_first() {
    let start = Instant::now();
    let timeout = Duration::from_secs(5);
    let s = settings(NextUpstream::default(), 0, timeout);
    let mut r: Retries<Answer> = Retries::new(&s, 4, true, start);
    // The first attempt starts whatever the clock says.
    assert!(r.may_start(start + timeout * 10, false));
    r.begin(None);
    assert_eq!(
        r.decide(failed(Failure::Error, false), false),
        Decision::Next
    );
    assert!(r.may_start(start + timeout - Duration::from_millis(1), false));
    assert!(!r.may_start(start + timeout, false));
    assert_eq!(r.finish(), End::Status(502));
}

#[test]
fn no_deadline_when_the_timeout_is_zero() {
    let start = Instant::now();
    let mut r = retries(NextUpstream::default(), 2, true);
    r.begin(None);
    assert_eq!(
        r.decide(failed(Failure::Error, false), false),
        Decision::Next
    );
    assert!(r.may_start(start + Duration::from_secs(86_400), false));
}

#[test]
fn a_spent_body_blocks_the_next_attempt_and_the_retry() {
    let now = Instant::now();
    let mut r = retries(with_statuses(&[503]), 3, true);
    // Before the first attempt the body is not yet anyone's.
    assert!(r.may_start(now, true));
    r.begin(None);
    // A failure after the body was streamed gives up at once.
    assert_eq!(
        r.decide(failed(Failure::Error, true), true),
        Decision::GiveUp(502)
    );
    assert!(!r.may_start(now, true));
    // An answer asking for a retry goes out as it is.
    let mut r = retries(with_statuses(&[503]), 3, true);
    r.begin(None);
    assert_eq!(r.decide(answer(503, "a"), true), Decision::Relay("a"));
}

#[test]
fn non_idempotent_answers_go_out_unless_allowed() {
    assert_eq!(
        first(with_statuses(&[502]), false, answer(502, "a")),
        Decision::Relay("a")
    );

    let mut next = with_statuses(&[502]);
    next.non_idempotent = true;
    assert_eq!(first(next, false, answer(502, "a")), Decision::Next);
}

#[test]
fn non_idempotent_failures_retry_only_before_the_body_went_out() {
    // Nothing of the request sent (connect failed): another peer is fine.
    assert_eq!(
        first(
            NextUpstream::default(),
            false,
            failed(Failure::Error, false)
        ),
        Decision::Next
    );
    // Sent in part: not twice.
    assert_eq!(
        first(
            NextUpstream::default(),
            false,
            failed(Failure::Timeout, true)
        ),
        Decision::GiveUp(504)
    );
    // Unless non_idempotent says so.
    let next = NextUpstream {
        non_idempotent: true,
        ..NextUpstream::default()
    };
    assert_eq!(
        first(next, false, failed(Failure::Timeout, true)),
        Decision::Next
    );
    // An idempotent request is sent again either way.
    assert_eq!(
        first(NextUpstream::default(), true, failed(Failure::Error, true)),
        Decision::Next
    );
}

#[test]
fn keywords_choose_which_failures_move_on() {
    let cases = [
        (Failure::Error, 502),
        (Failure::Timeout, 504),
        (Failure::InvalidHeader, 502),
    ];
    let only = |f: Failure| NextUpstream {
        error: f == Failure::Error,
        timeout: f == Failure::Timeout,
        invalid_header: f == Failure::InvalidHeader,
        ..NextUpstream::off()
    };
    for (keyword, _) in cases {
        for (failure, status) in cases {
            let want = if failure == keyword {
                Decision::Next
            } else {
                Decision::GiveUp(status)
            };
            assert_eq!(
                first(only(keyword), true, failed(failure, false)),
                want,
                "{keyword:?} {failure:?}"
            );
        }
    }
    // The default is `error timeout`.
    assert_eq!(
        first(
            NextUpstream::default(),
            true,
            failed(Failure::InvalidHeader, false)
        ),
        Decision::GiveUp(502)
    );
}

#[test]
fn off_moves_on_for_nothing() {
    for (failure, status) in [
        (Failure::Error, 502),
        (Failure::Timeout, 504),
        (Failure::InvalidHeader, 502),
    ] {
        assert_eq!(
            first(NextUpstream::off(), true, failed(failure, false)),
            Decision::GiveUp(status)
        );
    }
    assert_eq!(
        first(NextUpstream::off(), true, answer(502, "a")),
        Decision::Relay("a")
    );
}

#[test]
fn listed_statuses_count_against_the_peer_except_403_and_404() {
    let r = retries(with_statuses(&[500, 403, 404]), 3, true);
    assert_eq!(r.peer_mark(&answer(500, "a")), PeerMark::Failed);
    assert_eq!(r.peer_mark(&answer(403, "a")), PeerMark::Neutral);
    assert_eq!(r.peer_mark(&answer(404, "a")), PeerMark::Neutral);
    assert_eq!(r.peer_mark(&answer(200, "a")), PeerMark::Succeeded);
    // Unlisted, an error status is the peer's success: it answered.
    assert_eq!(r.peer_mark(&answer(503, "a")), PeerMark::Succeeded);
    assert_eq!(
        r.peer_mark(&failed(Failure::Timeout, false)),
        PeerMark::Failed
    );
    assert_eq!(
        r.peer_mark(&failed(Failure::ClientClosed, false)),
        PeerMark::Neutral
    );
    // 403 and 404 still move on.
    assert_eq!(
        first(with_statuses(&[403, 404]), true, answer(404, "a")),
        Decision::Next
    );
}

#[test]
fn client_closed_is_never_retried() {
    let next = NextUpstream {
        invalid_header: true,
        non_idempotent: true,
        ..NextUpstream::default()
    };
    assert_eq!(
        first(next, true, failed(Failure::ClientClosed, false)),
        Decision::ClientGone
    );
}

#[test]
fn nothing_tried_ends_in_502() {
    let r = retries(NextUpstream::default(), 3, true);
    assert_eq!(r.finish(), End::Status(502));
}

#[test]
fn the_last_failure_names_the_status() {
    let mut r = retries(NextUpstream::default(), 2, true);
    r.begin(Some(0));
    assert_eq!(
        r.decide(failed(Failure::Error, false), false),
        Decision::Next
    );
    r.begin(Some(1));
    assert_eq!(
        r.decide(failed(Failure::Timeout, false), false),
        Decision::Next
    );
    assert!(!r.may_start(Instant::now(), false));
    assert_eq!(r.finish(), End::Status(504));
}

#[test]
fn the_kept_answer_goes_out_when_the_tries_run_out() {
    let mut r = retries(with_statuses(&[503]), 2, true);
    assert_eq!(r.begin(Some(0)), None);
    assert_eq!(r.decide(answer(503, "first"), false), Decision::Next);
    // The next attempt hands the kept answer back for release.
    assert_eq!(r.begin(Some(1)), Some("first"));
    assert_eq!(r.decide(answer(503, "second"), false), Decision::Next);
    assert!(!r.may_start(Instant::now(), false));
    assert_eq!(r.finish(), End::Relay("second"));
}

#[test]
fn a_failure_after_a_kept_answer_ends_in_its_status() {
    let mut r = retries(with_statuses(&[503]), 2, true);
    r.begin(Some(0));
    assert_eq!(r.decide(answer(503, "first"), false), Decision::Next);
    assert_eq!(r.begin(Some(1)), Some("first"));
    assert_eq!(
        r.decide(failed(Failure::Timeout, false), false),
        Decision::Next
    );
    assert_eq!(r.finish(), End::Status(504));
}

#[test]
fn tried_peers_are_lent_to_the_balancer() {
    let mut r = retries(NextUpstream::default(), 3, true);
    r.begin(Some(2));
    r.begin(None);
    assert!(r.tried().contains(2));
    assert!(!r.tried().contains(0));
    assert_eq!(r.tries(), 2);
}
