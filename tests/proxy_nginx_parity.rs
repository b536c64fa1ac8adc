//! Proxy parity with nginx: Debian's nginx and anx load the same proxy configuration and
//! sit in front of identical echo backends (one each, so every request is attributed to
//! the server that forwarded it). For every case the same client request goes to both, and
//! these must be equal:
//!
//! * what the backend received: the request line and the set of header fields (name and
//!   value; order is not compared), after the servers' own ports are replaced by `{PORT}`
//!   and the backends' by `{BACKEND}`;
//! * what the client got: the status, `Location` and `Content-Type`.
//!
//! The cases are about URI rewriting (`proxy_pass` with and without a URI part, replaced
//! prefixes, regex locations, variables, `rewrite ... break`, encoded characters and
//! arguments), the header fields the proxy sets (`Host`, `Connection`, forwarding fields,
//! `proxy_set_header` with empty values) and `proxy_redirect` on the backend's `Location`.
//! Hop-by-hop fields are left out on purpose: anx strips every field named in `Connection`
//! and `Proxy-*` (RFC 9110 §7.6.1), nginx forwards them; `proxy_basic.rs` covers anx's rule.
//!
//! All mismatches are reported at once. Needs /usr/sbin/nginx (`apt-get install -y
//! nginx-light`); without it the test fails.

mod common;

use common::backend::*;
use common::nginx::*;
use common::*;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

