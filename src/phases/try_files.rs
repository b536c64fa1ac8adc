//! `try_files`: the first candidate that exists becomes the request's file; otherwise the
//! last parameter decides (internal redirect, named location, or a status).
//!
//! `pipeline::run` calls [`run`] after the rewrite phase, before the content handler, as
//! nginx's try-files phase. Candidates are checked beneath the location's root or alias with
//! the static handler's `open_beneath` (a candidate can never name a file outside the root);
//! one written with a trailing '/' must be a directory, the others must not be.

use crate::config::model::{AliasTail, Location, TryFallback, TryFiles};
use crate::context::state::Args;
use crate::context::vars::Ctx;
use crate::files::docroot;
use crate::files::open::{open_beneath, RootDirs};
use crate::files::path;

/// What try_files decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Tried<'c> {
    /// A candidate exists; the current URI now names it (same location).
    Found,
    /// Internal redirect to this URI with these args (a new location search).
    Redirect { uri: Vec<u8>, args: Args },
    /// Go to this named location.
    Named(&'c str),
    /// Finish with this status (`=404`).
    Status(u16),
}

/// Runs `tf` for the request in `loc`.
pub fn run<'c>(
    ctx: &mut Ctx<'_, 'c>,
    loc: &'c Location,
    tf: &'c TryFiles,
    roots: &mut RootDirs,
) -> Tried<'c> {
    for candidate in &tf.candidates {
        let mut name = ctx.eval_vec(candidate);
        let want_dir = candidate.source.ends_with('/');
        if want_dir && name.last() == Some(&b'/') {
            name.pop();
        }
        let mapped = docroot::map_other(ctx, loc, &name);
        let relative = mapped.relative(&[]);
        let Ok(root) = roots.get(mapped.base) else {
            continue;
        };
        let confine = !loc.files.allow_symlinks_outside_root;
        let rel = trim_slashes(relative);
        // ".." from a variable names nothing beneath the root (the static handler refuses it
        // too); checking it would only tell whether a file outside exists.
        if path::has_dotdot_segment(rel) {
            continue;
        }
        let Ok(file) = open_beneath(root, rel, confine) else {
            continue;
        };
        let Ok(meta) = file.metadata() else {
            continue;
        };
        if meta.is_dir() != want_dir {
            continue;
        }
        match (&loc.files.alias, loc.files.alias_tail) {
            // A whole-file alias keeps the URI for a directory; a file's URI is appended
            // to the alias from now on.
            (Some(_), AliasTail::Whole) if want_dir => {}
            (Some(_), AliasTail::Whole) => {
                ctx.st.uri = name;
                ctx.st.alias_takes_uri = true;
            }
            _ => ctx.st.uri = docroot::uri_after_try(ctx, loc, &name),
        }
        return Tried::Found;
    }
    match &tf.fallback {
        TryFallback::Status(code) => Tried::Status(*code),
        TryFallback::Named(name) => Tried::Named(name.strip_prefix('@').unwrap_or(name)),
        TryFallback::Uri(t) => {
            let mut uri = ctx.eval_vec(t);
            let args = match memchr::memchr(b'?', &uri) {
                Some(i) => {
                    let args = uri[i + 1..].to_vec();
                    uri.truncate(i);
                    args
                }
                None => Vec::new(),
            };
            Tried::Redirect {
                uri,
                args: Args::Owned(args),
            }
        }
    }
}

fn trim_slashes(p: &[u8]) -> &[u8] {
    let n = p.iter().take_while(|&&b| b == b'/').count();
    &p[n..]
}
