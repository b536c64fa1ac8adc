//! What a finished handshake tells the request path: the `$ssl_*` variables.
//!
//! The connection side builds one [`TlsInfo`] per connection right after the handshake
//! (`TlsInfo::from_connection`, or `TlsListener::info` which also fills
//! `$ssl_client_verify` for `ssl_verify_client optional_no_ca`) and hands it to every
//! request through `phases::state::ConnInfo::tls`; `phases::vars` prints from it. Sans-io.

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
    /// The client certificate's DER (for variables added later, such as `$ssl_client_cert`).
    pub client_cert: Option<Vec<u8>>,
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

/// The subject of a certificate in RFC 2253 form: the last RDN first, `,` between them,
/// `+` inside a multi-valued one, special characters escaped with `\`.
pub fn subject_dn(der: &[u8]) -> Option<String> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    let registry = x509_parser::objects::oid_registry();
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter_rdn() {
        let mut parts = Vec::new();
        for attr in rdn.iter() {
            let oid = attr.attr_type();
            let name = x509_parser::objects::oid2abbrev(oid, registry)
                .map(str::to_string)
                .unwrap_or_else(|_| oid.to_id_string());
            let value = attr.as_str().map(escape_dn).unwrap_or_else(|_| {
                // Not a string type: RFC 2253's `#` + hex of the DER value.
                let mut hex = String::from("#");
                for b in attr.attr_value().data.iter() {
                    hex.push_str(&format!("{b:02x}"));
                }
                hex
            });
            parts.push(format!("{name}={value}"));
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

fn escape_dn(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == value.len() && c == ' ');
        if edge || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
