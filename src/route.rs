//! Routing: which server block, then which location, answers a request.
//!
//! Called by the pipeline after the head is parsed. Server choice is in [`server`]. Location
//! choice is nginx's `ngx_http_core_find_location`: an exact `=` match wins at once;
//! otherwise the longest prefix, whose nested locations are searched first; then, unless
//! that prefix is `^~`, the regex locations of the level in configuration order (so nested
//! levels go before outer ones); the first regex match wins, else the prefix. Named `@`
//! locations are never matched by URI.
//!
//! With the per-shard [`ConfigIndex`] ([`index`]) a level costs a hash lookup, a few binary
//! searches and one `RegexSet` scan whatever its size; without it (tools, benches) the same
//! rules run as plain scans.

mod index;
mod server;

pub use index::{ConfigIndex, ServerIndex};
pub use server::{find_server, select_server, servers_for_listener, ListenerServers};

use index::LevelIndex;

use crate::config::model::{Location, MatchKind, Pattern, Server};
use crate::context::state::{regex_match, RequestState};

/// The location for a normalised URI path by nginx's rules, without recording captures
/// and without an index (tools and benches; the pipeline uses [`find_location`]).
pub fn select_location<'c>(server: &'c Server, path: &[u8]) -> Option<&'c Location> {
    match find_in(&server.locations, None, path, &mut |p| {
        p.regex.is_match(path)
    }) {
        Search::Declined => None,
        Search::Prefix(l) | Search::Final(l) | Search::AutoRedirect(l) => Some(l),
    }
}

/// What [`find_location`] found.
pub enum Found<'c> {
    /// No location matches: the server level's own settings answer.
    None,
    Location(&'c Location),
    /// nginx's auto redirect: the URI plus `/` names a location whose handler passes
    /// requests on (`proxy_pass` in `location /dir/`), and no location is named by the URI
    /// itself, so the answer is a 301 to the URI with the slash, in that location.
    AutoRedirect(&'c Location),
}

impl<'c> Found<'c> {
    /// The location that answers (for an auto redirect, the one redirected to).
    pub fn location(&self) -> Option<&'c Location> {
        match *self {
            Found::None => None,
            Found::Location(l) | Found::AutoRedirect(l) => Some(l),
        }
    }
}

/// The location for the request's current URI (`st.uri`) by nginx's
/// `ngx_http_core_find_location`; the regex that picks it leaves its captures in `st`.
pub fn find_location<'c>(
    server: &'c Server,
    index: Option<&ServerIndex>,
    st: &mut RequestState<'c>,
) -> Found<'c> {
    // The URI moves out for the search so the matcher may write captures into `st`.
    let uri = std::mem::take(&mut st.uri);
    let found = find_in(&server.locations, index.map(|i| &i.top), &uri, &mut |p| {
        regex_match(&mut st.captures, &mut st.named, p, &uri)
    });
    st.uri = uri;
    match found {
        Search::Declined => Found::None,
        Search::Prefix(l) | Search::Final(l) => Found::Location(l),
        Search::AutoRedirect(l) => Found::AutoRedirect(l),
    }
}

/// `@name` among the server's locations (named locations live at server level only).
pub fn named_location<'c>(server: &'c Server, name: &str) -> Option<&'c Location> {
    let name = name.strip_prefix('@').unwrap_or(name);
    server
        .locations
        .iter()
        .find(|l| l.match_kind == MatchKind::Named && l.path == name.as_bytes())
}

