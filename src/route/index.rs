//! Routing data derived from one configuration generation, per shard: what makes a location
//! search cost the same with 200 locations as with 3.
//!
//! Built once per shard per generation (`serve::generation::ShardGeneration`; never stored
//! in the model, which stays as the front-ends resolved it). Per listen address, the
//! servers that may answer there ([`ListenerServers`], with their name tables). Per level of
//! locations (a server's top level, and each location with nested ones):
//!
//! - the exact (`=`) paths in a hash;
//! - the prefix paths sorted, so the longest prefix of a URI is a few binary searches
//!   ([`LevelIndex::longest_prefix`]) instead of a scan;
//! - the regexes in one `RegexSet`, so a URI no regex matches costs one scan, and one that
//!   some regex matches finds the first of them in that same scan.
//!
//! Small levels keep the plain scan (faster below a handful of entries).

use crate::config::model::SockAddr;
use std::rc::Rc;

use hashbrown::HashMap;
use regex::bytes::{RegexSet, RegexSetBuilder};

use super::server::{servers_for_listener, ListenerServers};
use crate::config::model::{Config, Location, MatchKind};

/// Levels with fewer prefix or exact locations than this are scanned.
const SMALL: usize = 8;

/// The routing index of a configuration: per listen address, and per server in
/// `Config::servers` order.
pub struct ConfigIndex {
    pub servers: Vec<ServerIndex>,
    listeners: Vec<(SockAddr, Rc<ListenerServers>)>,
    /// Unique per index built in this process (never 0): keys what is cached under one
    /// routing, such as an index file served in place of its directory.
    pub generation: u64,
}

/// Source of [`ConfigIndex::generation`] (builds are rare: once per shard per reload).
static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The routing index of one server.
pub struct ServerIndex {
    pub(super) top: LevelIndex,
}

/// One level of locations.
pub(super) struct LevelIndex {
    /// Exact paths → location position (large levels only).
    pub(super) exact: Option<HashMap<Box<[u8]>, usize>>,
    /// (path, position) of the prefix locations sorted by path (large levels only).
    pub(super) prefixes: Option<Vec<(Box<[u8]>, usize)>>,
    /// Every regex of the level (two or more), in order; pattern i is location
    /// `regex_positions[i]`.
    pub(super) set: Option<RegexSet>,
    pub(super) regex_positions: Vec<usize>,
    /// Positions of the locations that redirect automatically (`proxy_pass` in
    /// `location /dir/`), so a level without any costs nothing.
    pub(super) auto_redirects: Vec<usize>,
    /// Indexes of nested levels, by location position (`None` for leaves).
    children: Vec<Option<LevelIndex>>,
}

