//! A client certificate printed the ways nginx's `$ssl_client_*` variables print it: PEM
//! (raw, tab-continued, URL-escaped), distinguished names (RFC 2253 and OpenSSL's legacy
//! `/CN=…` one-line form), serial, and validity times in OpenSSL's `ASN1_TIME_print` form.
//!
//! Sans-io; `tls::info` calls these when a variable is printed, from the DER the handshake
//! kept, so a connection that never prints one never parses the certificate again.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

/// Standard base64 (with `=` padding) of `data`.
pub fn base64(data: &[u8]) -> String {
    String::from_utf8_lossy(&base64_bytes(data)).into_owned()
}

/// The certificate as PEM, 64 characters a line, ending in a newline
/// (`$ssl_client_raw_cert`).
pub fn pem(der: &[u8]) -> String {
    let b64 = base64_bytes(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn base64_bytes(der: &[u8]) -> Vec<u8> {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = Vec::with_capacity(der.len().div_ceil(3) * 4);
    for chunk in der.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                b64.push(B64[((v >> (18 - 6 * i)) & 63) as usize]);
            } else {
                b64.push(b'=');
            }
        }
    }
    b64
}

/// `$ssl_client_cert`: the PEM without its last newline, every other line break followed
/// by a tab (the form that once fit in a header line).
pub fn pem_tabbed(der: &[u8]) -> String {
    let raw = pem(der);
    raw.trim_end_matches('\n').replace('\n', "\n\t")
}

/// `$ssl_client_escaped_cert`: the PEM with everything but URI-unreserved characters
/// percent-encoded (nginx's `NGX_ESCAPE_URI_COMPONENT`).
pub fn pem_escaped(der: &[u8]) -> String {
    let mut out = String::new();
    for b in pem(der).bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!'()*".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn parse(der: &[u8]) -> Option<X509Certificate<'_>> {
    X509Certificate::from_der(der).ok().map(|(_, c)| c)
}

/// The subject (`issuer == false`) or issuer in RFC 2253 form: the last RDN first, `,`
/// between them, `+` inside a multi-valued one, special characters escaped with `\`.
pub fn dn(der: &[u8], issuer: bool) -> Option<String> {
    let cert = parse(der)?;
    let name = if issuer {
        cert.issuer()
    } else {
        cert.subject()
    };
    let mut rdns = rdns(name, escape_dn, "+");
    rdns.reverse();
    Some(rdns.join(","))
}

/// The subject or issuer in OpenSSL's legacy one-line form (`/C=US/CN=example`), RDNs in
/// their encoded order (`$ssl_client_s_dn_legacy`).
pub fn dn_legacy(der: &[u8], issuer: bool) -> Option<String> {
    let cert = parse(der)?;
    let name = if issuer {
        cert.issuer()
    } else {
        cert.subject()
    };
    Some(
        rdns(name, |v| v.to_string(), "/")
            .iter()
            .map(|r| format!("/{r}"))
            .collect(),
    )
}

fn rdns(name: &X509Name<'_>, escape: fn(&str) -> String, join: &str) -> Vec<String> {
    let registry = x509_parser::objects::oid_registry();
    let mut out = Vec::new();
    for rdn in name.iter_rdn() {
        let mut parts = Vec::new();
        for attr in rdn.iter() {
            let oid = attr.attr_type();
            let short = x509_parser::objects::oid2abbrev(oid, registry)
                .map(str::to_string)
                .unwrap_or_else(|_| oid.to_id_string());
            let value = attr.as_str().map(escape).unwrap_or_else(|_| {
                // Not a string type: RFC 2253's `#` + hex of the DER value.
                let mut hex = String::from("#");
                for b in attr.attr_value().data.iter() {
                    hex.push_str(&format!("{b:02x}"));
                }
                hex
            });
            parts.push(format!("{short}={value}"));
        }
        out.push(parts.join(join));
    }
    out
}

fn escape_dn(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let count = value.chars().count();
    for (i, c) in value.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == count && c == ' ');
        if edge || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `$ssl_client_serial`: the serial number in uppercase hex, without leading zero bytes.
pub fn serial(der: &[u8]) -> Option<String> {
    let cert = parse(der)?;
    let raw = cert.raw_serial();
    let start = raw
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    Some(raw[start..].iter().map(|b| format!("{b:02X}")).collect())
}

/// Not-before (`end == false`) or not-after as Unix seconds.
pub fn validity(der: &[u8], end: bool) -> Option<i64> {
    let cert = parse(der)?;
    let v = cert.validity();
    Some(if end { v.not_after } else { v.not_before }.timestamp())
}

/// OpenSSL's `ASN1_TIME_print` form: `Dec  7 23:00:00 2026 GMT`.
pub fn openssl_time(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = crate::http::date::civil_from_days(days);
    format!(
        "{} {:2} {:02}:{:02}:{:02} {} GMT",
        MONTHS[(m - 1) as usize],
        d,
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        y
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_openssl_does() {
        assert_eq!(openssl_time(0), "Jan  1 00:00:00 1970 GMT");
        assert_eq!(openssl_time(1_796_684_400), "Dec  7 23:00:00 2026 GMT");
        assert_eq!(openssl_time(951_782_400), "Feb 29 00:00:00 2000 GMT");
    }

    #[test]
    fn pem_lines_and_escapes() {
        let der: Vec<u8> = (0..100u8).collect();
        let p = pem(&der);
        assert!(p.starts_with("-----BEGIN CERTIFICATE-----\nAAECAwQF"));
        assert!(p.ends_with("=\n-----END CERTIFICATE-----\n"));
        assert!(p.lines().all(|l| l.len() <= 64));
        let tabbed = pem_tabbed(&der);
        assert!(tabbed.contains("\n\t-----END CERTIFICATE-----"));
        assert!(!tabbed.ends_with('\n'));
        let escaped = pem_escaped(&der);
        assert!(escaped.starts_with("-----BEGIN%20CERTIFICATE-----%0A"));
        assert!(!escaped.contains('/') && !escaped.contains('+') && !escaped.contains('='));
    }
}
