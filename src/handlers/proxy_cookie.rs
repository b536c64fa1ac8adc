//! `proxy_cookie_domain`, `proxy_cookie_path` and `proxy_cookie_flags`: the rewriting of an
//! upstream's Set-Cookie fields on their way to the client (sans-io).
//!
//! Called by `serve::proxy` through `http::upstream::write_client_head` for each Set-Cookie
//! of a proxied response, with the request's variables. The reading is nginx's: the value
//! is split at `;` into `name=value` attributes (spaces around names and values dropped);
//! the first attribute is the cookie; Domain and Path values go through the rules in order
//! (the first that matches wins); the flags rule of the first matching cookie name adds,
//! removes or changes Secure, HttpOnly and SameSite. A field no rule touched is passed as
//! the upstream sent it; one that changed is written again as `a=b; c; d=e`.

use crate::config::model::proxy::cookie_flags::*;
use crate::config::model::{CookieMatch, CookieRewrite, ProxySettings};
use crate::context::vars::Ctx;

/// One `name[=value]` attribute; `key: None` once removed.
struct Attr {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

fn trim_spaces(mut s: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' '] = s {
        s = rest;
    }
    s
}

/// nginx's `ngx_http_proxy_parse_cookie`.
fn parse(value: &[u8]) -> Vec<Attr> {
    value
        .split(|&b| b == b';')
        .map(|part| match memchr::memchr(b'=', part) {
            Some(eq) => Attr {
                key: Some(trim_spaces(&part[..eq]).to_vec()),
                value: Some(trim_spaces(&part[eq + 1..]).to_vec()),
            },
            None => Attr {
                key: Some(trim_spaces(part).to_vec()),
                value: None,
            },
        })
        .collect()
}

/// The rewritten Set-Cookie value, or `None` when no rule changed it.
pub fn rewrite_set_cookie<'c>(
    ctx: &mut Ctx<'_, 'c>,
    settings: &'c ProxySettings,
    value: &[u8],
) -> Option<Vec<u8>> {
    if settings.cookie_domains.is_empty()
        && settings.cookie_paths.is_empty()
        && settings.cookie_flags.is_empty()
    {
        return None;
    }
    let mut attrs = parse(value);
    attrs.first()?.value.as_ref()?;
    let mut changed = false;
    for attr in attrs.iter_mut().skip(1) {
        let (Some(key), Some(v)) = (&attr.key, &attr.value) else {
            continue;
        };
        let rules = if key.eq_ignore_ascii_case(b"domain") {
            Some((&settings.cookie_domains, true))
        } else if key.eq_ignore_ascii_case(b"path") {
            Some((&settings.cookie_paths, false))
        } else {
            None
        };
        if let Some((rules, domain)) = rules {
            if let Some(new) = rewrite_value(ctx, rules, v, domain) {
                attr.value = Some(new);
                changed = true;
            }
        }
    }
    if !settings.cookie_flags.is_empty() {
        changed |= edit_flags(ctx, settings, &mut attrs);
    }
    if !changed {
        return None;
    }
    let mut out = Vec::with_capacity(value.len() + 16);
    for (i, attr) in attrs.iter().enumerate() {
        let Some(key) = &attr.key else { continue };
        if i > 0 {
            out.extend_from_slice(b"; ");
        }
        out.extend_from_slice(key);
        if let Some(v) = &attr.value {
            out.push(b'=');
            out.extend_from_slice(v);
        }
    }
    Some(out)
}

/// The first rule that matches `value` gives its replacement.
fn rewrite_value<'c>(
    ctx: &mut Ctx<'_, 'c>,
    rules: &'c [CookieRewrite],
    value: &[u8],
    domain: bool,
) -> Option<Vec<u8>> {
    for rule in rules {
        match &rule.from {
            CookieMatch::Regex(p) => {
                if ctx.st.match_bytes(p, value) {
                    let mut out = Vec::new();
                    ctx.eval(&rule.to, &mut out);
                    return Some(out);
                }
            }
            CookieMatch::Literal(t) => {
                let mut pattern = Vec::new();
                ctx.eval(t, &mut pattern);
                if domain {
                    // The whole domain, any case, a leading dot kept.
                    let skip = usize::from(value.first() == Some(&b'.'));
                    if value[skip..].eq_ignore_ascii_case(&pattern) {
                        let mut out = value[..skip].to_vec();
                        ctx.eval(&rule.to, &mut out);
                        return Some(out);
                    }
                } else if value.starts_with(&pattern) {
                    let mut out = Vec::new();
                    ctx.eval(&rule.to, &mut out);
                    out.extend_from_slice(&value[pattern.len()..]);
                    return Some(out);
                }
            }
        }
    }
    None
}

