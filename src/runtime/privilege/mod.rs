//! `user USER [GROUP]`: the server gives up root after start-up, keeping a privileged
//! helper process for what reloads and log reopens still need root for. Start-up and
//! control thread only; nothing here is on the request path.
//!
//! Start-up, in `runtime::run`: the configuration (and every certificate and key it names)
//! was read as root, the listening sockets are bound; then [`separate`]:
//! 1. makes the log files ready for the user (`logs`: created, owned by the user);
//! 2. forks the helper (`helper`) while the control thread is still the only thread,
//!    connected by a socketpair (`wire`);
//! 3. switches the server process to the user for good (`switch`: initgroups, setgid,
//!    setuid, then every thread's ids read back), before any shard or other thread starts;
//! 4. routes what the user may not do to the helper: files the configuration loader is
//!    refused (`config::files::set_fallback`), ports it may not bind ([`bind_denied`]),
//!    log files to create and chown before a reopen ([`before_reopen`]), and the pid file
//!    in a root-owned directory ([`write_pid`]).
//!
//! Why a helper rather than a retained capability: `CAP_NET_BIND_SERVICE` would cover new
//! privileged ports but not a 0600 root key or a reopened log in a root-owned directory;
//! `CAP_DAC_READ_SEARCH`/`CAP_DAC_OVERRIDE`/`CAP_CHOWN` would, but then every shard could
//! read or write any file on the host, which is most of what root is. The helper instead
//! grants only what a configuration it loaded itself, as root, names (see `helper`), and
//! the shards hold no capability at all. It is nginx's root master, reduced to five
//! requests.
//!
//! The server's pid stays the one in the pid file and the one systemd watches; the helper
//! is its child, ends when it ends (socket EOF, parent-death signal), and is no shard.
//! Without `user`, or when not started as root (then nginx's warning, and the directive is
//! ignored), none of this happens.

mod helper;
pub mod logs;
pub mod switch;
mod wire;

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use crate::config::model::{Config, Listen};
use crate::config::resolve::user::IGNORED;
use crate::runtime::Reloader;
use wire::Channel;

/// The server's side of the helper, once there is one (one per process).
struct Privileged {
    channel: Mutex<Channel>,
}

static HELPER: OnceLock<Privileged> = OnceLock::new();

/// Carries out `config.user` (see the module comment). `reload` is what the helper loads
/// configurations with: the server's own reloader, so both read the same file with the
/// same command-line overrides.
pub fn separate(config: &Config, reload: &mut Reloader) -> Result<(), String> {
    let Some(user) = &config.user else {
        return Ok(());
    };
    let Some(ids) = user.ids else {
        // Not root: looked up at load time only as root, so this is nginx's ignored case.
        log::warn!("{IGNORED}");
        return Ok(());
    };
    if ids.uid == 0 {
        // `user root`: nothing to give up, so nothing to keep a helper for.
        return switch::to_user(&user.name, ids);
    }
    let threads = switch::threads().map_err(|e| format!("reading /proc/self/task: {e}"))?;
    if threads.len() != 1 {
        return Err(format!(
            "cannot switch to user \"{}\": {} threads already run (internal error)",
            user.name,
            threads.len()
        ));
    }
    for problem in logs::prepare(config, ids.uid) {
        log::error!("{problem}");
    }
    let (ours, theirs) = wire::pair().map_err(|e| format!("socketpair() failed ({e})"))?;
    // SAFETY: getpid cannot fail.
    let server = unsafe { libc::getpid() };
    // SAFETY: this process has one thread (checked above), so the child starts with a
    // consistent copy of it: no lock can be held by a thread that does not exist there.
    match unsafe { libc::fork() } {
        -1 => return Err(format!("fork() failed ({})", io::Error::last_os_error())),
        0 => {
            drop(ours);
            helper::run(theirs, reload, ids.uid, server);
        }
        child => {
            drop(theirs);
            switch::to_user(&user.name, ids)
                .map_err(|e| format!("cannot switch to user \"{}\": {e}", user.name))?;
            let _ = HELPER.set(Privileged {
                channel: Mutex::new(ours),
            });
            crate::config::files::set_fallback(ask_open);
            log::info!(
                "running as user \"{}\" (uid {}, gid {}); privileged helper pid {child}",
                user.name,
                ids.uid,
                ids.gid
            );
        }
    }
    Ok(())
}

/// Whether a helper runs (the server has given up root).
pub fn active() -> bool {
    HELPER.get().is_some()
}

/// One request to the helper and its answer: the remark it made and the descriptor it sent.
fn ask(kind: u8, body: &[u8]) -> Result<(String, Option<OwnedFd>), String> {
    let helper = HELPER.get().ok_or("no privileged helper")?;
    // One request at a time: a poisoned lock only means an earlier asker panicked.
    let channel = helper.channel.lock().unwrap_or_else(|e| e.into_inner());
    let gone = |e: io::Error| format!("the privileged helper is gone ({e})");
    channel.send(kind, body, None).map_err(gone)?;
    match channel.recv().map_err(gone)? {
        Some((wire::OK, text, fd)) => Ok((String::from_utf8_lossy(&text).into_owned(), fd)),
        Some((_, text, _)) => Err(String::from_utf8_lossy(&text).into_owned()),
        None => Err("the privileged helper is gone".to_string()),
    }
}

fn ask_open(path: &Path) -> io::Result<File> {
    let text = path
        .to_str()
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EACCES))?;
    match ask(wire::OPEN, text.as_bytes()) {
        Ok((_, Some(fd))) => Ok(File::from(fd)),
        Ok((_, None)) | Err(_) => Err(io::Error::from_raw_os_error(libc::EACCES)),
    }
}

/// Before a reload reads the configuration: the helper loads it first, as root, so the
/// files, addresses and logs it names are what it will grant. Its refusal is the reload's.
pub fn before_reload() -> Result<(), String> {
    if !active() {
        return Ok(());
    }
    let (remarks, _) = ask(wire::RELOAD, b"")?;
    log_remarks(&remarks);
    Ok(())
}

/// Before the logs reopen (SIGUSR1): the helper creates the log files and gives them to the
/// user, so the shards can open them in directories they cannot write.
pub fn before_reopen() {
    if !active() {
        return;
    }
    match ask(wire::REOPEN, b"") {
        Ok((remarks, _)) => log_remarks(&remarks),
        Err(e) => log::error!("reopen: {e}"),
    }
}

fn log_remarks(remarks: &str) {
    for line in remarks.split("; ").filter(|l| !l.is_empty()) {
        log::error!("{line}");
    }
}

/// A bind refused for lack of privilege (a port below 1024 after the switch) is asked of
/// the helper; any other outcome is `refused` itself.
pub fn bind_denied(listen: &Listen, refused: io::Error) -> io::Result<socket2::Socket> {
    if !active() || refused.raw_os_error() != Some(libc::EACCES) {
        return Err(refused);
    }
    match ask(wire::BIND, listen.addr.to_string().as_bytes()) {
        Ok((_, Some(fd))) => Ok(socket2::Socket::from(fd)),
        Ok((_, None)) => Err(refused),
        Err(e) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{refused}; privileged helper: {e}"),
        )),
    }
}

/// Writes the pid file through the helper when there is one (`Some`), since the server may
/// no longer write where it lives; the helper removes it once the server has exited.
pub fn write_pid() -> Option<Result<(), String>> {
    active().then(|| ask(wire::WRITE_PID, b"").map(|_| ()))
}
