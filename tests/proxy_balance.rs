//! Load balancing across an `upstream` group, counted at the backends: weighted
//! round-robin proportions, `least_conn` steering away from a slow peer, `ip_hash` and
//! `hash $arg_user` stickiness (plain and `consistent`, whose keys stay put when another
//! peer goes `down`), `random` and `random two` spread, `backup` used only when the
//! primaries fail, `down` never used, and passive failure marking (`max_fails`,
//! `fail_timeout`).
//!
//! One shard unless said otherwise, so the per-shard balancer state is the whole state.

mod common;

use common::backend::*;
use common::*;
use std::collections::HashMap;
use std::time::Duration;

/// `n` backends answering with their index.
fn backends(n: usize) -> Vec<Backend> {
    (0..n).map(|i| Backend::text(&i.to_string())).collect()
}

/// An upstream block `g` with `directives` and one `server` line per backend, each with its
/// own parameters.
fn group(directives: &str, peers: &[(&Backend, &str)]) -> String {
    let servers: String = peers
        .iter()
        .map(|(b, params)| format!("        server {} {params};\n", b.addr()))
        .collect();
    format!("    upstream g {{\n        {directives}\n{servers}    }}\n")
}

const PASS: &str = "location / { proxy_pass http://g; }";

/// Which backend (its index) answered `target`.
fn who(anx: &Anx, target: &str) -> usize {
    let r = anx.get(target);
    assert_eq!(r.status, 200, "{target}: {r:?}");
    r.text().trim().parse().unwrap()
}

fn counts(bs: &[Backend]) -> Vec<usize> {
    bs.iter().map(|b| b.count()).collect()
}

#[test]
fn weighted_round_robin_follows_the_weights() {
    let bs = backends(2);
    let (_s, anx) = start_proxy(&group("", &[(&bs[0], "weight=3"), (&bs[1], "")]), PASS);
    for i in 0..400 {
        who(&anx, &format!("/r{i}"));
    }
    let c = counts(&bs);
    assert_eq!(c[0] + c[1], 400);
    assert!(
        (270..=330).contains(&c[0]),
        "weight 3:1 over 400 requests gave {c:?}"
    );
}

#[test]
fn plain_round_robin_alternates() {
    let bs = backends(3);
    let (_s, anx) = start_proxy(
        &group("", &[(&bs[0], ""), (&bs[1], ""), (&bs[2], "")]),
        PASS,
    );
    for i in 0..30 {
        who(&anx, &format!("/r{i}"));
    }
    assert_eq!(counts(&bs), [10, 10, 10]);
}