impl ConfigIndex {
    pub fn build(config: &Config) -> ConfigIndex {
        ConfigIndex {
            servers: config
                .servers
                .iter()
                .map(|s| ServerIndex {
                    top: LevelIndex::build(&s.locations).unwrap_or_else(LevelIndex::empty),
                })
                .collect(),
            listeners: config
                .listen_addrs()
                .iter()
                .map(|l| {
                    (
                        l.addr.clone(),
                        Rc::new(servers_for_listener(config, &l.addr)),
                    )
                })
                .collect(),
            generation: GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The servers listening on `addr` (an address this configuration does not listen on
    /// gets the empty table, whose default is the first server).
    pub fn listener(&self, config: &Config, addr: &SockAddr) -> Rc<ListenerServers> {
        match self.listeners.iter().find(|(a, _)| a == addr) {
            Some((_, servers)) => servers.clone(),
            None => Rc::new(servers_for_listener(config, addr)),
        }
    }
}

impl LevelIndex {
    fn empty() -> LevelIndex {
        LevelIndex {
            exact: None,
            prefixes: None,
            set: None,
            regex_positions: Vec::new(),
            auto_redirects: Vec::new(),
            children: Vec::new(),
        }
    }

    fn build(locs: &[Location]) -> Option<LevelIndex> {
        let children: Vec<Option<LevelIndex>> = locs
            .iter()
            .map(|l| LevelIndex::build(&l.locations))
            .collect();
        let positions = |kinds: &[MatchKind]| -> Vec<(Box<[u8]>, usize)> {
            locs.iter()
                .enumerate()
                .filter(|(_, l)| kinds.contains(&l.match_kind))
                .map(|(i, l)| (l.path.as_slice().into(), i))
                .collect()
        };
        let exacts = positions(&[MatchKind::Exact]);
        let exact = (exacts.len() >= SMALL).then(|| {
            let mut map = HashMap::with_capacity(exacts.len());
            for (path, i) in exacts {
                map.entry(path).or_insert(i);
            }
            map
        });
        let mut prefixes = positions(&[MatchKind::Prefix, MatchKind::PrefixNoRegex]);
        let prefixes = (prefixes.len() >= SMALL).then(|| {
            prefixes.sort();
            prefixes.dedup_by(|a, b| a.0 == b.0);
            prefixes
        });

        let mut regex_positions = Vec::new();
        let mut patterns = Vec::new();
        for (i, l) in locs.iter().enumerate() {
            if let (MatchKind::Regex, Some(p)) = (l.match_kind, &l.regex) {
                regex_positions.push(i);
                patterns.push(if p.caseless {
                    format!("(?i:{})", p.regex.as_str())
                } else {
                    p.regex.as_str().to_string()
                });
            }
        }
        // Same flags as `config::compile::pattern` (bytes, ASCII classes), so the set never
        // misses what one of its regexes matches. A pattern that only compiles in Unicode
        // mode leaves the level without a set (one regex at a time, as without an index).
        let set = if patterns.len() >= 2 {
            RegexSetBuilder::new(&patterns)
                .unicode(false)
                .size_limit(1 << 24)
                .build()
                .ok()
        } else {
            None
        };
        if set.is_none() {
            regex_positions.clear();
        }
        let auto_redirects = locs
            .iter()
            .enumerate()
            .filter(|(_, l)| l.auto_redirect)
            .map(|(i, _)| i)
            .collect();
        let index = LevelIndex {
            exact,
            prefixes,
            set,
            regex_positions,
            auto_redirects,
            children,
        };
        // A level without its own index is scanned, so auto redirects need one.
        let useful = index.exact.is_some()
            || index.prefixes.is_some()
            || !index.auto_redirects.is_empty()
            || index.set.is_some()
            || index.children.iter().any(Option::is_some);
        useful.then_some(index)
    }

    pub(super) fn child(&self, i: usize) -> Option<&LevelIndex> {
        self.children.get(i).and_then(Option::as_ref)
    }

    /// The position of the longest prefix location of `uri` (requires `prefixes`).
    ///
    /// In a sorted list, the greatest path ≤ `uri` is either a prefix of it, and then the
    /// longest one, or it shares some first bytes with it, and the longest prefix is then a
    /// prefix of that shared part: search again for it. Each round shortens the key.
    pub(super) fn longest_prefix(prefixes: &[(Box<[u8]>, usize)], uri: &[u8]) -> Option<usize> {
        let mut key = uri;
        loop {
            let n = prefixes.partition_point(|(p, _)| &p[..] <= key);
            let (path, pos) = prefixes.get(n.checked_sub(1)?)?;
            if key.starts_with(path) {
                return Some(*pos);
            }
            let shared = path.iter().zip(key).take_while(|(a, b)| a == b).count();
            key = &key[..shared];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LevelIndex;

    #[test]
    fn longest_prefix_by_sorted_search() {
        let mut list: Vec<(Box<[u8]>, usize)> = ["/", "/a/", "/a/b", "/ab", "/b/c/", "/a/b/c/d"]
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_bytes().into(), i))
            .collect();
        list.sort();
        let find = |u: &str| LevelIndex::longest_prefix(&list, u.as_bytes());
        assert_eq!(find("/a/b/c/e"), Some(2));
        assert_eq!(find("/a/b/c/d/e"), Some(5));
        assert_eq!(find("/a/x"), Some(1));
        assert_eq!(find("/abc"), Some(3));
        assert_eq!(find("/b/c"), Some(0));
        assert_eq!(find("/zzz"), Some(0));
        assert_eq!(find("/a"), Some(0));
        let no_root: Vec<(Box<[u8]>, usize)> =
            list.into_iter().filter(|(p, _)| &p[..] != b"/").collect();
        assert_eq!(LevelIndex::longest_prefix(&no_root, b"/zzz"), None);
        assert_eq!(LevelIndex::longest_prefix(&no_root, b"/"), None);
    }
}
