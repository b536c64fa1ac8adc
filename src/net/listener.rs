//! Listening sockets, one per `listen` address per shard.
//!
//! Built with socket2 so that the backlog and options are ours (glommio's own `bind`
//! hard-codes a backlog of 1024): SO_REUSEADDR + SO_REUSEPORT so every shard binds the same
//! address and the kernel spreads connections, IPV6_V6ONLY on v6 sockets so "[::]:80" and
//! "0.0.0.0:80" can coexist as in nginx, SO_RCVBUF / SO_SNDBUF from `rcvbuf=` / `sndbuf=`
//! (accepted sockets inherit them). The fd is then handed to glommio on its shard.
//!
//! A `listen unix:/path` is one socket shared by every shard (a socket file has one owner;
//! SO_REUSEPORT does not spread Unix sockets): the control thread binds it once and each
//! shard accepts on a duplicate of the descriptor. Like nginx, a stale socket file left by
//! an earlier run is removed before the bind and the file is removed when the address stops
//! being listened on.

use std::io;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::path::Path;

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::model::{Listen, SockAddr};

/// Creates, binds and listens a socket for `listen`.
pub fn bind(listen: &Listen) -> io::Result<Socket> {
    let socket = match &listen.addr {
        SockAddr::Inet(addr) => {
            let domain = if addr.is_ipv6() {
                Domain::IPV6
            } else {
                Domain::IPV4
            };
            let socket = Socket::new(domain, Type::STREAM.cloexec(), Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            socket.set_reuse_port(true)?;
            if addr.is_ipv6() {
                socket.set_only_v6(true)?;
            }
            set_buffers(&socket, listen)?;
            socket.bind(&(*addr).into())?;
            socket
        }
        SockAddr::Unix(path) => {
            let socket = Socket::new(Domain::UNIX, Type::STREAM.cloexec(), None)?;
            set_buffers(&socket, listen)?;
            remove_stale(path);
            socket.bind(&socket2::SockAddr::unix(path)?)?;
            socket
        }
    };
    let backlog = i32::try_from(listen.backlog).unwrap_or(i32::MAX);
    socket.listen(backlog)?;
    Ok(socket)
}

fn set_buffers(socket: &Socket, listen: &Listen) -> io::Result<()> {
    if let Some(n) = listen.rcvbuf {
        socket.set_recv_buffer_size(n as usize)?;
    }
    if let Some(n) = listen.sndbuf {
        socket.set_send_buffer_size(n as usize)?;
    }
    Ok(())
}

/// nginx unlinks the path before binding a Unix socket (a file left by a run that did not
/// stop cleanly would make bind() fail). Only a socket file is removed, never a regular
/// file someone mistyped as the path.
fn remove_stale(path: &Path) {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}

/// Removes the socket file of a Unix listen address that is no longer used (on stop, or
/// when a reload drops it), as nginx does.
pub fn remove_socket_file(addr: &SockAddr) {
    if let SockAddr::Unix(path) = addr {
        remove_stale(path);
    }
}

/// Hands a bound socket to the glommio executor running on this thread.
///
/// A Unix listening socket goes through glommio's TCP types too: glommio's `UnixListener`
/// cannot adopt a descriptor bound elsewhere, and accept, recv, send and peek are the same
/// io_uring operations on either family. Nothing asks such a stream for what only TCP has
/// (its addresses come from the configuration; setting TCP_NODELAY on it just fails).
pub fn into_glommio(socket: Socket) -> glommio::net::TcpListener {
    // SAFETY: the fd comes from a listening socket we own and give away here.
    unsafe { glommio::net::TcpListener::from_raw_fd(socket.into_raw_fd()) }
}
