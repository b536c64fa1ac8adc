//! Address sets for the geo and access modules: CIDR networks ([`Cidr`]), a binary prefix
//! trie over them ([`Trie`]) and the IPv4 range table of `geo … { ranges; }` ([`Ranges`]).
//!
//! Built by `config::resolve` at load time; read on the request path by `context::geo` and
//! `phases::access`, which only walk them (no allocation). A lookup costs at most 32 (IPv4)
//! or 128 (IPv6) steps down the trie, or one binary search in the range table, whatever the
//! number of entries.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A network as written in `allow`, `deny`, `geo` and `geo … proxy`: address and prefix
/// length, host bits already cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

/// What [`Cidr::parse`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub cidr: Cidr,
    /// The address had bits set below the prefix (nginx warns "low address bits of … are
    /// meaningless" and clears them).
    pub low_bits: bool,
}

impl Cidr {
    /// nginx's `ngx_ptocidr`: `addr` (a host) or `addr/len`.
    pub fn parse(text: &str) -> Option<Parsed> {
        let (addr, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let width = width(&addr);
        let prefix = match len {
            None => width,
            Some(l) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => {
                let n: u8 = l.parse().ok()?;
                if n > width {
                    return None;
                }
                n
            }
            Some(_) => return None,
        };
        let key = key(addr);
        let masked = key & mask(prefix);
        Some(Parsed {
            cidr: Cidr {
                addr: from_key(masked, addr.is_ipv4()),
                prefix,
            },
            low_bits: masked != key,
        })
    }

    /// The whole IPv4 space (`0.0.0.0/0`) or IPv6 space (`::/0`).
    pub fn everything(v6: bool) -> Cidr {
        let addr = if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        Cidr { addr, prefix: 0 }
    }

    /// Whether `ip` lies in this network (an IPv4 network never holds an IPv6 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.addr.is_ipv4() == ip.is_ipv4() && key(ip) & mask(self.prefix) == key(self.addr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn width(addr: &IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

/// The address left-aligned in 128 bits, so both families walk the trie from bit 127.
fn key(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)) << 96,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_key(key: u128, v4: bool) -> IpAddr {
    if v4 {
        // The key of an IPv4 address has nothing below bit 96.
        IpAddr::V4(Ipv4Addr::from((key >> 96) as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(key))
    }
}

fn mask(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p.min(128))),
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it carries, as nginx
/// reads client and forwarded addresses for geo and access.
pub fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// No value stored at a trie node.
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    child: [u32; 2],
    value: u32,
}

/// A binary prefix trie from networks to `u32` values (indexes into the caller's table),
/// one root per family. Nodes live in one vector; child 0 is never a child, so it means
/// "none".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trie {
    nodes: Vec<Node>,
}

impl Default for Trie {
    fn default() -> Self {
        let root = Node {
            child: [0, 0],
            value: NONE,
        };
        // 0: unused (the "no child" marker), 1: IPv4 root, 2: IPv6 root.
        Trie {
            nodes: vec![root.clone(), root.clone(), root],
        }
    }
}

impl Trie {
    fn root(v4: bool) -> usize {
        if v4 {
            1
        } else {
            2
        }
    }

    /// The node for `net`, created on the way when `create`.
    fn node(&mut self, net: Cidr, create: bool) -> Option<usize> {
        let k = key(net.addr);
        let mut at = Self::root(net.addr.is_ipv4());
        for bit in 0..u32::from(net.prefix) {
            let b = ((k >> (127 - bit)) & 1) as usize;
            let next = self.nodes[at].child[b];
            at = if next != 0 {
                next as usize
            } else if create {
                let new = self.nodes.len() as u32;
                self.nodes.push(Node {
                    child: [0, 0],
                    value: NONE,
                });
                self.nodes[at].child[b] = new;
                new as usize
            } else {
                return None;
            };
        }
        Some(at)
    }

