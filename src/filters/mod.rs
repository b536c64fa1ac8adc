//! Response filters, run by the pipeline after the content handler, in the fixed order below.
//!
//! not-modified (304/412 from validators) → range (206/416, multipart). Later issues add
//! headers, compression and chunked here; the order lives only in [`apply`].

pub mod not_modified;
pub mod range;

use std::cell::Cell;

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
}

/// Runs every filter on `resp`, in order.
pub fn apply(resp: &mut Response, req: &FilterRequest) {
    conditional(resp, req);
    ranges(resp, req);
}

fn conditional(resp: &mut Response, req: &FilterRequest) {
    if resp.status != 200 {
        return;
    }
    let Some(mtime) = resp.last_modified else {
        return;
    };
    let etag = resp.etag.as_deref().unwrap_or("");
    let outcome = not_modified::evaluate(
        &not_modified::Conditions {
            if_match: req.if_match,
            if_none_match: req.if_none_match,
            if_modified_since: req.if_modified_since,
            if_unmodified_since: req.if_unmodified_since,
        },
        &not_modified::Validators {
            etag,
            mtime_secs: mtime,
        },
    );
    match outcome {
        not_modified::Precondition::Proceed => {}
        not_modified::Precondition::NotModified => {
            resp.status = 304;
            resp.body = Body::Empty;
            resp.uncache();
        }
        not_modified::Precondition::Failed => {
            *resp = Response::new(412);
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

fn ranges(resp: &mut Response, req: &FilterRequest) {
    if resp.status != 200 || !resp.accept_ranges || req.method != Method::Get {
        return;
    }
    let Some(header) = req.range else {
        return;
    };
    if let Some(if_range) = req.if_range {
        let etag = resp.etag.as_deref().unwrap_or("");
        if !range::if_range_matches(if_range, etag, resp.last_modified.unwrap_or(i64::MIN)) {
            return;
        }
    }
    let size = resp.body.len();
    match range::parse(header, size, req.max_ranges) {
        range::RangeOutcome::Full => {}
        range::RangeOutcome::Unsatisfiable => {
            let mut r = Response::new(416);
            r.add_field("Content-Range", &range::unsatisfied_range(size));
            *resp = r;
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