/// The outcome of a search at one level (nginx's NGX_DECLINED / NGX_AGAIN / NGX_OK).
enum Search<'c> {
    /// Nothing here matched.
    Declined,
    /// The longest prefix (regexes of outer levels may still win).
    Prefix(&'c Location),
    /// An exact or regex match: the search ends.
    Final(&'c Location),
    /// nginx's NGX_DONE: see [`Found::AutoRedirect`]; the search ends, regexes unchecked.
    AutoRedirect(&'c Location),
}

/// The static part of one level: an exact match, else the longest prefix's position.
enum Static<'c> {
    Exact(&'c Location),
    Prefix(Option<usize>),
}

fn find_static<'c>(locs: &'c [Location], index: Option<&LevelIndex>, uri: &[u8]) -> Static<'c> {
    let exact = index.and_then(|x| x.exact.as_ref());
    let prefixes = index.and_then(|x| x.prefixes.as_deref());
    if let Some(&i) = exact.and_then(|e| e.get(uri)) {
        return Static::Exact(&locs[i]);
    }
    // Scan for whatever the index does not cover (small levels, or no index).
    let mut best: Option<usize> = None;
    if exact.is_none() || prefixes.is_none() {
        let mut best_len = 0;
        for (i, loc) in locs.iter().enumerate() {
            match loc.match_kind {
                MatchKind::Prefix | MatchKind::PrefixNoRegex if prefixes.is_none() => {
                    let p = loc.path.as_slice();
                    if (best.is_none() || p.len() > best_len) && uri.starts_with(p) {
                        best = Some(i);
                        best_len = p.len();
                    }
                }
                MatchKind::Exact if exact.is_none() && loc.path == uri => {
                    return Static::Exact(loc)
                }
                _ => {}
            }
        }
    }
    match prefixes {
        Some(prefixes) => Static::Prefix(LevelIndex::longest_prefix(prefixes, uri)),
        None => Static::Prefix(best),
    }
}

/// One level: exact match wins at once; else the longest prefix, searched inside first
/// (nested locations); then, unless that prefix is `^~`, this level's regexes in order.
fn find_in<'c>(
    locs: &'c [Location],
    index: Option<&LevelIndex>,
    uri: &[u8],
    matches: &mut dyn FnMut(&'c Pattern) -> bool,
) -> Search<'c> {
    let best = match find_static(locs, index, uri) {
        Static::Exact(loc) => return Search::Final(loc),
        Static::Prefix(best) => best,
    };

    if let Some(loc) = auto_redirect(locs, index, best, uri) {
        return Search::AutoRedirect(loc);
    }
    let mut result = Search::Declined;
    let mut noregex = false;
    if let Some(i) = best {
        let loc = &locs[i];
        noregex = loc.match_kind == MatchKind::PrefixNoRegex;
        result = Search::Prefix(loc);
        if !loc.locations.is_empty() {
            match find_in(&loc.locations, index.and_then(|x| x.child(i)), uri, matches) {
                Search::Final(l) => return Search::Final(l),
                Search::AutoRedirect(l) => return Search::AutoRedirect(l),
                Search::Prefix(l) => result = Search::Prefix(l),
                Search::Declined => {}
            }
        }
    }
    if noregex {
        return result;
    }
    match index.and_then(|x| x.set.as_ref().map(|set| (set, &x.regex_positions))) {
        // One scan says which regexes match (none: one scan in all); the first that does,
        // in order, wins and runs alone for its captures.
        Some((set, positions)) => {
            for n in set.matches(uri).iter() {
                let i = positions[n];
                if let Some(found) = regex_location(locs, i, index, uri, matches) {
                    return found;
                }
            }
        }
        None => {
            for i in 0..locs.len() {
                if let Some(found) = regex_location(locs, i, index, uri, matches) {
                    return found;
                }
            }
        }
    }
    result
}

/// The location at this level that `uri` + `/` names, when it redirects automatically and
/// no static location here is named by `uri` itself (nginx's location tree gives the same:
/// the longer name is reached through every shorter prefix of it).
fn auto_redirect<'c>(
    locs: &'c [Location],
    index: Option<&LevelIndex>,
    best: Option<usize>,
    uri: &[u8],
) -> Option<&'c Location> {
    if best.is_some_and(|i| locs[i].path.len() == uri.len()) {
        return None;
    }
    let redirects = |l: &&Location| {
        l.auto_redirect
            && l.path.len() == uri.len() + 1
            && l.path.starts_with(uri)
            && matches!(
                l.match_kind,
                MatchKind::Prefix | MatchKind::PrefixNoRegex | MatchKind::Exact
            )
    };
    match index {
        Some(x) => x.auto_redirects.iter().map(|&i| &locs[i]).find(redirects),
        None => locs.iter().find(redirects),
    }
}

