//! `geo` variables: the value for an address, looked up on first use in a request and kept
//! for the rest of it (unless the block says `volatile`).
//!
//! [`super::vars`] calls [`value`] for `Var::Geo`. The address is the client's, or the
//! block's `$address` variable parsed as an IP address (a value that is not one looks up
//! 255.255.255.255, as nginx). When the address is a trusted `proxy`, the address it
//! forwarded for (`X-Forwarded-For`, `proxy_recursive` walking past trusted ones) is used
//! instead. The table lookup itself is `config::model::Geo::lookup`.

use std::net::IpAddr;

use super::state::MapSlot;
use super::vars::{Ctx, Scope};
use crate::config::model::Geo;

/// Appends the value of geo `index` for this request.
pub fn value(ctx: &mut Ctx, index: usize, out: &mut Vec<u8>, scope: Scope) {
    let config = ctx.config;
    let Some(geo) = config.geos.get(index) else {
        return;
    };
    if !geo.volatile {
        if ctx.st.geo.len() < config.geos.len() {
            ctx.st.geo.resize(config.geos.len(), MapSlot::Unset);
        }
        match &ctx.st.geo[index] {
            MapSlot::Done(v) => {
                out.extend_from_slice(v);
                return;
            }
            MapSlot::Busy => {
                log::error!("cycle while evaluating variable \"{}\"", geo.name);
                return;
            }
            MapSlot::Unset => {}
        }
        ctx.st.geo[index] = MapSlot::Busy;
    }
    let addr = match &geo.source {
        None => ctx.req.conn.peer.ip(),
        Some(t) => {
            let mut text = Vec::new();
            ctx.eval_in(t, &mut text, scope);
            parse_addr(&text)
        }
    };
    let addr = match addr {
        Some(a) if !geo.proxies.is_empty() => Some(forwarded(ctx, geo, a)),
        other => other,
    };
    let v = geo.lookup(addr).as_bytes();
    out.extend_from_slice(v);
    if !geo.volatile {
        ctx.st.geo[index] = MapSlot::Done(v.to_vec());
    }
}

/// An address as nginx's `ngx_parse_addr` reads it (IPv4 or IPv6, no port).
fn parse_addr(text: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// An `X-Forwarded-For` element: an address, possibly with a port (`1.2.3.4:80`,
/// `[::1]:80`), as nginx's `ngx_parse_addr_port`.
fn parse_addr_port(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    text.parse::<std::net::SocketAddr>().ok().map(|s| s.ip())
}

/// nginx's `ngx_http_get_forwarded_addr`: when `addr` is trusted, the rightmost address of
/// `X-Forwarded-For` (all its fields, in order); with `proxy_recursive`, the rightmost one
/// that is not trusted itself. An element that is not an address stops the walk there.
fn forwarded(ctx: &Ctx, geo: &Geo, addr: IpAddr) -> IpAddr {
    let req = ctx.req;
    let mut list: Vec<&[u8]> = Vec::new();
    for f in &req.head.fields {
        if req.buf[f.name.clone()].eq_ignore_ascii_case(b"x-forwarded-for") {
            list.push(&req.buf[f.value.clone()]);
        }
    }
    let mut elements = list
        .iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|e| e.trim_ascii())
        .filter(|e| !e.is_empty())
        .collect::<Vec<_>>();
    let mut current = addr;
    while geo.trusts(current) {
        let Some(last) = elements.pop() else {
            break;
        };
        let Some(next) = std::str::from_utf8(last).ok().and_then(parse_addr_port) else {
            break;
        };
        current = next;
        if !geo.proxy_recursive {
            break;
        }
    }
    current
}
