//! `limit_rate` / `limit_rate_after`: pacing of a response body on its way to the client,
//! on the connection task.
//!
//! `serve::h1` (static files, error pages, `return`) and `serve::proxy` (relayed bodies)
//! read the location's settings when a response starts ([`for_request`]) and write the
//! body through [`State::paced_write`], which sleeps between slices so that the body
//! never runs ahead of nginx's allowance: `rate × (seconds since the request started + 1)
//! + limit_rate_after` bytes.

use std::io;
use std::time::{Duration, Instant};

use futures_lite::AsyncWriteExt;

use super::h1::State;
use crate::config::model::{Config, RateSettings, Server};
use crate::context::state::{Received, RequestState};
use crate::context::vars::Ctx;
use crate::http::response::Body;
use crate::net::client::PeerActivity;

/// The pacing of one response body.
#[derive(Debug, Clone)]
pub struct Pace {
    /// Bytes a second.
    rate: u64,
    /// Bytes sent at full speed first.
    after: u64,
    /// When the request started (nginx counts from there).
    start: Instant,
    /// Body bytes written so far.
    sent: u64,
    /// Whether the pauses still watch for the client leaving (until it sends something).
    watch_client: bool,
    /// How far ahead of the rate the bytes may run.
    slack: Duration,
}

impl Pace {
    /// `limit_rate`'s pacing; `None` for rate 0 (no limit).
    pub fn new(rate: u64, after: u64, start: Instant) -> Option<Pace> {
        (rate > 0).then_some(Pace {
            rate,
            after,
            start,
            sent: 0,
            watch_client: true,
            slack: Duration::from_secs(1),
        })
    }

    /// `proxy_limit_rate`'s pacing of upstream reads; `None` for rate 0. nginx's event pipe
    /// holds each read back by its size over the rate, so the upstream side has no second
    /// of slack.
    pub fn upstream(rate: u64, start: Instant) -> Option<Pace> {
        Pace::new(rate, 0, start).map(|p| Pace {
            slack: Duration::ZERO,
            ..p
        })
    }

    /// How long to wait at `now` before more may go (nginx's allowance, with its slack).
    pub fn wait(&self, now: Instant) -> Duration {
        let limited = self.sent.saturating_sub(self.after);
        let due = Duration::from_secs_f64(limited as f64 / self.rate as f64);
        let elapsed = now.saturating_duration_since(self.start) + self.slack;
        due.saturating_sub(elapsed)
    }

    /// At most this much in one write: an eighth of a second's worth (at least 1 byte), so
    /// a write never overshoots the allowance by much.
    pub fn slice(&self) -> usize {
        usize::try_from(self.rate / 8).unwrap_or(usize::MAX).max(1)
    }

    /// `limit_rate_after`.
    pub fn after(&self) -> u64 {
        self.after
    }

    pub fn sent(&mut self, n: usize) {
        self.sent += n as u64;
    }
}

use crate::config::tree::size_value as size;

/// The pacing the location's `limit_rate` asks for, its values read with the request's
/// variables; `None` without a limit.
pub fn for_request<'c>(
    config: &'c Config,
    server: &'c Server,
    recv: Received<'_>,
    state: &mut RequestState<'c>,
    rate: &'c RateSettings,
) -> Option<Pace> {
    let set = state.limit_rate;
    if set.is_none() && rate.limit_rate.is_none() {
        return None;
    }
    let mut ctx = Ctx {
        config,
        server,
        req: recv,
        st: std::mem::replace(state, RequestState::new(Vec::new())),
    };
    // `set $limit_rate` wins over the location's value.
    let bytes = set.or_else(|| {
        let mut text = Vec::new();
        if let Some(limit) = &rate.limit_rate {
            ctx.eval(limit, &mut text);
        }
        size(&text)
    });
    let after = rate.limit_rate_after.as_ref().and_then(|t| {
        let mut text = Vec::new();
        ctx.eval(t, &mut text);
        size(&text)
    });
    *state = ctx.st;
    Pace::new(bytes?, after.unwrap_or(0), recv.started)
}

impl State {
    /// Sends the write buffer, paced when `pace` is given (else a plain flush).
    pub(super) async fn flush_paced(&mut self, pace: Option<&mut Pace>) -> io::Result<()> {
        let Some(pace) = pace else {
            return self.flush().await;
        };
        let mut data = std::mem::take(&mut self.wbuf);
        let result = self.paced_write(&data, pace).await;
        data.clear();
        self.conn.shard.buffers.give(data);
        result
    }

