//! The error log: `log` macros everywhere, written by fern in nginx's line shape
//! `2026/11/25 20:43:34 [error] PID#SHARD: *CONN message, client: …, server: …, request: "…"`
//! to every `error_log` destination whose level the line meets.
//!
//! Set up once by the control thread before shards start; shards tag their lines by setting
//! [`set_shard`] on their thread. Files reopen when `log::reopen` says so (SIGUSR1), checked
//! as each line is written.
//!
//! nginx has eight levels, the `log` crate five. They map one to one from `warn` down
//! (`warn!` = warn, `info!` = notice, `debug!` = info, `trace!` = debug); `error!` is error,
//! and crit, alert and emerg are `error!` with the target [`CRIT`], [`ALERT`] or [`EMERG`]
//! (`log::error!(target: EMERG, "…")`), which a log set to `crit` or above keeps and one set
//! to `error` keeps as well.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::reopen;
use crate::config::model::{ErrorLevel, ErrorLog, LogTarget};

/// `log` targets that raise an `error!` line to nginx's more severe levels.
pub const CRIT: &str = "anx::crit";
pub const ALERT: &str = "anx::alert";
pub const EMERG: &str = "anx::emerg";

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(0) };
}

/// Tags this thread's error-log lines with a shard number.
pub fn set_shard(id: usize) {
    SHARD.with(|s| s.set(id));
}

/// The nginx level of a `log` record (see the module comment).
pub fn level_of(level: log::Level, target: &str) -> ErrorLevel {
    match level {
        log::Level::Error => match target {
            EMERG => ErrorLevel::Emerg,
            ALERT => ErrorLevel::Alert,
            CRIT => ErrorLevel::Crit,
            _ => ErrorLevel::Error,
        },
        log::Level::Warn => ErrorLevel::Warn,
        log::Level::Info => ErrorLevel::Notice,
        log::Level::Debug => ErrorLevel::Info,
        log::Level::Trace => ErrorLevel::Debug,
    }
}

/// The `log` level and target that carry an nginx level (the inverse of [`level_of`]).
pub fn log_level_of(level: ErrorLevel) -> (log::Level, &'static str) {
    match level {
        ErrorLevel::Emerg => (log::Level::Error, EMERG),
        ErrorLevel::Alert => (log::Level::Error, ALERT),
        ErrorLevel::Crit => (log::Level::Error, CRIT),
        ErrorLevel::Error => (log::Level::Error, "anx::request"),
        ErrorLevel::Warn => (log::Level::Warn, "anx::request"),
        ErrorLevel::Notice => (log::Level::Info, "anx::request"),
        ErrorLevel::Info => (log::Level::Debug, "anx::request"),
        ErrorLevel::Debug => (log::Level::Trace, "anx::request"),
    }
}

/// One error-log line in nginx's shape, without its newline:
/// `2026/11/25 20:43:34 [error] PID#SHARD: message`.
pub fn line(level: ErrorLevel, message: std::fmt::Arguments) -> String {
    let now = crate::context::clock::format_time_local(crate::http::date::now_secs());
    format!(
        "{} [{}] {}#{}: {}",
        nginx_error_time(&now),
        level.name(),
        std::process::id(),
        SHARD.with(Cell::get),
        message
    )
}

/// The loosest `log` filter that lets every line of `level` through.
fn filter_for(level: ErrorLevel) -> log::LevelFilter {
    match level {
        ErrorLevel::Emerg | ErrorLevel::Alert | ErrorLevel::Crit | ErrorLevel::Error => {
            log::LevelFilter::Error
        }
        ErrorLevel::Warn => log::LevelFilter::Warn,
        ErrorLevel::Notice => log::LevelFilter::Info,
        ErrorLevel::Info => log::LevelFilter::Debug,
        ErrorLevel::Debug => log::LevelFilter::Trace,
    }
}

