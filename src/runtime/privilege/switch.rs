//! Giving up root for good (start-up, control thread, before any other thread exists):
//! supplementary groups, then the group, then the user, then a check that it stuck.
//!
//! The order matters: once the uid is not 0, setgroups and setgid are refused. glibc's
//! `initgroups`/`setgid`/`setuid` wrappers apply the change to every thread of the process
//! (the raw syscalls change only the calling thread); anx calls them while the control
//! thread is the only thread, and then reads every thread's credentials back from
//! `/proc/self/task` anyway, so a thread left as root is an error, not a hope.

use std::ffi::CString;
use std::io;

use crate::config::model::UserIds;

/// Switches the whole process to `name` (`ids`), supplementary groups included.
pub fn to_user(name: &str, ids: UserIds) -> Result<(), String> {
    let UserIds { uid, gid } = ids;
    let cname = CString::new(name).map_err(|_| format!("bad user name \"{name}\""))?;
    // SAFETY: cname is a valid C string; initgroups reads the group database.
    if unsafe { libc::initgroups(cname.as_ptr(), gid) } != 0 {
        return Err(format!(
            "initgroups({name}, {gid}) failed ({})",
            last_error()
        ));
    }
    // SAFETY: plain syscalls on this process's credentials.
    if unsafe { libc::setgid(gid) } != 0 {
        return Err(format!("setgid({gid}) failed ({})", last_error()));
    }
    // SAFETY: as above.
    if unsafe { libc::setuid(uid) } != 0 {
        return Err(format!("setuid({uid}) failed ({})", last_error()));
    }
    check(ids)
}

/// Real, effective and saved ids of every thread are the user's, and root cannot come back.
fn check(ids: UserIds) -> Result<(), String> {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: getresuid/getresgid write three ids into the variables passed.
    unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    if [r, e, s] != [ids.uid; 3] {
        return Err(format!("uid is {r}/{e}/{s} after setuid({})", ids.uid));
    }
    // SAFETY: as above.
    unsafe { libc::getresgid(&mut r, &mut e, &mut s) };
    if [r, e, s] != [ids.gid; 3] {
        return Err(format!("gid is {r}/{e}/{s} after setgid({})", ids.gid));
    }
    // SAFETY: an attempt to regain root, expected to fail with EPERM.
    if ids.uid != 0 && unsafe { libc::setuid(0) } == 0 {
        return Err("setuid(0) still succeeds after the switch".to_string());
    }
    for (task, uids, gids) in threads().map_err(|e| format!("reading /proc/self/task: {e}"))? {
        if uids.iter().any(|&u| u != ids.uid) || gids.iter().any(|&g| g != ids.gid) {
            return Err(format!(
                "thread {task} still has uids {uids:?} gids {gids:?} after the switch"
            ));
        }
    }
    Ok(())
}

/// One thread's credentials: its id, its four uids and its four gids (real, effective,
/// saved, filesystem), as `/proc/self/task/TID/status` shows them.
pub type ThreadIds = (String, Vec<u32>, Vec<u32>);

/// The credentials of every thread of this process.
pub fn threads() -> io::Result<Vec<ThreadIds>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task")? {
        let entry = entry?;
        let status = std::fs::read_to_string(entry.path().join("status"))?;
        let ids = |key: &str| -> Vec<u32> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|rest| {
                    rest.split_whitespace()
                        .filter_map(|n| n.parse().ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            ids("Uid:"),
            ids("Gid:"),
        ));
    }
    Ok(out)
}

fn last_error() -> String {
    crate::log::os_error(&io::Error::last_os_error())
}
