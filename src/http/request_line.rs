//! `$request` for any protocol: method, target and version composed, not sliced from an
//! HTTP/1 buffer (an HTTP/2 or 3 request has no request line to slice).
//!
//! The codec's head gives the parts ([`super::request::RequestHead::request_line`]); the
//! variables (`$request`), the built-in access-log formats and error-log lines write it.

use super::request::Version;

/// `$request`: method, target and version, as nginx composes it for HTTP/2 and 3
/// (`GET /x HTTP/2.0`). For HTTP/1 this is also the line as received, byte for byte: the
/// parser accepts single spaces only and no version token but the two above, so nothing
/// of the raw line is lost. Borrowed parts, so logging it copies nothing until written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine<'b> {
    /// The method token as sent.
    pub method: &'b [u8],
    /// The target as sent (absolute form included; HTTP/2's `:path`).
    pub target: &'b [u8],
    pub version: Version,
}

impl RequestLine<'_> {
    /// Appends the line (no line end).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.write_with(out, |out, part| out.extend_from_slice(part));
    }

    /// Appends the line with `part` writing the method and the target (an escaping log
    /// format); the separators and the version are plain ASCII and go as they are.
    pub fn write_with(&self, out: &mut Vec<u8>, mut part: impl FnMut(&mut Vec<u8>, &[u8])) {
        part(out, self.method);
        out.push(b' ');
        part(out, self.target);
        out.push(b' ');
        out.extend_from_slice(self.version.as_str().as_bytes());
    }
}

/// Lossy UTF-8, as error-log lines quote the request.
impl std::fmt::Display for RequestLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}",
            String::from_utf8_lossy(self.method),
            String::from_utf8_lossy(self.target),
            self.version.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{parse_head, HeadLimits};

    fn line(version: Version) -> RequestLine<'static> {
        RequestLine {
            method: b"GET",
            target: b"/x?a=1",
            version,
        }
    }

    fn written(l: &RequestLine) -> String {
        let mut out = Vec::new();
        l.write_to(&mut out);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn every_version_composes_as_nginx_prints_it() {
        for (version, want) in [
            (Version::Http10, "GET /x?a=1 HTTP/1.0"),
            (Version::Http11, "GET /x?a=1 HTTP/1.1"),
            (Version::Http2, "GET /x?a=1 HTTP/2.0"),
            (Version::Http3, "GET /x?a=1 HTTP/3.0"),
        ] {
            assert_eq!(written(&line(version)), want);
            assert_eq!(line(version).to_string(), want);
        }
    }

    #[test]
    fn an_http1_line_is_the_line_as_received() {
        // Forms nginx logs as they came: absolute-form (any case of scheme and host), 1.0,
        // a fragment, an extension method, empty lines before it, a bare LF.
        for raw in [
            &b"GET /x HTTP/1.0\r\n\r\n"[..],
            b"GET http://h/x?a HTTP/1.1\r\nHost: y\r\n\r\n",
            b"GET HTTP://H/x HTTP/1.1\r\nHost: y\r\n\r\n",
            b"GET /%7e?x#f HTTP/1.1\r\nHost: y\r\n\r\n",
            b"FOO /x HTTP/1.1\r\nHost: y\r\n\r\n",
            b"\r\nGET /y HTTP/1.1\r\nHost: y\r\n\r\n",
            b"GET /x HTTP/1.1\nHost: y\n\n",
            // Accepted by anx where nginx answers 400: still the line as received.
            b"get /x HTTP/1.1\r\nHost: y\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: y\r\n\r\n",
        ] {
            let head = parse_head(raw, &HeadLimits::default())
                .expect("valid")
                .expect("complete");
            let start = head.method_raw.start;
            let end = start + raw[start..].iter().position(|&b| b == b'\n').expect("LF");
            let received = raw[start..end]
                .strip_suffix(b"\r")
                .unwrap_or(&raw[start..end]);
            let mut out = Vec::new();
            head.request_line(raw).write_to(&mut out);
            assert_eq!(out, received, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn escaping_touches_method_and_target_only() {
        let l = RequestLine {
            method: b"GET",
            target: b"/a\"b",
            version: Version::Http2,
        };
        let mut out = Vec::new();
        l.write_with(&mut out, |out, part| {
            out.push(b'[');
            out.extend_from_slice(part);
            out.push(b']');
        });
        assert_eq!(out, b"[GET] [/a\"b] HTTP/2.0");
        // Error-log lines quote a target that is not UTF-8 lossily.
        let odd = RequestLine {
            target: b"/\xff",
            ..l
        };
        assert_eq!(odd.to_string(), "GET /\u{fffd} HTTP/2.0");
    }
}