/// The conf both load; `@PORT@` is the server's listen port, `@B@` its backend's address.
const CONF: &str = r#"
    upstream b { server @B@; }

    server {
        listen 127.0.0.1:@PORT@;
        server_name parity.test;

        location /app/ { proxy_pass http://b/; }
        location /base/ { proxy_pass http://b/other/; }
        location /p { proxy_pass http://b/q; }
        location /direct/ { proxy_pass http://@B@/d/; }
        location ~ ^/re/(\w+) { proxy_pass http://b; }
        location /rw/ { rewrite ^/rw/(.*)$ /inner/$1 break; proxy_pass http://b; }
        location /rwq/ { rewrite ^/rwq/(.*)$ /inner?x=$1 break; proxy_pass http://b; }
        location /rwq2/ { rewrite ^/rwq2/(.*)$ /inner?x=$1? break; proxy_pass http://b; }
        location /var/ { proxy_pass http://b$request_uri; }
        location /varuri/ { proxy_pass http://b/fixed$uri$is_args$args; }
        location /hdr/ {
            proxy_pass http://b/;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Empty "";
            proxy_set_header User-Agent "";
        }
        location /hostport/ { proxy_pass http://b/; proxy_set_header Host $host:$server_port; }
        location /v11/ { proxy_pass http://b/; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /method/ { proxy_pass http://b/; proxy_method PUT; }
        location /redir/ { proxy_pass http://b/; }
        location /redir-off/ { proxy_pass http://b/; proxy_redirect off; }
        location /redir-exp/ { proxy_pass http://b/; proxy_redirect http://b/ /mapped/; }
        location / { proxy_pass http://b; }
    }
"#;

fn conf(port: u16, backend: &str, nginx_only: &str) -> String {
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\nerror_log stderr info;\n\
         events {{ worker_connections 256; }}\nhttp {{\n    access_log off;\n{nginx_only}\n{}\n}}\n",
        CONF.replace("@PORT@", &port.to_string())
            .replace("@B@", backend)
    )
}

struct Case {
    target: &'static str,
    method: &'static str,
    headers: &'static str,
    body: &'static str,
}

fn get(target: &'static str) -> Case {
    Case {
        target,
        method: "GET",
        headers: "",
        body: "",
    }
}

impl Case {
    fn headers(mut self, h: &'static str) -> Case {
        self.headers = h;
        self
    }
    fn post(mut self, body: &'static str) -> Case {
        self.method = "POST";
        self.body = body;
        self
    }
    fn raw(&self) -> String {
        let len = if self.method == "POST" {
            format!("Content-Length: {}\r\n", self.body.len())
        } else {
            String::new()
        };
        format!(
            "{} {} HTTP/1.1\r\nHost: parity.test\r\n{}{len}Connection: close\r\n\r\n{}",
            self.method, self.target, self.headers, self.body
        )
    }
}

fn cases() -> Vec<Case> {
    vec![
        get("/app/x"),
        get("/app/"),
        get("/app/a/b?q=1&r=2"),
        get("/app/a%20b"),
        get("/app/caf%C3%A9"),
        get("/app/a%2Fb"),
        get("/app/x/../y"),
        get("/app//double"),
        get("/base/x?k=v"),
        get("/p/y"),
        get("/pz"),
        get("/p"),
        get("/direct/x?y"),
        get("/re/abc?z=1"),
        get("/re/a%20b"),
        get("/rw/z?k=v"),
        get("/rw/a%20b"),
        get("/rwq/z?k=v"),
        get("/rwq2/z?k=v"),
        get("/var/x?y=1"),
        get("/var/a%20b?c=%41"),
        get("/varuri/x?y=1"),
        get("/varuri/x"),
        get("/zz/a%20b/c%2Fd?x=%41&y"),
        get("/plain/a%20b/c%2Fd?x=%41&y"),
        get("/zz//x/./y/../z"),
        get("/plain//x/./y/../z"),
        get("/zz?"),
        get("/zz/%7Euser/%41%42"),
        get("/hdr/x"),
        get("/hdr/x").headers("X-Forwarded-For: 10.0.0.1\r\nUser-Agent: test-agent\r\n"),
        get("/hdr/x").headers("X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\nX-Empty: client\r\n"),
        get("/hostport/x"),
        get("/v11/x"),
        get("/method/x"),
        get("/app/post").post("hello=world"),
        get("/app/x").headers("Accept: text/html\r\nCookie: a=1; b=2\r\nX-Custom: v\r\n"),
        get("/redir/x?loc=http://b/login"),
        get("/redir/x?loc=http://b/deep/er?q=1"),
        get("/redir/x?loc=/relative/path"),
        get("/redir/x?loc=http://elsewhere.example/x"),
        get("/redir-off/x?loc=http://b/login"),
        get("/redir-exp/x?loc=http://b/login"),
    ]
}

/// The backend: echoes, or redirects to `?loc=...` when given one.
fn backend() -> Backend {
    Backend::start(|req| match req.arg("loc") {
        Some(loc) => Reply::text(302, "moved\n").header("Location", loc),
        None => Reply::echo(req),
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running nginx, killed on drop.
struct Nginx {
    _process: NginxProcess,
    port: u16,
}

fn start_nginx(site: &Site, backend: &str) -> Nginx {
    let bin = Path::new("/usr/sbin/nginx");
    assert!(
        bin.exists(),
        "nginx is not installed: this parity test needs /usr/sbin/nginx \
         (`apt-get install -y nginx-light`)"
    );
    let dir = site.mkdir("nginx");
    let mut temp = String::new();
    for t in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(dir.join(t)).unwrap();
        temp.push_str(&format!("    {t}_temp_path {};\n", dir.join(t).display()));
    }
    let port = free_port();
    let text = conf(port, backend, &temp).replacen(
        "daemon off;",
        &format!("daemon off;\npid {};", dir.join("nginx.pid").display()),
        1,
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, text).unwrap();
    let mut process = NginxProcess::spawn(
        bin,
        site.path(),
        &dir.join("startup.log"),
        &path,
        &dir.join("stderr.log"),
    );
    let deadline = Instant::now() + START_DEADLINE;
    while !connects(port) {
        if let Some(status) = process.exited() {
            panic!(
                "nginx exited with {status}: {}{}",
                std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default(),
                std::fs::read_to_string(dir.join("startup.log")).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "nginx did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx {
        _process: process,
        port,
    }
}

/// What one server did with one case, rendered for comparison.
fn render(port: u16, b: &Backend, case: &Case) -> String {
    b.clear();
    let mut c = Conn::open(port);
    c.send(case.raw());
    let r = match c.try_response(false) {
        Ok(r) => r,
        Err(e) => return format!("no response: {e}"),
    };
    let client = format!(
        "status {} | location {} | content-type {}",
        r.status,
        r.header("location").unwrap_or("-"),
        r.header("content-type").unwrap_or("-")
    );
    let reqs = b.requests();
    let upstream = match reqs.as_slice() {
        [] => "backend saw nothing".to_string(),
        [req] => {
            let mut fields: Vec<String> = req
                .headers
                .iter()
                .map(|(n, v)| format!("{}: {v}", n.to_ascii_lowercase()))
                .collect();
            fields.sort();
            format!(
                "{} {} {} | {} | body {:?}",
                req.method,
                req.target,
                req.version,
                fields.join(" | "),
                String::from_utf8_lossy(&req.body)
            )
        }
        more => format!("backend saw {} requests", more.len()),
    };
    let text = format!("{client}\n      upstream: {upstream}");
    text.replace(&port.to_string(), "{PORT}")
        .replace(&b.addr(), "{BACKEND}")
        .replace(&b.port().to_string(), "{BACKEND_PORT}")
}

#[test]
fn proxy_requests_match_nginx() {
    let site = Site::new();
    let bn = backend();
    let ba = backend();
    let nginx = start_nginx(&site, &bn.addr());
    let anx = Anx::start_conf(&site, &conf(0, &ba.addr(), ""), 1);
    let mut diffs = Vec::new();
    let show = std::env::var_os("ANX_PARITY_SHOW").is_some();
    let cases = cases();
    for case in &cases {
        let n = render(nginx.port, &bn, case);
        let a = render(anx.port, &ba, case);
        if show {
            println!("{} {}\n  nginx: {n}", case.method, case.target);
        }
        if n != a {
            diffs.push(format!(
                "{} {} {:?}\n  nginx: {n}\n  anx:   {a}",
                case.method, case.target, case.headers
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} of {} cases differ from nginx:\n{}",
        diffs.len(),
        cases.len(),
        diffs.join("\n")
    );
}
