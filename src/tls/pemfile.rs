//! Certificate and key PEM files → DER: what `config::resolve` reads at load time, and what
//! `serve::upstreams` reads on first use of a `proxy_ssl_certificate` whose path has
//! variables (the only TLS files read after a configuration loaded).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Every certificate in a PEM file, in order (leaf first for a chain).
pub fn read_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = crate::config::files::read(path).map_err(|e| e.to_string())?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate found (expected PEM \"BEGIN CERTIFICATE\")".to_string());
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC; encrypted PKCS#8 with
/// one of `passwords`, the lines of `{prefix}_password_file`).
pub fn read_key(
    path: &std::path::Path,
    passwords: &[Vec<u8>],
    prefix: &str,
) -> Result<PrivateKeyDer<'static>, String> {
    use super::keyfile;
    let bytes = crate::config::files::read(path).map_err(|e| e.to_string())?;
    if let Some(encrypted) = keyfile::pem_section(&bytes, "ENCRYPTED PRIVATE KEY") {
        if passwords.is_empty() {
            return Err(format!(
                "the key is encrypted and no \"{prefix}_password_file\" is set"
            ));
        }
        let mut last = String::new();
        for password in passwords {
            match keyfile::decrypt(&encrypted, password) {
                Ok(der) => return Ok(PrivateKeyDer::Pkcs8(der.into())),
                Err(e) => last = e,
            }
        }
        return Err(format!(
            "no pass phrase of \"{prefix}_password_file\" decrypts it ({last})"
        ));
    }
    if keyfile::is_traditional_encrypted(&bytes) {
        return Err(
            "the key is in the traditional encrypted PEM form (Proc-Type: 4,ENCRYPTED), \
             which anx does not read; convert it with `openssl pkcs8 -topk8`"
                .to_string(),
        );
    }
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            "no private key found (expected PEM \"BEGIN PRIVATE KEY\")".to_string()
        }
        other => format!("bad PEM: {other}"),
    })
}
