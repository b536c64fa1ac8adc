//! Debian's stock `/etc/nginx/nginx.conf` (package nginx-light, as installed, with its
//! `sites-enabled/default` and `modules-enabled/50-mod-http-echo.conf`) against the real
//! binary: `anx -t` accepts everything in it but the `gzip` line, and with that one line
//! left out the default site is served as nginx serves it, as `user www-data`.
//!
//! anx has no compression yet, so `gzip on;` is still refused, and the test checks that it
//! is the only refusal. When compression lands, `anx -t` on the stock file succeeds, the
//! first test fails with a message saying so, and the test is to turn strict (serve the
//! stock file itself). Needs root and the package (CI installs nginx-light); otherwise each
//! test says SKIPPED and returns.

mod common;

use std::path::Path;
use std::process::Command;

use common::{anx_bin, Anx, Site};

const STOCK: &str = "/etc/nginx/nginx.conf";

fn stock_installed() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let present =
        Path::new(STOCK).is_file() && Path::new("/etc/nginx/sites-enabled/default").exists();
    if !root || !present {
        eprintln!("SKIPPED: needs root and Debian's nginx-light package (/etc/nginx)");
    }
    root && present
}

#[test]
fn stock_file_is_refused_only_for_gzip() {
    if !stock_installed() {
        return;
    }
    let out = Command::new(anx_bin())
        .args(["-t", "-c", STOCK])
        .output()
        .expect("run anx -t");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "anx -t now accepts Debian's stock nginx.conf, gzip line included: compression has \
         landed, so make tests/debian_stock.rs strict (serve the stock file unchanged)\n{stderr}"
    );
    let refusals: Vec<&str> = stderr.lines().filter(|l| l.contains("[emerg]")).collect();
    assert!(!refusals.is_empty(), "{stderr}");
    for line in &refusals {
        assert!(
            line.contains("\"gzip\" directive") && line.contains("ngx_http_gzip_module"),
            "a refusal other than gzip in the stock file: {line}\n{stderr}"
        );
    }
}

/// The stock file, minus its `gzip on;` line, next to the original (its includes are
/// absolute, so everything else it reads is the installed package's).
fn stock_without_gzip(site: &Site) -> std::path::PathBuf {
    let text = std::fs::read_to_string(STOCK).expect("read the stock nginx.conf");
    let mut removed = 0;
    let edited: String = text
        .lines()
        .map(|l| {
            if l.trim() == "gzip on;" {
                removed += 1;
                "\t# gzip on; (left out by tests/debian_stock.rs: no compression in anx yet)"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(removed, 1, "the stock file has changed shape:\n{text}");
    site.write("nginx.conf", edited)
}

#[test]
fn stock_file_serves_the_default_site_as_www_data() {
    if !stock_installed() {
        return;
    }
    if std::net::TcpListener::bind("0.0.0.0:80").is_err() {
        eprintln!("SKIPPED: port 80 is in use, and the stock default site listens on it");
        return;
    }
    let site = Site::new();
    let conf = stock_without_gzip(&site);
    let check = common::test_config(&conf);
    let stderr = check.1.clone();
    assert!(check.0, "{stderr}");
    // The echo module Debian enables is named in a warning and does not stop the load.
    let echo = stderr
        .lines()
        .find(|l| l.contains("ngx_http_echo_module"))
        .unwrap_or_else(|| panic!("no warning names the echo module:\n{stderr}"));
    assert!(echo.contains("[warn]"), "{echo}");

    let mut cmd = Command::new(anx_bin());
    cmd.arg("-c").arg(&conf).current_dir(site.path());
    let anx = Anx::spawn(cmd);
    assert!(anx.ports.contains(&80), "listening on {:?}", anx.ports);

    let mut conn = common::Conn::open(80);
    conn.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let page = conn.response();
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("Welcome to nginx!"), "{}", page.text());
    assert_eq!(page.header("Content-Type"), Some("text/html"));

    let mut conn = common::Conn::open(80);
    conn.send("GET /no-such-page HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(conn.response().status, 404);

    // `user www-data;`: every thread of the server runs as www-data.
    // SAFETY: getpwnam returns a pointer into static storage or null; read at once.
    let uid = unsafe {
        let pw = libc::getpwnam(c"www-data".as_ptr());
        assert!(!pw.is_null(), "no user www-data");
        (*pw).pw_uid
    };
    let tasks = std::fs::read_dir(format!("/proc/{}/task", anx.pid())).expect("tasks");
    for task in tasks.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let uids = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .unwrap_or_default()
            .split_whitespace()
            .map(|n| n.parse::<u32>().unwrap_or(u32::MAX))
            .collect::<Vec<_>>();
        assert!(
            !uids.is_empty() && uids.iter().all(|&u| u == uid),
            "thread {:?} runs as {uids:?}, not www-data ({uid})",
            task.file_name()
        );
    }
}
