//! Opening files beneath a root without ever leaving it.
//!
//! The static handler names a file as (root directory, relative path). With
//! `allow_symlinks_outside_root` off (the default), files are opened with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` relative to a per-shard descriptor of
//! the root, so the kernel itself refuses `..`, absolute symlinks and symlinks that climb out,
//! in one syscall and without races. Root descriptors are opened once per shard.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Per-shard descriptors of root/alias directories (`O_PATH | O_DIRECTORY`).
#[derive(Default)]
pub struct RootDirs {
    dirs: HashMap<PathBuf, OwnedFd>,
}

impl RootDirs {
    /// The descriptor of `root`, opened on first use. Failures are not cached: a root that
    /// appears later starts working without a restart.
    pub fn get(&mut self, root: &Path) -> io::Result<&OwnedFd> {
        if !self.dirs.contains_key(root) {
            let c = CString::new(root.as_os_str().as_bytes())
                .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            // SAFETY: `c` is a valid NUL-terminated path; the result is checked.
            let fd = unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                )
            };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` is a fresh descriptor we own.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            self.dirs.insert(root.to_path_buf(), owned);
        }
        self.dirs
            .get(root)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
    }
}

/// Opens `relative` (no leading '/') beneath `dir` read-only. `confine` selects the
/// RESOLVE_BENEATH behaviour described in the module comment.
pub fn open_beneath(dir: &OwnedFd, relative: &[u8], confine: bool) -> io::Result<File> {
    let rel = if relative.is_empty() {
        &b"."[..]
    } else {
        relative
    };
    let c = CString::new(rel).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK;
    let fd = if confine {
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = flags as u64;
        how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
        // SAFETY: valid dirfd, NUL-terminated path and an initialised open_how of the size we pass.
        unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            ) as i32
        }
    } else {
        // SAFETY: valid dirfd and NUL-terminated path; the result is checked.
        unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags) }
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor we own.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// The status a failed open maps to: missing → 404, escape attempts and permissions → 403.
pub fn status_for_open_error(e: &io::Error) -> u16 {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ENAMETOOLONG) => 404,
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EXDEV) | Some(libc::ELOOP) => 403,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_symlink_escape_when_confined() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        std::fs::write(root.path().join("ok"), b"o").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("link"))
            .unwrap();
        std::os::unix::fs::symlink("ok", root.path().join("inner")).unwrap();
        let mut dirs = RootDirs::default();
        let fd = dirs.get(root.path()).unwrap();
        assert!(open_beneath(fd, b"ok", true).is_ok());
        assert!(open_beneath(fd, b"inner", true).is_ok());
        let e = open_beneath(fd, b"link", true).unwrap_err();
        assert_eq!(status_for_open_error(&e), 403);
        let e = open_beneath(fd, b"../x", true).unwrap_err();
        assert_eq!(status_for_open_error(&e), 403);
        assert!(open_beneath(fd, b"link", false).is_ok());
        let e = open_beneath(fd, b"missing", true).unwrap_err();
        assert_eq!(status_for_open_error(&e), 404);
    }
}
