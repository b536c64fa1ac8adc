//! Resolving `ssl_ocsp`, `ssl_ocsp_responder` and `ssl_ocsp_cache` (OCSP checks of client
//! certificates, nginx 1.19.0) into [`ClientOcsp`], with nginx's load-time checks.
//!
//! Control thread only, while a configuration loads. The responder's host is resolved
//! here, as nginx resolves it when it reads the directive, so the shards never wait on the
//! system resolver; what the check does per connection is `net::ocsp`.

use std::net::ToSocketAddrs;

use super::Resolver;
use crate::config::model::tls::OCSP_CACHE_BYTES_PER_ENTRY;
use crate::config::model::{ClientOcsp, OcspCache, OcspResponder, VerifyClient};
use crate::config::tree::{At, TlsLayer};

/// nginx's smallest `ssl_ocsp_cache` (8 pages of 4 KiB).
const MIN_CACHE_BYTES: u64 = 8 * 4096;

/// The server's client OCSP settings; `None` with `ssl_ocsp off` (the default).
pub(super) fn client_ocsp(
    t: &TlsLayer,
    verify_client: VerifyClient,
    r: &mut Resolver,
) -> Option<ClientOcsp> {
    let cache = t.ocsp_cache.as_ref().and_then(|at| cache(at, r));
    let responder = t.ocsp_responder.as_ref().and_then(|at| responder(at, r));
    let at = t.ocsp.as_ref()?;
    let leaf_only = match at.value.as_str() {
        "off" => return None,
        "on" => false,
        "leaf" => true,
        other => {
            r.error(
                &at.origin,
                format!("invalid value \"{other}\" in \"ssl_ocsp\" directive, it must be \"on\", \"off\" or \"leaf\""),
            );
            return None;
        }
    };
    if verify_client == VerifyClient::OptionalNoCa {
        r.error(
            &at.origin,
            "\"ssl_ocsp\" is incompatible with \"ssl_verify_client optional_no_ca\"",
        );
        return None;
    }
    Some(ClientOcsp {
        leaf_only,
        responder,
        cache,
    })
}

fn responder(at: &At<String>, r: &mut Resolver) -> Option<OcspResponder> {
    let url = match crate::tls::ocsp::http::parse_url(&at.value) {
        Ok(url) => url,
        Err(e) => {
            r.error(
                &at.origin,
                format!(
                    "invalid URL \"{}\" in \"ssl_ocsp_responder\": {e}",
                    at.value
                ),
            );
            return None;
        }
    };
    match (url.host.as_str(), url.port).to_socket_addrs() {
        Ok(addrs) => Some(OcspResponder {
            url: at.value.clone(),
            addrs: addrs.collect(),
        }),
        Err(_) => {
            r.error(
                &at.origin,
                format!(
                    "host not found in OCSP responder \"{}\" in \"ssl_ocsp_responder\"",
                    url.authority()
                ),
            );
            None
        }
    }
}

fn cache(at: &At<String>, r: &mut Resolver) -> Option<OcspCache> {
    if at.value == "off" {
        return None;
    }
    let parsed = at
        .value
        .strip_prefix("shared:")
        .and_then(|rest| rest.split_once(':'))
        .filter(|(name, _)| !name.is_empty())
        .and_then(|(name, size)| Some((name, crate::config::tree::size(size).ok()?)));
    let Some((name, bytes)) = parsed else {
        r.error(
            &at.origin,
            format!("invalid \"ssl_ocsp_cache\" \"{}\"", at.value),
        );
        return None;
    };
    if bytes < MIN_CACHE_BYTES {
        r.error(
            &at.origin,
            format!("OCSP cache \"{}\" is too small", at.value),
        );
        return None;
    }
    Some(OcspCache {
        name: name.to_string(),
        entries: usize::try_from(bytes / OCSP_CACHE_BYTES_PER_ENTRY).unwrap_or(usize::MAX),
    })
}
