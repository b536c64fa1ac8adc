//! `error_log` in http, server and location end to end: the lines of a request go to the
//! logs of the scope serving it (and not to the main log), from the static handler and from
//! the proxy exchange alike; `log_not_found on|off`, with nginx's wording compared against
//! real nginx; reopening on SIGUSR1. Also `index` with variables and an absolute index, and
//! `$pipe`, which the same nginx-tests files check.
//!
//! Needs Debian's nginx (`apt-get install -y nginx-light`) for the comparison.

mod common;

use common::*;
use std::time::Duration;

use common::backend::refused_port;
use common::{log_line_with as line_with, read_log as read};

/// `TIME [error] PID#N: *C message` → `[error] message`, the site's path as `SITE`.
fn shape(line: &str, site: &Site) -> String {
    let rest = &line[20..];
    let (level, rest) = rest.split_once(' ').unwrap();
    let (_, rest) = rest.split_once(": ").unwrap();
    let rest = rest.split_once(' ').map_or(rest, |(_, r)| r);
    let site_path = site.path().canonicalize().unwrap();
    format!("{level} {rest}")
        .replace(&site_path.display().to_string(), "SITE")
        .replace(&site.path().display().to_string(), "SITE")
}

fn scoped_conf(dead: u16) -> String {
    format!(
        "error_log logs/main.log info;\nevents {{}}\nhttp {{\n    server {{\n        \
         listen 127.0.0.1:0;\n        server_name s;\n        root html;\n        \
         location / {{ }}\n        \
         location /scoped/ {{\n            error_log logs/scoped.log;\n            \
         error_log logs/scoped-warn.log warn;\n            \
         location /scoped/quiet/ {{ error_log logs/quiet.log; log_not_found off; }}\n        }}\n        \
         location /up/ {{ error_log logs/up.log; proxy_pass http://127.0.0.1:{dead}; }}\n    }}\n}}\n"
    )
}

#[test]
fn a_location_log_takes_its_requests_lines_and_the_main_log_does_not() {
    let site = Site::new();
    site.mkdir("html/scoped");
    let anx = Anx::start_conf(&site, &scoped_conf(refused_port()), 1);
    // Created at start, before any line (nginx opens them at load).
    for name in ["scoped.log", "scoped-warn.log", "quiet.log", "up.log"] {
        assert!(site.path().join("logs").join(name).exists(), "{name}");
    }
    assert_eq!(anx.get("/scoped/missing.html").status, 404);
    assert_eq!(anx.get("/scoped/quiet/missing.html").status, 404);
    assert_eq!(anx.get("/elsewhere.html").status, 404);
    let scoped = line_with(&site, "scoped.log", "missing.html");
    assert!(
        scoped.contains("[error]")
            && scoped.contains("/html/scoped/missing.html\" failed (2: No such file or directory), client: 127.0.0.1, server: s, request: \"GET /scoped/missing.html HTTP/1.1\", host: \"localhost"),
        "{scoped}"
    );
    // Every log of the level receives what its level admits.
    line_with(&site, "scoped-warn.log", "scoped/missing.html");
    // The main log has the request outside the scope only.
    line_with(&site, "main.log", "elsewhere.html");
    let main = read(&site, "main.log");
    assert!(!main.contains("scoped/missing.html"), "{main}");
    // log_not_found off: nothing anywhere.
    assert!(read(&site, "quiet.log").is_empty());
    assert!(!main.contains("quiet/missing.html"), "{main}");
    assert!(!read(&site, "scoped.log").contains("quiet"));
}

#[test]
fn the_proxy_exchange_logs_to_its_location_across_awaits() {
    let site = Site::new();
    let anx = Anx::start_conf(&site, &scoped_conf(refused_port()), 1);
    assert_eq!(anx.get("/up/x").status, 502);
    let line = line_with(&site, "up.log", "connect() failed");
    assert!(line.contains("while connecting to upstream"), "{line}");
    assert!(!read(&site, "main.log").contains("connect() failed"));
}

#[test]
fn reopen_moves_a_location_log_to_a_new_file() {
    let site = Site::new();
    let anx = Anx::start_conf(&site, &scoped_conf(refused_port()), 1);
    assert_eq!(anx.get("/scoped/one.html").status, 404);
    line_with(&site, "scoped.log", "one.html");
    let logs = site.path().join("logs");
    std::fs::rename(logs.join("scoped.log"), logs.join("scoped.log.1")).unwrap();
    anx.signal(libc::SIGUSR1);
    // The reopen is asynchronous: ask until a line lands in the new file.
    poll_until(
        Duration::from_secs(15),
        "a line in the reopened log",
        || {
            assert_eq!(anx.get("/scoped/two.html").status, 404);
            read(&site, "scoped.log").contains("two.html").then_some(())
        },
    );
    assert!(read(&site, "scoped.log.1").contains("one.html"));
}

