//! Parity with real nginx: the same raw requests against nginx and anx serving the same
//! files must get the same status codes, except for the deviations listed (with reasons) in
//! [`DEVIATIONS`].
//!
//! Needs the Debian nginx binary (/usr/sbin/nginx; `apt-get install -y nginx-light`). When
//! it is missing the test FAILS: a parity suite that silently passes proves nothing.

mod common;

use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Known, intended differences: (case name, nginx status, anx status, why).
/// A case listed here must still produce exactly these two statuses.
const DEVIATIONS: &[(&str, u16, u16, &str)] = &[
    (
        "dotfile",
        200,
        403,
        "anx refuses dotfiles (.git, .env, .htpasswd) unless allow_dotfiles = true; nginx \
         serves them unless told not to",
    ),
    (
        "Range first > last",
        416,
        200,
        "\"bytes=5-3\" is syntactically invalid per RFC 9110 §14.1.1 and must be ignored \
         (full 200); nginx answers 416 (documented in src/filters/range.rs)",
    ),
    (
        "Range garbage",
        416,
        200,
        "\"bytes=abc\" is not a valid Range; RFC 9110 §14.2 says to ignore it and send the \
         full representation; nginx answers 416 (src/filters/range.rs ignores every syntax \
         error, the same choice as \"bytes=5-3\")",
    ),
    (
        "lowercase method",
        400,
        405,
        "methods are case-sensitive tokens (RFC 9110 §9.1): \"get\" is a valid, unknown \
         method, so a static location answers 405; nginx's parser only accepts A-Z and '_' \
         in methods and answers 400",
    ),
    (
        "OPTIONS *",
        400,
        405,
        "anx accepts the asterisk-form target of OPTIONS (RFC 9112 §3.2.4) and the static \
         location answers 405 with Allow; nginx rejects the asterisk-form with 400",
    ),
    (
        "HTTP/1.2 request line",
        200,
        505,
        "nginx serves HTTP/1.2+ as 1.1; httparse does not parse minor versions above 1, so anx \
         refuses them clearly (documented in src/http/request.rs)",
    ),
];

fn nginx_bin() -> PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "nginx is not installed (looked for /usr/sbin/nginx): the parity test needs it. \
         Install it with `apt-get install -y nginx-light` (CI does)."
    );
}

/// A running nginx, killed on drop.
struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn start_nginx(site: &Site) -> Nginx {
    let bin = nginx_bin();
    let dir = site.path().join("nginx");
    std::fs::create_dir_all(dir.join("body")).unwrap();
    let mut last_err = String::new();
    for _attempt in 0..3 {
        let port = free_port();
        let conf = format!(
            r#"daemon off;
master_process off;
error_log {dir}/e.log info;
pid {dir}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    types {{
        text/html html htm;
        text/css css;
        text/plain txt;
        application/javascript js;
        image/png png;
    }}
    default_type text/plain;
    access_log off;
    client_body_temp_path {dir}/body;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ }}
    }}
}}
"#,
            dir = dir.display(),
            root = site.root().display(),
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut child = Command::new(&bin)
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("e.log"))
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nginx");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut stderr);
                }
                let log = std::fs::read_to_string(dir.join("e.log")).unwrap_or_default();
                last_err = format!("nginx exited with {status}: {stderr}\n{log}");
                break;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // Drop the stderr pipe reader side concerns: nginx logs to e.log.
                return Nginx { child, port, dir };
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("nginx did not start listening on {port} within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("nginx failed to start: {last_err}");
}

/// The status of the first response to `raw` on a fresh connection; 0 when the server
/// closed without answering.
fn status_of(port: u16, raw: &[u8]) -> u16 {
    let mut c = Conn::open(port);
    c.send_lossy(raw);
    match c.try_response(raw.starts_with(b"HEAD ")) {
        Ok(r) => r.status,
        Err(e) if e.contains("closed") => 0,
        Err(e) => panic!(
            "port {port}: no response to {:?}: {e}",
            String::from_utf8_lossy(raw)
        ),
    }
}

