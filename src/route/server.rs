//! Server selection: which `server {}` on the accepting address answers a Host.
//!
//! nginx's order (`ngx_http_find_virtual_server`): an exact `server_name`, then the most
//! specific leading wildcard (`*.example.com`, `.example.com`), then the longest trailing
//! wildcard (`www.example.*`), then the `server_name ~regex` names in configuration order,
//! then the `default_server`, then the first server on the address. [`ListenerServers`] is
//! built once per listener per configuration generation (shard accept loop), with the exact
//! names in a hash, so a Host costs one lowercase copy on the stack and one lookup.

use crate::config::model::SockAddr;

use hashbrown::HashMap;

use crate::config::model::{Config, Pattern};
use crate::http::host::{best_wildcard, is_wildcard, normalize_host, normalize_host_to};

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
    /// Wildcard names (`*.x`, `.x`, `x.*`, lowercased) and their server, in order.
    wildcards: Vec<(Box<[u8]>, usize)>,
    /// Some server here has `server_name ~regex` names.
    regexes: bool,
}

/// Computes, once per listener and configuration, which servers listen on `addr`.
pub fn servers_for_listener(config: &Config, addr: &SockAddr) -> ListenerServers {
    let servers: Vec<usize> = config
        .servers
        .iter()
        .enumerate()
        .filter(|(_, s)| s.listen.iter().any(|l| l.addr == *addr))
        .map(|(i, _)| i)
        .collect();
    let default = servers
        .iter()
        .copied()
        .find(|&i| {
            config.servers[i]
                .listen
                .iter()
                .any(|l| l.addr == *addr && l.default_server)
        })
        .or_else(|| servers.first().copied())
        .unwrap_or(0);
    let mut exact = HashMap::new();
    let mut wildcards = Vec::new();
    let mut regexes = false;
    for &i in &servers {
        let server = &config.servers[i];
        regexes |= !server.name_regexes.is_empty();
        for name in &server.names {
            let name = name.to_ascii_lowercase().into_bytes();
            if is_wildcard(&name) {
                wildcards.push((name.into_boxed_slice(), i));
            } else {
                exact.entry(name.into_boxed_slice()).or_insert(i);
            }
        }
    }
    ListenerServers {
        servers,
        default,
        exact,
        wildcards,
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
    // As nginx, a request without Host looks up the empty name: `server_name ""` (or a
    // regex matching nothing) catches it, else the default server answers.
    let host = host.unwrap_or_default();
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
    let named = candidates.wildcards.iter().map(|(n, i)| (&n[..], *i));
    if let Some(i) = best_wildcard(named, host) {
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
