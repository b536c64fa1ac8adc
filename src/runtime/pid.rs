//! The pid file (`pid` / `[main] pid`): written by the running server, read by `anx -s`.
//!
//! Control thread only, once at start-up and once at exit; never on the request path. The
//! server writes its process id followed by a newline (as nginx does) after its sockets are
//! bound and its shards started, and removes the file when it exits, but only if the file
//! still holds its own id: a second instance started by mistake must not delete the pid file
//! of the one that is really serving.

use std::path::{Path, PathBuf};

/// A pid file this process wrote; removed on drop if it still names this process.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Writes the current process id to `path`, replacing what was there.
    pub fn create(path: &Path) -> Result<PidFile, String> {
        let pid = std::process::id();
        std::fs::write(path, format!("{pid}\n"))
            .map_err(|e| format!("open() \"{}\" failed ({})", path.display(), os_error(&e)))?;
        Ok(PidFile {
            path: path.to_path_buf(),
            pid,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        match std::fs::read_to_string(&self.path) {
            Ok(text) if parse_pid(&text) == Some(self.pid as libc::pid_t) => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    log::warn!(
                        "unlink() \"{}\" failed ({})",
                        self.path.display(),
                        os_error(&e)
                    );
                }
            }
            // Gone already, or another process wrote its own id since: leave it alone.
            _ => {}
        }
    }
}

/// A pid file's content as nginx reads it: digits, optionally followed by CR/LF. Zero and
/// negative numbers are refused: `kill(0, …)` would signal our own process group.
pub fn parse_pid(text: &str) -> Option<libc::pid_t> {
    let digits = text.trim_end_matches(['\r', '\n']);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<libc::pid_t>().ok().filter(|&p| p > 0)
}

/// Kept here for the callers that found it here; it lives with the logs now.
pub use crate::log::os_error;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_text() {
        assert_eq!(parse_pid("123\n"), Some(123));
        assert_eq!(parse_pid("123\r\n"), Some(123));
        assert_eq!(parse_pid("123"), Some(123));
        assert_eq!(parse_pid(""), None);
        assert_eq!(parse_pid("\n"), None);
        assert_eq!(parse_pid("0\n"), None);
        assert_eq!(parse_pid("-1\n"), None);
        assert_eq!(parse_pid("12 3\n"), None);
        assert_eq!(parse_pid("99999999999999999999"), None);
    }

    #[test]
    fn errors_read_like_nginx() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(os_error(&e), "2: No such file or directory");
    }

    #[test]
    fn written_then_removed_only_if_still_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anx.pid");
        let f = PidFile::create(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        drop(f);
        assert!(!path.exists());

        let f = PidFile::create(&path).unwrap();
        std::fs::write(&path, "1\n").unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n");

        let e = PidFile::create(&dir.path().join("no/such/dir/anx.pid")).unwrap_err();
        assert!(e.starts_with("open() \""), "{e}");
        assert!(e.ends_with("failed (2: No such file or directory)"), "{e}");
    }
}
