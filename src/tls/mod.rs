//! HTTPS with rustls, the sans-io part: everything the connection side needs to accept TLS,
//! built from one configuration generation.
//!
//! Where it sits: `config::resolve` loads certificates and maps `ssl_*` names (with
//! [`names`]); when a generation starts, [`acceptor::TlsListeners::build`] turns the model
//! into one `rustls::ServerConfig` per TLS listener and settings group, with the SNI
//! certificate resolver, ALPN, protocols, suites, groups, client verification, OCSP staples
//! and the session ticketer shared by all shards ([`ticket`]). The connection loop
//! (`serve/`, with futures-rustls on glommio streams) drives the handshake and builds a
//! [`info::TlsInfo`] for the `$ssl_*` variables; the pipeline's server selection asks
//! [`acceptor::host_allowed`] whether a request's Host may be served on that handshake
//! (the 421 rule), for any protocol. For
//! `proxy_pass https://`, [`upstream`] builds the client side. [`ocsp`] plans and checks
//! fetched OCSP staples; the fetching thread is `runtime::ocsp`. Nothing here does I/O or
//! knows glommio.

/// The three handshake-signature methods rustls's verifier traits (`ServerCertVerifier`,
/// `ClientCertVerifier`) require, for a verifier that only changes the certificate check:
/// `inner` passes them on to the wrapped webpki verifier in `self.inner`; `provider` checks
/// them with the algorithms of `self.provider` (the verifiers that accept any certificate
/// still make the peer prove it holds the certificate's key). Either way a certificate
/// webpki cannot read (X.509 v1) has its signature checked by [`chain`] instead.
macro_rules! handshake_signatures {
    (inner) => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            match self.inner.verify_tls12_signature(message, cert, dss) {
                Err(e) if $crate::tls::chain::unreadable(&e) => {
                    $crate::tls::chain::handshake_signature(
                        message,
                        cert,
                        dss,
                        &$crate::tls::provider().signature_verification_algorithms,
                        false,
                    )
                }
                other => other,
            }
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            match self.inner.verify_tls13_signature(message, cert, dss) {
                Err(e) if $crate::tls::chain::unreadable(&e) => {
                    $crate::tls::chain::handshake_signature(
                        message,
                        cert,
                        dss,
                        &$crate::tls::provider().signature_verification_algorithms,
                        true,
                    )
                }
                other => other,
            }
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.inner.supported_verify_schemes()
        }
    };
    (provider) => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            let algorithms = &self.provider.signature_verification_algorithms;
            match rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms) {
                Err(e) if $crate::tls::chain::unreadable(&e) => {
                    $crate::tls::chain::handshake_signature(message, cert, dss, algorithms, false)
                }
                other => other,
            }
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            let algorithms = &self.provider.signature_verification_algorithms;
            match rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms) {
                Err(e) if $crate::tls::chain::unreadable(&e) => {
                    $crate::tls::chain::handshake_signature(message, cert, dss, algorithms, true)
                }
                other => other,
            }
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}

pub mod acceptor;
pub mod certkey;
pub mod certtext;
pub mod chain;
pub mod compat;
pub mod info;
pub mod keyfile;
pub mod names;
pub mod ocsp;
pub mod pemfile;
pub mod ticket;
pub mod upstream;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

// The provider is chosen at build time: aws-lc-rs by default, ring with `--features ring`
// (perf/results/2026-12-01-tls.md compares them). Session-ticket sealing (`ticket`) and the
// certificate fingerprint (`info`) call aws-lc-rs directly either way; they are not on the
// handshake's path.
#[cfg(not(feature = "ring"))]
use rustls::crypto::aws_lc_rs as chosen;
#[cfg(feature = "ring")]
use rustls::crypto::ring as chosen;

/// The name of the provider built in, for `anx -V` and the benchmark's notes.
pub const PROVIDER_NAME: &str = if cfg!(feature = "ring") {
    "ring"
} else {
    "aws-lc-rs"
};

/// The crypto provider every TLS object of anx uses: aws-lc-rs (rustls's default and, on
/// this machine, the faster one for handshakes) unless built with the `ring` feature.
pub fn provider() -> CryptoProvider {
    chosen::default_provider()
}

/// [`provider`] with every suite and group it has (the configuration picks among them).
/// ring has no post-quantum hybrid group, so `X25519MLKEM768` is only there with aws-lc-rs.
pub fn full_provider() -> Arc<CryptoProvider> {
    let mut p = provider();
    p.cipher_suites = chosen::ALL_CIPHER_SUITES.to_vec();
    p.kx_groups = chosen::ALL_KX_GROUPS.to_vec();
    Arc::new(p)
}

pub use acceptor::{host_allowed, TlsListener, TlsListeners};
pub use info::{ClientVerify, TlsInfo};

#[cfg(test)]
pub(crate) mod tests;
