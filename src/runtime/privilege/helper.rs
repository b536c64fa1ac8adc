//! The privileged helper: a small process forked at start-up, before the server gives up
//! root, that stays root and does on request the few things the server then cannot. It is
//! no shard and runs no request; it lives for as long as the server does.
//!
//! What it grants is decided by configurations it loads itself, as root, with the
//! command line the server was started with: on start and on every reload request it loads
//! the configuration (inside `config::files::record`) and keeps, as its allow-list, the
//! files that load opened (path, device and inode), the listen addresses it names and its
//! log files. A request for anything else is refused, so a compromised server can get no
//! more than a reload would give it anyway:
//! - `RELOAD`: load the configuration again (a refused one keeps the old list); make its
//!   log files ready (`logs::prepare`);
//! - `OPEN path`: a read-only descriptor for a file the last load opened, if the path
//!   still leads to that same file;
//! - `BIND addr`: a listening socket for one of the configuration's listen addresses,
//!   built by the same `net::listener::bind` with the configuration's own options;
//! - `REOPEN`: make the log files ready (create, give to the user) before the server
//!   reopens them;
//! - `WRITE_PID`: write the server's pid to the configuration's pid file; the helper
//!   removes it when the server has gone, if it still holds that pid.
//!
//! It ends when the server's end of the socketpair closes (the server exited, however it
//! ended) or when the kernel's parent-death signal says the server is gone. Interactive and
//! control signals (SIGINT, SIGHUP, SIGQUIT, SIGUSR1) are the server's business: a Ctrl-C
//! reaching the whole process group must not take the helper away from a server finishing
//! a graceful stop.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::logs;
use super::wire::{self, Channel};
use crate::config::files::{self, Opened};
use crate::config::model::{Config, Listen};
use crate::runtime::Reloader;

struct Helper<'a> {
    channel: Channel,
    reload: &'a mut Reloader,
    uid: u32,
    /// The server's process id (our parent).
    server: libc::pid_t,
    files: Vec<Opened>,
    listens: Vec<Listen>,
    config: Option<Config>,
    /// The pid file it wrote, removed at the end.
    pid_file: Option<PathBuf>,
}

/// Runs the helper in the child of the fork; never returns.
pub(super) fn run(channel: Channel, reload: &mut Reloader, uid: u32, server: libc::pid_t) -> ! {
    isolate(&channel, server);
    let mut helper = Helper {
        channel,
        reload,
        uid,
        server,
        files: Vec::new(),
        listens: Vec::new(),
        config: None,
        pid_file: None,
    };
    // The start-up list; the server's own start-up load was done before the fork.
    let _ = helper.load();
    helper.serve();
    helper.remove_pid_file();
    // SAFETY: ending the child without running the parent's atexit handlers or destructors.
    unsafe { libc::_exit(0) }
}

extern "C" fn wake(_: libc::c_int) {}

/// Detaches the child from what it inherited from the server: signals, sockets, output.
fn isolate(channel: &Channel, server: libc::pid_t) {
    // SAFETY: prctl/sigaction/signal calls with valid arguments, in a single-threaded child.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGTERM as libc::c_ulong,
            0,
            0,
            0,
        );
        if libc::getppid() != server {
            libc::_exit(0);
        }
        libc::prctl(
            libc::PR_SET_NAME,
            c"anx: privileged".as_ptr() as libc::c_ulong,
            0,
            0,
            0,
        );
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
        for sig in [
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGPIPE,
            libc::SIGWINCH,
        ] {
            libc::signal(sig, libc::SIG_IGN);
        }
        // SIGTERM (the parent-death signal, or systemd's stop) only interrupts the wait:
        // the loop then checks whether the server is still there.
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = wake as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut act.sa_mask);
        act.sa_flags = 0;
        libc::sigaction(libc::SIGTERM, &act, std::ptr::null_mut());
    }
    close_inherited_sockets(channel.raw());
    // Its loads would repeat the server's notes and log lines; it answers through the
    // socketpair instead.
    log::set_max_level(log::LevelFilter::Off);
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto the standard descriptors of this process.
        unsafe {
            libc::dup2(null.as_raw_fd(), 1);
            libc::dup2(null.as_raw_fd(), 2);
        }
    }
}

/// Closes every socket but `keep`: the listeners bound before the fork must have the server
/// as their only owner, or a reload that drops an address would leave it listening here.
fn close_inherited_sockets(keep: i32) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        if fd <= 2 || fd == keep {
            continue;
        }
        // SAFETY: fstat into a zeroed struct; close of a descriptor this process owns.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK {
                libc::close(fd);
            }
        }
    }
}

