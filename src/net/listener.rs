//! Listening sockets, one per `listen` address per shard.
//!
//! Built with socket2 so that the backlog and options are ours (glommio's own `bind`
//! hard-codes a backlog of 1024): SO_REUSEADDR + SO_REUSEPORT so every shard binds the same
//! address and the kernel spreads connections, IPV6_V6ONLY on v6 sockets so "[::]:80" and
//! "0.0.0.0:80" can coexist as in nginx. The fd is then handed to glommio on its shard.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::model::Listen;

/// Creates, binds and listens a socket for `listen`.
pub fn bind(listen: &Listen) -> io::Result<Socket> {
    let domain = match listen.addr {
        SocketAddr::V4(_) => Domain::IPV4,
        SocketAddr::V6(_) => Domain::IPV6,
    };
    let socket = Socket::new(domain, Type::STREAM.cloexec(), Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if listen.addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&listen.addr.into())?;
    let backlog = i32::try_from(listen.backlog).unwrap_or(i32::MAX);
    socket.listen(backlog)?;
    Ok(socket)
}

/// Hands a bound socket to the glommio executor running on this thread.
pub fn into_glommio(socket: Socket) -> glommio::net::TcpListener {
    // SAFETY: the fd comes from a listening socket we own and give away here.
    unsafe { glommio::net::TcpListener::from_raw_fd(socket.into_raw_fd()) }
}
