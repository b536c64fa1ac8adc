//! Connection setup ends here: the one place that picks the protocol a connection speaks.
//!
//! `shard/` has accepted the socket, read a PROXY protocol header and done the TLS
//! handshake; what follows depends on the protocol alone. Today every connection speaks
//! HTTP/1.x (ALPN offers only `http/1.1`, see `tls::acceptor::ALPN`). HTTP/2 (ALPN `h2`, or
//! the h2c preface on a plain listener configured for it) becomes one more arm of
//! [`Protocol`], served by its own connection module over the same pipeline.

use super::h1;

/// What a connection speaks once it is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
}

impl Protocol {
    /// The protocol of a connection: by the ALPN its TLS handshake settled on; a plain
    /// connection, or one without ALPN, is HTTP/1.x.
    pub fn of(alpn: Option<&str>) -> Protocol {
        match alpn {
            // Only `http/1.1` is offered, so nothing else can have been agreed.
            Some(_) | None => Protocol::Http1,
        }
    }
}

/// Serves a connection that is set up, in the protocol it speaks.
pub async fn serve(conn: h1::Connection) {
    let alpn = conn.tls.as_ref().and_then(|t| t.info.alpn.as_deref());
    match Protocol::of(alpn) {
        Protocol::Http1 => h1::serve(conn).await,
    }
}
