//! Host names as nginx checks and compares them: which Host values (and request-line
//! authorities) are valid at all, the host part of a valid one, lowercased, and the wildcard
//! forms of `server_name` and `map … { hostnames; }` keys.
//!
//! [`validate_host`] runs in the request-head codec (`http::request`), once per request;
//! the rest is used by server selection (`route::server`), `$host` (`context::vars`),
//! absolute Location headers (`filters::location`) and map lookups (`context::map`). Sans-io,
//! no allocation on the matching path.

/// nginx's host validation (`ngx_http_validate_host`, as of 1.29.4): the length of the host
/// name inside `value`, without the port and without one trailing dot; `None` for a value
/// that must be refused with 400.
///
/// The name is a reg-name (letters, digits, `-._~`, sub-delims, `%`; no empty label inside,
/// so "a..b" is refused but ".a" is not) or an IP literal in brackets (IPv6 or IPvFuture:
/// the same characters plus `:`, nothing but a port after `]`). The port is optional, may be
/// empty ("host:"), holds digits only and is at most 65535. An empty name (also "." alone)
/// is refused. Case is kept: the callers lowercase when they compare.
pub fn validate_host(value: &[u8]) -> Option<usize> {
    #[derive(PartialEq)]
    enum State {
        Name,
        Literal,
        AfterLiteral,
        Port,
    }
    let mut state = if value.first() == Some(&b'[') {
        State::Literal
    } else {
        State::Name
    };
    let mut name_len = value.len();
    // Where the last '.' was; a second one right after it is an empty label.
    let mut last_dot: Option<usize> = None;
    let mut port: u32 = 0;
    let start = usize::from(state == State::Literal);
    for (i, &b) in value.iter().enumerate().skip(start) {
        match state {
            State::Name | State::Literal => match b {
                b'.' => {
                    if last_dot.is_some_and(|d| d + 1 == i) {
                        return None;
                    }
                    last_dot = Some(i);
                }
                b':' if state == State::Name => {
                    name_len = i;
                    state = State::Port;
                }
                b':' => {}
                b']' if state == State::Literal => {
                    name_len = i + 1;
                    state = State::AfterLiteral;
                }
                b'%' if state == State::Name => {}
                _ if b.is_ascii_alphanumeric() || is_unreserved_or_sub_delim(b) => {}
                _ => return None,
            },
            State::AfterLiteral => {
                if b != b':' {
                    return None;
                }
                state = State::Port;
            }
            State::Port => {
                if !b.is_ascii_digit() {
                    return None;
                }
                port = port * 10 + u32::from(b - b'0');
                if port > 65535 {
                    return None;
                }
            }
        }
    }
    if state == State::Literal {
        return None; // no closing bracket
    }
    if name_len > 0 && last_dot == Some(name_len - 1) {
        name_len -= 1;
    }
    (name_len > 0).then_some(name_len)
}

/// RFC 3986's unreserved marks (`-._~`, letters and digits checked apart) and sub-delims.
pub fn is_unreserved_or_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'-' | b'.'
            | b'_'
            | b'~'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
    )
}

/// The host part of a Host value: without port or trailing dot. "[::1]:80" keeps brackets.
fn host_part(host: &[u8]) -> &[u8] {
    let without_port = if host.first() == Some(&b'[') {
        match memchr::memchr(b']', host) {
            Some(end) => &host[..=end],
            None => host,
        }
    } else {
        match memchr::memrchr(b':', host) {
            Some(colon) => &host[..colon],
            None => host,
        }
    };
    without_port.strip_suffix(b".").unwrap_or(without_port)
}

/// Host without port or trailing dot, lowercased (nginx's `$host` and name matching form).
pub fn normalize_host(host: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(host.len());
    normalize_host_into(host, &mut out);
    out
}

/// [`normalize_host`], appended to `out`.
pub fn normalize_host_into(host: &[u8], out: &mut Vec<u8>) {
    out.extend(host_part(host).iter().map(u8::to_ascii_lowercase));
}

/// [`normalize_host`] into `buf` (as long as `host` at least); returns the length.
pub fn normalize_host_to(host: &[u8], buf: &mut [u8]) -> usize {
    let part = host_part(host);
    for (d, s) in buf.iter_mut().zip(part) {
        *d = s.to_ascii_lowercase();
    }
    part.len()
}

