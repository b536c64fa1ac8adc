//! The client side of a connection: the accepted TCP stream, plain (and, with TLS, wrapped
//! in a session), behind one type for `serve/`.
//!
//! `shard/` accepts and builds a [`ClientStream`]; `serve::h1` reads and writes through it
//! and asks it for what only a plain socket offers (a descriptor for sendfile). Timeouts
//! are set on the TCP stream underneath, so they bound the wait for bytes whatever wraps
//! them.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

/// A TLS session over an accepted TCP stream.
pub type TlsStream = futures_rustls::server::TlsStream<TcpStream>;

/// What [`ClientStream::peer_activity`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerActivity {
    /// End of stream or a reset: the client is gone.
    Closed,
    /// Bytes are waiting (a pipelined request, a TLS record): the client is still there, and
    /// looking again would only find the same bytes.
    Sent,
}

/// One accepted client connection.
pub enum ClientStream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl ClientStream {
    fn tcp(&self) -> &TcpStream {
        match self {
            ClientStream::Plain(s) => s,
            ClientStream::Tls(s) => s.get_ref().0,
        }
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp()
            .set_read_timeout(timeout)
            .map_err(io::Error::from)
    }

    pub fn write_timeout(&self) -> Option<Duration> {
        self.tcp().write_timeout()
    }

    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp()
            .set_write_timeout(timeout)
            .map_err(io::Error::from)
    }

    /// The socket to sendfile(2) into, when bytes may go to it unencrypted.
    pub fn sendfile_fd(&self) -> Option<RawFd> {
        match self {
            ClientStream::Plain(s) => Some(s.as_raw_fd()),
            ClientStream::Tls(_) => None,
        }
    }

    /// Waits until the client either closes its end or sends something, looking at the
    /// receive queue without consuming it (nginx's `ngx_http_test_reading`). A response that
    /// waits (paced by `limit_rate`, or for an upstream) races this, so a client that went
    /// away frees its connection at once instead of at the next write.
    pub async fn peer_activity(&self) -> PeerActivity {
        let mut byte = [0u8; 1];
        loop {
            match self.tcp().peek(&mut byte).await.map_err(io::Error::from) {
                Ok(0) => return PeerActivity::Closed,
                Ok(_) => return PeerActivity::Sent,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A reset or any other receive error: nothing more will come from it.
                Err(_) => return PeerActivity::Closed,
            }
        }
    }

    /// Ends the sending direction (what was written still goes out).
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            ClientStream::Plain(s) => s
                .shutdown(std::net::Shutdown::Write)
                .await
                .map_err(io::Error::from),
            // close_notify first, then the TCP half-close.
            ClientStream::Tls(s) => {
                s.get_mut().1.send_close_notify();
                futures_lite::AsyncWriteExt::flush(&mut **s).await?;
                s.get_ref()
                    .0
                    .shutdown(std::net::Shutdown::Write)
                    .await
                    .map_err(io::Error::from)
            }
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ClientStream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ClientStream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ClientStream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_close(cx),
            ClientStream::Tls(s) => Pin::new(&mut **s).poll_close(cx),
        }
    }
}
