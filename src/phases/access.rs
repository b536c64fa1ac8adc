//! The access phase (nginx's `ngx_http_access_module`): the location's `allow`/`deny`
//! rules, checked in order against the client's address after the rewrite phase and before
//! try_files and the content handler; the first rule that matches decides, no match allows.
//!
//! In: the chosen location and the connection's peer. Out: `None` to go on, or the 403
//! response (with nginx's `access forbidden by rule` error-log line). The rules' lookup
//! structure is `config::model::AccessRules`.

use crate::config::model::Location;
use crate::context::vars::Ctx;
use crate::http::response::Response;

/// `Some(403)` when a `deny` rule is the first to match the client.
pub fn check(ctx: &Ctx, loc: &Location) -> Option<Response> {
    if loc.access.is_empty() {
        return None;
    }
    // A Unix-socket client is `None`: only `allow/deny unix:` rules match it.
    let peer = ctx.req.conn.peer.ip();
    let rule = loc.access.first_match(peer)?;
    if rule.allow {
        return None;
    }
    // Through the request's scope, so a location's own error_log receives it.
    ctx.log().error(format_args!("access forbidden by rule"));
    Some(Response::new(403))
}
