//! The chunked transfer coding (RFC 9112 §7.1), decoding side: the state machine behind
//! [`super::Decoder::Chunked`], fed whatever bytes arrive and handing back chunk data.
//!
//! A client's chunked request body and an upstream's chunked response both go through
//! here. Strict on purpose: hex sizes without signs or spaces, CRLF line endings only,
//! bounded extension and trailer sizes, so that no two parsers can disagree about where this
//! body ends (the bytes after it are the connection's next message). Trailer fields are
//! checked and counted; they are kept only when asked for ([`ChunkedDecoder::keep_trailers`]),
//! so a relay that drops them copies nothing.

use super::decode::{DecodeError, Progress};

/// Longest chunk-size line we accept (size + extensions), and the whole trailer section.
const MAX_LINE: usize = 4096;
const MAX_TRAILERS: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size.
    Size {
        digits: u8,
    },
    /// After the size: optional extensions up to CR.
    Extension,
    /// Expecting LF after the size line's CR.
    SizeLf,
    /// Inside chunk data.
    Data,
    /// Expecting CR then LF after chunk data.
    DataCr,
    DataLf,
    /// Trailer section: at the start of a line.
    TrailerLineStart,
    /// Inside a trailer field line.
    TrailerLine,
    TrailerLf {
        ending: bool,
    },
    Done,
}

