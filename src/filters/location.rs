//! Filter `location`: a relative `Location` becomes absolute, as nginx's header filter does
//! when `absolute_redirect` is on (the default).
//!
//! Runs last, on every response with a Location starting with '/' (static's slash redirect,
//! `return 301 /x`, `rewrite … redirect`, `error_page … /x` redirects). The host is the
//! server's first name with `server_name_in_redirect on`, else the request's host (no port),
//! else the local address; the port is the local one, left out when it is 80 or when
//! `port_in_redirect` is off.

use crate::config::model::RedirectSettings;
use crate::context::vars::Ctx;
use crate::http::host::normalize_host_into;
use crate::http::response::Response;

pub fn apply(resp: &mut Response, ctx: &Ctx) {
    let Some(location) = &resp.location else {
        return;
    };
    let settings = ctx.st.location.map(|l| l.redirects).unwrap_or_default();
    if location.first() != Some(&b'/') || !settings.absolute_redirect {
        return;
    }
    let url = absolute(location, ctx, &settings);
    resp.location = Some(url);
}

/// A path made absolute for `ctx`'s request, when the location's `absolute_redirect` is on
/// (the proxy uses it for a Location that `proxy_redirect` rewrote to a path, as nginx).
pub fn absolute_for(path: &[u8], ctx: &Ctx) -> Vec<u8> {
    let settings = ctx.st.location.map(|l| l.redirects).unwrap_or_default();
    if path.first() != Some(&b'/') || !settings.absolute_redirect {
        return path.to_vec();
    }
    absolute(path, ctx, &settings)
}

fn absolute(path: &[u8], ctx: &Ctx, settings: &RedirectSettings) -> Vec<u8> {
    let mut url = Vec::with_capacity(path.len() + 40);
    url.extend_from_slice(b"http://");
    let start = url.len();
    if settings.server_name_in_redirect {
        crate::context::vars::server_name(ctx.server, &mut url);
    } else if let Some(h) = ctx.req.head.host.clone() {
        normalize_host_into(&ctx.req.buf[h], &mut url);
    }
    let local = &ctx.req.conn.local;
    if url.len() == start {
        // nginx prints the local address without brackets here, even for IPv6.
        local.write_host(&mut url);
    }
    match local.port() {
        Some(port) if settings.port_in_redirect && port != 80 => {
            url.push(b':');
            url.extend_from_slice(itoa::Buffer::new().format(port).as_bytes());
        }
        _ => {}
    }
    url.extend_from_slice(path);
    url
}
