//! The command line: -t, -T, -s, -g, configuration errors, -v, -h, the built-in default
//! site, and the per-shard worker_connections limit.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn run(args: &[&str], cwd: &std::path::Path) -> Output {
    Command::new(anx_bin())
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run anx")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn test_flag_reports_ok_and_exits_0() {
    let site = Site::new();
    let conf = site.write("anx.toml", config("", "", ""));
    let o = run(&["-t", "-c", conf.to_str().unwrap()], site.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let shown = conf.display().to_string();
    assert!(
        err.contains(&format!("anx: the configuration file {shown} syntax is ok")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "anx: configuration file {shown} test is successful"
        )),
        "{err}"
    );
    // -q silences the success lines.
    let o = run(&["-tq", "-c", conf.to_str().unwrap()], site.path());
    assert_eq!(o.status.code(), Some(0));
    assert!(!stderr(&o).contains("syntax is ok"), "{}", stderr(&o));
}

#[test]
fn unknown_key_fails_with_file_and_line() {
    let site = Site::new();
    let text = "[[server]]\nlisten = [\"127.0.0.1:0\"]\nbogus_key = 1\n";
    let conf = site.write("anx.toml", text);
    let shown = conf.display().to_string();
    for args in [
        vec!["-t", "-c", conf.to_str().unwrap()],
        vec!["-c", conf.to_str().unwrap()],
    ] {
        let o = run(&args, site.path());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("bogus_key"), "{args:?}: {err}");
        assert!(err.contains(&format!("{shown}:3")), "{args:?}: {err}");
    }
    let o = run(&["-t", "-c", conf.to_str().unwrap()], site.path());
    assert!(stderr(&o).contains("test failed"), "{}", stderr(&o));
}

#[test]
fn bad_value_names_its_line() {
    let site = Site::new();
    let text = "[http]\n\nkeepalive_timeout = \"10x\"\n\n[[server]]\nlisten = [\"127.0.0.1:0\"]\n";
    let conf = site.write("anx.toml", text);
    let o = run(&["-t", "-c", conf.to_str().unwrap()], site.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{}:3", conf.display())), "{err}");
}

#[test]
fn version_flag() {
    let site = Site::new();
    let o = run(&["-v"], site.path());
    assert_eq!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("anx version: anx/{}", env!("CARGO_PKG_VERSION"))),
        "{err}"
    );
    let o = run(&["-V"], site.path());
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("anx version: anx/"));
}

#[test]
fn help_flag() {
    let site = Site::new();
    for flag in ["-h", "-?"] {
        let o = run(&[flag], site.path());
        assert_eq!(o.status.code(), Some(0), "{flag}");
        let out = stdout(&o);
        assert!(out.contains("Usage: anx"), "{flag}: {out}");
        assert!(out.contains("-t"), "{out}");
        assert!(out.contains("--shards"), "{out}");
    }
}

#[test]
fn invalid_option_fails() {
    let site = Site::new();
    let o = run(&["-x"], site.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid option"), "{}", stderr(&o));
    let o = run(&["--shards", "0"], site.path());
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn missing_config_file_fails() {
    let site = Site::new();
    let o = run(&["-t", "-c", "does-not-exist.toml"], site.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does-not-exist.toml"), "{}", stderr(&o));
}

#[test]
fn no_config_uses_builtin_default_on_8080() {
    // The built-in default binds 127.0.0.1:8080; only run when that port is free.
    match std::net::TcpListener::bind("127.0.0.1:8080") {
        Ok(l) => drop(l),
        Err(e) => {
            eprintln!(
                "NOTE: skipping no_config_uses_builtin_default_on_8080: port 8080 busy ({e})"
            );
            return;
        }
    }
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("hello.txt"), "hello from cwd\n").unwrap();
    let mut cmd = Command::new(anx_bin());
    cmd.current_dir(cwd.path()).args(["--shards", "1"]);
    let anx = Anx::spawn(cmd);
    assert_eq!(anx.port, 8080);
    assert!(
        anx.stderr().iter().any(|l| l.contains("built-in default")),
        "{:?}",
        anx.stderr()
    );
    let r = anx.get("/hello.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello from cwd\n");
    // The default site lists the directory.
    let r = anx.get("/");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("hello.txt"), "{}", r.text());
    // -t with no config reports the built-in one.
    let o = run(&["-t"], cwd.path());
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("<built-in>"), "{}", stderr(&o));
}

