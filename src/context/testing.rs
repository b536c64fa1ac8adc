//! Test fixture: a TOML configuration and one raw request, run through the sans-io request
//! path (no sockets), for the unit tests of the phases, variables and pipeline.

use std::path::Path;
use std::time::Instant;

use super::state::{ConnInfo, Received, RequestState};
use super::vars::Ctx;
use crate::config::model::Config;
use crate::files::path;
use crate::handlers::static_files::StaticState;
use crate::http::request::{parse_head, HeadLimits, RequestHead};
use crate::http::response::Response;
use crate::pipeline::{self, Misdirected, Outcome, Request};
use crate::route::{servers_for_listener, ConfigIndex, ListenerServers};

pub struct Fixture {
    pub config: Config,
    pub buf: Vec<u8>,
    pub head: RequestHead,
    pub conn: ConnInfo,
    pub listener: ListenerServers,
    pub index: ConfigIndex,
}

const LIMITS: HeadLimits = HeadLimits {
    max_request_line: 8192,
    max_header_line: 8192,
    max_header_bytes: 32768,
    max_headers: 100,
    ignore_invalid_headers: true,
    underscores_in_headers: false,
};

/// `toml` holds `[[server]]` blocks listening on 127.0.0.1:8080 (written by the caller);
/// `request` is a raw head ("GET / HTTP/1.1\r\nHost: x\r\n\r\n").
pub fn fixture(toml: &str, base: &Path, request: &str) -> Fixture {
    fixture_on("127.0.0.1:8080", toml, base, request)
}

/// [`fixture`] for a connection accepted on `local`.
pub fn fixture_on(local: &str, toml: &str, base: &Path, request: &str) -> Fixture {
    let config = crate::config::toml::parse(toml, None, base).expect("test config");
    let buf = request.as_bytes().to_vec();
    let head = parse_head(&buf, &LIMITS)
        .expect("test request")
        .expect("complete test request");
    let local: crate::config::model::SockAddr = local.parse().expect("addr");
    let listener = servers_for_listener(&config, &local);
    let index = ConfigIndex::build(&config);
    Fixture {
        config,
        buf,
        head,
        conn: ConnInfo {
            peer: "10.0.0.7:5555".parse().expect("addr"),
            local,
            serial: 42,
            requests: 3,
            pipelined: false,
            tls: None,
            proxy: None,
            born: std::time::Instant::now(),
        },
        listener,
        index,
    }
}

impl Fixture {
    fn request(&self) -> Request<'_> {
        Request {
            head: &self.head,
            buf: &self.buf,
            listener: &self.listener,
            conn: &self.conn,
            started: Instant::now(),
            declared_body: None,
            index: Some(&self.index),
            status: None,
        }
    }

    /// A variables context for the chosen server, the URI normalised, no phase run yet.
    pub fn ctx(&self) -> Ctx<'_, '_> {
        let req = self.request();
        let selected = pipeline::select_server(&self.config, &req, None).expect("a server");
        let raw = &self.buf[self.head.path.clone()];
        let raw: &[u8] = if raw.is_empty() { b"/" } else { raw };
        let uri = path::normalize(raw, true).expect("test path");
        let mut st = RequestState::new(uri);
        if let (Some(p), Some(h)) = (selected.name_regex, self.head.host.clone()) {
            st.match_bytes(p, &crate::http::host::normalize_host(&self.buf[h]));
        }
        Ctx {
            config: &self.config,
            server: selected.server,
            req: Received {
                head: &self.head,
                buf: &self.buf,
                conn: &self.conn,
                started: Instant::now(),
            },
            st,
        }
    }

    /// The whole request path.
    fn run(&self) -> Outcome<'_> {
        let req = self.request();
        let selected = pipeline::select_server(&self.config, &req, None).expect("a server");
        let mut statics = StaticState::default();
        pipeline::run(&self.config, &selected, &req, &mut statics, 0)
    }

    /// The whole request path, for a request answered here rather than by an upstream.
    pub fn respond(&self) -> Response {
        match self.run() {
            Outcome::Respond { response, .. } => response,
            Outcome::Exchange { .. } => panic!("the test request went to an upstream"),
        }
    }

    /// Server selection alone, on a connection with `handshake`: the position chosen.
    pub fn select(&self, handshake: Option<pipeline::Handshake>) -> Result<usize, Misdirected> {
        pipeline::select_server(&self.config, &self.request(), handshake).map(|s| s.position)
    }
}

/// The text of a response body held in memory.
pub fn body(r: &crate::http::response::Response) -> String {
    match &r.body {
        crate::http::response::Body::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        crate::http::response::Body::Shared { bytes, start, end } => {
            String::from_utf8_lossy(&bytes[*start..*end]).into_owned()
        }
        _ => String::new(),
    }
}

/// The Location field as text.
pub fn location(r: &crate::http::response::Response) -> String {
    r.location
        .as_deref()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .unwrap_or_default()
}
