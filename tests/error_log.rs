//! The error log end to end: nginx's line shape (compared with real nginx on the same
//! failure), several destinations each with its level (files and stderr), and reopening
//! after a rename (SIGUSR1).
//!
//! Needs Debian's nginx (`apt-get install -y nginx-light`) for the comparison.

mod common;

use common::*;
use std::time::Duration;

use common::backend::refused_port;
use common::{log_line_with as line_with, read_log as read};

/// `2026/01/02 03:04:05 [error] 123#0: *5 message` → `[error] PID#N: *C message`, after
/// checking the time's shape: what two servers' lines for the same event may differ in.
fn shape(line: &str) -> String {
    let (time, rest) = line.split_at(20);
    let digits: String = time.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(digits.len(), 14, "time of {line:?}");
    assert_eq!(&time[4..5], "/");
    assert_eq!(&time[10..11], " ");
    let (level, rest) = rest.split_once(' ').unwrap();
    let (pid, rest) = rest.split_once(": ").unwrap();
    let (p, t) = pid.split_once('#').unwrap();
    assert!(
        p.parse::<u32>().is_ok() && t.parse::<u32>().is_ok(),
        "{line:?}"
    );
    let rest = match rest.strip_prefix('*') {
        Some(r) => {
            let (n, r) = r.split_once(' ').unwrap();
            assert!(n.parse::<u64>().is_ok(), "{line:?}");
            format!("*C {r}")
        }
        None => rest.to_string(),
    };
    format!("{level} PID#N: {rest}")
}

fn proxy_conf(dead: u16, extra_main: &str) -> String {
    format!(
        "{extra_main}events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:0;\n        server_name s;\n        \
         location / {{ proxy_pass http://127.0.0.1:{dead}; }}\n        \
         location /bad/ {{ access_log logs/file/x.log; return 200 \"x\"; }}\n    }}\n}}\n"
    )
}

#[test]
fn upstream_failure_line_has_nginx_shape() {
    let dead = refused_port();
    // nginx opens static access-log paths at start: the unopenable one is anx's test only.
    let conf = proxy_conf(dead, "error_log logs/error.log info;\n").replace(
        "location /bad/ { access_log logs/file/x.log; return 200 \"x\"; }",
        "",
    );
    let (nginx_site, anx_site) = (Site::new(), Site::new());
    nginx_site.mkdir("logs");
    let nginx = Anx::start_nginx(&nginx_site, &conf);
    let anx = Anx::start_conf(&anx_site, &conf, 1);
    let mut shapes = Vec::new();
    for (server, site) in [(&nginx, &nginx_site), (&anx, &anx_site)] {
        let mut c = server.connect();
        c.send("GET /x?y=1 HTTP/1.1\r\nHost: h.example\r\n\r\n");
        assert_eq!(c.response().status, 502);
        shapes.push(shape(&line_with(site, "error.log", "connect() failed")));
    }
    assert_eq!(shapes[1], shapes[0]);
    assert_eq!(
        shapes[1],
        format!(
            "[error] PID#N: *C connect() failed (111: Connection refused) while connecting to upstream, \
             client: 127.0.0.1, server: s, request: \"GET /x?y=1 HTTP/1.1\", upstream: \"http://127.0.0.1:{dead}/x?y=1\", host: \"h.example\""
        )
    );
}

#[test]
fn several_destinations_each_with_its_level() {
    let dead = refused_port();
    let site = Site::new();
    // An access log that cannot be opened (its directory is a file) gives a crit line.
    site.write("logs/file", "not a directory\n");
    let anx = Anx::start_conf(
        &site,
        &proxy_conf(
            dead,
            "error_log logs/all.log info;\nerror_log logs/crit.log crit;\nerror_log stderr warn;\n",
        ),
        1,
    );
    assert_eq!(anx.get("/x").status, 502);
    assert_eq!(anx.get("/bad/x").status, 200);
    let crit = line_with(&site, "all.log", "[crit]");
    assert!(crit.contains("logs/file/x.log"), "{crit}");
    line_with(&site, "all.log", "[error]");
    line_with(&site, "all.log", "[notice]");
    line_with(&site, "crit.log", "[crit]");
    poll_until(Duration::from_secs(15), "the error line on stderr", || {
        (!anx
            .stderr_matching(&["[error]", "connect() failed"])
            .is_empty())
        .then_some(())
    });
    // stderr is read by a thread of the test: wait for the line rather than race it.
    poll_until(Duration::from_secs(15), "the crit line on stderr", || {
        (!anx.stderr_matching(&["[crit]"]).is_empty()).then_some(())
    });
    // Below each log's level nothing is written.
    assert!(!read(&site, "crit.log").contains("[error]"));
    assert!(!read(&site, "crit.log").contains("[notice]"));
    assert!(anx.stderr_matching(&["[notice]"]).is_empty());
    assert!(anx.stderr_matching(&["[info]"]).is_empty());
}

#[test]
fn reopen_moves_the_error_log_to_a_new_file() {
    let dead = refused_port();
    let site = Site::new();
    let anx = Anx::start_conf(
        &site,
        &proxy_conf(dead, "error_log logs/error.log info;\n"),
        1,
    );
    assert_eq!(anx.get("/before").status, 502);
    line_with(&site, "error.log", "GET /before");
    let logs = site.path().join("logs");
    std::fs::rename(logs.join("error.log"), logs.join("error.log.1")).unwrap();
    anx.signal(libc::SIGUSR1);
    line_with(&site, "error.log.1", "reopening logs");
    assert_eq!(anx.get("/after").status, 502);
    line_with(&site, "error.log", "GET /after");
    assert!(!read(&site, "error.log").contains("GET /before"));
    assert!(!read(&site, "error.log.1").contains("GET /after"));
}
