//! Where a URI lives on disk: a location's `root` or `alias` ([`DocPath`]) plus the URI, as
//! nginx's `ngx_http_map_uri_to_path`.
//!
//! try_files (existence checks), the static handler (the file to serve), `$document_root`
//! and `$request_filename` all map through here. The result is split as (fixed base
//! directory, path beneath it): the static handler opens the base once per shard and every
//! file beneath it with `RESOLVE_BENEATH`, so whatever the variables in `rest` or the URI
//! hold, no request leaves the base.
//!
//! - `root`: base / rest / URI.
//! - `alias` set in a prefix or exact location: base / rest / (URI without that location's
//!   prefix), in nested locations too: the prefix is the one of the location that set it.
//! - `alias` set in a regex location: base / rest alone (the alias names the whole file,
//!   usually through captures), unless try_files matched a URI there: then base / rest / URI.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::config::model::{AliasTail, DocPath, Location, MatchKind};
use crate::context::vars::Ctx;

/// A file location: a path beneath the directory `base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped<'c> {
    pub base: &'c Path,
    relative: Relative,
}

/// The path beneath the base: often just the tail of the current URI, so the static hot
/// path copies nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Relative {
    /// The current URI from this byte on.
    Uri(usize),
    Owned(Vec<u8>),
}

impl<'c> Mapped<'c> {
    /// The path beneath `base` (it may start with '/'; callers open it relative to `base`
    /// regardless). `uri` is the request's current URI.
    pub fn relative<'a>(&'a self, uri: &'a [u8]) -> &'a [u8] {
        match &self.relative {
            Relative::Uri(n) => uri.get(*n..).unwrap_or_default(),
            Relative::Owned(v) => v,
        }
    }

    /// The full path as bytes (`$request_filename`).
    pub fn full(&self, uri: &[u8]) -> Vec<u8> {
        join(self.base.as_os_str().as_bytes(), self.relative(uri))
    }
}

/// How the URI joins a location's doc path.
#[derive(Debug, Clone, Copy)]
enum Tail {
    /// Append the URI from this byte on.
    From(usize),
    /// The doc path is the whole file (regex alias).
    None,
}

fn doc_path(loc: &Location) -> (&DocPath, Tail) {
    match (&loc.files.alias, loc.files.alias_tail) {
        (Some(_), _) if loc.match_kind == MatchKind::Named => (&loc.files.root, Tail::From(0)),
        (Some(alias), AliasTail::Whole) => (alias, Tail::None),
        (Some(alias), AliasTail::AfterPrefix(n)) => (alias, Tail::From(n)),
        (None, _) => (&loc.files.root, Tail::From(0)),
    }
}

/// Maps the request's current URI (`$uri`) for `loc`. Without variables in the doc path
/// nothing is copied: the result refers to the URI's tail.
pub fn map_current<'c>(ctx: &mut Ctx<'_, 'c>, loc: &'c Location) -> Mapped<'c> {
    let (doc, tail) = match doc_path(loc) {
        (doc, Tail::None) if ctx.st.alias_takes_uri => (doc, Tail::From(0)),
        found => found,
    };
    let Some(rest) = &doc.rest else {
        let relative = match tail {
            Tail::From(n) => Relative::Uri(n),
            Tail::None => Relative::Owned(Vec::new()),
        };
        return Mapped {
            base: &doc.base,
            relative,
        };
    };
    let mut relative = Vec::new();
    ctx.eval(rest, &mut relative);
    if let Tail::From(n) = tail {
        relative.extend_from_slice(ctx.st.uri.get(n..).unwrap_or_default());
    }
    Mapped {
        base: &doc.base,
        relative: Relative::Owned(relative),
    }
}

