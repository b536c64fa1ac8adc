//! `anx -s stop|quit|reopen|reload`: signal the running server named by the pid file.
//!
//! A one-shot command run by `main` instead of the server; nothing here touches the control
//! thread of a running anx or the request path. It reads `Config.pid` (the `pid` setting),
//! parses the number as nginx does and sends the signal nginx sends for the same word; the
//! errors read like nginx's so that scripts and people who know nginx recognise them.

use std::path::Path;

use super::pid::{os_error, parse_pid};
use crate::config::Config;

/// How bad a failure is, as nginx labels it (`[error]` for the pid file, `[alert]` for kill).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Alert,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Alert => "alert",
        }
    }
}

/// Why `-s` failed: printed by `main` as `anx: [<severity>] <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalError {
    pub severity: Severity,
    pub message: String,
}

impl SignalError {
    fn error(message: String) -> SignalError {
        SignalError {
            severity: Severity::Error,
            message,
        }
    }
}

/// The signal nginx sends for each `-s` word; the server's control thread acts on it.
pub fn signal_for(name: &str) -> Option<libc::c_int> {
    match name {
        "stop" => Some(libc::SIGTERM),
        "quit" => Some(libc::SIGQUIT),
        "reopen" => Some(libc::SIGUSR1),
        "reload" => Some(libc::SIGHUP),
        _ => None,
    }
}

/// Sends the signal named `name` to the process in the configuration's pid file.
pub fn send(config: &Config, name: &str) -> Result<(), SignalError> {
    let signal = signal_for(name).ok_or_else(|| {
        SignalError::error(format!(
            "invalid signal \"{name}\": expected stop, quit, reopen or reload"
        ))
    })?;
    let path = config.pid.as_deref().ok_or_else(|| {
        SignalError::error("no pid file: set \"pid\" in the configuration".to_string())
    })?;
    let pid = read_pid(path)?;
    kill(pid, signal)
}

/// The process id in `path`, with nginx's messages when it cannot be read.
pub fn read_pid(path: &Path) -> Result<libc::pid_t, SignalError> {
    let bytes = std::fs::read(path).map_err(|e| {
        SignalError::error(format!(
            "open() \"{}\" failed ({})",
            path.display(),
            os_error(&e)
        ))
    })?;
    let text = String::from_utf8_lossy(&bytes);
    parse_pid(&text).ok_or_else(|| {
        SignalError::error(format!(
            "invalid PID number \"{}\" in \"{}\"",
            text.trim_end_matches(['\r', '\n']),
            path.display()
        ))
    })
}

fn kill(pid: libc::pid_t, signal: libc::c_int) -> Result<(), SignalError> {
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is > 0 (parse_pid refuses 0
    // and negative numbers, which would signal process groups).
    let rc = unsafe { libc::kill(pid, signal) };
    if rc == 0 {
        Ok(())
    } else {
        let e = std::io::Error::last_os_error();
        Err(SignalError {
            severity: Severity::Alert,
            message: format!("kill({pid}, {signal}) failed ({})", os_error(&e)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_map_to_nginx_signals() {
        assert_eq!(signal_for("stop"), Some(libc::SIGTERM));
        assert_eq!(signal_for("quit"), Some(libc::SIGQUIT));
        assert_eq!(signal_for("reopen"), Some(libc::SIGUSR1));
        assert_eq!(signal_for("reload"), Some(libc::SIGHUP));
        assert_eq!(signal_for("hup"), None);
    }

    #[test]
    fn pid_file_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("anx.pid");
        let e = read_pid(&missing).unwrap_err();
        assert_eq!(e.severity, Severity::Error);
        assert_eq!(
            e.message,
            format!(
                "open() \"{}\" failed (2: No such file or directory)",
                missing.display()
            )
        );
        std::fs::write(&missing, "").unwrap();
        let e = read_pid(&missing).unwrap_err();
        assert_eq!(
            e.message,
            format!("invalid PID number \"\" in \"{}\"", missing.display())
        );
        std::fs::write(&missing, "42\n").unwrap();
        assert_eq!(read_pid(&missing).unwrap(), 42);
    }

    #[test]
    fn kill_of_a_dead_process_is_an_alert() {
        // A child that has exited and been reaped: its pid names no process (unless reused,
        // which within this test is vanishingly unlikely).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as libc::pid_t;
        child.wait().unwrap();
        let e = kill(pid, 0).unwrap_err();
        assert_eq!(e.severity, Severity::Alert);
        assert_eq!(
            e.message,
            format!("kill({pid}, 0) failed (3: No such process)")
        );
    }
}
