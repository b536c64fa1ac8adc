//! `user USER [GROUP]` against the real binary: the shards run as the user, the privileged
//! helper stays root and grants what reloads and reopens need (a root-only key, a port
//! below 1024, log files in a root-owned directory), and without `user` nothing changes.
//!
//! These need root (CI runs as root); as another user each test says so and returns. They
//! use the system account `nobody` (group `nogroup` on Debian), never a created one.

mod common;
mod tls_util;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{anx_bin, poll_until, Anx, Site};

const WAIT: Duration = Duration::from_secs(20);

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("SKIPPED: this test switches users and needs to run as root");
    }
    root
}

/// `nobody`'s uid and primary gid, from the password database.
fn nobody() -> (u32, u32) {
    // SAFETY: getpwnam returns a pointer into static storage or null; read at once.
    unsafe {
        let pw = libc::getpwnam(c"nobody".as_ptr());
        assert!(!pw.is_null(), "this system has no user nobody");
        ((*pw).pw_uid, (*pw).pw_gid)
    }
}

/// A site the user can read (tempdir makes 0700 directories).
fn site() -> Site {
    let site = Site::new();
    std::fs::set_permissions(site.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    site.write("html/index.html", "hello\n");
    site
}

/// (uid fields, gid fields) of one `/proc/.../status`.
fn ids(status_path: &Path) -> (Vec<u32>, Vec<u32>) {
    let status = std::fs::read_to_string(status_path).unwrap();
    let field = |key: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {}", status_path.display()))
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect()
    };
    (field("Uid:"), field("Gid:"))
}

/// Every thread of `pid`: (tid, uids, gids).
fn threads(pid: u32) -> Vec<(String, Vec<u32>, Vec<u32>)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let (u, g) = ids(&e.path().join("status"));
            (e.file_name().to_string_lossy().into_owned(), u, g)
        })
        .collect()
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid …": comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

/// A free port below 1024 on 127.0.0.1 (bound and released here, as root).
fn privileged_port() -> u16 {
    (700..1000)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below 1024")
}

fn conf(main: &str, server: &str) -> String {
    format!(
        "{main}\nerror_log stderr info;\nevents {{}}\nhttp {{\n    access_log off;\n    server {{\n        listen 127.0.0.1:0;\n        root html;\n{server}\n    }}\n}}\n"
    )
}

fn start(site: &Site, conf: &str, shards: usize) -> Anx {
    Anx::start_conf(site, conf, shards)
}

fn reload_and_wait(anx: &Anx, generation: u64) {
    anx.signal(libc::SIGHUP);
    let done = format!("generation {generation} in effect");
    poll_until(WAIT, &done, || {
        if let Some(failed) = anx.stderr_matching(&["reload failed"]).first() {
            panic!("{failed}");
        }
        (!anx.stderr_matching(&[&done]).is_empty()).then_some(())
    });
}

#[test]
fn shards_run_as_the_user_and_only_the_helper_keeps_root() {
    if !is_root() {
        return;
    }
    let (uid, gid) = nobody();
    let site = site();
    site.mkdir("run");
    let pid_file = site.path().join("run/anx.pid");
    let conf = conf(
        &format!("user nobody;\npid {};", pid_file.display()),
        "        access_log logs/access.log;",
    );
    let mut anx = start(&site, &conf, 2);
    assert_eq!(anx.get("/").status, 200);

    let tasks = threads(anx.pid());
    assert!(tasks.len() >= 3, "control thread and two shards: {tasks:?}");
    for (tid, uids, gids) in &tasks {
        assert_eq!(uids, &[uid; 4], "thread {tid} uids");
        assert_eq!(gids, &[gid; 4], "thread {tid} gids");
    }
    let helpers = children(anx.pid());
    assert_eq!(helpers.len(), 1, "one helper process: {helpers:?}");
    let (helper_uids, _) = ids(Path::new(&format!("/proc/{}/status", helpers[0])));
    assert_eq!(helper_uids, [0; 4], "the helper stays root");

    // The pid file names the server, not the helper.
    let text = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(text.trim(), anx.pid().to_string());

    // The access log the server writes belongs to the user.
    let log = site.path().join("logs/access.log");
    poll_until(WAIT, "an access log line", || {
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains("GET / ").then_some(())
    });
    assert_eq!(std::fs::metadata(&log).unwrap().uid(), uid);

    // A graceful stop takes the helper with it and removes the pid file.
    let quit = Command::new(anx_bin())
        .args(["-s", "quit", "-c"])
        .arg(site.path().join("anx.conf"))
        .output()
        .unwrap();
    assert!(quit.status.success(), "{quit:?}");
    poll_until(WAIT, "the server to exit", || anx.try_wait());
    poll_until(WAIT, "the helper to exit", || {
        (!Path::new(&format!("/proc/{}", helpers[0])).exists()
            || std::fs::read_to_string(format!("/proc/{}/stat", helpers[0]))
                .is_ok_and(|s| s.contains(") Z ")))
        .then_some(())
    });
    poll_until(WAIT, "the pid file to go", || {
        (!pid_file.exists()).then_some(())
    });
}

