//! What a finished handshake tells the request path: the `$ssl_*` variables.
//!
//! The connection side builds one [`TlsInfo`] per connection right after the handshake
//! (`TlsInfo::from_connection`, or `TlsListener::info` which also fills
//! `$ssl_client_verify` for `ssl_verify_client optional_no_ca`) and hands it to every
//! request through `context::state::ConnInfo::tls`; `context::vars` prints from it. Sans-io.

use rustls::server::ServerConnection;
use rustls::HandshakeKind;

/// `$ssl_client_verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientVerify {
    /// A client certificate was presented and verified: `SUCCESS`.
    Success,
    /// Presented but not verified (only with `optional_no_ca`): `FAILED:reason`.
    Failed(String),
    /// None presented: `NONE`.
    None,
}

impl ClientVerify {
    /// The variable's text, as nginx prints it.
    pub fn text(&self) -> String {
        match self {
            ClientVerify::Success => "SUCCESS".to_string(),
            ClientVerify::Failed(reason) => format!("FAILED:{reason}"),
            ClientVerify::None => "NONE".to_string(),
        }
    }
}

/// The connection's TLS facts, as nginx's `$ssl_*` variables print them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// `$ssl_protocol`: `TLSv1.2` or `TLSv1.3`.
    pub protocol: &'static str,
    /// `$ssl_cipher`: OpenSSL's name of the suite (`TLS_AES_128_GCM_SHA256`,
    /// `ECDHE-RSA-AES128-GCM-SHA256`).
    pub cipher: String,
    /// `$ssl_server_name`: the SNI the client sent (empty when none).
    pub server_name: Option<String>,
    /// `$ssl_session_reused`: `r` when the session was resumed, else `.`.
    pub session_reused: bool,
    /// `$ssl_client_verify`.
    pub client_verify: ClientVerify,
    /// `$ssl_client_s_dn`: the client certificate's subject, RFC 2253 form
    /// (`CN=client,O=Example`), as nginx prints it since 1.11.6.
    pub client_s_dn: Option<String>,
    /// `$ssl_client_fingerprint`: SHA-1 of the client certificate's DER, lowercase hex.
    pub client_fingerprint: Option<String>,
    /// The client certificate's DER (`$ssl_client_cert` and the other certificate
    /// variables print from it).
    pub client_cert: Option<Vec<u8>>,
    /// `$ssl_alpn_protocol`: the protocol ALPN settled on (empty when none).
    pub alpn: Option<String>,
    /// `$ssl_curve`: the key-exchange group, by OpenSSL's name.
    pub curve: Option<String>,
    /// `$ssl_session_id`: 64 hex digits naming the session (see [`session_id`]).
    pub session_id: Option<String>,
    /// What the ClientHello offered (`$ssl_ciphers`, `$ssl_curves`).
    pub offered: Offered,
}

impl TlsInfo {
    /// The facts of a connection whose handshake is complete. A presented certificate
    /// counts as verified: rustls accepts only what the verifier accepted, and only
    /// `optional_no_ca` lets an unverified one through (see `TlsListener::info`).
    pub fn from_connection(conn: &ServerConnection) -> TlsInfo {
        let protocol = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            _ => "",
        };
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|s| super::names::cipher_name(s.suite()))
            .unwrap_or_default();
        let leaf = conn.peer_certificates().and_then(|c| c.first());
        TlsInfo {
            protocol,
            cipher,
            server_name: conn.server_name().map(str::to_string),
            session_reused: conn.handshake_kind() == Some(HandshakeKind::Resumed),
            client_verify: match leaf {
                Some(_) => ClientVerify::Success,
                None => ClientVerify::None,
            },
            client_s_dn: leaf.and_then(|c| subject_dn(c.as_ref())),
            client_fingerprint: leaf.map(|c| fingerprint(c.as_ref())),
            client_cert: leaf.map(|c| c.as_ref().to_vec()),
            alpn: conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            curve: conn
                .negotiated_key_exchange_group()
                .map(|g| super::names::group_name(g.name())),
            session_id: session_id(conn, None),
            offered: Offered::default(),
        }
    }
}

/// SHA-1 of `der`, lowercase hex (nginx's `$ssl_client_fingerprint`).
pub fn fingerprint(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    let mut out = String::with_capacity(40);
    for b in digest.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether a request on this connection gets 400 for its client certificate, as nginx
/// answers "No required SSL certificate was sent" (`ssl_verify_client on`, none sent) and
/// "The SSL certificate error" (`on` or `optional`, one that failed verification).
/// `settings` are those of the server the request selected.
pub fn refuses_request(
    settings: Option<&crate::config::model::TlsSettings>,
    info: Option<&TlsInfo>,
) -> bool {
    use crate::config::model::VerifyClient;
    let (Some(settings), Some(info)) = (settings, info) else {
        return false;
    };
    matches!(
        (settings.verify_client, &info.client_verify),
        (VerifyClient::On, ClientVerify::None)
            | (
                VerifyClient::On | VerifyClient::Optional,
                ClientVerify::Failed(_)
            )
    )
}

/// What the client's ClientHello offered, kept for `$ssl_ciphers` and `$ssl_curves`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offered {
    /// The cipher suites, OpenSSL names joined with `:` (unknown ones as `0x….`).
    pub ciphers: String,
    /// The groups, OpenSSL names joined with `:`.
    pub curves: String,
}

