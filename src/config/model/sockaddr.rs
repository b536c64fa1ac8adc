//! Socket addresses as the configuration and the request path name them: a TCP address or
//! a Unix-domain socket path (nginx's `unix:/path`).
//!
//! A `listen` is keyed by one ([`SockAddr`]) from the configuration down to the shard's
//! accept loop and the routing tables; a connection's two ends are one each
//! (`$remote_addr`, `$server_addr`). A Unix client's own end is unnamed, which nginx writes
//! "unix:" (an empty path), so the same type serves both.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

/// A TCP address or a Unix-domain socket path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SockAddr {
    Inet(SocketAddr),
    /// The socket file; empty for an unnamed (client) end.
    Unix(Arc<Path>),
}

impl SockAddr {
    /// The IP address, `None` for a Unix socket (geo and access read that as nginx does).
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            SockAddr::Inet(a) => Some(a.ip()),
            SockAddr::Unix(_) => None,
        }
    }

    /// The port, `None` for a Unix socket (`$remote_port`, `$server_port` are then empty).
    pub fn port(&self) -> Option<u16> {
        match self {
            SockAddr::Inet(a) => Some(a.port()),
            SockAddr::Unix(_) => None,
        }
    }

    pub fn inet(&self) -> Option<SocketAddr> {
        match self {
            SockAddr::Inet(a) => Some(*a),
            SockAddr::Unix(_) => None,
        }
    }

    /// An unnamed Unix end (a client of a `listen unix:` socket).
    pub fn unnamed_unix() -> SockAddr {
        SockAddr::Unix(Arc::from(Path::new("")))
    }

    /// What `$remote_addr` / `$server_addr` (and "client:" in log lines) print: the IP
    /// without port, or `unix:PATH`.
    pub fn host(&self) -> Host<'_> {
        Host(self)
    }

    pub fn write_host(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let _ = write!(out, "{}", self.host());
    }
}

/// [`SockAddr::host`]: the address without its port.
#[derive(Clone, Copy)]
pub struct Host<'a>(&'a SockAddr);

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            SockAddr::Inet(a) => write!(f, "{}", a.ip()),
            SockAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl From<SocketAddr> for SockAddr {
    fn from(a: SocketAddr) -> SockAddr {
        SockAddr::Inet(a)
    }
}

impl std::str::FromStr for SockAddr {
    type Err = std::net::AddrParseError;

    /// The [`fmt::Display`] form back: `unix:PATH` or `ip:port`.
    fn from_str(text: &str) -> Result<SockAddr, Self::Err> {
        match text.strip_prefix("unix:") {
            Some(path) => Ok(SockAddr::Unix(Arc::from(Path::new(path)))),
            None => text.parse().map(SockAddr::Inet),
        }
    }
}

impl fmt::Display for SockAddr {
    /// nginx's form: `127.0.0.1:80`, `[::1]:80`, `unix:/path`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SockAddr::Inet(a) => write!(f, "{a}"),
            SockAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_addresses_print_as_nginx_does() {
        let listen = SockAddr::Unix(Arc::from(Path::new("/run/a.sock")));
        assert_eq!(listen.to_string(), "unix:/run/a.sock");
        assert_eq!(SockAddr::unnamed_unix().to_string(), "unix:");
        assert_eq!(listen.ip(), None);
        assert_eq!(listen.port(), None);
        let mut out = Vec::new();
        SockAddr::unnamed_unix().write_host(&mut out);
        assert_eq!(out, b"unix:");
    }

    #[test]
    fn inet_addresses_keep_ip_and_port() {
        let a = SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(a.to_string(), "127.0.0.1:8080");
        assert_eq!(a.port(), Some(8080));
        let mut out = Vec::new();
        a.write_host(&mut out);
        assert_eq!(out, b"127.0.0.1");
    }
}
