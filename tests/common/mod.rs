//! Shared harness for the integration tests: a temporary site, a running `anx` child
//! process, and raw-socket helpers that speak just enough HTTP/1.1 to check the server.
//!
//! Nothing here asserts wall-clock durations: deadlines and read timeouts are generous upper
//! bounds that only turn a hang into a clear failure.

#![allow(dead_code)]

pub mod backend;
pub mod nginx;
pub mod ws;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long anx may take to print "ready".
pub const START_DEADLINE: Duration = Duration::from_secs(20);
/// Default read timeout on test sockets: a response that takes longer is a hang.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The path of the anx binary Cargo built for these tests.
pub fn anx_bin() -> &'static str {
    env!("CARGO_BIN_EXE_anx")
}

/// A temporary directory holding `anx.toml`, the document root `html/` and anything else a
/// test needs next to it.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Default for Site {
    fn default() -> Self {
        Self::new()
    }
}

impl Site {
    pub fn new() -> Site {
        let dir = tempfile::Builder::new()
            .prefix("anx-it-")
            .tempdir()
            .expect("create temp dir");
        std::fs::create_dir_all(dir.path().join("html")).unwrap();
        Site { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The document root (`root = "html"` in the configs below).
    pub fn root(&self) -> PathBuf {
        self.path().join("html")
    }

    /// Writes a file relative to the site directory (e.g. "html/a.txt"), creating parents.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    pub fn symlink(&self, target: impl AsRef<Path>, rel: &str) {
        std::os::unix::fs::symlink(target, self.path().join(rel)).unwrap();
    }
}

/// A config with one server on 127.0.0.1:0, root "html", plus the given `[http]` lines,
/// server lines and `[[server.location]]` blocks (none → a "/" location).
pub fn config(http: &str, server: &str, locations: &str) -> String {
    let locations = if locations.trim().is_empty() {
        "[[server.location]]\npath = \"/\"\n"
    } else {
        locations
    };
    format!(
        "[main]\nerror_log_level = \"info\"\n\n[http]\n{http}\n\n[[server]]\nlisten = [\"127.0.0.1:0\"]\nroot = \"html\"\n{server}\n\n{locations}\n"
    )
}

/// A running anx; killed on drop.
pub struct Anx {
    child: Child,
    /// The first listening port.
    pub port: u16,
    /// Every "listening on" port, in the order printed.
    pub ports: Vec<u16>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Anx {
    /// Writes `config` to `<site>/anx.toml` and starts anx on one shard.
    pub fn start(site: &Site, config: &str) -> Anx {
        Self::start_shards(site, config, 1)
    }

    pub fn start_shards(site: &Site, config: &str, shards: usize) -> Anx {
        Self::start_file(site, "anx.toml", config, shards)
    }

    /// Writes an nginx-syntax `conf` to `<site>/anx.conf` and starts anx with `shards`.
    ///
    /// With `ANX_TESTS_AGAINST_NGINX=1` in the environment, starts Debian's nginx on the
    /// same conf instead (one worker, its listen port chosen here): a way to check that the
    /// proxy tests themselves expect what nginx does. anx's own directives (`anx_*`) make
    /// nginx refuse the conf, and tests of anx-only behaviour then fail, as they should.
    pub fn start_conf(site: &Site, conf: &str, shards: usize) -> Anx {
        if std::env::var_os("ANX_TESTS_AGAINST_NGINX").is_some_and(|v| v == "1") {
            return Self::start_nginx(site, conf);
        }
        Self::start_file(site, "anx.conf", conf, shards)
    }

    /// Writes `config` to `<site>/<name>` (its extension picks the format) and starts anx
    /// on it with `shards`, in the site directory.
    fn start_file(site: &Site, name: &str, config: &str, shards: usize) -> Anx {
        Self::start_file_env(site, name, config, shards, &[])
    }

    /// [`Anx::start_conf`] with extra environment variables (debug-build test hooks).
    pub fn start_conf_env(site: &Site, conf: &str, shards: usize, env: &[(&str, &str)]) -> Anx {
        Self::start_file_env(site, "anx.conf", conf, shards, env)
    }

    fn start_file_env(
        site: &Site,
        name: &str,
        config: &str,
        shards: usize,
        env: &[(&str, &str)],
    ) -> Anx {
        let path = site.path().join(name);
        std::fs::write(&path, config).unwrap();
        let mut cmd = Command::new(anx_bin());
        cmd.arg("-c")
            .arg(&path)
            .arg("--shards")
            .arg(shards.to_string())
            .current_dir(site.path())
            .envs(env.iter().copied());
        Self::spawn(cmd)
    }

    /// Debian's nginx on `conf` (one worker, no master), its port chosen here; killed on drop.
    pub fn start_nginx(site: &Site, conf: &str) -> Anx {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let dir = site.path().join("nginx");
        for t in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir_all(dir.join(t)).unwrap();
        }
        let d = dir.display();
        let conf = conf
            .replace("listen 127.0.0.1:0;", &format!("listen 127.0.0.1:{port};"))
            .replacen(
                "http {",
                &format!(
                    "http {{\n    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; \
                     fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; \
                     scgi_temp_path {d}/scgi;"
                ),
                1,
            );
        let conf = if conf.contains("daemon off;") {
            conf.replacen(
                "daemon off;",
                &format!("daemon off;\npid {d}/nginx.pid;"),
                1,
            )
        } else {
            format!("daemon off;\nmaster_process off;\npid {d}/nginx.pid;\n{conf}")
        };
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let mut cmd = Command::new("/usr/sbin/nginx");
        cmd.arg("-p")
            .arg(site.path())
            .arg("-e")
            .arg("stderr")
            .arg("-c")
            .arg(&path)
            .current_dir(site.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn nginx");
        let lines = capture_lines(child.stderr.take().unwrap()).0;
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "nginx exited ({status}):\n{}",
                    lines.lock().unwrap().join("\n")
                );
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "nginx did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Anx {
            child,
            port,
            ports: vec![port],
            lines,
        }
    }

