//! The PROXY protocol (HAProxy's v1 text line and v2 binary header) that a load balancer
//! puts in front of a connection to a `listen … proxy_protocol` address.
//!
//! Sans-io: [`parse`] looks at the first bytes of a connection and says how long the header
//! is and what it carries; [`read`] is the one async step (on the shard, before TLS and
//! HTTP) that feeds it. The result is kept per connection ([`ProxyHeader`]) and read by the
//! `$proxy_protocol_*` variables and by realip; a listener without `proxy_protocol` never
//! comes here. Rules follow nginx's `ngx_proxy_protocol.c`: a v1 line is at most 107 bytes
//! and its addresses are kept as written; a v2 header (TLVs included) at most 4096 bytes;
//! `UNKNOWN` (v1) and `LOCAL`, non-stream or non-IP (v2) headers are skipped and the
//! connection is then taken as direct. Unlike nginx, a header split across TCP segments is
//! waited for (within the timeout) rather than refused.

pub mod read;

use std::net::{Ipv4Addr, Ipv6Addr};

pub use read::read;

/// The v2 signature: `\r\n\r\n\0\r\nQUIT\n`.
const SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Longest v1 line, CRLF included (nginx's NGX_PROXY_PROTOCOL_V1_MAX_HEADER).
pub const V1_MAX: usize = 107;
/// Longest v2 header, TLVs included (nginx's NGX_PROXY_PROTOCOL_MAX_HEADER).
pub const MAX_HEADER: usize = 4096;

/// What the header says of the connection the proxy accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHeader {
    /// `$proxy_protocol_addr`: the client's address as text (v1: as written).
    pub src_addr: String,
    /// `$proxy_protocol_port`.
    pub src_port: u16,
    /// `$proxy_protocol_server_addr`: the address the client connected to.
    pub dst_addr: String,
    /// `$proxy_protocol_server_port`.
    pub dst_port: u16,
    /// v2 type-length-value fields, raw (looked up by [`ProxyHeader::tlv`]).
    pub tlvs: Box<[u8]>,
}

/// What the first bytes of a connection are.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A valid beginning; more bytes are needed.
    Incomplete,
    /// A header of `len` bytes; `None` when it names no addresses to use (v1 `UNKNOWN`,
    /// v2 `LOCAL` or an address family other than IPv4/IPv6).
    Done {
        len: usize,
        header: Option<ProxyHeader>,
    },
    /// Not a PROXY header: the connection is closed with this error-log line.
    Broken(String),
}

/// Reads a PROXY header from the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    let sig = buf.len().min(SIGNATURE.len());
    if sig > 0 && buf[..sig] == SIGNATURE[..sig] {
        return if buf.len() < 16 {
            Parsed::Incomplete
        } else {
            v2(buf)
        };
    }
    v1(buf)
}

/// nginx's message for a v1 line it cannot read: the bytes up to the first CR or LF.
fn broken(buf: &[u8]) -> Parsed {
    let end = buf
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buf.len());
    Parsed::Broken(format!(
        "broken header: \"{}\"",
        String::from_utf8_lossy(&buf[..end.min(V1_MAX)])
    ))
}

fn v1(buf: &[u8]) -> Parsed {
    const START: &[u8] = b"PROXY ";
    let n = buf.len().min(START.len());
    if buf[..n] != START[..n] {
        return broken(buf);
    }
    let Some(lf) = buf.iter().take(V1_MAX).position(|&b| b == b'\n') else {
        return if buf.len() < V1_MAX {
            Parsed::Incomplete
        } else {
            broken(buf)
        };
    };
    let line = &buf[..=lf];
    match v1_line(line) {
        Some(header) => Parsed::Done {
            len: line.len(),
            header,
        },
        None => broken(line),
    }
}

/// One complete v1 line (LF included): `Some(None)` for UNKNOWN.
fn v1_line(line: &[u8]) -> Option<Option<ProxyHeader>> {
    let rest = line.strip_prefix(b"PROXY ")?;
    if rest.starts_with(b"UNKNOWN") {
        // nginx skips whatever follows UNKNOWN up to CRLF.
        return line.ends_with(b"\r\n").then_some(None);
    }
    let rest = rest
        .strip_prefix(b"TCP4 ")
        .or_else(|| rest.strip_prefix(b"TCP6 "))?;
    let rest = rest.strip_suffix(b"\r\n")?;
    let mut fields = rest.split(|&b| b == b' ');
    let address = |f: Option<&[u8]>| {
        let f = f?;
        f.iter()
            .all(|b| b.is_ascii_hexdigit() || *b == b':' || *b == b'.')
            .then(|| String::from_utf8_lossy(f).into_owned())
    };
    let port = |f: Option<&[u8]>| {
        let f = f?;
        if f.is_empty() || !f.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(f).ok()?.parse::<u16>().ok()
    };
    let src_addr = address(fields.next())?;
    let dst_addr = address(fields.next())?;
    let src_port = port(fields.next())?;
    let dst_port = port(fields.next())?;
    if fields.next().is_some() {
        return None;
    }
    Some(Some(ProxyHeader {
        src_addr,
        src_port,
        dst_addr,
        dst_port,
        tlvs: Box::default(),
    }))
}

