//! The X-Accel-* fields of an upstream answer, as the exchange follows them.
//!
//! `serve::proxy` asks here once the answer's head is in: [`redirect`] when the answer
//! names an internal redirect (the exchange then drops the body and goes back to the
//! pipeline with `pipeline::Resume::Accel`), [`limit_rate`] for the rate of the response
//! the client gets. `proxy_ignore_headers` turns either off. The reading itself is
//! `http::accel` (sans-io).

use super::proxy::Job;
use crate::config::model::ProxySettings;
use crate::context::state::RequestState;
use crate::context::vars::Ctx;
use crate::http::accel::{self, Carried, Target};
use crate::http::upstream::{field, UpstreamHead};

/// Where the answer's X-Accel-Redirect sends the request, and what it keeps of the answer
/// (Set-Cookie through `proxy_cookie_*`); `None` without one, or when it is ignored.
/// X-Accel-Limit-Rate still sets the rate of what the redirect answers.
pub(super) fn redirect<'c>(
    job: &Job<'_, 'c>,
    state: &mut RequestState<'c>,
    settings: &'c ProxySettings,
    head: &UpstreamHead,
    buf: &[u8],
) -> Option<(Target, Carried)> {
    if settings.ignore_headers.ignores("X-Accel-Redirect") {
        return None;
    }
    let target = accel::redirect_target(accel::redirect_value(head, buf)?);
    let mut ctx = Ctx {
        config: job.config,
        server: job.selected.server,
        req: job.received(),
        st: std::mem::replace(state, RequestState::new(Vec::new())),
    };
    let carried = accel::kept_fields(head, buf, &mut |v| {
        crate::handlers::proxy_cookie::rewrite_set_cookie(&mut ctx, settings, v)
    });
    *state = ctx.st;
    if let Some(rate) = limit_rate(settings, head, buf) {
        state.limit_rate = Some(rate);
    }
    Some((target, carried))
}

/// The answer's X-Accel-Limit-Rate (bytes a second, 0 for `off`), unless ignored or not a
/// number.
pub(super) fn limit_rate(settings: &ProxySettings, head: &UpstreamHead, buf: &[u8]) -> Option<u64> {
    if settings.ignore_headers.ignores("X-Accel-Limit-Rate") {
        return None;
    }
    accel::limit_rate(field(head, buf, "x-accel-limit-rate")?)
}