    /// Starts a prepared command (stderr is piped here) and waits for "ready".
    pub fn spawn(mut cmd: Command) -> Anx {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn anx");
        let (lines, rx) = capture_lines(child.stderr.take().unwrap());
        let deadline = Instant::now() + START_DEADLINE;
        let mut ports = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    // A Unix socket (`unix:/path`) has no port to note.
                    if let Some(rest) = line
                        .strip_prefix("anx: listening on ")
                        .filter(|r| !r.starts_with("unix:"))
                    {
                        let port = rest
                            .rsplit(':')
                            .next()
                            .and_then(|p| p.trim().parse::<u16>().ok())
                            .unwrap_or_else(|| panic!("cannot parse port from {line:?}"));
                        ports.push(port);
                    }
                    if line.starts_with("anx: ready") {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "anx did not print \"ready\" within {START_DEADLINE:?}; stderr:\n{}",
                        lines.lock().unwrap().join("\n")
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait();
                    panic!(
                        "anx exited before \"ready\" ({status:?}); stderr:\n{}",
                        lines.lock().unwrap().join("\n")
                    );
                }
            }
        }
        assert!(!ports.is_empty(), "anx printed ready but no listening port");
        // Keep draining into `lines` (the thread does it); drop the channel side.
        drop(rx);
        Anx {
            child,
            port: ports[0],
            ports,
            lines,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn connect(&self) -> Conn {
        Conn::open(self.port)
    }

    /// Everything anx printed on stderr so far.
    pub fn stderr(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now (VmRSS from /proc), in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }

    /// Stderr lines containing every one of `needles`.
    pub fn stderr_matching(&self, needles: &[&str]) -> Vec<String> {
        self.stderr()
            .into_iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .collect()
    }

    /// The first stderr line containing every one of `needles`, waiting for it up to 20 s
    /// (the server writes its log while the client already has its answer).
    #[allow(dead_code)]
    pub fn wait_stderr(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = self.stderr_matching(needles).into_iter().next() {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no stderr line with {needles:?}: {:?}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` (`libc::SIGHUP`, …) to the server.
    pub fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.pid()).expect("a pid");
        // SAFETY: kill(2) takes plain integers and touches no memory of ours.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// The exit status, once the process has ended.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Still running (not crashed)?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// One request on a fresh connection; returns the response.
    pub fn get(&self, path: &str) -> Response {
        let mut c = self.connect();
        c.send(format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        ));
        c.response()
    }

    /// Raw bytes on a fresh connection; returns the first response.
    pub fn raw(&self, bytes: impl AsRef<[u8]>) -> Response {
        let mut c = self.connect();
        c.send_lossy(bytes);
        c.response()
    }
}

impl Drop for Anx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The head as received, up to and including the blank line.
    pub raw_head: Vec<u8>,
}

impl Response {
    /// The first value of `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("bad Content-Length {v:?}"))
        })
    }

    /// `Connection: close` was announced.
    pub fn says_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("close"))
    }
}

