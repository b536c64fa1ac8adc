//! HTTPS with rustls, the sans-io part: everything the connection side needs to accept TLS,
//! built from one configuration generation.
//!
//! Where it sits: `config::resolve` loads certificates and maps `ssl_*` names (with
//! [`names`]); when a generation starts, [`acceptor::TlsListeners::build`] turns the model
//! into one `rustls::ServerConfig` per TLS listener and settings group, with the SNI
//! certificate resolver, ALPN, protocols, suites, groups, client verification, OCSP staples
//! and the session ticketer shared by all shards ([`ticket`]). The connection loop
//! (`serve/`, with futures-rustls on glommio streams) drives the handshake, then asks
//! [`acceptor::host_allowed`] whether a request's Host may be served on that handshake
//! (the 421 rule) and builds a [`info::TlsInfo`] for the `$ssl_*` variables. For
//! `proxy_pass https://`, [`upstream`] builds the client side. [`ocsp`] plans and checks
//! fetched OCSP staples; the fetching thread is `runtime::ocsp`. Nothing here does I/O or
//! knows glommio.

pub mod acceptor;
pub mod info;
pub mod names;
pub mod ocsp;
pub mod ticket;
pub mod upstream;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// The crypto provider every TLS object of anx uses: aws-lc-rs, rustls's default and its
/// fastest for handshakes (it builds here with only a C compiler).
pub fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// [`provider`] with every suite and group it has (the configuration picks among them).
pub fn full_provider() -> Arc<CryptoProvider> {
    let mut p = provider();
    p.cipher_suites = rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES.to_vec();
    p.kx_groups = rustls::crypto::aws_lc_rs::ALL_KX_GROUPS.to_vec();
    Arc::new(p)
}

pub use acceptor::{host_allowed, TlsListener, TlsListeners};
pub use info::{ClientVerify, TlsInfo};

#[cfg(test)]
mod tests;
