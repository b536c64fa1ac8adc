//! Hop-by-hop header fields (RFC 9110 §7.6.1): they describe one connection and are never
//! forwarded by the proxy, in either direction.
//!
//! Used by `handlers::proxy` (request to the upstream) and `http::upstream` (response to the
//! client). A field named in `Connection` is hop-by-hop too.

/// Fields that are always hop-by-hop (lowercase), whatever `Connection` says. `Upgrade` is
/// here too: the proxy adds it back itself when it forwards an upgrade.
const ALWAYS: [&[u8]; 7] = [
    b"connection",
    b"keep-alive",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"proxy-connection",
];

/// True for a field that must not be forwarded: the fixed set, any `Proxy-*` field
/// (`Proxy-Authorization` is for this hop), or a name listed in `Connection`.
pub fn is_hop_by_hop(name: &[u8], connection: &[&[u8]]) -> bool {
    if ALWAYS.iter().any(|h| name.eq_ignore_ascii_case(h)) {
        return true;
    }
    if name.len() >= 6 && name[..6].eq_ignore_ascii_case(b"proxy-") {
        return true;
    }
    connection.iter().any(|t| t.eq_ignore_ascii_case(name))
}

/// The tokens of one `Connection` field value ("close, X-Foo" → ["close", "X-Foo"]).
pub fn connection_tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|t| t.trim_ascii())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_set_and_proxy_prefix() {
        for name in [
            "Connection",
            "keep-alive",
            "TE",
            "Trailer",
            "Upgrade",
            "Proxy-Authorization",
        ] {
            assert!(is_hop_by_hop(name.as_bytes(), &[]), "{name}");
        }
        assert!(!is_hop_by_hop(b"Host", &[]));
        assert!(!is_hop_by_hop(b"Proxy", &[]));
        assert!(!is_hop_by_hop(b"X-Forwarded-For", &[]));
    }

    #[test]
    fn named_in_connection() {
        let tokens: Vec<&[u8]> = connection_tokens(b" close ,X-Secret,, ").collect();
        assert_eq!(tokens, vec![&b"close"[..], b"X-Secret"]);
        assert!(is_hop_by_hop(b"x-secret", &tokens));
        assert!(!is_hop_by_hop(b"x-public", &tokens));
    }
}
