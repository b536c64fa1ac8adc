//! The resolved `geo`, `split_clients`, `allow` and `deny` directives.
//!
//! `config::resolve` builds these once per load; `context::geo`, `context::split_clients` and
//! `phases::access` read them per request. Lookups go through [`super::addr`]'s trie and
//! range table, so thousands of networks cost what a handful do.

use std::net::IpAddr;

use super::addr::{unmap, Cidr, Ranges, Trie};
use super::Template;

/// `geo [$address] $name { … }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geo {
    /// Without `$`.
    pub name: String,
    /// `$address`; `None` reads the client's address.
    pub source: Option<Template>,
    /// `proxy` networks: a client (or source address) in one of them is replaced by the
    /// address it forwarded for (`X-Forwarded-For`).
    pub proxies: Vec<Cidr>,
    /// `proxy_recursive`: skip trusted addresses in `X-Forwarded-For` from the right.
    pub proxy_recursive: bool,
    /// `volatile`: evaluated on every use rather than once per request.
    pub volatile: bool,
    pub table: GeoTable,
}

/// Where a geo variable's values come from.
#[derive(Debug, Clone)]
pub enum GeoTable {
    /// Networks (longest prefix wins); `default` is `0.0.0.0/0` and `::/0`. `values` is
    /// indexed by the trie; `nets` lists what is stored, for `-T` and equality.
    Cidr {
        trie: Trie,
        values: Vec<String>,
        nets: Vec<(Cidr, String)>,
    },
    /// `ranges;`: IPv4 ranges and a default.
    Ranges {
        ranges: Ranges,
        values: Vec<String>,
        default: String,
    },
}

/// Equal when they give the same values: how the lookup structures were built (a `delete`
/// leaves trie nodes behind) is not part of the meaning.
impl PartialEq for GeoTable {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (GeoTable::Cidr { nets: a, .. }, GeoTable::Cidr { nets: b, .. }) => a == b,
            (
                GeoTable::Ranges {
                    ranges: ra,
                    values: va,
                    default: da,
                },
                GeoTable::Ranges {
                    ranges: rb,
                    values: vb,
                    default: db,
                },
            ) => {
                let text = |r: &Ranges, v: &[String]| -> Vec<(u32, u32, String)> {
                    r.iter()
                        .map(|(s, e, i)| (s, e, v.get(i as usize).cloned().unwrap_or_default()))
                        .collect()
                };
                da == db && text(ra, va) == text(rb, vb)
            }
            _ => false,
        }
    }
}

impl Eq for GeoTable {}

impl Geo {
    /// The value for `addr` (already taken through `proxy`); `None` is an address that could
    /// not be read (nginx looks up 255.255.255.255 then, as for a unix-socket client).
    pub fn lookup(&self, addr: Option<IpAddr>) -> &str {
        let none = IpAddr::V4(std::net::Ipv4Addr::BROADCAST);
        let ip = unmap(addr.unwrap_or(none));
        match &self.table {
            GeoTable::Cidr { trie, values, .. } => trie
                .longest(ip)
                .and_then(|i| values.get(i as usize))
                .map_or("", String::as_str),
            GeoTable::Ranges {
                ranges,
                values,
                default,
            } => {
                // Ranges are IPv4 only: an IPv6 address takes the value of 255.255.255.255.
                let v4 = match ip {
                    IpAddr::V4(a) => u32::from(a),
                    IpAddr::V6(_) => u32::MAX,
                };
                ranges
                    .get(v4)
                    .and_then(|i| values.get(i as usize))
                    .unwrap_or(default)
            }
        }
    }

    /// Whether `ip` is a trusted `proxy`.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = unmap(ip);
        self.proxies.iter().any(|c| c.contains(ip))
    }
}

/// `split_clients $string $name { N% value; … * value; }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitClients {
    /// Without `$`.
    pub name: String,
    pub source: Template,
    /// In order: the percentage as written (in hundredths, 0 for `*`) and the value.
    pub parts: Vec<(u32, String)>,
    /// nginx's bucket bounds, one per part: a hash below it picks the part; 0 takes
    /// everything left (`*`, or the part that brings the total to 100%).
    pub bounds: Vec<u32>,
}

impl SplitClients {
    /// nginx's bounds for parts given in hundredths of a percent (sum ≤ 10000, checked by
    /// the caller).
    pub fn bounds(parts: &[(u32, String)]) -> Vec<u32> {
        let mut sum = 0u32;
        let mut last = 0u64;
        parts
            .iter()
            .map(|&(percent, _)| {
                sum = if percent == 0 { 10_000 } else { sum + percent };
                if sum >= 10_000 {
                    return 0;
                }
                last += u64::from(percent) * 0xffff_ffff / 10_000;
                // `last` stays below 2^32: the shares sum to less than 100%.
                last as u32
            })
            .collect()
    }

