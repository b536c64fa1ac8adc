//! `anx -T` for the geo, split_clients and access modules: `[[http.geo]]`,
//! `[[http.split_clients]]` and each level's `access` list, as the TOML front-end reads them
//! back (networks and ranges as resolved: after `delete`, host bits cleared).

use std::fmt::Write;
use std::net::Ipv4Addr;

use super::{kv, list, pair, q};
use crate::config::model::{AccessRules, AccessWhat, Config, GeoTable};

pub(super) fn tables(out: &mut String, config: &Config) {
    for g in &config.geos {
        out.push_str("\n[[http.geo]]\n");
        kv(out, "variable", &q(&format!("${}", g.name)));
        if let Some(s) = &g.source {
            kv(out, "source", &q(&s.source));
        }
        let proxies: Vec<String> = g.proxies.iter().map(|p| q(&p.to_string())).collect();
        kv(out, "proxy", &list(&proxies));
        kv(out, "proxy_recursive", &g.proxy_recursive.to_string());
        kv(out, "volatile", &g.volatile.to_string());
        let entries: Vec<String> = match &g.table {
            GeoTable::Cidr { nets, .. } => {
                kv(out, "ranges", "false");
                nets.iter().map(|(c, v)| pair(&c.to_string(), v)).collect()
            }
            GeoTable::Ranges {
                ranges,
                values,
                default,
            } => {
                kv(out, "ranges", "true");
                kv(out, "default", &q(default));
                ranges
                    .iter()
                    .map(|(s, e, i)| {
                        let range = format!("{}-{}", Ipv4Addr::from(s), Ipv4Addr::from(e));
                        pair(&range, values.get(i as usize).map_or("", String::as_str))
                    })
                    .collect()
            }
        };
        entries_list(out, &entries);
    }
    for s in &config.split_clients {
        out.push_str("\n[[http.split_clients]]\n");
        kv(out, "source", &q(&s.source.source));
        kv(out, "variable", &q(&format!("${}", s.name)));
        let parts: Vec<String> = s
            .parts
            .iter()
            .map(|(p, v)| {
                let percent = match p {
                    0 => "*".to_string(),
                    p => format!("{}.{:02}%", p / 100, p % 100),
                };
                pair(&percent, v)
            })
            .collect();
        out.push_str("parts = [\n");
        for p in parts {
            let _ = writeln!(out, "    {p},");
        }
        out.push_str("]\n");
    }
}

fn entries_list(out: &mut String, entries: &[String]) {
    if entries.is_empty() {
        kv(out, "entries", "[]");
        return;
    }
    out.push_str("entries = [\n");
    for e in entries {
        let _ = writeln!(out, "    {e},");
    }
    out.push_str("]\n");
}

/// `[{ allow = "…" }, { deny = "…" }]`.
pub(super) fn access(rules: &AccessRules) -> String {
    let items: Vec<String> = rules
        .rules
        .iter()
        .map(|r| {
            let what = match r.what {
                AccessWhat::All => "all".to_string(),
                AccessWhat::Unix => "unix:".to_string(),
                AccessWhat::Net(c) => c.to_string(),
            };
            let key = if r.allow { "allow" } else { "deny" };
            format!("{{ {key} = {} }}", q(&what))
        })
        .collect();
    list(&items)
}
