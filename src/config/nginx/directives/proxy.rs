//! The directive table's reverse-proxy part (nginx front-end, control thread only): the
//! `upstream {}` block (`server`, the balancing methods, `keepalive*`, anx's
//! `anx_health_check`) and the inheritable `proxy_*` settings, filling an [`UpstreamTree`]
//! and a [`ProxyLayer`]. As elsewhere in the table only words are read here: addresses are
//! resolved, templates and regexes compiled and cross-checks made by `config::resolve`,
//! which the TOML front-end shares.

use super::{arg, Walker, UPS};
use crate::config::nginx::parser::Directive;
use crate::config::tree::{
    At, ProxyHeaderTree, ProxyLayer, RawBalance, RawHealthCheck, RawPeer, RawRedirect, UpstreamTree,
};
use crate::config::ConfigError;

/// nginx's `ngx_atoi`: digits only, no sign.
fn atoi<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl Walker {
    /// `upstream name { ... }`.
    pub(super) fn upstream(&mut self, d: &Directive) -> Option<At<UpstreamTree>> {
        let mut up = UpstreamTree {
            name: arg(d, 0).to_string(),
            ..UpstreamTree::default()
        };
        for inner in d.block.as_deref().unwrap_or_default() {
            if !self.check(inner, UPS) {
                continue;
            }
            match inner.name.as_str() {
                "server" => {
                    if let Some(peer) = self.peer(inner) {
                        up.servers.push(At::new(peer, self.origin(inner)));
                    }
                }
                "keepalive" => self.once(inner, &mut up.keepalive, |w| {
                    match atoi::<usize>(arg(inner, 0)).filter(|&n| n > 0) {
                        Some(n) => Some(n),
                        None => {
                            w.error(
                                inner,
                                format!(
                                    "invalid value \"{}\" in \"keepalive\" directive",
                                    arg(inner, 0)
                                ),
                            );
                            None
                        }
                    }
                }),
                "keepalive_timeout" => self.once(inner, &mut up.keepalive_timeout, |w| {
                    w.time(inner, arg(inner, 0))
                }),
                "keepalive_requests" => self.once(inner, &mut up.keepalive_requests, |w| {
                    w.number(inner, arg(inner, 0))
                }),
                "keepalive_time" => self.once(inner, &mut up.keepalive_time, |w| {
                    w.time(inner, arg(inner, 0))
                }),
                "least_conn" | "ip_hash" | "hash" | "random" => {
                    if let Some(balance) = self.balance(inner) {
                        if up.balance.is_some() {
                            // A warning in nginx, which then uses the later method.
                            let origin = self.origin(inner);
                            self.notes.push(ConfigError {
                                file: origin.file.map(|f| f.as_ref().clone()),
                                line: origin.line,
                                message: "load balancing method redefined".to_string(),
                            });
                        }
                        up.balance = Some(At::new(balance, self.origin(inner)));
                    }
                }
                "anx_health_check" => self.once(inner, &mut up.health_check, |w| {
                    w.health_check(inner).map(|h| At::new(h, w.origin(inner)))
                }),
                _ => self.unhandled(inner),
            }
        }
        Some(At::new(up, self.origin(d)))
    }

    /// `server addr [weight=N] [max_fails=N] [fail_timeout=time] [backup] [down]
    /// [max_conns=N]` inside `upstream`.
    fn peer(&mut self, d: &Directive) -> Option<RawPeer> {
        let mut peer = RawPeer {
            addr: arg(d, 0).to_string(),
            ..RawPeer::default()
        };
        let mut ok = true;
        for a in d.args.iter().skip(1) {
            let word = a.value.as_str();
            let (name, value) = word.split_once('=').unwrap_or((word, ""));
            let parsed = match (name, word.contains('=')) {
                ("weight", true) => atoi::<u32>(value)
                    .filter(|&w| w > 0)
                    .map(|w| peer.weight = Some(w)),
                ("max_fails", true) => atoi(value).map(|n| peer.max_fails = Some(n)),
                ("max_conns", true) => atoi(value).map(|n| peer.max_conns = Some(n)),
                ("fail_timeout", true) => crate::config::tree::time(value)
                    .ok()
                    .map(|t| peer.fail_timeout = Some(t)),
                ("backup", false) => {
                    peer.backup = true;
                    Some(())
                }
                ("down", false) => {
                    peer.down = true;
                    Some(())
                }
                ("resolve", false) | ("service" | "slow_start" | "route", true) => {
                    self.error(
                        d,
                        format!(
                            "the \"{name}\" parameter of \"server\" is not supported by anx yet"
                        ),
                    );
                    ok = false;
                    continue;
                }
                _ => None,
            };
            if parsed.is_none() {
                self.error(d, format!("invalid parameter \"{word}\""));
                ok = false;
            }
        }
        ok.then_some(peer)
    }

    /// `least_conn`, `ip_hash`, `hash key [consistent]`, `random [two [least_conn]]`.
    fn balance(&mut self, d: &Directive) -> Option<RawBalance> {
        let invalid = |w: &mut Walker, i: usize| {
            w.error(d, format!("invalid parameter \"{}\"", arg(d, i)));
            None
        };
        match d.name.as_str() {
            "least_conn" => Some(RawBalance::LeastConn),
            "ip_hash" => Some(RawBalance::IpHash),
            "hash" => {
                let consistent = match d.args.get(1).map(|a| a.value.as_str()) {
                    None => false,
                    Some("consistent") => true,
                    Some(_) => return invalid(self, 1),
                };
                Some(RawBalance::Hash {
                    key: arg(d, 0).to_string(),
                    consistent,
                })
            }
            _ => {
                if d.args.first().is_some_and(|a| a.value != "two") {
                    return invalid(self, 0);
                }
                // `least_conn` is the only method `two` has in nginx (and its default).
                if d.args.get(1).is_some_and(|a| a.value != "least_conn") {
                    return invalid(self, 1);
                }
                Some(RawBalance::Random {
                    two: !d.args.is_empty(),
                })
            }
        }
    }

    /// `anx_health_check [interval=time] [uri=path] [timeout=time] [fails=N] [passes=N]
    /// [status=200-399[,…]] [body=regex] [host=name] [scheme=http|https]`; `status=` may be
    /// repeated.
    fn health_check(&mut self, d: &Directive) -> Option<RawHealthCheck> {
        let mut h = RawHealthCheck::default();
        let mut ok = true;
        for a in &d.args {
            let word = a.value.as_str();
            let Some((name, value)) = word.split_once('=') else {
                self.error(d, format!("invalid parameter \"{word}\""));
                ok = false;
                continue;
            };
            let parsed = match name {
                "interval" => self.time(d, value).map(|t| h.interval = Some(t)),
                "timeout" => self.time(d, value).map(|t| h.timeout = Some(t)),
                "fails" => self.number(d, value).map(|n| h.fails = Some(n)),
                "passes" => self.number(d, value).map(|n| h.passes = Some(n)),
                "uri" => {
                    h.uri = Some(value.to_string());
                    Some(())
                }
                "body" => {
                    h.body = Some(value.to_string());
                    Some(())
                }
                "host" => {
                    h.host = Some(value.to_string());
                    Some(())
                }
                "scheme" => {
                    h.scheme = Some(value.to_string());
                    Some(())
                }
                "status" => {
                    h.status.extend(value.split(',').map(str::to_string));
                    Some(())
                }
                _ => {
                    self.error(d, format!("invalid parameter \"{word}\""));
                    None
                }
            };
            ok &= parsed.is_some();
        }
        ok.then_some(h)
    }

    /// One `proxy_*` setting of an http, server or location block.
    pub(super) fn proxy_setting(&mut self, d: &Directive, p: &mut ProxyLayer) {
        let here = |w: &Walker, text: &str| At::new(text.to_string(), w.origin(d));
        match d.name.as_str() {
            "proxy_set_header" => {
                let header = ProxyHeaderTree {
                    name: arg(d, 0).to_string(),
                    value: arg(d, 1).to_string(),
                };
                let header = At::new(header, self.origin(d));
                p.set_headers.get_or_insert_with(Vec::new).push(header);
            }
            "proxy_hide_header" => {
                let name = here(self, arg(d, 0));
                p.hide_headers.get_or_insert_with(Vec::new).push(name);
            }
            "proxy_pass_header" => {
                let name = here(self, arg(d, 0));
                p.pass_headers.get_or_insert_with(Vec::new).push(name);
            }
            "proxy_http_version" => self.once(d, &mut p.http_version, |w| Some(here(w, arg(d, 0)))),
            "proxy_method" => self.once(d, &mut p.method, |w| Some(here(w, arg(d, 0)))),
            "proxy_redirect" => {
                let redirect = match (arg(d, 0), d.args.len()) {
                    ("off", 1) => RawRedirect::Off,
                    ("default", 1) => RawRedirect::Default,
                    (other, 1) => {
                        self.error(d, format!("invalid parameter \"{other}\""));
                        return;
                    }
                    (from, _) => RawRedirect::Rule {
                        from: from.to_string(),
                        to: arg(d, 1).to_string(),
                    },
                };
                let redirect = At::new(redirect, self.origin(d));
                p.redirect.get_or_insert_with(Vec::new).push(redirect);
            }
            "proxy_next_upstream" => self.once(d, &mut p.next_upstream, |w| {
                Some(At::new(super::words(d), w.origin(d)))
            }),
            "proxy_ssl_verify" => self.once(d, &mut p.ssl_verify, |w| w.flag(d)),
            "proxy_ssl_trusted_certificate" => self.once(d, &mut p.ssl_trusted_certificate, |w| {
                Some(here(w, arg(d, 0)))
            }),
            "proxy_ssl_verify_depth" => {
                self.once(d, &mut p.ssl_verify_depth, |w| w.number(d, arg(d, 0)))
            }
            "proxy_ssl_server_name" => self.once(d, &mut p.ssl_server_name, |w| w.flag(d)),
            "proxy_ssl_name" => self.once(d, &mut p.ssl_name, |w| Some(here(w, arg(d, 0)))),
            "proxy_ssl_certificate" => {
                self.once(d, &mut p.ssl_certificate, |w| Some(here(w, arg(d, 0))))
            }
            "proxy_ssl_certificate_key" => {
                self.once(d, &mut p.ssl_certificate_key, |w| Some(here(w, arg(d, 0))))
            }
            "proxy_ssl_protocols" => self.once(d, &mut p.ssl_protocols, |w| {
                Some(At::new(super::words(d), w.origin(d)))
            }),
            "proxy_ssl_session_reuse" => self.once(d, &mut p.ssl_session_reuse, |w| w.flag(d)),
            "proxy_cookie_domain" | "proxy_cookie_path" | "proxy_cookie_flags" => {
                let list = match d.name.as_str() {
                    "proxy_cookie_domain" => &mut p.cookie_domain,
                    "proxy_cookie_path" => &mut p.cookie_path,
                    _ => &mut p.cookie_flags,
                };
                let words = At::new(super::words(d), self.origin(d));
                list.get_or_insert_with(Vec::new).push(words);
            }
            "proxy_bind" => self.once(d, &mut p.bind, |w| {
                Some(At::new(super::words(d), w.origin(d)))
            }),
            "proxy_ignore_headers" => self.once(d, &mut p.ignore_headers, |w| {
                Some(At::new(super::words(d), w.origin(d)))
            }),
            "proxy_set_body" => self.once(d, &mut p.set_body, |w| Some(here(w, arg(d, 0)))),
            "resolver" => self.once(d, &mut p.resolver, |w| {
                Some(At::new(super::words(d), w.origin(d)))
            }),
            "proxy_ssl_password_file" => {
                self.once(d, &mut p.ssl_password_file, |w| Some(here(w, arg(d, 0))))
            }
            "proxy_ssl_crl" => self.once(d, &mut p.ssl_crl, |w| Some(here(w, arg(d, 0)))),
            _ => self.unhandled(d),
        }
    }
}
