//! Certificate checks for what webpki refuses but OpenSSL (and so nginx) accepts: X.509 v1
//! certificates (`openssl req -x509` without extensions, `openssl x509 -req`), version 1
//! CRLs (`openssl ca -gencrl` without `crl_extensions`), and a server name found only in
//! the subject's CN.
//!
//! Where it sits: the verifiers of `tls::acceptor` (client certificates) and
//! `tls::upstream` (`proxy_ssl_verify`) try webpki first and come here only when webpki
//! could not read a certificate or CRL; the handshake-signature methods of every verifier
//! (the `handshake_signatures!` macro) come here when webpki cannot read the peer's
//! certificate. The checks are OpenSSL's: a chain by issuer name and signature up to a
//! trusted certificate, validity times, CA flags of issuers, the extended key usage, the
//! depth limit, and, with CRLs, revocation of every certificate on the chain. Signatures
//! use the crypto provider anx serves with. Sans-io.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error};
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Version};
use x509_parser::revocation_list::CertificateRevocationList;

use super::ocsp::signed;

/// Whether a verifier error means webpki could not read the certificate (then the check
/// is redone here) rather than that the certificate failed a check.
pub fn unreadable(e: &Error) -> bool {
    matches!(
        e,
        Error::InvalidCertificate(CertificateError::BadEncoding | CertificateError::Other(_))
    )
}

/// The handshake signature over `message` by `cert`'s key, for a certificate webpki
/// cannot read (`tls13`: only the scheme's first algorithm, as rustls does).
pub fn handshake_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
    tls13: bool,
) -> Result<HandshakeSignatureValid, Error> {
    let bad = || Error::InvalidCertificate(CertificateError::BadSignature);
    let (_, parsed) = X509Certificate::from_der(cert.as_ref())
        .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let (key_alg, key) = spki_parts(parsed.public_key().raw).ok_or_else(bad)?;
    use rustls::SignatureScheme as S;
    let legacy = matches!(
        dss.scheme,
        S::RSA_PKCS1_SHA1
            | S::RSA_PKCS1_SHA256
            | S::RSA_PKCS1_SHA384
            | S::RSA_PKCS1_SHA512
            | S::ECDSA_SHA1_Legacy
    );
    if tls13 && legacy {
        return Err(bad());
    }
    let candidates = algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == dss.scheme)
        .map(|(_, algs)| *algs)
        .ok_or_else(bad)?;
    let candidates = if tls13 {
        &candidates[..candidates.len().min(1)]
    } else {
        candidates
    };
    for alg in candidates {
        if alg.public_key_alg_id().as_ref() == key_alg.as_slice() {
            return alg
                .verify_signature(&key, message, dss.signature())
                .map(|_| HandshakeSignatureValid::assertion())
                .map_err(|_| bad());
        }
    }
    Err(bad())
}

/// The AlgorithmIdentifier contents and the key bits of a SubjectPublicKeyInfo.
fn spki_parts(spki: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    use der::{Decode, Encode};
    let info = SubjectPublicKeyInfoOwned::from_der(spki).ok()?;
    let alg = info.algorithm.to_der().ok()?;
    let alg = der::asn1::AnyRef::from_der(&alg).ok()?.value().to_vec();
    Some((alg, info.subject_public_key.raw_bytes().to_vec()))
}

/// What the verified certificate is for (OpenSSL's purpose check of the extended key
/// usage, which passes when the extension is absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Client,
    Server,
    /// An OCSP responder's certificate: OpenSSL's `X509_PURPOSE_OCSP_HELPER` takes any
    /// extended key usage (whether it may sign for the issuer is the OCSP check's business).
    OcspSigner,
}