#[test]
fn least_conn_avoids_the_busy_peer() {
    let slow = Backend::start(|_| Reply::ok("0\n").after(Duration::from_millis(400)));
    let fast = Backend::text("1");
    let (_s, anx) = start_proxy(&group("least_conn;", &[(&slow, ""), (&fast, "")]), PASS);
    let port = anx.port;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..8 {
                    let mut c = Conn::open(port);
                    c.send(format!(
                        "GET /t{t}/{i} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                    ));
                    assert_eq!(c.response().status, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (s, f) = (slow.count(), fast.count());
    assert_eq!(s + f, 32);
    assert!(
        s * 3 < f,
        "least_conn sent {s} requests to the slow peer and {f} to the fast one"
    );
}

#[test]
fn ip_hash_keeps_a_client_on_one_peer() {
    let bs = backends(3);
    let (_s, anx) = start_proxy(
        &group("ip_hash;", &[(&bs[0], ""), (&bs[1], ""), (&bs[2], "")]),
        PASS,
    );
    let first = who(&anx, "/0");
    for i in 1..50 {
        assert_eq!(who(&anx, &format!("/{i}")), first, "request {i}");
    }
    let c = counts(&bs);
    assert_eq!(c[first], 50, "{c:?}");
}

/// user → backend index for `users`, checking each user sticks over `repeat` requests.
fn sticky_map(anx: &Anx, users: usize, repeat: usize) -> HashMap<usize, usize> {
    let mut map = HashMap::new();
    for round in 0..repeat {
        for u in 0..users {
            let got = who(anx, &format!("/item?user=u{u}&round={round}"));
            let first = *map.entry(u).or_insert(got);
            assert_eq!(got, first, "user u{u} moved in round {round}");
        }
    }
    map
}

#[test]
fn hash_by_argument_is_sticky_and_spreads_keys() {
    for consistent in ["", " consistent"] {
        let bs = backends(3);
        let (_s, anx) = start_proxy(
            &group(
                &format!("hash $arg_user{consistent};"),
                &[(&bs[0], ""), (&bs[1], ""), (&bs[2], "")],
            ),
            PASS,
        );
        // 20 users × 5 requests each (100 requests), plus one user 50 times.
        let map = sticky_map(&anx, 20, 5);
        let used: std::collections::HashSet<_> = map.values().collect();
        assert!(
            used.len() >= 2,
            "hash{consistent}: 20 keys all went to one peer: {map:?}"
        );
        let one = who(&anx, "/x?user=alice");
        for _ in 0..49 {
            assert_eq!(who(&anx, "/x?user=alice"), one, "hash{consistent}");
        }
    }
}

#[test]
fn consistent_hash_keeps_other_keys_when_a_peer_goes_down() {
    let bs = backends(3);
    let all = [(&bs[0], ""), (&bs[1], ""), (&bs[2], "")];
    let before = {
        let (_s, anx) = start_proxy(&group("hash $arg_user consistent;", &all), PASS);
        sticky_map(&anx, 40, 2)
    };
    // Take out whichever peer holds some keys (the first user's).
    let gone = before[&0];
    let with_down: Vec<(&Backend, &str)> = bs
        .iter()
        .enumerate()
        .map(|(i, b)| (b, if i == gone { "down" } else { "" }))
        .collect();
    let after = {
        let (_s, anx) = start_proxy(&group("hash $arg_user consistent;", &with_down), PASS);
        sticky_map(&anx, 40, 2)
    };
    for u in 0..40 {
        assert_ne!(after[&u], gone, "user u{u} went to the down peer");
        if before[&u] != gone {
            assert_eq!(
                after[&u], before[&u],
                "user u{u} moved although its peer stayed up"
            );
        }
    }
}

#[test]
fn random_spreads_within_tolerance() {
    for method in ["random;", "random two;"] {
        let bs = backends(3);
        let (_s, anx) = start_proxy(
            &group(method, &[(&bs[0], ""), (&bs[1], ""), (&bs[2], "")]),
            PASS,
        );
        for i in 0..300 {
            who(&anx, &format!("/r{i}"));
        }
        let c = counts(&bs);
        // Expected 100 each; ±45 is more than 5 standard deviations.
        assert!(
            c.iter().all(|n| (55..=145).contains(n)),
            "{method} over 300 requests: {c:?}"
        );
    }
}

#[test]
fn backup_is_used_only_when_the_primaries_are_unavailable() {
    let primary = Backend::text("0");
    let spare = Backend::text("1");
    let (_s, anx) = start_proxy(&group("", &[(&primary, ""), (&spare, "backup")]), PASS);
    for i in 0..20 {
        assert_eq!(who(&anx, &format!("/r{i}")), 0);
    }
    assert_eq!(
        spare.accepted(),
        0,
        "the backup was contacted while the primary was up"
    );
    drop(primary);
    for i in 0..10 {
        assert_eq!(
            who(&anx, &format!("/after{i}")),
            1,
            "request {i} after the primary died"
        );
    }
}

#[test]
fn a_down_peer_is_never_used() {
    let bs = backends(3);
    let (_s, anx) = start_proxy(
        &group("", &[(&bs[0], ""), (&bs[1], "down"), (&bs[2], "")]),
        PASS,
    );
    for i in 0..30 {
        assert_ne!(who(&anx, &format!("/r{i}")), 1);
    }
    assert_eq!(bs[1].accepted(), 0);
    assert_eq!(counts(&bs), [15, 0, 15]);
}

#[test]
fn max_fails_marks_a_peer_failed_for_fail_timeout() {
    let broken = Backend::start(|_| Reply::drop_connection());
    let good = Backend::text("1");
    let (_s, anx) = start_proxy(
        &group(
            "",
            &[(&broken, "max_fails=2 fail_timeout=60s"), (&good, "")],
        ),
        PASS,
    );
    // Every request succeeds (proxy_next_upstream error moves on) ...
    for i in 0..20 {
        assert_eq!(who(&anx, &format!("/r{i}")), 1, "request {i}");
    }
    // ... and the broken peer was tried exactly max_fails times, then left alone.
    assert_eq!(broken.accepted(), 2);
}

#[test]
fn max_fails_zero_disables_failure_accounting() {
    let broken = Backend::start(|_| Reply::drop_connection());
    let good = Backend::text("1");
    let (_s, anx) = start_proxy(&group("", &[(&broken, "max_fails=0"), (&good, "")]), PASS);
    for i in 0..20 {
        assert_eq!(who(&anx, &format!("/r{i}")), 1, "request {i}");
    }
    assert!(
        broken.accepted() >= 8,
        "with max_fails=0 the peer keeps its turns: tried {} times",
        broken.accepted()
    );
}

#[test]
fn a_failed_peer_returns_after_fail_timeout() {
    let flaky = Backend::start(|_| Reply::drop_connection());
    let good = Backend::text("1");
    let (_s, anx) = start_proxy(
        &group("", &[(&flaky, "max_fails=1 fail_timeout=1s"), (&good, "")]),
        PASS,
    );
    for i in 0..4 {
        assert_eq!(who(&anx, &format!("/r{i}")), 1);
    }
    assert_eq!(flaky.accepted(), 1);
    flaky.set_handler(|_| Reply::ok("0\n"));
    // After fail_timeout the peer is tried again and, answering now, gets traffic back.
    poll_until(
        Duration::from_secs(10),
        "the failed peer to get traffic again",
        || {
            std::thread::sleep(Duration::from_millis(100));
            (who(&anx, "/again") == 0).then_some(())
        },
    );
}