fn v2(buf: &[u8]) -> Parsed {
    let version = buf[12] >> 4;
    if version != 2 {
        return Parsed::Broken(format!("unknown PROXY protocol version: {version}"));
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let total = 16 + len;
    if total > MAX_HEADER {
        return Parsed::Broken("header is too large".to_string());
    }
    if buf.len() < total {
        return Parsed::Incomplete;
    }
    let body = &buf[16..total];
    let skip = Parsed::Done {
        len: total,
        header: None,
    };
    // Only PROXY over a stream transport names addresses to use.
    if buf[12] & 0x0f != 1 || buf[13] & 0x0f != 1 {
        return skip;
    }
    let (src, dst, ports, rest) = match buf[13] >> 4 {
        1 if body.len() >= 12 => {
            let ip = |at: usize| Ipv4Addr::new(body[at], body[at + 1], body[at + 2], body[at + 3]);
            (
                ip(0).to_string(),
                ip(4).to_string(),
                &body[8..12],
                &body[12..],
            )
        }
        2 if body.len() >= 36 => {
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&body[at..at + 16]);
                Ipv6Addr::from(octets)
            };
            (
                ip(0).to_string(),
                ip(16).to_string(),
                &body[32..36],
                &body[36..],
            )
        }
        1 | 2 => return Parsed::Broken("PROXY protocol v2 addresses are truncated".to_string()),
        _ => return skip,
    };
    Parsed::Done {
        len: total,
        header: Some(ProxyHeader {
            src_addr: src,
            src_port: u16::from_be_bytes([ports[0], ports[1]]),
            dst_addr: dst,
            dst_port: u16::from_be_bytes([ports[2], ports[3]]),
            tlvs: rest.into(),
        }),
    }
}

/// Which TLV a `$proxy_protocol_tlv_NAME` variable names (resolved at load time).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TlvName {
    /// A TLV by type: top-level, or (`ssl`) inside the SSL TLV (0x20).
    Type { ssl: bool, code: u32 },
    /// `ssl_verify`: the SSL TLV's verify field, in decimal.
    SslVerify,
    /// A name nginx does not know, or a bad `0x` number: an error when read, as in nginx.
    Unknown(String),
}

const TOP_NAMES: [(&str, u32); 5] = [
    ("alpn", 0x01),
    ("authority", 0x02),
    ("unique_id", 0x05),
    ("ssl", 0x20),
    ("netns", 0x30),
];
const SSL_NAMES: [(&str, u32); 5] = [
    ("version", 0x21),
    ("cn", 0x22),
    ("cipher", 0x23),
    ("sig_alg", 0x24),
    ("key_alg", 0x25),
];
const TLV_SSL: u32 = 0x20;

impl TlvName {
    /// The part of the variable name after `proxy_protocol_tlv_`.
    pub fn parse(name: &str) -> TlvName {
        let (ssl, rest) = match name.strip_prefix("ssl_") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        if ssl && rest == "verify" {
            return TlvName::SslVerify;
        }
        if let Some(hex) = rest.strip_prefix("0x") {
            return match u32::from_str_radix(hex, 16) {
                Ok(code) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    TlvName::Type { ssl, code }
                }
                _ => TlvName::Unknown(name.to_string()),
            };
        }
        let table: &[(&str, u32)] = if ssl { &SSL_NAMES } else { &TOP_NAMES };
        match table.iter().find(|(n, _)| *n == rest) {
            Some(&(_, code)) => TlvName::Type { ssl, code },
            None => TlvName::Unknown(name.to_string()),
        }
    }
}

/// Why a TLV could not be read (nginx logs these at error level).
#[derive(Debug, PartialEq, Eq)]
pub enum TlvError {
    Broken,
    Unknown(String),
}

impl std::fmt::Display for TlvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlvError::Broken => f.write_str("broken PROXY protocol TLV"),
            TlvError::Unknown(n) => write!(f, "unknown PROXY protocol TLV \"{n}\""),
        }
    }
}

/// The first TLV of `code` in `tlvs`.
fn lookup(tlvs: &[u8], code: u32) -> Result<Option<&[u8]>, TlvError> {
    let mut rest = tlvs;
    while !rest.is_empty() {
        if rest.len() < 3 {
            return Err(TlvError::Broken);
        }
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        let value = rest.get(3..3 + len).ok_or(TlvError::Broken)?;
        if u32::from(rest[0]) == code {
            return Ok(Some(value));
        }
        rest = &rest[3 + len..];
    }
    Ok(None)
}

impl ProxyHeader {
    /// Appends the value of TLV `name` to `out`; `Ok(false)` when the header has none.
    pub fn tlv(&self, name: &TlvName, out: &mut Vec<u8>) -> Result<bool, TlvError> {
        let found =
            |v: Option<&[u8]>, out: &mut Vec<u8>| v.map(|v| out.extend_from_slice(v)).is_some();
        let sub = match name {
            TlvName::Unknown(n) => return Err(TlvError::Unknown(n.clone())),
            TlvName::Type { ssl: false, code } => {
                return Ok(found(lookup(&self.tlvs, *code)?, out))
            }
            TlvName::Type { ssl: true, code } => Some(*code),
            TlvName::SslVerify => None,
        };
        // The SSL TLV: client (1 byte), verify (4 bytes), then its sub-TLVs.
        let Some(ssl) = lookup(&self.tlvs, TLV_SSL)? else {
            return Ok(false);
        };
        if ssl.len() < 5 {
            return Err(TlvError::Broken);
        }
        match sub {
            Some(code) => Ok(found(lookup(&ssl[5..], code)?, out)),
            None => {
                let verify = u32::from_be_bytes([ssl[1], ssl[2], ssl[3], ssl[4]]);
                out.extend_from_slice(itoa::Buffer::new().format(verify).as_bytes());
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests;
