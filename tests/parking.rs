//! Parked keep-alive connections (`serve/park`): an idle plain connection gives up its task
//! after 250 ms and waits as a small record in its shard's epoll set. Checked over real
//! sockets: parked connections are counted, wake with their state (`$connection`, request
//! count), close at `keepalive_timeout`, follow a reload, and end with a graceful stop.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::*;

/// Generous bound for what happens within a few shard ticks (parking is at 250 ms).
const SETTLE: Duration = Duration::from_secs(20);

fn config(text: &str, keepalive_timeout: &str) -> String {
    format!(
        "[main]\nerror_log_level = \"info\"\n\n\
         [[server]]\nlisten = [\"127.0.0.1:0\"]\nkeepalive_timeout = \"{keepalive_timeout}\"\n\n\
         [[server.location]]\npath = \"/who\"\ndefault_type = \"text/plain\"\n\
         return = {{ status = 200, text = \"{text} $connection $connection_requests\" }}\n\n\
         [[server.location]]\npath = \"/metrics\"\nstatus = \"prometheus\"\n"
    )
}

/// The node's `anx_connections_parked`, asked on a fresh connection.
fn parked(anx: &Anx) -> u64 {
    let text = anx.get("/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix("anx_connections_parked "))
        .and_then(|v| v.trim().parse().ok())
        .expect("anx_connections_parked on the metrics page")
}

/// Polls until `parked(anx) == want`.
fn wait_parked(anx: &Anx, want: u64) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let now = parked(anx);
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "parked stayed {now}, wanted {want}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// "<text> <connection> <requests>" of one request on `c`.
fn who(c: &mut Conn) -> (String, u64, u64) {
    c.send(get_req("/who"));
    let r = c.response();
    assert_eq!(r.status, 200);
    let text = r.text();
    let mut words = text.split_whitespace();
    let label = words.next().unwrap_or_default().to_string();
    let conn = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    let requests = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    (label, conn, requests)
}

#[test]
fn idle_connections_park_and_wake_with_their_state() {
    let site = Site::new();
    let anx = Anx::start_shards(&site, &config("v1", "75s"), 2);
    let mut conns: Vec<Conn> = (0..20).map(|_| anx.connect()).collect();
    let mut numbers = Vec::new();
    for c in &mut conns {
        let (_, n, requests) = who(c);
        assert_eq!(requests, 1);
        numbers.push(n);
    }
    wait_parked(&anx, 20);
    // Each wakes as the connection it was: same number, its second request.
    for (c, n) in conns.iter_mut().zip(&numbers) {
        assert_eq!(who(c), ("v1".to_string(), *n, 2));
    }
    // And parks again once idle, as often as it idles.
    wait_parked(&anx, 20);
    for (c, n) in conns.iter_mut().zip(&numbers) {
        assert_eq!(who(c), ("v1".to_string(), *n, 3));
    }
    // A parked connection closed by its client leaves the lot.
    wait_parked(&anx, 20);
    conns.truncate(5);
    wait_parked(&anx, 5);
}

#[test]
fn a_parked_connection_keeps_its_worker_connections_slot() {
    let site = Site::new();
    let conf = config("v1", "75s").replace("[main]\n", "[main]\nworker_connections = 2\n");
    let anx = Anx::start(&site, &conf);
    let mut first = anx.connect();
    let mut second = anx.connect();
    who(&mut first);
    who(&mut second);
    // Both slots are held by connections that have parked by now (the metrics page would
    // need a slot of its own), so a third waits in the backlog.
    std::thread::sleep(Duration::from_secs(1));
    let deadline = Instant::now() + SETTLE;
    while anx
        .stderr()
        .iter()
        .all(|l| !l.contains("worker_connections"))
    {
        assert!(Instant::now() < deadline, "no worker_connections warning");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut third = anx.connect();
    third.send(get_req("/who"));
    third.set_read_timeout(Duration::from_millis(600));
    let mut buf = [0u8; 64];
    assert!(
        third.stream.read(&mut buf).is_err(),
        "answered beyond worker_connections"
    );
    // Closing a parked one frees its slot: the waiting client is served.
    drop(first);
    third.set_read_timeout(SETTLE);
    let r = third.response();
    assert_eq!(r.status, 200);
    drop(second);
}

#[test]
fn keepalive_timeout_closes_a_parked_connection() {
    let site = Site::new();
    let anx = Anx::start(&site, &config("v1", "1s"));
    let mut c = anx.connect();
    who(&mut c);
    wait_parked(&anx, 1);
    // Closed by anx once its keep-alive second is over: the read sees the end.
    c.set_read_timeout(SETTLE);
    let mut stream = c.stream;
    let mut buf = [0u8; 16];
    assert_eq!(stream.read(&mut buf).expect("closed, not reset"), 0);
    wait_parked(&anx, 0);
}

#[test]
fn a_parked_connection_runs_its_next_request_under_a_reload() {
    let site = Site::new();
    let anx = Anx::start(&site, &config("v1", "75s"));
    let mut c = anx.connect();
    let (label, n, _) = who(&mut c);
    assert_eq!(label, "v1");
    wait_parked(&anx, 1);
    std::fs::write(site.path().join("anx.toml"), config("v2", "75s")).unwrap();
    anx.signal(libc::SIGHUP);
    let deadline = Instant::now() + SETTLE;
    while !anx.stderr().iter().any(|l| l.contains("in effect")) {
        assert!(Instant::now() < deadline, "no reload in the error log");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(who(&mut c), ("v2".to_string(), n, 2));
}

#[test]
fn a_graceful_stop_closes_parked_connections() {
    let site = Site::new();
    let mut anx = Anx::start_shards(&site, &config("v1", "75s"), 2);
    let mut conns: Vec<Conn> = (0..4).map(|_| anx.connect()).collect();
    for c in &mut conns {
        who(c);
    }
    wait_parked(&anx, 4);
    anx.signal(libc::SIGQUIT);
    for c in conns {
        let mut stream = c.stream;
        stream.set_read_timeout(Some(SETTLE)).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(stream.read(&mut buf).unwrap_or(0), 0);
    }
    let deadline = Instant::now() + SETTLE;
    while anx.alive() {
        assert!(Instant::now() < deadline, "anx did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}
