//! Request bodies on the connection loop: read and discarded for handlers that take none,
//! or handed piece by piece to `serve::spill` (memory, then a temporary file) for a buffered
//! proxy, within `client_max_body_size` and `client_body_timeout`. The framing is decoded by
//! `http::body::Decoder`, the same decoder the proxy's relay uses.
//!
//! Discarding (rather than closing) keeps the connection usable for the next pipelined or
//! kept-alive request, as nginx does.

use std::io;

use super::buffers::CHUNK;
use super::h1::State;
use crate::http::body::{DecodeError, Decoder};
use crate::http::request::BodyFraming;
use std::time::Duration;

pub(super) enum BodyOutcome {
    Done,
    /// Over `client_max_body_size` (413, close).
    TooLarge,
    /// Broken chunked framing (400, close).
    Malformed,
    /// `client_body_timeout` between two reads (408, close).
    TimedOut,
    /// The client went away.
    Closed,
}

/// `max` is `client_max_body_size` (0 = unlimited); `timeout` is `client_body_timeout`.
pub(super) async fn discard(
    st: &mut State,
    framing: BodyFraming,
    max: u64,
    timeout: Duration,
) -> BodyOutcome {
    read(st, framing, max, timeout, &mut |_| {}).await
}

/// Reads the body, handing each decoded piece to `sink` (for `serve::spill`).
pub(super) async fn read_with(
    st: &mut State,
    framing: BodyFraming,
    max: u64,
    timeout: Duration,
    sink: &mut dyn FnMut(&[u8]),
) -> BodyOutcome {
    read(st, framing, max, timeout, sink).await
}

async fn read(
    st: &mut State,
    framing: BodyFraming,
    max: u64,
    timeout: Duration,
    sink: &mut dyn FnMut(&[u8]),
) -> BodyOutcome {
    let Some(mut decoder) = Decoder::request(framing, max) else {
        return BodyOutcome::Done;
    };
    loop {
        match decoder.decode(st.pending(), sink) {
            Err(DecodeError::Malformed(_)) => return BodyOutcome::Malformed,
            Err(DecodeError::TooLarge) => return BodyOutcome::TooLarge,
            Ok(progress) => {
                st.consume(progress.consumed);
                if progress.done {
                    return BodyOutcome::Done;
                }
            }
        }
        match st.read_more(timeout, CHUNK).await {
            Ok(0) => return BodyOutcome::Closed,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return BodyOutcome::TimedOut,
            Err(_) => return BodyOutcome::Closed,
        }
    }
}