    /// A response body, paced (files are read and written, not sent with sendfile).
    pub(super) async fn write_body_paced(
        &mut self,
        body: &Body,
        pace: &mut Pace,
    ) -> io::Result<()> {
        match body {
            Body::Empty => Ok(()),
            Body::Bytes(b) => self.paced_write(b, pace).await,
            Body::Shared { bytes, start, end } => {
                let bytes = bytes.clone();
                self.paced_write(&bytes[*start..*end], pace).await
            }
            Body::File(range) => {
                let mut buf = vec![0u8; 64 * 1024];
                let (mut offset, end) = (range.offset, range.offset + range.len);
                while offset < end {
                    let want = ((end - offset) as usize).min(buf.len());
                    let n = std::os::unix::fs::FileExt::read_at(
                        &*range.file,
                        &mut buf[..want],
                        offset,
                    )?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "file truncated while sending",
                        ));
                    }
                    self.paced_write(&buf[..n], pace).await?;
                    offset += n as u64;
                }
                Ok(())
            }
            Body::Multipart { parts, closing } => {
                for part in parts {
                    self.paced_write(&part.head, pace).await?;
                    Box::pin(self.write_body_paced(&part.body, pace)).await?;
                }
                self.paced_write(closing, pace).await
            }
        }
    }

    /// Writes what the write buffer holds, then `data`, no faster than `pace` allows.
    pub(super) async fn paced_write(&mut self, data: &[u8], pace: &mut Pace) -> io::Result<()> {
        self.flush().await?;
        let mut at = 0;
        while at < data.len() {
            let wait = pace.wait(Instant::now());
            if !wait.is_zero() {
                self.pause_unless_client_leaves(wait, pace).await?;
            }
            let n = pace.slice().min(data.len() - at);
            self.conn.stream.write_all(&data[at..at + n]).await?;
            pace.sent(n);
            at += n;
        }
        self.conn.stream.flush().await
    }

    /// Sleeps `wait` between paced slices, watching the client meanwhile: a client that
    /// closes ends the response now (its connection freed, as nginx's test_reading does),
    /// not after the next slice fails. Once the client has sent bytes (a pipelined request)
    /// looking again would find the same bytes, so the rest of this response just sleeps.
    async fn pause_unless_client_leaves(
        &mut self,
        wait: Duration,
        pace: &mut Pace,
    ) -> io::Result<()> {
        if !pace.watch_client {
            glommio::timer::sleep(wait).await;
            return Ok(());
        }
        let until = Instant::now() + wait;
        let slept = async {
            glommio::timer::sleep(wait).await;
            None
        };
        let watched = async { Some(self.conn.stream.peer_activity().await) };
        match futures_lite::future::or(slept, watched).await {
            None => Ok(()),
            Some(PeerActivity::Closed) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "client closed the connection while a paced response was waiting",
            )),
            Some(PeerActivity::Sent) => {
                pace.watch_client = false;
                glommio::timer::sleep(until.saturating_duration_since(Instant::now())).await;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_allowance() {
        let t0 = Instant::now();
        let mut p = Pace::new(1000, 500, t0).unwrap();
        // Within limit_rate_after and the first second's slack: no wait.
        p.sent(1400);
        assert_eq!(p.wait(t0), Duration::ZERO);
        p.sent(2100);
        // 3000 limited bytes at 1000/s are due at 3s; 1s slack: wait 2s at the start.
        assert_eq!(p.wait(t0), Duration::from_secs(2));
        assert_eq!(p.wait(t0 + Duration::from_secs(2)), Duration::ZERO);
        assert_eq!(p.slice(), 125);
        assert!(Pace::new(0, 0, t0).is_none());
        assert_eq!(size(b"12k"), Some(12 * 1024));
        assert_eq!(size(b""), None);
        assert_eq!(size(b"x"), None);
    }

    #[test]
    fn upstream_reads_have_no_slack() {
        let t0 = Instant::now();
        let mut p = Pace::upstream(1000, t0).unwrap();
        p.sent(500);
        // nginx's pipe holds a 500-byte read back for half a second at 1000/s.
        assert_eq!(p.wait(t0), Duration::from_millis(500));
        assert_eq!(p.wait(t0 + Duration::from_millis(500)), Duration::ZERO);
        assert!(Pace::upstream(0, t0).is_none());
    }
}