/// `anx -T -c file`: exit 0, the two lines on stderr, and TOML on stdout that loads back to
/// the model `file` loads to (the library's loader on both sides).
fn dump_and_reload(conf: &Path, cwd: &Path) -> (anx::config::Config, String) {
    let o = run(&["-T", "-c", conf.to_str().unwrap()], cwd);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("syntax is ok"), "{err}");
    assert!(err.contains("test is successful"), "{err}");
    let dumped = stdout(&o);
    let original = anx::config::load(conf).expect("original loads");
    // The dump goes to another directory: nothing in it may depend on where it lies.
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("dumped.toml");
    std::fs::write(&copy, &dumped).unwrap();
    let mut reloaded = anx::config::load(&copy)
        .unwrap_or_else(|e| panic!("the dump does not load: {e}\n{dumped}"));
    reloaded.source = original.source.clone();
    assert_same_model(&original, &reloaded, &dumped);
    (original, dumped)
}

/// Part by part, so that a failure names what the dump lost.
fn assert_same_model(a: &anx::config::Config, b: &anx::config::Config, dumped: &str) {
    if let Some(diff) = a.first_difference(b) {
        panic!("{diff}\ndump:\n{dumped}");
    }
}

#[test]
fn dump_of_the_shipped_config_reloads_to_the_same_model() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/anx.toml");
    let cwd = tempfile::tempdir().unwrap();
    let (_, dumped) = dump_and_reload(&conf, cwd.path());
    assert!(dumped.contains("[main]"), "{dumped}");
    assert!(dumped.contains("[[server.location]]"), "{dumped}");
}

#[test]
fn dump_of_a_full_config_reloads_to_the_same_model() {
    let site = Site::new();
    let text = r#"
[main]
shards = 2
cpu_affinity = ["01", "10"]
worker_connections = 100
worker_shutdown_timeout = "1m"
pid = "anx.pid"
error_log_level = "warn"

[http]
keepalive_timeout = "5s"
root = "html"
add_header = [{ name = "X-From", value = "http" }]

[[http.log_format]]
name = "short"
format = '$remote_addr "$request" $status'

[[http.map]]
source = "$http_user_agent"
variable = "$is_bot"
default = "0"
entries = [["~*bot", "1"], ["curl/8.0", "2"]]

[[server]]
listen = ["127.0.0.1:0"]
server_name = ["a.example", "~^(?<sub>[a-z]+)\\.example$"]
access_log = { path = "access.log", format = "short", if = "$is_bot" }
rewrite = '''
set $who "$sub $is_bot";
if ($request_method = POST) { return 405; }
'''

[[server.location]]
path = "/"
try_files = ["$uri", "$uri/index.html", "@back"]
error_page = [{ codes = [404], target = "/missing.html", status = 200 }]

[[server.location.location]]
path = "/files/"
alias = "/srv/files/"
autoindex = true

[[server.location]]
path = '^/u/(\d+)/(.*)$'
match = "regex"
rewrite = '''
rewrite "^/u/(\d{1,3})/(.*)$" /users/$1/$2 break;
'''

[[server.location]]
path = "back"
match = "named"
return = { status = 302, text = "https://a.example/" }
"#;
    let conf = site.write("anx.toml", text);
    let (model, dumped) = dump_and_reload(&conf, site.path());
    assert_eq!(model.worker_connections, 100);
    assert!(dumped.contains("rewrite"), "{dumped}");
}

