//! Verifiers that take what OpenSSL takes: webpki first, and [`super::chain`] for the
//! certificates and CRLs webpki cannot read (X.509 v1, version 1 CRLs) or, upstream, a
//! name only in the CN.
//!
//! Where it sits: `tls::acceptor` wraps its client-certificate verifier in
//! [`ClientCompat`]; `tls::upstream` calls [`server_fallback`] when webpki refuses an
//! upstream's certificate. Sans-io.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DistinguishedName, Error, OtherError};

use super::chain::{self, Check, Purpose};

/// A client verifier: webpki's answer unless webpki could not read the certificate (or
/// the CRLs, `own_only`), then OpenSSL's checks from [`chain::verify`].
#[derive(Debug)]
pub struct ClientCompat {
    /// webpki's verifier (`inner`, as the other wrappers name theirs, for
    /// `handshake_signatures!`).
    pub inner: Arc<dyn ClientCertVerifier>,
    /// The CRLs are ones webpki cannot read: every chain is checked here.
    pub own_only: bool,
    pub roots: Vec<CertificateDer<'static>>,
    pub crls: Vec<Vec<u8>>,
    pub depth: u32,
}

impl ClientCertVerifier for ClientCompat {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        if !self.own_only {
            match self
                .inner
                .verify_client_cert(end_entity, intermediates, now)
            {
                Err(e) if chain::unreadable(&e) => {}
                other => return other,
            }
        }
        let check = Check {
            roots: &self.roots,
            crls: &self.crls,
            depth: self.depth,
            purpose: Purpose::Client,
        };
        chain::verify(end_entity.as_ref(), intermediates, &check, now)
            .map(|()| ClientCertVerified::assertion())
            .map_err(failed)
    }
    handshake_signatures!(inner);
}

/// An OpenSSL verification failure as a rustls error (the text is OpenSSL's, so the
/// error log and `$ssl_client_verify` read as nginx's do).
fn failed(message: String) -> Error {
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Failed(
        message,
    )))))
}

#[derive(Debug)]
struct Failed(String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

/// Whether webpki's refusal of an upstream certificate is one OpenSSL would not make, so
/// the check is redone here: webpki could not read a certificate, or the name is not
/// among the subjectAltNames of a certificate that has none (OpenSSL then reads the CN).
pub fn server_retry(e: &Error) -> bool {
    chain::unreadable(e)
        || matches!(
            e,
            Error::InvalidCertificate(CertificateError::NotValidForName)
        )
        || matches!(
            e,
            Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })
        )
}

/// The upstream certificate checked as OpenSSL and nginx would: the chain to `roots`
/// within `depth`, then the name ([`chain::name_matches`]; an IP address must equal an
/// IP subjectAltName, which webpki has already checked for a readable certificate).
pub fn server_fallback(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    name: &ServerName<'_>,
    roots: &[CertificateDer<'static>],
    crls: &[Vec<u8>],
    depth: u32,
    now: UnixTime,
) -> Result<(), Error> {
    let check = Check {
        roots,
        crls,
        depth,
        purpose: Purpose::Server,
    };
    chain::verify(end_entity.as_ref(), intermediates, &check, now).map_err(failed)?;
    let ok = match name {
        ServerName::DnsName(d) => chain::name_matches(end_entity.as_ref(), d.as_ref()),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidCertificate(CertificateError::NotValidForName))
    }
}
