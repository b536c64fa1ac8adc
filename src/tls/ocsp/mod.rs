//! OCSP stapling fetched from the responder (`ssl_stapling on` without
//! `ssl_stapling_file`), the sans-io part.
//!
//! Where it sits: off the request path. When a configuration generation starts,
//! `tls::acceptor` gives every certificate that staples a [`StapleSlot`] (an
//! `ArcSwap<CertifiedKey>` the SNI resolver loads on each handshake, no lock) and
//! [`crate::tls::TlsListeners::stapling_targets`] lists one [`Target`] per certificate to
//! fetch for. One background thread (`runtime::ocsp`) does the I/O: it sends each
//! target's request ([`plan`], [`http`]), checks the answer ([`response`]), swaps the new
//! staple into the slots as [`state`] decides, and sleeps until [`schedule`] says to
//! refresh.
//!
//! The same [`plan`] runs at load time (`config::resolve`), so a certificate that cannot
//! staple (no responder URL, no issuer) is reported with file:line, as nginx's
//! `"ssl_stapling" ignored` warnings are.
//!
//! [`client`] reuses the plan and the response checks for `ssl_ocsp` (client
//! certificates asked about after the handshake, by `net::ocsp` on the shard).

pub mod client;
pub mod http;
pub mod plan;
pub mod response;
pub mod schedule;
pub mod signed;
pub mod slot;
pub mod state;

pub use plan::{plan, Plan};
pub use slot::{StapleSlot, Target};

#[cfg(test)]
mod tests;
