//! Resolving `geo`, `split_clients`, `allow` and `deny` (both front-ends) into
//! [`crate::config::model::geo`]: networks and ranges parsed and checked with nginx's
//! messages and warnings, tables built, percentages turned into nginx's hash buckets.

use std::net::Ipv4Addr;
use std::sync::Arc;

use hashbrown::HashMap;

use super::Resolver;
use crate::config::model::addr::{Cidr, RangeError, Ranges, Trie};
use crate::config::model::{AccessRule, AccessRules, AccessWhat, Geo, GeoTable, SplitClients};
use crate::config::tree::{AccessTree, At, ConfigTree, GeoEntry, Origin};

/// Adds the geo and split_clients variable names to the scope (before anything compiles).
pub(super) fn register(tree: &ConfigTree, r: &mut Resolver) {
    let names = tree
        .geos
        .iter()
        .map(|g| (&g.value.name, &g.origin, true))
        .chain(
            tree.split_clients
                .iter()
                .map(|s| (&s.value.name, &s.origin, false)),
        );
    for (i_geo, (name, origin, is_geo)) in names.enumerate() {
        let taken = r.scope.maps.contains_key(name)
            || r.scope.geos.contains_key(name)
            || r.scope.splits.contains_key(name)
            || crate::config::compile::is_builtin(name);
        if taken {
            r.error(origin, format!("the duplicate \"{name}\" variable"));
            continue;
        }
        if is_geo {
            r.scope.geos.insert(name.clone(), i_geo);
        } else {
            let i = i_geo - tree.geos.len();
            r.scope.splits.insert(name.clone(), i);
        }
    }
}

fn note(r: &mut Resolver, at: &Origin, message: String) {
    let note = at.error(message);
    if !r.notes.contains(&note) {
        r.notes.push(note);
    }
}

/// A network of `geo`, `proxy`, `allow`, `deny`, with nginx's warning for host bits.
fn network(text: &str, at: &Origin, r: &mut Resolver) -> Option<Cidr> {
    let parsed = Cidr::parse(text)?;
    if parsed.low_bits {
        note(r, at, format!("low address bits of {text} are meaningless"));
    }
    Some(parsed.cidr)
}

/// `a.b.c.d-e.f.g.h` (IPv4 only, as nginx's ranges).
fn range(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once('-')?;
    let a: Ipv4Addr = a.parse().ok()?;
    let b: Ipv4Addr = b.parse().ok()?;
    let (a, b) = (u32::from(a), u32::from(b));
    (a <= b).then_some((a, b))
}

/// Values are stored once; the tables hold indexes.
#[derive(Default)]
struct Values {
    list: Vec<String>,
    index: HashMap<String, u32>,
}

impl Values {
    fn get(&mut self, v: &str) -> u32 {
        if let Some(&i) = self.index.get(v) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(v.to_string());
        self.index.insert(v.to_string(), i);
        i
    }

    fn text(&self, i: u32) -> &str {
        self.list.get(i as usize).map_or("", String::as_str)
    }
}

pub(super) fn resolve_geos(tree: &ConfigTree, r: &mut Resolver) -> Vec<Geo> {
    let mut out = Vec::new();
    for at in &tree.geos {
        let g = &at.value;
        let source = g.source.as_ref().map(|s| r.template(&at.origin, s));
        let mut proxies = Vec::new();
        let mut values = Values::default();
        let table = if g.ranges {
            let mut ranges = Ranges::default();
            let mut default: Option<String> = None;
            for e in &g.entries {
                let o = &e.origin;
                match &e.value {
                    GeoEntry::Proxy(p) => proxy(p, o, &mut proxies, r),
                    GeoEntry::Default(v) => {
                        if let Some(old) = &default {
                            note(
                                r,
                                o,
                                format!(
                                    "duplicate default geo range value: \"{v}\", old value: \
                                     \"{old}\""
                                ),
                            );
                        }
                        default = Some(v.clone());
                    }
                    GeoEntry::Net { net, value } => {
                        let Some((s, end)) = range(net) else {
                            r.error(o, format!("invalid range \"{net}\""));
                            continue;
                        };
                        let i = values.get(value);
                        match ranges.add(s, end, i) {
                            Ok(n) => {
                                if let Some(old) = n.replaced {
                                    let old = values.text(old).to_string();
                                    note(
                                        r,
                                        o,
                                        format!(
                                            "duplicate range \"{net}\", value: \"{value}\", \
                                             old value: \"{old}\""
                                        ),
                                    );
                                }
                            }
                            Err(RangeError::Overlaps(a, b)) => r.error(
                                o,
                                format!(
                                    "range \"{net}\" overlaps \"{}-{}\"",
                                    Ipv4Addr::from(a),
                                    Ipv4Addr::from(b)
                                ),
                            ),
                        }
                    }
                    GeoEntry::Delete(net) => {
                        let Some((s, end)) = range(net) else {
                            r.error(o, format!("invalid range \"{net}\""));
                            continue;
                        };
                        if !ranges.delete(s, end) {
                            note(r, o, format!("no address range \"{net}\" to delete"));
                        }
                    }
                }
            }
            GeoTable::Ranges {
                ranges,
                values: values.list,
                default: default.unwrap_or_default(),
            }
        } else {
            let mut nets: std::collections::BTreeMap<Cidr, u32> = Default::default();
            for e in &g.entries {
                let o = &e.origin;
                let (targets, word, value) = match &e.value {
                    GeoEntry::Proxy(p) => {
                        proxy(p, o, &mut proxies, r);
                        continue;
                    }
                    GeoEntry::Default(v) => (
                        vec![Cidr::everything(false), Cidr::everything(true)],
                        "default",
                        v,
                    ),
                    GeoEntry::Net { net, value } => {
                        let Some(c) = network(net, o, r) else {
                            r.error(o, format!("invalid network \"{net}\""));
                            continue;
                        };
                        (vec![c], net.as_str(), value)
                    }
                    GeoEntry::Delete(net) => {
                        let Some(c) = network(net, o, r) else {
                            r.error(o, format!("invalid network \"{net}\""));
                            continue;
                        };
                        if nets.remove(&c).is_none() {
                            note(r, o, format!("no network \"{net}\" to delete"));
                        }
                        continue;
                    }
                };
                let i = values.get(value);
                for c in targets {
                    if let Some(old) = nets.insert(c, i) {
                        let old = values.text(old).to_string();
                        note(
                            r,
                            o,
                            format!(
                                "duplicate network \"{word}\", value: \"{value}\", old value: \
                                 \"{old}\""
                            ),
                        );
                    }
                }
            }
            // Built from what is left, so deleted networks leave nothing behind.
            let mut trie = Trie::default();
            for (&c, &i) in &nets {
                trie.insert(c, i);
            }
            let nets = nets
                .into_iter()
                .map(|(c, i)| (c, values.text(i).to_string()))
                .collect();
            GeoTable::Cidr {
                trie,
                values: values.list,
                nets,
            }
        };
        out.push(Geo {
            name: g.name.clone(),
            source,
            proxies,
            proxy_recursive: g.proxy_recursive,
            volatile: g.volatile,
            table,
        });
    }
    out
}

