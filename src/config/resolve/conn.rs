//! Resolve for the per-location connection settings ([`LocationHttp`]): applies one
//! block's `HttpLayer` on top of what it inherits, with nginx's checks on the words.

use super::Resolver;
use crate::config::model::{InFileOnly, KeepaliveDisable, LocationHttp, TempPath};
use crate::config::settings;
use crate::config::tree::{HttpLayer, Origin};

/// `out` is the parent's settings; `l` this block's layer.
pub(super) fn inherit(out: &mut LocationHttp, l: &HttpLayer, origin: &Origin, r: &mut Resolver) {
    settings::conn::inherit(out, l);
    if let Some(v) = l.keepalive_timeout {
        out.keepalive_timeout = v;
        // The header timeout is set with the timeout, as one directive.
        out.keepalive_header = l.keepalive_header;
    } else if l.keepalive_header.is_some() {
        // TOML's `keepalive_header_timeout` may come alone.
        out.keepalive_header = l.keepalive_header;
    }
    if let Some(words) = &l.keepalive_disable {
        match keepalive_disable(words) {
            Ok(v) => out.keepalive_disable = v,
            Err(msg) => r.error(origin, msg),
        }
    }
    if let Some(v) = l.server_tokens {
        out.server_tokens = v;
    }
    let body = &mut out.body;
    if let Some(v) = l.client_body_buffer_size {
        if v == 0 {
            r.error(origin, "client_body_buffer_size must be at least 1 byte");
        }
        body.buffer_size = v;
    }
    if let Some(t) = &l.client_body_temp_path {
        if t.value.levels.len() > 3 || t.value.levels.iter().any(|&n| n == 0 || n > 2) {
            r.error(
                &t.origin,
                "client_body_temp_path levels must be 1 or 2, at most three of them",
            );
        }
        body.temp_path = TempPath {
            path: r.path(&t.value.path),
            levels: t.value.levels.clone(),
        };
    }
    if let Some(word) = &l.client_body_in_file_only {
        match word.to_ascii_lowercase().as_str() {
            "off" => body.in_file_only = InFileOnly::Off,
            "on" => body.in_file_only = InFileOnly::On,
            "clean" => body.in_file_only = InFileOnly::Clean,
            _ => r.error(
                origin,
                format!(
                    "invalid value \"{word}\" in \"client_body_in_file_only\" directive, it \
                     must be \"on\", \"clean\" or \"off\""
                ),
            ),
        }
    }
    if let Some(v) = l.client_body_in_single_buffer {
        body.single_buffer = v;
    }
}

/// `keepalive_disable none | msie6 | safari …` (nginx: "none" alone, or browser names).
pub(super) fn keepalive_disable(words: &[String]) -> Result<KeepaliveDisable, String> {
    let mut out = KeepaliveDisable::default();
    for w in words {
        match w.to_ascii_lowercase().as_str() {
            "none" if words.len() == 1 => {}
            "msie6" => out.msie6 = true,
            "safari" => out.safari = true,
            _ => {
                return Err(format!(
                    "invalid value \"{w}\" in \"keepalive_disable\" directive"
                ))
            }
        }
    }
    Ok(out)
}
