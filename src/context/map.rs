//! `map` variables: looked up on first use in a request, then kept for the rest of it.
//!
//! [`super::vars`] calls [`value`] for `Var::Map`. The lookup order is nginx's
//! (`ngx_http_map_find`): exact keys (case-insensitive), then with `hostnames` the leading
//! wildcards (`*.example.com`, `.example.com`, most specific first) and the trailing ones
//! (`www.example.*`), then the regexes in configuration order (on the value as it is; a
//! match sets captures the value template may use), then the default.

use super::state::MapSlot;
use super::vars::{Ctx, Scope};
use crate::config::model::{Map, Template};
use crate::http::host::best_wildcard;

/// Appends the value of map `index` for this request.
pub fn value(ctx: &mut Ctx, index: usize, out: &mut Vec<u8>, scope: Scope) {
    let config = ctx.config;
    let Some(map) = config.maps.get(index) else {
        return;
    };
    if ctx.st.maps.len() < config.maps.len() {
        ctx.st.maps.resize(config.maps.len(), MapSlot::Unset);
    }
    match &ctx.st.maps[index] {
        MapSlot::Done(v) => {
            out.extend_from_slice(v);
            return;
        }
        MapSlot::Busy => {
            ctx.log().error(format_args!(
                "cycle while evaluating variable \"{}\"",
                map.name
            ));
            return;
        }
        MapSlot::Unset => {}
    }
    ctx.st.maps[index] = MapSlot::Busy;
    let mut source = Vec::new();
    ctx.eval_in(&map.source, &mut source, scope);
    let template = lookup(ctx, map, &source);
    let mut v = Vec::new();
    ctx.eval_in(template, &mut v, scope);
    out.extend_from_slice(&v);
    ctx.st.maps[index] = if map.volatile {
        MapSlot::Unset
    } else {
        MapSlot::Done(v)
    };
}

fn lookup<'c>(ctx: &mut Ctx<'_, 'c>, map: &'c Map, source: &[u8]) -> &'c Template {
    let mut key = source;
    if map.hostnames {
        key = key.strip_suffix(b".").unwrap_or(key);
    }
    let low = key.to_ascii_lowercase();
    if let Ok(text) = std::str::from_utf8(&low) {
        if let Some(t) = map.exact.get(text) {
            return t;
        }
    }
    if map.hostnames {
        let keys = map.wildcards.iter().map(|(k, t)| (k.as_bytes(), t));
        if let Some(t) = best_wildcard(keys, &low) {
            return t;
        }
    }
    if !source.is_empty() {
        for (pattern, t) in &map.regexes {
            if ctx.st.match_bytes(pattern, source) {
                return t;
            }
        }
    }
    &map.default
}
