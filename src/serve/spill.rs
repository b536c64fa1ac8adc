//! A request body read whole for a buffered proxy (`proxy_request_buffering on`), held as
//! nginx holds it: in memory up to `client_body_buffer_size`, then in a temporary file under
//! `client_body_temp_path` (always a file with `client_body_in_file_only`). `serve::proxy`
//! sends it from here to each attempt, so a retry on another peer has it again.
//!
//! Memory stays bounded by the buffer size whatever the client sends; the disk by
//! `client_max_body_size`. The file is removed when the request ends, unless
//! `client_body_in_file_only on` asks to keep it (nginx's `persistent`).
//!
//! The file is written with blocking `std::fs` calls on the shard thread: writes of one
//! read's worth (at most 16 KiB) land in the page cache, which is nginx's behaviour too
//! (its temp-file writes are plain `write(2)` unless `aio_write` is on).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::body::BodyOutcome;
use super::h1::State;
use crate::config::model::{BodyBuffering, InFileOnly};
use crate::context::state::BodyVars;
use crate::http::request::BodyFraming;

/// The body, complete.
pub(super) enum Stored {
    Memory(Rc<Vec<u8>>),
    File(TempBody),
}

impl Stored {
    pub(super) fn len(&self) -> u64 {
        match self {
            Stored::Memory(b) => b.len() as u64,
            Stored::File(f) => f.len,
        }
    }

    /// What `$request_body` / `$request_body_file` show.
    pub(super) fn vars(&self) -> BodyVars {
        match self {
            Stored::Memory(b) => BodyVars {
                memory: Some(b.clone()),
                file: None,
            },
            Stored::File(f) => BodyVars {
                memory: None,
                file: Some(f.path.clone()),
            },
        }
    }
}

/// A body in a temporary file; removed on drop unless kept.
pub(super) struct TempBody {
    file: File,
    pub(super) path: PathBuf,
    pub(super) len: u64,
    keep: bool,
}

impl TempBody {
    /// Reads up to `buf.len()` bytes at `offset`.
    pub(super) fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }
}

impl Drop for TempBody {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Numbers for temporary names, as nginx's: one sequence per process, started somewhere
/// hard to guess so that two servers sharing a directory rarely collide (a collision is
/// retried with the next number).
static NEXT: AtomicU64 = AtomicU64::new(0);

fn next_number() -> u64 {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    if n == 0 {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64)
            ^ u64::from(std::process::id()) << 16;
        let start = seed % 1_000_000_000 + 1;
        let _ = NEXT.compare_exchange(1, start + 1, Ordering::Relaxed, Ordering::Relaxed);
        return start;
    }
    n % 10_000_000_000
}

fn create(settings: &BodyBuffering) -> io::Result<TempBody> {
    let keep = settings.in_file_only == InFileOnly::On;
    let mut last = io::Error::other("no temporary file name left");
    for _ in 0..16 {
        let path = settings.temp_path.file(next_number());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => {
                return Ok(TempBody {
                    file,
                    path,
                    len: 0,
                    keep,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Where bytes go while the body arrives.
struct Sink<'s> {
    settings: &'s BodyBuffering,
    memory: Vec<u8>,
    file: Option<TempBody>,
    failed: Option<io::Error>,
}

impl Sink<'_> {
    fn push(&mut self, data: &[u8]) {
        if self.failed.is_some() || data.is_empty() {
            return;
        }
        if self.file.is_none() {
            let fits = (self.memory.len() + data.len()) as u64 <= self.settings.buffer_size;
            if fits && self.settings.in_file_only == InFileOnly::Off {
                self.memory.extend_from_slice(data);
                return;
            }
            if let Err(e) = self.open() {
                self.failed = Some(e);
                return;
            }
        }
        if let Some(f) = self.file.as_mut() {
            match f.file.write_all(data) {
                Ok(()) => f.len += data.len() as u64,
                Err(e) => self.failed = Some(e),
            }
        }
    }

    /// Moves to a file, taking what memory held so far.
    fn open(&mut self) -> io::Result<()> {
        let mut f = create(self.settings)?;
        f.file.write_all(&self.memory)?;
        f.len = self.memory.len() as u64;
        self.memory = Vec::new();
        self.file = Some(f);
        Ok(())
    }
}

/// Why a body could not be stored.
pub(super) enum StoreError {
    /// The client's side: too large, malformed, slow, gone.
    Client(BodyOutcome),
    /// The temporary file could not be written (500).
    Disk(io::Error),
}

/// Reads the whole body (within `max` bytes, 0 = unlimited, and `timeout` per read) into
/// memory or a temporary file as `settings` say.
pub(super) async fn store(
    st: &mut State,
    framing: BodyFraming,
    max: u64,
    timeout: Duration,
    settings: &BodyBuffering,
) -> Result<Stored, StoreError> {
    if let BodyFraming::Length(n) = framing {
        if max > 0 && n > max {
            return Err(StoreError::Client(BodyOutcome::TooLarge));
        }
    }
    let mut sink = Sink {
        settings,
        memory: Vec::new(),
        file: None,
        failed: None,
    };
    if let BodyFraming::Length(n) = framing {
        if n <= settings.buffer_size && settings.in_file_only == InFileOnly::Off {
            sink.memory.reserve(n as usize);
        }
    }
    let limit = if max == 0 { u64::MAX } else { max };
    let outcome = super::body::read_with(st, framing, limit, timeout, &mut |d| sink.push(d)).await;
    if let BodyOutcome::Done = outcome {
    } else {
        return Err(StoreError::Client(outcome));
    }
    if let Some(e) = sink.failed {
        return Err(StoreError::Disk(e));
    }
    match sink.file {
        Some(f) => Ok(Stored::File(f)),
        // An empty body with in_file_only still gets its (empty) file, as nginx.
        None if settings.in_file_only != InFileOnly::Off => {
            sink.open().map_err(StoreError::Disk)?;
            match sink.file {
                Some(f) => Ok(Stored::File(f)),
                None => Err(StoreError::Disk(io::Error::other("temporary file lost"))),
            }
        }
        None => Ok(Stored::Memory(Rc::new(sink.memory))),
    }
}
