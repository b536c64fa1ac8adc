//! Access logs end to end: `log_format` with variables and nginx's escaping, `escape=json`,
//! `if=` conditions, several logs per request, per-location logs and nginx's inheritance
//! (compared with real nginx), the `combined` and `common` presets byte for byte against
//! nginx, the `json` preset, reopen after a rename under load (SIGUSR1), built-in rotation,
//! the flush on stop, and lines of a log without `buffer=` written before the connection
//! that logged them closes.
//!
//! Needs Debian's nginx (`apt-get install -y nginx-light`) for the comparisons.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const HTTP: &str = r#"[[http.log_format]]
name = "custom"
format = '$status $request_method $uri [$args] "$http_x_note" $body_bytes_sent [$sent_http_x_tag] $connection_requests'

[[http.log_format]]
name = "js"
escape = "json"
format = '{"uri":"$uri","note":"$http_x_note"}'

[[http.map]]
source = "$status"
variable = "loggable"
default = "1"
entries = [["~^2", "0"]]"#;

const SERVER: &str = r#"access_log = [
  { path = "logs/custom.log", format = "custom", flush = "100ms" },
  { path = "logs/json.log", format = "js", flush = "100ms" },
  { path = "logs/errors.log", format = "custom", flush = "100ms", if = "$loggable" },
]"#;

const LOCATIONS: &str = r#"
[[server.location]]
path = "/"
add_header = [{ name = "X-Tag", value = "t1" }]

[[server.location]]
path = "/own/"
access_log = { path = "logs/own.log", format = "custom", flush = "100ms" }
return = { status = 200, text = "own\n" }
"#;

fn lines(site: &Site, name: &str, n: usize) -> Vec<String> {
    let path = site.path().join("logs").join(name);
    poll_until(Duration::from_secs(15), name, || {
        let t = std::fs::read_to_string(&path).ok()?;
        let lines: Vec<String> = t.lines().map(str::to_string).collect();
        (lines.len() >= n).then_some(lines)
    })
}

#[test]
fn custom_formats_conditions_and_locations() {
    let site = Site::new();
    site.write("html/a.txt", "alpha\n");
    let anx = Anx::start(&site, &config(HTTP, SERVER, LOCATIONS));
    let mut c = anx.connect();
    c.send("GET /a.txt?q=1 HTTP/1.1\r\nHost: h\r\nX-Note: say \"hi\"\\\r\n\r\n");
    assert_eq!(c.response().status, 200);
    c.send("GET /missing HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(c.response().status, 404);
    c.send("GET /own/x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(c.response().status, 200);

    let custom = lines(&site, "custom.log", 2);
    assert_eq!(
        custom[0],
        "200 GET /a.txt [q=1] \"say \\x22hi\\x22\\x5C\" 6 [t1] 1"
    );
    // Not found variables print "-" with the default escaping.
    assert!(
        custom[1].starts_with("404 GET /missing [-] \"-\" "),
        "{}",
        custom[1]
    );
    assert!(custom[1].ends_with(" [-] 2"), "{}", custom[1]);
    let json = lines(&site, "json.log", 2);
    assert_eq!(
        json[0],
        "{\"uri\":\"/a.txt\",\"note\":\"say \\\"hi\\\"\\\\\"}"
    );
    assert_eq!(json[1], "{\"uri\":\"/missing\",\"note\":\"\"}");
    // if=$loggable: only the 404.
    let errors = lines(&site, "errors.log", 1);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("404 "), "{}", errors[0]);
    // The location's own log took its request; the server's logs did not.
    let own = lines(&site, "own.log", 1);
    assert!(own[0].starts_with("200 GET /own/x "), "{}", own[0]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(&site, "custom.log", 2).len(), 2);
}

/// Stops `server` with SIGTERM and waits until it has exited (buffers written).
fn stop(server: &mut Anx) {
    server.signal(libc::SIGTERM);
    poll_until(Duration::from_secs(15), "the server to exit", || {
        (!server.alive()).then_some(())
    });
}

fn read_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// A line without its `[time_local]`, which is all two servers' lines may differ in.
fn without_time(line: &str) -> String {
    match (line.find(" ["), line.find("] ")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &line[..a + 2], &line[b..]),
        _ => line.to_string(),
    }
}

/// The same conf for nginx and anx, but for the `common` format nginx lacks.
const PRESETS_CONF: &str = r#"events {}
http {
    @COMMON@
    server {
        listen 127.0.0.1:0;
        root html;
        access_log logs/combined.log combined buffer=4k flush=100ms;
        access_log logs/common.log common buffer=4k flush=100ms;
        location /t { return 200 "hello\n"; }
    }
}
"#;

