//! The TLS handshake of an accepted connection, on the shard (rustls through futures-rustls
//! on glommio's stream).
//!
//! `shard/` calls [`accept`] for a connection on a `listen … ssl` address before it hands
//! the connection to `serve::h1`. The ClientHello is read first, so the server its SNI
//! selects provides every `ssl_*` setting (`tls::acceptor`); a first byte that cannot start
//! a TLS record means plain HTTP on the TLS port, which gets nginx's 400 from `serve/`.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::AsyncWriteExt;
use glommio::net::TcpStream;

use super::client::ClientStream;
use super::upstream::within;
use crate::tls::info::Offered;
use crate::tls::{TlsInfo, TlsListener};

/// A TLS record starts with its content type; a handshake record is 22.
const HANDSHAKE_RECORD: u8 = 0x16;

/// A plaintext TLS record: fatal alert 112, unrecognized_name (RFC 6066).
const UNRECOGNIZED_NAME_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];

/// The SNI of the ClientHello waiting on `stream`, read with `peek` so the handshake that
/// follows reads the same bytes. `Ok(None)`: no SNI; an error: not a readable hello.
async fn peek_sni(stream: &TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = vec![0u8; 16 * 1024 + 5];
    loop {
        let n = stream.peek(&mut buf).await.map_err(std::io::Error::from)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let mut acceptor = rustls::server::Acceptor::default();
        let mut rd = &buf[..n];
        while !rd.is_empty() {
            if acceptor.read_tls(&mut rd)? == 0 {
                break;
            }
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                return Ok(accepted.client_hello().server_name().map(str::to_string))
            }
            Ok(None) if n < buf.len() => {
                // The hello is still arriving; peek again shortly (the caller's timeout
                // bounds the wait).
                glommio::timer::sleep(Duration::from_millis(2)).await;
            }
            Ok(None) => return Err(std::io::Error::other("ClientHello too large")),
            Err((e, _)) => return Err(std::io::Error::other(e.to_string())),
        }
    }
}

/// How an accepted connection's start went.
pub enum Accepted {
    /// The handshake completed: the stream, what it settled, and the client's SNI.
    Tls {
        stream: ClientStream,
        info: Box<TlsInfo>,
        sni: Option<String>,
    },
    /// The client spoke plain HTTP to the TLS port.
    PlainHttp(TcpStream),
    /// Garbage, a handshake failure, the client leaving, or the timeout; the reason is for
    /// the error log (at info level, as nginx logs handshake failures).
    Failed(String),
}

/// Runs the handshake within `timeout` (the whole of it: a slow client cannot hold a
/// connection slot longer than that).
pub async fn accept(
    mut stream: TcpStream,
    listener: &Arc<TlsListener>,
    timeout: Duration,
    ocsp_cache: &RefCell<crate::tls::ocsp::client::Cache>,
) -> Accepted {
    let mut first = [0u8; 1];
    let peeked = within(timeout, "TLS handshake", async {
        stream.peek(&mut first).await.map_err(std::io::Error::from)
    })
    .await;
    match peeked {
        Ok(0) => {
            return Accepted::Failed("client closed the connection before the handshake".into())
        }
        Ok(_) if first[0] != HANDSHAKE_RECORD => {
            return if first[0].is_ascii_uppercase() {
                Accepted::PlainHttp(stream)
            } else {
                Accepted::Failed(format!(
                    "not a TLS handshake (first byte {:#04x})",
                    first[0]
                ))
            };
        }
        Ok(_) => {}
        Err(e) => return Accepted::Failed(format!("{e} while waiting for the ClientHello")),
    }
    if listener.rejects_any() {
        let sni = within(timeout, "TLS handshake", peek_sni(&stream)).await;
        if let Ok(sni) = sni {
            if listener.rejects(sni.as_deref()) {
                // nginx's answer: a fatal unrecognized_name alert, before any certificate.
                let _ = stream.write_all(&UNRECOGNIZED_NAME_ALERT).await;
                return Accepted::Failed(format!(
                    "handshake rejected (ssl_reject_handshake) for server name {:?}",
                    sni.unwrap_or_default()
                ));
            }
        }
    }
    let handshake = async {
        let acceptor =
            futures_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
        let start = acceptor.await?;
        let hello = start.client_hello();
        let offered = Offered::from_hello(&hello);
        let config = listener.config_for_hello(&hello);
        // `$ssl_session_id`: an id stored with the session, so a resumption shows it again.
        let id = crate::tls::info::new_session_id();
        let tls = start
            .into_stream_with(config, |conn| {
                if let Some(id) = &id {
                    conn.set_resumption_data(id);
                }
            })
            .await?;
        Ok::<_, std::io::Error>((tls, offered, id))
    };
    match within(timeout, "TLS handshake", handshake).await {
        Ok((tls, offered, id)) => {
            let session = tls.get_ref().1;
            let mut info = listener.info(session);
            info.offered = offered;
            info.session_id = crate::tls::info::session_id(session, id.as_ref().map(|i| &i[..]));
            let sni = session.server_name().map(str::to_string);
            // `ssl_ocsp`: the certificate's status is asked before any request is read
            // (nginx finishes its handshake only then).
            if let Some(check) = listener.client_ocsp(session, &info) {
                if let Err(reason) = super::ocsp::validate(&check, ocsp_cache, timeout).await {
                    info.client_verify = crate::tls::info::ClientVerify::Failed(reason.to_string());
                }
            }
            Accepted::Tls {
                stream: ClientStream::Tls(Box::new(tls)),
                info: Box::new(info),
                sni,
            }
        }
        Err(e) => Accepted::Failed(format!("SSL_do_handshake() failed ({e})")),
    }
}