/// `proxy_cookie_flags`: the first rule naming this cookie edits its flags (nginx's
/// `ngx_http_proxy_edit_cookie_flags`). True when it applied.
fn edit_flags<'c>(
    ctx: &mut Ctx<'_, 'c>,
    settings: &'c ProxySettings,
    attrs: &mut Vec<Attr>,
) -> bool {
    let Some(name) = attrs.first().and_then(|a| a.key.clone()) else {
        return false;
    };
    let mut rule = None;
    for r in &settings.cookie_flags {
        let hit = match &r.cookie {
            CookieMatch::Regex(p) => ctx.st.match_bytes(p, &name),
            CookieMatch::Literal(t) => {
                let mut pattern = Vec::new();
                ctx.eval(t, &mut pattern);
                pattern.eq_ignore_ascii_case(&name)
            }
        };
        if hit {
            rule = Some(r);
            break;
        }
    }
    let Some(rule) = rule else {
        return false;
    };
    let mut flags = 0u8;
    let mut word = Vec::new();
    for t in &rule.flags {
        word.clear();
        ctx.eval(t, &mut word);
        if word.is_empty() {
            continue;
        }
        match flag_bit(&word) {
            Some(bit) => flags |= bit,
            None => log::warn!(
                "invalid proxy_cookie_flags flag \"{}\"",
                String::from_utf8_lossy(&word)
            ),
        }
    }
    if flags == 0 {
        return false;
    }
    for attr in attrs.iter_mut().skip(1) {
        let Some(key) = &attr.key else { continue };
        if key.eq_ignore_ascii_case(b"secure") {
            if flags & SECURE_ON != 0 {
                flags &= !SECURE_ON;
            } else if flags & SECURE_OFF != 0 {
                attr.key = None;
            }
        } else if key.eq_ignore_ascii_case(b"httponly") {
            if flags & HTTPONLY_ON != 0 {
                flags &= !HTTPONLY_ON;
            } else if flags & HTTPONLY_OFF != 0 {
                attr.key = None;
            }
        } else if key.eq_ignore_ascii_case(b"samesite") {
            let set = [
                (SAMESITE_STRICT, &b"Strict"[..]),
                (SAMESITE_LAX, b"Lax"),
                (SAMESITE_NONE, b"None"),
            ]
            .into_iter()
            .find(|(bit, _)| flags & bit != 0);
            if let Some((bit, wanted)) = set {
                flags &= !bit;
                let same = attr
                    .value
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case(wanted));
                if !same {
                    attr.key = Some(b"SameSite".to_vec());
                    attr.value = Some(wanted.to_vec());
                }
            } else if flags & SAMESITE_OFF != 0 {
                attr.key = None;
            }
        }
    }
    let mut add = |key: &[u8], value: Option<&[u8]>| {
        attrs.push(Attr {
            key: Some(key.to_vec()),
            value: value.map(<[u8]>::to_vec),
        })
    };
    if flags & SECURE_ON != 0 {
        add(b"Secure", None);
    }
    if flags & HTTPONLY_ON != 0 {
        add(b"HttpOnly", None);
    }
    if flags & SAMESITE_STRICT != 0 {
        add(b"SameSite", Some(b"Strict"));
    } else if flags & SAMESITE_LAX != 0 {
        add(b"SameSite", Some(b"Lax"));
    } else if flags & SAMESITE_NONE != 0 {
        add(b"SameSite", Some(b"None"));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_nginx() {
        let attrs = parse(b"a = b ; Domain=x.org;Secure; ;");
        let keys: Vec<_> = attrs
            .iter()
            .map(|a| {
                (
                    String::from_utf8_lossy(a.key.as_deref().unwrap_or_default()).into_owned(),
                    a.value
                        .as_deref()
                        .map(|v| String::from_utf8_lossy(v).into_owned()),
                )
            })
            .collect();
        assert_eq!(keys[0], ("a".into(), Some("b".into())));
        assert_eq!(keys[1], ("Domain".into(), Some("x.org".into())));
        assert_eq!(keys[2], ("Secure".into(), None));
        assert_eq!(keys.len(), 5);
        assert!(is_flag("SameSite=Lax") && !is_flag("samesite"));
    }
}