/// Requests whose lines exercise the presets: escaping in quoted fields, absent fields ("-"),
/// HEAD (no body bytes), a query, a `return`, an HTTP/1.0 request without Host.
const PRESET_REQUESTS: [(&str, bool); 5] = [
    (
        "GET /a.txt HTTP/1.1\r\nHost: h\r\nUser-Agent: curl/8.0\r\nReferer: http://r.example/x?y=1\r\n\r\n",
        false,
    ),
    (
        "GET /a.txt?q=%20z&r=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: a \"quoted\" \\ ua\r\n\r\n",
        false,
    ),
    ("HEAD /a.txt HTTP/1.1\r\nHost: h\r\n\r\n", true),
    (
        "GET /t HTTP/1.1\r\nHost: h\r\nUser-Agent: caf\u{e9}\r\nReferer: \r\n\r\n",
        false,
    ),
    ("GET /a.txt HTTP/1.0\r\n\r\n", false),
];

fn preset_lines(server: &Anx, site: &Site) -> (Vec<String>, Vec<String>) {
    let mut c = server.connect();
    for (req, head) in &PRESET_REQUESTS[..PRESET_REQUESTS.len() - 1] {
        c.send(req);
        let r = if *head {
            c.head_response()
        } else {
            c.response()
        };
        assert!(r.status == 200, "{req:?}: {r:?}");
    }
    let r = server.raw(PRESET_REQUESTS[PRESET_REQUESTS.len() - 1].0);
    assert_eq!(r.status, 200);
    let n = PRESET_REQUESTS.len();
    let get = |name: &str| {
        lines(site, name, n)
            .iter()
            .map(|l| without_time(l))
            .collect()
    };
    (get("combined.log"), get("common.log"))
}