/// The settings a chain is checked with.
pub struct Check<'a> {
    /// Trusted certificates (`ssl_client_certificate` + `ssl_trusted_certificate`, or
    /// `proxy_ssl_trusted_certificate`).
    pub roots: &'a [CertificateDer<'static>],
    /// CRLs in DER; when any is given, every certificate on the chain must be covered by
    /// one of its issuer (OpenSSL's `X509_V_FLAG_CRL_CHECK_ALL`, which nginx sets).
    pub crls: &'a [Vec<u8>],
    /// nginx's verify depth: how many issuers above the leaf the chain may have.
    pub depth: u32,
    pub purpose: Purpose,
}

/// Checks `leaf` (with the peer's `intermediates`) the way OpenSSL would. Errors are
/// OpenSSL's words, for `$ssl_client_verify` and the error log.
pub fn verify(
    leaf: &[u8],
    intermediates: &[CertificateDer<'_>],
    check: &Check<'_>,
    now: UnixTime,
) -> Result<(), String> {
    let now = now.as_secs() as i64;
    let chain = path(leaf, intermediates, check.roots, check.depth)?;
    if chain.len() - 1 > check.depth as usize {
        return Err("certificate chain too long".to_string());
    }
    for (i, der) in chain.iter().enumerate() {
        let cert = parse(der)?;
        let v = cert.validity();
        if v.not_before.timestamp() > now {
            return Err("certificate is not yet valid".to_string());
        }
        if v.not_after.timestamp() < now {
            return Err("certificate has expired".to_string());
        }
        let is_issuer = i > 0;
        let self_signed = cert.subject().as_raw() == cert.issuer().as_raw();
        // An issuer must be a CA; a v1 certificate has no CA flag, and OpenSSL lets one
        // issue only when it is a self-signed (trusted) root.
        if is_issuer && !cert.is_ca() && !(cert.version() == X509Version::V1 && self_signed) {
            return Err("invalid CA certificate".to_string());
        }
        if i == 0 {
            purpose_ok(&cert, check.purpose)?;
        }
    }
    // nginx's verify callback lets OpenSSL go on after an error, so what it reports is the
    // last one: a revoked CA outranks its leaf's missing CRL.
    let mut last = Ok(());
    if !check.crls.is_empty() {
        for (i, der) in chain.iter().enumerate() {
            let issuer = chain.get(i + 1).copied().unwrap_or(der);
            if let Err(e) = revocation(der, issuer, check.crls, now) {
                last = Err(e);
            }
        }
    }
    last
}

/// The chain OpenSSL builds from `leaf`: issuers by name and signature, a trusted one as
/// soon as one signed, else one of `intermediates`, up to a trusted certificate (leaf
/// first, the trusted one last). Only the path: validity, CA flags and purpose are
/// [`verify`]'s. `depth` bounds the search (nginx's verify depth).
pub fn path<'a>(
    leaf: &'a [u8],
    intermediates: &'a [CertificateDer<'_>],
    roots: &'a [CertificateDer<'static>],
    depth: u32,
) -> Result<Vec<&'a [u8]>, String> {
    let mut chain: Vec<&[u8]> = vec![leaf];
    let limit = depth as usize + 1;
    loop {
        let current = *chain.last().ok_or("empty chain")?;
        let cert = parse(current)?;
        if chain.len() > limit + 1 {
            return Err("certificate chain too long".to_string());
        }
        let issuer_raw = cert.issuer().as_raw();
        let self_issued = cert.subject().as_raw() == issuer_raw;
        let signed_by = |der: &[u8]| -> bool {
            !chain.contains(&der)
                && X509Certificate::from_der(der).is_ok_and(|(_, c)| {
                    c.subject().as_raw() == issuer_raw && signature_ok(current, c.public_key().raw)
                })
        };
        let trusted_issuer = roots.iter().find(|r| signed_by(r.as_ref()));
        if roots.iter().any(|r| r.as_ref() == current) {
            // A trusted certificate ends the chain; OpenSSL still goes on to its own
            // trusted issuer when the store has it (CRLs are checked up to there).
            match trusted_issuer.filter(|_| !self_issued) {
                Some(root) => {
                    chain.push(root.as_ref());
                    continue;
                }
                None => break,
            }
        }
        if let Some(root) = trusted_issuer {
            chain.push(root.as_ref());
            continue;
        }
        let next = intermediates
            .iter()
            .map(|c| c.as_ref())
            .find(|c| signed_by(c));
        match next {
            Some(next) => chain.push(next),
            None if self_issued => return Err("self-signed certificate".to_string()),
            None => return Err("unable to get local issuer certificate".to_string()),
        }
    }
    Ok(chain)
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|_| "cannot parse certificate".to_string())
}

