//! Routing: which server block, then which location, answers a request.
//!
//! Called by the pipeline after the head is parsed. Server choice follows nginx: among the
//! servers listening on the address that accepted the connection, an exact `server_name`,
//! then the longest leading wildcard (`*.example.com`, `.example.com`), then the longest
//! trailing wildcard (`example.*`), then the `default_server`, then the first. Location
//! choice: `=` exact match wins at once; otherwise the longest prefix (`^~` or plain).
//! Regex locations arrive with the nginx front-end.

use std::net::SocketAddr;

use crate::config::model::{Config, Location, MatchKind, Server};

/// The servers that may answer on one listening address, in configuration order, with the
/// default server's index.
#[derive(Debug, Clone)]
pub struct ListenerServers {
    pub servers: Vec<usize>,
    pub default: usize,
}

/// Computes, once per connection, which servers listen on `addr`.
pub fn servers_for_listener(config: &Config, addr: SocketAddr) -> ListenerServers {
    let servers: Vec<usize> = config
        .servers
        .iter()
        .enumerate()
        .filter(|(_, s)| s.listen.iter().any(|l| l.addr == addr))
        .map(|(i, _)| i)
        .collect();
    let default = servers
        .iter()
        .copied()
        .find(|&i| {
            config.servers[i]
                .listen
                .iter()
                .any(|l| l.addr == addr && l.default_server)
        })
        .or_else(|| servers.first().copied())
        .unwrap_or(0);
    ListenerServers { servers, default }
}

/// Picks the server for a Host value (port and trailing dot ignored, case-insensitive).
pub fn select_server(config: &Config, candidates: &ListenerServers, host: Option<&[u8]>) -> usize {
    if candidates.servers.len() <= 1 {
        return candidates.default;
    }
    let Some(host) = host.map(normalize_host) else {
        return candidates.default;
    };
    let host = host.as_slice();
    let mut best_leading: Option<(usize, usize)> = None;
    let mut best_trailing: Option<(usize, usize)> = None;
    for &i in &candidates.servers {
        for name in &config.servers[i].names {
            let name = name.as_bytes();
            if name.eq_ignore_ascii_case(host) {
                return i;
            }
            if let Some(suffix) = name.strip_prefix(b"*") {
                if ends_with_ignore_case(host, suffix) && host.len() > suffix.len() {
                    pick_longest(&mut best_leading, i, suffix.len());
                }
            } else if let Some(suffix) = name.strip_prefix(b".") {
                // ".example.com" = "example.com" and "*.example.com".
                let dotted = name;
                if host.eq_ignore_ascii_case(suffix) || ends_with_ignore_case(host, dotted) {
                    pick_longest(&mut best_leading, i, dotted.len());
                }
            } else if let Some(prefix) = name.strip_suffix(b"*") {
                if host.len() > prefix.len() && host[..prefix.len()].eq_ignore_ascii_case(prefix) {
                    pick_longest(&mut best_trailing, i, prefix.len());
                }
            }
        }
    }
    best_leading
        .or(best_trailing)
        .map(|(i, _)| i)
        .unwrap_or(candidates.default)
}

fn pick_longest(best: &mut Option<(usize, usize)>, server: usize, len: usize) {
    if best.is_none_or(|(_, l)| len > l) {
        *best = Some((server, len));
    }
}

fn ends_with_ignore_case(s: &[u8], suffix: &[u8]) -> bool {
    s.len() >= suffix.len() && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// Host without port or trailing dot, lowercased. "[::1]:80" keeps its brackets.
pub fn normalize_host(host: &[u8]) -> Vec<u8> {
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
    let trimmed = without_port.strip_suffix(b".").unwrap_or(without_port);
    trimmed.to_ascii_lowercase()
}

/// The location for a normalised URI path, by nginx's rules.
pub fn select_location<'c>(server: &'c Server, path: &[u8]) -> Option<&'c Location> {
    let mut best: Option<&Location> = None;
    for loc in &server.locations {
        match loc.match_kind {
            MatchKind::Exact => {
                if loc.path == path {
                    return Some(loc);
                }
            }
            MatchKind::Prefix | MatchKind::PrefixNoRegex => {
                if path.starts_with(&loc.path) && best.is_none_or(|b| loc.path.len() > b.path.len())
                {
                    best = Some(loc);
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::toml::parse;
    use std::path::Path;

    fn config() -> Config {
        parse(
            r#"
            [[server]]
            listen = ["127.0.0.1:1"]
            server_name = ["first"]
            [[server]]
            listen = ["127.0.0.1:1", { addr = "127.0.0.1:2", default_server = true }]
            server_name = ["example.com", "*.example.com", "www.*"]
            [[server.location]]
            path = "/"
            [[server.location]]
            path = "/img/"
            [[server.location]]
            path = "/img/x"
            match = "exact"
            [[server]]
            listen = ["127.0.0.1:1"]
            server_name = ["*.a.example.com", ".other.org"]
            "#,
            None,
            Path::new("/srv"),
        )
        .unwrap()
    }

    #[test]
    fn server_selection() {
        let c = config();
        let l1 = servers_for_listener(&c, "127.0.0.1:1".parse().unwrap());
        assert_eq!(l1.servers, vec![0, 1, 2]);
        assert_eq!(l1.default, 0);
        assert_eq!(select_server(&c, &l1, Some(b"Example.COM:80")), 1);
        assert_eq!(select_server(&c, &l1, Some(b"b.example.com")), 1);
        assert_eq!(select_server(&c, &l1, Some(b"x.a.example.com")), 2);
        assert_eq!(select_server(&c, &l1, Some(b"other.org")), 2);
        assert_eq!(select_server(&c, &l1, Some(b"z.other.org.")), 2);
        assert_eq!(select_server(&c, &l1, Some(b"www.anything")), 1);
        assert_eq!(select_server(&c, &l1, Some(b"unknown")), 0);
        assert_eq!(select_server(&c, &l1, None), 0);
        let l2 = servers_for_listener(&c, "127.0.0.1:2".parse().unwrap());
        assert_eq!(l2.default, 1);
    }

    #[test]
    fn location_selection() {
        let c = config();
        let s = &c.servers[1];
        assert_eq!(
            select_location(s, b"/img/x").unwrap().match_kind,
            MatchKind::Exact
        );
        assert_eq!(select_location(s, b"/img/xy").unwrap().path, b"/img/");
        assert_eq!(select_location(s, b"/other").unwrap().path, b"/");
    }

    #[test]
    fn host_normalisation() {
        assert_eq!(normalize_host(b"A.B:80"), b"a.b");
        assert_eq!(normalize_host(b"[::1]:80"), b"[::1]");
        assert_eq!(normalize_host(b"x.y."), b"x.y");
    }
}
