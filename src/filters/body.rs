//! The body-filter chain: what a response body passes through between the decoder that
//! read it and the HTTP/1 encoder that frames it for the client, in one fixed order.
//!
//! ```text
//! upstream bytes → http::body::Decoder → BodyChain: [filters, in order] → Encoder → write buffer
//! ```
//!
//! `serve::proxy` relays every upstream body through a [`BodyChain`] (one relay loop for
//! length, chunked and until-close bodies); the chain ends with [`BodyChain::end`], which
//! lets the filters give up what they still hold and then has the encoder write the last
//! chunk with the trailer fields (`add_trailer`, through [`Trailers`]). Filters pass plain
//! data: chunk framing is the encoder's job alone.
//!
//! Adding a filter (gzip, issue 14; a cache-fill tee after it): one [`BodyFilter`] type,
//! one `Option` field in [`BodyChain`] (`None` when not configured, so an unconfigured
//! filter costs one branch), and one [`pass`] line in [`BodyChain::data`] and
//! [`BodyChain::end`], at its place in the order. A filter that changes the length also
//! changes the head (no `Content-Length`, chunked or close framing): whoever builds the
//! chain decides the head's framing knowing which filters it holds.
//!
//! What stays outside: pacing (`limit_rate`) is the writer's, since it is about when bytes
//! leave, not what they are (`serve::rate` paces the flushes of what the chain wrote).
//! File bodies of the static writer (`serve::h1`) go out by sendfile without passing
//! through memory, framed by [`crate::http::body::Encoder::piece_start`] and `piece_end`; a
//! response whose chain holds a filter that needs the bytes (gzip) has its file read into
//! a buffer a slice at a time and fed to [`BodyChain::data`] instead, as the paced and TLS
//! writers already read files (`State::copy_file`): zero-copy only ever applies to bytes
//! that go out unchanged.

use crate::http::body::Encoder;

/// One stage of the chain.
pub trait BodyFilter {
    /// Takes a piece of the body and passes on what it makes of it (any number of pieces,
    /// none while it gathers).
    fn data(&mut self, data: &[u8], next: &mut dyn FnMut(&[u8]));
    /// The body has ended: pass on whatever is still held.
    fn finish(&mut self, next: &mut dyn FnMut(&[u8]));
}

/// Runs `data` through `filter` when it is configured, else straight on to `next`.
pub fn pass<F: BodyFilter>(filter: &mut Option<F>, data: &[u8], next: &mut dyn FnMut(&[u8])) {
    match filter {
        Some(f) => f.data(data, next),
        None => next(data),
    }
}

/// Ends `filter` when it is configured.
pub fn finish<F: BodyFilter>(filter: &mut Option<F>, next: &mut dyn FnMut(&[u8])) {
    if let Some(f) = filter {
        f.finish(next);
    }
}

/// The trailer fields written after the last chunk (`add_trailer`): their values are read
/// once the body is out (`$body_bytes_sent` among them), so the writer hands them to
/// [`BodyChain::end`] rather than to the chain's start.
pub trait Trailers {
    /// Appends the fields ("Name: value\r\n" lines); `body_bytes` is the body data the
    /// chain passed to the encoder.
    fn write(&mut self, body_bytes: u64, out: &mut Vec<u8>);
}

/// The chain of one response body. No filter is configurable yet: today it is the body's
/// byte count and the encoder, and the place where filters go.
#[derive(Debug)]
pub struct BodyChain {
    // Filters go here, in the order a body passes them: gzip first (issue 14), then the
    // cache fill's tee (it stores what the client gets).
    encoder: Encoder,
    /// Body data handed to the encoder (`$body_bytes_sent` of a relayed body: the data,
    /// without chunk framing).
    sent: u64,
}

impl BodyChain {
    pub fn new(encoder: Encoder) -> BodyChain {
        BodyChain { encoder, sent: 0 }
    }

    /// Passes a piece of the body through the filters; what comes out is framed onto `out`.
    pub fn data(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let Self { encoder, sent } = self;
        to_encoder(*encoder, sent, out, data);
    }

    /// Body data handed to the encoder so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Ends the body: the filters pass on what they hold, then the encoder writes the end
    /// (for chunked, the last chunk with the fields of `trailers`).
    pub fn end(&mut self, out: &mut Vec<u8>, trailers: Option<&mut dyn Trailers>) {
        let sent = self.sent;
        match trailers {
            Some(t) => self.encoder.end(out, &mut |out| t.write(sent, out)),
            None => self.encoder.end(out, &mut |_| {}),
        }
    }
}

/// The last stage: counts and frames.
fn to_encoder(encoder: Encoder, sent: &mut u64, out: &mut Vec<u8>, data: &[u8]) {
    *sent += data.len() as u64;
    encoder.data(out, data);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A filter that holds everything back until the end and passes it upper-cased: the
    /// shape of a compressor.
    struct Shout(Vec<u8>);

    impl BodyFilter for Shout {
        fn data(&mut self, data: &[u8], _next: &mut dyn FnMut(&[u8])) {
            self.0.extend(data.iter().map(u8::to_ascii_uppercase));
        }
        fn finish(&mut self, next: &mut dyn FnMut(&[u8])) {
            next(&std::mem::take(&mut self.0));
        }
    }

    struct Fields;

    impl Trailers for Fields {
        fn write(&mut self, body_bytes: u64, out: &mut Vec<u8>) {
            out.extend_from_slice(format!("X-Len: {body_bytes}\r\n").as_bytes());
        }
    }

    #[test]
    fn chunked_body_ends_with_trailers_counting_the_data() {
        let mut chain = BodyChain::new(Encoder::Chunked);
        let mut out = Vec::new();
        chain.data(b"hello", &mut out);
        chain.data(b" world", &mut out);
        chain.end(&mut out, Some(&mut Fields));
        assert_eq!(chain.sent(), 11);
        assert_eq!(out, b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Len: 11\r\n\r\n");
    }

    #[test]
    fn identity_body_has_no_end() {
        let mut chain = BodyChain::new(Encoder::Identity);
        let mut out = Vec::new();
        chain.data(b"abc", &mut out);
        chain.end(&mut out, Some(&mut Fields));
        assert_eq!(out, b"abc");
        assert_eq!(chain.sent(), 3);
    }

    #[test]
    fn discarded_body_is_counted_but_not_written() {
        let mut chain = BodyChain::new(Encoder::Discard);
        let mut out = Vec::new();
        chain.data(b"abc", &mut out);
        chain.end(&mut out, None);
        assert!(out.is_empty());
    }

    #[test]
    fn a_filter_composes_in_front_of_the_encoder() {
        let (encoder, mut sent, mut out) = (Encoder::Chunked, 0, Vec::new());
        let mut shout = Some(Shout(Vec::new()));
        for piece in [&b"ab"[..], b"cd"] {
            pass(&mut shout, piece, &mut |d| {
                to_encoder(encoder, &mut sent, &mut out, d)
            });
        }
        assert!(out.is_empty(), "held back until the end");
        finish(&mut shout, &mut |d| {
            to_encoder(encoder, &mut sent, &mut out, d)
        });
        assert_eq!(out, b"4\r\nABCD\r\n");
        let mut none: Option<Shout> = None;
        pass(&mut none, b"ef", &mut |d| {
            to_encoder(encoder, &mut sent, &mut out, d)
        });
        assert_eq!(out, b"4\r\nABCD\r\n2\r\nef\r\n");
        assert_eq!(sent, 6);
    }
}
