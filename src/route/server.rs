//! Server selection: which `server {}` on the accepting address answers a Host.
//!
//! nginx's order (`ngx_http_find_virtual_server`): an exact `server_name`, then the most
//! specific leading wildcard (`*.example.com`, `.example.com`), then the longest trailing
//! wildcard (`www.example.*`), then the `server_name ~regex` names in configuration order,
//! then the `default_server`, then the first server on the address. [`ListenerServers`] is
//! built once per listener per configuration generation (shard accept loop), with the exact
//! names in a hash, so a Host costs one lowercase copy on the stack and one lookup.

use std::net::SocketAddr;

use hashbrown::HashMap;

use crate::config::model::{Config, Pattern};

/// Hosts longer than this are lowercased on the heap (no real host name is).
const STACK_HOST: usize = 256;

/// The servers that may answer on one listening address, in configuration order, with the
/// default server's index and the name tables derived from them.
#[derive(Debug, Clone)]
pub struct ListenerServers {
    pub servers: Vec<usize>,
    pub default: usize,
    /// Exact names (lowercased) → the first server on this address that has it.
    exact: HashMap<Box<[u8]>, usize>,
    /// `*.x` / `.x` names: (suffix compared, server, also matches the bare name).
    leading: Vec<(Box<[u8]>, usize, bool)>,
    /// `x.*` names: (prefix, server).
    trailing: Vec<(Box<[u8]>, usize)>,
    /// Some server here has `server_name ~regex` names.
    regexes: bool,
}

/// Computes, once per listener and configuration, which servers listen on `addr`.
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
    let mut exact = HashMap::new();
    let mut leading = Vec::new();
    let mut trailing = Vec::new();
    let mut regexes = false;
    for &i in &servers {
        let server = &config.servers[i];
        regexes |= !server.name_regexes.is_empty();
        for name in &server.names {
            let name = name.to_ascii_lowercase().into_bytes();
            if let Some(suffix) = name.strip_prefix(b"*") {
                leading.push((suffix.into(), i, false));
            } else if name.starts_with(b".") {
                // ".example.com" = "example.com" and "*.example.com".
                leading.push((name.as_slice().into(), i, true));
            } else if let Some(prefix) = name.strip_suffix(b"*") {
                trailing.push((prefix.into(), i));
            } else {
                exact.entry(name.into_boxed_slice()).or_insert(i);
            }
        }
    }
    ListenerServers {
        servers,
        default,
        exact,
        leading,
        trailing,
        regexes,
    }
}

/// Picks the server for a Host value (port and trailing dot ignored, case-insensitive).
pub fn select_server(config: &Config, candidates: &ListenerServers, host: Option<&[u8]>) -> usize {
    find_server(config, candidates, host).0
}

/// Picks the server for a Host value; also returns the `server_name` regex that chose it
/// (its captures become variables; the caller runs it again to record them).
pub fn find_server<'c>(
    config: &'c Config,
    candidates: &ListenerServers,
    host: Option<&[u8]>,
) -> (usize, Option<&'c Pattern>) {
    // nginx skips name lookup for a lone server unless it has a regex name (for captures).
    if candidates.servers.len() <= 1 && !candidates.regexes {
        return (candidates.default, None);
    }
    let Some(host) = host else {
        return (candidates.default, None);
    };
    let mut stack = [0u8; STACK_HOST];
    let heap: Vec<u8>;
    let host: &[u8] = if host.len() <= STACK_HOST {
        let n = normalize_host_to(host, &mut stack);
        &stack[..n]
    } else {
        heap = normalize_host(host);
        &heap
    };
    if let Some(&i) = candidates.exact.get(host) {
        return (i, None);
    }
    let mut best: Option<(usize, usize)> = None;
    for (suffix, i, bare) in &candidates.leading {
        let hit = if *bare {
            host == &suffix[1..] || (host.len() > suffix.len() && host.ends_with(suffix))
        } else {
            host.len() > suffix.len() && host.ends_with(suffix)
        };
        if hit && best.is_none_or(|(_, l)| suffix.len() > l) {
            best = Some((*i, suffix.len()));
        }
    }
    if best.is_none() {
        for (prefix, i) in &candidates.trailing {
            if host.len() > prefix.len()
                && host.starts_with(prefix)
                && best.is_none_or(|(_, l)| prefix.len() > l)
            {
                best = Some((*i, prefix.len()));
            }
        }
    }
    if let Some((i, _)) = best {
        return (i, None);
    }
    if candidates.regexes {
        for &i in &candidates.servers {
            for pattern in &config.servers[i].name_regexes {
                if pattern.regex.is_match(host) {
                    return (i, Some(pattern));
                }
            }
        }
    }
    (candidates.default, None)
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
fn normalize_host_to(host: &[u8], buf: &mut [u8]) -> usize {
    let part = host_part(host);
    for (d, s) in buf.iter_mut().zip(part) {
        *d = s.to_ascii_lowercase();
    }
    part.len()
}