/// Maps another URI (a try_files candidate) for `loc`: an alias prefix is removed only when
/// the candidate starts as the current URI does there, and a whole-file alias gets the
/// candidate appended, as nginx does.
pub fn map_other<'c>(ctx: &mut Ctx<'_, 'c>, loc: &'c Location, uri: &[u8]) -> Mapped<'c> {
    let (doc, tail) = doc_path(loc);
    let mut relative = Vec::new();
    if let Some(rest) = &doc.rest {
        ctx.eval(rest, &mut relative);
    }
    relative.extend_from_slice(after_alias_prefix(&ctx.st.uri, tail, uri));
    Mapped {
        base: &doc.base,
        relative: Relative::Owned(relative),
    }
}

/// What of `candidate` goes beneath an alias: without the setter location's prefix when the
/// candidate starts with the current URI's first bytes there (nginx's strncmp), else all.
fn after_alias_prefix<'u>(current: &[u8], tail: Tail, candidate: &'u [u8]) -> &'u [u8] {
    match tail {
        Tail::From(n) if n > 0 && current.get(..n).is_some_and(|p| candidate.starts_with(p)) => {
            &candidate[n..]
        }
        _ => candidate,
    }
}

/// The URI a try_files match leaves: the candidate, with the alias setter's prefix of the
/// current URI put back in front of what maps beneath the alias (nginx's try_files).
pub fn uri_after_try(ctx: &Ctx<'_, '_>, loc: &Location, candidate: &[u8]) -> Vec<u8> {
    match doc_path(loc).1 {
        Tail::From(n) if n > 0 && loc.files.alias.is_some() => {
            let prefix = ctx.st.uri.get(..n).unwrap_or_default();
            let mut uri = prefix.to_vec();
            uri.extend_from_slice(after_alias_prefix(&ctx.st.uri, Tail::From(n), candidate));
            uri
        }
        _ => candidate.to_vec(),
    }
}

/// `$document_root`: the root (or alias) with variables evaluated, without a trailing '/'.
pub fn document_root(ctx: &mut Ctx, out: &mut Vec<u8>) -> bool {
    let Some(loc) = ctx.st.location else {
        return false;
    };
    let (doc, _) = doc_path(loc);
    let start = out.len();
    out.extend_from_slice(doc.base.as_os_str().as_bytes());
    if let Some(rest) = &doc.rest {
        if out.last() != Some(&b'/') {
            out.push(b'/');
        }
        ctx.eval(rest, out);
    }
    if loc.files.alias.is_none() {
        while out.len() > start + 1 && out.last() == Some(&b'/') {
            out.pop();
        }
    }
    true
}

/// `$realpath_root`: `$document_root` with symlinks resolved.
pub fn realpath_root(ctx: &mut Ctx, out: &mut Vec<u8>) -> bool {
    let mut root = Vec::new();
    if !document_root(ctx, &mut root) {
        return false;
    }
    match std::fs::canonicalize(std::ffi::OsStr::from_bytes(&root)) {
        Ok(p) => {
            out.extend_from_slice(p.as_os_str().as_bytes());
            true
        }
        Err(_) => false,
    }
}

/// `$request_filename`: the file the current URI maps to.
pub fn request_filename(ctx: &mut Ctx, out: &mut Vec<u8>) -> bool {
    let Some(loc) = ctx.st.location else {
        return false;
    };
    let mapped = map_current(ctx, loc);
    out.extend_from_slice(&mapped.full(&ctx.st.uri));
    true
}

fn join(base: &[u8], relative: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(base.len() + relative.len() + 1);
    out.extend_from_slice(base);
    let rel = relative.strip_prefix(b"/").unwrap_or(relative);
    if !rel.is_empty() || relative.starts_with(b"/") {
        if out.last() != Some(&b'/') {
            out.push(b'/');
        }
        out.extend_from_slice(rel);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn join_paths() {
        assert_eq!(super::join(b"/srv", b"/a/b"), b"/srv/a/b");
        assert_eq!(super::join(b"/srv/", b"a"), b"/srv/a");
        assert_eq!(super::join(b"/srv", b""), b"/srv");
        assert_eq!(super::join(b"/srv", b"/"), b"/srv/");
    }
}