fn proxy(text: &str, at: &Origin, proxies: &mut Vec<Cidr>, r: &mut Resolver) {
    match network(text, at, r) {
        Some(c) => proxies.push(c),
        None => r.error(at, format!("invalid network \"{text}\"")),
    }
}

/// nginx's `ngx_atofp(text, 2)`: a decimal with at most two fraction digits, in hundredths.
fn hundredths(text: &str) -> Option<u32> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) || frac.len() > 2 || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    let int: u32 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut f: u32 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    if frac.len() == 1 {
        f *= 10;
    }
    int.checked_mul(100)?.checked_add(f)
}

pub(super) fn resolve_split_clients(tree: &ConfigTree, r: &mut Resolver) -> Vec<SplitClients> {
    let mut out = Vec::new();
    for at in &tree.split_clients {
        let s = &at.value;
        let source = r.template(&at.origin, &s.source);
        let mut parts = Vec::new();
        let mut sum = 0u32;
        let mut over = false;
        for p in &s.parts {
            let (percent, value) = &p.value;
            let n = if percent == "*" {
                0
            } else {
                match percent.strip_suffix('%').and_then(hundredths) {
                    Some(n) if n > 0 => n,
                    _ => {
                        r.error(&p.origin, format!("invalid percent value \"{percent}\""));
                        continue;
                    }
                }
            };
            sum = if n == 0 {
                10_000
            } else {
                sum.saturating_add(n)
            };
            if sum > 10_000 && !over {
                over = true;
                r.error(&at.origin, "percent total is greater than 100%");
            }
            parts.push((n, value.clone()));
        }
        let bounds = SplitClients::bounds(&parts);
        out.push(SplitClients {
            name: s.name.clone(),
            source,
            parts,
            bounds,
        });
    }
    out
}

/// One level's `allow`/`deny` list.
pub(super) fn access_rules(list: &[At<AccessTree>], r: &mut Resolver) -> Arc<AccessRules> {
    let mut rules = Vec::new();
    for at in list {
        let text = at.value.what.as_str();
        let what = match text {
            "all" => AccessWhat::All,
            "unix:" => AccessWhat::Unix,
            _ => match network(text, &at.origin, r) {
                Some(c) => AccessWhat::Net(c),
                None => {
                    r.error(&at.origin, format!("invalid parameter \"{text}\""));
                    continue;
                }
            },
        };
        rules.push(AccessRule {
            allow: at.value.allow,
            what,
        });
    }
    Arc::new(AccessRules::new(rules))
}

#[cfg(test)]
mod tests {
    use super::hundredths;

    #[test]
    fn percentages_as_ngx_atofp() {
        assert_eq!(hundredths("51.2"), Some(5120));
        assert_eq!(hundredths("0.5"), Some(50));
        assert_eq!(hundredths("10"), Some(1000));
        assert_eq!(hundredths(".25"), Some(25));
        assert_eq!(hundredths("1.234"), None);
        assert_eq!(hundredths("x"), None);
        assert_eq!(hundredths(""), None);
    }
}
