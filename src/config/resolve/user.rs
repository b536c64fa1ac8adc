//! `user USER [GROUP]` → numeric ids, at load time (control thread; never the request path).
//!
//! As nginx: when anx is not started as root the directive is ignored with a warning and
//! the names are not looked up (nothing could use them); as root an unknown user or group is
//! an error naming file:line (nginx's `getpwnam("x") failed`). Without GROUP, nginx uses the
//! group named like the user; where there is none (`nobody` on Debian, whose group is
//! `nogroup`) anx falls back to the user's primary group instead of refusing to start.
//! The switch itself happens in `runtime::privilege`.

use std::ffi::CString;

use super::Resolver;
use crate::config::model::{User, UserIds};
use crate::config::tree::{At, RawUser};

/// nginx's warning, word for word, when `user` cannot take effect.
pub const IGNORED: &str = "the \"user\" directive makes sense only if the master process runs \
                           with super-user privileges, ignored";

pub(super) fn resolve(raw: &At<RawUser>, r: &mut Resolver) -> Option<User> {
    let RawUser { name, group } = &raw.value;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        r.notes.push(raw.origin.error(IGNORED));
        return Some(User {
            name: name.clone(),
            group: group.clone(),
            ids: None,
        });
    }
    let Some(account) = account(name) else {
        r.error(&raw.origin, format!("getpwnam(\"{name}\") failed"));
        return None;
    };
    let gid = match group {
        Some(g) => match group_id(g) {
            Some(gid) => gid,
            None => {
                r.error(&raw.origin, format!("getgrnam(\"{g}\") failed"));
                return None;
            }
        },
        None => group_id(name).unwrap_or(account.primary_gid),
    };
    Some(User {
        name: name.clone(),
        group: group.clone(),
        ids: Some(UserIds {
            uid: account.uid,
            gid,
        }),
    })
}

/// What the password database says about one account.
pub struct Account {
    pub uid: u32,
    pub primary_gid: u32,
}

/// Room for one passwd/group entry's strings; entries with huge member lists get more.
const START_BUFFER: usize = 1024;
const MAX_BUFFER: usize = 1 << 20;

/// Runs a `get*nam_r` call with a buffer that grows while the entry does not fit (ERANGE);
/// `call` returns the call's result code and the entry's value when one was found.
fn with_buffer<T>(
    name: &str,
    mut call: impl FnMut(&std::ffi::CStr, &mut [libc::c_char]) -> (libc::c_int, Option<T>),
) -> Option<T> {
    let cname = CString::new(name).ok()?;
    let mut size = START_BUFFER;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        let (rc, found) = call(&cname, &mut buf);
        if rc == libc::ERANGE && size < MAX_BUFFER {
            size *= 4;
            continue;
        }
        return if rc == 0 { found } else { None };
    }
}

/// `getpwnam_r` (the reentrant form: the control thread is not alone in the process when
/// a reload resolves the configuration).
pub fn account(name: &str) -> Option<Account> {
    with_buffer(name, |cname, buf| {
        // SAFETY: zeroed passwd is a valid out-parameter (pointers null, ids 0).
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer refers to live storage of the stated size.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        let account = (!found.is_null()).then_some(Account {
            uid: pwd.pw_uid,
            primary_gid: pwd.pw_gid,
        });
        (rc, account)
    })
}

/// `getgrnam_r`: the id of group `name`.
pub fn group_id(name: &str) -> Option<u32> {
    with_buffer(name, |cname, buf| {
        // SAFETY: zeroed group is a valid out-parameter.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer refers to live storage of the stated size.
        let rc = unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                &mut grp,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        (rc, (!found.is_null()).then_some(grp.gr_gid))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_uid_zero_and_unknown_names_are_none() {
        let root = account("root").expect("every Linux has root");
        assert_eq!(root.uid, 0);
        assert_eq!(group_id("root"), Some(0));
        assert!(account("no-such-user-anx").is_none());
        assert!(group_id("no-such-group-anx").is_none());
        assert!(account("bad\0name").is_none());
    }
}
