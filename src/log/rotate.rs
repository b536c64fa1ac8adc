//! Built-in rotation of access logs (`access_log … rotate_size=100m rotate_time=1d
//! rotate_keep=7`), for hosts without logrotate. Off the request path: one thread of its own
//! that the control thread starts ([`spawn`]).
//!
//! Every shard appends to the same file through its own descriptor, so rotating cannot be a
//! shard's private affair. One actor, this thread, decides and renames: every
//! [`TICK`] it reads the current configuration (so a reload's logs are followed), and for
//! each rotating path checks the file's size (one `stat`) and whether a `rotate_time` period
//! boundary (multiples of the period since the epoch, UTC) has passed since it last looked.
//! To rotate it shifts `path.1` … `path.(keep-1)` up by one (dropping `path.keep`), renames
//! `path` to `path.1`, then bumps the `log::reopen` generation. Shards keep appending to
//! the renamed file until their next tick (≤ 100 ms), write their buffers into it, close it,
//! and open `path` afresh: no line is lost and none is split. The size limit is therefore
//! approximate (a file grows by what arrives before the check); a second rotation of the
//! same file waits at least one [`TICK`], longer than a shard's tick, so the renamed file is
//! closed by every shard before it can be shifted again.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::reopen;
use crate::config::model::{AccessLog, Config, Location, Rotate};

/// How often the rotation thread looks at the files.
pub const TICK: Duration = Duration::from_millis(250);

/// Starts the rotation thread; it ends once `stop` is set. It costs nothing but a wake-up per
/// tick when no log rotates.
pub fn spawn(
    current: impl Fn() -> Arc<Config> + Send + 'static,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("anx-logrotate".to_string())
        .spawn(move || {
            let mut periods = HashMap::new();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                let config = current();
                if check_all(&config, &mut periods) {
                    reopen::request();
                }
            }
        })
}

/// Rotates every due file; true when any was rotated. `periods` remembers, per path, the
/// `rotate_time` period it was last seen in.
fn check_all(config: &Config, periods: &mut HashMap<PathBuf, u64>) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut rotated = false;
    for (path, rotate) in rotating_logs(config) {
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        if !due(
            &rotate,
            size,
            now,
            periods.entry(path.clone()).or_insert(u64::MAX),
        ) {
            continue;
        }
        match rotate_file(&path, rotate.keep) {
            Ok(()) => {
                log::info!("access log {} rotated ({size} bytes)", path.display());
                rotated = true;
            }
            Err(e) => log::error!("cannot rotate access log {}: {e}", path.display()),
        }
    }
    rotated
}

/// Whether a file of `size` bytes is due at `now` (seconds since the epoch). `last_period`
/// is the `rotate_time` period seen last (`u64::MAX`: never looked yet, which starts the
/// count without rotating); it is updated. An empty file is never rotated.
fn due(rotate: &Rotate, size: u64, now: u64, last_period: &mut u64) -> bool {
    let mut due = rotate.size.is_some_and(|limit| size >= limit);
    if let Some(every) = rotate.every {
        let period = now / every.as_secs().max(1);
        if *last_period != u64::MAX && period != *last_period {
            due = true;
        }
        *last_period = period;
    }
    due && size > 0
}

/// `path.(keep-1)` → `path.keep` … `path` → `path.1`; the oldest beyond `keep` is deleted.
pub fn rotate_file(path: &Path, keep: u32) -> io::Result<()> {
    let numbered = |n: u32| {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    };
    let keep = keep.max(1);
    ignore_missing(std::fs::remove_file(numbered(keep)))?;
    for n in (1..keep).rev() {
        ignore_missing(std::fs::rename(numbered(n), numbered(n + 1)))?;
    }
    std::fs::rename(path, numbered(1))
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Each rotating path once (the first `access_log` naming it sets its rules).
fn rotating_logs(config: &Config) -> Vec<(PathBuf, Rotate)> {
    fn note(logs: &[AccessLog], out: &mut Vec<(PathBuf, Rotate)>) {
        for log in logs {
            if let Some(r) = log.rotate {
                if !out.iter().any(|(p, _)| *p == log.path) {
                    out.push((log.path.clone(), r));
                }
            }
        }
    }
    fn walk(locations: &[Location], out: &mut Vec<(PathBuf, Rotate)>) {
        for l in locations {
            note(&l.access_logs, out);
            walk(&l.locations, out);
        }
    }
    let mut out = Vec::new();
    for server in &config.servers {
        note(&server.access_logs, &mut out);
        note(&server.fallback.access_logs, &mut out);
        walk(&server.locations, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(size: Option<u64>, every: Option<u64>) -> Rotate {
        Rotate {
            size,
            every: every.map(Duration::from_secs),
            keep: 2,
        }
    }

    #[test]
    fn size_and_period_decide() {
        let mut last = u64::MAX;
        assert!(due(&rule(Some(10), None), 10, 0, &mut last));
        assert!(!due(&rule(Some(10), None), 9, 0, &mut last));
        let hourly = rule(None, Some(3600));
        let mut last = u64::MAX;
        // The first look only starts the count; the same hour is not due, the next one is.
        assert!(!due(&hourly, 5, 7200, &mut last));
        assert!(!due(&hourly, 5, 7200 + 3599, &mut last));
        assert!(due(&hourly, 5, 3 * 3600, &mut last));
        // An empty file waits for the next boundary with something in it.
        assert!(!due(&hourly, 0, 4 * 3600, &mut last));
    }

    #[test]
    fn rotation_shifts_and_keeps_at_most_keep_files() {
        let dir = std::env::temp_dir().join(format!("anx-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.log");
        for round in 1..=4 {
            std::fs::write(&path, format!("{round}\n")).unwrap();
            rotate_file(&path, 2).unwrap();
        }
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        assert_eq!(read("a.log"), None);
        assert_eq!(read("a.log.1").as_deref(), Some("4\n"));
        assert_eq!(read("a.log.2").as_deref(), Some("3\n"));
        assert_eq!(read("a.log.3"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
