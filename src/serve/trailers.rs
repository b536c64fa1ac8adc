//! `add_trailer` on the wire: chunked bodies that end in trailer fields.
//!
//! The headers filter marks a response whose status an `add_trailer` applies to
//! (`Response::trailers`); the writers in `serve::h1` (static files, error pages, `return`)
//! and `serve::proxy` (relayed bodies) then ask [`chunked`] whether this request gets
//! them. As nginx's chunked filter with `expect_trailers`, it does on HTTP/1.1 with
//! `chunked_transfer_encoding` on, for a method and status that carry a body: the body goes
//! chunked even when its length is known, and the encoder's end (`http::body::Encoder`)
//! writes the last chunk with the fields [`TrailerSource::fields`] reads once the body is
//! out. Everything else (HTTP/1.0, HEAD, 204/304,
//! chunked off) is written as if no trailer were configured. Without `add_trailer` nothing
//! here runs.

use std::io;

use super::h1::State;
use crate::config::model::{Config, LocationHttp, Server};
use crate::context::state::{Received, RequestState};
use crate::context::vars::{Ctx, Sent};
use crate::http::body::Encoder;
use crate::http::request::{BodyFraming, Method, RequestHead, Version};
use crate::http::response::{write_head, Response};
use crate::http::status::is_bodyless;

/// Whether `resp` goes to the client of `head` chunked, ending in its trailers.
pub(super) fn chunked(resp: &Response, head: &RequestHead, http: &LocationHttp) -> bool {
    resp.trailers
        && head.version == Version::Http11
        && http.chunked_transfer_encoding
        && head.method != Method::Head
        && !is_bodyless(resp.status)
}

/// What reading the trailer values needs: the request and the state its phases built.
pub(super) struct TrailerSource<'a, 'c> {
    pub config: &'c Config,
    pub server: &'c Server,
    pub recv: Received<'a>,
    pub state: &'a mut RequestState<'c>,
}

impl TrailerSource<'_, '_> {
    /// Appends the trailer fields of the answering location for `resp` (the encoder frames
    /// them). `written` is (head, body) bytes so far, for `$bytes_sent` and
    /// `$body_bytes_sent`.
    pub fn fields(&mut self, resp: &Response, written: (u64, u64), out: &mut Vec<u8>) {
        if let Some(loc) = self.state.location {
            let body_len = match self.recv.head.body {
                BodyFraming::Length(n) => n,
                _ => 0,
            };
            let sent = Sent {
                status: resp.status,
                body_bytes: written.1,
                bytes: written.0 + written.1,
                request_length: self.recv.head.len as u64 + body_len,
            };
            let mut ctx = Ctx {
                config: self.config,
                server: self.server,
                req: self.recv,
                st: std::mem::replace(self.state, RequestState::new(Vec::new())),
            };
            crate::filters::headers::trailers(loc, resp, &sent, &mut ctx, out);
            *self.state = ctx.st;
        }
    }
}

/// The trailers of a relayed response, for the body-filter chain's end: `head_bytes` is
/// what its head took on the wire.
pub(super) struct Relayed<'s, 'a, 'c> {
    pub src: TrailerSource<'a, 'c>,
    pub resp: &'s Response,
    pub head_bytes: u64,
}

impl crate::filters::body::Trailers for Relayed<'_, '_, '_> {
    fn write(&mut self, body_bytes: u64, out: &mut Vec<u8>) {
        self.src
            .fields(self.resp, (self.head_bytes, body_bytes), out);
    }
}

impl State {
    /// [`State::write_response`] for a response that [`chunked`] said ends in trailers:
    /// the body as one chunk (a file still goes with sendfile inside it: the encoder frames
    /// the piece, the writer sends its bytes), then the trailers. Returns (head bytes, body
    /// bytes with their framing).
    pub(super) async fn write_chunked(
        &mut self,
        resp: &Response,
        http: &LocationHttp,
        keep_alive: bool,
        src: &mut TrailerSource<'_, '_>,
    ) -> io::Result<(u64, u64)> {
        let ctx = super::h1::head_context(http, keep_alive, true);
        let pace = self.pace.take();
        let before = self.wbuf.len();
        write_head(self.wbuf_mut(), resp, &ctx);
        let head_bytes = (self.wbuf.len() - before) as u64;
        let len = resp.body.len();
        let mut body_bytes = 0;
        if len > 0 {
            // Each bit of framing is measured as it is appended: the body's writer may send
            // the buffer in between.
            let at = self.wbuf.len();
            Encoder::Chunked.piece_start(self.wbuf_mut(), len);
            body_bytes += (self.wbuf.len() - at) as u64 + len;
            match pace {
                Some(mut pace) => self.write_body_paced(&resp.body, &mut pace).await?,
                None => self.write_body(&resp.body).await?,
            }
            let at = self.wbuf.len();
            Encoder::Chunked.piece_end(self.wbuf_mut(), len);
            body_bytes += (self.wbuf.len() - at) as u64;
        }
        let at = self.wbuf.len();
        let written = (head_bytes, body_bytes);
        let out = self.wbuf_mut();
        Encoder::Chunked.end(out, &mut |out| src.fields(resp, written, out));
        body_bytes += (self.wbuf.len() - at) as u64;
        self.flush_if_full().await?;
        Ok((head_bytes, body_bytes))
    }
}
