//! Body encoding for HTTP/1, sans-io: the framing a body goes out with, and nothing else.
//!
//! The last stage of the body-filter chain (`filters::body`): filters pass plain data and
//! the encoder alone writes chunk framing, the last chunk and its trailer fields. The
//! static writer (`serve::trailers`) uses it to frame a body it sends itself (a file range
//! by sendfile inside one chunk), and `serve::proxy` to frame a request body it streams
//! to an upstream.

use crate::http::upstream::ClientFraming;

/// How body bytes are framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoder {
    /// As they are: the head gave a length, or the connection's close ends the body.
    Identity,
    /// `Transfer-Encoding: chunked`: each piece a chunk, then the last chunk and trailers.
    Chunked,
    /// Nothing goes out (a response without a body: HEAD, 204, 304).
    Discard,
}

impl Encoder {
    /// The encoder for the framing the client's head announced.
    pub fn for_client(framing: ClientFraming) -> Encoder {
        match framing {
            ClientFraming::Empty => Encoder::Discard,
            ClientFraming::Length(_) | ClientFraming::Close => Encoder::Identity,
            ClientFraming::Chunked => Encoder::Chunked,
        }
    }

    /// Appends `data` as it goes on the wire: one chunk when chunked (an empty piece writes
    /// nothing, since an empty chunk would end the body).
    pub fn data(self, out: &mut Vec<u8>, data: &[u8]) {
        match self {
            Encoder::Identity => out.extend_from_slice(data),
            Encoder::Chunked if !data.is_empty() => {
                chunk_head(out, data.len() as u64);
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
            }
            Encoder::Chunked | Encoder::Discard => {}
        }
    }

    /// The framing before a piece of `len` bytes that the writer sends itself (a file
    /// range by sendfile): with [`Encoder::piece_end`] after it, the same bytes as
    /// [`Encoder::data`].
    pub fn piece_start(self, out: &mut Vec<u8>, len: u64) {
        if self == Encoder::Chunked && len > 0 {
            chunk_head(out, len);
        }
    }

    /// The framing after a piece started with [`Encoder::piece_start`].
    pub fn piece_end(self, out: &mut Vec<u8>, len: u64) {
        if self == Encoder::Chunked && len > 0 {
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Ends the body: for chunked, the last chunk, the trailer fields `trailers` appends
    /// (complete "Name: value\r\n" lines, possibly none) and the empty line; nothing
    /// otherwise (`trailers` is not called).
    pub fn end(self, out: &mut Vec<u8>, trailers: &mut dyn FnMut(&mut Vec<u8>)) {
        if self == Encoder::Chunked {
            out.extend_from_slice(b"0\r\n");
            trailers(out);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// A chunk's size line for `len` bytes of data ("1a2b\r\n").
fn chunk_head(out: &mut Vec<u8>, len: u64) {
    use std::io::Write;
    let _ = write!(out, "{len:x}\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::body::chunked::ChunkedDecoder;

    #[test]
    fn chunked_round_trips_through_the_decoder() {
        let pieces: &[&[u8]] = &[b"a", b"", &[b'x'; 300], b"\r\n0\r\n\r\n"];
        let mut out = Vec::new();
        for p in pieces {
            Encoder::Chunked.data(&mut out, p);
        }
        Encoder::Chunked.end(&mut out, &mut |t| t.extend_from_slice(b"X-T: 1\r\n"));
        let mut d = ChunkedDecoder::new().keep_trailers();
        let mut data = Vec::new();
        let p = d
            .decode(&out, &mut |b| data.extend_from_slice(b))
            .expect("valid");
        assert!(p.done);
        assert_eq!(p.consumed, out.len());
        assert_eq!(data, pieces.concat());
        assert_eq!(d.trailers(), b"X-T: 1\r\n");
        assert!(out.starts_with(b"1\r\na\r\n12c\r\n"));
    }

    #[test]
    fn last_chunk_without_trailers() {
        let mut out = Vec::new();
        Encoder::Chunked.end(&mut out, &mut |_| {});
        assert_eq!(out, b"0\r\n\r\n");
    }

    #[test]
    fn identity_and_discard_add_no_framing() {
        let mut out = Vec::new();
        Encoder::Identity.data(&mut out, b"abc");
        Encoder::Identity.piece_start(&mut out, 3);
        Encoder::Identity.piece_end(&mut out, 3);
        Encoder::Identity.end(&mut out, &mut |_| panic!("no trailers"));
        assert_eq!(out, b"abc");
        Encoder::Discard.data(&mut out, b"def");
        Encoder::Discard.end(&mut out, &mut |_| panic!("no trailers"));
        assert_eq!(out, b"abc");
    }

    #[test]
    fn a_piece_sent_outside_frames_like_data() {
        let mut framed = Vec::new();
        Encoder::Chunked.piece_start(&mut framed, 26);
        framed.extend_from_slice(b"abcdefghijklmnopqrstuvwxyz");
        Encoder::Chunked.piece_end(&mut framed, 26);
        let mut direct = Vec::new();
        Encoder::Chunked.data(&mut direct, b"abcdefghijklmnopqrstuvwxyz");
        assert_eq!(framed, direct);
        let mut empty = Vec::new();
        Encoder::Chunked.piece_start(&mut empty, 0);
        Encoder::Chunked.piece_end(&mut empty, 0);
        assert!(empty.is_empty());
    }

    #[test]
    fn client_framing_picks_the_encoder() {
        assert_eq!(Encoder::for_client(ClientFraming::Empty), Encoder::Discard);
        assert_eq!(
            Encoder::for_client(ClientFraming::Length(3)),
            Encoder::Identity
        );
        assert_eq!(Encoder::for_client(ClientFraming::Close), Encoder::Identity);
        assert_eq!(
            Encoder::for_client(ClientFraming::Chunked),
            Encoder::Chunked
        );
    }
}