/// A raw client connection with its own read buffer (bytes beyond one response are kept
/// for the next).
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl Conn {
    pub fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        Self::from_stream(stream)
    }

    pub fn from_stream(stream: TcpStream) -> Conn {
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    pub fn set_read_timeout(&mut self, t: Duration) {
        self.stream.set_read_timeout(Some(t)).unwrap();
    }

    /// Sends all bytes; panics on error.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream
            .write_all(bytes.as_ref())
            .expect("write to server");
    }

    /// Sends what the server will take; errors (the server already closed) are ignored.
    pub fn send_lossy(&mut self, bytes: impl AsRef<[u8]>) {
        let _ = self.stream.write_all(bytes.as_ref());
    }

    /// Reads once more into the buffer. Ok(0) on EOF (a reset counts as EOF).
    fn fill(&mut self) -> Result<usize, String> {
        if self.eof {
            return Ok(0);
        }
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp) {
            Ok(0) => {
                self.eof = true;
                Ok(0)
            }
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                Ok(n)
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                self.eof = true;
                Ok(0)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err("timed out".to_string())
            }
            Err(e) => Err(format!("read error: {e}")),
        }
    }

    /// Bytes received but not yet consumed by a parsed response.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Takes the bytes received but not yet consumed.
    pub fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Puts bytes back in front of the unconsumed ones.
    pub fn unread(&mut self, mut bytes: Vec<u8>) {
        bytes.extend_from_slice(&self.buf);
        self.buf = bytes;
    }

    /// Reads one response to a non-HEAD request; panics if none arrives.
    pub fn response(&mut self) -> Response {
        self.try_response(false)
            .unwrap_or_else(|e| panic!("no complete response: {e}"))
    }

    /// Reads one response to a HEAD request (no body whatever the headers say).
    pub fn head_response(&mut self) -> Response {
        self.try_response(true)
            .unwrap_or_else(|e| panic!("no complete response: {e}"))
    }

    /// Reads one response; `Err` describes what went wrong (EOF, timeout, garbage).
    pub fn try_response(&mut self, head_request: bool) -> Result<Response, String> {
        let mut resp = self.try_head()?;
        let status = resp.status;
        let bodyless = head_request || status < 200 || status == 204 || status == 304;
        if bodyless {
            return Ok(resp);
        }
        if resp
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            resp.body = self.read_chunked()?;
        } else if let Some(len) = resp.content_length() {
            let len = len as usize;
            while self.buf.len() < len {
                if self.fill()? == 0 {
                    return Err(format!(
                        "connection closed after {} of {len} body bytes",
                        self.buf.len()
                    ));
                }
            }
            resp.body = self.buf.drain(..len).collect();
        } else {
            // Close-delimited.
            while self.fill()? > 0 {}
            resp.body = std::mem::take(&mut self.buf);
        }
        Ok(resp)
    }

    /// Reads one response head only (the body, if any, stays unread: see [`Conn::chunk`]).
    pub fn try_head(&mut self) -> Result<Response, String> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            match self.fill()? {
                0 if self.buf.is_empty() => return Err("connection closed, no response".into()),
                0 => {
                    return Err(format!(
                        "connection closed inside a response head: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ))
                }
                _ => {}
            }
        };
        let raw_head: Vec<u8> = self.buf[..head_end].to_vec();
        let head_text = String::from_utf8_lossy(&raw_head[..head_end - 4]).into_owned();
        let mut lines = head_text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        if !version.starts_with("HTTP/1.") {
            return Err(format!("not an HTTP/1.x status line: {status_line:?}"));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let reason = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        for line in lines {
            let (n, v) = line
                .split_once(':')
                .ok_or_else(|| format!("bad header line {line:?}"))?;
            headers.push((n.to_string(), v.trim().to_string()));
        }
        self.buf.drain(..head_end);
        Ok(Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
            raw_head,
        })
    }

    /// The bytes received and not yet consumed, reading once more if there are none:
    /// `Ok(empty)` at EOF. For streaming a body without holding it.
    pub fn chunk(&mut self) -> Result<Vec<u8>, String> {
        if self.buf.is_empty() {
            self.fill()?;
        }
        Ok(std::mem::take(&mut self.buf))
    }

    /// Reads up to the next CRLF (which it consumes) and returns the line before it;
    /// `closed` names where the stream ended, for the error.
    fn crlf_line(&mut self, closed: &str) -> Result<String, String> {
        let end = loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                break i;
            }
            if self.fill()? == 0 {
                return Err(format!("closed inside {closed}"));
            }
        };
        let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 2);
        Ok(line)
    }

    /// Reads one chunked-encoding chunk's data (`Ok(None)` after the last chunk and the
    /// trailers), for a client that must see chunks as they arrive.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, String> {
        let size = chunk_size(&self.crlf_line("a chunk size line")?)?;
        if size == 0 {
            // Trailers until an empty line.
            while !self.crlf_line("trailers")?.is_empty() {}
            return Ok(None);
        }
        while self.buf.len() < size + 2 {
            if self.fill()? == 0 {
                return Err("closed inside a chunk".into());
            }
        }
        let data = self.buf.drain(..size).collect();
        self.buf.drain(..2);
        Ok(Some(data))
    }

    fn read_chunked(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        while let Some(data) = self.next_chunk()? {
            body.extend(data);
        }
        Ok(body)
    }

    /// Reads until EOF (or reset); panics if the server keeps the connection open past the
    /// read timeout.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        loop {
            match self.fill() {
                Ok(0) => return std::mem::take(&mut self.buf),
                Ok(_) => {}
                Err(e) => panic!(
                    "connection not closed ({e}); received so far: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Asserts the server closed the connection with nothing more to say.
    pub fn assert_closed(&mut self) {
        let rest = self.read_to_end();
        assert!(
            rest.is_empty(),
            "expected the connection to be closed, but got more bytes: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// True if the server closed the connection (EOF or reset) within `wait`; false if it
    /// is still open. Panics if bytes arrive.
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let r = self.fill();
        self.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        match r {
            Ok(0) => true,
            Ok(_) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&self.buf)),
            Err(_) => false,
        }
    }
}

