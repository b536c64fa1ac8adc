//! Static file handler, first step: turns the raw request-target path into a
//! normalised, root-relative path that is safe to append to a document root.
//!
//! In: the raw bytes of the request target (see [`split_target`]) exactly as
//! the client sent them. Out: a decoded path that always starts with '/',
//! contains no "." or ".." segments and never climbs above the root, or a
//! [`PathError`] the caller answers with 400. Also provides the reverse
//! direction ([`encode_path`]) for Location headers and links.
//!
//! Decoding happens *before* segment resolution on purpose: the filesystem
//! sees decoded bytes, so "%2e%2e%2f" must be judged as the "../" it becomes.
//! Decoding exactly once means "%252e" stays the literal name "%2e".

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    BadEncoding,
    Traversal,
    NulByte,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::BadEncoding => "invalid percent-encoding in request path",
            PathError::Traversal => "request path climbs above the root",
            PathError::NulByte => "NUL byte in request path",
        })
    }
}

impl std::error::Error for PathError {}

/// Splits a request target into its path and its query (without the '?').
/// The first '?' ends the path; later ones belong to the query.
pub fn split_target(target: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr::memchr(b'?', target) {
        Some(i) => (&target[..i], Some(&target[i + 1..])),
        None => (target, None),
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        let byte = if b == b'%' {
            let hi = raw.get(i + 1).copied().and_then(hex_val);
            let lo = raw.get(i + 2).copied().and_then(hex_val);
            match (hi, lo) {
                (Some(hi), Some(lo)) => {
                    i += 3;
                    (hi << 4) | lo
                }
                _ => return Err(PathError::BadEncoding),
            }
        } else {
            i += 1;
            b
        };
        // A NUL would silently truncate the path at the libc boundary.
        if byte == 0 {
            return Err(PathError::NulByte);
        }
        out.push(byte);
    }
    Ok(out)
}

/// Percent-decodes (not '+'), merges repeated slashes when `merge_slashes`,
/// resolves "." and ".." segments.
///
/// A ".." that would climb above "/" is `Err(Traversal)` (nginx answers 400).
/// A decoded or raw NUL is `NulByte`; an invalid or truncated `%XX` is
/// `BadEncoding`. The output always starts with '/' (a missing leading slash
/// is treated as present) and keeps a trailing '/' when the input ended in
/// one, or in a "." / ".." segment, since both name a directory:
/// "/a/." → "/a/", "/a/.." → "/".
///
/// `%2F` is decoded like any other byte and therefore acts as a separator;
/// backslashes are ordinary bytes (Linux). Without `merge_slashes`, empty
/// segments are preserved and a ".." removes one of them, as nginx does.
pub fn normalize(raw_path: &[u8], merge_slashes: bool) -> Result<Vec<u8>, PathError> {
    let decoded = percent_decode(raw_path)?;
    let body = decoded.strip_prefix(b"/").unwrap_or(&decoded);

    let mut segments: Vec<&[u8]> = Vec::new();
    let mut trailing_slash = false;
    let mut parts = body.split(|&b| b == b'/').peekable();
    while let Some(seg) = parts.next() {
        let is_last = parts.peek().is_none();
        trailing_slash = false;
        match seg {
            b"" if is_last => trailing_slash = true,
            b"" if merge_slashes => {}
            b"." => trailing_slash = true,
            b".." => {
                if segments.pop().is_none() {
                    return Err(PathError::Traversal);
                }
                trailing_slash = true;
            }
            _ => segments.push(seg),
        }
    }

    let mut out = Vec::with_capacity(decoded.len() + 1);
    out.push(b'/');
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(seg);
    }
    if trailing_slash && !segments.is_empty() {
        out.push(b'/');
    }
    Ok(out)
}

/// True if any segment of a normalised path starts with '.' (dotfiles and
/// dot-directories such as "/.git/config" or "/a/.env"). "/" alone is false.
pub fn has_dot_segment(path: &[u8]) -> bool {
    path.split(|&b| b == b'/')
        .any(|seg| seg.first() == Some(&b'.'))
}

/// True if any segment is exactly "..". Normalised request paths never have one; paths
/// built from an alias remainder or variables may.
pub fn has_dotdot_segment(path: &[u8]) -> bool {
    path.split(|&b| b == b'/').any(|seg| seg == b"..")
}