#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    remaining: u64,
    line_len: usize,
    trailer_len: usize,
    /// Decoded body bytes so far, counted when a chunk's size line is complete.
    pub total: u64,
    /// Largest body accepted (`client_max_body_size`; 0 = no limit).
    max: u64,
    /// The trailer section's field lines as received, when kept.
    trailers: Option<Vec<u8>>,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size { digits: 0 },
            size: 0,
            remaining: 0,
            line_len: 0,
            trailer_len: 0,
            total: 0,
            max: 0,
            trailers: None,
        }
    }

    /// Refuses (413) a body whose chunks add up to more than `max` bytes (0 = no limit), as
    /// soon as the size line that goes over is read: nginx's check of
    /// `client_max_body_size` against chunked bodies.
    pub fn with_limit(mut self, max: u64) -> Self {
        self.max = max;
        self
    }

    /// Keeps the trailer section's field lines ([`ChunkedDecoder::trailers`]).
    pub fn keep_trailers(mut self) -> Self {
        self.trailers = Some(Vec::new());
        self
    }

    /// The trailer field lines received so far ("Name: value\r\n" each, as sent), when
    /// kept; complete once the body is done.
    pub fn trailers(&self) -> &[u8] {
        self.trailers.as_deref().unwrap_or_default()
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes as much of `input` as possible, passing body data to `sink`.
    pub fn decode(
        &mut self,
        input: &[u8],
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<Progress, DecodeError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Size { digits } => {
                    if let Some(v) = hex_value(b) {
                        if digits >= 16 {
                            return Err(DecodeError::Malformed("chunk size too large"));
                        }
                        self.size = (self.size << 4) | u64::from(v);
                        self.state = State::Size { digits: digits + 1 };
                        self.line_len += 1;
                    } else if digits == 0 {
                        return Err(DecodeError::Malformed("invalid chunk size"));
                    } else if b == b'\r' {
                        self.state = State::SizeLf;
                    } else if b == b';' {
                        self.state = State::Extension;
                        self.line_len += 1;
                    } else {
                        return Err(DecodeError::Malformed("invalid chunk size"));
                    }
                    i += 1;
                }
                State::Extension => {
                    if b == b'\r' {
                        self.state = State::SizeLf;
                    } else if b == b'\n' || (b < 0x20 && b != b'\t') || b == 0x7f {
                        return Err(DecodeError::Malformed("invalid chunk extension"));
                    } else {
                        self.line_len += 1;
                        if self.line_len > MAX_LINE {
                            return Err(DecodeError::Malformed("chunk extension too long"));
                        }
                    }
                    i += 1;
                }
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(DecodeError::Malformed("bare CR in chunk size line"));
                    }
                    i += 1;
                    self.line_len = 0;
                    if self.size == 0 {
                        self.state = State::TrailerLineStart;
                    } else {
                        self.remaining = self.size;
                        self.total = self.total.saturating_add(self.size);
                        if self.max > 0 && self.total > self.max {
                            return Err(DecodeError::TooLarge);
                        }
                        self.state = State::Data;
                    }
                }
                State::Data => {
                    let available = (input.len() - i) as u64;
                    let take = available.min(self.remaining) as usize;
                    sink(&input[i..i + take]);
                    i += take;
                    self.remaining -= take as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(DecodeError::Malformed("chunk data longer than its size"));
                    }
                    self.state = State::DataLf;
                    i += 1;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(DecodeError::Malformed("bare CR after chunk data"));
                    }
                    self.size = 0;
                    self.state = State::Size { digits: 0 };
                    i += 1;
                }
                State::TrailerLineStart => {
                    if b == b'\r' {
                        self.state = State::TrailerLf { ending: true };
                    } else if b == b' ' || b == b'\t' || b == b'\n' {
                        return Err(DecodeError::Malformed("invalid trailer"));
                    } else {
                        self.state = State::TrailerLine;
                        self.keep(b);
                    }
                    self.count_trailer()?;
                    i += 1;
                }
                State::TrailerLine => {
                    if b == b'\r' {
                        self.state = State::TrailerLf { ending: false };
                    } else if b == b'\n' || b == 0 {
                        return Err(DecodeError::Malformed("invalid trailer"));
                    }
                    self.keep(b);
                    self.count_trailer()?;
                    i += 1;
                }
                State::TrailerLf { ending } => {
                    if b != b'\n' {
                        return Err(DecodeError::Malformed("bare CR in trailer"));
                    }
                    i += 1;
                    if !ending {
                        self.keep(b'\n');
                    }
                    if ending {
                        self.state = State::Done;
                        return Ok(Progress {
                            consumed: i,
                            done: true,
                        });
                    }
                    self.state = State::TrailerLineStart;
                }
                State::Done => {
                    return Ok(Progress {
                        consumed: i,
                        done: true,
                    })
                }
            }
        }
        Ok(Progress {
            consumed: i,
            done: self.state == State::Done,
        })
    }

    /// One byte of a trailer line, for [`ChunkedDecoder::trailers`] (bounded by the
    /// trailer limit, which is checked for every byte).
    fn keep(&mut self, b: u8) {
        if let Some(t) = self.trailers.as_mut() {
            t.push(b);
        }
    }

    fn count_trailer(&mut self) -> Result<(), DecodeError> {
        self.trailer_len += 1;
        if self.trailer_len > MAX_TRAILERS {
            return Err(DecodeError::Malformed("trailers too large"));
        }
        Ok(())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize, bool), DecodeError> {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let p = d.decode(input, &mut |b| out.extend_from_slice(b))?;
        Ok((out, p.consumed, p.done))
    }

    #[test]
    fn decodes_and_stops_at_end() {
        let raw = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\nGET /next";
        let (out, consumed, done) = decode_all(raw).unwrap();
        assert_eq!(out, b"hello world");
        assert!(done);
        assert_eq!(&raw[consumed..], b"GET /next");
    }

    #[test]
    fn byte_at_a_time() {
        let raw = b"a\r\n0123456789\r\n0\r\n\r\n";
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        for (i, b) in raw.iter().enumerate() {
            let p = d
                .decode(std::slice::from_ref(b), &mut |x| out.extend_from_slice(x))
                .unwrap();
            assert_eq!(p.consumed, 1);
            assert_eq!(p.done, i == raw.len() - 1);
        }
        assert_eq!(out, b"0123456789");
        assert_eq!(d.total, 10);
    }

    #[test]
    fn upstream_body_in_pieces_ends_before_next_response() {
        let raw = b"3\r\nabc\r\n0\r\nX-Checksum: 1\r\nX-B: 2\r\n\r\nHTTP/1.1 200 OK\r\n";
        for split in 0..raw.len() {
            let mut d = ChunkedDecoder::new();
            let mut out = Vec::new();
            let p1 = d
                .decode(&raw[..split], &mut |b| out.extend_from_slice(b))
                .unwrap();
            assert_eq!(p1.consumed, split.min(raw.len() - 17));
            let p2 = d
                .decode(&raw[p1.consumed..], &mut |b| out.extend_from_slice(b))
                .unwrap();
            assert!(p2.done, "{split}");
            assert_eq!(&raw[p1.consumed + p2.consumed..], b"HTTP/1.1 200 OK\r\n");
            assert_eq!(out, b"abc");
        }
    }

    #[test]
    fn partial_is_not_done() {
        let (out, consumed, done) = decode_all(b"5\r\nhel").unwrap();
        assert_eq!(out, b"hel");
        assert_eq!(consumed, 6);
        assert!(!done);
    }

    /// Decodes `raw` fed in two pieces cut at every position, and one byte at a time; all
    /// must agree with feeding it whole.
    fn every_split(raw: &[u8]) -> Result<(Vec<u8>, usize), DecodeError> {
        let whole = decode_all(raw).map(|(out, consumed, _)| (out, consumed));
        for cut in 0..=raw.len() {
            let mut d = ChunkedDecoder::new();
            let mut out = Vec::new();
            let split = (|| {
                let p1 = d.decode(&raw[..cut], &mut |b| out.extend_from_slice(b))?;
                if p1.done {
                    return Ok(p1.consumed);
                }
                let rest = &raw[p1.consumed..];
                let p2 = d.decode(rest, &mut |b| out.extend_from_slice(b))?;
                Ok(p1.consumed + p2.consumed)
            })();
            assert_eq!(
                split.map(|c| (out, c)),
                whole.clone(),
                "cut at {cut} of {:?}",
                String::from_utf8_lossy(raw)
            );
        }
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut consumed = 0;
        let bytewise = (|| {
            for b in raw {
                if d.is_done() {
                    break;
                }
                consumed += d
                    .decode(std::slice::from_ref(b), &mut |x| out.extend_from_slice(x))?
                    .consumed;
            }
            Ok(consumed)
        })();
        assert_eq!(bytewise.map(|c| (out, c)), whole.clone());
        whole
    }

    #[test]
    fn every_split_of_valid_bodies() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"0\r\n\r\n", b""),
            (b"1\r\nx\r\n0\r\n\r\n", b"x"),
            (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
            (b"3;name\r\nabc\r\n0;last=\"q\"\r\n\r\n", b"abc"),
            (b"2;a=1;b=2\r\nhi\r\n0\r\nA: 1\r\nB:\t2\r\n\r\n", b"hi"),
            (b"0000000000000003\r\nabc\r\n0\r\n\r\n", b"abc"),
        ];
        for (raw, data) in cases {
            let mut input = raw.to_vec();
            input.extend_from_slice(b"NEXT");
            let (out, consumed) = every_split(&input).expect("valid");
            assert_eq!(out, *data);
            assert_eq!(&input[consumed..], b"NEXT");
        }
    }

    #[test]
    fn every_split_of_malformed_bodies() {
        for raw in [
            &b"\r\n"[..],
            b"g\r\n",
            b"x\r\n",
            b"-1\r\n",
            b" 5\r\nhello\r\n",
            b"5 \r\nhello\r\n",
            b"5\nhello\r\n",
            b"5\r\nhelloX\r\n",
            b"11111111111111111\r\n",
            b"0\r\n\n",
            b"0\r\n x: y\r\n\r\n",
            b"+5\r\nhello\r\n",
            b"5\rhello",
            b"5\r\nhello\r\r",
            b"5\r\nhello\n",
            b"5;ext\nhello",
            b"5;e\x01x\r\nhello\r\n",
            b"5;e\x7fx\r\nhello\r\n",
            b"5\r\nhello\r\n0\r\nX: 1\n\r\n",
            b"5\r\nhello\r\n0\r\nX: \x001\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\tX: 1\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\r\r",
            b"10000000000000000\r\n",
        ] {
            let err = every_split(raw).expect_err("malformed");
            assert_eq!(err.status(), 400, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn long_extension_and_trailers_are_refused() {
        let cases = [
            (
                &b"1;"[..],
                b'e',
                MAX_LINE,
                &b"\r\nx\r\n0\r\n\r\n"[..],
                "chunk extension too long",
            ),
            (
                b"0\r\nX: ",
                b'v',
                MAX_TRAILERS,
                b"\r\n\r\n",
                "trailers too large",
            ),
        ];
        for (start, fill, n, end, why) in cases {
            let raw = [start, &vec![fill; n], end].concat();
            assert_eq!(decode_all(&raw), Err(DecodeError::Malformed(why)));
        }
    }

    #[test]
    fn trailers_are_kept_only_when_asked() {
        let raw = b"2\r\nhi\r\n0\r\nX-Sum: 7\r\nX-B: two\r\n\r\nNEXT";
        for cut in 0..raw.len() {
            let mut d = ChunkedDecoder::new().keep_trailers();
            let p1 = d.decode(&raw[..cut], &mut |_| {}).expect("valid");
            let p2 = d.decode(&raw[p1.consumed..], &mut |_| {}).expect("valid");
            assert!(p2.done);
            assert_eq!(d.trailers(), b"X-Sum: 7\r\nX-B: two\r\n", "{cut}");
        }
        let mut d = ChunkedDecoder::new();
        d.decode(raw, &mut |_| {}).expect("valid");
        assert_eq!(d.trailers(), b"");
    }

    #[test]
    fn limit_counts_every_chunk() {
        let mut d = ChunkedDecoder::new().with_limit(3);
        assert_eq!(
            d.decode(b"2\r\nab\r\n2\r\n", &mut |_| {}),
            Err(DecodeError::TooLarge)
        );
        let mut d = ChunkedDecoder::new().with_limit(4);
        let raw = b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n";
        let p = d.decode(raw, &mut |_| {});
        assert_eq!(
            p,
            Ok(Progress {
                consumed: raw.len(),
                done: true
            })
        );
        assert_eq!(d.total, 4);
    }
}
