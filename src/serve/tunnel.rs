//! The tunnel after a relayed `101 Switching Protocols` (WebSocket and other upgrades):
//! bytes flow both ways, untouched, until both sides are done or nothing moves for
//! `proxy_read_timeout`.
//!
//! `serve::proxy` calls [`run`] with the client connection's state and the upstream
//! connection; a side that closes gets its half-close passed on (shutdown of the other
//! side's write direction) and the tunnel ends when both directions have ended.

use std::io;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt, FutureExt};

use super::h1::State;
use crate::net::upstream::UpstreamConn;

const TUNNEL_BUF: usize = 16 * 1024;

/// One direction of the tunnel: a buffer of bytes read and not yet written.
struct Direction {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The source has closed; once the buffer is written the destination's write side is
    /// shut down.
    eof: bool,
    shut: bool,
    /// Bytes written to the destination so far.
    written: u64,
}

impl Direction {
    fn new(initial: &[u8]) -> Direction {
        let mut buf = vec![0; TUNNEL_BUF.max(initial.len())];
        buf[..initial.len()].copy_from_slice(initial);
        Direction {
            buf,
            start: 0,
            end: initial.len(),
            eof: false,
            shut: false,
            written: 0,
        }
    }

    fn done(&self) -> bool {
        self.eof && self.start == self.end
    }

    /// Moves what it can without waiting; `Ok(true)` when any byte moved or a side closed.
    fn pump<R, W>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        from: &mut R,
        to: &mut W,
    ) -> io::Result<bool>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut moved = false;
        loop {
            if self.start < self.end {
                match Pin::new(&mut *to).poll_write(cx, &self.buf[self.start..self.end]) {
                    Poll::Ready(Ok(0)) => {
                        return Err(io::Error::new(io::ErrorKind::WriteZero, "peer closed"))
                    }
                    Poll::Ready(Ok(n)) => {
                        self.start += n;
                        self.written += n as u64;
                        moved = true;
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Err(e),
                    Poll::Pending => return Ok(moved),
                }
            }
            if moved {
                // A TLS session keeps what it was given until flushed; plain TCP has nothing
                // to flush.
                if let Poll::Ready(Err(e)) = Pin::new(&mut *to).poll_flush(cx) {
                    return Err(e);
                }
            }
            if self.eof {
                return Ok(moved);
            }
            self.start = 0;
            self.end = 0;
            match Pin::new(&mut *from).poll_read(cx, &mut self.buf) {
                Poll::Ready(Ok(0)) => {
                    self.eof = true;
                    return Ok(true);
                }
                Poll::Ready(Ok(n)) => {
                    self.end = n;
                    moved = true;
                }
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Ok(moved),
            }
        }
    }
}

/// Runs the tunnel; `from_upstream` are bytes the upstream sent after its 101 head.
/// Returns (bytes from the upstream, bytes to the upstream) that went through.
pub(super) async fn run(
    st: &mut State,
    upstream: &mut UpstreamConn,
    from_upstream: &[u8],
    idle: Duration,
) -> (u64, u64) {
    // Bytes the client sent after its request head (a client may start talking at once).
    let pending = st.pending().to_vec();
    let n = pending.len();
    st.consume(n);
    let mut up = Direction::new(from_upstream);
    let mut down = Direction::new(&pending);
    let client = &mut st.conn.stream;
    // The per-read timeouts of the connection loop would end a quiet direction while the
    // other is busy; the tunnel keeps its own idle limit instead.
    let _ = client.set_read_timeout(None);
    let _ = client.set_write_timeout(None);
    let idle = idle.max(Duration::from_millis(1));
    loop {
        let step = futures_lite::future::poll_fn(|cx| {
            let a = up.pump(cx, upstream, client);
            let b = down.pump(cx, client, upstream);
            let (a, b) = match (a, b) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => return Poll::Ready(Err(e)),
            };
            if a || b {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        })
        .or(async {
            glommio::timer::sleep(idle).await;
            Err(io::Error::new(io::ErrorKind::TimedOut, "tunnel idle"))
        })
        .await;
        if step.is_err() {
            break;
        }
        // Pass half-closes on.
        if up.done() && !up.shut {
            up.shut = true;
            let _ = client.flush().await;
            let _ = client.shutdown_write().await;
        }
        if down.done() && !down.shut {
            down.shut = true;
            let _ = upstream.close().await;
        }
        if up.done() && down.done() {
            break;
        }
    }
    (up.written, down.written)
}