    /// Stores `value` for `net`; returns the value it replaces.
    pub fn insert(&mut self, net: Cidr, value: u32) -> Option<u32> {
        let at = self.node(net, true)?;
        let old = std::mem::replace(&mut self.nodes[at].value, value);
        (old != NONE).then_some(old)
    }

    /// Stores `value` for `net` unless a smaller one is there (first rule wins).
    pub fn insert_min(&mut self, net: Cidr, value: u32) {
        if let Some(at) = self.node(net, true) {
            let v = &mut self.nodes[at].value;
            *v = (*v).min(value);
        }
    }

    /// The value stored for exactly `net`.
    pub fn get(&mut self, net: Cidr) -> Option<u32> {
        let at = self.node(net, false)?;
        let v = self.nodes[at].value;
        (v != NONE).then_some(v)
    }

    /// Removes the value of exactly `net`; false when there was none. (The nodes stay: a
    /// deleted entry is rare and the trie is rebuilt on reload.)
    pub fn remove(&mut self, net: Cidr) -> bool {
        match self.node(net, false) {
            Some(at) if self.nodes[at].value != NONE => {
                self.nodes[at].value = NONE;
                true
            }
            _ => false,
        }
    }

    /// Every value on the way from the root to `ip`, shortest prefix first.
    pub fn path(&self, ip: IpAddr) -> impl Iterator<Item = u32> + '_ {
        let k = key(ip);
        let depth = u32::from(width(&ip));
        let mut at = Self::root(ip.is_ipv4());
        let mut bit = 0;
        let mut done = false;
        std::iter::from_fn(move || loop {
            if done {
                return None;
            }
            let here = self.nodes[at].value;
            if bit == depth {
                done = true;
            } else {
                let b = ((k >> (127 - bit)) & 1) as usize;
                let next = self.nodes[at].child[b];
                bit += 1;
                if next == 0 {
                    done = true;
                } else {
                    at = next as usize;
                }
            }
            if here != NONE {
                return Some(here);
            }
        })
    }

    /// The value of the longest network holding `ip`.
    pub fn longest(&self, ip: IpAddr) -> Option<u32> {
        self.path(ip).last()
    }
}

/// An error while adding to [`Ranges`], in nginx's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// `range "…" overlaps "a.b.c.d-a.b.c.d"`: the part of an existing range it cuts.
    Overlaps(u32, u32),
}

/// What adding or deleting a range did, for nginx's warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RangeNote {
    /// The value an identical range had (`duplicate range`).
    pub replaced: Option<u32>,
}

/// `geo { ranges; }`: disjoint IPv4 ranges with a value each, sorted by start.
///
/// As nginx, ranges are kept per /16 (a range crossing one is stored in pieces) and a new
/// range must either not touch any stored piece or lie inside one (which it then splits);
/// an identical piece has its value replaced. `delete` removes pieces that match exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranges {
    /// start → (end, value), disjoint.
    pieces: std::collections::BTreeMap<u32, (u32, u32)>,
}

/// The /16 pieces of `start..=end`.
fn pieces(start: u32, end: u32) -> impl Iterator<Item = (u32, u32)> {
    let mut next = Some(start);
    std::iter::from_fn(move || {
        let s = next?;
        let e = (s | 0xffff).min(end);
        next = if e >= end { None } else { Some(e + 1) };
        Some((s, e))
    })
}

