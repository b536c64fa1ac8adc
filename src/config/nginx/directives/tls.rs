//! The directive table's `ssl_*` part (nginx front-end, control thread only): the
//! inheritable settings of ngx_http_ssl_module, filling a [`TlsLayer`]. Only words are read
//! here; files are loaded, names mapped to rustls and cross-checks made by
//! `config::resolve`, which the TOML front-end shares.

use super::{arg, words, Walker};
use crate::config::nginx::parser::Directive;
use crate::config::tree::{At, TlsLayer};

impl Walker {
    /// One `ssl_*` directive at http or server level (the table has checked the context
    /// and the argument count).
    pub(super) fn tls_setting(&mut self, d: &Directive, tls: &mut TlsLayer) {
        let here = |w: &Walker| At::new(arg(d, 0).to_string(), w.origin(d));
        match d.name.as_str() {
            // nginx keeps every `ssl_certificate` of a level (RSA + ECDSA), paired with the
            // `ssl_certificate_key` in the same position.
            "ssl_certificate" => {
                let at = here(self);
                tls.certificates.get_or_insert_with(Vec::new).push(at);
            }
            "ssl_certificate_key" => {
                let at = here(self);
                tls.certificate_keys.get_or_insert_with(Vec::new).push(at);
            }
            "ssl_session_ticket_key" => {
                let at = here(self);
                tls.session_ticket_keys
                    .get_or_insert_with(Vec::new)
                    .push(at);
            }
            "ssl_protocols" => self.once(d, &mut tls.protocols, |w| {
                Some(At::new(words(d), w.origin(d)))
            }),
            "ssl_ciphers" => self.once(d, &mut tls.ciphers, |w| Some(here(w))),
            "ssl_prefer_server_ciphers" => {
                self.once(d, &mut tls.prefer_server_ciphers, |w| w.flag(d))
            }
            "ssl_ecdh_curve" => self.once(d, &mut tls.ecdh_curve, |w| Some(here(w))),
            "ssl_session_tickets" => self.once(d, &mut tls.session_tickets, |w| w.flag(d)),
            "ssl_session_timeout" => {
                self.once(d, &mut tls.session_timeout, |w| w.time(d, arg(d, 0)))
            }
            "ssl_session_cache" => self.once(d, &mut tls.session_cache, |w| {
                Some(At::new(words(d), w.origin(d)))
            }),
            "ssl_client_certificate" => {
                self.once(d, &mut tls.client_certificate, |w| Some(here(w)))
            }
            "ssl_trusted_certificate" => {
                self.once(d, &mut tls.trusted_certificate, |w| Some(here(w)))
            }
            "ssl_verify_client" => self.once(d, &mut tls.verify_client, |w| Some(here(w))),
            "ssl_verify_depth" => self.once(d, &mut tls.verify_depth, |w| w.number(d, arg(d, 0))),
            "ssl_crl" => self.once(d, &mut tls.crl, |w| Some(here(w))),
            "ssl_stapling" => self.once(d, &mut tls.stapling, |w| {
                w.flag(d).map(|v| At::new(v, w.origin(d)))
            }),
            "ssl_stapling_file" => self.once(d, &mut tls.stapling_file, |w| Some(here(w))),
            "ssl_stapling_responder" => {
                self.once(d, &mut tls.stapling_responder, |w| Some(here(w)))
            }
            "ssl_stapling_verify" => self.once(d, &mut tls.stapling_verify, |w| w.flag(d)),
            "ssl_ocsp" => self.once(d, &mut tls.ocsp, |w| Some(here(w))),
            "ssl_ocsp_responder" => self.once(d, &mut tls.ocsp_responder, |w| Some(here(w))),
            "ssl_ocsp_cache" => self.once(d, &mut tls.ocsp_cache, |w| Some(here(w))),
            "ssl_password_file" => self.once(d, &mut tls.password_file, |w| Some(here(w))),
            "ssl_reject_handshake" => self.once(d, &mut tls.reject_handshake, |w| w.flag(d)),
            _ => self.unhandled(d),
        }
    }
}
