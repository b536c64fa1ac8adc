//! The socketpair between the server and its privileged helper (start-up and control thread
//! only): one request or answer per SOCK_SEQPACKET message, so there is no framing to get
//! wrong, and at most one descriptor per message passed with SCM_RIGHTS.
//!
//! A request is one kind byte and its argument; an answer is `O` (with the descriptor asked
//! for, if any) or `E` and the reason, worded for the error log.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Longest message either side sends (a path, an address, or a configuration's errors).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Request kinds.
pub const RELOAD: u8 = b'R';
pub const REOPEN: u8 = b'L';
pub const OPEN: u8 = b'F';
pub const BIND: u8 = b'B';
pub const WRITE_PID: u8 = b'P';

/// Answer kinds.
pub const OK: u8 = b'O';
pub const ERR: u8 = b'E';

/// One message: its kind, its body, and the descriptor it carried.
pub type Message = (u8, Vec<u8>, Option<OwnedFd>);

/// One end of the pair.
pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair: (server's end, helper's end). Both close on exec.
pub fn pair() -> io::Result<(Channel, Channel)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: socketpair writes two descriptors into the array we pass.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and ours alone.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((Channel { fd: a }, Channel { fd: b }))
}

/// Room for one descriptor's control message.
const CMSG_ROOM: usize = 64;

impl Channel {
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Sends `kind` + `body` (cut to [`MAX_MESSAGE`]), with `fd` attached if given.
    pub fn send(&self, kind: u8, body: &[u8], fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(1 + body.len().min(MAX_MESSAGE - 1));
        bytes.push(kind);
        bytes.extend_from_slice(&body[..body.len().min(MAX_MESSAGE - 1)]);
        let mut iov = libc::iovec {
            iov_base: bytes.as_mut_ptr().cast(),
            iov_len: bytes.len(),
        };
        let mut control = [0u8; CMSG_ROOM];
        // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let Some(fd) = fd {
            let raw = fd.as_raw_fd();
            // SAFETY: CMSG_SPACE/CMSG_LEN are arithmetic on a constant size.
            let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space;
            // SAFETY: the control buffer holds `space` bytes, enough for one descriptor, so
            // CMSG_FIRSTHDR is non-null and CMSG_DATA points inside it.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(&msg);
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), raw);
            }
        }
        loop {
            // SAFETY: msg describes live buffers; MSG_NOSIGNAL turns a gone peer into EPIPE.
            let n = unsafe { libc::sendmsg(self.raw(), &msg, libc::MSG_NOSIGNAL) };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// The next message and its descriptor; `None` once the other side has closed. EINTR is
    /// returned as an error so the helper can look at why it was woken.
    pub fn recv(&self) -> io::Result<Option<Message>> {
        let mut bytes = vec![0u8; MAX_MESSAGE];
        let mut iov = libc::iovec {
            iov_base: bytes.as_mut_ptr().cast(),
            iov_len: bytes.len(),
        };
        let mut control = [0u8; CMSG_ROOM];
        // SAFETY: as in `send`.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len();
        // SAFETY: msg describes live buffers of the stated sizes.
        let n = unsafe { libc::recvmsg(self.raw(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut fd = None;
        // SAFETY: walking the control messages the kernel wrote into `control`.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let raw = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
                    // Taking ownership closes it on every path below, used or not.
                    fd = Some(OwnedFd::from_raw_fd(raw));
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        if n == 0 {
            return Ok(None);
        }
        if msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "message from the other process was cut",
            ));
        }
        bytes.truncate(n as usize);
        let kind = bytes.remove(0);
        Ok(Some((kind, bytes, fd)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsFd;

    #[test]
    fn a_message_and_a_descriptor_cross() {
        let (a, b) = pair().unwrap();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"secret").unwrap();
        a.send(OK, b"here", Some(file.as_fd())).unwrap();
        let (kind, body, fd) = b.recv().unwrap().unwrap();
        assert_eq!((kind, body.as_slice()), (OK, &b"here"[..]));
        let mut got = std::fs::File::from(fd.unwrap());
        got.rewind().unwrap();
        let mut text = String::new();
        got.read_to_string(&mut text).unwrap();
        assert_eq!(text, "secret");
        drop(a);
        assert!(b.recv().unwrap().is_none());
    }
}