    /// The value for a hashed key (`None`: no part takes it, the variable is empty).
    pub fn pick(&self, hash: u32) -> Option<&str> {
        self.bounds
            .iter()
            .zip(&self.parts)
            .find(|(&b, _)| hash < b || b == 0)
            .map(|(_, (_, v))| v.as_str())
    }
}

/// One `allow` or `deny`, as resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRule {
    pub allow: bool,
    pub what: AccessWhat,
}

/// What an access rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessWhat {
    All,
    /// Clients on a unix socket (`unix:`).
    Unix,
    Net(Cidr),
}

/// The `allow`/`deny` rules of a location, in order, with a trie for the networks so a long
/// list costs no more than a short one. Empty: everything is allowed.
#[derive(Debug, Clone, Default)]
pub struct AccessRules {
    pub rules: Vec<AccessRule>,
    /// Network rules by their index in `rules` (the smallest on the path wins).
    trie: Trie,
    /// Index of the first `all` rule.
    first_all: Option<u32>,
    /// Index of the first `unix:` rule.
    first_unix: Option<u32>,
}

/// The rules decide; the trie is derived from them.
impl PartialEq for AccessRules {
    fn eq(&self, other: &Self) -> bool {
        self.rules == other.rules
    }
}

impl Eq for AccessRules {}

impl AccessRules {
    pub fn new(rules: Vec<AccessRule>) -> AccessRules {
        let mut out = AccessRules::default();
        for (i, rule) in rules.iter().enumerate() {
            let i = i as u32;
            match rule.what {
                AccessWhat::All => {
                    out.first_all.get_or_insert(i);
                }
                AccessWhat::Unix => {
                    out.first_unix.get_or_insert(i);
                }
                AccessWhat::Net(c) => out.trie.insert_min(c, i),
            }
        }
        out.rules = rules;
        out
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule matching a client at `ip` (`None`: a unix-socket client); `None` when
    /// no rule matches (the request is allowed).
    pub fn first_match(&self, ip: Option<IpAddr>) -> Option<&AccessRule> {
        let specific = match ip {
            Some(ip) => self.trie.path(unmap(ip)).min(),
            None => self.first_unix,
        };
        let i = match (specific, self.first_all) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        self.rules.get(i as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, what: &str) -> AccessRule {
        let what = match what {
            "all" => AccessWhat::All,
            "unix:" => AccessWhat::Unix,
            net => AccessWhat::Net(Cidr::parse(net).unwrap().cidr),
        };
        AccessRule { allow, what }
    }

    #[test]
    fn first_matching_rule_decides() {
        let rules = AccessRules::new(vec![
            rule(false, "192.168.1.1"),
            rule(true, "192.168.1.0/24"),
            rule(true, "2001:db8::/32"),
            rule(false, "all"),
        ]);
        let at = |s: &str| rules.first_match(Some(s.parse().unwrap())).map(|r| r.allow);
        assert_eq!(at("192.168.1.1"), Some(false));
        assert_eq!(at("192.168.1.2"), Some(true));
        assert_eq!(at("::ffff:192.168.1.2"), Some(true));
        assert_eq!(at("2001:db8::1"), Some(true));
        assert_eq!(at("10.0.0.1"), Some(false));
        assert_eq!(rules.first_match(None).map(|r| r.allow), Some(false));
        let unix = AccessRules::new(vec![rule(false, "unix:")]);
        assert_eq!(unix.first_match(None).map(|r| r.allow), Some(false));
        assert!(unix
            .first_match(Some("127.0.0.1".parse().unwrap()))
            .is_none());
    }

    #[test]
    fn large_rule_lists_keep_order() {
        let mut list: Vec<AccessRule> = (0..10_000u32)
            .map(|i| {
                let a = std::net::Ipv4Addr::from(0x0a00_0000 | (i << 8));
                rule(i % 2 == 0, &format!("{a}/24"))
            })
            .collect();
        list.insert(0, rule(false, "10.0.2.0/24"));
        let rules = AccessRules::new(list);
        let at = |s: &str| rules.first_match(Some(s.parse().unwrap())).map(|r| r.allow);
        assert_eq!(at("10.0.0.9"), Some(true));
        assert_eq!(at("10.0.1.9"), Some(false));
        assert_eq!(at("10.0.2.9"), Some(false));
        assert_eq!(at("11.0.0.1"), None);
    }

    #[test]
    fn split_clients_bounds_as_nginx() {
        let parts = vec![
            (5120, ".one".to_string()),
            (1000, ".two".to_string()),
            (0, ".three".to_string()),
        ];
        let bounds = SplitClients::bounds(&parts);
        assert_eq!(bounds[0], (5120u64 * 0xffff_ffff / 10_000) as u32);
        assert_eq!(
            bounds[1],
            (5120u64 * 0xffff_ffff / 10_000 + 1000u64 * 0xffff_ffff / 10_000) as u32
        );
        assert_eq!(bounds[2], 0);
        let full = SplitClients::bounds(&[(5000, "a".into()), (5000, "b".into())]);
        assert_eq!(full[1], 0);
    }
}
