//! Error-log lines written on a request's behalf, to the `error_log` of the scope serving it.
//!
//! nginx's `error_log` in http, server or location replaces the inherited logs for what is
//! logged while a request is served there; the main level's logs keep everything else. The
//! request carries its scope: its location (`RequestState::location`), whose resolved
//! `error_log` list is empty when no level below main set one. Every request-path message
//! goes through [`RequestLog::log`] (built by `context::vars::Ctx::log`, or by `serve/` for
//! the proxy exchange, which awaits), so the scope travels with the request instead of
//! living in a thread-local around synchronous sections.
//!
//! Cost: with no scoped log configured, a line goes to the `log` crate exactly as before
//! (one emptiness check). With one, the line is formatted once and written with one
//! `write(2)` per destination (O_APPEND: whole beside other writers) from this shard's own
//! table of open files — no lock. The table drops its files when the reopen generation
//! moved (SIGUSR1, rotation) and opens them again by name. The control thread creates every
//! file at load ([`open_all`]), so a path that cannot be written fails the start or the
//! reload, as in nginx, and the privileged helper gives the files to the `user`
//! (`runtime::privilege::logs`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{error, reopen};
use crate::config::model::{Config, ErrorLevel, ErrorLog, Location, LogTarget, SockAddr};
use crate::http::request::RequestLine;

/// One request's error-log scope and the context nginx appends to its lines.
pub struct RequestLog<'a> {
    /// The logs of the location serving the request; empty: the main level's logs.
    pub logs: &'a [ErrorLog],
    /// `*N`: the connection's serial number.
    pub conn: u64,
    pub client: &'a SockAddr,
    /// The server's first name.
    pub server: &'a str,
    /// Where the request line and Host come from; read only when a line is written.
    pub request: RequestText<'a>,
}

/// The request line and Host field of a [`RequestLog`]: taken from the request when a line
/// is written (most requests log nothing, so nothing is scanned for them), or given.
#[derive(Clone, Copy)]
pub enum RequestText<'a> {
    Received(crate::context::state::Received<'a>),
    Given {
        request: RequestLine<'a>,
        host: Option<&'a [u8]>,
    },
}

impl<'a> RequestText<'a> {
    fn parts(self) -> (RequestLine<'a>, Option<&'a [u8]>) {
        match self {
            RequestText::Received(r) => (r.request_line(), r.field("host")),
            RequestText::Given { request, host } => (request, host),
        }
    }
}

impl RequestLog<'_> {
    /// Logs `message` at `level` with the request's context.
    pub fn log(&self, level: ErrorLevel, message: fmt::Arguments) {
        self.log_with(level, message, format_args!(""));
    }

    /// Logs at `error`.
    pub fn error(&self, message: fmt::Arguments) {
        self.log(ErrorLevel::Error, message);
    }

    /// Like [`RequestLog::log`], with `extra` (", upstream: …") between the request and
    /// the host, where nginx writes it.
    pub fn log_with(&self, level: ErrorLevel, message: fmt::Arguments, extra: fmt::Arguments) {
        let (request, host) = self.request.parts();
        let host = HostPart(host);
        emit(
            self.logs,
            level,
            format_args!(
                "*{} {message}, client: {}, server: {}, request: \"{}\"{extra}{host}",
                self.conn,
                self.client.host(),
                self.server,
                request,
            ),
        );
    }
}

/// `, host: "…"` when there is a host.
struct HostPart<'a>(Option<&'a [u8]>);

impl fmt::Display for HostPart<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.0 {
            Some(h) => write!(f, ", host: \"{}\"", String::from_utf8_lossy(h)),
            None => Ok(()),
        }
    }
}

/// Writes one line at `level` to `logs`, or to the main logs when `logs` is empty.
pub fn emit(logs: &[ErrorLog], level: ErrorLevel, message: fmt::Arguments) {
    if logs.is_empty() {
        let (lvl, target) = error::log_level_of(level);
        log::log!(target: target, lvl, "{message}");
        return;
    }
    if !logs.iter().any(|l| level <= l.level) {
        return;
    }
    let mut line = error::line(level, message);
    line.push('\n');
    FILES.with(|files| files.borrow_mut().write(logs, level, line.as_bytes()));
}

thread_local! {
    static FILES: RefCell<OpenFiles> = RefCell::new(OpenFiles::default());
}

/// This thread's open scoped log files, by path, valid for one reopen generation.
#[derive(Default)]
struct OpenFiles {
    generation: u64,
    files: HashMap<PathBuf, File>,
}