/// Whether `der` (a certificate or CRL) is signed by the key in `spki`.
fn signature_ok(der: &[u8], spki: &[u8]) -> bool {
    use der::Decode;
    let Ok(key) = SubjectPublicKeyInfoOwned::from_der(spki) else {
        return false;
    };
    signed::split(der).is_ok_and(|s| signed::verify(&s, &key).is_ok())
}

fn purpose_ok(cert: &X509Certificate<'_>, purpose: Purpose) -> Result<(), String> {
    let Ok(Some(eku)) = cert.extended_key_usage() else {
        return Ok(());
    };
    let eku = &eku.value;
    let ok = eku.any
        || match purpose {
            Purpose::Client => eku.client_auth,
            Purpose::Server => eku.server_auth,
            Purpose::OcspSigner => true,
        };
    if ok {
        Ok(())
    } else {
        Err("unsupported certificate purpose".to_string())
    }
}

/// OpenSSL's CRL check of one certificate: a CRL by its issuer, signed by the issuer's
/// key and current, must exist, and must not list the certificate.
fn revocation(der: &[u8], issuer: &[u8], crls: &[Vec<u8>], now: i64) -> Result<(), String> {
    let cert = parse(der)?;
    let issuer_cert = parse(issuer)?;
    let mut found = false;
    for crl_der in crls {
        let Ok((_, crl)) = CertificateRevocationList::from_der(crl_der) else {
            continue;
        };
        if crl.issuer().as_raw() != cert.issuer().as_raw()
            || !signature_ok(crl_der, issuer_cert.public_key().raw)
        {
            continue;
        }
        if crl.last_update().timestamp() > now {
            return Err("CRL is not yet valid".to_string());
        }
        if crl.next_update().is_some_and(|n| n.timestamp() < now) {
            return Err("CRL has expired".to_string());
        }
        found = true;
        if crl
            .iter_revoked_certificates()
            .any(|r| r.raw_serial() == cert.raw_serial())
        {
            return Err("certificate revoked".to_string());
        }
    }
    if found {
        Ok(())
    } else {
        Err("unable to get certificate CRL".to_string())
    }
}

/// OpenSSL's host check (`X509_check_host`, as nginx's `ngx_ssl_check_host` uses it): the
/// DNS names of the subjectAltName (a leading `*.` matches one label), or, only when the
/// certificate has no DNS name there, the subject's CN.
pub fn name_matches(cert: &[u8], name: &str) -> bool {
    let Ok((_, cert)) = X509Certificate::from_der(cert) else {
        return false;
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let dns: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|g| match g {
                GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if !dns.is_empty() {
        return dns.iter().any(|p| host_pattern(p, &name));
    }
    let by_cn = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .any(|cn| host_pattern(&cn.to_ascii_lowercase(), &name));
    by_cn
}

fn host_pattern(pattern: &str, name: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(rest) => name
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        assert!(host_pattern("example.com", "example.com"));
        assert!(host_pattern("*.example.com", "foo.example.com"));
        assert!(!host_pattern("*.example.com", "example.com"));
        assert!(!host_pattern("*.example.com", "a.b.example.com"));
    }

    #[test]
    fn garbage_is_unreadable() {
        assert!(!name_matches(b"junk", "example.com"));
        let check = Check {
            roots: &[],
            crls: &[],
            depth: 1,
            purpose: Purpose::Client,
        };
        assert!(verify(b"junk", &[], &check, UnixTime::now()).is_err());
    }
}