#[test]
fn reload_reads_a_root_only_key_after_the_switch() {
    if !is_root() {
        return;
    }
    let site = site();
    let ca = tls_util::ca("privilege CA");
    let first = tls_util::server_leaf(&ca, &["a.test"], tls_util::Alg::P256);
    let second = tls_util::server_leaf(&ca, &["a.test"], tls_util::Alg::P256);
    for (leaf, name) in [(&first, "one"), (&second, "two")] {
        let (_, key) = leaf.write(&site, name);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let tls = |cert: &str| {
        format!(
            "user nobody;\npid {}/anx.pid;\nerror_log stderr info;\nevents {{}}\nhttp {{\n    access_log off;\n    server {{\n        listen 127.0.0.1:0 ssl;\n        server_name a.test;\n        root html;\n        ssl_certificate {cert}.crt;\n        ssl_certificate_key {cert}.key;\n    }}\n}}\n",
            site.path().display()
        )
    };
    let anx = start(&site, &tls("one"), 1);
    // A fresh client each time: a resumed session would show no certificate at all.
    let client = || {
        tls_util::Client::new(tls_util::ClientOptions {
            ca_pem: &ca.pem,
            ..Default::default()
        })
    };
    let (hs, reply) = client().get(anx.port, "a.test", "a.test", "/").unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(hs.leaf, first.der);

    // The shards cannot read the new key themselves; `anx -s reload` still works.
    std::fs::write(site.path().join("anx.conf"), tls("two")).unwrap();
    let reload = Command::new(anx_bin())
        .args(["-s", "reload", "-c"])
        .arg(site.path().join("anx.conf"))
        .output()
        .unwrap();
    assert!(reload.status.success(), "{reload:?}");
    poll_until(WAIT, "generation 2", || {
        if let Some(failed) = anx.stderr_matching(&["reload failed"]).first() {
            panic!("{failed}");
        }
        (!anx.stderr_matching(&["generation 2 in effect"]).is_empty()).then_some(())
    });
    let (hs, reply) = client().get(anx.port, "a.test", "a.test", "/").unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(hs.leaf, second.der, "the certificate of the reloaded key");
}

#[test]
fn reload_adds_and_drops_a_privileged_port_after_the_switch() {
    if !is_root() {
        return;
    }
    let site = site();
    let low = privileged_port();
    let mut anx = start(&site, &conf("user nobody;", ""), 2);
    assert_eq!(anx.get("/").status, 200);

    let with_low = conf("user nobody;", &format!("        listen 127.0.0.1:{low};"));
    std::fs::write(site.path().join("anx.conf"), &with_low).unwrap();
    reload_and_wait(&anx, 2);
    let mut c = common::Conn::open(low);
    c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello\n");

    // Dropped again: no process (the helper included) keeps it listening.
    std::fs::write(site.path().join("anx.conf"), conf("user nobody;", "")).unwrap();
    reload_and_wait(&anx, 3);
    poll_until(WAIT, "the low port to close", || {
        std::net::TcpStream::connect(("127.0.0.1", low))
            .is_err()
            .then_some(())
    });
    assert!(anx.alive());
}

#[test]
fn reload_adds_a_unix_socket_in_a_root_owned_directory_through_the_helper() {
    if !is_root() {
        return;
    }
    let site = site();
    let sock = site.path().join("anx.sock");
    let anx = start(&site, &conf("user nobody;", ""), 2);
    let with_unix = conf(
        "user nobody;",
        &format!("        listen unix:{};", sock.display()),
    );
    std::fs::write(site.path().join("anx.conf"), &with_unix).unwrap();
    reload_and_wait(&anx, 2);
    let mut s = std::os::unix::net::UnixStream::connect(&sock).expect("the unix socket");
    use std::io::{Read, Write};
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("hello\n"), "{answer}");
}

