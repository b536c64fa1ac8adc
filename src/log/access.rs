//! Access logs: one line per request, buffered per shard, one write per flush.
//!
//! `serve/` calls [`AccessLogs::record`] after a response has gone out, once per log of the
//! location that answered (else the server's), with the request's variables ([`Ctx`]). The
//! `if=` condition is evaluated then; `combined` and `json` are formatted directly, a
//! `log_format` through the variable evaluator (`log::format`). Each shard keeps its own
//! buffer per log file (opened O_APPEND, so shards never interleave within a line) and
//! writes it when it exceeds `buffer=` or when the shard's flush timer finds it older than
//! `flush=`; shutdown flushes everything.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{escape, format};
use crate::config::model::{AccessLog, AccessLogFormat};
use crate::http::response::Response;
use crate::phases::clock::append_time_local;
use crate::phases::vars::{Ctx, Scope, Sent};

/// What one log line says about a request.
pub struct AccessEntry<'a> {
    pub remote: SocketAddr,
    /// The request line as received ("GET / HTTP/1.1"); empty when none was parsed.
    pub request_line: &'a [u8],
    pub method: &'a [u8],
    pub uri: &'a [u8],
    pub host: &'a [u8],
    pub status: u16,
    /// Body bytes sent (`$body_bytes_sent`) and all bytes sent (`$bytes_sent`).
    pub body_bytes: u64,
    pub bytes: u64,
    pub referer: &'a [u8],
    pub user_agent: &'a [u8],
    pub request_time: Duration,
    pub connection: u64,
    pub connection_requests: u64,
}

struct Buffered {
    file: File,
    buf: Vec<u8>,
    oldest: Option<Instant>,
}

/// The shard's access-log buffers, keyed by file.
#[derive(Default)]
pub struct AccessLogs {
    logs: RefCell<HashMap<PathBuf, Buffered>>,
}

impl AccessLogs {
    /// Appends one line for the request in `ctx` to `log`'s buffer (unless its `if=` says
    /// no), writing the buffer out when full.
    pub fn record(&self, log: &AccessLog, ctx: &mut Ctx, response: &Response, sent: &Sent) {
        let scope = Scope {
            response: Some(response),
            sent: Some(sent),
        };
        if let Some(condition) = &log.condition {
            if !ctx.truthy(condition, scope) {
                return;
            }
        }
        let mut logs = self.logs.borrow_mut();
        if !logs.contains_key(&log.path) {
            match open_log(&log.path) {
                Ok(file) => {
                    logs.insert(
                        log.path.clone(),
                        Buffered {
                            file,
                            buf: Vec::with_capacity(log.buffer_bytes.min(1 << 20)),
                            oldest: None,
                        },
                    );
                }
                Err(e) => {
                    log::error!("cannot open access log {}: {e}", log.path.display());
                    return;
                }
            }
        }
        let Some(b) = logs.get_mut(&log.path) else {
            return;
        };
        match &log.format {
            AccessLogFormat::Combined => format_combined(&mut b.buf, &entry(ctx, sent)),
            AccessLogFormat::Json => format_json(&mut b.buf, &entry(ctx, sent)),
            AccessLogFormat::Custom(f) => format::render(&mut b.buf, f, ctx, scope),
        }
        b.oldest.get_or_insert_with(Instant::now);
        if b.buf.len() >= log.buffer_bytes {
            write_out(&log.path, b);
        }
    }

    /// Writes buffers whose oldest line has waited `max_age` or more.
    pub fn flush_older_than(&self, max_age: Duration) {
        let mut logs = self.logs.borrow_mut();
        for (path, b) in logs.iter_mut() {
            if b.oldest.is_some_and(|t| t.elapsed() >= max_age) {
                write_out(path, b);
            }
        }
    }

    /// Writes every buffer (shutdown, reopen).
    pub fn flush_all(&self) {
        let mut logs = self.logs.borrow_mut();
        for (path, b) in logs.iter_mut() {
            write_out(path, b);
        }
    }
}

fn open_log(path: &PathBuf) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(path)
}

fn write_out(path: &std::path::Path, b: &mut Buffered) {
    if b.buf.is_empty() {
        return;
    }
    if let Err(e) = b.file.write_all(&b.buf) {
        log::error!("cannot write access log {}: {e}", path.display());
    }
    b.buf.clear();
    b.oldest = None;
}

