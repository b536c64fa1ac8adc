//! anx's active health checks (`anx_health_check` in an `upstream` block): a peer whose
//! probe fails is taken out of rotation and returns once its probes pass again (status
//! range and `body=` regex), the transitions are written to the error log, and with two
//! shards the peer is still probed once per interval (one prober per process).
//!
//! "Taken out" is checked causally: the test waits until the backend has *answered* a
//! failing probe twice (so anx has had one full interval to act on the first) and only then
//! sends traffic, which must all go to the other peer.

mod common;

use common::backend::*;
use common::*;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// A backend whose `/health` answers with the status in the returned cell (body "status: ok"
/// for 2xx, "status: sick" otherwise); other paths answer with `name`.
fn peer(name: &'static str) -> (Backend, Arc<AtomicU16>) {
    let health = Arc::new(AtomicU16::new(200));
    let h = health.clone();
    let b = Backend::start(move |req| {
        if req.path() == "/health" {
            let s = h.load(Ordering::SeqCst);
            Reply::text(
                s,
                if s < 300 {
                    "status: ok\n"
                } else {
                    "status: sick\n"
                },
            )
        } else {
            Reply::ok(name)
        }
    });
    (b, health)
}

fn start(check: &str, a: &Backend, b: &Backend, shards: usize) -> (Site, Anx) {
    let site = Site::new();
    let conf = proxy_conf(
        &format!(
            "    upstream g {{\n        server {};\n        server {};\n        {check}\n    }}\n",
            a.addr(),
            b.addr()
        ),
        "location / { proxy_pass http://g; }",
    );
    let anx = Anx::start_conf(&site, &conf, shards);
    (site, anx)
}

/// Waits until `b` has answered `n` more probes than it had answered at `from`.
fn wait_probes(b: &Backend, from: usize, n: usize) {
    poll_until(WAIT, "health probes", || {
        (b.count_path("/health") >= from + n).then_some(())
    });
    // The count rises when the probe's head arrives; give the answer time to be written.
    std::thread::sleep(Duration::from_millis(50));
}

/// Sends `n` requests; returns how many each peer answered (by name).
fn spread(anx: &Anx, n: usize) -> (usize, usize) {
    let mut counts = (0, 0);
    for i in 0..n {
        let r = anx.get(&format!("/traffic{i}"));
        assert_eq!(r.status, 200, "{r:?}");
        match r.text().as_str() {
            "A" => counts.0 += 1,
            "B" => counts.1 += 1,
            other => panic!("unexpected body {other:?}"),
        }
    }
    counts
}

/// Error-log lines about `addr`'s health state (every proxied request in these tests
/// succeeds, so a line naming the peer with one of these words is a transition).
fn health_lines(anx: &Anx, addr: &str) -> usize {
    anx.stderr()
        .iter()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains(addr)
                && ["health", "probe", "down", "recover"]
                    .iter()
                    .any(|w| l.contains(w))
        })
        .count()
}

#[test]
fn a_failing_peer_is_taken_out_and_comes_back() {
    let (a, a_health) = peer("A");
    let (b, _) = peer("B");
    let (_s, anx) = start(
        "anx_health_check interval=200ms uri=/health fails=1 passes=1 timeout=500ms status=200-299;",
        &a,
        &b,
        1,
    );
    wait_probes(&a, 0, 1);
    let (ca, cb) = spread(&anx, 20);
    assert!(ca >= 5 && cb >= 5, "both peers healthy: {ca}/{cb}");

    a_health.store(500, Ordering::SeqCst);
    let from = a.count_path("/health");
    wait_probes(&a, from, 2);
    let (ca, cb) = spread(&anx, 20);
    assert_eq!(
        (ca, cb),
        (0, 20),
        "traffic went to the peer failing its health check"
    );
    let down_lines = poll_until(WAIT, "a health transition in the error log", || {
        let n = health_lines(&anx, &a.addr());
        (n >= 1).then_some(n)
    });

    a_health.store(200, Ordering::SeqCst);
    let from = a.count_path("/health");
    wait_probes(&a, from, 2);
    let (ca, _) = spread(&anx, 20);
    assert!(ca >= 5, "the recovered peer got {ca} of 20 requests");
    poll_until(WAIT, "the recovery in the error log", || {
        (health_lines(&anx, &a.addr()) > down_lines).then_some(())
    });
}