fn cases(site: &Site) -> Vec<(&'static str, Vec<u8>)> {
    let meta = std::fs::metadata(site.root().join("a.txt")).unwrap();
    let etag = format!("\"{:x}-{:x}\"", meta.mtime(), meta.size());
    let last_modified =
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(meta.mtime() as u64));
    let get = |target: &str, extra: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n").into_bytes()
    };
    let b = |s: &str| s.as_bytes().to_vec();
    vec![
        ("GET file", get("/a.txt", "")),
        ("GET index", get("/", "")),
        ("GET index.html", get("/index.html", "")),
        ("GET css", get("/style.css", "")),
        ("HEAD file", b("HEAD /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")),
        ("404", get("/missing.txt", "")),
        ("404 nested", get("/nope/deeper/x.html", "")),
        ("dir without slash", get("/sub", "")),
        ("dir with slash, no index", get("/noindex/", "")),
        ("dir with index", get("/sub/", "")),
        ("query string", get("/a.txt?x=1&y=2", "")),
        ("encoded name", get("/%61.txt", "")),
        ("Range single", get("/a.txt", "Range: bytes=0-4\r\n")),
        ("Range suffix", get("/a.txt", "Range: bytes=-3\r\n")),
        ("Range open end", get("/a.txt", "Range: bytes=3-\r\n")),
        ("Range multi", get("/a.txt", "Range: bytes=0-1,3-4\r\n")),
        ("Range past end", get("/a.txt", "Range: bytes=100-200\r\n")),
        ("Range first > last", get("/a.txt", "Range: bytes=5-3\r\n")),
        ("Range garbage", get("/a.txt", "Range: bytes=abc\r\n")),
        ("Range other unit", get("/a.txt", "Range: items=0-1\r\n")),
        ("If-None-Match", get("/a.txt", &format!("If-None-Match: {etag}\r\n"))),
        ("If-None-Match *", get("/a.txt", "If-None-Match: *\r\n")),
        ("If-None-Match other", get("/a.txt", "If-None-Match: \"x-y\"\r\n")),
        (
            "If-Modified-Since",
            get("/a.txt", &format!("If-Modified-Since: {last_modified}\r\n")),
        ),
        (
            "If-Modified-Since old",
            get("/a.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"),
        ),
        (
            "If-Match mismatch",
            get("/a.txt", "If-Match: \"nope\"\r\n"),
        ),
        (
            "If-Range match",
            get(
                "/a.txt",
                &format!("Range: bytes=0-1\r\nIf-Range: {etag}\r\n"),
            ),
        ),
        (
            "If-Range mismatch",
            get("/a.txt", "Range: bytes=0-1\r\nIf-Range: \"old\"\r\n"),
        ),
        ("traversal ..", get("/../secret.txt", "")),
        ("traversal encoded", get("/%2e%2e/secret.txt", "")),
        ("traversal encoded slash", get("/..%2fsecret.txt", "")),
        ("traversal double slash", get("//..//secret.txt", "")),
        ("traversal nested", get("/sub/../../secret.txt", "")),
        ("dot segments inside", get("/sub/../a.txt", "")),
        ("encoded NUL", get("/a.txt%00.html", "")),
        ("bad percent", get("/%zz", "")),
        ("dotfile", get("/.hidden", "")),
        ("absolute-form", get("http://localhost/a.txt", "")),
        (
            "request line too long",
            get(&format!("/{}", "a".repeat(10_000)), ""),
        ),
        (
            "header section too large",
            get("/a.txt", &format!("X-Big: {}\r\n", "b".repeat(40_000))),
        ),
        ("missing Host", b("GET /a.txt HTTP/1.1\r\n\r\n")),
        ("HTTP/1.0 without Host", b("GET /a.txt HTTP/1.0\r\n\r\n")),
        (
            "duplicate Host",
            b("GET /a.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        ),
        (
            "CL + TE",
            b("POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ),
        (
            "duplicate CL",
            b("POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"),
        ),
        (
            "malformed CL",
            b("POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3x\r\n\r\nabc"),
        ),
        (
            "unknown TE",
            b("POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
        ),
        (
            "NUL in header",
            b("GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: b\0c\r\n\r\n"),
        ),
        ("HTTP/2.0 request line", b("GET /a.txt HTTP/2.0\r\nHost: x\r\n\r\n")),
        ("HTTP/3.0 request line", b("GET /a.txt HTTP/3.0\r\nHost: x\r\n\r\n")),
        ("HTTP/1.2 request line", b("GET /a.txt HTTP/1.2\r\nHost: x\r\n\r\n")),
        ("garbage version", b("GET /a.txt FOO/1.1\r\nHost: x\r\n\r\n")),
        ("unknown method", b("FOO /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")),
        ("DELETE on static", b("DELETE /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")),
        (
            "POST on static",
            b("POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"),
        ),
        (
            "chunked POST on static",
            b("POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        ),
        (
            "body over 1m",
            b("POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n"),
        ),
        (
            "whitespace before colon",
            b("GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n"),
        ),
        (
            "obs-fold",
            b("GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n"),
        ),
        (
            "bare CR in header",
            b("GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n"),
        ),
        ("bare LF line ends", b("GET /a.txt HTTP/1.1\nHost: x\n\n")),
        ("lowercase method", b("get /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")),
        ("OPTIONS *", b("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")),
        (
            "unknown Expect",
            b("GET /a.txt HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n"),
        ),
        (
            "leading empty lines",
            b("\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
        ),
        (
            "Connection: close",
            b("GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        ),
    ]
}

#[test]
fn status_codes_match_nginx() {
    let site = Site::new();
    site.write("html/index.html", "<h1>index</h1>\n");
    site.write("html/a.txt", "0123456789\n");
    site.write("html/style.css", "body{}\n");
    site.write("html/sub/index.html", "<h1>sub</h1>\n");
    site.write("html/noindex/x.txt", "x\n");
    site.write("html/.hidden", "dot\n");
    site.write("secret.txt", "SECRET\n");
    let nginx = start_nginx(&site);
    let anx = Anx::start(&site, &config("", "", ""));

    let mut mismatches = Vec::new();
    let mut report = String::new();
    for (name, raw) in cases(&site) {
        let n = status_of(nginx.port, &raw);
        let a = status_of(anx.port, &raw);
        report.push_str(&format!("{name:<28} nginx {n:>3}  anx {a:>3}\n"));
        match DEVIATIONS.iter().find(|d| d.0 == name) {
            Some(&(_, dn, da, _)) => {
                if (n, a) != (dn, da) {
                    mismatches.push(format!(
                        "{name}: documented deviation nginx {dn} / anx {da}, got nginx {n} / anx {a}"
                    ));
                }
            }
            None => {
                if n != a {
                    mismatches.push(format!(
                        "{name}: nginx {n}, anx {a}; request {:?}",
                        String::from_utf8_lossy(&raw[..raw.len().min(200)])
                    ));
                }
            }
        }
    }
    eprintln!("{report}");
    assert!(
        mismatches.is_empty(),
        "status codes differ from nginx:\n{}\n\nfull table:\n{report}\nnginx error log: {}",
        mismatches.join("\n"),
        std::fs::read_to_string(nginx.dir.join("e.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("client"))
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn deviation_table_is_well_formed() {
    for (name, n, a, why) in DEVIATIONS {
        assert_ne!(n, a, "{name}: a deviation must differ");
        assert!(why.len() > 20, "{name}: give a reason");
    }
}