/// How well a wildcard name matched a host; a greater value is the better match: any
/// leading wildcard beats any trailing one, and a longer fixed part beats a shorter one
/// (nginx's "most specific" rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WildcardHit {
    /// `www.example.*`: the length of `www.example.`.
    Trailing(usize),
    /// `*.example.com` or `.example.com`: the length of `.example.com`.
    Leading(usize),
}

/// Whether a wildcard name (`*.example.com`, `.example.com` — which also matches
/// `example.com` itself — or `www.example.*`) matches `host`; both lowercased, the host
/// without port or trailing dot. `None` for a name that is not a wildcard.
pub fn wildcard_match(name: &[u8], host: &[u8]) -> Option<WildcardHit> {
    if let Some(suffix) = name.strip_prefix(b"*") {
        (host.len() > suffix.len() && host.ends_with(suffix))
            .then_some(WildcardHit::Leading(suffix.len()))
    } else if let Some(bare) = name.strip_prefix(b".") {
        (host == bare || (host.len() > name.len() && host.ends_with(name)))
            .then_some(WildcardHit::Leading(name.len()))
    } else if let Some(prefix) = name.strip_suffix(b"*") {
        (host.len() > prefix.len() && host.starts_with(prefix))
            .then_some(WildcardHit::Trailing(prefix.len()))
    } else {
        None
    }
}

/// Whether `name` is one of the wildcard forms.
pub fn is_wildcard(name: &[u8]) -> bool {
    name.starts_with(b"*.") || name.starts_with(b".") || name.ends_with(b".*")
}

/// The best wildcard among `names` for `host`, by [`WildcardHit`] order; the first of equals.
pub fn best_wildcard<'a, T>(
    names: impl IntoIterator<Item = (&'a [u8], T)>,
    host: &[u8],
) -> Option<T> {
    let mut best: Option<(WildcardHit, T)> = None;
    for (name, value) in names {
        if let Some(hit) = wildcard_match(name, host) {
            if best.as_ref().is_none_or(|(b, _)| hit > *b) {
                best = Some((hit, value));
            }
        }
    }
    best.map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalize_host(b"A.B:80"), b"a.b");
        assert_eq!(normalize_host(b"[::1]:80"), b"[::1]");
        assert_eq!(normalize_host(b"x.y."), b"x.y");
    }

    #[test]
    fn validation_as_nginx() {
        let len = |v: &str| validate_host(v.as_bytes());
        assert_eq!(len("example.com"), Some(11));
        assert_eq!(len("example.com."), Some(11));
        assert_eq!(len("example.com.:80"), Some(11));
        assert_eq!(len("a:"), Some(1));
        assert_eq!(len("[::1]:8080"), Some(5));
        assert_eq!(len(".a"), Some(2));
        assert_eq!(len("a:65535"), Some(1));
        assert_eq!(len("a:00000000065535"), Some(1));
        for bad in [
            "", ".", ":", ":1", "..", "a..b", "a:65536", "a:1.2", "a:1:2", "[::1", "[::1].",
            "[::1]a", "a[::1]", "a b", "a/b", "a\\b", "a\x02", "[a%41]", "[a..b]",
        ] {
            assert_eq!(len(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn wildcard_forms_and_ranking() {
        use WildcardHit::*;
        assert_eq!(wildcard_match(b"*.a.com", b"x.a.com"), Some(Leading(6)));
        assert_eq!(wildcard_match(b"*.a.com", b"a.com"), None);
        assert_eq!(wildcard_match(b".a.com", b"a.com"), Some(Leading(6)));
        assert_eq!(wildcard_match(b".a.com", b"y.x.a.com"), Some(Leading(6)));
        assert_eq!(wildcard_match(b"www.*", b"www.b.org"), Some(Trailing(4)));
        assert_eq!(wildcard_match(b"www.*", b"www."), None);
        assert_eq!(wildcard_match(b"a.com", b"a.com"), None);
        assert!(Leading(1) > Trailing(100));
        let names: [(&[u8], u8); 3] = [(b"www.*", 1), (b"*.com", 2), (b"*.a.com", 3)];
        assert_eq!(best_wildcard(names, b"www.a.com"), Some(3));
        assert_eq!(best_wildcard(names, b"www.b.org"), Some(1));
        assert_eq!(best_wildcard(names, b"b.org"), None);
        assert!(is_wildcard(b"*.a") && is_wildcard(b".a") && is_wildcard(b"a.*"));
        assert!(!is_wildcard(b"a.b"));
    }
}