/// The size a chunked-encoding size line announces (hex, extensions after `;` ignored).
pub fn chunk_size(line: &str) -> Result<usize, String> {
    // `split` always yields a first piece, even of an empty line.
    let field = line.split(';').next().unwrap_or_default().trim();
    usize::from_str_radix(field, 16).map_err(|_| format!("bad chunk size line {line:?}"))
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

/// Polls `f` every 50 ms until it returns Some, or panics with `what` after `deadline`.
pub fn poll_until<T>(deadline: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= end {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A simple GET request as bytes.
pub fn get_req(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes()
}

/// Deterministic pseudo-random bytes (no rand dependency).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Collects a child's stderr lines (into the shared list, and onto the channel).
fn capture_lines(
    stderr: std::process::ChildStderr,
) -> (Arc<Mutex<Vec<String>>>, mpsc::Receiver<String>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel::<String>();
    let l = lines.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                    l.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            }
        }
    });
    (lines, rx)
}

/// VmRSS of process `pid` in KiB (0 if it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// An nginx-syntax configuration for the proxy tests: the error log on stderr at `info`,
/// no access log, `http` holding `http` (upstream blocks and the like) and one server on
/// 127.0.0.1:ephemeral whose body is `server`.
pub fn proxy_conf(http: &str, server: &str) -> String {
    format!(
        "error_log stderr info;\nevents {{}}\nhttp {{\n    access_log off;\n{http}\n    server {{\n        listen 127.0.0.1:0;\n{server}\n    }}\n}}\n"
    )
}

/// A site and anx running [`proxy_conf`]`(http, server)` on one shard.
pub fn start_proxy(http: &str, server: &str) -> (Site, Anx) {
    start_proxy_shards(http, server, 1)
}

/// [`start_proxy`] on `shards` shards.
pub fn start_proxy_shards(http: &str, server: &str, shards: usize) -> (Site, Anx) {
    let site = Site::new();
    let anx = Anx::start_conf(&site, &proxy_conf(http, server), shards);
    (site, anx)
}

/// `anx -t -c path`: whether the configuration passed, and what anx said on stderr.
pub fn test_config(path: &Path) -> (bool, String) {
    let out = Command::new(anx_bin())
        .arg("-t")
        .arg("-c")
        .arg(path)
        .output()
        .expect("run anx -t");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The text of `<site>/logs/<name>` (empty while it does not exist).
pub fn read_log(site: &Site, name: &str) -> String {
    std::fs::read_to_string(site.path().join("logs").join(name)).unwrap_or_default()
}

/// Waits for a line of `<site>/logs/<name>` containing `needle`.
pub fn log_line_with(site: &Site, name: &str, needle: &str) -> String {
    poll_until(Duration::from_secs(15), needle, || {
        read_log(site, name)
            .lines()
            .find(|l| l.contains(needle))
            .map(str::to_string)
    })
}
