//! The TLS handshake of an accepted connection, on the shard (rustls through futures-rustls
//! on glommio's stream).
//!
//! `shard/` calls [`accept`] for a connection on a `listen … ssl` address before it hands
//! the connection to `serve::h1`. The ClientHello is read first, so the server its SNI
//! selects provides every `ssl_*` setting (`tls::acceptor`); a first byte that cannot start
//! a TLS record means plain HTTP on the TLS port, which gets nginx's 400 from `serve/`.

use std::sync::Arc;
use std::time::Duration;

use glommio::net::TcpStream;

use super::client::ClientStream;
use super::upstream::within;
use crate::tls::info::Offered;
use crate::tls::{TlsInfo, TlsListener};

/// A TLS record starts with its content type; a handshake record is 22.
const HANDSHAKE_RECORD: u8 = 0x16;

/// How an accepted connection's start went.
pub enum Accepted {
    /// The handshake completed: the stream, what it settled, and the client's SNI.
    Tls {
        stream: ClientStream,
        info: TlsInfo,
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
pub async fn accept(stream: TcpStream, listener: &Arc<TlsListener>, timeout: Duration) -> Accepted {
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
            Accepted::Tls {
                stream: ClientStream::Tls(Box::new(tls)),
                info,
                sni,
            }
        }
        Err(e) => Accepted::Failed(format!("SSL_do_handshake() failed ({e})")),
    }
}