/// Installs the global logger. Calling it twice is harmless (the first one stays).
pub fn init(logs: &[ErrorLog]) -> Result<(), String> {
    let loosest = logs
        .iter()
        .map(|l| l.level)
        .max()
        .unwrap_or(ErrorLevel::Notice);
    let mut dispatch = fern::Dispatch::new()
        .level(filter_for(loosest))
        .level_for("glommio", log::LevelFilter::Warn)
        .format(move |out, message, record| {
            let level = level_of(record.level(), record.target());
            out.finish(format_args!("{}", line(level, *message)))
        });
    for log in logs {
        let level = log.level;
        let output: fern::Output = match &log.target {
            LogTarget::Stderr => io::stderr().into(),
            LogTarget::File(path) => {
                let file: Box<dyn Write + Send> = Box::new(ReopenFile::open(path)?);
                file.into()
            }
        };
        dispatch = dispatch.chain(
            fern::Dispatch::new()
                .filter(move |m| level_of(m.level(), m.target()) <= level)
                .chain(output),
        );
    }
    // A logger may already be installed (tests start several servers in one process).
    if dispatch.apply().is_ok() {
        log_panics_at_alert();
    }
    Ok(())
}

/// A panic becomes one `[alert]` line in the error log (where and what), instead of Rust's
/// message and backtrace on stderr: the connection task that caught it logs which
/// connection it ended.
fn log_panics_at_alert() {
    std::panic::set_hook(Box::new(|info| {
        let what = crate::log::panic_text(info.payload());
        match info.location() {
            Some(at) => log::error!(target: ALERT, "panic at {}:{}: {what}", at.file(), at.line()),
            None => log::error!(target: ALERT, "panic: {what}"),
        }
    }));
}

/// An error-log file that reopens itself by name once the reopen generation moved. fern
/// writes a line in pieces and then flushes: the pieces are gathered and written at the
/// flush, so a line is one `write` (O_APPEND: whole, even beside other writers) and never
/// split across a reopen.
struct ReopenFile {
    path: PathBuf,
    file: File,
    seen: u64,
    line: Vec<u8>,
}

impl ReopenFile {
    fn open(path: &Path) -> Result<ReopenFile, String> {
        let seen = reopen::generation();
        let file = super::open_append(path)
            .map_err(|e| format!("cannot open error log {}: {e}", path.display()))?;
        Ok(ReopenFile {
            path: path.to_path_buf(),
            file,
            seen,
            line: Vec::with_capacity(256),
        })
    }
}

impl Write for ReopenFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let now = reopen::generation();
        if now != self.seen {
            self.seen = now;
            match super::open_append(&self.path) {
                Ok(f) => self.file = f,
                // Keep writing to the old file rather than lose the line; say why where
                // someone will see it (the log itself cannot be used from inside itself).
                Err(e) => eprintln!("anx: cannot reopen error log {}: {e}", self.path.display()),
            }
        }
        let result = self.file.write_all(&self.line);
        self.line.clear();
        result
    }
}

/// "25/Nov/2026:21:22:00 +0000" → "2026/11/25 21:22:00".
fn nginx_error_time(time_local: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = time_local.splitn(4, ['/', ':', ' ']).collect();
    if let [day, month, year, rest] = parts.as_slice() {
        let m = MONTHS.iter().position(|x| x == month).map_or(0, |i| i + 1);
        let clock = rest.split(' ').next().unwrap_or("");
        let year = year.split(':').next().unwrap_or(year);
        return format!("{year}/{m:02}/{day} {clock}");
    }
    time_local.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_shape() {
        assert_eq!(
            nginx_error_time("25/Nov/2026:21:22:00 +0000"),
            "2026/11/25 21:22:00"
        );
    }

    #[test]
    fn levels_map_both_ways() {
        assert_eq!(level_of(log::Level::Error, EMERG), ErrorLevel::Emerg);
        assert_eq!(level_of(log::Level::Error, "anx::serve"), ErrorLevel::Error);
        assert_eq!(level_of(log::Level::Info, "x"), ErrorLevel::Notice);
        assert_eq!(level_of(log::Level::Trace, "x"), ErrorLevel::Debug);
        // Every level's own lines pass the filter derived from it.
        for (level, target) in [
            (log::Level::Error, CRIT),
            (log::Level::Warn, "x"),
            (log::Level::Debug, "x"),
        ] {
            let nginx = level_of(level, target);
            assert!(level <= filter_for(nginx), "{level} vs {nginx:?}");
        }
        for nginx in [
            ErrorLevel::Emerg,
            ErrorLevel::Crit,
            ErrorLevel::Notice,
            ErrorLevel::Debug,
        ] {
            let (level, target) = log_level_of(nginx);
            assert_eq!(level_of(level, target), nginx);
        }
    }
}
