//! Log files made ready for a server that no longer runs as root (the privileged helper,
//! at start, on reload and on reopen; never the request path).
//!
//! Shards open access logs lazily by name and reopen every log by name after SIGUSR1, as
//! the `user`; so, as nginx's master does with the files it reopens, the helper creates each
//! log file the configuration names (and its missing directories) and gives the file to the
//! user. The user can then open it even in a root-owned directory it cannot write. A file
//! that is a symlink, not a regular file, or has other hard links is left alone: chowning
//! it would hand the user whatever it points to.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::model::{AccessLog, Config, Location, LogTarget};

/// Every log file `config` writes: error logs (main, then http/server/location ones), then
/// access logs, each once.
pub fn paths(config: &Config) -> Vec<PathBuf> {
    fn note(logs: &[AccessLog], out: &mut Vec<PathBuf>) {
        for log in logs {
            if !out.contains(&log.path) {
                out.push(log.path.clone());
            }
        }
    }
    fn walk(locations: &[Location], out: &mut Vec<PathBuf>) {
        for l in locations {
            note(&l.access_logs, out);
            walk(&l.locations, out);
        }
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for log in &config.error_log {
        if let LogTarget::File(p) = &log.target {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
    }
    for p in crate::log::scoped::paths(config) {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    for server in &config.servers {
        note(&server.access_logs, &mut out);
        note(&server.fallback.access_logs, &mut out);
        walk(&server.locations, &mut out);
    }
    out
}

/// Creates (if needed) every log file of `config` and makes `uid` its owner. Returns one
/// message per file that could not be prepared; the others are ready.
pub fn prepare(config: &Config, uid: u32) -> Vec<String> {
    paths(config)
        .iter()
        .filter_map(|p| prepare_one(p, uid).err())
        .collect()
}

fn prepare_one(path: &Path, uid: u32) -> Result<(), String> {
    let shown = path.display();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("mkdir \"{}\" failed ({})", dir.display(), os(&e)))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("open() \"{shown}\" failed ({})", os(&e)))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("fstat() \"{shown}\" failed ({})", os(&e)))?;
    if !meta.is_file() || meta.nlink() > 1 {
        return Err(format!(
            "\"{shown}\" is not a plain file with one link; not giving it to the user"
        ));
    }
    if meta.uid() != uid {
        // SAFETY: fchown on a descriptor we hold; -1 keeps the group, as nginx does.
        if unsafe { libc::fchown(file.as_raw_fd(), uid, u32::MAX) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(format!("fchown() \"{shown}\" failed ({})", os(&e)));
        }
    }
    // nginx makes sure the owner can read and write what it was given.
    let mode = meta.permissions().mode();
    if mode & 0o600 != 0o600 {
        let _ = file.set_permissions(std::fs::Permissions::from_mode(mode | 0o600));
    }
    Ok(())
}

fn os(e: &std::io::Error) -> String {
    crate::log::os_error(e)
}