/// Location `i` if it is a regex location matching `uri` (captures recorded), with its
/// nested locations searched.
fn regex_location<'c>(
    locs: &'c [Location],
    i: usize,
    index: Option<&LevelIndex>,
    uri: &[u8],
    matches: &mut dyn FnMut(&'c Pattern) -> bool,
) -> Option<Search<'c>> {
    let loc = &locs[i];
    let pattern = loc
        .regex
        .as_ref()
        .filter(|_| loc.match_kind == MatchKind::Regex)?;
    if !matches(pattern) {
        return None;
    }
    if !loc.locations.is_empty() {
        match find_in(&loc.locations, index.and_then(|x| x.child(i)), uri, matches) {
            Search::Prefix(l) | Search::Final(l) => return Some(Search::Final(l)),
            Search::AutoRedirect(l) => return Some(Search::AutoRedirect(l)),
            Search::Declined => {}
        }
    }
    Some(Search::Final(loc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Config;
    use crate::config::toml::parse;
    use std::fmt::Write;
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
        let l1 = servers_for_listener(&c, &"127.0.0.1:1".parse().unwrap());
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
        let l2 = servers_for_listener(&c, &"127.0.0.1:2".parse().unwrap());
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

    fn nested() -> Config {
        parse(
            r#"
            [[server]]
            listen = ["127.0.0.1:1"]
            server_name = ["a", "~^(?<sub>[a-z]+)\\.rx$"]
            [[server.location]]
            path = "/"
            [[server.location]]
            path = "/img/"
            [[server.location.location]]
            path = "\\.png$"
            match = "regex"
            [[server.location.location]]
            path = "/img/deep/"
            [[server.location]]
            path = "/static/"
            match = "prefix_no_regex"
            [[server.location]]
            path = "\\.css$"
            match = "regex"
            [[server.location]]
            path = "\\.PNG$"
            match = "regex_caseless"
            [[server.location]]
            path = '^/re/(?<name>[a-z]+)/(\d+)$'
            match = "regex"
            [[server.location]]
            path = "/exact"
            match = "exact"
            [[server.location]]
            path = "/exact"
            [[server.location]]
            path = "fallback"
            match = "named"
            "#,
            None,
            Path::new("/srv"),
        )
        .unwrap()
    }

    fn which(s: &Server, index: Option<&ServerIndex>, uri: &str) -> String {
        let mut st = RequestState::new(uri.as_bytes().to_vec());
        let loc = find_location(s, index, &mut st).location().unwrap();
        let kind = match loc.match_kind {
            MatchKind::Exact => "=",
            MatchKind::PrefixNoRegex => "^~",
            MatchKind::Prefix => "",
            MatchKind::Regex => "~",
            MatchKind::Named => "@",
        };
        format!("{kind}{}", String::from_utf8_lossy(&loc.path))
    }

    #[test]
    fn nginx_location_order() {
        let c = nested();
        let s = &c.servers[0];
        let index = ConfigIndex::build(&c);
        for idx in [None, index.servers.first()] {
            let w = |u: &str| which(s, idx, u);
            assert_eq!(w("/"), "/");
            assert_eq!(w("/img/"), "/img/");
            // The nested regex goes before the outer ones.
            assert_eq!(w("/img/a.png"), "~\\.png$");
            assert_eq!(w("/img/deep/a.png"), "~\\.png$");
            assert_eq!(w("/img/deep/q"), "/img/deep/");
            // A caseless outer regex catches what the nested one misses.
            assert_eq!(w("/img/A.PNG"), "~\\.PNG$");
            assert_eq!(w("/x/A.png"), "~\\.PNG$");
            // ^~ stops the regex search.
            assert_eq!(w("/static/a.css"), "^~/static/");
            assert_eq!(w("/a.css"), "~\\.css$");
            assert_eq!(w("/exact"), "=/exact");
            assert_eq!(w("/exactly"), "/exact");
            // Named locations never match a URI.
            assert_eq!(w("/fallback"), "/");
        }
        assert!(named_location(s, "@fallback").is_some());
        assert!(named_location(s, "fallback").is_some());
        assert!(named_location(s, "nope").is_none());
    }

    #[test]
    fn regex_captures_are_recorded() {
        let c = nested();
        let s = &c.servers[0];
        let mut st = RequestState::new(b"/re/abc/42".to_vec());
        let loc = find_location(s, None, &mut st).location().unwrap();
        assert_eq!(loc.match_kind, MatchKind::Regex);
        assert_eq!(st.captures.get(1), Some(&b"abc"[..]));
        assert_eq!(st.captures.get(2), Some(&b"42"[..]));
        assert_eq!(st.named_capture("name"), Some(&b"abc"[..]));
        assert_eq!(st.uri, b"/re/abc/42");
        // A later regex without groups empties the numbered captures, as nginx.
        let mut st2 = RequestState::new(b"/x/a.css".to_vec());
        let re = s
            .locations
            .iter()
            .find_map(|l| l.regex.as_ref().filter(|p| p.source.starts_with("^/re")));
        st2.match_bytes(re.unwrap(), b"/re/q/1");
        find_location(s, None, &mut st2).location().unwrap();
        assert_eq!(st2.captures.get(1), None);
        assert_eq!(st2.named_capture("name"), Some(&b"q"[..]));
    }

    #[test]
    fn server_name_regex_after_wildcards() {
        let c = nested();
        let l = servers_for_listener(&c, &"127.0.0.1:1".parse().unwrap());
        let (i, re) = find_server(&c, &l, Some(b"Abc.RX:80"));
        assert_eq!(i, 0);
        assert_eq!(re.map(|p| p.source.as_str()), Some("^(?<sub>[a-z]+)\\.rx$"));
        assert!(find_server(&c, &l, Some(b"a")).1.is_none());
    }

    /// The index must answer exactly what the plain scan answers.
    #[test]
    fn index_agrees_with_scan() {
        let mut t = String::from("[[server]]\nlisten = [\"127.0.0.1:1\"]\n");
        for i in 0..40 {
            let _ = writeln!(t, "[[server.location]]\npath = \"/p{i}/\"");
            let _ = writeln!(
                t,
                "[[server.location]]\npath = \"/p{i}\"\nmatch = \"exact\""
            );
            let _ = writeln!(
                t,
                "[[server.location]]\npath = '^/p{}/r{i}(\\d*)$'\nmatch = \"regex\"",
                i % 7
            );
            if i % 5 == 0 {
                let _ = writeln!(
                    t,
                    "[[server.location]]\npath = \"/p{i}/no/\"\nmatch = \"prefix_no_regex\""
                );
            }
        }
        let _ = writeln!(t, "[[server.location]]\npath = \"/p1\"");
        let _ = writeln!(
            t,
            "[[server.location]]\npath = \"\\\\.txt$\"\nmatch = \"regex_caseless\""
        );
        let c = parse(&t, None, Path::new("/srv")).unwrap();
        let s = &c.servers[0];
        let index = ConfigIndex::build(&c);
        let idx = index.servers.first();
        let mut uris = vec![
            "/".to_string(),
            "/p".into(),
            "/x".into(),
            "/p1".into(),
            "/p1x".into(),
        ];
        for i in 0..45 {
            for tail in [
                "", "/", "/a", "/r12", "/r3", "/no/", "/no/r1", "/A.TXT", "x/r3", "/r35",
            ] {
                uris.push(format!("/p{i}{tail}"));
            }
        }
        for u in &uris {
            let plain = select_location(s, u.as_bytes()).map(|l| (l.match_kind, l.path.clone()));
            let mut st = RequestState::new(u.as_bytes().to_vec());
            let fast = find_location(s, idx, &mut st)
                .location()
                .map(|l| (l.match_kind, l.path.clone()));
            assert_eq!(plain, fast, "{u}");
        }
    }
}
