//! Connections to upstream peers: TCP, TLS over TCP (`proxy_pass https://`) or unix
//! socket, behind one type, with the proxy's connect/read/write timeouts.
//!
//! `serve::proxy` opens these (or takes one from the shard's pool, `upstream::pool`) and
//! reads and writes through [`UpstreamConn`]; nothing above `serve/` sees glommio.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt, FutureExt};
use glommio::net::{TcpStream, UnixStream};

use crate::config::model::PeerAddr;

/// A TLS session to an upstream, over glommio's TCP stream.
pub type TlsUpstream = futures_rustls::client::TlsStream<TcpStream>;

/// One connection to a peer.
pub enum UpstreamConn {
    Tcp(TcpStream),
    /// Boxed: rustls's connection state is large, and most upstream connections are plain.
    Tls(Box<TlsConn>),
    /// glommio's unix stream does not expose its descriptor; it is kept beside it.
    Unix(UnixStream, RawFd),
}

/// A TLS session and what it was opened with, so that the pool hands it only to a request
/// that would have opened the same one (same location settings on this shard, same name
/// checked): a connection verified for one name is never reused for another.
pub struct TlsConn {
    stream: TlsUpstream,
    config: Arc<rustls::ClientConfig>,
    name: String,
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}

/// Runs `fut`, failing with `TimedOut` after `limit` (zero = no limit).
pub async fn within<T>(
    limit: Duration,
    what: &str,
    fut: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    if limit.is_zero() {
        return fut.await;
    }
    fut.or(async {
        glommio::timer::sleep(limit).await;
        Err(timed_out(what))
    })
    .await
}

impl UpstreamConn {
    /// Connects to `addr` within `timeout`.
    pub async fn connect(addr: &PeerAddr, timeout: Duration) -> io::Result<UpstreamConn> {
        let timeout = timeout.max(Duration::from_millis(1));
        match addr {
            PeerAddr::Inet(a) => {
                let stream = TcpStream::connect_timeout(*a, timeout)
                    .await
                    .map_err(io::Error::from)?;
                let _ = stream.set_nodelay(true);
                Ok(UpstreamConn::Tcp(stream))
            }
            PeerAddr::Unix(path) => {
                // A unix-socket connect completes at once or fails at once (a full backlog
                // is EAGAIN on a non-blocking socket), so it runs here without io_uring.
                let std_stream = std::os::unix::net::UnixStream::connect(path)?;
                std_stream.set_nonblocking(true)?;
                let fd = std::os::fd::IntoRawFd::into_raw_fd(std_stream);
                // SAFETY: `fd` was just released by a connected std stream; glommio owns it
                // from here and closes it on drop.
                let stream = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
                Ok(UpstreamConn::Unix(stream, fd))
            }
        }
    }

