//! Logging: the error log (log + fern, nginx's line shape), per-shard buffered access logs,
//! per-request-scope error logs (`error_log` in http, server, location), reopening (SIGUSR1)
//! and built-in rotation.
//!
//! `serve/` records one access-log entry after each response is written; the control thread
//! sets up the error log before shards start, asks for reopens ([`reopen::request`]) and
//! runs the rotation thread ([`rotate::spawn`]).

pub mod access;
pub mod error;
pub mod escape;
pub mod format;
pub mod presets;
pub mod reopen;
pub mod rotate;
pub mod scoped;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Opens a log file for appending (creating it and its directory, mode 0644), as every log
/// writer here does: O_APPEND keeps each write whole beside other writers of the file.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(path)
}

/// An OS error as nginx prints it: "2: No such file or directory".
pub fn os_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            // std's text is "No such file or directory (os error 2)"; keep the words only.
            let text = std::io::Error::from_raw_os_error(code).to_string();
            let words = text
                .strip_suffix(&format!(" (os error {code})"))
                .unwrap_or(&text);
            format!("{code}: {words}")
        }
        None => e.to_string(),
    }
}

/// What a panic said (its `&str` or `String` payload), for the alert lines.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}