#[test]
fn reopen_into_a_root_owned_directory() {
    if !is_root() {
        return;
    }
    let (uid, _) = nobody();
    let site = site();
    let logs = site.mkdir("logs");
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = conf(
        "user nobody;\nerror_log logs/error.log info;",
        "        access_log logs/access.log;",
    );
    let anx = start(&site, &conf, 1);
    let access = logs.join("access.log");
    let error = logs.join("error.log");
    assert_eq!(anx.get("/first").status, 404);
    poll_until(WAIT, "the first line", || {
        std::fs::read_to_string(&access)
            .ok()?
            .contains("/first")
            .then_some(())
    });

    // What logrotate does: rename, then ask for a reopen. The user cannot create files in
    // logs/ (root's, 0755), so the new files come from the helper.
    std::fs::rename(&access, logs.join("access.log.1")).unwrap();
    std::fs::rename(&error, logs.join("error.log.1")).unwrap();
    anx.signal(libc::SIGUSR1);
    poll_until(WAIT, "the reopen", || {
        (!anx.stderr_matching(&["reopening logs"]).is_empty()).then_some(())
    });
    poll_until(WAIT, "a new access log", || access.exists().then_some(()));
    // The shard reopens on its next tick; requests until then go to the renamed file.
    poll_until(WAIT, "a line in the new access log", || {
        assert_eq!(anx.get("/second").status, 404);
        std::fs::read_to_string(&access)
            .ok()?
            .contains("/second")
            .then_some(())
    });
    for file in [&access, &error] {
        let meta = std::fs::metadata(file).unwrap();
        assert_eq!(meta.uid(), uid, "{} belongs to the user", file.display());
    }
    // The error log was reopened too: the next line lands in the new file.
    anx.signal(libc::SIGHUP);
    poll_until(WAIT, "a line in the new error log", || {
        std::fs::read_to_string(&error)
            .ok()?
            .contains("reconfiguring")
            .then_some(())
    });
    let old = std::fs::read_to_string(logs.join("access.log.1")).unwrap();
    assert!(old.contains("/first"), "{old}");
}

#[test]
fn unknown_user_or_group_is_an_error_with_file_and_line() {
    if !is_root() {
        return;
    }
    let site = site();
    for (name, text, needle, line) in [
        (
            "a.conf",
            conf("user no-such-user-anx;", ""),
            "getpwnam(\"no-such-user-anx\") failed",
            1,
        ),
        (
            "b.conf",
            conf("\nuser nobody no-such-group-anx;", ""),
            "getgrnam(\"no-such-group-anx\") failed",
            2,
        ),
        (
            "c.toml",
            "[main]\nshards = 1\nuser = \"no-such-user-anx\"\n[[server]]\nlisten = [\"127.0.0.1:0\"]\n"
                .to_string(),
            "getpwnam(\"no-such-user-anx\") failed",
            3,
        ),
    ] {
        let path = site.write(name, text);
        let out = common::test_config(&path);
        let stderr = out.1.clone();
        assert!(!out.0, "{stderr}");
        let expected = format!("{needle} in {}:{line}", path.display());
        assert!(stderr.contains(&expected), "{expected:?} not in {stderr}");
        // Starting fails the same way, before anything is bound.
        let run = Command::new(anx_bin()).arg("-c").arg(&path).output().unwrap();
        assert!(!run.status.success());
        assert!(String::from_utf8_lossy(&run.stderr).contains(&expected));
    }
}

#[test]
fn not_root_means_nginx_s_warning_and_no_switch() {
    if !is_root() {
        return;
    }
    use std::os::unix::process::CommandExt;
    let (uid, gid) = nobody();
    let site = site();
    let path = site.write("anx.conf", conf("user www-data;", ""));
    let out = Command::new(anx_bin())
        .arg("-t")
        .arg("-c")
        .arg(&path)
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warning = format!(
        "the \"user\" directive makes sense only if the master process runs with super-user \
         privileges, ignored in {}:1",
        path.display()
    );
    assert!(stderr.contains(&warning), "{stderr}");
}

#[test]
fn without_user_nothing_changes() {
    if !is_root() {
        return;
    }
    let site = site();
    let pid_file = site.path().join("anx.pid");
    let conf = conf(&format!("pid {};", pid_file.display()), "");
    let anx = start(&site, &conf, 2);
    assert_eq!(anx.get("/").status, 200);
    for (tid, uids, gids) in threads(anx.pid()) {
        assert_eq!(uids, [0; 4], "thread {tid}");
        assert_eq!(gids, [0; 4], "thread {tid}");
    }
    assert!(children(anx.pid()).is_empty(), "no helper without user");
    let text = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(text.trim(), anx.pid().to_string());
    reload_and_wait(&anx, 2);
}