/// Percent-encodes every byte that is not RFC 3986 "unreserved" or '/', for
/// Location headers and links. Encoding more than strictly needed (e.g. ':'
/// and '@') is harmless and keeps the output safe inside HTML attributes and
/// unambiguous as a relative reference.
pub fn encode_path(path: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(path.len());
    for &b in path {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<String, PathError> {
        normalize(s.as_bytes(), true).map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    fn norm_nomerge(s: &str) -> Result<String, PathError> {
        normalize(s.as_bytes(), false).map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    #[test]
    fn plain_paths_unchanged() {
        assert_eq!(norm("/").unwrap(), "/");
        assert_eq!(norm("/index.html").unwrap(), "/index.html");
        assert_eq!(norm("/a/b/c").unwrap(), "/a/b/c");
        assert_eq!(norm("/a/b/").unwrap(), "/a/b/");
    }

    #[test]
    fn empty_and_relative_inputs_are_rooted() {
        assert_eq!(norm("").unwrap(), "/");
        assert_eq!(norm("a/b").unwrap(), "/a/b");
        assert_eq!(norm(".").unwrap(), "/");
        assert_eq!(norm("..").unwrap_err(), PathError::Traversal);
    }

    #[test]
    fn dot_segments_resolved() {
        assert_eq!(norm("/a/./b").unwrap(), "/a/b");
        assert_eq!(norm("/a/.").unwrap(), "/a/");
        assert_eq!(norm("/a/..").unwrap(), "/");
        assert_eq!(norm("/a/../").unwrap(), "/");
        assert_eq!(norm("/a/b/../c").unwrap(), "/a/c");
        assert_eq!(norm("/a/b/../../c/").unwrap(), "/c/");
        assert_eq!(norm("/./").unwrap(), "/");
        assert_eq!(norm("/.").unwrap(), "/");
        assert_eq!(norm("/a/./.").unwrap(), "/a/");
    }

    #[test]
    fn dot_like_names_are_literal() {
        assert_eq!(norm("/...").unwrap(), "/...");
        assert_eq!(norm("/..a").unwrap(), "/..a");
        assert_eq!(norm("/a..").unwrap(), "/a..");
        assert_eq!(norm("/.hidden").unwrap(), "/.hidden");
        assert_eq!(norm("/a/.../b").unwrap(), "/a/.../b");
    }

    #[test]
    fn traversal_rejected() {
        for p in [
            "/..",
            "/../",
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/a/b/../../../x",
            "/./../x",
            "//../x",
        ] {
            assert_eq!(norm(p), Err(PathError::Traversal), "{p}");
        }
    }

    #[test]
    fn encoded_traversal_rejected() {
        for p in [
            "/%2e%2e/etc/passwd",
            "/%2E%2E/etc/passwd",
            "/%2e%2E/x",
            "/.%2e/x",
            "/%2e./x",
            "/..%2fetc%2fpasswd",
            "/..%2Fetc",
            "/a%2f..%2f..%2fetc",
            "/%2f..",
            "/a/%2e%2e%2f%2e%2e/x",
        ] {
            assert_eq!(norm(p), Err(PathError::Traversal), "{p}");
        }
    }

    #[test]
    fn encoded_slash_acts_as_separator() {
        assert_eq!(norm("/a%2fb").unwrap(), "/a/b");
        assert_eq!(norm("/a%2F%2Fb").unwrap(), "/a/b");
        assert_eq!(norm("/a%2f..%2fb").unwrap(), "/b");
    }

    #[test]
    fn double_encoding_decoded_once() {
        assert_eq!(norm("/%252e%252e/x").unwrap(), "/%2e%2e/x");
        assert_eq!(norm("/%252f").unwrap(), "/%2f");
        assert_eq!(norm("/a%2525").unwrap(), "/a%25");
    }

    #[test]
    fn backslashes_are_literal() {
        assert_eq!(norm("/..\\..\\etc").unwrap(), "/..\\..\\etc");
        assert_eq!(norm("/a%5c..%5cb").unwrap(), "/a\\..\\b");
    }

    #[test]
    fn plus_not_decoded() {
        assert_eq!(norm("/a+b").unwrap(), "/a+b");
        assert_eq!(norm("/a%20b").unwrap(), "/a b");
    }

    #[test]
    fn non_ascii_bytes_pass_through() {
        assert_eq!(normalize(b"/%C3%A9", true).unwrap(), "/\u{e9}".as_bytes());
        assert_eq!(
            normalize(b"/\xff\xfe", true).unwrap(),
            b"/\xff\xfe".to_vec()
        );
        assert_eq!(normalize(b"/%ff", true).unwrap(), b"/\xff".to_vec());
    }

    #[test]
    fn bad_encoding() {
        for p in ["/%", "/%2", "/%zz", "/%g0", "/a%2", "/%%41", "/%-1", "/% 1"] {
            assert_eq!(norm(p), Err(PathError::BadEncoding), "{p}");
        }
    }

    #[test]
    fn nul_bytes() {
        assert_eq!(norm("/a%00b"), Err(PathError::NulByte));
        assert_eq!(norm("/a%00"), Err(PathError::NulByte));
        assert_eq!(normalize(b"/a\0b", true), Err(PathError::NulByte));
        // "%2500" is the literal "%00", not a NUL.
        assert_eq!(norm("/%2500").unwrap(), "/%00");
    }

    #[test]
    fn merge_slashes_on() {
        assert_eq!(norm("//a///b//").unwrap(), "/a/b/");
        assert_eq!(norm("////").unwrap(), "/");
        assert_eq!(norm("/a//../b").unwrap(), "/b");
    }

    #[test]
    fn merge_slashes_off() {
        assert_eq!(norm_nomerge("//a").unwrap(), "//a");
        assert_eq!(norm_nomerge("/a//b").unwrap(), "/a//b");
        assert_eq!(norm_nomerge("/a//").unwrap(), "/a//");
        // ".." removes the empty segment only, never escaping the root.
        assert_eq!(norm_nomerge("/a//../b").unwrap(), "/a/b");
        assert_eq!(norm_nomerge("//..").unwrap(), "/");
        assert_eq!(norm_nomerge("/..//"), Err(PathError::Traversal));
        assert_eq!(norm_nomerge("/").unwrap(), "/");
    }

    #[test]
    fn long_and_deep_paths() {
        let deep = "/a".repeat(10_000) + &"/..".repeat(10_000);
        assert_eq!(norm(&deep).unwrap(), "/");
        let deeper = "/a".repeat(100) + &"/..".repeat(101);
        assert_eq!(norm(&deeper), Err(PathError::Traversal));
    }

    #[test]
    fn output_never_contains_dot_segments() {
        let inputs = [
            "/a/./b/../c/./",
            "/x/%2e/y/%2e%2e/z",
            "/./././a",
            "/a/b/c/../../..",
        ];
        for p in inputs {
            let out = normalize(p.as_bytes(), true).unwrap();
            assert!(out.starts_with(b"/"));
            for seg in out.split(|&b| b == b'/') {
                assert!(seg != b"." && seg != b"..", "{p}");
            }
        }
    }

    #[test]
    fn split_target_cases() {
        assert_eq!(split_target(b"/a?b=c"), (&b"/a"[..], Some(&b"b=c"[..])));
        assert_eq!(split_target(b"/a"), (&b"/a"[..], None));
        assert_eq!(split_target(b"/a?"), (&b"/a"[..], Some(&b""[..])));
        assert_eq!(split_target(b"?x"), (&b""[..], Some(&b"x"[..])));
        assert_eq!(split_target(b"/a?b?c"), (&b"/a"[..], Some(&b"b?c"[..])));
        assert_eq!(split_target(b""), (&b""[..], None));
        // An encoded '?' is part of the path.
        assert_eq!(split_target(b"/a%3Fb"), (&b"/a%3Fb"[..], None));
    }

    #[test]
    fn dot_segment_detection() {
        assert!(has_dot_segment(b"/.git/config"));
        assert!(has_dot_segment(b"/a/.env"));
        assert!(has_dot_segment(b"/.well-known/"));
        assert!(has_dot_segment(b".x"));
        assert!(!has_dot_segment(b"/"));
        assert!(!has_dot_segment(b""));
        assert!(!has_dot_segment(b"/a/b.c/d"));
        assert!(!has_dot_segment(b"/a./b"));
        assert!(!has_dot_segment(b"//a"));
    }

    #[test]
    fn encode_keeps_unreserved_and_slash() {
        assert_eq!(encode_path(b"/aZ09-._~/x"), "/aZ09-._~/x");
    }

    #[test]
    fn encode_escapes_unsafe() {
        assert_eq!(encode_path(b"/a b"), "/a%20b");
        assert_eq!(encode_path(b"/%"), "/%25");
        assert_eq!(encode_path(b"/?#"), "/%3F%23");
        assert_eq!(encode_path(b"/\"'<>"), "/%22%27%3C%3E");
        assert_eq!(encode_path(b"/\r\n\t\x00\x7f"), "/%0D%0A%09%00%7F");
        assert_eq!(encode_path("/é".as_bytes()), "/%C3%A9");
        assert_eq!(encode_path(b"/\xff"), "/%FF");
        assert_eq!(encode_path(b"/a\\b"), "/a%5Cb");
        assert_eq!(encode_path(b""), "");
    }

    #[test]
    fn encode_then_normalize_round_trips() {
        let raw: Vec<u8> = (1u8..=255).filter(|&b| b != b'/').collect();
        let mut path = b"/dir/".to_vec();
        path.extend_from_slice(&raw);
        let encoded = encode_path(&path);
        assert!(encoded.is_ascii());
        assert_eq!(normalize(encoded.as_bytes(), true).unwrap(), path);
    }

    #[test]
    fn error_display() {
        assert!(PathError::Traversal.to_string().contains("root"));
    }
}
