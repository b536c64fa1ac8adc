//! Response filters, run by the pipeline after the content handler, in the fixed order below.
//!
//! not-modified (304/412 from validators) → range (206/416, multipart) → headers
//! (`add_header`, `expires`); then `location` makes a relative Location absolute. Later
//! issues add compression here; the order lives only in [`apply`]. Bodies pass the
//! body-filter chain ([`body`]), whose last stage is the HTTP/1 encoder (chunked framing).
//!
//! A 412 or 416 made here is an error like any other: [`apply`] says so and the pipeline
//! gives it its error page (and runs [`headers`] on that page, as nginx runs its header
//! filters again for a special response).

pub mod body;
pub mod headers;
pub mod location;
pub mod not_modified;
pub mod range;

use std::cell::Cell;

use crate::context::vars::Ctx;
use crate::http::request::Method;
use crate::http::response::{Body, FileRange, Part, Response};

/// The request fields the filters read.
pub struct FilterRequest<'a> {
    pub method: Method,
    pub if_match: Option<&'a [u8]>,
    pub if_none_match: Option<&'a [u8]>,
    pub if_modified_since: Option<&'a [u8]>,
    pub if_unmodified_since: Option<&'a [u8]>,
    pub range: Option<&'a [u8]>,
    pub if_range: Option<&'a [u8]>,
    pub max_ranges: usize,
    pub modified_since_mode: crate::config::model::IfModifiedSince,
}

/// Runs every filter on `resp`, in order. True when a filter refused the request (412,
/// 416): the response is then an error for the pipeline's error-page step.
pub fn apply(resp: &mut Response, req: &FilterRequest, ctx: &mut Ctx) -> bool {
    if conditional(resp, req) {
        return true;
    }
    // nginx's headers filter runs before its range filter: a refused range keeps the
    // headers of the 200, and If-Range compares with an `add_header Last-Modified`.
    let status = resp.status;
    headers::apply(resp, ctx.st.location, ctx, status);
    ranges(resp, req)
}

/// The headers filter alone, for error pages and other special responses.
pub fn headers(resp: &mut Response, ctx: &mut Ctx) {
    let status = resp.status;
    headers::apply(resp, ctx.st.location, ctx, status);
}

/// True when the preconditions failed (412).
fn conditional(resp: &mut Response, req: &FilterRequest) -> bool {
    if resp.status != 200 {
        return false;
    }
    let Some(mtime) = resp.last_modified else {
        return false;
    };
    let etag = resp.etag.as_deref().unwrap_or("");
    let outcome = not_modified::evaluate(
        &not_modified::Conditions {
            if_match: req.if_match,
            if_none_match: req.if_none_match,
            if_modified_since: req.if_modified_since,
            if_unmodified_since: req.if_unmodified_since,
            modified_since_mode: req.modified_since_mode,
        },
        &not_modified::Validators {
            etag,
            mtime_secs: mtime,
        },
    );
    match outcome {
        not_modified::Precondition::Proceed => false,
        not_modified::Precondition::NotModified => {
            resp.status = 304;
            resp.body = Body::Empty;
            resp.uncache();
            false
        }
        not_modified::Precondition::Failed => {
            let mut r = Response::new(412);
            // nginx keeps the response's fields on the error (an error page may carry them).
            r.extra = std::mem::take(&mut resp.extra);
            *resp = r;
            true
        }
    }
}

thread_local! {
    static BOUNDARY: Cell<u64> = const { Cell::new(1) };
}

fn next_boundary() -> String {
    BOUNDARY.with(|b| {
        let n = b.get();
        b.set(n.wrapping_add(1));
        format!(
            "{:020}",
            n.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 10u64.pow(19)
        )
    })
}

/// True when the range is unsatisfiable (416).
fn ranges(resp: &mut Response, req: &FilterRequest) -> bool {
    if resp.status != 200 || !resp.accept_ranges || req.method != Method::Get {
        return false;
    }
    let Some(header) = req.range else {
        return false;
    };
    if let Some(if_range) = req.if_range {
        let etag = resp.etag.as_deref().unwrap_or("");
        if !range::if_range_matches(if_range, etag, resp.last_modified.unwrap_or(i64::MIN)) {
            return false;
        }
    }
    let size = resp.body.len();
    match range::parse(header, size, req.max_ranges) {
        range::RangeOutcome::Full => {}
        range::RangeOutcome::Unsatisfiable => {
            let mut r = Response::new(416);
            r.close = resp.close;
            r.extra = std::mem::take(&mut resp.extra);
            r.add_field("Content-Range", &range::unsatisfied_range(size));
            *resp = r;
            return true;
        }
        range::RangeOutcome::Partial(list) if list.len() == 1 => {
            let r = list[0];
            resp.status = 206;
            resp.uncache();
            resp.add_field("Content-Range", &range::content_range(r, size));
            resp.body = slice(&resp.body, r.start, r.len());
        }
        range::RangeOutcome::Partial(list) => {
            let boundary = next_boundary();
            let content_type = resp.content_type.clone().unwrap_or_default();
            let parts: Vec<Part> = list
                .iter()
                .map(|r| Part {
                    head: range::part_head(&boundary, &content_type, *r, size).into_bytes(),
                    body: slice(&resp.body, r.start, r.len()),
                })
                .collect();
            resp.status = 206;
            resp.uncache();
            resp.content_type = Some(range::multipart_content_type(&boundary));
            resp.body = Body::Multipart {
                parts,
                closing: range::closing(&boundary).into_bytes(),
            };
        }
    }
    false
}

/// `len` bytes of `body` from `start` (callers pass ranges already clamped to the body).
fn slice(body: &Body, start: u64, len: u64) -> Body {
    match body {
        Body::Shared {
            bytes, start: s, ..
        } => {
            let begin = s + start as usize;
            Body::Shared {
                bytes: bytes.clone(),
                start: begin,
                end: begin + len as usize,
            }
        }
        Body::File(f) => Body::File(FileRange {
            file: f.file.clone(),
            offset: f.offset + start,
            len,
        }),
        Body::Bytes(b) => {
            let begin = (start as usize).min(b.len());
            let end = (begin + len as usize).min(b.len());
            Body::Bytes(b[begin..end].to_vec())
        }
        Body::Empty | Body::Multipart { .. } => Body::Empty,
    }
}
