//! TLS to upstreams, the sans-io part: one location's `proxy_ssl_*` settings → a
//! `rustls::ClientConfig`.
//!
//! `serve::upstreams` builds one per shard and location the first time that location
//! proxies over `https://`, so each shard has its own session cache (no lock shared between
//! shards) and the handshake on `net::upstream` only looks the config up.

use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, RootCertStore};

use crate::config::model::{CertificateVars, ProxySsl, TlsVersion};

/// Sessions each shard remembers per location for `proxy_ssl_session_reuse` (one per
/// upstream name is what matters; a few hundred covers large groups).
const SESSION_CACHE_SIZE: usize = 256;

/// The client config for `ssl`. Fails only on settings rustls refuses (a client key it
/// cannot use, a CA file with no usable certificate), which the caller reports as the
/// attempt's error.
pub fn client_config(ssl: &ProxySsl) -> Result<Arc<ClientConfig>, rustls::Error> {
    let pair = ssl
        .certificate
        .as_ref()
        .map(|p| (p.chain.data.as_ref().clone(), p.key.data.as_ref()));
    with_certificate(ssl, pair)
}

/// The client config for `ssl` with the certificate a request's `proxy_ssl_certificate`
/// with variables named (`cert`, `key` evaluated; an empty `cert` means none, as nginx).
/// The files are read here; the error is nginx's words for a file that does not load.
pub fn client_config_for(
    ssl: &ProxySsl,
    vars: &CertificateVars,
    cert: &str,
    key: &str,
) -> Result<Arc<ClientConfig>, String> {
    if cert.is_empty() {
        return with_certificate(ssl, None).map_err(|e| e.to_string());
    }
    let cert_path = vars.base_dir.join(cert);
    let chain = super::pemfile::read_certs(&cert_path)
        .map_err(|e| format!("cannot load certificate \"{}\": {e}", cert_path.display()))?;
    let key_path = vars.base_dir.join(key);
    let passwords = vars
        .password_file
        .as_ref()
        .map(|f| super::keyfile::passwords(&f.data))
        .unwrap_or_default();
    let key = super::pemfile::read_key(&key_path, &passwords, "proxy_ssl").map_err(|e| {
        format!(
            "cannot load certificate key \"{}\": {e}",
            key_path.display()
        )
    })?;
    with_certificate(ssl, Some((chain, &key))).map_err(|e| e.to_string())
}

fn with_certificate(
    ssl: &ProxySsl,
    certificate: Option<(Vec<CertificateDer<'static>>, &PrivateKeyDer<'static>)>,
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(super::provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = ssl
        .protocols
        .iter()
        .map(|v| match v {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        })
        .collect();
    let verifier: Arc<dyn ServerCertVerifier> = if ssl.verify {
        let mut roots = RootCertStore::empty();
        let trusted: Vec<CertificateDer<'static>> = ssl
            .trusted_certificate
            .as_ref()
            .map(|f| f.data.as_ref().clone())
            .unwrap_or_default();
        let (added, _ignored) = roots.add_parsable_certificates(trusted.iter().cloned());
        if added == 0 {
            return Err(rustls::Error::General(
                "proxy_ssl_trusted_certificate holds no usable CA certificate".to_string(),
            ));
        }
        let roots = Arc::new(roots);
        let build = |crls: bool| {
            let mut b =
                WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone());
            if let Some(crl) = ssl.crl.as_ref().filter(|_| crls) {
                b = b.with_crls(crl.data.iter().cloned());
            }
            b.build()
        };
        // CRLs webpki cannot read (version 1) move every check to `chain` (see compat).
        let (webpki, own_only) = match build(true) {
            Ok(v) => (v, false),
            Err(rustls::client::VerifierBuilderError::InvalidCrl(_)) => (
                build(false).map_err(|e| rustls::Error::General(e.to_string()))?,
                true,
            ),
            Err(e) => return Err(rustls::Error::General(e.to_string())),
        };
        let crls = ssl
            .crl
            .iter()
            .flat_map(|f| f.data.iter().map(|c| c.as_ref().to_vec()))
            .collect();
        Arc::new(Depth {
            inner: webpki,
            depth: ssl.verify_depth,
            trusted,
            crls,
            own_only,
        })
    } else {
        Arc::new(AnyCertificate {
            provider: provider.clone(),
        })
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match certificate {
        Some((chain, key)) => {
            let key = super::certkey::certified_key(chain, key, &super::provider())
                .map_err(|e| rustls::Error::General(format!("proxy_ssl_certificate: {e:?}")))?;
            builder.with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(key)))
        }
        None => builder.with_no_client_auth(),
    };
    // nginx sends no SNI unless asked (`proxy_ssl_server_name on`); rustls never sends it
    // for an IP address either way.
    config.enable_sni = ssl.server_name;
    config.resumption = if ssl.session_reuse {
        Resumption::in_memory_sessions(SESSION_CACHE_SIZE)
    } else {
        Resumption::disabled()
    };
    Ok(Arc::new(config))
}

/// `proxy_ssl_verify on`: webpki's checks (chain to a trusted CA, name, validity), plus
/// `proxy_ssl_verify_depth`, which webpki has no notion of.
#[derive(Debug)]
struct Depth {
    inner: Arc<WebPkiServerVerifier>,
    depth: u32,
    /// The trusted CAs, so a server that sends its root along is not counted a level
    /// deeper than the chain OpenSSL would build.
    trusted: Vec<CertificateDer<'static>>,
    /// `proxy_ssl_crl` in DER, for the checks made by `compat`.
    crls: Vec<Vec<u8>>,
    /// The CRLs are ones webpki cannot read: every chain is checked by `compat`.
    own_only: bool,
}

impl ServerCertVerifier for Depth {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = match self.own_only {
            true => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadEncoding,
            )),
            false => self.inner.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
        };
        let verified = match verified {
            // What OpenSSL takes and webpki does not (a v1 certificate, a name in the CN
            // only) is checked as OpenSSL would, depth included.
            Err(e) if super::compat::server_retry(&e) => {
                super::compat::server_fallback(
                    end_entity,
                    intermediates,
                    server_name,
                    &self.trusted,
                    &self.crls,
                    self.depth,
                    now,
                )?;
                return Ok(ServerCertVerified::assertion());
            }
            other => other?,
        };
        // OpenSSL's depth counts the CAs above the leaf, the trusted one included: depth 1
        // is a leaf signed by a trusted CA, each intermediate adds one.
        let between = intermediates
            .iter()
            .filter(|c| !self.trusted.iter().any(|t| t.as_ref() == c.as_ref()))
            .count();
        if between as u64 + 1 > u64::from(self.depth) {
            return Err(rustls::Error::General(format!(
                "certificate chain too long ({} intermediates, proxy_ssl_verify_depth {})",
                between, self.depth
            )));
        }
        Ok(verified)
    }

    handshake_signatures!(inner);
}

/// `proxy_ssl_verify off` (nginx's default): any certificate is taken, but the handshake
/// signature is still checked against it, so the session is at least bound to the key of
/// the certificate shown.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures!(provider);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_build() {
        let config = client_config(&ProxySsl::default()).expect("config");
        assert!(!config.enable_sni);
    }

    #[test]
    fn verify_without_roots_fails() {
        let ssl = ProxySsl {
            verify: true,
            ..ProxySsl::default()
        };
        assert!(client_config(&ssl).is_err());
    }
}
