//! Validators shared by whoever makes and whoever checks them: nginx's ETag for a file,
//! and HTTP-dates (IMF-fixdate out, the three RFC 9110 forms in).
//!
//! The static handler and the proxy make them; `filters::not_modified`, the range filter,
//! autoindex and the response writer read or print them; all import them from here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Last second representable as an IMF-fixdate (9999-12-31T23:59:59Z).
pub const MAX_HTTP_DATE_SECS: i64 = 253_402_300_799;

/// nginx's strong ETag: `"{mtime:x}-{size:x}"` (lowercase hex, quoted).
///
/// A negative mtime is rendered as its two's-complement bit pattern, which is
/// what nginx's unsigned formatting produces too; it only needs to be stable.
pub fn etag(mtime_secs: i64, size: u64) -> String {
    format!("\"{mtime_secs:x}-{size:x}\"")
}

/// IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
///
/// Times outside 1970..=9999 are clamped to that range because the format
/// cannot express them (and the date formatter would otherwise panic).
pub fn http_date(secs: i64) -> String {
    let clamped = secs.clamp(0, MAX_HTTP_DATE_SECS).unsigned_abs();
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(clamped))
}

/// Parses any of the three HTTP-date formats (IMF-fixdate, RFC 850, asctime)
/// into Unix seconds; surrounding whitespace is tolerated.
pub fn parse_http_date(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    let t: SystemTime = httpdate::parse_http_date(text).ok()?;
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}