#[test]
fn toml_location_error_log_and_log_not_found() {
    let site = Site::new();
    let config = config(
        "",
        "",
        "[[server.location]]\npath = \"/\"\nerror_log = \"logs/loc.log\"\n\n\
         [[server.location]]\npath = \"/quiet/\"\nerror_log = { path = \"logs/q.log\", level = \"info\" }\nlog_not_found = false\n",
    );
    let anx = Anx::start(&site, &config);
    assert_eq!(anx.get("/nope.html").status, 404);
    assert_eq!(anx.get("/quiet/nope.html").status, 404);
    line_with(&site, "loc.log", "nope.html");
    assert!(read(&site, "q.log").is_empty());
}

/// nginx's words for a missing file and a missing directory, line for line.
#[test]
fn not_found_lines_match_nginx() {
    let conf = "events {}\nhttp {\n    server {\n        listen 127.0.0.1:0;\n        \
                server_name s;\n        root html;\n        \
                location / { error_log logs/loc.log; }\n    }\n}\n";
    let (nginx_site, anx_site) = (Site::new(), Site::new());
    let mut shapes = Vec::new();
    for (i, site) in [&nginx_site, &anx_site].into_iter().enumerate() {
        site.mkdir("logs");
        site.mkdir("html");
        let server = if i == 0 {
            Anx::start_nginx(site, conf)
        } else {
            Anx::start_conf(site, conf, 1)
        };
        assert_eq!(server.get("/missing.html").status, 404);
        assert_eq!(server.get("/nodir/").status, 404);
        let file = line_with(site, "loc.log", "missing.html");
        let dir = line_with(site, "loc.log", "nodir");
        shapes.push((shape(&file, site), shape(&dir, site)));
    }
    assert_eq!(shapes[1], shapes[0]);
}

#[test]
fn index_with_variables_and_an_absolute_index() {
    let site = Site::new();
    site.write("html/s.html", "by name");
    site.write("html/dir/s.html", "in dir");
    site.write("html/re.html", "redirected");
    let conf = "events {}\nhttp {\n    server {\n        listen 127.0.0.1:0;\n        \
                server_name s;\n        root html;\n        add_header X-URI $uri;\n        \
                location /dir/ { index $server_name.html; }\n        \
                location /var_redirect/ { index /$server_name.html; }\n        \
                location /redirect/ { index missing.html /re.html; }\n    }\n}\n";
    let anx = Anx::start_conf(&site, conf, 1);
    let r = anx.get("/dir/");
    assert_eq!((r.status, r.text()), (200, "in dir".to_string()));
    assert_eq!(r.header("X-URI"), Some("/dir/s.html"));
    // An absolute index is an internal redirect without a file test (the directories
    // of these locations do not exist).
    let r = anx.get("/var_redirect/");
    assert_eq!((r.status, r.text()), (200, "by name".to_string()));
    assert_eq!(r.header("X-URI"), Some("/s.html"));
    let r = anx.get("/redirect/");
    assert_eq!((r.status, r.text()), (200, "redirected".to_string()));
}

#[test]
fn pipe_tells_pipelined_requests() {
    let site = Site::new();
    let conf = "events {}\nhttp {\n    log_format p '$uri $pipe';\n    server {\n        \
                listen 127.0.0.1:0;\n        server_name s;\n        \
                location / { access_log logs/pipe.log p; return 200; }\n    }\n}\n";
    let anx = Anx::start_conf(&site, conf, 1);
    let mut c = anx.connect();
    c.send(
        "GET /a HTTP/1.1\r\nHost: s\r\n\r\nGET /b HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(c.response().status, 200);
    assert_eq!(c.response().status, 200);
    drop(c);
    let mut c = anx.connect();
    c.send("GET /c HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response().status, 200);
    poll_until(Duration::from_secs(15), "three access-log lines", || {
        (read(&site, "pipe.log").lines().count() == 3).then_some(())
    });
    assert_eq!(read(&site, "pipe.log"), "/a .\n/b p\n/c .\n");
}
