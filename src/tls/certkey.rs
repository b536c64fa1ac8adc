//! A certificate chain and its private key → the `CertifiedKey` rustls signs with, taking
//! every certificate OpenSSL would serve.
//!
//! Where it sits: `config::resolve::tls` calls [`certified_key`] at load time (a key that
//! does not match its certificate is a configuration error, as in nginx) and [`weaknesses`]
//! for the warnings; `tls::acceptor` and `tls::upstream` call [`certified_key`] again when a
//! generation starts. rustls's own `CertifiedKey::from_der` parses the leaf with webpki,
//! which refuses X.509 v1 certificates (`openssl req -x509` without extensions, `openssl
//! x509 -req`); rustls does not need to parse its own certificate to serve it, so anx
//! matches the key against the certificate's public key itself when webpki cannot.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::InconsistentKeys;
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry as oids;
use x509_parser::prelude::{FromDer, X509Version};
use x509_parser::public_key::PublicKey;

/// Why a chain and key cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The key is not the certificate's (nginx: "key values mismatch").
    Mismatch,
    /// The key cannot be used, or the certificate cannot be parsed at all.
    Unusable(String),
}

/// `chain` (leaf first) with `key`, checked to belong together.
pub fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: &PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, KeyError> {
    let signing = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| KeyError::Unusable(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(KeyError::Mismatch)
        }
        // webpki could not parse the leaf (a v1 certificate): compare the keys from
        // x509-parser's reading instead.
        Err(_) => {
            let leaf = certified
                .cert
                .first()
                .ok_or_else(|| KeyError::Unusable("no certificate".to_string()))?;
            let (_, parsed) = X509Certificate::from_der(leaf.as_ref())
                .map_err(|_| KeyError::Unusable("the certificate cannot be parsed".to_string()))?;
            match certified.key.public_key() {
                Some(spki) if spki.as_ref() == parsed.public_key().raw => Ok(certified),
                Some(_) => Err(KeyError::Mismatch),
                None => Ok(certified),
            }
        }
    }
}

/// What anx thinks weak about a certificate it serves or trusts, one phrase each (empty:
/// nothing). Such a certificate still loads, as in nginx; the load warns. `now` is Unix
/// seconds.
pub fn weaknesses(cert: &[u8], now: i64) -> Vec<String> {
    let Ok((_, parsed)) = X509Certificate::from_der(cert) else {
        return vec!["cannot be parsed".to_string()];
    };
    let mut out = Vec::new();
    if parsed.version() == X509Version::V1 {
        out.push("is X.509 v1 (no extensions, so no subjectAltName or CA flag)".to_string());
    }
    if let Ok(PublicKey::RSA(rsa)) = parsed.public_key().parsed() {
        let bits = rsa.key_size();
        if bits < 2048 {
            out.push(format!("has a {bits}-bit RSA key (under 2048 bits)"));
        }
    }
    let alg = &parsed.signature_algorithm.algorithm;
    let weak_hash = [
        (oids::OID_PKCS1_SHA1WITHRSA, "SHA-1"),
        (oids::OID_PKCS1_MD5WITHRSAENC, "MD5"),
        (oids::OID_PKCS1_MD2WITHRSAENC, "MD2"),
        (oids::OID_SHA1_WITH_RSA, "SHA-1"),
        (oids::OID_SIG_DSA_WITH_SHA1, "SHA-1"),
    ];
    if let Some((_, name)) = weak_hash.iter().find(|(oid, _)| oid == alg) {
        out.push(format!("is signed with {name}"));
    }
    let validity = parsed.validity();
    if validity.not_after.timestamp() < now {
        out.push(format!(
            "has expired (not valid after {})",
            validity.not_after
        ));
    } else if validity.not_before.timestamp() > now {
        out.push(format!(
            "is not valid yet (not before {})",
            validity.not_before
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_reported() {
        assert_eq!(weaknesses(b"not a certificate", 0), ["cannot be parsed"]);
    }
}
