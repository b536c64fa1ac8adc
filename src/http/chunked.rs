//! Chunked transfer-coding of request bodies (RFC 9112 §7.1), sans-io.
//!
//! `serve::h1` feeds whatever bytes follow the head; the decoder hands back body data and
//! says how much input it consumed and whether the body is complete. The proxy decodes an
//! upstream's chunked response body with it too: trailers are consumed (and dropped), and
//! `consumed` on the call that reports `done` is where the connection's next response starts. Strict on purpose: hex
//! sizes without signs or spaces, CRLF line endings only, bounded extension and trailer
//! sizes, so that no two parsers can disagree about where this body ends.

/// Longest chunk-size line we accept (size + extensions), and the whole trailer section.
const MAX_LINE: usize = 4096;
const MAX_TRAILERS: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// Malformed framing: 400 and close.
    Malformed(&'static str),
}

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

/// Progress of one [`ChunkedDecoder::decode`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes consumed; the caller drops them.
    pub consumed: usize,
    /// The terminating chunk and trailers have been read.
    pub done: bool,
}

#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    remaining: u64,
    line_len: usize,
    trailer_len: usize,
    /// Decoded body bytes so far (for client_max_body_size).
    pub total: u64,
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
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes as much of `input` as possible, passing body data to `sink`.
    pub fn decode(
        &mut self,
        input: &[u8],
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<Progress, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Size { digits } => {
                    if let Some(v) = hex_value(b) {
                        if digits >= 16 {
                            return Err(ChunkError::Malformed("chunk size too large"));
                        }
                        self.size = (self.size << 4) | u64::from(v);
                        self.state = State::Size { digits: digits + 1 };
                        self.line_len += 1;
                    } else if digits == 0 {
                        return Err(ChunkError::Malformed("invalid chunk size"));
                    } else if b == b'\r' {
                        self.state = State::SizeLf;
                    } else if b == b';' {
                        self.state = State::Extension;
                        self.line_len += 1;
                    } else {
                        return Err(ChunkError::Malformed("invalid chunk size"));
                    }
                    i += 1;
                }
                State::Extension => {
                    if b == b'\r' {
                        self.state = State::SizeLf;
                    } else if b == b'\n' || (b < 0x20 && b != b'\t') || b == 0x7f {
                        return Err(ChunkError::Malformed("invalid chunk extension"));
                    } else {
                        self.line_len += 1;
                        if self.line_len > MAX_LINE {
                            return Err(ChunkError::Malformed("chunk extension too long"));
                        }
                    }
                    i += 1;
                }
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Malformed("bare CR in chunk size line"));
                    }
                    i += 1;
                    self.line_len = 0;
                    if self.size == 0 {
                        self.state = State::TrailerLineStart;
                    } else {
                        self.remaining = self.size;
                        self.total = self.total.saturating_add(self.size);
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
                        return Err(ChunkError::Malformed("chunk data longer than its size"));
                    }
                    self.state = State::DataLf;
                    i += 1;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Malformed("bare CR after chunk data"));
                    }
                    self.size = 0;
                    self.state = State::Size { digits: 0 };
                    i += 1;
                }
                State::TrailerLineStart => {
                    if b == b'\r' {
                        self.state = State::TrailerLf { ending: true };
                    } else if b == b' ' || b == b'\t' || b == b'\n' {
                        return Err(ChunkError::Malformed("invalid trailer"));
                    } else {
                        self.state = State::TrailerLine;
                    }
                    self.count_trailer()?;
                    i += 1;
                }
                State::TrailerLine => {
                    if b == b'\r' {
                        self.state = State::TrailerLf { ending: false };
                    } else if b == b'\n' || b == 0 {
                        return Err(ChunkError::Malformed("invalid trailer"));
                    }
                    self.count_trailer()?;
                    i += 1;
                }
                State::TrailerLf { ending } => {
                    if b != b'\n' {
                        return Err(ChunkError::Malformed("bare CR in trailer"));
                    }
                    i += 1;
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

    fn count_trailer(&mut self) -> Result<(), ChunkError> {
        self.trailer_len += 1;
        if self.trailer_len > MAX_TRAILERS {
            return Err(ChunkError::Malformed("trailers too large"));
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

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize, bool), ChunkError> {
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
    fn rejects_malformed() {
        for raw in [
            &b"x\r\n"[..],
            b"-1\r\n",
            b" 5\r\nhello\r\n",
            b"5\nhello\r\n",
            b"5\r\nhelloX\r\n",
            b"5\r\nhello\n",
            b"11111111111111111\r\n",
            b"0\r\n\n",
            b"0\r\n x: y\r\n\r\n",
            b"5 \r\nhello\r\n",
        ] {
            assert!(
                decode_all(raw).is_err(),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
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
}
