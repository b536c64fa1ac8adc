//! The X-Accel-* instructions an upstream's response head gives the proxy, sans-io.
//!
//! `serve::proxy` reads them once the head is parsed (`http::upstream`): an
//! `X-Accel-Redirect` turns the answer into an internal redirect ([`redirect_target`] checks
//! its URI as nginx's `ngx_http_parse_unsafe_uri`, [`kept_fields`] picks the fields that
//! survive it), `X-Accel-Limit-Rate` sets the response's rate ([`limit_rate`]). The
//! pipeline then runs the redirect like any other.

use super::upstream::{field, UpstreamHead};

/// Where an `X-Accel-Redirect` sends the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A URI (unescaped) and its args (as sent).
    Uri { uri: Vec<u8>, args: Vec<u8> },
    /// `@name`: the name without `@`.
    Named(String),
    /// A URI nginx refuses ("unsafe URI ... was detected", 404): empty, args only, a `..`
    /// segment or a NUL, before or after unescaping. Holds the value as sent.
    Unsafe(Vec<u8>),
}

/// The fields of an upstream answer nginx keeps when it follows the answer's
/// X-Accel-Redirect (its upstream header table's `redirect` entries); Content-Type is
/// kept apart, as the response's type.
const KEPT: [&[u8]; 5] = [
    b"set-cookie",
    b"content-disposition",
    b"cache-control",
    b"expires",
    b"accept-ranges",
];

/// What an X-Accel-Redirect carries to the request it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Carried {
    /// The upstream's Content-Type: the redirected answer's type unless its handler sets
    /// one itself (nginx's handlers keep a type already set).
    pub content_type: Option<String>,
    /// The other kept field lines ("Name: value\r\n"), as the upstream sent them (a
    /// Set-Cookie as `rewrite` made it).
    pub fields: Vec<u8>,
}

/// The X-Accel-Redirect value of `head`, when there is one (the first, as nginx).
pub fn redirect_value<'a>(head: &UpstreamHead, buf: &'a [u8]) -> Option<&'a [u8]> {
    field(head, buf, "x-accel-redirect").filter(|v| !v.is_empty())
}

/// Reads an X-Accel-Redirect value as nginx does: `@name`, or a URI with optional args,
/// refused when unsafe.
pub fn redirect_target(value: &[u8]) -> Target {
    if let Some(name) = value.strip_prefix(b"@") {
        // A name no location has ends in nginx's "could not find named location" (500).
        return Target::Named(String::from_utf8_lossy(name).into_owned());
    }
    let (raw, args) = match memchr::memchr(b'?', value) {
        Some(i) => (&value[..i], &value[i + 1..]),
        None => (value, &b""[..]),
    };
    if raw.is_empty() || climbs(raw) {
        return Target::Unsafe(value.to_vec());
    }
    let uri = if raw.contains(&b'%') {
        let decoded = unescape(raw);
        if decoded.is_empty() || climbs(&decoded) {
            return Target::Unsafe(value.to_vec());
        }
        decoded
    } else {
        raw.to_vec()
    };
    Target::Uri {
        uri,
        args: args.to_vec(),
    }
}

/// A NUL, or a `..` segment at the start or after a `/` (nginx's checks).
fn climbs(path: &[u8]) -> bool {
    if path.contains(&0) {
        return true;
    }
    let dotdot_at = |i: usize| {
        path.get(i..i + 2) == Some(b"..") && matches!(path.get(i + 2), None | Some(b'/'))
    };
    dotdot_at(0) || memchr::memchr_iter(b'/', path).any(|i| dotdot_at(i + 1))
}