/// `-T` of an nginx.conf with upstream groups and proxy locations: the groups become
/// `[[upstream]]` tables, each proxy location carries its `proxy_pass` and settings.
#[test]
fn dump_of_a_proxy_config_reloads_to_the_same_model() {
    let site = Site::new();
    let text = r#"
events {}
http {
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_next_upstream error http_502;
    upstream app {
        hash $remote_addr consistent;
        server 127.0.0.1:9001 weight=3;
        server 127.0.0.1:9001 weight=3;
        server unix:/run/app.sock max_fails=0;
        keepalive 16;
        anx_health_check uri=/up status=200 status=204-206 scheme=http;
    }
    server {
        listen 127.0.0.1:0;
        location / { proxy_pass http://app/; proxy_redirect http://app/ /; }
        location /direct/ { proxy_pass http://127.0.0.1:9002; proxy_method HEAD; }
        location /var/ { proxy_pass http://app$request_uri; proxy_http_version 1.1; }
        location /sock { proxy_pass http://unix:/run/b.sock; proxy_buffering off; }
    }
}
"#;
    let conf = site.write("nginx.conf", text);
    let (model, dumped) = dump_and_reload(&conf, site.path());
    assert_eq!(model.upstreams.len(), 3, "app and two implicit groups");
    assert_eq!(model.upstreams[0].peers.len(), 3);
    assert!(dumped.contains("[[upstream]]"), "{dumped}");
    assert!(
        dumped.contains("proxy_pass = \"http://unix:/run/b.sock\""),
        "{dumped}"
    );
}

#[test]
fn dump_of_a_broken_config_prints_nothing_and_fails() {
    let site = Site::new();
    let conf = site.write(
        "anx.toml",
        "[[server]]\nlisten = [\"127.0.0.1:0\"]\nbogus = 1\n",
    );
    let o = run(&["-T", "-c", conf.to_str().unwrap()], site.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    assert!(stderr(&o).contains("anx: [emerg] "), "{}", stderr(&o));
    assert!(stderr(&o).contains("test failed"), "{}", stderr(&o));
}

#[test]
fn g_needs_nginx_syntax() {
    let site = Site::new();
    let conf = site.write("anx.toml", config("", "", ""));
    let o = run(
        &[
            "-t",
            "-c",
            conf.to_str().unwrap(),
            "-g",
            "worker_processes 2;",
        ],
        site.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("-g needs an nginx-syntax configuration"),
        "{}",
        stderr(&o)
    );
}

/// A site whose configuration names a pid file `anx.pid` next to it.
fn site_with_pid() -> (Site, std::path::PathBuf, std::path::PathBuf) {
    let site = Site::new();
    let text = config("", "", "").replace("[main]\n", "[main]\npid = \"anx.pid\"\n");
    let conf = site.write("anx.toml", text);
    let pid = site.path().join("anx.pid");
    (site, conf, pid)
}

fn start(conf: &Path, cwd: &Path) -> Anx {
    let mut cmd = Command::new(anx_bin());
    cmd.arg("-c")
        .arg(conf)
        .args(["--shards", "1"])
        .current_dir(cwd);
    Anx::spawn(cmd)
}

/// Waits (up to a generous bound) for the server to exit.
fn wait_exit(anx: &mut Anx) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !anx.alive() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn s_stop_stops_the_server_and_its_pid_file_goes() {
    let (site, conf, pid) = site_with_pid();
    let mut anx = start(&conf, site.path());
    let text = std::fs::read_to_string(&pid).expect("pid file written before ready");
    let number: u32 = text.trim_end().parse().expect("pid file holds a number");
    assert!(text.ends_with('\n'), "{text:?}");
    assert!(number > 1);

    let o = run(&["-s", "stop", "-c", conf.to_str().unwrap()], site.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(wait_exit(&mut anx), "anx still runs after -s stop");
    assert!(!pid.exists(), "pid file left behind");
}

#[test]
fn s_reload_and_reopen_deliver_signals_and_quit_stops() {
    let (site, conf, pid) = site_with_pid();
    let mut anx = start(&conf, site.path());
    let c = conf.to_str().unwrap();
    for (word, logged) in [
        ("reload", "(SIGHUP) received"),
        ("reopen", "(SIGUSR1) received"),
    ] {
        let o = run(&["-s", word, "-c", c], site.path());
        assert_eq!(o.status.code(), Some(0), "{word}: {}", stderr(&o));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !anx.stderr().iter().any(|l| l.contains(logged)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            anx.stderr().iter().any(|l| l.contains(logged)),
            "{word}: {:?}",
            anx.stderr()
        );
        assert!(anx.alive(), "{word} stopped the server");
    }
    let o = run(&["-s", "quit", "-c", c], site.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(wait_exit(&mut anx), "anx still runs after -s quit");
    assert!(!pid.exists(), "pid file left behind");
}

#[test]
fn s_without_a_pid_file_fails_like_nginx() {
    let (site, conf, pid) = site_with_pid();
    let c = conf.to_str().unwrap();
    let o = run(&["-s", "stop", "-c", c], site.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "anx: [error] open() \"{}\" failed (2: No such file or directory)",
            pid.display()
        )),
        "{}",
        stderr(&o)
    );

    std::fs::write(&pid, "").unwrap();
    let o = run(&["-s", "reload", "-c", c], site.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "anx: [error] invalid PID number \"\" in \"{}\"",
            pid.display()
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn s_without_pid_setting_says_so() {
    let site = Site::new();
    let conf = site.write("anx.toml", config("", "", ""));
    let o = run(&["-s", "reload", "-c", conf.to_str().unwrap()], site.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("anx: [error] no pid file: set \"pid\" in the configuration"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn worker_connections_limit_holds_new_connections_back() {
    let site = Site::new();
    site.write("html/a.txt", "a");
    let text = config("", "", "").replace("[main]\n", "[main]\nworker_connections = 2\n");
    let anx = Anx::start(&site, &text);
    let request = "GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut first = anx.connect();
    first.send(request);
    assert_eq!(first.response().status, 200);
    let mut second = anx.connect();
    second.send(request);
    assert_eq!(second.response().status, 200);

    // The shard is full: the third connection waits in the backlog, unanswered. (A slow
    // server could make this pass wrongly, never fail wrongly.)
    let mut third = anx.connect();
    third.send(request);
    third.set_read_timeout(Duration::from_millis(300));
    assert!(
        third.try_response(false).is_err(),
        "answered beyond the limit"
    );
    // One connection ends; the waiting one is accepted and answered.
    drop(first);
    third.set_read_timeout(READ_TIMEOUT);
    assert_eq!(third.response().status, 200);
    let warnings = anx
        .stderr()
        .iter()
        .filter(|l| l.contains("worker_connections are not enough"))
        .count();
    assert_eq!(warnings, 1, "{:?}", anx.stderr());
    drop(second);
}

#[test]
fn cpu_affinity_masks_pin_shards() {
    let site = Site::new();
    site.write("html/a.txt", "a");
    // CPU 0 exists everywhere; both shards share it.
    let text = config("", "", "").replace("[main]\n", "[main]\ncpu_affinity = [\"1\"]\n");
    let anx = Anx::start_shards(&site, &text, 2);
    assert!(
        anx.stderr().iter().any(|l| l.contains("on CPUs [0, 0]")),
        "{:?}",
        anx.stderr()
    );
    assert_eq!(anx.get("/a.txt").status, 200);

    // A mask naming a CPU this machine lacks fails the start, and says which.
    let mut mask = String::from("1");
    mask.push_str(&"0".repeat(1000));
    let text = config("", "", "").replace(
        "[main]\n",
        &format!("[main]\ncpu_affinity = [\"{mask}\"]\n"),
    );
    let conf = site.write("bad.toml", text);
    let o = run(
        &["-c", conf.to_str().unwrap(), "--shards", "1"],
        site.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cpu_affinity: CPU 1000 is not online"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn dump_of_the_shipped_nginx_config_reloads_to_the_same_model() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/nginx.conf");
    let cwd = tempfile::tempdir().unwrap();
    dump_and_reload(&conf, cwd.path());
}

#[test]
fn g_and_p_reach_the_nginx_front_end() {
    let site = Site::new();
    site.write(
        "conf/site.conf",
        "events {}\nhttp { server { listen 127.0.0.1:0; root html; location / {} } }\n",
    );
    // -c is relative to -p, and so are the configuration's relative paths.
    let prefix = site.path().to_str().unwrap();
    let o = run(
        &[
            "-T",
            "-p",
            prefix,
            "-c",
            "conf/site.conf",
            "-g",
            "worker_processes 3; pid run/anx.pid;",
        ],
        Path::new("/"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let dumped = stdout(&o);
    assert!(dumped.contains("shards = 3"), "{dumped}");
    let pid = site.path().join("run/anx.pid");
    assert!(
        dumped.contains(&format!("pid = \"{}\"", pid.display())),
        "{dumped}"
    );
    let root = site.path().join("html");
    assert!(
        dumped.contains(&format!("root = \"{}\"", root.display())),
        "{dumped}"
    );
}

#[test]
fn daemon_on_is_accepted_and_anx_says_it_stays_in_the_foreground() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        "daemon on;\nmaster_process off;\nevents {}\nhttp { server { listen 127.0.0.1:0; } }\n",
    )
    .unwrap();
    let o = run(&["-t", "-c", conf.to_str().unwrap()], dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("[warn] \"daemon on\" has no effect") && err.contains("nginx.conf:1"),
        "{err}"
    );
    assert!(!err.contains("master_process"), "{err}");
}