impl Ranges {
    /// Adds `start..=end` → `value`.
    pub fn add(&mut self, start: u32, end: u32, value: u32) -> Result<RangeNote, RangeError> {
        // Checked first, so a failing range changes nothing.
        let mut note = RangeNote::default();
        for (s, e) in pieces(start, end) {
            if let Some(around) = self.around(s, e)? {
                if around == (s, e) {
                    note.replaced = self.pieces.get(&s).map(|p| p.1);
                }
            }
        }
        for (s, e) in pieces(start, end) {
            match self.around(s, e) {
                Ok(Some((os, oe))) => {
                    let old = self.pieces.get(&os).map_or(NONE, |p| p.1);
                    if os < s {
                        self.pieces.insert(os, (s - 1, old));
                    } else {
                        self.pieces.remove(&os);
                    }
                    if oe > e {
                        self.pieces.insert(e + 1, (oe, old));
                    }
                    self.pieces.insert(s, (e, value));
                }
                Ok(None) => {
                    self.pieces.insert(s, (e, value));
                }
                Err(_) => {}
            }
        }
        Ok(note)
    }

    /// The stored piece holding `s..=e`, `None` when nothing touches it, an error when one
    /// overlaps it only in part.
    fn around(&self, s: u32, e: u32) -> Result<Option<(u32, u32)>, RangeError> {
        // The last piece starting at or before `e` is the only one that may touch it, the
        // pieces being disjoint… unless it ends before `s`.
        let Some((&ps, &(pe, _))) = self.pieces.range(..=e).next_back() else {
            return Ok(None);
        };
        if pe < s {
            return Ok(None);
        }
        if ps <= s && pe >= e {
            return Ok(Some((ps, pe)));
        }
        Err(RangeError::Overlaps(ps, pe))
    }

    /// Removes the pieces of `start..=end` that are stored exactly; false when some piece
    /// was not (nginx: `no address range "…" to delete`).
    pub fn delete(&mut self, start: u32, end: u32) -> bool {
        let mut all = true;
        for (s, e) in pieces(start, end) {
            match self.pieces.get(&s) {
                Some(&(pe, _)) if pe == e => {
                    self.pieces.remove(&s);
                }
                _ => all = false,
            }
        }
        all
    }

    /// The value of the range holding `ip`.
    pub fn get(&self, ip: u32) -> Option<u32> {
        let (_, &(end, value)) = self.pieces.range(..=ip).next_back()?;
        (ip <= end).then_some(value)
    }

    /// The stored pieces in order: (start, end, value).
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32, u32)> + '_ {
        self.pieces.iter().map(|(&s, &(e, v))| (s, e, v))
    }
}

