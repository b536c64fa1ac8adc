//! Range filter: byte-range requests (RFC 9110 §14) for responses of known
//! length, with nginx's limits.
//!
//! In: the raw Range and If-Range header values plus the representation's
//! size, ETag and mtime. Out: whether to send the full body, one or more
//! byte ranges (206), or 416, and the header/framing strings for the 206
//! (Content-Range, multipart/byteranges part heads and total length).

use super::not_modified::strong_match;
use crate::http::request::trim_ows;
use crate::http::validators::parse_http_date;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeOutcome {
    Full,
    Partial(Vec<ByteRange>),
    Unsatisfiable,
}

/// An inclusive, already clamped range: `start <= end_inclusive < size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end_inclusive: u64,
}

impl ByteRange {
    /// Number of bytes covered; 0 for an inverted range (never produced by
    /// [`parse`]), saturating for the full `0..=u64::MAX` span.
    pub fn len(&self) -> u64 {
        if self.end_inclusive < self.start {
            0
        } else {
            (self.end_inclusive - self.start).saturating_add(1)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses a non-empty run of ASCII digits. Values beyond u64 saturate: a
/// position that large is past the end of any file, and a suffix that large
/// covers the whole file, so saturation gives the right answer either way.
fn parse_num(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    Some(n)
}

/// Parses a Range header against a representation of `size` bytes.
///
/// Accepts "bytes=0-99", "bytes=-500" (suffix), "bytes=9500-" and lists such
/// as "bytes=0-0,-1"; the unit is case-insensitive and whitespace around
/// members is tolerated, as nginx does. Returns:
/// - `Full` when the header must be ignored: a non-"bytes" unit, any syntax
///   error, a range with first > last, more than `max_ranges` satisfiable
///   ranges (so `max_ranges == 0` disables ranges), or ranges whose lengths
///   add up to more than `size` (nginx's defence against overlapping-range
///   amplification).
/// - `Unsatisfiable` (416) when the syntax is valid but every range starts at
///   or after `size` (or is a zero-length suffix); with `size == 0` every
///   range is unsatisfiable.
/// - `Partial` with the ranges in request order, ends clamped to `size - 1`.
///   Ranges are not merged or reordered (nginx does not either).
///
/// Differs from nginx for syntactically invalid headers ("bytes=5-3", "bytes=abc"):
/// RFC 9110 says to ignore them (`Full`, a 200), where nginx answers 416.
pub fn parse(header: &[u8], size: u64, max_ranges: usize) -> RangeOutcome {
    let h = trim_ows(header);
    let spec = match h.get(..6) {
        Some(unit) if unit.eq_ignore_ascii_case(b"bytes=") => &h[6..],
        _ => return RangeOutcome::Full,
    };

    let mut ranges: Vec<ByteRange> = Vec::new();
    let mut total: u64 = 0;
    let mut saw_member = false;

    for member in spec.split(|&b| b == b',') {
        let member = trim_ows(member);
        // RFC 9110 §5.6.1: empty list members are ignored.
        if member.is_empty() {
            continue;
        }
        saw_member = true;
        let Some(dash) = memchr::memchr(b'-', member) else {
            return RangeOutcome::Full;
        };
        let first = trim_ows(&member[..dash]);
        let last = trim_ows(&member[dash + 1..]);

        let range = if first.is_empty() {
            let Some(suffix) = parse_num(last) else {
                return RangeOutcome::Full;
            };
            if suffix == 0 || size == 0 {
                continue;
            }
            ByteRange {
                start: size.saturating_sub(suffix),
                end_inclusive: size - 1,
            }
        } else {
            let Some(start) = parse_num(first) else {
                return RangeOutcome::Full;
            };
            let end = if last.is_empty() {
                None
            } else {
                match parse_num(last) {
                    Some(end) if end >= start => Some(end),
                    _ => return RangeOutcome::Full,
                }
            };
            if start >= size {
                continue;
            }
            let max_end = size - 1;
            ByteRange {
                start,
                end_inclusive: end.map_or(max_end, |e| e.min(max_end)),
            }
        };

        if ranges.len() >= max_ranges {
            return RangeOutcome::Full;
        }
        total = total.saturating_add(range.len());
        if total > size {
            return RangeOutcome::Full;
        }
        ranges.push(range);
    }

    if !saw_member {
        RangeOutcome::Full
    } else if ranges.is_empty() {
        RangeOutcome::Unsatisfiable
    } else {
        RangeOutcome::Partial(ranges)
    }
}

/// If-Range: an entity-tag must strongly match `etag` (neither side weak);
/// an HTTP-date must equal `mtime_secs` exactly. Anything else, including a
/// malformed value, is false, meaning "send the full body" — the safe answer,
/// since splicing ranges of a changed file would corrupt the client's copy.
///
/// RFC 9110 also asks that a date only be trusted when Last-Modified is
/// strong (at least a second older than the response Date); that check needs
/// the clock and is left to the caller.
pub fn if_range_matches(if_range: &[u8], etag: &str, mtime_secs: i64) -> bool {
    let value = trim_ows(if_range);
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        strong_match(value, etag.as_bytes())
    } else {
        parse_http_date(value) == Some(mtime_secs)
    }
}

/// Content-Type of a multi-range 206.
pub fn multipart_content_type(boundary: &str) -> String {
    format!("multipart/byteranges; boundary={boundary}")
}

/// Head of one body part, preceded by the CRLF that ends the previous part
/// (nginx emits it before the first part too). The Content-Type line is
/// omitted when `content_type` is empty, as nginx does for untyped responses.
pub fn part_head(boundary: &str, content_type: &str, r: ByteRange, size: u64) -> String {
    let mut s = String::with_capacity(part_head_len(boundary, content_type, r, size) as usize);
    s.push_str("\r\n--");
    s.push_str(boundary);
    s.push_str("\r\n");
    if !content_type.is_empty() {
        s.push_str("Content-Type: ");
        s.push_str(content_type);
        s.push_str("\r\n");
    }
    s.push_str("Content-Range: ");
    s.push_str(&content_range(r, size));
    s.push_str("\r\n\r\n");
    s
}

/// Terminates the multipart body.
pub fn closing(boundary: &str) -> String {
    format!("\r\n--{boundary}--\r\n")
}

fn decimal_len(mut n: u64) -> u64 {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// Length of [`part_head`] without building it.
fn part_head_len(boundary: &str, content_type: &str, r: ByteRange, size: u64) -> u64 {
    let b = boundary.len() as u64;
    let ct = if content_type.is_empty() {
        0
    } else {
        "Content-Type: \r\n".len() as u64 + content_type.len() as u64
    };
    let cr = "Content-Range: bytes -/\r\n\r\n".len() as u64
        + decimal_len(r.start)
        + decimal_len(r.end_inclusive)
        + decimal_len(size);
    "\r\n--\r\n".len() as u64 + b + ct + cr
}

/// Total body length of a multipart response (every part head, every range's
/// bytes and the closing delimiter), for the Content-Length header.
pub fn multipart_length(
    boundary: &str,
    content_type: &str,
    ranges: &[ByteRange],
    size: u64,
) -> u64 {
    let parts = ranges.iter().fold(0u64, |acc, r| {
        acc.saturating_add(part_head_len(boundary, content_type, *r, size))
            .saturating_add(r.len())
    });
    parts.saturating_add(closing(boundary).len() as u64)
}

/// Content-Range value of a single-range 206: "bytes s-e/size".
pub fn content_range(r: ByteRange, size: u64) -> String {
    format!("bytes {}-{}/{}", r.start, r.end_inclusive, size)
}

/// Content-Range value of a 416: "bytes */size".
pub fn unsatisfied_range(size: u64) -> String {
    format!("bytes */{size}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn br(start: u64, end_inclusive: u64) -> ByteRange {
        ByteRange {
            start,
            end_inclusive,
        }
    }

    fn p(h: &str, size: u64) -> RangeOutcome {
        parse(h.as_bytes(), size, 16)
    }

    fn partial(v: &[(u64, u64)]) -> RangeOutcome {
        RangeOutcome::Partial(v.iter().map(|&(s, e)| br(s, e)).collect())
    }

    #[test]
    fn byte_range_len() {
        assert_eq!(br(0, 0).len(), 1);
        assert_eq!(br(0, 99).len(), 100);
        assert_eq!(br(5, 4).len(), 0);
        assert!(br(5, 4).is_empty());
        assert!(!br(5, 5).is_empty());
        assert_eq!(br(0, u64::MAX).len(), u64::MAX);
    }

    #[test]
    fn single_ranges() {
        assert_eq!(p("bytes=0-99", 10_000), partial(&[(0, 99)]));
        assert_eq!(p("bytes=-500", 10_000), partial(&[(9500, 9999)]));
        assert_eq!(p("bytes=9500-", 10_000), partial(&[(9500, 9999)]));
        assert_eq!(p("bytes=0-0", 1), partial(&[(0, 0)]));
        assert_eq!(p("bytes=0-", 1), partial(&[(0, 0)]));
        assert_eq!(p("bytes=5-5", 10), partial(&[(5, 5)]));
    }

    #[test]
    fn clamping() {
        assert_eq!(p("bytes=0-999999", 100), partial(&[(0, 99)]));
        assert_eq!(p("bytes=-1000", 100), partial(&[(0, 99)]));
        assert_eq!(p("bytes=50-100", 100), partial(&[(50, 99)]));
    }

    #[test]
    fn unit_and_whitespace() {
        assert_eq!(p("BYTES=0-1", 10), partial(&[(0, 1)]));
        assert_eq!(p("Bytes=0-1", 10), partial(&[(0, 1)]));
        assert_eq!(p("  bytes=0-1  ", 10), partial(&[(0, 1)]));
        assert_eq!(p("bytes= 0-1 , 3-4 ", 10), partial(&[(0, 1), (3, 4)]));
        assert_eq!(p("bytes=0 - 1", 10), partial(&[(0, 1)]));
        assert_eq!(p("bytes=0-1,,3-4,", 10), partial(&[(0, 1), (3, 4)]));
    }

    #[test]
    fn multiple_ranges_keep_order() {
        assert_eq!(p("bytes=0-0,-1", 10), partial(&[(0, 0), (9, 9)]));
        assert_eq!(p("bytes=5-6,0-1", 10), partial(&[(5, 6), (0, 1)]));
    }

    #[test]
    fn syntax_errors_are_full() {
        for h in [
            "",
            "bytes",
            "bytes=",
            "bytes= ",
            "bytes=,",
            "bytes=-",
            "bytes=abc",
            "bytes=1",
            "bytes=a-b",
            "bytes=1-a",
            "bytes=0-1-2",
            "bytes=--1",
            "bytes=+1-2",
            "bytes=0x1-2",
            "bytes=1.5-2",
            "bytes=5-3",
            "bytes=0-1,5-3",
            "bytes=0-1;2-3",
            "bytes 0-1",
            "bytes:0-1",
            "items=0-1",
            "bits=0-1",
            "byte=0-1",
            "bytes =0-1",
            "bytes=-1 2",
            "bytes=１-2",
        ] {
            assert_eq!(p(h, 100), RangeOutcome::Full, "{h:?}");
        }
        assert_eq!(parse(b"bytes=\xff-1", 100, 16), RangeOutcome::Full);
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(p("bytes=100-", 100), RangeOutcome::Unsatisfiable);
        assert_eq!(p("bytes=100-200", 100), RangeOutcome::Unsatisfiable);
        assert_eq!(p("bytes=-0", 100), RangeOutcome::Unsatisfiable);
        assert_eq!(p("bytes=200-300,400-", 100), RangeOutcome::Unsatisfiable);
    }

    #[test]
    fn unsatisfiable_members_dropped() {
        assert_eq!(p("bytes=200-300,0-1", 100), partial(&[(0, 1)]));
        assert_eq!(p("bytes=-0,0-1", 100), partial(&[(0, 1)]));
    }

    #[test]
    fn zero_size() {
        for h in [
            "bytes=0-",
            "bytes=0-0",
            "bytes=-1",
            "bytes=-0",
            "bytes=5-10",
        ] {
            assert_eq!(p(h, 0), RangeOutcome::Unsatisfiable, "{h}");
        }
        assert_eq!(p("bytes=x", 0), RangeOutcome::Full);
    }

    #[test]
    fn too_many_ranges() {
        assert_eq!(parse(b"bytes=0-0,1-1,2-2", 10, 2), RangeOutcome::Full);
        assert_eq!(parse(b"bytes=0-0,1-1", 10, 2), partial(&[(0, 0), (1, 1)]));
        // Only satisfiable ranges count, as in nginx.
        assert_eq!(
            parse(b"bytes=0-0,50-,1-1", 10, 2),
            partial(&[(0, 0), (1, 1)])
        );
        assert_eq!(parse(b"bytes=0-0", 10, 0), RangeOutcome::Full);
        assert_eq!(parse(b"bytes=0-0", 10, 1), partial(&[(0, 0)]));
    }

    #[test]
    fn overlap_amplification_is_full() {
        assert_eq!(p("bytes=0-,0-", 100), RangeOutcome::Full);
        assert_eq!(p("bytes=0-0,-1", 1), RangeOutcome::Full);
        let many = format!("bytes={}", ["0-9"; 11].join(","));
        assert_eq!(parse(many.as_bytes(), 100, 1000), RangeOutcome::Full);
        let ok = format!("bytes={}", ["0-9"; 10].join(","));
        match parse(ok.as_bytes(), 100, 1000) {
            RangeOutcome::Partial(v) => assert_eq!(v.len(), 10),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn huge_numbers_do_not_overflow() {
        let big = "99999999999999999999999999999999";
        assert_eq!(
            p(&format!("bytes={big}-"), 100),
            RangeOutcome::Unsatisfiable
        );
        assert_eq!(p(&format!("bytes=0-{big}"), 100), partial(&[(0, 99)]));
        assert_eq!(p(&format!("bytes=-{big}"), 100), partial(&[(0, 99)]));
        assert_eq!(
            p("bytes=18446744073709551615-18446744073709551615", u64::MAX),
            RangeOutcome::Unsatisfiable
        );
        assert_eq!(p("bytes=0-", u64::MAX), partial(&[(0, u64::MAX - 1)]));
        assert_eq!(
            p("bytes=-1", u64::MAX),
            partial(&[(u64::MAX - 1, u64::MAX - 1)])
        );
        assert_eq!(
            p(&format!("bytes={big}-{big}"), u64::MAX),
            RangeOutcome::Unsatisfiable
        );
    }

    #[test]
    fn long_malicious_headers() {
        let h = format!("bytes={}", ",".repeat(100_000));
        assert_eq!(p(&h, 100), RangeOutcome::Full);
        let h = format!("bytes={}", "200-300,".repeat(10_000));
        assert_eq!(p(&h, 100), RangeOutcome::Unsatisfiable);
        let h = format!("bytes={}", "0-0,".repeat(10_000));
        assert_eq!(parse(h.as_bytes(), 1_000_000, 16), RangeOutcome::Full);
    }

    const ETAG: &str = "\"5f5e1000-64\"";
    const MTIME: i64 = 784_111_777;
    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

    #[test]
    fn if_range() {
        assert!(if_range_matches(ETAG.as_bytes(), ETAG, MTIME));
        assert!(if_range_matches(b" \"5f5e1000-64\" ", ETAG, MTIME));
        assert!(if_range_matches(DATE.as_bytes(), ETAG, MTIME));
        assert!(if_range_matches(
            b"Sunday, 06-Nov-94 08:49:37 GMT",
            ETAG,
            MTIME
        ));

        assert!(!if_range_matches(b"W/\"5f5e1000-64\"", ETAG, MTIME));
        assert!(!if_range_matches(
            ETAG.as_bytes(),
            "W/\"5f5e1000-64\"",
            MTIME
        ));
        assert!(!if_range_matches(b"\"other\"", ETAG, MTIME));
        assert!(!if_range_matches(b"\"5f5e1000-64\", \"x\"", ETAG, MTIME));
        assert!(!if_range_matches(b"\"5f5e1000-64", ETAG, MTIME));
        assert!(!if_range_matches(b"5f5e1000-64", ETAG, MTIME));
        assert!(!if_range_matches(b"*", ETAG, MTIME));
        assert!(!if_range_matches(b"", ETAG, MTIME));
        assert!(!if_range_matches(
            b"Sun, 06 Nov 1994 08:49:38 GMT",
            ETAG,
            MTIME
        ));
        assert!(!if_range_matches(
            b"Sun, 06 Nov 1994 08:49:36 GMT",
            ETAG,
            MTIME
        ));
        assert!(!if_range_matches(b"\xff\xff", ETAG, MTIME));
        assert!(!if_range_matches(b"\"\"", "\"\"x", MTIME));
    }

    #[test]
    fn framing_strings() {
        let b = "00000000000000000001";
        assert_eq!(
            multipart_content_type(b),
            "multipart/byteranges; boundary=00000000000000000001"
        );
        assert_eq!(
            part_head(b, "text/plain", br(0, 9), 100),
            "\r\n--00000000000000000001\r\nContent-Type: text/plain\r\n\
             Content-Range: bytes 0-9/100\r\n\r\n"
        );
        assert_eq!(
            part_head(b, "", br(0, 9), 100),
            "\r\n--00000000000000000001\r\nContent-Range: bytes 0-9/100\r\n\r\n"
        );
        assert_eq!(closing(b), "\r\n--00000000000000000001--\r\n");
        assert_eq!(
            content_range(br(9500, 9999), 10_000),
            "bytes 9500-9999/10000"
        );
        assert_eq!(unsatisfied_range(0), "bytes */0");
        assert_eq!(unsatisfied_range(12345), "bytes */12345");
    }

    #[test]
    fn multipart_length_matches_built_body() {
        let b = "00000000000000000042";
        let size = 123_456_789;
        let ranges = [br(0, 0), br(9, 99), br(1000, 123_456_788), br(5, 5)];
        for ct in ["application/octet-stream", ""] {
            let mut body_len = 0u64;
            for r in &ranges {
                body_len += part_head(b, ct, *r, size).len() as u64 + r.len();
            }
            body_len += closing(b).len() as u64;
            assert_eq!(multipart_length(b, ct, &ranges, size), body_len);
        }
        assert_eq!(multipart_length(b, "x/y", &[], 10), closing(b).len() as u64);
    }

    #[test]
    fn part_head_len_matches_for_extremes() {
        for r in [
            br(0, 0),
            br(u64::MAX - 1, u64::MAX - 1),
            br(9, 10),
            br(99, 100),
        ] {
            for size in [0, 1, 10, u64::MAX] {
                assert_eq!(
                    part_head_len("b", "t/t", r, size),
                    part_head("b", "t/t", r, size).len() as u64
                );
            }
        }
    }

    #[test]
    fn decimal_len_values() {
        assert_eq!(decimal_len(0), 1);
        assert_eq!(decimal_len(9), 1);
        assert_eq!(decimal_len(10), 2);
        assert_eq!(decimal_len(u64::MAX), 20);
    }
}