    /// Connects to `addr` from the local address `local` (`proxy_bind`; port 0 lets the
    /// kernel pick one at connect time), within `timeout`. `transparent` sets IP_TRANSPARENT
    /// so `local` need not be an address of this host.
    ///
    /// glommio's connect cannot bind first, so the socket is made here with socket2 and
    /// the non-blocking connect is waited for by polling its writability between short
    /// sleeps; only `proxy_bind` locations take this path.
    pub async fn connect_from(
        addr: std::net::SocketAddr,
        local: std::net::SocketAddr,
        transparent: bool,
        timeout: Duration,
    ) -> io::Result<UpstreamConn> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        let fd = socket.as_raw_fd();
        let set = |level: libc::c_int, name: libc::c_int| {
            let one: libc::c_int = 1;
            // SAFETY: setsockopt reads `one` (a c_int, its size given) on our own socket.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    level,
                    name,
                    std::ptr::from_ref(&one).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        if transparent {
            if addr.is_ipv4() {
                set(libc::SOL_IP, libc::IP_TRANSPARENT)?;
            } else {
                set(libc::SOL_IPV6, libc::IPV6_TRANSPARENT)?;
            }
        }
        if local.port() == 0 && local.is_ipv4() {
            // Leave the port to connect(), so many binds to one address do not run out of
            // ports (nginx does the same).
            let _ = set(libc::SOL_IP, libc::IP_BIND_ADDRESS_NO_PORT);
        }
        socket.bind(&local.into())?;
        socket.set_nonblocking(true)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                let started = std::time::Instant::now();
                let mut pause = Duration::from_micros(100);
                loop {
                    let mut pfd = libc::pollfd {
                        fd,
                        events: libc::POLLOUT,
                        revents: 0,
                    };
                    // SAFETY: one pollfd, ours, with a zero timeout (never blocks).
                    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
                    if n > 0 {
                        if let Some(err) = socket.take_error()? {
                            return Err(err);
                        }
                        break;
                    }
                    if started.elapsed() >= timeout {
                        return Err(timed_out("connect"));
                    }
                    glommio::timer::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
            }
            Err(e) => return Err(e),
        }
        let fd = std::os::fd::IntoRawFd::into_raw_fd(socket);
        // SAFETY: `fd` is a connected TCP socket just released by socket2; glommio owns it
        // from here and closes it on drop.
        let stream: TcpStream = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
        let _ = stream.set_nodelay(true);
        Ok(UpstreamConn::Tcp(stream))
    }

    /// Runs the TLS handshake on a connected TCP stream within `timeout`, naming the
    /// server `name` (checked when the config verifies; sent in SNI when it enables SNI).
    /// The error is rustls's, for the error log; a non-TCP connection is refused.
    pub async fn handshake(
        self,
        config: Arc<rustls::ClientConfig>,
        name: &str,
        timeout: Duration,
    ) -> io::Result<UpstreamConn> {
        let UpstreamConn::Tcp(stream) = self else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "TLS over a unix socket is not supported",
            ));
        };
        let server_name = rustls::pki_types::ServerName::try_from(name.to_string())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "invalid server name"))?;
        let connector = futures_rustls::TlsConnector::from(Arc::clone(&config));
        let stream = within(
            timeout,
            "SSL handshake",
            connector.connect(server_name, stream),
        )
        .await?;
        Ok(UpstreamConn::Tls(Box::new(TlsConn {
            stream,
            config,
            name: name.to_string(),
        })))
    }

    /// Whether a pooled connection may serve a request that wants plain TCP (`tls` is
    /// `None`) or TLS with this client config and server name.
    pub fn opened_for(&self, tls: Option<(&Arc<rustls::ClientConfig>, &str)>) -> bool {
        match (self, tls) {
            (UpstreamConn::Tls(t), Some((config, name))) => {
                Arc::ptr_eq(&t.config, config) && t.name == name
            }
            (UpstreamConn::Tls(_), None) | (_, Some(_)) => false,
            (_, None) => true,
        }
    }

    fn fd(&self) -> RawFd {
        match self {
            UpstreamConn::Tcp(s) => s.as_raw_fd(),
            UpstreamConn::Tls(s) => s.stream.get_ref().0.as_raw_fd(),
            UpstreamConn::Unix(_, fd) => *fd,
        }
    }

    /// True when an idle connection still looks usable: the peer has not closed it and has
    /// sent nothing unasked (one non-blocking peek, no wait).
    pub fn still_open(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: recv into a one-byte stack buffer on a descriptor this value owns.
        let n = unsafe {
            libc::recv(
                self.fd(),
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
    }

    /// Reads some bytes, failing with `TimedOut` after `timeout` without any.
    pub async fn read_within(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        match self {
            UpstreamConn::Tcp(s) => {
                s.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
                futures_lite::AsyncReadExt::read(s, buf).await
            }
            UpstreamConn::Tls(s) => {
                // The timeout sits on the TCP stream: rustls reads through it.
                let s = &mut s.stream;
                s.get_ref()
                    .0
                    .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
                futures_lite::AsyncReadExt::read(s, buf).await
            }
            UpstreamConn::Unix(s, _) => {
                within(timeout, "read", futures_lite::AsyncReadExt::read(s, buf)).await
            }
        }
    }

    /// Writes all of `buf`; each blocked write may wait up to `timeout`.
    pub async fn write_within(&mut self, buf: &[u8], timeout: Duration) -> io::Result<()> {
        match self {
            UpstreamConn::Tcp(s) => {
                s.set_write_timeout(Some(timeout.max(Duration::from_millis(1))))?;
                s.write_all(buf).await
            }
            UpstreamConn::Tls(s) => {
                let s = &mut s.stream;
                s.get_ref()
                    .0
                    .set_write_timeout(Some(timeout.max(Duration::from_millis(1))))?;
                // futures-rustls keeps written bytes as records until flushed: without the
                // flush the request could sit here while anx waits for its answer.
                s.write_all(buf).await?;
                s.flush().await
            }
            UpstreamConn::Unix(s, _) => within(timeout, "write", s.write_all(buf)).await,
        }
    }
}

impl AsyncRead for UpstreamConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamConn::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamConn::Tls(s) => Pin::new(&mut s.stream).poll_read(cx, buf),
            UpstreamConn::Unix(s, _) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamConn::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamConn::Tls(s) => Pin::new(&mut s.stream).poll_write(cx, buf),
            UpstreamConn::Unix(s, _) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamConn::Tcp(s) => Pin::new(s).poll_flush(cx),
            UpstreamConn::Tls(s) => Pin::new(&mut s.stream).poll_flush(cx),
            UpstreamConn::Unix(s, _) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamConn::Tcp(s) => Pin::new(s).poll_close(cx),
            UpstreamConn::Tls(s) => Pin::new(&mut s.stream).poll_close(cx),
            UpstreamConn::Unix(s, _) => Pin::new(s).poll_close(cx),
        }
    }
}
