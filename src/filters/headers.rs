//! Filter `headers`: nginx's `add_header`, `add_trailer` and `expires`, last of the filters.
//!
//! Runs after not-modified and range (`filters::apply`) on every response, error pages
//! included, with the settings of the location that answered. As nginx's
//! `ngx_http_headers_filter`: `expires` and the `add_header` entries without `always` apply
//! only to 200, 201, 204, 206, 301, 302, 303, 304, 307 and 308; a value is a template (it may
//! read `$sent_http_*`), and an empty value adds nothing. `ETag` and `Last-Modified` replace
//! the response's own.
//!
//! `add_trailer` works in two steps, as nginx's: here only the decision that trailers apply
//! to this status (`Response::trailers`, which makes `serve/` send the body chunked), then
//! [`trailers`] once the body is out, when the values are read (`$msec`, `$bytes_sent`,
//! `$upstream_response_length` and `$sent_trailer_*` see the end of the response).

use crate::config::model::{Expires, Location};
use crate::context::clock;
use crate::context::vars::{Ctx, Scope, Sent};
use crate::http::response::Response;
use crate::http::validators::http_date;

/// Whether nginx counts `status` as a success for `add_header` and `expires`.
pub fn safe_status(status: u16) -> bool {
    matches!(
        status,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    )
}

/// Applies `loc`'s `expires` and `add_header` to `resp` as if its status were `status`.
pub fn apply(resp: &mut Response, loc: Option<&Location>, ctx: &mut Ctx, status: u16) {
    let Some(loc) = loc else {
        return;
    };
    if loc.add_headers.is_empty() && loc.expires == Expires::Off && loc.add_trailers.is_empty() {
        return;
    }
    let safe = safe_status(status);
    resp.trailers = loc.add_trailers.iter().any(|t| safe || t.always);
    if safe {
        let now = crate::http::date::now_secs();
        match &loc.expires {
            Expires::Variable { modified, template } => {
                let mut text = Vec::new();
                ctx.eval_in(
                    template,
                    &mut text,
                    Scope {
                        response: Some(resp),
                        ..Scope::default()
                    },
                );
                if let Some(e) = expires_from_value(&text, *modified) {
                    expires(resp, &e, now);
                }
            }
            fixed => expires(resp, fixed, now),
        }
    }
    let mut value = Vec::new();
    for h in &loc.add_headers {
        if !safe && !h.always {
            continue;
        }
        value.clear();
        ctx.eval_in(
            &h.value,
            &mut value,
            Scope {
                response: Some(resp),
                ..Scope::default()
            },
        );
        set(resp, &h.name, &value);
    }
}

/// Appends `loc`'s trailer fields for `resp` to `out`, one "Name: value\r\n" line each, as
/// nginx's `ngx_http_trailers_filter` at the last buffer: entries without `always` only for
/// the statuses of [`safe_status`], values read now (`sent` is what went out so far), and
/// an empty value adds nothing. A value may read the trailers before it
/// (`$sent_trailer_*`).
pub fn trailers(loc: &Location, resp: &Response, sent: &Sent, ctx: &mut Ctx, out: &mut Vec<u8>) {
    let safe = safe_status(resp.status);
    let start = out.len();
    let mut value = Vec::new();
    for t in &loc.add_trailers {
        if !safe && !t.always {
            continue;
        }
        value.clear();
        ctx.eval_in(
            &t.value,
            &mut value,
            Scope {
                response: Some(resp),
                sent: Some(sent),
                trailers: Some(&out[start..]),
            },
        );
        if !value.is_empty() {
            out.extend_from_slice(t.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&value);
            out.extend_from_slice(b"\r\n");
        }
    }
}

fn set(resp: &mut Response, name: &str, value: &[u8]) {
    if name.eq_ignore_ascii_case("etag") {
        resp.uncache();
        resp.etag = (!value.is_empty()).then(|| String::from_utf8_lossy(value).into_owned());
        return;
    }
    if name.eq_ignore_ascii_case("last-modified") {
        resp.uncache();
        resp.remove_field("Last-Modified");
        // As nginx, the value becomes the response's modification time (If-Range and
        // `expires modified` read it); one that is not a date is sent as written.
        resp.last_modified = crate::http::validators::parse_http_date(value);
        if resp.last_modified.is_some() {
            return;
        }
    }
    if !value.is_empty() {
        resp.add_field_bytes(name, value);
    }
}

/// A variable's value as an `expires` argument: nginx parses it per request and sets
/// nothing when it is empty or not a valid form (`modified` combines only with a time).
fn expires_from_value(value: &[u8], modified: bool) -> Option<Expires> {
    let text = std::str::from_utf8(value).ok()?;
    if text.is_empty() {
        return None;
    }
    let words: Vec<String> = if modified {
        vec!["modified".to_string(), text.to_string()]
    } else {
        vec![text.to_string()]
    };
    crate::config::compile::expires(&words).ok()
}

/// nginx's `ngx_http_set_expires`.
pub fn expires(resp: &mut Response, e: &Expires, now: i64) {
    let (at, cache_control) = match *e {
        Expires::Off | Expires::Variable { .. } => return,
        Expires::Epoch => (
            "Thu, 01 Jan 1970 00:00:01 GMT".to_string(),
            "no-cache".to_string(),
        ),
        Expires::Max => (
            "Thu, 31 Dec 2037 23:55:55 GMT".to_string(),
            "max-age=315360000".to_string(),
        ),
        Expires::After(0) | Expires::Modified(0) => (http_date(now), "max-age=0".to_string()),
        Expires::After(t) => (http_date(now + t), max_age(t, t)),
        Expires::Modified(t) => match resp.last_modified {
            Some(mtime) => (http_date(mtime + t), max_age(t, mtime + t - now)),
            None => (http_date(now + t), max_age(t, t)),
        },
        Expires::DailyAt(secs) => {
            let at = clock::next_daily(now, secs);
            (http_date(at), max_age(0, at - now))
        }
    };
    resp.remove_field("Expires");
    resp.remove_field("Cache-Control");
    resp.add_field("Expires", &at);
    resp.add_field("Cache-Control", &cache_control);
}

fn max_age(configured: i64, max_age: i64) -> String {
    if configured < 0 || max_age < 0 {
        "no-cache".to_string()
    } else {
        format!("max-age={max_age}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(e: Expires, last_modified: Option<i64>, now: i64) -> String {
        let mut r = Response::new(200);
        r.last_modified = last_modified;
        expires(&mut r, &e, now);
        String::from_utf8(r.extra).unwrap()
    }

    #[test]
    fn expires_forms() {
        let now = 1_700_000_000;
        assert_eq!(
            fields(Expires::Epoch, None, now),
            "Expires: Thu, 01 Jan 1970 00:00:01 GMT\r\nCache-Control: no-cache\r\n"
        );
        assert_eq!(
            fields(Expires::Max, None, now),
            "Expires: Thu, 31 Dec 2037 23:55:55 GMT\r\nCache-Control: max-age=315360000\r\n"
        );
        assert!(
            fields(Expires::After(3600), None, now).ends_with("Cache-Control: max-age=3600\r\n")
        );
        assert!(fields(Expires::After(-1), None, now).ends_with("Cache-Control: no-cache\r\n"));
        assert!(fields(Expires::After(0), None, now).ends_with("Cache-Control: max-age=0\r\n"));
        assert!(fields(Expires::Modified(100), Some(now - 50), now)
            .ends_with("Cache-Control: max-age=50\r\n"));
        assert!(fields(Expires::Modified(10), Some(now - 50), now)
            .ends_with("Cache-Control: no-cache\r\n"));
    }
}
