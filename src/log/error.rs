//! The error log: `log` macros everywhere, written by fern in nginx's line shape
//! `2026/11/25 20:43:34 [error] PID#SHARD: message`.
//!
//! Set up once by the control thread before shards start; shards tag their lines by setting
//! [`set_shard`] on their thread.

use std::cell::Cell;

use crate::config::model::{ErrorLog, LogTarget};

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(0) };
}

/// Tags this thread's error-log lines with a shard number.
pub fn set_shard(id: usize) {
    SHARD.with(|s| s.set(id));
}

fn level_name(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "error",
        log::Level::Warn => "warn",
        log::Level::Info => "notice",
        log::Level::Debug => "info",
        log::Level::Trace => "debug",
    }
}

/// Installs the global logger. Calling it twice is harmless (the first one stays).
pub fn init(cfg: &ErrorLog) -> Result<(), String> {
    let pid = std::process::id();
    let dispatch = fern::Dispatch::new()
        .level(cfg.level)
        .level_for("glommio", log::LevelFilter::Warn)
        .format(move |out, message, record| {
            let now = crate::phases::clock::format_time_local(crate::http::date::now_secs());
            out.finish(format_args!(
                "{} [{}] {}#{}: {}",
                nginx_error_time(&now),
                level_name(record.level()),
                pid,
                SHARD.with(Cell::get),
                message
            ))
        });
    let dispatch = match &cfg.target {
        LogTarget::Stderr => dispatch.chain(std::io::stderr()),
        LogTarget::File(path) => {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let file = fern::log_file(path)
                .map_err(|e| format!("cannot open error log {}: {e}", path.display()))?;
            dispatch.chain(file)
        }
    };
    // A logger may already be installed (tests start several servers in one process).
    let _ = dispatch.apply();
    Ok(())
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
    #[test]
    fn time_shape() {
        assert_eq!(
            super::nginx_error_time("25/Nov/2026:21:22:00 +0000"),
            "2026/11/25 21:22:00"
        );
    }
}
