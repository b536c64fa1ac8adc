//! Body decoding, sans-io: where a message body ends and what its data is, for a body
//! delimited by a length, by the chunked coding, or by the connection closing.
//!
//! `serve::body` decodes a client's request body with it (discarded, spilled or streamed to
//! an upstream); `serve::proxy` decodes an upstream's response body with it before the
//! body-filter chain (`filters::body`), and `serve::post_action` to drain an answer nobody
//! reads. The caller owns the bytes: it feeds what it has read, drops the `consumed` prefix,
//! and reads more until `done`; whatever follows a done body belongs to the connection's
//! next message.

use super::chunked::ChunkedDecoder;
use crate::http::request::BodyFraming;
use crate::http::upstream::ResponseFraming;

/// Why a body cannot be read to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Broken framing: the connection is out of step and must close.
    Malformed(&'static str),
    /// The chunks add up to more than the limit (`client_max_body_size`).
    TooLarge,
}

impl DecodeError {
    /// The status nginx answers a client's request body with this error: 400 ("client sent
    /// invalid chunked body") or 413 ("client intended to send too large chunked body").
    /// An upstream's broken body is not answered (its head is out): the client connection
    /// closes.
    pub fn status(self) -> u16 {
        match self {
            DecodeError::Malformed(_) => 400,
            DecodeError::TooLarge => 413,
        }
    }
}

/// Progress of one [`Decoder::decode`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes consumed; the caller drops them.
    pub consumed: usize,
    /// The body has ended (for chunked: the last chunk and the trailers are read).
    pub done: bool,
}

/// One body being decoded.
#[derive(Debug, Clone)]
pub enum Decoder {
    /// `Content-Length`: this many bytes are still to come.
    Length(u64),
    Chunked(ChunkedDecoder),
    /// No length: the body is everything until the peer closes (an HTTP/1.0-style
    /// response; never a request body).
    UntilClose,
}

impl Decoder {
    /// The decoder of a request body's framing; `None` when the request has no body. `max`
    /// is `client_max_body_size` (0 = no limit), checked here for chunked bodies only: a
    /// declared length was checked against it before the body is read (`pipeline`).
    pub fn request(framing: BodyFraming, max: u64) -> Option<Decoder> {
        match framing {
            BodyFraming::None => None,
            BodyFraming::Length(n) => Some(Decoder::Length(n)),
            BodyFraming::Chunked => Some(Decoder::Chunked(ChunkedDecoder::new().with_limit(max))),
        }
    }

    /// The decoder of an upstream response body's framing; `None` when it has no body.
    pub fn response(framing: ResponseFraming) -> Option<Decoder> {
        match framing {
            ResponseFraming::Empty => None,
            ResponseFraming::Length(n) => Some(Decoder::Length(n)),
            ResponseFraming::Chunked => Some(Decoder::Chunked(ChunkedDecoder::new())),
            ResponseFraming::UntilClose => Some(Decoder::UntilClose),
        }
    }

