//! Reading the PROXY header off an accepted connection, on the shard, before TLS or HTTP.
//!
//! The bytes are peeked (MSG_PEEK) until [`super::parse`] knows the header's length, then
//! exactly that many are read, so whatever follows (a ClientHello, a request) stays in the
//! socket for the next layer and nothing has to be handed over.

use std::io;
use std::time::Duration;

use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;

use super::{parse, Parsed, ProxyHeader, MAX_HEADER};
use crate::net::upstream::within;

/// Why a connection ended before its PROXY header was read.
#[derive(Debug)]
pub enum Failed {
    /// Not a valid header: nginx's error-log line for it.
    Broken(String),
    /// The client closed, timed out or the socket failed (logged at info level).
    Io(io::Error),
}

/// Reads the PROXY header at the start of `stream` within `timeout`.
pub async fn read(
    stream: &mut TcpStream,
    timeout: Duration,
) -> Result<Option<ProxyHeader>, Failed> {
    within(timeout, "reading PROXY protocol", take(stream))
        .await
        .map_err(
            |e| match e.get_ref().and_then(|i| i.downcast_ref::<Broken>()) {
                Some(Broken(line)) => Failed::Broken(line.clone()),
                None => Failed::Io(e),
            },
        )
}

#[derive(Debug)]
struct Broken(String);

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Broken {}

async fn take(stream: &mut TcpStream) -> io::Result<Option<ProxyHeader>> {
    let mut buf = vec![0u8; MAX_HEADER];
    loop {
        let n = stream.peek(&mut buf).await.map_err(io::Error::from)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        match parse(&buf[..n]) {
            Parsed::Done { len, header } => {
                stream.read_exact(&mut buf[..len]).await?;
                return Ok(header);
            }
            Parsed::Broken(line) => return Err(io::Error::other(Broken(line))),
            // The rest of the header is still arriving: peek again shortly (the caller's
            // timeout bounds the wait; a peek would return at once with the same bytes).
            Parsed::Incomplete => glommio::timer::sleep(Duration::from_millis(2)).await,
        }
    }
}
