//! Reload (SIGHUP, `anx -s reload`) and stopping (SIGQUIT graceful, SIGTERM fast), against
//! the real binary: 50 reloads while kept-alive clients, a WebSocket and a slow download stay
//! open (no failed request, no closed connection, each new configuration visible); an
//! invalid configuration changes nothing; listeners added and removed by a reload; upstream
//! keep-alive pools kept across reloads; a graceful stop finishes requests in flight and
//! closes idle connections; `worker_shutdown_timeout`; systemd's notify protocol; new
//! certificates after a reload with TLS sessions still resuming.

mod common;
mod tls_util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::backend::*;
use common::ws;
use common::*;

/// Generous bound for things that happen within a few shard ticks (100 ms each).
const SETTLE: Duration = Duration::from_secs(20);

/// Sends SIGHUP and waits until the error log says the reload is done (or refused).
fn reload(anx: &Anx) -> String {
    let before = anx.stderr_matching(&["reload"]).len();
    anx.signal(libc::SIGHUP);
    let deadline = Instant::now() + SETTLE;
    loop {
        let lines = anx.stderr_matching(&["reload"]);
        if let Some(line) = lines
            .iter()
            .skip(before)
            .find(|l| l.contains("in effect") || l.contains("reload failed"))
        {
            return line.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no reload result in the error log"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn body_text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// One keep-alive GET on `c`; panics on anything but a 200 that keeps the connection.
fn get_on(c: &mut Conn, path: &str) -> String {
    c.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    let r = c
        .try_response(false)
        .unwrap_or_else(|e| panic!("GET {path} on a kept-alive connection: {e}"));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(!r.says_close(), "the connection was told to close: {r:?}");
    body_text(&r)
}

fn generation_of(body: &str) -> u64 {
    body.trim()
        .strip_prefix("gen ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a generation answer: {body:?}"))
}

const BIG: usize = 24 << 20;

fn site_with_big_file() -> Site {
    let site = Site::new();
    let data: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    site.write("html/big.bin", data);
    site
}

fn conf_generation(n: u64, backend: &Backend) -> String {
    proxy_conf(
        &format!(
            "    upstream b {{ server {}; keepalive 8; }}\n",
            backend.addr()
        ),
        &format!(
            "        root html;
        keepalive_requests 100000000;
        location = / {{ return 200 \"gen {n}\\n\"; }}
        location /up {{ proxy_pass http://b; proxy_http_version 1.1; }}
        location /ws {{
            proxy_pass http://b;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection \"upgrade\";
            proxy_read_timeout 120s;
        }}
        location /big.bin {{ }}"
        ),
    )
}

#[test]
fn fifty_reloads_under_traffic_close_nothing_and_fail_nothing() {
    let backend = Backend::start(|req| {
        if req.path() == "/ws" {
            Reply::websocket()
        } else {
            Reply::ok("upstream\n")
        }
    });
    let site = site_with_big_file();
    let anx = Anx::start_conf(&site, &conf_generation(1, &backend), 2);
    let conf_path = site.path().join("anx.conf");

    let done = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    // Kept-alive clients: each keeps one connection for the whole test and checks that the
    // generation it sees never goes back.
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (done, served, port) = (done.clone(), served.clone(), anx.port);
            std::thread::spawn(move || {
                let mut c = Conn::open(port);
                let mut last = 0;
                while !done.load(Ordering::Relaxed) {
                    let seen = generation_of(&get_on(&mut c, "/"));
                    assert!(seen >= last, "generation went back from {last} to {seen}");
                    last = seen;
                    assert_eq!(get_on(&mut c, "/up"), "upstream\n");
                    served.fetch_add(2, Ordering::Relaxed);
                    // Steady traffic, not a flood: the machine also runs the reloads.
                    std::thread::sleep(Duration::from_millis(2));
                }
                c
            })
        })
        .collect();
    // A slow download, read a little at a time while the reloads go on.
    let download = {
        let (done, port) = (done.clone(), anx.port);
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut all = Vec::with_capacity(BIG + 1024);
            let mut buf = [0u8; 16 * 1024];
            loop {
                let n = s.read(&mut buf).expect("download read");
                if n == 0 {
                    break;
                }
                all.extend_from_slice(&buf[..n]);
                if !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            all
        })
    };
    let mut socket = ws::open(anx.connect(), "/ws");

    for n in 2..=51 {
        std::fs::write(&conf_path, conf_generation(n, &backend)).unwrap();
        let result = reload(&anx);
        assert!(
            result.contains(&format!("generation {n} in effect")),
            "{result}"
        );
        // A new connection sees the new configuration at once.
        assert_eq!(generation_of(&body_text(&anx.get("/"))), n);
        let message = format!("after reload {n}");
        ws::send(&mut socket, 0x1, message.as_bytes());
        assert_eq!(ws::frame(&mut socket), (0x1, message.into_bytes()));
    }
    done.store(true, Ordering::Relaxed);

    for client in clients {
        let mut c = client.join().expect("a kept-alive client failed");
        // The same connection, opened under generation 1, now runs under the last one.
        assert_eq!(generation_of(&get_on(&mut c, "/")), 51);
    }
    let all = download.join().expect("the download failed");
    let head_end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("download head")
        + 4;
    assert!(all.starts_with(b"HTTP/1.1 200"), "download status");
    assert_eq!(all.len() - head_end, BIG, "the download was cut short");
    assert!(
        all[head_end..]
            .iter()
            .enumerate()
            .all(|(i, b)| *b == (i % 251) as u8),
        "download content"
    );
    ws::send(&mut socket, 0x1, b"still here");
    assert_eq!(ws::frame(&mut socket), (0x1, b"still here".to_vec()));
    assert!(served.load(Ordering::Relaxed) > 0);
    // The upstream group did not change, so its keep-alive pools lived through every reload:
    // a rebuilt pool per reload would have opened at least one connection per reload.
    let opened = backend.accepted();
    assert!(
        opened < 25,
        "{opened} upstream connections for 3 clients over 50 reloads"
    );
}

#[test]
fn an_invalid_configuration_changes_nothing() {
    let backend = Backend::text("upstream\n");
    let site = Site::new();
    let anx = Anx::start_conf(&site, &conf_generation(1, &backend), 1);
    let conf_path = site.path().join("anx.conf");
    let mut kept = anx.connect();
    assert_eq!(generation_of(&get_on(&mut kept, "/")), 1);

    // Syntax error, then an unknown directive, then a semantic error.
    let broken = [
        conf_generation(2, &backend).replace("location = / {", "location = / {{"),
        conf_generation(2, &backend).replace("root html;", "root html; no_such_directive on;"),
        conf_generation(2, &backend)
            .replace("proxy_pass http://b;", "proxy_pass http://nowhere_group;"),
    ];
    for conf in broken {
        std::fs::write(&conf_path, conf).unwrap();
        let result = reload(&anx);
        assert!(result.contains("reload failed"), "{result}");
        assert!(
            result.contains("anx.conf"),
            "the error names the file: {result}"
        );
        assert_eq!(generation_of(&body_text(&anx.get("/"))), 1);
        assert_eq!(generation_of(&get_on(&mut kept, "/")), 1);
    }
    std::fs::write(&conf_path, conf_generation(2, &backend)).unwrap();
    let result = reload(&anx);
    assert!(result.contains("generation 2 in effect"), "{result}");
    assert_eq!(generation_of(&get_on(&mut kept, "/")), 2);
}

fn two_port_conf(ports: &[u16], body: &str) -> String {
    let listens: String = ports
        .iter()
        .map(|p| format!("        listen 127.0.0.1:{p};\n"))
        .collect();
    proxy_conf(
        "",
        &format!("{listens}        location = / {{ return 200 \"{body}\\n\"; }}"),
    )
}

#[test]
fn a_reload_adds_and_removes_listeners() {
    let [a, b] = tls_util::free_ports::<2>();
    let site = Site::new();
    let anx = Anx::start_conf(&site, &two_port_conf(&[a], "one"), 2);
    let conf_path = site.path().join("anx.conf");
    let mut on_a = Conn::open(a);
    assert_eq!(get_on(&mut on_a, "/"), "one\n");
    assert!(
        TcpStream::connect(("127.0.0.1", b)).is_err(),
        "b is not open yet"
    );

    std::fs::write(&conf_path, two_port_conf(&[a, b], "two")).unwrap();
    assert!(reload(&anx).contains("in effect"));
    assert_eq!(get_on(&mut Conn::open(b), "/"), "two\n");
    assert_eq!(get_on(&mut on_a, "/"), "two\n");

    std::fs::write(&conf_path, two_port_conf(&[b], "three")).unwrap();
    assert!(reload(&anx).contains("in effect"));
    assert!(
        TcpStream::connect(("127.0.0.1", a)).is_err(),
        "a still accepts after the reload removed it"
    );
    assert_eq!(get_on(&mut Conn::open(b), "/"), "three\n");
    // The connection accepted on `a` is not closed by the reload; its address is gone from
    // the configuration, so it goes on with the generation it had.
    assert_eq!(get_on(&mut on_a, "/"), "two\n");
    assert!(!anx
        .stderr_matching(&["no longer listening on", &a.to_string()])
        .is_empty());
}

#[test]
fn anx_s_reload_uses_the_pid_file() {
    let site = Site::new();
    let conf = |body: &str| {
        format!(
            "pid anx.pid;\n{}",
            proxy_conf(
                "",
                &format!("        location = / {{ return 200 \"{body}\\n\"; }}")
            )
        )
    };
    let anx = Anx::start_conf(&site, &conf("one"), 1);
    let conf_path = site.path().join("anx.conf");
    std::fs::write(&conf_path, conf("two")).unwrap();
    let out = Command::new(anx_bin())
        .args(["-s", "reload", "-c"])
        .arg(&conf_path)
        .current_dir(site.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let deadline = Instant::now() + SETTLE;
    while anx.stderr_matching(&["generation 2 in effect"]).is_empty() {
        assert!(Instant::now() < deadline, "no reload after anx -s reload");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(body_text(&anx.get("/")), "two\n");
}

/// Waits for anx to exit; returns its exit status.
fn wait_exit(anx: &mut Anx) -> std::process::ExitStatus {
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Some(status) = anx.try_wait() {
            return status;
        }
        assert!(Instant::now() < deadline, "anx did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts a download of big.bin on a fresh connection and reads its head.
fn start_download(port: u16) -> (TcpStream, usize) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the head");
        got.extend_from_slice(&buf[..n]);
    }
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    (s, got.len() - end)
}

fn static_conf(extra_main: &str) -> String {
    format!(
        "{extra_main}\n{}",
        proxy_conf("", "        root html;\n        location / { }")
    )
}

#[test]
fn a_graceful_stop_finishes_requests_in_flight_and_closes_idle_connections() {
    let site = site_with_big_file();
    let mut anx = Anx::start_conf(&site, &static_conf(""), 1);
    let port = anx.port;
    let mut idle = Conn::open(port);
    idle.send("GET /big.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-9\r\n\r\n");
    assert_eq!(idle.response().status, 206);
    let (mut download, mut got) = start_download(port);

    anx.signal(libc::SIGQUIT);
    // The idle kept-alive connection is closed (EOF, no response).
    idle.set_read_timeout(SETTLE);
    assert!(
        idle.try_response(false).is_err(),
        "the idle connection got an answer"
    );
    // New connections are refused once the listener is closed.
    let deadline = Instant::now() + SETTLE;
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGQUIT");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The download in flight completes, then the process exits 0.
    let mut buf = vec![0u8; 256 * 1024];
    while got < BIG {
        let n = download.read(&mut buf).expect("download read");
        assert!(n > 0, "the download was cut at {got} of {BIG} bytes");
        got += n;
    }
    assert_eq!(got, BIG);
    let status = wait_exit(&mut anx);
    assert!(status.success(), "exit status {status}");
}

#[test]
fn worker_shutdown_timeout_bounds_a_graceful_stop() {
    let site = site_with_big_file();
    let mut anx = Anx::start_conf(&site, &static_conf("worker_shutdown_timeout 1s;"), 1);
    // A download nobody reads: it can never finish on its own.
    let (_stuck, _) = start_download(anx.port);
    anx.signal(libc::SIGQUIT);
    let status = wait_exit(&mut anx);
    assert!(status.success(), "exit status {status}");
    anx.wait_stderr(&["worker_shutdown_timeout", "in flight"]);
}

#[test]
fn sigterm_stops_at_once_even_with_requests_in_flight() {
    let site = site_with_big_file();
    let mut anx = Anx::start_conf(&site, &static_conf(""), 1);
    let (_stuck, _) = start_download(anx.port);
    anx.signal(libc::SIGTERM);
    assert!(wait_exit(&mut anx).success());
}

#[test]
fn systemd_hears_ready_reloading_and_stopping() {
    let site = Site::new();
    let socket_path = site.path().join("notify.sock");
    let sd = UnixDatagram::bind(&socket_path).unwrap();
    sd.set_read_timeout(Some(SETTLE)).unwrap();
    let conf_path = site.path().join("anx.conf");
    std::fs::write(&conf_path, static_conf("")).unwrap();
    let mut cmd = Command::new(anx_bin());
    cmd.arg("-c")
        .arg(&conf_path)
        .args(["--shards", "1"])
        .env("NOTIFY_SOCKET", &socket_path)
        .current_dir(site.path());
    let mut anx = Anx::spawn(cmd);
    let next = || {
        let mut buf = [0u8; 512];
        let n = sd.recv(&mut buf).expect("a notify message");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(next(), "READY=1\n");
    anx.signal(libc::SIGHUP);
    let reloading = next();
    let lines: Vec<&str> = reloading.lines().collect();
    assert_eq!(lines.first(), Some(&"RELOADING=1"), "{reloading:?}");
    let usec = lines
        .get(1)
        .and_then(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(usec.is_some_and(|u| u > 0), "{reloading:?}");
    assert_eq!(next(), "READY=1\n");
    anx.signal(libc::SIGQUIT);
    assert_eq!(next(), "STOPPING=1\n");
    assert!(wait_exit(&mut anx).success());
}

#[test]
fn a_reload_serves_new_certificates_and_keeps_sessions_resumable() {
    use tls_util::*;
    let site = Site::new();
    let ca = ca("Reload CA");
    let ca_path = write_ca(&site, &ca);
    let first = server_leaf(&ca, &["a.test"], Alg::P256);
    first.write(&site, "a");
    let port = free_ports::<1>()[0];
    let server = |body: &str| {
        format!(
            "        listen 127.0.0.1:{port} ssl;\n        server_name a.test;\n        ssl_certificate a.crt;\n        ssl_certificate_key a.key;\n        location = / {{ return 200 \"{body}\\n\"; }}"
        )
    };
    let anx = start(&site, &conf("", &[server("one")]), 2);
    let serial = |out: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix("serial="))
            .map(str::to_string)
    };
    let cert_serial = || {
        let pem = s_client(port, &["-servername", "a.test", "-showcerts"], b"");
        let tmp = site.path().join("served.pem");
        std::fs::write(&tmp, pem).unwrap();
        serial(&openssl(&[
            "x509",
            "-in",
            &shown(&tmp),
            "-noout",
            "-serial",
        ]))
    };
    let before = cert_serial().expect("a served certificate");
    let sess = site.path().join("sess.pem");
    let sess = shown(&sess);
    let first_handshake = s_client(
        port,
        &["-servername", "a.test", "-ign_eof", "-sess_out", &sess],
        b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
    );
    assert!(first_handshake.contains("one"), "{first_handshake}");

    // New certificate files, then a reload.
    let second = server_leaf(&ca, &["a.test"], Alg::P256);
    second.write(&site, "a");
    std::fs::write(site.path().join("anx.conf"), conf("", &[server("two")])).unwrap();
    assert!(reload(&anx).contains("in effect"));
    let after = cert_serial().expect("a served certificate");
    assert_ne!(before, after, "the reload did not load the new certificate");
    let verified = curl_https(&site, port, "a.test", "/", &["--cacert", &shown(&ca_path)]);
    assert_eq!(verified.text(), "two\n");
    // A session from before the reload still resumes (the ticket keys carried over).
    let resumed = s_client(
        port,
        &["-servername", "a.test", "-ign_eof", "-sess_in", &sess],
        b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
    );
    assert!(resumed.contains("Reused, TLSv1.3"), "{resumed}");
    assert!(resumed.contains("two"), "{resumed}");
}

#[test]
fn a_reload_that_changes_types_reaches_cached_files() {
    let site = Site::new();
    site.write("html/page.xyz", "cached in memory\n");
    let conf = |types: &str| {
        proxy_conf(
            &format!("    types {{ {types} }}\n    default_type application/octet-stream;\n"),
            "        root html;\n        location / { }",
        )
    };
    let anx = Anx::start_conf(&site, &conf(""), 1);
    let mut c = anx.connect();
    for _ in 0..3 {
        // Served (and then answered from the shard's memory cache) with the default type.
        c.send("GET /page.xyz HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let r = c.response();
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    }
    std::fs::write(site.path().join("anx.conf"), conf("text/x-custom xyz;")).unwrap();
    assert!(reload(&anx).contains("in effect"));
    c.send("GET /page.xyz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = c.response();
    assert_eq!(r.header("content-type"), Some("text/x-custom"));
    assert_eq!(r.body, b"cached in memory\n");
}

#[test]
fn reload_results_are_counted_on_the_status_page() {
    let site = Site::new();
    let conf = |body: &str| {
        proxy_conf(
            "",
            &format!(
                "        location = /status {{ anx_status; }}\n        location = / {{ return 200 \"{body}\\n\"; }}"
            ),
        )
    };
    let status = |anx: &Anx| -> serde_json::Value {
        serde_json::from_slice(&anx.get("/status").body).expect("the status page is JSON")
    };
    let anx = Anx::start_conf(&site, &conf("one"), 2);
    assert_eq!(status(&anx)["generation"], 1);
    let conf_path = site.path().join("anx.conf");
    std::fs::write(&conf_path, conf("two")).unwrap();
    assert!(reload(&anx).contains("in effect"));
    std::fs::write(&conf_path, "http { nonsense").unwrap();
    assert!(reload(&anx).contains("reload failed"));
    let s = status(&anx);
    assert_eq!(s["generation"], 2, "{s}");
    assert_eq!(s["reloads"]["ok"], 1, "{s}");
    assert_eq!(s["reloads"]["failed"], 1, "{s}");
    assert_eq!(s["reloads"]["last"]["ok"], false, "{s}");
    let message = s["reloads"]["last"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("anx.conf"), "{s}");
}
