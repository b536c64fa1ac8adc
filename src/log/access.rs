//! Access logs: one line per request, buffered per shard, one write per flush.
//!
//! `serve/` calls [`AccessLogs::record`] after a response has gone out, once per log of the
//! location that answered (else the server's), with the request's variables ([`Ctx`]). The
//! `if=` condition is evaluated then; `combined` and `common` are formatted directly
//! (`log::presets`), `json` and any `log_format` through the variable evaluator
//! (`log::format`). Each shard keeps its own buffer per log file (opened O_APPEND, so shards
//! never interleave within a line) and writes it when it exceeds `buffer=` or when the
//! shard's tick ([`AccessLogs::tick`], every 100 ms) finds it older than `flush=`. A line of
//! a log without `buffer=` marks its buffer due: `serve/` then writes the due buffers
//! ([`AccessLogs::flush_due`]) once the shard has run the tasks that were ready (at most
//! once a millisecond) and when a connection closes, so an idle shard writes each line at
//! once (as nginx) and a busy one writes a burst of lines at a time.
//!
//! Reopen (SIGUSR1, or `log::rotate` after a rename): on the first tick after the
//! `log::reopen` generation moved, every buffer is written to the file it was meant for (the
//! renamed one) and every file closed; the next line opens the path afresh. Shutdown writes
//! everything ([`AccessLogs::flush_all`]).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::error::{ALERT, CRIT};
use super::presets::{format_combined, format_common, AccessEntry};
use super::{format, open_append, os_error, reopen};
use crate::config::model::{AccessLog, AccessLogFormat};
use crate::context::vars::{Ctx, Scope, Sent};
use crate::http::response::Response;

struct Buffered {
    file: File,
    buf: Vec<u8>,
    oldest: Option<Instant>,
    /// A line of an unbuffered log is waiting: write at the next [`AccessLogs::flush_due`].
    due: bool,
}

/// The shard's access-log buffers, keyed by file.
pub struct AccessLogs {
    logs: RefCell<HashMap<PathBuf, Buffered>>,
    /// The `log::reopen` generation the open files belong to.
    seen: Cell<u64>,
    /// Some buffer is due (see [`AccessLogs::flush_due`]).
    due: Cell<bool>,
}

impl Default for AccessLogs {
    fn default() -> AccessLogs {
        AccessLogs {
            logs: RefCell::default(),
            seen: Cell::new(reopen::generation()),
            due: Cell::new(false),
        }
    }
}

impl AccessLogs {
    /// Appends one line for the request in `ctx` to `log`'s buffer (unless its `if=` says
    /// no), writing the buffer out when full.
    pub fn record(&self, log: &AccessLog, ctx: &mut Ctx, response: &Response, sent: &Sent) {
        let scope = Scope {
            response: Some(response),
            sent: Some(sent),
            trailers: None,
        };
        if let Some(condition) = &log.condition {
            if !ctx.truthy(condition, scope) {
                return;
            }
        }
        let mut logs = self.logs.borrow_mut();
        if !logs.contains_key(&log.path) {
            match open_append(&log.path) {
                Ok(file) => {
                    logs.insert(
                        log.path.clone(),
                        Buffered {
                            file,
                            buf: Vec::with_capacity(log.buffer_bytes.min(1 << 20)),
                            oldest: None,
                            due: false,
                        },
                    );
                }
                Err(e) => {
                    // nginx's level and words for a log it cannot open while serving.
                    log::error!(
                        target: CRIT,
                        "open() \"{}\" failed ({}) while logging request",
                        log.path.display(),
                        os_error(&e)
                    );
                    return;
                }
            }
        }
        let Some(b) = logs.get_mut(&log.path) else {
            return;
        };
        match &log.format {
            AccessLogFormat::Combined => format_combined(&mut b.buf, &AccessEntry::of(ctx, sent)),
            AccessLogFormat::Common => format_common(&mut b.buf, &AccessEntry::of(ctx, sent)),
            AccessLogFormat::Json(f) | AccessLogFormat::Custom(f) => {
                format::render(&mut b.buf, f, ctx, scope)
            }
        }
        b.oldest.get_or_insert_with(Instant::now);
        if b.buf.len() >= log.buffer_bytes {
            write_out(&log.path, b);
        } else if !log.buffered {
            b.due = true;
            self.due.set(true);
        }
    }

    /// Whether lines of unbuffered logs are waiting for [`AccessLogs::flush_due`].
    pub fn has_due(&self) -> bool {
        self.due.get()
    }

    /// Writes the buffers holding lines of unbuffered logs.
    pub fn flush_due(&self) {
        if !self.due.replace(false) {
            return;
        }
        let mut logs = self.logs.borrow_mut();
        for (path, b) in logs.iter_mut().filter(|(_, b)| b.due) {
            write_out(path, b);
        }
    }

    /// The shard's periodic duty: reopen if asked to (see the module comment), else write
    /// the buffers whose oldest line has waited `flush_every` or more.
    pub fn tick(&self, flush_every: Duration) {
        let now = reopen::generation();
        if now == self.seen.get() {
            self.flush_older_than(flush_every);
            return;
        }
        self.seen.set(now);
        self.flush_all();
        // Closing is all there is to it: `record` opens the path again for the next line.
        self.logs.borrow_mut().clear();
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

fn write_out(path: &std::path::Path, b: &mut Buffered) {
    if b.buf.is_empty() {
        return;
    }
    if let Err(e) = b.file.write_all(&b.buf) {
        log::error!(
            target: ALERT,
            "write() to \"{}\" failed ({})",
            path.display(),
            os_error(&e)
        );
    }
    b.buf.clear();
    b.oldest = None;
    b.due = false;
}