impl Offered {
    pub fn from_hello(hello: &rustls::server::ClientHello<'_>) -> Offered {
        let ciphers = hello
            .cipher_suites()
            .iter()
            .filter_map(|&s| match u16::from(s) {
                // Signalling values, not suites (OpenSSL leaves them out too).
                0x00ff | 0x5600 => None,
                v => Some(super::names::openssl_name(s).unwrap_or_else(|| format!("0x{v:04x}"))),
            })
            .collect::<Vec<_>>()
            .join(":");
        let curves = hello
            .named_groups()
            .unwrap_or_default()
            .iter()
            .map(|&g| super::names::group_name(g))
            .collect::<Vec<_>>()
            .join(":");
        Offered { ciphers, curves }
    }
}

/// The `$ssl_*` variables beyond the first few (`Var::Ssl` in the config model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SslVar {
    AlpnProtocol,
    Ciphers,
    Curve,
    Curves,
    EarlyData,
    SessionId,
    ClientCert,
    ClientRawCert,
    ClientEscapedCert,
    ClientIDn,
    ClientSDnLegacy,
    ClientIDnLegacy,
    ClientSerial,
    ClientVStart,
    ClientVEnd,
    ClientVRemain,
}

impl SslVar {
    /// The variable a `$name` means, if it is one of these.
    pub fn from_name(name: &str) -> Option<SslVar> {
        Some(match name {
            "ssl_alpn_protocol" => SslVar::AlpnProtocol,
            "ssl_ciphers" => SslVar::Ciphers,
            "ssl_curve" => SslVar::Curve,
            "ssl_curves" => SslVar::Curves,
            "ssl_early_data" => SslVar::EarlyData,
            "ssl_session_id" => SslVar::SessionId,
            "ssl_client_cert" => SslVar::ClientCert,
            "ssl_client_raw_cert" => SslVar::ClientRawCert,
            "ssl_client_escaped_cert" => SslVar::ClientEscapedCert,
            "ssl_client_i_dn" => SslVar::ClientIDn,
            "ssl_client_s_dn_legacy" => SslVar::ClientSDnLegacy,
            "ssl_client_i_dn_legacy" => SslVar::ClientIDnLegacy,
            "ssl_client_serial" => SslVar::ClientSerial,
            "ssl_client_v_start" => SslVar::ClientVStart,
            "ssl_client_v_end" => SslVar::ClientVEnd,
            "ssl_client_v_remain" => SslVar::ClientVRemain,
            _ => return None,
        })
    }
}

impl TlsInfo {
    /// Appends the value of `var` (empty where the connection has nothing to say, such as
    /// certificate variables without a client certificate).
    pub fn print(&self, var: SslVar, out: &mut Vec<u8>) {
        use super::certtext as ct;
        let text = match var {
            SslVar::AlpnProtocol => self.alpn.clone(),
            SslVar::Ciphers => Some(self.offered.ciphers.clone()),
            SslVar::Curve => self.curve.clone(),
            SslVar::Curves => Some(self.offered.curves.clone()),
            // rustls is not configured to take 0-RTT data, so no request came in early.
            SslVar::EarlyData => None,
            SslVar::SessionId => self.session_id.clone(),
            _ => self.client_cert.as_deref().and_then(|der| match var {
                SslVar::ClientCert => Some(ct::pem_tabbed(der)),
                SslVar::ClientRawCert => Some(ct::pem(der)),
                SslVar::ClientEscapedCert => Some(ct::pem_escaped(der)),
                SslVar::ClientIDn => ct::dn(der, true),
                SslVar::ClientSDnLegacy => ct::dn_legacy(der, false),
                SslVar::ClientIDnLegacy => ct::dn_legacy(der, true),
                SslVar::ClientSerial => ct::serial(der),
                SslVar::ClientVStart => ct::validity(der, false).map(ct::openssl_time),
                SslVar::ClientVEnd => ct::validity(der, true).map(ct::openssl_time),
                SslVar::ClientVRemain => ct::validity(der, true).map(|end| {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs() as i64);
                    ((end - now).max(0) / 86_400).to_string()
                }),
                _ => None,
            }),
        };
        out.extend_from_slice(text.unwrap_or_default().as_bytes());
    }
}

/// Length of the session id anx keeps in a session's resumption data (32 bytes, printed
/// as 64 hex digits like OpenSSL's).
pub const SESSION_ID_LEN: usize = 32;

/// A fresh session id for a handshake, to be stored with `set_resumption_data` so a
/// resumed session prints the same `$ssl_session_id` (rustls has no session id of its
/// own to show for TLS 1.3 or tickets). `None` without randomness.
pub fn new_session_id() -> Option<[u8; SESSION_ID_LEN]> {
    let mut id = [0u8; SESSION_ID_LEN];
    aws_lc_rs::rand::fill(&mut id).ok()?;
    Some(id)
}

/// `$ssl_session_id` of a finished handshake: the id carried by a resumed session, else
/// the one this handshake stored (`ours`).
pub fn session_id(conn: &ServerConnection, ours: Option<&[u8]>) -> Option<String> {
    let id = conn
        .received_resumption_data()
        .filter(|d| d.len() == SESSION_ID_LEN)
        .or(ours)?;
    Some(id.iter().map(|b| format!("{b:02x}")).collect())
}

/// The subject of a certificate in RFC 2253 form (see [`super::certtext::dn`]).
pub fn subject_dn(der: &[u8]) -> Option<String> {
    super::certtext::dn(der, false)
}
