//! The kernel side of parked connections: one epoll set per shard, watched by a thread.
//!
//! glommio can wait for a socket only through a `Source` of its own (~0.5 KB each), which is
//! what a parked connection must not hold. So parked sockets go into an epoll set (kernel
//! memory), each registered once (EPOLLONESHOT) under a token. A thread, started with the
//! first park and pinned where the shard is (it inherits the shard thread's affinity),
//! sleeps in `epoll_wait` and writes the tokens that fired into a socket pair; the shard reads
//! them from its end with glommio like any socket. It ends when the shard drops its end.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

/// The token of the watcher's own end of the pair: its hang-up means the shard is gone.
const SHARD_GONE: u64 = u64::MAX;
/// Events taken per `epoll_wait` (and tokens per write).
const BATCH: usize = 64;

/// The epoll set and the shard's end of the pair the watcher writes tokens to.
pub struct Watcher {
    epoll: OwnedFd,
}

impl Watcher {
    /// Creates the set, starts the thread, and returns the socket tokens arrive on.
    pub fn start() -> io::Result<(Watcher, UnixStream)> {
        // SAFETY: epoll_create1 returns a new descriptor or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor owned by nobody else.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        let (shard_end, watcher_end) = UnixStream::pair()?;
        let watcher = Watcher { epoll };
        // Only hang-ups are asked for: the shard never writes to its end.
        watcher.add(watcher_end.as_raw_fd(), SHARD_GONE, libc::EPOLLRDHUP as u32)?;
        let epoll = watcher.epoll.try_clone()?;
        std::thread::Builder::new()
            .name("anx-park-watch".into())
            .spawn(move || watch(epoll, watcher_end))?;
        Ok((watcher, shard_end))
    }

    /// Watches `fd` until it is readable or hung up, once.
    pub fn watch_once(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let events = libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT;
        self.add(fd, token, events as u32)
    }

    /// Stops watching `fd` (before it is handed back to glommio).
    pub fn forget(&self, fd: RawFd) {
        // SAFETY: both descriptors are open; a null event is allowed for EPOLL_CTL_DEL.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            );
        }
    }

    fn add(&self, fd: RawFd, token: u64, events: u32) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: token };
        // SAFETY: both descriptors are open and `event` outlives the call.
        let rc =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The watcher thread's loop.
fn watch(epoll: OwnedFd, mut out: UnixStream) {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
    let mut tokens = Vec::with_capacity(BATCH * 8);
    loop {
        // SAFETY: `events` has room for BATCH entries.
        let n =
            unsafe { libc::epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), BATCH as i32, -1) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        tokens.clear();
        for event in &events[..n as usize] {
            let token = event.u64;
            if token == SHARD_GONE {
                return;
            }
            tokens.extend_from_slice(&token.to_le_bytes());
        }
        if out.write_all(&tokens).is_err() {
            return;
        }
    }
}

/// Splits what the shard read from the pair into tokens, keeping a partial one for later.
pub fn take_tokens(pending: &mut Vec<u8>, read: &[u8], mut each: impl FnMut(u64)) {
    pending.extend_from_slice(read);
    let whole = pending.len() / 8 * 8;
    for chunk in pending[..whole].chunks_exact(8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        each(u64::from_le_bytes(bytes));
    }
    pending.drain(..whole);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_across_reads_are_put_together() {
        let mut pending = Vec::new();
        let mut seen = Vec::new();
        let stream: Vec<u8> = [7u64, 1 << 40, 3]
            .iter()
            .flat_map(|t| t.to_le_bytes())
            .collect();
        take_tokens(&mut pending, &stream[..5], |t| seen.push(t));
        assert!(seen.is_empty());
        take_tokens(&mut pending, &stream[5..20], |t| seen.push(t));
        assert_eq!(seen, vec![7, 1 << 40]);
        take_tokens(&mut pending, &stream[20..], |t| seen.push(t));
        assert_eq!(seen, vec![7, 1 << 40, 3]);
        assert!(pending.is_empty());
    }

    #[test]
    fn a_readable_socket_fires_its_token_once() {
        let (watcher, mut tokens) = Watcher::start().expect("watcher");
        let (mut client, server) = UnixStream::pair().expect("pair");
        watcher.watch_once(server.as_raw_fd(), 42).expect("watch");
        client.write_all(b"GET").expect("write");
        let mut buf = [0u8; 16];
        let n = std::io::Read::read(&mut tokens, &mut buf).expect("read");
        assert_eq!(&buf[..n], &42u64.to_le_bytes());
        // One-shot: more bytes do not fire it again.
        client.write_all(b" /").expect("write");
        tokens
            .set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .expect("timeout");
        assert!(std::io::Read::read(&mut tokens, &mut buf).is_err());
        watcher.forget(server.as_raw_fd());
    }
}
