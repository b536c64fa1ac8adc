//! Zero-copy file → socket transfer with sendfile(2), never blocking the shard.
//!
//! glommio's accepted sockets are in blocking mode and it has no sendfile; `serve/` switches a
//! connection to O_NONBLOCK once, before its first sendfile, and calls [`sendfile_some`] until
//! the range is sent or the socket buffer is full (`Ok(None)`), then waits for writability
//! through glommio before trying again.

use std::io;
use std::os::fd::RawFd;

/// Puts `fd` in non-blocking mode (glommio itself uses MSG_DONTWAIT, so it is unaffected).
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we hold; results are checked.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        if flags & libc::O_NONBLOCK == 0
            && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sets or clears TCP_CORK on `fd`. Corked, the kernel sends only full segments; clearing
/// it pushes the tail. `serve/` corks a sendfile body of 512 KiB or more from its head, and
/// a smaller one once the socket is full (`serve::h1::CORK_FROM_HEAD`): uncorked, a
/// 1 MiB body queued behind a closed window went out as the window reopened by small steps,
/// left the receiver's window at ~115 KiB with spurious retransmissions and had the client's
/// core push our queued data on every ACK (wrk saturated, the shard 80 % idle); corked, the
/// window opens to MiBs.
pub fn set_cork(fd: RawFd, on: bool) -> io::Result<()> {
    let value: libc::c_int = on.into();
    // SAFETY: setsockopt on a descriptor we hold, with a c_int option value.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends up to `len` bytes of `file` from `offset`. `Ok(Some(n))` sent n > 0 bytes,
/// `Ok(None)` means the socket is full (EAGAIN); errors are the peer's or the file's.
pub fn sendfile_some(
    socket: RawFd,
    file: RawFd,
    offset: u64,
    len: u64,
) -> io::Result<Option<usize>> {
    let mut off = offset as libc::off_t;
    let count = len.min(0x7fff_f000) as usize;
    loop {
        // SAFETY: both descriptors are open; `off` is a valid out-parameter.
        let n = unsafe { libc::sendfile(socket, file, &mut off, count) };
        if n > 0 {
            return Ok(Some(n as usize));
        }
        if n == 0 {
            // The file shrank under us: the promised length can no longer be sent.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file truncated while sending",
            ));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(None),
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
}