/// The fields of the built-in formats, read from the request without copying.
fn entry<'a>(ctx: &'a Ctx, sent: &Sent) -> AccessEntry<'a> {
    let req = &ctx.req;
    AccessEntry {
        remote: req.conn.peer,
        request_line: req.request_line(),
        method: &req.buf[req.head.method_raw.clone()],
        uri: &req.buf[req.head.target.clone()],
        host: req.head.host.clone().map_or(&b""[..], |h| &req.buf[h]),
        status: sent.status,
        body_bytes: sent.body_bytes,
        bytes: sent.bytes,
        referer: req.field("referer").unwrap_or_default(),
        user_agent: req.field("user-agent").unwrap_or_default(),
        request_time: req.started.elapsed(),
        connection: req.conn.serial,
        connection_requests: req.conn.requests,
    }
}

/// nginx's `combined`:
/// `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`
pub fn format_combined(out: &mut Vec<u8>, e: &AccessEntry) {
    out.extend_from_slice(e.remote.ip().to_string().as_bytes());
    out.extend_from_slice(b" - - [");
    append_time_local(out);
    out.extend_from_slice(b"] \"");
    escape::default_into(out, e.request_line);
    out.extend_from_slice(b"\" ");
    out.extend_from_slice(itoa::Buffer::new().format(e.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(itoa::Buffer::new().format(e.body_bytes).as_bytes());
    out.extend_from_slice(b" \"");
    dash_or(out, e.referer, escape::default_into);
    out.extend_from_slice(b"\" \"");
    dash_or(out, e.user_agent, escape::default_into);
    out.extend_from_slice(b"\"\n");
}

fn dash_or(out: &mut Vec<u8>, v: &[u8], esc: fn(&mut Vec<u8>, &[u8])) {
    if v.is_empty() {
        out.push(b'-');
    } else {
        esc(out, v);
    }
}

/// One JSON object per line with the fields operators expect.
pub fn format_json(out: &mut Vec<u8>, e: &AccessEntry) {
    let field = |out: &mut Vec<u8>, name: &str, value: &[u8], first: bool| {
        if !first {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":\"");
        escape::json_into(out, value);
        out.push(b'"');
    };
    let number = |out: &mut Vec<u8>, name: &str, value: u64| {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    };
    out.push(b'{');
    let mut time = Vec::with_capacity(26);
    append_time_local(&mut time);
    field(out, "time", &time, true);
    field(
        out,
        "remote_addr",
        e.remote.ip().to_string().as_bytes(),
        false,
    );
    field(out, "method", e.method, false);
    field(out, "uri", e.uri, false);
    field(out, "request", e.request_line, false);
    number(out, "status", u64::from(e.status));
    number(out, "body_bytes_sent", e.body_bytes);
    number(out, "bytes_sent", e.bytes);
    out.extend_from_slice(b",\"request_time\":");
    out.extend_from_slice(format!("{:.3}", e.request_time.as_secs_f64()).as_bytes());
    field(out, "host", e.host, false);
    field(out, "http_referer", e.referer, false);
    field(out, "http_user_agent", e.user_agent, false);
    number(out, "connection", e.connection);
    number(out, "connection_requests", e.connection_requests);
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>() -> AccessEntry<'a> {
        AccessEntry {
            remote: "127.0.0.1:5000".parse().unwrap(),
            request_line: b"GET /a\"b HTTP/1.1",
            method: b"GET",
            uri: b"/a\"b",
            host: b"h",
            status: 200,
            body_bytes: 5,
            bytes: 100,
            referer: b"",
            user_agent: b"curl/8",
            request_time: Duration::from_millis(1),
            connection: 1,
            connection_requests: 1,
        }
    }

    #[test]
    fn combined_shape() {
        let mut out = Vec::new();
        format_combined(&mut out, &entry());
        let line = String::from_utf8(out).unwrap();
        assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
        assert!(
            line.ends_with("] \"GET /a\\x22b HTTP/1.1\" 200 5 \"-\" \"curl/8\"\n"),
            "{line}"
        );
    }

    #[test]
    fn json_is_one_valid_object() {
        let mut out = Vec::new();
        format_json(&mut out, &entry());
        let line = String::from_utf8(out).unwrap();
        assert!(line.starts_with("{\"time\":\""));
        assert!(line.contains("\"uri\":\"/a\\\"b\""), "{line}");
        assert!(line.contains("\"status\":200"), "{line}");
        assert!(line.ends_with("}\n"));
    }
}
