//! Opening the files a configuration names (the file itself, includes, `mime.types`, TLS
//! certificates, keys, CAs, CRLs, ticket keys, OCSP responses): control thread, load time
//! only, never the request path.
//!
//! Every loader opens through [`open`], so privilege separation (`runtime::privilege`) can
//! hook in without the loaders knowing about it:
//! - after anx has switched to its `user`, a file that user may not open (a 0600 root key)
//!   is asked of the privileged helper process instead ([`set_fallback`]);
//! - the helper itself loads the configuration as root inside [`record`], and what that
//!   load opened (path plus device and inode) is the list of files it will hand out.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One file a load opened: its path as the loader named it, and which file that was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
}

type Fallback = Box<dyn Fn(&Path) -> io::Result<File> + Send + Sync>;

static FALLBACK: OnceLock<Fallback> = OnceLock::new();
thread_local! {
    /// `Some` while [`record`] runs on this thread (the helper's only thread; a load never
    /// spreads over threads).
    static RECORDING: RefCell<Option<Vec<Opened>>> = const { RefCell::new(None) };
}

/// Installs the opener tried when opening a file here fails with EACCES/EPERM. Set once,
/// when the process gives up root; later calls are ignored.
pub fn set_fallback(f: impl Fn(&Path) -> io::Result<File> + Send + Sync + 'static) {
    let _ = FALLBACK.set(Box::new(f));
}

/// Runs `load` and returns, with its result, every file it opened through [`open`].
pub fn record<T>(load: impl FnOnce() -> T) -> (T, Vec<Opened>) {
    RECORDING.with(|r| *r.borrow_mut() = Some(Vec::new()));
    let out = load();
    let opened = RECORDING
        .with(|r| r.borrow_mut().take())
        .unwrap_or_default();
    (out, opened)
}

/// Opens `path` for reading, through the fallback when this process may not.
pub fn open(path: &Path) -> io::Result<File> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
            match FALLBACK.get() {
                Some(fallback) => fallback(path).map_err(|_| e)?,
                None => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    if RECORDING.with(|r| r.borrow().is_some()) {
        let meta = file.metadata()?;
        let opened = Opened {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        };
        RECORDING.with(|r| r.borrow_mut().as_mut().map(|list| list.push(opened)));
    }
    Ok(file)
}

/// [`open`], then the whole file.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// [`read`] as UTF-8 (as `std::fs::read_to_string` says when it is not).
pub fn read_to_string(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_lists_what_was_opened() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, "x").unwrap();
        let (text, opened) = record(|| read_to_string(&a).unwrap());
        assert_eq!(text, "x");
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0].path, a);
        assert!(read(&dir.path().join("missing")).is_err());
    }
}