#[test]
fn fails_and_passes_thresholds_count_consecutive_probes() {
    let (a, a_health) = peer("A");
    let (b, _) = peer("B");
    let (_s, anx) = start(
        "anx_health_check interval=200ms uri=/health fails=3 passes=2 timeout=500ms;",
        &a,
        &b,
        1,
    );
    wait_probes(&a, 0, 1);
    a_health.store(503, Ordering::SeqCst);
    let from = a.count_path("/health");
    // One failed probe answered: with fails=3 the peer is still in rotation.
    wait_probes(&a, from, 1);
    let (ca, _) = spread(&anx, 4);
    // (the next probes may land during these 4 requests; only the first can be asserted
    // strictly, so the check is that A still got some)
    assert!(
        ca >= 1,
        "fails=3: one failed probe already took the peer out"
    );
    wait_probes(&a, from, 4);
    assert_eq!(
        spread(&anx, 10),
        (0, 10),
        "three failed probes: the peer is out"
    );
}

#[test]
fn body_regex_decides_too() {
    let flag = Arc::new(AtomicU16::new(0));
    let f = flag.clone();
    let a = Backend::start(move |req| {
        if req.path() == "/health" {
            // Always 200; the body says whether the application is fine.
            Reply::ok(if f.load(Ordering::SeqCst) == 0 {
                "status: ok\n"
            } else {
                "status: degraded\n"
            })
        } else {
            Reply::ok("A")
        }
    });
    let (b, _) = peer("B");
    let (_s, anx) = start(
        "anx_health_check interval=200ms uri=/health fails=1 passes=1 timeout=500ms \"body=^status: ok\";",
        &a,
        &b,
        1,
    );
    wait_probes(&a, 0, 1);
    let (ca, _) = spread(&anx, 10);
    assert!(ca >= 3, "{ca}");
    flag.store(1, Ordering::SeqCst);
    let from = a.count_path("/health");
    wait_probes(&a, from, 2);
    assert_eq!(spread(&anx, 10), (0, 10));
}

#[test]
fn a_peer_that_does_not_answer_probes_in_time_is_taken_out() {
    let slow_health = Arc::new(AtomicU16::new(0));
    let s = slow_health.clone();
    let a = Backend::start(move |req| {
        if req.path() == "/health" && s.load(Ordering::SeqCst) == 1 {
            Reply::never()
        } else if req.path() == "/health" {
            Reply::ok("ok\n")
        } else {
            Reply::ok("A")
        }
    });
    let (b, _) = peer("B");
    let (_s, anx) = start(
        "anx_health_check interval=200ms uri=/health fails=1 passes=1 timeout=300ms;",
        &a,
        &b,
        1,
    );
    wait_probes(&a, 0, 1);
    slow_health.store(1, Ordering::SeqCst);
    let from = a.count_path("/health");
    // Three probes seen after the switch: the first was sent at least two intervals
    // (400 ms) before the third, longer than the 300 ms timeout, whether or not the
    // prober overlaps probes of one peer.
    wait_probes(&a, from, 3);
    assert_eq!(spread(&anx, 10), (0, 10));
}

#[test]
fn two_shards_probe_once_per_interval() {
    let (a, _) = peer("A");
    let (b, _) = peer("B");
    let (_s, _anx) = start("anx_health_check interval=200ms uri=/health;", &a, &b, 2);
    wait_probes(&a, 0, 1);
    std::thread::sleep(Duration::from_millis(2500));
    for p in [&a, &b] {
        let times: Vec<_> = p
            .requests()
            .into_iter()
            .filter(|r| r.path() == "/health")
            .map(|r| r.at)
            .collect();
        assert!(times.len() >= 5, "only {} probes in 2.5 s", times.len());
        let span = (*times.last().unwrap() - times[0]).as_secs_f64();
        let per_sec = (times.len() - 1) as f64 / span;
        // One prober: 5 probes/s. Two (one per shard) would be 10/s.
        assert!(
            (2.5..7.5).contains(&per_sec),
            "{:.1} probes/s of {} for interval=200ms ({} probes)",
            per_sec,
            p.addr(),
            times.len()
        );
    }
}