impl OpenFiles {
    fn write(&mut self, logs: &[ErrorLog], level: ErrorLevel, line: &[u8]) {
        let now = reopen::generation();
        if now != self.generation {
            self.generation = now;
            self.files.clear();
        }
        for log in logs.iter().filter(|l| level <= l.level) {
            match &log.target {
                LogTarget::Stderr => {
                    let _ = std::io::stderr().write_all(line);
                }
                LogTarget::File(path) => {
                    if let Some(file) = self.file(path) {
                        let _ = file.write_all(line);
                    }
                }
            }
        }
    }

    fn file(&mut self, path: &Path) -> Option<&mut File> {
        if !self.files.contains_key(path) {
            match super::open_append(path) {
                Ok(f) => {
                    self.files.insert(path.to_path_buf(), f);
                }
                Err(e) => {
                    // The main log is where someone looks for why this one stays empty.
                    log::error!(
                        "open() \"{}\" failed ({})",
                        path.display(),
                        super::os_error(&e)
                    );
                    return None;
                }
            }
        }
        self.files.get_mut(path)
    }
}

/// Every file an http, server or location `error_log` of `config` names, each once.
pub fn paths(config: &Config) -> Vec<PathBuf> {
    fn walk(loc: &Location, out: &mut Vec<PathBuf>) {
        for log in &loc.error_log {
            if let LogTarget::File(p) = &log.target {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
        }
        if let Some(le) = &loc.limit_except {
            walk(&le.location, out);
        }
        for inner in &loc.locations {
            walk(inner, out);
        }
    }
    let mut out = Vec::new();
    for server in &config.servers {
        walk(&server.fallback, &mut out);
        for loc in &server.locations {
            walk(loc, &mut out);
        }
    }
    out
}

/// Creates (opens for appending) every scoped error log of `config`, at load and reload:
/// nginx opens them then, and one that cannot be opened stops the start.
pub fn open_all(config: &Config) -> Result<(), String> {
    for path in paths(config) {
        super::open_append(&path).map_err(|e| {
            format!(
                "open() \"{}\" failed ({})",
                path.display(),
                super::os_error(&e)
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_to_the_scope_logs_that_want_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let warn = dir.path().join("warn.log");
        let error = dir.path().join("error.log");
        let logs = vec![
            ErrorLog {
                target: LogTarget::File(warn.clone()),
                level: ErrorLevel::Warn,
            },
            ErrorLog {
                target: LogTarget::File(error.clone()),
                level: ErrorLevel::Error,
            },
        ];
        let log = RequestLog {
            logs: &logs,
            conn: 7,
            client: &"127.0.0.1:80".parse().expect("addr"),
            server: "localhost",
            request: RequestText::Given {
                request: crate::http::request::RequestLine {
                    method: b"GET",
                    target: b"/x",
                    version: crate::http::request::Version::Http11,
                },
                host: Some(b"example.org"),
            },
        };
        log.error(format_args!("open() \"/srv/x\" failed"));
        log.log(ErrorLevel::Warn, format_args!("only warn"));
        log.log(ErrorLevel::Info, format_args!("nobody"));
        let w = std::fs::read_to_string(&warn).expect("warn log");
        let e = std::fs::read_to_string(&error).expect("error log");
        assert!(
            e.contains("[error] ",)
                && e.ends_with(
                    ": *7 open() \"/srv/x\" failed, client: 127.0.0.1, server: localhost, \
                 request: \"GET /x HTTP/1.1\", host: \"example.org\"\n"
                ),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1);
        assert_eq!(w.lines().count(), 2, "{w}");
        assert!(w.contains("[warn] ") && w.contains("only warn"));
        assert!(!w.contains("nobody"));
    }

    #[test]
    fn open_all_creates_every_scoped_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "events {{}}\nhttp {{\nserver {{\nlisten 127.0.0.1:1;\nerror_log {d}/s.log;\n\
             location / {{\nlocation /in {{ error_log {d}/in.log info; }}\n}}\n}}\n}}\n",
            d = dir.path().display()
        );
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, text).expect("write");
        let config = crate::config::load(&file).expect("config");
        let paths = paths(&config);
        assert_eq!(
            paths,
            vec![dir.path().join("s.log"), dir.path().join("in.log")]
        );
        open_all(&config).expect("open");
        assert!(dir.path().join("in.log").exists());
    }
}
