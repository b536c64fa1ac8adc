//! Status and metrics: `stub_status` (nginx's exact bytes, checked against Debian's nginx),
//! the JSON report (`anx_status`), the Prometheus page (`anx_metrics`, checked with
//! `promtool check metrics`), counts that are exact after known traffic (on one shard and
//! summed over two), per server zone and per upstream peer, and the directives in both
//! configuration formats (`anx -T` round trip, errors with file:line), and TLS handshakes
//! (full, resumed, failed) counted.

mod common;
mod tls_util;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::backend::*;
use common::*;
use regex::Regex;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

/// A GET with `Host: host` on a fresh connection (closed after the response).
fn request_line(host: &str, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

fn fetch(anx: &Anx, host: &str, path: &str) -> Response {
    anx.raw(request_line(host, path))
}

fn report(anx: &Anx, host: &str, path: &str) -> Value {
    let r = fetch(anx, host, path);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    serde_json::from_slice(&r.body).expect("the status page is JSON")
}

/// stub_status's seven numbers: active, accepts, handled, requests, reading, writing,
/// waiting — parsed the way nginx exporters parse them.
fn stub_numbers(text: &str) -> [u64; 7] {
    let re = Regex::new(
        r"^Active connections: (\d+) \nserver accepts handled requests\n (\d+) (\d+) (\d+) \nReading: (\d+) Writing: (\d+) Waiting: (\d+) \n$",
    )
    .unwrap();
    let c = re
        .captures(text)
        .unwrap_or_else(|| panic!("not stub_status's shape: {text:?}"));
    std::array::from_fn(|i| c[i + 1].parse().unwrap())
}

fn zone<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["server_zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["name"] == name)
        .unwrap_or_else(|| panic!("no zone {name} in {r}"))
}

fn peer<'a>(r: &'a Value, group: &str, server: &str) -> &'a Value {
    r["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == group)
        .and_then(|u| {
            u["peers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["server"] == server)
        })
        .unwrap_or_else(|| panic!("no peer {group}/{server} in {r}"))
}

const STUB_CONF: &str = "events {}\nhttp {\n    server {\n        listen 127.0.0.1:0;\n        location = /stub { stub_status; }\n        location / { return 200 \"ok\\n\"; }\n    }\n}\n";

#[test]
fn stub_status_has_nginx_bytes() {
    let nginx_site = Site::new();
    let nginx = Anx::start_nginx(&nginx_site, STUB_CONF);
    let site = Site::new();
    let anx = Anx::start_conf(&site, STUB_CONF, 1);
    let theirs = nginx.get("/stub");
    let ours = anx.get("/stub");
    assert_eq!((theirs.status, ours.status), (200, 200));
    // nginx's exact text with every number made a wildcard: the spacing, the trailing
    // blanks and the newlines must be the same.
    let text = String::from_utf8(theirs.body.clone()).unwrap();
    let shape = Regex::new(r"\d+")
        .unwrap()
        .replace_all(&regex::escape(&text), r"\d+")
        .into_owned();
    let shape = Regex::new(&format!("^{shape}$")).unwrap();
    assert!(
        shape.is_match(&ours.text()),
        "nginx: {text:?}\nanx:   {:?}",
        ours.text()
    );
    assert_eq!(ours.header("content-type"), theirs.header("content-type"));
    // And the parse an nginx exporter makes of it works on both.
    stub_numbers(&text);
    let n = stub_numbers(&ours.text());
    assert_eq!((n[0], n[5]), (1, 1), "this connection is the one writing");
    // Only GET and HEAD, as nginx.
    let post =
        anx.raw("POST /stub HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let nginx_post = nginx
        .raw("POST /stub HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!((post.status, nginx_post.status), (405, 405));
}

#[test]
fn stub_counts_are_exact_after_known_traffic() {
    let site = Site::new();
    site.write("html/index.html", "hello\n");
    let anx = Anx::start(
        &site,
        &config(
            "",
            "",
            "[[server.location]]\npath = \"/\"\n\n[[server.location]]\npath = \"/stub\"\nmatch = \"exact\"\nstatus = \"stub\"\n",
        ),
    );
    let mut c = anx.connect();
    for _ in 0..10 {
        c.send(get_req("/index.html"));
        assert_eq!(c.response().status, 200);
    }
    c.send(get_req("/stub"));
    let r = c.response();
    assert_eq!(r.header("content-type"), Some("text/plain"));
    // 10 requests + this one, on one connection that is writing this answer.
    assert_eq!(stub_numbers(&r.text()), [1, 1, 1, 11, 0, 1, 0]);

    // One connection idle, one half-way through a head: waiting 1, reading 1 (the partial
    // request counts already, as nginx counts it once its first bytes are in).
    let _idle = anx.connect();
    let mut partial = anx.connect();
    partial.send("GET /index.html HTTP/1.1\r\nHo");
    let mut asked = 0;
    let n = poll_until(WAIT, "the partial head to be read", || {
        c.send(get_req("/stub"));
        asked += 1;
        let n = stub_numbers(&c.response().text());
        (n[4] == 1 && n[0] == 3).then_some(n)
    });
    assert_eq!(n, [3, 3, 3, 11 + 1 + asked, 1, 1, 1]);
    // The partial request completes: it is not counted a second time.
    partial.send("st: a\r\n\r\n");
    assert_eq!(partial.response().status, 200);
    c.send(get_req("/stub"));
    let n = stub_numbers(&c.response().text());
    assert_eq!(n[3], 11 + 1 + asked + 1);
    assert_eq!(n[4], 0);
}

/// Two server zones on one port (chosen by Host): "site" serves files, "status" the pages.
fn two_zone_config(extra_site: &str, upstreams: &str) -> String {
    format!(
        "[main]\nerror_log_level = \"info\"\n\n{upstreams}\n\
         [[server]]\nlisten = [\"127.0.0.1:0\"]\nserver_name = [\"site\"]\nroot = \"html\"\n\n\
         [[server.location]]\npath = \"/\"\n{extra_site}\n\
         [[server]]\nlisten = [\"127.0.0.1:0\"]\nserver_name = [\"status\"]\n\n\
         [[server.location]]\npath = \"/status\"\nstatus = \"json\"\n\n\
         [[server.location]]\npath = \"/stub\"\nstatus = \"stub\"\n\n\
         [[server.location]]\npath = \"/metrics\"\nstatus = \"prometheus\"\n"
    )
}

/// [`two_zone_config`] with the "site" zone proxying to group `app` of `upstreams`.
fn proxying(upstreams: &str, shards: usize) -> (Site, Anx) {
    let site = Site::new();
    let config = two_zone_config("proxy_pass = \"http://app\"\n", upstreams);
    let anx = Anx::start_shards(&site, &config, shards);
    (site, anx)
}

#[test]
fn two_shards_sum_and_zones_are_exact() {
    let site = Site::new();
    site.write("html/index.html", "hello from the site\n");
    let anx = Anx::start_shards(&site, &two_zone_config("", ""), 2);
    let (mut received, mut sent) = (0u64, 0u64);
    for i in 0..25 {
        let path = if i % 5 == 4 {
            "/missing"
        } else {
            "/index.html"
        };
        let line = request_line("site", path);
        let r = fetch(&anx, "site", path);
        assert_eq!(r.status, if i % 5 == 4 { 404 } else { 200 });
        received += line.len() as u64;
        sent += (r.raw_head.len() + r.body.len()) as u64;
    }
    let r = report(&anx, "status", "/status");
    let z = zone(&r, "site");
    assert_eq!(z["requests"], 25);
    assert_eq!(z["responses"]["2xx"], 20);
    assert_eq!(z["responses"]["4xx"], 5);
    assert_eq!(
        z["received_bytes"], received,
        "request heads, byte for byte"
    );
    assert_eq!(
        z["sent_bytes"], sent,
        "response heads and bodies, byte for byte"
    );
    // 25 + this request, on 26 connections, summed over both shards.
    let shards = r["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 2);
    let sum = |f: &dyn Fn(&Value) -> u64| shards.iter().map(f).sum::<u64>();
    assert_eq!(r["requests"]["total"], 26);
    assert_eq!(sum(&|s| s["requests"].as_u64().unwrap()), 26);
    assert_eq!(r["connections"]["accepted"], 26);
    assert_eq!(sum(&|s| s["connections"]["accepted"].as_u64().unwrap()), 26);
    assert_eq!(r["requests"]["responses"]["2xx"], 20);
    assert_eq!(r["requests"]["responses"]["4xx"], 5);
    assert_eq!(r["requests"]["duration"]["count"], 25);
    assert_eq!(r["generation"], 1);
    assert!(r["reloads"]["last"].is_null());
    assert!(r["process"]["resident_memory_bytes"].as_u64().unwrap() > 0);
    // The status zone has not finished its first request yet (this one) when it reports.
    assert_eq!(zone(&r, "status")["requests"], 0);
}

#[test]
fn upstream_peers_count_attempts_failures_and_health() {
    let ok = Backend::text("from ok\n");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let upstreams = format!(
        "[[upstream]]\nname = \"app\"\nservers = [\"{}\", \"{dead_addr}\"]\n\n\
         [[upstream]]\nname = \"checked\"\nservers = [\"{}\"]\nhealth_check = {{ interval = \"100ms\", uri = \"/\" }}\n",
        ok.addr(),
        ok.addr()
    );
    let (_site, anx) = proxying(&upstreams, 1);
    for _ in 0..6 {
        let r = fetch(&anx, "site", "/x");
        assert_eq!((r.status, r.text().as_str()), (200, "from ok\n"));
    }
    let r = poll_until(WAIT, "a health check", || {
        let r = report(&anx, "status", "/status");
        (peer(&r, "checked", &ok.addr())["health_check"]["checks"].as_u64() > Some(0)).then_some(r)
    });
    // The dead peer was tried once, failed, and is out for its fail_timeout (max_fails=1);
    // every request ended on the live one.
    let d = peer(&r, "app", &dead_addr);
    assert_eq!(
        (d["requests"].as_u64(), d["fails"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(d["state"], "unavailable");
    let p = peer(&r, "app", &ok.addr());
    assert_eq!(p["requests"], 6);
    assert_eq!(p["responses"]["2xx"], 6);
    assert_eq!(p["fails"], 0);
    assert_eq!(p["active"], 0);
    assert_eq!(p["state"], "up");
    assert_eq!(p["header_time"]["count"], 6);
    assert!(p["mean_header_ms"].as_f64().unwrap() > 0.0);
    let h = &peer(&r, "checked", &ok.addr())["health_check"];
    assert_eq!(h["up"], true);
    assert_eq!(h["last_status"], 200);
    assert!(peer(&r, "app", &ok.addr())["health_check"].is_null());
    assert_eq!(zone(&r, "site")["responses"]["2xx"], 6);
}

#[test]
fn prometheus_page_passes_promtool_after_real_traffic() {
    let ok = Backend::text("from ok\n");
    let upstreams = format!(
        "[[upstream]]\nname = \"app\"\nservers = [\"{}\"]\nhealth_check = {{ interval = \"100ms\" }}\n",
        ok.addr()
    );
    let (_site, anx) = proxying(&upstreams, 2);
    for _ in 0..7 {
        assert_eq!(fetch(&anx, "site", "/x").status, 200);
    }
    // The first probe is made (so the health-check families are in the page).
    let mut polls = 0;
    poll_until(WAIT, "a health check", || {
        polls += 1;
        let r = report(&anx, "status", "/status");
        (peer(&r, "app", &ok.addr())["health_check"]["checks"].as_u64() > Some(0)).then_some(())
    });
    let r = fetch(&anx, "status", "/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) must be installed");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );

    let value = |sample: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no sample {sample}:\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(
        value(&format!(
            "anx_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    assert_eq!(value("anx_shards"), 2.0);
    assert_eq!(value("anx_http_requests_total"), f64::from(7 + polls + 1));
    assert_eq!(value("anx_server_requests_total{server=\"site\"}"), 7.0);
    assert_eq!(
        value("anx_server_responses_total{server=\"site\",class=\"2xx\"}"),
        7.0
    );
    let peer = format!("upstream=\"app\",peer=\"{}\"", ok.addr());
    assert_eq!(
        value(&format!("anx_upstream_peer_requests_total{{{peer}}}")),
        7.0
    );
    assert_eq!(value(&format!("anx_upstream_peer_up{{{peer}}}")), 1.0);
    assert_eq!(
        value(&format!(
            "anx_upstream_peer_header_duration_seconds_bucket{{{peer},le=\"+Inf\"}}"
        )),
        7.0
    );
    assert_eq!(
        value("anx_http_request_duration_seconds_count"),
        f64::from(7 + polls)
    );
    assert_eq!(value("anx_connections{state=\"writing\"}"), 1.0);
    assert!(value("process_resident_memory_bytes") > 0.0);
    assert!(value("process_open_fds") > 0.0);
    assert!(value("process_start_time_seconds") > 1.0e9);
    assert!(value(&format!("anx_upstream_peer_health_checks_total{{{peer}}}")) >= 1.0);
}

#[test]
fn status_directives_in_both_formats_round_trip_through_dump() {
    let site = Site::new();
    let conf = site.write(
        "anx.conf",
        "events {}\nhttp {\n    server {\n        listen 127.0.0.1:8080;\n        location = /stub { stub_status; }\n        location /status { anx_status; }\n        location /metrics { anx_metrics; }\n        location /dash { anx_dashboard; }\n    }\n}\n",
    );
    let dump = Command::new(anx_bin())
        .arg("-T")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let toml = String::from_utf8(dump.stdout).unwrap();
    for page in ["stub", "json", "prometheus", "dashboard"] {
        assert!(
            toml.contains(&format!("status = \"{page}\"")),
            "{page}:\n{toml}"
        );
    }
    // The TOML loads back and dumps to the same text.
    let again_path = site.write("again.toml", &toml);
    let again = Command::new(anx_bin())
        .arg("-T")
        .arg("-c")
        .arg(&again_path)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    // (The first comment line names the file it came from.)
    let body = |t: &str| t.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&String::from_utf8(again.stdout).unwrap()), body(&toml));

    // Two pages or a bad parameter (the nginx front-end), a status page beside a
    // proxy_pass (resolve): errors with file:line.
    let check = |name: &str, locations: &str| -> String {
        let conf = site.write(
            name,
            format!("events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:8080;\n{locations}    }}\n}}\n"),
        );
        let t = Command::new(anx_bin())
            .arg("-t")
            .arg("-c")
            .arg(&conf)
            .output()
            .unwrap();
        assert!(!t.status.success());
        String::from_utf8_lossy(&t.stderr).into_owned()
    };
    let err = check(
        "bad.conf",
        "        location /b { stub_status; anx_metrics; }\n        location /c { stub_status off; }\n",
    );
    assert!(
        err.contains("already has a status page") && err.contains("bad.conf:5"),
        "{err}"
    );
    assert!(
        err.contains("invalid parameter \"off\"") && err.contains("bad.conf:6"),
        "{err}"
    );
    let err = check(
        "both.conf",
        "        location /a { proxy_pass http://127.0.0.1:9; anx_status; }\n",
    );
    assert!(
        err.contains("both proxy_pass and a status page") && err.contains("both.conf:5"),
        "{err}"
    );
    let bad_toml = site.write(
        "bad.toml",
        "[[server]]\nlisten = [\"127.0.0.1:8080\"]\n[[server.location]]\npath = \"/\"\nstatus = \"nope\"\n",
    );
    let t = Command::new(anx_bin())
        .arg("-t")
        .arg("-c")
        .arg(&bad_toml)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&t.stderr);
    assert!(!t.status.success() && err.contains("bad.toml:5"), "{err}");
}

#[test]
fn tls_handshakes_are_counted_ok_failed_and_resumed() {
    let site = Site::new();
    let ca = tls_util::ca("anx test CA");
    tls_util::write_ca(&site, &ca);
    tls_util::server_leaf(&ca, &["a.test"], tls_util::Alg::P256).write(&site, "a");
    let [plain] = tls_util::free_ports::<1>();
    let conf = tls_util::conf(
        "",
        &[
            tls_util::tls_server(
                "a.test",
                "a",
                "        location /c { return 200 \"reused=$ssl_session_reused\"; }\n",
            ),
            format!(
                "        listen 127.0.0.1:{plain};\n        location = /status {{ anx_status; }}\n"
            ),
        ],
    );
    let anx = tls_util::start(&site, &conf, 2);
    let sess = tls_util::site_path(&site, "sess.pem");
    let req = b"GET /c HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
    let out = tls_util::s_client(
        anx.port,
        &["-servername", "a.test", "-ign_eof", "-sess_out", &sess],
        req,
    );
    assert!(out.contains("reused=."), "{out}");
    for _ in 0..3 {
        let out = tls_util::s_client(
            anx.port,
            &["-servername", "a.test", "-ign_eof", "-sess_in", &sess],
            req,
        );
        assert!(out.contains("reused=r"), "{out}");
    }
    // Garbage instead of a ClientHello, and plain HTTP on the TLS port: two failures.
    let mut garbage = anx.connect();
    garbage.send("this is not TLS at all, not even close\r\n\r\n");
    assert!(garbage.closed_within(WAIT));
    assert_eq!(anx.get("/c").status, 400);
    let status = || -> Value {
        let mut c = Conn::open(plain);
        c.send(request_line("any", "/status"));
        serde_json::from_slice(&c.response().body).unwrap()
    };
    let r = poll_until(WAIT, "both failures counted", || {
        let r = status();
        (r["tls"]["failed"] == 2).then_some(r)
    });
    assert_eq!(r["tls"]["handshakes"], 4);
    assert_eq!(r["tls"]["resumed"], 3);
}

/// `$connections_active`/`_reading`/`_writing`/`_waiting` are the node's counts as the
/// stub_status page shows them, summed over both shards: one idle kept-alive connection
/// counts as waiting beside the request's own (writing) connection.
#[test]
fn connections_variables_are_the_stub_counts() {
    let site = Site::new();
    let anx = Anx::start_conf(
        &site,
        "events {}\nhttp {\n    server {\n        listen 127.0.0.1:0;\n        location / {\n            add_header X-Counts \"$connections_active $connections_reading $connections_writing $connections_waiting\";\n            return 204;\n        }\n    }\n}\n",
        2,
    );
    assert_eq!(fetch(&anx, "x", "/").header("x-counts"), Some("1 0 1 0"));
    let mut idle = anx.connect();
    idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(idle.response().status, 204);
    let counts = poll_until(WAIT, "the idle connection counted as waiting", || {
        let r = fetch(&anx, "x", "/");
        let counts = r.header("x-counts").map(str::to_string);
        counts.filter(|c| c == "2 0 1 1")
    });
    assert_eq!(counts, "2 0 1 1");
    drop(idle);
}
