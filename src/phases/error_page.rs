//! Special responses: what nginx's `ngx_http_special_response_handler` does when a request
//! ends in an error or a redirect without a body — `error_page`, or the built-in page.
//!
//! `pipeline::run` calls [`handle`] with a response whose status is ≥ 300 and that carries
//! no body of its own (a handler's 404, a `return 301 URL`, a filter's 412/416, a cycle's
//! 500). An `error_page` for the status turns it into an internal redirect or a named
//! location (at most once per request; a later error gets the built-in page), or into a
//! redirect to a URL. Otherwise the body becomes nginx's small HTML page for the status,
//! byte for byte the same shape (empty for codes nginx has no page for).

use crate::config::model::{ErrorPageStatus, ErrorPageTarget};
use crate::context::state::Args;
use crate::context::vars::Ctx;
use crate::http::response::{Body, Response};

/// What a special response turns into.
#[derive(Debug)]
pub enum Special<'c> {
    /// Send this (a built-in page, or an `error_page` redirect to a URL).
    Page(Response),
    /// `error_page … /uri`: an internal redirect (a new location search).
    Redirect { uri: Vec<u8>, args: Args },
    /// `error_page … @name`.
    Named(&'c str),
}

/// Whether `resp` is a special response: an error or redirect status with nothing to send
/// (no body and no type of its own).
pub fn is_special(resp: &Response) -> bool {
    resp.status >= 300
        && resp.status != 304
        && resp.content_type.is_none()
        && matches!(resp.body, Body::Empty)
        && !resp.abort
}

/// Handles a special response for the request in `ctx`.
pub fn handle<'c>(ctx: &mut Ctx<'_, 'c>, mut resp: Response) -> Special<'c> {
    let status = resp.status;
    ctx.st.err_status = status;
    // nginx turns keep-alive off after these (the request may not have been read whole).
    if matches!(status, 400 | 413 | 414 | 500 | 501) {
        resp.close = true;
        ctx.st.close = true;
    }
    let pages = match ctx.st.location {
        Some(loc) => &loc.error_pages,
        None => &ctx.server.error_pages,
    };
    if !ctx.st.error_page_used && !pages.is_empty() && ctx.st.uri_changes_left > 0 {
        ctx.st.error_page_used = true;
        if let Some(page) = pages.iter().find(|p| p.codes.contains(&status)) {
            match page.status {
                ErrorPageStatus::Keep => {}
                ErrorPageStatus::Set(n) => ctx.st.err_status = n,
                ErrorPageStatus::FromTarget => ctx.st.err_status = 0,
            }
            match &page.target {
                ErrorPageTarget::Uri(t) => {
                    let mut uri = ctx.eval_vec(t);
                    let args = match memchr::memchr(b'?', &uri) {
                        Some(i) => {
                            let a = uri[i + 1..].to_vec();
                            uri.truncate(i);
                            a
                        }
                        None => Vec::new(),
                    };
                    ctx.st.as_get = true;
                    carry(ctx, &mut resp);
                    return Special::Redirect {
                        uri,
                        args: Args::Owned(args),
                    };
                }
                ErrorPageTarget::Named(name) => {
                    carry(ctx, &mut resp);
                    return Special::Named(name.strip_prefix('@').unwrap_or(name));
                }
                ErrorPageTarget::Redirect(t) => {
                    let url = ctx.eval_vec(t);
                    let code = match page.status {
                        ErrorPageStatus::Set(n @ (301 | 302 | 303 | 307 | 308)) => n,
                        _ => 302,
                    };
                    ctx.st.err_status = code;
                    let mut r = Response::new(code);
                    r.close = resp.close;
                    r.location = Some(url);
                    builtin(&mut r, ctx.server.http.server_tokens);
                    return Special::Page(r);
                }
            }
        }
    }
    builtin(&mut resp, ctx.server.http.server_tokens);
    Special::Page(resp)
}

/// Keeps the fields of the response an error page replaces (see `RequestState`).
fn carry(ctx: &mut Ctx, resp: &mut Response) {
    if resp.location.is_some() {
        ctx.st.location_field = resp.location.take();
    }
    // anx's Allow belongs to its 405 alone (nginx sends none).
    resp.remove_field("Allow");
    ctx.st.carried_fields.append(&mut resp.extra);
}

/// Replaces the body with the built-in page for the status (nginx's `ngx_http_error_pages`);
/// validators go, as nginx clears them on special responses.
pub fn builtin(resp: &mut Response, server_tokens: bool) {
    resp.uncache();
    resp.last_modified = None;
    resp.etag = None;
    resp.accept_ranges = false;
    if resp.status == 494 {
        // nginx's internal 494 (a header line or the whole head too large) goes out as 400
        // with its own page.
        resp.status = 400;
        resp.content_type = Some("text/html".to_string());
        resp.body = Body::Bytes(crate::http::status::header_too_large_page(server_tokens));
        return;
    }
    match page_title(resp.status) {
        Some(title) => {
            resp.content_type = Some("text/html".to_string());
            resp.body = Body::Bytes(page(title, server_tokens));
        }
        None => {
            resp.content_type = None;
            resp.body = Body::Empty;
        }
    }
}

/// The page nginx sends for `title` (shared with the built-in error pages).
pub use crate::http::status::page;

/// Titles of nginx 1.22's built-in pages; `None` where nginx sends an empty body.
pub fn page_title(status: u16) -> Option<&'static str> {
    Some(match status {
        301 => "301 Moved Permanently",
        302 => "302 Found",
        303 => "303 See Other",
        307 => "307 Temporary Redirect",
        308 => "308 Permanent Redirect",
        400 => "400 Bad Request",
        401 => "401 Authorization Required",
        402 => "402 Payment Required",
        403 => "403 Forbidden",
        404 => "404 Not Found",
        405 => "405 Not Allowed",
        406 => "406 Not Acceptable",
        408 => "408 Request Time-out",
        409 => "409 Conflict",
        410 => "410 Gone",
        411 => "411 Length Required",
        412 => "412 Precondition Failed",
        413 => "413 Request Entity Too Large",
        414 => "414 Request-URI Too Large",
        415 => "415 Unsupported Media Type",
        416 => "416 Requested Range Not Satisfiable",
        421 => "421 Misdirected Request",
        429 => "429 Too Many Requests",
        500 => "500 Internal Server Error",
        501 => "501 Not Implemented",
        502 => "502 Bad Gateway",
        503 => "503 Service Temporarily Unavailable",
        504 => "504 Gateway Time-out",
        505 => "505 HTTP Version Not Supported",
        507 => "507 Insufficient Storage",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_494_goes_out_as_400_with_its_page() {
        let mut r = Response::new(494);
        builtin(&mut r, true);
        assert_eq!(r.status, 400);
        let Body::Bytes(b) = &r.body else {
            panic!("no page")
        };
        assert!(String::from_utf8_lossy(b).contains("Request Header Or Cookie Too Large"));
    }

    #[test]
    fn page_sizes_match_nginx() {
        // nginx/1.22.1 is 12 bytes, "anx/" + version differs: compare without the footer.
        let nginx_len = |status: u16| page(page_title(status).unwrap(), false).len() - 3 + 12;
        assert_eq!(nginx_len(302), 145);
        assert_eq!(nginx_len(404), 153);
        assert_eq!(nginx_len(301), 169);
        assert_eq!(nginx_len(416), 197);
        assert!(page_title(418).is_none());
    }
}