    /// Decodes as much of `input` as belongs to the body, passing its data to `sink` (never
    /// an empty slice). After `done`, the rest of `input` is not this body's.
    pub fn decode(
        &mut self,
        input: &[u8],
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<Progress, DecodeError> {
        match self {
            Decoder::Length(left) => {
                let take = (input.len() as u64).min(*left) as usize;
                if take > 0 {
                    sink(&input[..take]);
                }
                *left -= take as u64;
                Ok(Progress {
                    consumed: take,
                    done: *left == 0,
                })
            }
            Decoder::Chunked(chunked) => chunked.decode(input, sink),
            Decoder::UntilClose => {
                if !input.is_empty() {
                    sink(input);
                }
                Ok(Progress {
                    consumed: input.len(),
                    done: false,
                })
            }
        }
    }

    /// Whether the peer closing the connection now ends the body where it should (only a
    /// body delimited by the close; any other is cut short).
    pub fn ends_at_close(&self) -> bool {
        matches!(self, Decoder::UntilClose)
    }

    /// Whether the body's data has all come (an until-close body never says so).
    pub fn is_done(&self) -> bool {
        match self {
            Decoder::Length(left) => *left == 0,
            Decoder::Chunked(c) => c.is_done(),
            Decoder::UntilClose => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces cut at `cuts` (dropping what each call consumed, as a caller
    /// does); returns the data, what was left after the end, and whether it ended.
    fn feed(d: &mut Decoder, input: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut pending = Vec::new();
        let mut bounds: Vec<usize> = cuts.to_vec();
        bounds.push(input.len());
        let mut from = 0;
        for to in bounds {
            pending.extend_from_slice(&input[from..to]);
            from = to;
            let p = d
                .decode(&pending, &mut |b| {
                    assert!(!b.is_empty());
                    out.extend_from_slice(b)
                })
                .expect("valid body");
            pending.drain(..p.consumed);
            if p.done {
                pending.extend_from_slice(&input[from..]);
                return (out, pending, true);
            }
        }
        (out, pending, false)
    }

    #[test]
    fn length_stops_at_its_end_in_any_split() {
        let raw = b"hello worldGET / HTTP/1.1\r\n";
        for cut in 0..=raw.len() {
            let mut d = Decoder::request(BodyFraming::Length(11), 0).expect("a body");
            let (data, rest, done) = feed(&mut d, raw, &[cut]);
            assert!(done, "{cut}");
            assert_eq!(data, b"hello world");
            assert_eq!(rest, b"GET / HTTP/1.1\r\n");
            assert!(d.is_done());
            assert!(!d.ends_at_close());
        }
    }

    #[test]
    fn length_zero_is_done_at_once() {
        let mut d = Decoder::Length(0);
        let p = d
            .decode(b"next", &mut |_| panic!("no data"))
            .expect("valid");
        assert_eq!(
            p,
            Progress {
                consumed: 0,
                done: true
            }
        );
    }

    #[test]
    fn length_cut_short_is_not_done() {
        let mut d = Decoder::response(ResponseFraming::Length(10)).expect("a body");
        let (data, _, done) = feed(&mut d, b"abc", &[1]);
        assert!(!done);
        assert_eq!(data, b"abc");
        assert!(!d.ends_at_close(), "a close cuts a length body short");
    }

    #[test]
    fn until_close_takes_everything() {
        let mut d = Decoder::response(ResponseFraming::UntilClose).expect("a body");
        let (data, rest, done) = feed(&mut d, b"all of it\r\n0\r\n\r\n", &[3, 5]);
        assert!(!done);
        assert!(rest.is_empty());
        assert_eq!(data, b"all of it\r\n0\r\n\r\n");
        assert!(d.ends_at_close());
        assert!(!d.is_done());
    }

    #[test]
    fn no_body_has_no_decoder() {
        assert!(Decoder::request(BodyFraming::None, 0).is_none());
        assert!(Decoder::response(ResponseFraming::Empty).is_none());
    }

    #[test]
    fn chunked_split_at_every_byte_pair() {
        let raw =
            b"4;a=b\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Sum: 7\r\n\r\nNEXT";
        for a in 0..=raw.len() {
            for b in a..=raw.len() {
                let mut d = Decoder::request(BodyFraming::Chunked, 0).expect("a body");
                let (data, rest, done) = feed(&mut d, raw, &[a, b]);
                assert!(done, "{a} {b}");
                assert_eq!(data, b"Wikipedia in\r\n\r\nchunks.", "{a} {b}");
                assert_eq!(rest, b"NEXT", "{a} {b}");
            }
        }
    }

    #[test]
    fn chunked_limit_is_413_at_the_size_line() {
        let mut d = Decoder::request(BodyFraming::Chunked, 8).expect("a body");
        let mut out = Vec::new();
        let first = d.decode(b"5\r\nhello\r\n", &mut |b| out.extend_from_slice(b));
        assert!(first.is_ok());
        // 5 + 4 > 8: refused before any of the second chunk's data is passed on.
        let err = d.decode(b"4\r\nabcd\r\n", &mut |b| out.extend_from_slice(b));
        assert_eq!(err, Err(DecodeError::TooLarge));
        assert_eq!(DecodeError::TooLarge.status(), 413);
        assert_eq!(out, b"hello");
        // At the limit exactly is fine.
        let mut d = Decoder::request(BodyFraming::Chunked, 9).expect("a body");
        let (data, _, done) = feed(&mut d, b"5\r\nhello\r\n4\r\nabcd\r\n0\r\n\r\n", &[]);
        assert!(done);
        assert_eq!(data, b"helloabcd");
    }

    #[test]
    fn chunked_malformed_is_400() {
        let mut d = Decoder::request(BodyFraming::Chunked, 0).expect("a body");
        let err = d.decode(b"zz\r\n", &mut |_| {}).expect_err("malformed");
        assert_eq!(err.status(), 400);
        assert!(!d.ends_at_close());
    }
}