/// `%XX` → the byte; a `%` not followed by two hex digits stays as it is (nginx's
/// `ngx_unescape_uri`).
fn unescape(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            if let (Some(hi), Some(lo)) = (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            ) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// The fields nginx keeps across an X-Accel-Redirect; `rewrite` may replace a Set-Cookie
/// (`proxy_cookie_*`).
pub fn kept_fields(
    head: &UpstreamHead,
    buf: &[u8],
    rewrite: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
) -> Carried {
    let mut carried = Carried::default();
    for (n, v) in &head.fields {
        let (name, value) = (&buf[n.clone()], &buf[v.clone()]);
        if name.eq_ignore_ascii_case(b"content-type") {
            if carried.content_type.is_none() {
                carried.content_type = Some(String::from_utf8_lossy(value).into_owned());
            }
            continue;
        }
        if !KEPT.iter().any(|k| name.eq_ignore_ascii_case(k)) {
            continue;
        }
        let replaced = if name.eq_ignore_ascii_case(b"set-cookie") {
            rewrite(value).filter(|r| !r.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)))
        } else {
            None
        };
        carried.fields.extend_from_slice(name);
        carried.fields.extend_from_slice(b": ");
        carried
            .fields
            .extend_from_slice(replaced.as_deref().unwrap_or(value));
        carried.fields.extend_from_slice(b"\r\n");
    }
    carried
}

/// An `X-Accel-Limit-Rate` value: bytes a second (`off` is 0, no limit); `None` for a
/// value that is not a number, which nginx ignores.
pub fn limit_rate(value: &[u8]) -> Option<u64> {
    if value.eq_ignore_ascii_case(b"off") {
        return Some(0);
    }
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::upstream::{parse_response_head, Parsed};

    fn uri(v: &str) -> Target {
        redirect_target(v.as_bytes())
    }

    fn to(u: &str, a: &str) -> Target {
        Target::Uri {
            uri: u.as_bytes().to_vec(),
            args: a.as_bytes().to_vec(),
        }
    }

    #[test]
    fn uris_as_nginx_reads_them() {
        assert_eq!(uri("/index.html"), to("/index.html", ""));
        assert_eq!(uri("/foo?bar"), to("/foo", "bar"));
        assert_eq!(uri("/foo%20bar"), to("/foo bar", ""));
        assert_eq!(uri("/a%zz"), to("/a%zz", ""));
        assert_eq!(uri("/a..b/c.."), to("/a..b/c..", ""));
        assert_eq!(uri("@named"), Target::Named("named".into()));
        for unsafe_uri in [
            "",
            "?x",
            "..",
            "../foo",
            "/foo/..",
            "/foo/../x",
            "/foo/.%2e",
            "/%00",
        ] {
            let refused = Target::Unsafe(unsafe_uri.as_bytes().to_vec());
            assert_eq!(uri(unsafe_uri), refused, "{unsafe_uri:?}");
        }
    }

    #[test]
    fn keeps_the_fields_nginx_keeps() {
        let raw = b"HTTP/1.1 204 No Content\r\nX-Accel-Redirect: /x\r\nContent-Type: text/blah\r\n\
Set-Cookie: a=1\r\nSomething: other\r\nCache-Control: no-cache\r\nExpires: fake\r\n\
Accept-Ranges: parrots\r\nContent-Disposition: attachment\r\n\r\n";
        let Ok(Parsed::Head(head)) = parse_response_head(raw, 4096, false) else {
            panic!("no head")
        };
        assert_eq!(redirect_value(&head, raw), Some(&b"/x"[..]));
        let c = kept_fields(&head, raw, &mut |v| Some([v, b"; Path=/"].concat()));
        assert_eq!(c.content_type.as_deref(), Some("text/blah"));
        assert_eq!(
            String::from_utf8_lossy(&c.fields),
            "Set-Cookie: a=1; Path=/\r\nCache-Control: no-cache\r\nExpires: fake\r\n\
Accept-Ranges: parrots\r\nContent-Disposition: attachment\r\n"
        );
    }

    #[test]
    fn limit_rate_values() {
        assert_eq!(limit_rate(b"13000"), Some(13000));
        assert_eq!(limit_rate(b"off"), Some(0));
        assert_eq!(limit_rate(b"12k"), None);
        assert_eq!(limit_rate(b"+5"), None);
        assert_eq!(limit_rate(b""), None);
    }
}
