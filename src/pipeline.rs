//! The request path, in one function: read [`run`] and you know what happens to a request.
//!
//! ```text
//! route server (listen + Host) → normalise the URI path → route location
//!   → content handler (static | return) → filters (not-modified → range) → error pages
//! ```
//!
//! `serve::h1` calls [`select_server`] then [`run`] once per parsed request head and writes
//! the [`Response`] it gets back. Nothing here does socket I/O.

use crate::config::model::{Config, Handler, Server};
use crate::filters::{self, FilterRequest};
use crate::handlers::ret;
use crate::handlers::static_files::{self, path, StaticRequest, StaticState};
use crate::http::request::RequestHead;
use crate::http::response::{Body, Response};
use crate::http::status;
use crate::route::{self, ListenerServers};

/// One request as the pipeline sees it.
pub struct Request<'a> {
    pub head: &'a RequestHead,
    /// The buffer `head`'s positions refer to.
    pub buf: &'a [u8],
    pub listener: &'a ListenerServers,
}

impl Request<'_> {
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.head.field(self.buf, name)
    }
}

/// The server block that answers `req` (its limits apply before the rest of the path runs).
pub fn select_server<'c>(config: &'c Config, req: &Request) -> &'c Server {
    let host = req.head.host.clone().map(|h| &req.buf[h]);
    &config.servers[route::select_server(config, req.listener, host)]
}

/// Runs the rest of the request path for one request on the server chosen above.
pub fn run(
    config: &Config,
    server: &Server,
    req: &Request,
    statics: &mut StaticState,
    now: i64,
) -> Response {
    let host = req.head.host.clone().map(|h| &req.buf[h]);
    let mut response = content(config, server, req, host, statics, now);
    with_error_page(&mut response, server);
    response
}

fn content(
    config: &Config,
    server: &Server,
    req: &Request,
    host: Option<&[u8]>,
    statics: &mut StaticState,
    now: i64,
) -> Response {
    let target = &req.buf[req.head.path_and_query.clone()];
    let (raw_path, query) = path::split_target(target);
    let raw_path = if raw_path.is_empty() { b"/" } else { raw_path };
    let Ok(uri_path) = path::normalize(raw_path, server.http.merge_slashes) else {
        return Response {
            close: true,
            ..Response::new(400)
        };
    };
    let Some(location) = route::select_location(server, &uri_path) else {
        return Response::new(404);
    };

    let mut response = match &location.handler {
        Handler::Return(action) => ret::respond(action, &location.files.default_type),
        Handler::Static => static_files::serve(
            &StaticRequest {
                method: req.head.method,
                path: &uri_path,
                query,
                host,
            },
            location,
            &config.mime,
            statics,
            now,
        ),
    };

    filters::apply(
        &mut response,
        &FilterRequest {
            method: req.head.method,
            if_match: req.field("if-match"),
            if_none_match: req.field("if-none-match"),
            if_modified_since: req.field("if-modified-since"),
            if_unmodified_since: req.field("if-unmodified-since"),
            range: req.field("range"),
            if_range: req.field("if-range"),
            max_ranges: location.files.max_ranges,
        },
    );
    response
}

/// Errors and redirects without a body get nginx's small HTML page.
pub fn with_error_page(response: &mut Response, server: &Server) {
    if response.status >= 300
        && !status::is_bodyless(response.status)
        && matches!(response.body, Body::Empty)
    {
        response.uncache();
        response.content_type = Some("text/html".to_string());
        response.body = Body::Bytes(status::error_page(
            response.status,
            server.http.server_tokens,
        ));
    }
}
