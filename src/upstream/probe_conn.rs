//! The health prober's connection to a peer: blocking std sockets (TCP or unix), or TLS
//! over TCP with rustls in blocking mode when the group's probes speak TLS.
//!
//! Used only by `upstream::health` on its own thread, off the shards: nothing here may
//! block a shard. The TLS client config is built once per group when the prober starts,
//! from the same `proxy_ssl_*` settings the proxy uses (`tls::upstream`), so a probe
//! verifies exactly what a proxied request would.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::config::model::{PeerAddr, ProbeTls};

/// A group's TLS for probes: the client config (or why rustls refused the settings) and
/// the name checked.
pub struct ProbeClient {
    config: Result<Arc<ClientConfig>, String>,
    name: String,
}

impl ProbeClient {
    pub fn new(tls: &ProbeTls) -> ProbeClient {
        ProbeClient {
            config: crate::tls::upstream::client_config(&tls.ssl).map_err(|e| e.to_string()),
            name: tls.name.clone(),
        }
    }
}

/// One probe's connection.
pub enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// Boxed: rustls's state is large. The handshake runs on the first write.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

/// Why a connection could not be opened: `Connect` carries the socket's error, `Tls` the
/// reason TLS could not even start (settings rustls refused, a name it cannot take).
pub enum OpenError {
    Connect(io::Error),
    Tls(String),
}

impl Conn {
    /// Connects to `addr` within `timeout`, starting TLS with `tls` when given.
    pub fn open(
        addr: &PeerAddr,
        timeout: Duration,
        tls: Option<&ProbeClient>,
    ) -> Result<Conn, OpenError> {
        let tcp = match addr {
            PeerAddr::Inet(a) => {
                TcpStream::connect_timeout(a, timeout).map_err(OpenError::Connect)?
            }
            PeerAddr::Unix(p) => {
                if tls.is_some() {
                    return Err(OpenError::Tls(
                        "TLS over a unix socket is not supported".to_string(),
                    ));
                }
                return UnixStream::connect(p)
                    .map(Conn::Unix)
                    .map_err(OpenError::Connect);
            }
        };
        let Some(client) = tls else {
            return Ok(Conn::Tcp(tcp));
        };
        let config = client
            .config
            .as_ref()
            .map_err(|e| OpenError::Tls(e.clone()))?;
        let name = ServerName::try_from(client.name.clone())
            .map_err(|_| OpenError::Tls(format!("invalid server name \"{}\"", client.name)))?;
        let conn = ClientConnection::new(Arc::clone(config), name)
            .map_err(|e| OpenError::Tls(e.to_string()))?;
        Ok(Conn::Tls(Box::new(StreamOwned::new(conn, tcp))))
    }

    pub fn set_timeouts(&self, t: Duration) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
            Conn::Tls(s) => {
                s.sock.set_read_timeout(Some(t))?;
                s.sock.set_write_timeout(Some(t))
            }
            Conn::Unix(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
        }
    }

    /// Reads like `Read::read`, except that a TLS peer closing without close_notify after
    /// it sent something counts as the end of its answer: many servers close that way, and
    /// the answer is judged on what arrived.
    pub fn read_some(&mut self, buf: &mut [u8], got_some: bool) -> io::Result<usize> {
        match self.read(buf) {
            Err(e) if got_some && e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            other => other,
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
        }
    }

    /// rustls holds written records until flushed; plain sockets have nothing to flush.
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Tls(s) => s.flush(),
            Conn::Tcp(_) | Conn::Unix(_) => Ok(()),
        }
    }
}