impl Helper<'_> {
    fn serve(&mut self) {
        loop {
            match self.channel.recv() {
                Ok(Some((kind, body, _))) => {
                    let answer = self.answer(kind, &body);
                    let sent = match &answer {
                        Ok((text, fd)) => self.channel.send(
                            wire::OK,
                            text.as_bytes(),
                            fd.as_ref().map(AsFd::as_fd),
                        ),
                        Err(e) => self.channel.send(wire::ERR, e.as_bytes(), None),
                    };
                    if sent.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    // SAFETY: getppid cannot fail.
                    if unsafe { libc::getppid() } != self.server {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }

    /// One request → (a remark for the log, a descriptor) or the reason it was refused.
    fn answer(&mut self, kind: u8, body: &[u8]) -> Result<(String, Option<File>), String> {
        let text = std::str::from_utf8(body).map_err(|_| "request is not UTF-8".to_string());
        match kind {
            wire::RELOAD => self.load().map(|remarks| (remarks, None)),
            wire::REOPEN => Ok((self.prepare_logs(), None)),
            wire::OPEN => self
                .open(Path::new(&text?))
                .map(|f| (String::new(), Some(f))),
            wire::BIND => self.bind(text?).map(|f| (String::new(), Some(f))),
            wire::WRITE_PID => self.write_pid().map(|()| (String::new(), None)),
            other => Err(format!("unknown request {other:#x}")),
        }
    }

    /// Loads the configuration as root and makes what it names the new allow-list.
    fn load(&mut self) -> Result<String, String> {
        let (loaded, opened) = files::record(|| (self.reload)());
        let config = loaded?;
        self.files = opened;
        self.listens = config.listen_addrs();
        self.config = Some(config);
        Ok(self.prepare_logs())
    }

    fn prepare_logs(&self) -> String {
        match &self.config {
            Some(config) => logs::prepare(config, self.uid).join("; "),
            None => String::new(),
        }
    }

    fn open(&self, path: &Path) -> Result<File, String> {
        let refused = || {
            format!(
                "\"{}\" is not a file the configuration names",
                path.display()
            )
        };
        let known = self
            .files
            .iter()
            .find(|f| f.path == path)
            .ok_or_else(refused)?;
        let file = File::open(path).map_err(|e| e.to_string())?;
        let meta = file.metadata().map_err(|e| e.to_string())?;
        // The path may have been pointed elsewhere since the load (a symlink in a directory
        // the user can write): only the file that load read is handed out.
        if (meta.dev(), meta.ino()) != (known.dev, known.ino) {
            return Err(refused());
        }
        Ok(file)
    }

    /// `addr` as the server writes it (`127.0.0.1:80`, `unix:/path`).
    fn bind(&self, addr: &str) -> Result<File, String> {
        let listen = self
            .listens
            .iter()
            .find(|l| l.addr.to_string() == addr)
            .ok_or_else(|| format!("{addr} is not a listen address of the configuration"))?;
        let socket = crate::net::listener::bind(listen)
            .map_err(|e| format!("bind() to {addr} failed ({e})"))?;
        Ok(File::from(std::os::fd::OwnedFd::from(socket)))
    }

    fn write_pid(&mut self) -> Result<(), String> {
        let Some(path) = self.config.as_ref().and_then(|c| c.pid.clone()) else {
            return Err("the configuration names no pid file".to_string());
        };
        std::fs::write(&path, format!("{}\n", self.server)).map_err(|e| {
            format!(
                "open() \"{}\" failed ({})",
                path.display(),
                crate::log::os_error(&e)
            )
        })?;
        self.pid_file = Some(path);
        Ok(())
    }

    /// As `runtime::pid::PidFile` would on exit: only if it still names the server.
    fn remove_pid_file(&self) {
        if let Some(path) = &self.pid_file {
            let ours = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| crate::runtime::pid::parse_pid(&t))
                == Some(self.server);
            if ours {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper(reload: &mut Reloader) -> Helper<'_> {
        let (_, theirs) = wire::pair().unwrap();
        Helper {
            channel: theirs,
            reload,
            uid: 0,
            server: 1,
            files: Vec::new(),
            listens: Vec::new(),
            config: None,
            pid_file: None,
        }
    }

    #[test]
    fn grants_only_what_its_own_load_opened() {
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("named.key");
        let other = dir.path().join("other.key");
        std::fs::write(&named, "k").unwrap();
        std::fs::write(&other, "o").unwrap();
        let path = named.clone();
        let mut reload: Reloader = Box::new(move || {
            files::read(&path).map_err(|e| e.to_string())?;
            Err("stop after reading".to_string())
        });
        let mut h = helper(&mut reload);
        // A refused load keeps the old (empty) list.
        assert!(h.load().is_err());
        assert!(h.open(&named).is_err());

        let (_, opened) = files::record(|| files::read(&named));
        h.files = opened;
        assert!(h.open(&named).is_ok());
        assert!(h
            .open(&other)
            .unwrap_err()
            .contains("not a file the configuration names"));
        // The same path pointed at another file since the load: refused.
        std::fs::remove_file(&named).unwrap();
        std::fs::rename(&other, &named).unwrap();
        assert!(h.open(&named).is_err());
    }

    #[test]
    fn binds_only_listen_addresses_of_the_configuration() {
        let mut reload: Reloader = Box::new(|| Err("unused".to_string()));
        let h = helper(&mut reload);
        let e = h.bind("127.0.0.1:81").unwrap_err();
        assert!(e.contains("not a listen address"), "{e}");
        assert!(h.bind("not an address").is_err());
    }

    #[test]
    fn unknown_requests_are_refused() {
        let mut reload: Reloader = Box::new(|| Err("unused".to_string()));
        let mut h = helper(&mut reload);
        assert!(h.answer(b'?', b"").is_err());
        assert!(
            h.answer(wire::WRITE_PID, b"").is_err(),
            "no configuration, no pid file"
        );
    }
}
