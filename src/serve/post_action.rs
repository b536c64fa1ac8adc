//! `post_action`: once a request's answer is sent, the request goes on to another URI or
//! named location whose answer nobody sees (nginx runs it as the same request, with
//! nothing written to the client; its usual use is a `proxy_pass` that notifies an
//! application).
//!
//! `serve::h1` calls [`State::post_action`] after the response and its log line, with the
//! `post_action` of the location that answered. The pipeline runs the phases again
//! (`pipeline::Resume::PostAction`); a static answer is dropped as it is, a proxied one goes to its
//! upstream (`serve::proxy::discard`), whose answer is read ([`drain`]) and dropped. The
//! main request's log line is the only one, as in nginx (anx writes it before the post
//! action, with the main request's variables). One post action per request: the post
//! action's own location never starts another.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::h1::State;
use crate::config::model::{Config, PostAction};
use crate::context::state::{ConnInfo, RequestState};
use crate::http::body::Decoder;
use crate::http::request::RequestHead;
use crate::http::upstream::UpstreamHead;
use crate::net::upstream::UpstreamConn;
use crate::pipeline::{self, Request, Resume, Selected};

impl State {
    /// Runs `action` for the request `head` (whose bytes `head_copy` holds), once its
    /// answer is out.
    pub(super) async fn post_action<'c>(
        &mut self,
        (config, selected): (&'c Arc<Config>, &Selected<'c>),
        (head, head_copy): (&RequestHead, &[u8]),
        conn: &ConnInfo,
        (started, now): (Instant, i64),
        action: &'c PostAction,
    ) {
        // The answer goes out first (a client waiting for it does not wait for the post
        // action); nginx runs the post action when the client is gone too.
        let _ = self.flush().await;
        let shard = self.conn.shard.clone();
        let generation = self.conn.generation.clone();
        let (index, listener) = (self.conn.index.clone(), self.conn.listener.clone());
        let req = Request {
            head,
            buf: head_copy,
            listener: &listener,
            conn,
            started,
            declared_body: None,
            index: Some(&index),
            status: Some(shard.status_sources(&generation)),
        };
        let outcome = {
            let mut statics = shard.statics.borrow_mut();
            let (unused, how) = (RequestState::new(Vec::new()), Resume::PostAction(action));
            pipeline::resume(config, selected, &req, &mut statics, now, unused, how)
        };
        let pipeline::Outcome::Exchange {
            exchange: pipeline::Exchange::Proxy(plan),
            state,
        } = outcome
        else {
            return;
        };
        let location = state.location.unwrap_or(&selected.server.fallback);
        let unused = Cell::new(None);
        let job = super::proxy::Job {
            config,
            selected,
            head,
            head_copy,
            conn,
            started,
            keep_alive: false,
            now,
            http: &location.http,
            error_log: &location.error_log,
            discard: true,
            post_action: &unused,
        };
        super::proxy::discard(self, job, state, plan).await;
    }
}

/// Reads the rest of an upstream answer's body (`buf[head.len..filled]` is what came with
/// the head) and drops it; true when it ended where its framing says, so the connection
/// may be reused.
pub(super) async fn drain(
    conn: &mut UpstreamConn,
    head: &UpstreamHead,
    buf: &mut [u8],
    filled: usize,
    timeout: Duration,
) -> bool {
    let mut have = head.len..filled;
    let Some(mut decoder) = Decoder::response(head.framing) else {
        return have.is_empty();
    };
    loop {
        let data = &buf[have.clone()];
        match decoder.decode(data, &mut |_| {}) {
            Ok(p) if p.done => return p.consumed == data.len(),
            Ok(_) => {}
            Err(_) => return false,
        }
        match conn.read_within(buf, timeout).await {
            Ok(0) => return decoder.ends_at_close(),
            Ok(n) => have = 0..n,
            Err(_) => return false,
        }
    }
}
