//! The status pages: a location's content handler when it has `stub_status`, `anx_status`,
//! `anx_metrics` or `anx_dashboard` (TOML `status = …`).
//!
//! The pipeline calls [`respond`] with the shard's way to the process's counters; the page
//! is built from one [`Report`] (every shard summed) and returned as a plain response, so
//! the filters and `add_header` apply as for any other. Only GET and HEAD are answered
//! (405 otherwise, as nginx's stub_status). Access is limited the usual nginx way once
//! `allow`/`deny` exist; until then put the location on a listener only operators reach.

pub mod dashboard;
pub mod prometheus;
pub mod stub;

use crate::config::model::{Config, StatusPage};
use crate::http::request::Method;
use crate::http::response::{Body, Response};
use crate::metrics::report::{self, Report};
use crate::metrics::Registry;
use crate::upstream::health::HealthBoard;

/// Where the figures come from: the process's registry and the health checks' board.
#[derive(Clone, Copy)]
pub struct Sources<'a> {
    pub registry: &'a Registry,
    pub health: Option<&'a HealthBoard>,
}

/// The page `page` for a request with `method` and query string `query`.
pub fn respond(
    page: StatusPage,
    sources: Option<Sources>,
    config: &Config,
    method: Method,
    query: &[u8],
) -> Response {
    if !matches!(method, Method::Get | Method::Head) {
        return Response::new(405);
    }
    let Some(sources) = sources else {
        // Only a request re-entering the pipeline after an upstream failure lacks them.
        return Response::new(503);
    };
    let report = || report::build(sources.registry, config, sources.health);
    let (content_type, body) = match page {
        StatusPage::Stub => ("text/plain", stub::render(&report())),
        StatusPage::Json => json(&report()),
        StatusPage::Prometheus => (prometheus::CONTENT_TYPE, prometheus::render(&report())),
        StatusPage::Dashboard if query == b"json" => json(&report()),
        StatusPage::Dashboard => ("text/html; charset=utf-8", dashboard::PAGE.to_vec()),
    };
    let mut resp = Response::new(200);
    resp.content_type = Some(content_type.to_string());
    if page != StatusPage::Stub {
        // Figures of this moment; nginx's stub_status sends no such field, so it does not
        // either (its output stays byte-compatible, headers included).
        resp.add_field("Cache-Control", "no-store");
    }
    resp.body = Body::Bytes(body);
    resp
}

fn json(report: &Report) -> (&'static str, Vec<u8>) {
    let mut body = serde_json::to_vec_pretty(report).unwrap_or_else(|e| {
        log::error!("status page: cannot encode the report as JSON: {e}");
        b"{}".to_vec()
    });
    body.push(b'\n');
    ("application/json", body)
}