/// A `proxy_bind` address: "ip", "ip:port" or "[v6]:port" (port 0 when not given).
pub fn local_addr(text: &[u8]) -> Option<std::net::SocketAddr> {
    let text = std::str::from_utf8(text).ok()?;
    if let Ok(a) = text.parse::<std::net::SocketAddr>() {
        return Some(a);
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| std::net::SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Cidr {
        Cidr::parse(s).unwrap().cidr
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_networks_as_nginx() {
        assert_eq!(net("127.0.0.0/8").to_string(), "127.0.0.0/8");
        assert_eq!(net("10.1.2.3").to_string(), "10.1.2.3/32");
        assert_eq!(net("2001:0db8::/32").to_string(), "2001:db8::/32");
        let p = Cidr::parse("10.1.2.3/8").unwrap();
        assert!(p.low_bits);
        assert_eq!(p.cidr.to_string(), "10.0.0.0/8");
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "x",
            "::/129",
            "1.2.3.4/",
            "1.2.3.4/+1",
        ] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
        assert!(net("10.0.0.0/8").contains(ip("10.9.9.9")));
        assert!(!net("10.0.0.0/8").contains(ip("::a00:1")));
    }

    #[test]
    fn trie_longest_prefix() {
        let mut t = Trie::default();
        t.insert(net("0.0.0.0/0"), 0);
        t.insert(net("127.0.0.0/8"), 1);
        t.insert(net("127.0.0.1/32"), 2);
        t.insert(net("::1/128"), 3);
        assert_eq!(t.longest(ip("127.0.0.1")), Some(2));
        assert_eq!(t.longest(ip("127.0.0.2")), Some(1));
        assert_eq!(t.longest(ip("8.8.8.8")), Some(0));
        assert_eq!(t.longest(ip("::1")), Some(3));
        assert_eq!(t.longest(ip("::2")), None);
        assert!(t.remove(net("127.0.0.0/8")));
        assert!(!t.remove(net("127.0.0.0/8")));
        assert_eq!(t.longest(ip("127.0.0.2")), Some(0));
        assert_eq!(t.insert(net("127.0.0.1/32"), 5), Some(2));
    }

    #[test]
    fn trie_with_ten_thousand_networks() {
        let mut t = Trie::default();
        for i in 0..10_000u32 {
            let a = Ipv4Addr::from(0x0a00_0000 | (i << 8));
            t.insert(Cidr::parse(&format!("{a}/24")).unwrap().cidr, i);
            let b = Ipv6Addr::from((0x2001_0db8u128 << 96) | (u128::from(i) << 64));
            t.insert(Cidr::parse(&format!("{b}/64")).unwrap().cidr, i);
        }
        for i in (0..10_000u32).step_by(97) {
            let a = Ipv4Addr::from(0x0a00_0000 | (i << 8) | 7);
            assert_eq!(t.longest(IpAddr::V4(a)), Some(i));
            let b = Ipv6Addr::from((0x2001_0db8u128 << 96) | (u128::from(i) << 64) | 9);
            assert_eq!(t.longest(IpAddr::V6(b)), Some(i));
        }
        assert_eq!(t.longest(ip("11.0.0.1")), None);
    }

    #[test]
    fn first_rule_wins_with_insert_min() {
        let mut t = Trie::default();
        t.insert_min(net("10.0.0.0/8"), 3);
        t.insert_min(net("10.1.0.0/16"), 5);
        t.insert_min(net("10.0.0.0/8"), 7);
        assert_eq!(t.path(ip("10.1.2.3")).min(), Some(3));
    }

    fn v4(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    #[test]
    fn ranges_insert_split_and_overlap_as_nginx() {
        let mut r = Ranges::default();
        r.add(v4("127.0.0.0"), v4("127.0.0.255"), 0).unwrap();
        r.add(v4("127.0.0.1"), v4("127.0.0.2"), 1).unwrap();
        r.add(v4("127.0.0.1"), v4("127.0.0.1"), 2).unwrap();
        assert_eq!(r.get(v4("127.0.0.0")), Some(0));
        assert_eq!(r.get(v4("127.0.0.1")), Some(2));
        assert_eq!(r.get(v4("127.0.0.2")), Some(1));
        assert_eq!(r.get(v4("127.0.0.3")), Some(0));
        assert_eq!(r.get(v4("127.0.1.0")), None);
        let dup = r.add(v4("127.0.0.1"), v4("127.0.0.1"), 3).unwrap();
        assert_eq!(dup.replaced, Some(2));
        assert!(matches!(
            r.add(v4("127.0.0.200"), v4("127.0.1.5"), 4),
            Err(RangeError::Overlaps(..))
        ));
        // Pieces per /16: a range over two of them deletes as it was added.
        r.add(v4("10.10.3.0"), v4("10.11.2.255"), 5).unwrap();
        assert_eq!(r.get(v4("10.11.2.1")), Some(5));
        assert!(r.delete(v4("10.10.3.0"), v4("10.11.2.255")));
        assert_eq!(r.get(v4("10.11.2.1")), None);
        assert!(!r.delete(v4("127.0.0.0"), v4("127.0.0.1")));
    }

    #[test]
    fn ranges_hundred_thousand_entries() {
        let mut r = Ranges::default();
        for i in 0..100_000u32 {
            let a = 0x7f00_0000 | i;
            r.add(a, a, i).unwrap();
        }
        assert_eq!(r.get(0x7f00_0001), Some(1));
        assert_eq!(r.get(0x7f00_0000 | 99_999), Some(99_999));
        assert_eq!(r.get(0x7f00_0000 | 100_000), None);
    }
}