#[test]
fn combined_and_common_match_nginx_byte_for_byte_apart_from_time() {
    let nginx_site = Site::new();
    let anx_site = Site::new();
    for site in [&nginx_site, &anx_site] {
        site.write("html/a.txt", "alpha\n");
        site.mkdir("logs");
    }
    let nginx = Anx::start_nginx(
        &nginx_site,
        &PRESETS_CONF.replace(
            "@COMMON@",
            "log_format common '$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent';",
        ),
    );
    let anx = Anx::start_conf(&anx_site, &PRESETS_CONF.replace("@COMMON@", ""), 1);
    let (nginx_combined, nginx_common) = preset_lines(&nginx, &nginx_site);
    let (anx_combined, anx_common) = preset_lines(&anx, &anx_site);
    assert_eq!(anx_combined, nginx_combined);
    assert_eq!(anx_common, nginx_common);
    // Not vacuous: the lines carry the escapes and dashes compared above.
    assert!(
        anx_combined[1].contains(r#""a \x22quoted\x22 \x5C ua""#),
        "{anx_combined:?}"
    );
    // An empty Referer is "" (found, empty); an absent one "-".
    assert!(
        anx_combined[3].contains(r#""" "caf\xC3\xA9""#),
        "{anx_combined:?}"
    );
    assert!(anx_combined[2].ends_with(r#""-" "-""#), "{anx_combined:?}");
    assert_eq!(
        anx_common[2],
        "127.0.0.1 - - [] \"HEAD /a.txt HTTP/1.1\" 200 0"
    );
}

/// nginx's inheritance: a level's `access_log` list replaces the outer one, `off` stops
/// logging, nested locations inherit from their parent. The same conf under nginx and anx
/// must put the same requests in the same files.
const INHERIT_CONF: &str = r#"events {}
http {
    log_format uri '$host $request_uri';
    access_log logs/http.log uri buffer=4k flush=100ms;
    server {
        listen 127.0.0.1:0;
        server_name a;
        location /s1/ { return 200 "x"; }
        location /s1/own/ {
            access_log logs/own.log uri buffer=4k flush=100ms;
            access_log logs/own2.log uri buffer=4k flush=100ms;
            return 200 "x";
        }
        location /s1/off/ { access_log off; return 200 "x"; }
    }
    server {
        listen 127.0.0.1:0;
        server_name b;
        access_log logs/b.log uri buffer=4k flush=100ms;
        access_log logs/b2.log uri buffer=4k flush=100ms;
        location /b/ { return 200 "x"; }
        location /b/in/ {
            access_log logs/in.log uri buffer=4k flush=100ms;
            location /b/in/deep/ { return 200 "x"; }
            return 200 "x";
        }
    }
}
"#;

const INHERIT_REQUESTS: [(&str, &str); 7] = [
    ("a", "/s1/x"),
    ("a", "/s1/own/x"),
    ("a", "/s1/off/x"),
    ("a", "/nomatch"),
    ("b", "/b/x"),
    ("b", "/b/in/x"),
    ("b", "/b/in/deep/x"),
];

fn inherit_files(server: &mut Anx, site: &Site) -> BTreeMap<String, BTreeSet<String>> {
    let mut c = server.connect();
    for (host, uri) in INHERIT_REQUESTS {
        c.send(format!("GET {uri} HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        c.response();
    }
    stop(server);
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(site.path().join("logs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            files.insert(name, read_lines(&path).into_iter().collect());
        }
    }
    files
}

#[test]
fn several_logs_off_and_inheritance_as_nginx() {
    let nginx_site = Site::new();
    let anx_site = Site::new();
    for site in [&nginx_site, &anx_site] {
        site.mkdir("logs");
        site.mkdir("html");
    }
    let mut nginx = Anx::start_nginx(&nginx_site, INHERIT_CONF);
    let mut anx = Anx::start_conf(&anx_site, INHERIT_CONF, 1);
    let from_nginx = inherit_files(&mut nginx, &nginx_site);
    let from_anx = inherit_files(&mut anx, &anx_site);
    assert_eq!(from_anx, from_nginx);
    // What nginx does, spelled out so the comparison above is not vacuous.
    let set = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(from_anx["http.log"], set(&["a /s1/x", "a /nomatch"]));
    assert_eq!(from_anx["own.log"], set(&["a /s1/own/x"]));
    assert_eq!(from_anx["own2.log"], set(&["a /s1/own/x"]));
    assert_eq!(from_anx["b.log"], set(&["b /b/x"]));
    assert_eq!(from_anx["b2.log"], set(&["b /b/x"]));
    assert_eq!(from_anx["in.log"], set(&["b /b/in/x", "b /b/in/deep/x"]));
}

/// A one-request HTTP backend answering 201 "ok".
fn backend() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut s, _)) = l.accept() {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while find(&buf, b"\r\n\r\n").is_none() {
                match s.read(&mut chunk) {
                    Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    _ => return,
                }
            }
            let _ = s.write_all(
                b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            );
        }
    });
    port
}

#[test]
fn json_preset_has_the_fields_operators_expect() {
    let site = Site::new();
    site.write("html/a.txt", "alpha\n");
    let up = backend();
    let anx = Anx::start(
        &site,
        &config(
            "",
            r#"access_log = { path = "logs/json.log", format = "json", buffer = "4k", flush = "100ms" }"#,
            &format!(
                "[[server.location]]\npath = \"/\"\n\n[[server.location]]\npath = \"/up/\"\nproxy_pass = \"http://127.0.0.1:{up}\"\n"
            ),
        ),
    );
    let mut c = anx.connect();
    c.send("GET /a.txt?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: say \"hi\"\\\r\nReferer: http://r/\r\n\r\n");
    assert_eq!(c.response().status, 200);
    c.send("GET /up/z HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(c.response().status, 201);
    let got = lines(&site, "json.log", 2);
    let objects: Vec<serde_json::Value> = got
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let keys = [
        "time",
        "remote_addr",
        "remote_user",
        "request",
        "method",
        "uri",
        "status",
        "body_bytes_sent",
        "bytes_sent",
        "request_time",
        "upstream_addr",
        "upstream_status",
        "upstream_response_time",
        "http_referer",
        "http_user_agent",
        "host",
        "request_id",
        "ssl_protocol",
        "ssl_cipher",
        "connection",
        "connection_requests",
    ];
    for o in &objects {
        let map = o.as_object().unwrap();
        let mut have: Vec<&str> = map.keys().map(String::as_str).collect();
        have.sort_unstable();
        let mut want = keys.to_vec();
        want.sort_unstable();
        assert_eq!(have, want, "{o}");
        assert!(o["request_time"].is_number(), "{o}");
        let id = o["request_id"].as_str().unwrap();
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{o}"
        );
    }
    let (file, proxied) = (&objects[0], &objects[1]);
    assert_eq!(file["status"], 200);
    assert_eq!(file["body_bytes_sent"], 6);
    assert_eq!(file["method"], "GET");
    assert_eq!(file["uri"], "/a.txt?x=1");
    assert_eq!(file["request"], "GET /a.txt?x=1 HTTP/1.1");
    assert_eq!(file["http_user_agent"], "say \"hi\"\\");
    assert_eq!(file["http_referer"], "http://r/");
    assert_eq!(file["host"], "h");
    assert_eq!(file["remote_addr"], "127.0.0.1");
    assert_eq!(file["upstream_addr"], "");
    assert_eq!(file["ssl_protocol"], "");
    assert_eq!(file["connection_requests"], 1);
    assert_eq!(proxied["status"], 201);
    assert_eq!(proxied["upstream_addr"], format!("127.0.0.1:{up}"));
    assert_eq!(proxied["upstream_status"], "201");
    assert!(
        !proxied["upstream_response_time"]
            .as_str()
            .unwrap()
            .is_empty(),
        "{proxied}"
    );
    assert_eq!(proxied["connection_requests"], 2);
}

const SEQ_HTTP: &str = r#"[[http.log_format]]
name = "seq"
format = '$arg_c $arg_n'"#;

const RETURN_ALL: &str = r#"[[server.location]]
path = "/"
return = { status = 200, text = "ok\n" }
"#;

/// (connection, sequence number) of every `seq` line in `path`.
fn seq_lines(path: &std::path::Path) -> Vec<(u64, u64)> {
    read_lines(path)
        .iter()
        .map(|l| {
            let (c, n) = l
                .split_once(' ')
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            (c.parse().unwrap(), n.parse().unwrap())
        })
        .collect()
}

#[test]
fn reopen_after_rename_under_load_loses_no_line() {
    const CONNS: u64 = 4;
    const PHASE: u64 = 300;
    let site = Site::new();
    let mut anx = Anx::start_shards(
        &site,
        &config(
            SEQ_HTTP,
            // Phase 3 runs until the reopen shows: no keep-alive limit may cut it short.
            r#"keepalive_requests = 1000000
access_log = { path = "logs/access.log", format = "seq", buffer = "4k", flush = "100ms" }"#,
            RETURN_ALL,
        ),
        2,
    );
    let log = site.path().join("logs/access.log");
    let old = site.path().join("logs/access.log.old");
    // Each worker sends requests on its own keep-alive connection up to `target`.
    let target = Arc::new(AtomicU64::new(PHASE));
    let done = Arc::new(AtomicBool::new(false));
    let progress: Arc<Vec<AtomicU64>> = Arc::new((0..CONNS).map(|_| AtomicU64::new(0)).collect());
    let workers: Vec<_> = (0..CONNS)
        .map(|c| {
            let (target, done, progress, port) =
                (target.clone(), done.clone(), progress.clone(), anx.port);
            std::thread::spawn(move || {
                let mut conn = Conn::open(port);
                let mut n = 0;
                while !done.load(Ordering::SeqCst) {
                    if n >= target.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                        continue;
                    }
                    conn.send(format!("GET /?c={c}&n={n} HTTP/1.1\r\nHost: h\r\n\r\n"));
                    assert_eq!(conn.response().status, 200);
                    n += 1;
                    progress[c as usize].store(n, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let all_reach = |n: u64| {
        poll_until(Duration::from_secs(60), "workers' progress", || {
            progress
                .iter()
                .all(|p| p.load(Ordering::SeqCst) >= n)
                .then_some(())
        })
    };
    // Phase 1: everything is written to the file before it is renamed.
    all_reach(PHASE);
    poll_until(Duration::from_secs(15), "phase 1 in the log", || {
        (seq_lines(&log).len() as u64 == CONNS * PHASE).then_some(())
    });
    // Phase 2: renamed while requests keep coming; reopen asked for half-way through.
    target.store(2 * PHASE, Ordering::SeqCst);
    std::fs::rename(&log, &old).unwrap();
    all_reach(PHASE + PHASE / 2);
    anx.signal(libc::SIGUSR1);
    // Phase 3: on until every connection's lines reach the new file.
    target.store(u64::MAX, Ordering::SeqCst);
    poll_until(
        Duration::from_secs(30),
        "every connection in the new file",
        || {
            let seen: BTreeSet<u64> = seq_lines(&log).iter().map(|(c, _)| *c).collect();
            (seen.len() as u64 == CONNS).then_some(())
        },
    );
    done.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    stop(&mut anx);

    let (before, after) = (seq_lines(&old), seq_lines(&log));
    for c in 0..CONNS {
        let sent = progress[c as usize].load(Ordering::SeqCst);
        let old_n: Vec<u64> = before.iter().filter(|l| l.0 == c).map(|l| l.1).collect();
        let new_n: Vec<u64> = after.iter().filter(|l| l.0 == c).map(|l| l.1).collect();
        // The old file holds the connection's first requests, the new one the rest, each in
        // order: together every request once.
        let joined: Vec<u64> = old_n.iter().chain(&new_n).copied().collect();
        assert_eq!(joined, (0..sent).collect::<Vec<_>>(), "connection {c}");
        assert!(
            old_n.len() as u64 >= PHASE,
            "connection {c}: phase 1 left the old file"
        );
        assert!(!new_n.is_empty(), "connection {c}: nothing in the new file");
    }
}

#[test]
fn built_in_rotation_by_size_keeps_every_line() {
    const LIMIT: u64 = 4096;
    let site = Site::new();
    let mut anx = Anx::start(
        &site,
        &config(
            SEQ_HTTP,
            r#"keepalive_requests = 1000000
access_log = { path = "logs/access.log", format = "seq", buffer = "1k", flush = "100ms", rotate_size = "4k", rotate_keep = 50 }"#,
            RETURN_ALL,
        ),
    );
    let dir = site.path().join("logs");
    let rotated = |n: u32| dir.join(format!("access.log.{n}"));
    let mut c = anx.connect();
    let mut n = 0u64;
    // Requests in batches until the file has been rotated three times.
    for round in 1..=3 {
        poll_until(
            Duration::from_secs(30),
            &format!("rotation {round}"),
            || {
                for _ in 0..50 {
                    // Padded so that every line is nine bytes: "0 000123".
                    c.send(format!("GET /?c=0&n={n:06} HTTP/1.1\r\nHost: h\r\n\r\n"));
                    assert_eq!(c.response().status, 200);
                    n += 1;
                }
                rotated(round).exists().then_some(())
            },
        );
    }
    stop(&mut anx);
    let mut all = Vec::new();
    let mut files = vec![dir.join("access.log")];
    files.extend((1..=50).map(rotated).filter(|p| p.exists()));
    assert!(files.len() >= 4, "{files:?}");
    // Oldest first: access.log.N … access.log.1, access.log.
    for f in files.iter().rev() {
        if f != &files[0] {
            let size = std::fs::metadata(f).unwrap().len();
            assert!(size >= LIMIT, "{} was rotated at {size} bytes", f.display());
        }
        all.extend(seq_lines(f).into_iter().map(|(_, n)| n));
    }
    let first_file = files.last().unwrap();
    assert_eq!(
        all,
        (0..n).collect::<Vec<_>>(),
        "oldest {}",
        first_file.display()
    );
}

#[test]
fn stop_writes_every_buffered_line() {
    let site = Site::new();
    let mut anx = Anx::start_shards(
        &site,
        &config(
            SEQ_HTTP,
            r#"access_log = { path = "logs/access.log", format = "seq", buffer = "1m", flush = "1h" }"#,
            RETURN_ALL,
        ),
        2,
    );
    let log = site.path().join("logs/access.log");
    for c in 0..4 {
        let mut conn = anx.connect();
        for n in 0..50 {
            conn.send(format!("GET /?c={c}&n={n} HTTP/1.1\r\nHost: h\r\n\r\n"));
            assert_eq!(conn.response().status, 200);
        }
    }
    // Nothing is due before an hour: every line is still in a shard's buffer.
    assert!(seq_lines(&log).is_empty());
    stop(&mut anx);
    let mut got = seq_lines(&log);
    got.sort_unstable();
    let want: Vec<(u64, u64)> = (0..4).flat_map(|c| (0..50).map(move |n| (c, n))).collect();
    assert_eq!(got, want);
}

#[test]
fn unbuffered_lines_are_written_before_the_connection_closes() {
    let site = Site::new();
    let anx = Anx::start(
        &site,
        &config(
            SEQ_HTTP,
            r#"access_log = { path = "logs/access.log", format = "seq" }"#,
            RETURN_ALL,
        ),
    );
    let log = site.path().join("logs/access.log");
    for n in 0..5 {
        let mut c = anx.connect();
        c.send(format!(
            "GET /?c=0&n={n} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        ));
        assert_eq!(c.response().status, 200);
        c.assert_closed();
        let want: Vec<(u64, u64)> = (0..=n).map(|n| (0, n)).collect();
        assert_eq!(seq_lines(&log), want);
    }
}
