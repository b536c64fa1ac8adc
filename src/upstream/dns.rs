//! DNS wire format for `resolver` (sans-io): the query anx sends for one name and record
//! type, and the reading of a name server's reply.
//!
//! Sits under `net::resolver`, which sends these over UDP (TCP when a reply comes
//! truncated) and caches the result per shard, before `serve::proxy` connects to a
//! `proxy_pass` host named by variables. The reading follows nginx's resolver: a reply that
//! does not answer the question asked (wrong id, question, flags, a malformed record, a
//! FORMERR) is ignored, so the query is resent after a while rather than failing at once;
//! SERVFAIL, NXDOMAIN, NOTIMP and REFUSED fail the name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const TYPE_A: u16 = 1;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_DNAME: u16 = 39;

/// The longest name a query may carry, in text (nginx takes 255).
const MAX_NAME: usize = 255;

/// What one reply says about the question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Not an answer to this question, or malformed: keep waiting (nginx's reading).
    Ignore(&'static str),
    /// The TC bit: ask again over TCP.
    Truncated,
    /// The server's error code (2 SERVFAIL, 3 NXDOMAIN, 4 NOTIMP, 5 REFUSED).
    Error(u8),
    /// No error: what the answer section holds (`upstream::dns_answers` decides what the
    /// name comes to once A and AAAA are both in).
    Answer(Answer),
}

/// The usable part of a NOERROR reply's answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Addresses of the asked type, in the order given.
    pub addrs: Vec<IpAddr>,
    /// The target of the last CNAME record read, whoever owns it (nginx does not check).
    pub cname: Option<String>,
    /// The smallest TTL of every record read (`u32::MAX` for none), in seconds.
    pub ttl: u32,
    /// How many records the answer section holds, usable or not: an empty section and one
    /// of only unusable records end differently (nginx's reading).
    pub records: u16,
}

/// An empty answer section: no address, no alias, no TTL bound.
impl Default for Answer {
    fn default() -> Self {
        Answer {
            addrs: Vec::new(),
            cname: None,
            ttl: u32::MAX,
            records: 0,
        }
    }
}

/// nginx's text for a DNS error code, as in "x could not be resolved (3: Host not found)".
pub fn error_text(code: u8) -> &'static str {
    match code {
        1 => "Format error",
        2 => "Server failure",
        3 => "Host not found",
        4 => "Unimplemented",
        5 => "Operation refused",
        _ => "Unknown error",
    }
}

/// The query for `name` (no trailing dot needed) and `qtype`, with recursion desired.
/// `None` for a name DNS cannot carry (empty label, a label over 63 bytes, too long).
pub fn query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > MAX_NAME {
        return None;
    }
    let mut out = Vec::with_capacity(18 + name.len());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&[0, 1]);
    Some(out)
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*buf.get(at)?, *buf.get(at + 1)?]))
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *buf.get(at)?,
        *buf.get(at + 1)?,
        *buf.get(at + 2)?,
        *buf.get(at + 3)?,
    ]))
}

/// Reads the (possibly compressed) name at `at`: the name, lowercased and dotted, and the
/// offset just past it in the record.
fn read_name(buf: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *buf.get(at)? as usize;
        if len & 0xc0 == 0xc0 {
            let target = (u16_at(buf, at)? & 0x3fff) as usize;
            end.get_or_insert(at + 2);
            jumps += 1;
            if jumps > 32 {
                return None;
            }
            at = target;
            continue;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        if len == 0 {
            return Some((name, end.unwrap_or(at + 1)));
        }
        let label = buf.get(at + 1..at + 1 + len)?;
        if !name.is_empty() {
            name.push('.');
        }
        for &b in label {
            name.push(b.to_ascii_lowercase() as char);
        }
        if name.len() > 255 {
            return None;
        }
        at += 1 + len;
    }
}

/// Reads the reply `buf` to the query `id` for `name` / `qtype`. `tcp`: it came over TCP,
/// where a truncated reply is an error, not a reason to ask again.
pub fn parse(buf: &[u8], id: u16, name: &str, qtype: u16, tcp: bool) -> Reply {
    let Some(got_id) = u16_at(buf, 0) else {
        return Reply::Ignore("short DNS response");
    };
    if buf.len() < 12 {
        return Reply::Ignore("short DNS response");
    }
    if got_id != id {
        return Reply::Ignore("wrong ident in DNS response");
    }
    let flags = u16_at(buf, 2).unwrap_or(0);
    let truncated = flags & 0x0200 != 0;
    // A response (QR) to a standard query (opcode 0), without the reserved bit.
    if flags & 0xf870 != 0x8000 || (truncated && tcp) {
        return Reply::Ignore("invalid DNS response flags");
    }
    match (flags & 0xf) as u8 {
        0 => {}
        // nginx ignores FORMERR and codes past REFUSED and waits to resend.
        1 | 6.. => return Reply::Ignore("DNS error"),
        code => return Reply::Error(code),
    }
    if truncated {
        return Reply::Truncated;
    }
    let (qd, an) = (u16_at(buf, 4).unwrap_or(0), u16_at(buf, 6).unwrap_or(0));
    if qd != 1 {
        return Reply::Ignore("invalid number of questions in DNS response");
    }
    let Some((asked, mut at)) = read_name(buf, 12) else {
        return Reply::Ignore("invalid name in DNS response");
    };
    let want = name.strip_suffix('.').unwrap_or(name);
    if !asked.eq_ignore_ascii_case(want) {
        return Reply::Ignore("unexpected DNS response");
    }
    if u16_at(buf, at) != Some(qtype) || u16_at(buf, at + 2) != Some(1) {
        return Reply::Ignore("unexpected DNS response");
    }
    at += 4;
    let mut addrs = Vec::new();
    let mut cname = None;
    let mut ttl = u32::MAX;
    for _ in 0..an {
        let Some((_, next)) = read_name(buf, at) else {
            return Reply::Ignore("short DNS response");
        };
        at = next;
        let (Some(rtype), Some(class), Some(rttl), Some(len)) = (
            u16_at(buf, at),
            u16_at(buf, at + 2),
            u32_at(buf, at + 4),
            u16_at(buf, at + 8),
        ) else {
            return Reply::Ignore("short DNS response");
        };
        if class != 1 {
            return Reply::Ignore("unexpected RR class in DNS response");
        }
        // A TTL with the top bit set counts as zero (RFC 2181).
        ttl = ttl.min(if rttl > i32::MAX as u32 { 0 } else { rttl });
        at += 10;
        let len = len as usize;
        let Some(data) = buf.get(at..at + len) else {
            return Reply::Ignore("short DNS response");
        };
        match rtype {
            TYPE_A | TYPE_AAAA if rtype != qtype => {
                return Reply::Ignore("unexpected address record in DNS response")
            }
            TYPE_A => match <[u8; 4]>::try_from(data) {
                Ok(b) => addrs.push(IpAddr::V4(Ipv4Addr::from(b))),
                Err(_) => return Reply::Ignore("invalid A record in DNS response"),
            },
            TYPE_AAAA => match <[u8; 16]>::try_from(data) {
                Ok(b) => addrs.push(IpAddr::V6(Ipv6Addr::from(b))),
                Err(_) => return Reply::Ignore("invalid AAAA record in DNS response"),
            },
            TYPE_CNAME => match read_name(buf, at) {
                Some((target, _)) if !target.is_empty() => cname = Some(target),
                _ => return Reply::Ignore("invalid CNAME record in DNS response"),
            },
            // DNAME comes with the CNAME it synthesises, which is followed.
            _ => {}
        }
        at += len;
    }
    Reply::Answer(Answer {
        addrs,
        cname,
        ttl,
        records: an,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply to `query(id, name, qtype)` with `answers` appended (each a full record).
    fn reply(id: u16, flags: u16, name: &str, qtype: u16, answers: &[Vec<u8>]) -> Vec<u8> {
        let q = query(id, name, qtype).unwrap();
        let mut out = q[..2].to_vec();
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&q[12..]);
        for a in answers {
            out.extend_from_slice(a);
        }
        out
    }

    /// A record owned by the question's name (pointer to offset 12).
    fn record(rtype: u16, ttl: u32, data: &[u8]) -> Vec<u8> {
        let mut out = vec![0xc0, 12];
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn builds_a_query() {
        let q = query(0x1234, "a.example.net", TYPE_A).unwrap();
        assert_eq!(&q[..4], &[0x12, 0x34, 1, 0]);
        assert_eq!(&q[12..], b"\x01a\x07example\x03net\x00\x00\x01\x00\x01");
        assert!(query(1, "a..b", TYPE_A).is_none());
        assert!(query(1, &"x".repeat(64), TYPE_A).is_none());
    }

    #[test]
    fn reads_addresses_with_the_smallest_ttl() {
        let r = reply(
            7,
            0x8180,
            "many.example.net",
            TYPE_A,
            &[
                record(TYPE_A, 60, &[127, 0, 0, 201]),
                record(TYPE_A, 30, &[127, 0, 0, 202]),
            ],
        );
        let got = parse(&r, 7, "MANY.example.net", TYPE_A, false);
        assert_eq!(
            got,
            Reply::Answer(Answer {
                addrs: vec![
                    "127.0.0.201".parse().unwrap(),
                    "127.0.0.202".parse().unwrap()
                ],
                cname: None,
                ttl: 30,
                records: 2,
            })
        );
    }

    #[test]
    fn follows_nginx_on_odd_replies() {
        let ok = reply(7, 0x8180, "a.example.net", TYPE_A, &[]);
        assert_eq!(
            parse(&ok, 7, "a.example.net", TYPE_A, false),
            Reply::Answer(Answer::default())
        );
        assert!(matches!(
            parse(&ok, 8, "a.example.net", TYPE_A, false),
            Reply::Ignore(_)
        ));
        let servfail = reply(7, 0x8182, "a.example.net", TYPE_A, &[]);
        assert_eq!(
            parse(&servfail, 7, "a.example.net", TYPE_A, false),
            Reply::Error(2)
        );
        let formerr = reply(7, 0x8181, "a.example.net", TYPE_A, &[]);
        assert!(matches!(
            parse(&formerr, 7, "a.example.net", TYPE_A, false),
            Reply::Ignore(_)
        ));
        let tc = reply(7, 0x8380, "a.example.net", TYPE_A, &[]);
        assert_eq!(
            parse(&tc, 7, "a.example.net", TYPE_A, false),
            Reply::Truncated
        );
        assert!(matches!(
            parse(&tc, 7, "a.example.net", TYPE_A, true),
            Reply::Ignore(_)
        ));
        let short = reply(
            7,
            0x8180,
            "a.example.net",
            TYPE_A,
            &[record(TYPE_A, 1, &[])],
        );
        assert!(matches!(
            parse(&short, 7, "a.example.net", TYPE_A, false),
            Reply::Ignore(_)
        ));
        assert!(matches!(
            parse(&[0; 5], 0, "a", TYPE_A, false),
            Reply::Ignore(_)
        ));
    }

    #[test]
    fn reads_a_cname_through_compression() {
        // alias -> pointer to "example.net" inside the question (offset 12 + 1 + 5).
        let r = reply(
            1,
            0x8180,
            "cname.example.net",
            TYPE_A,
            &[record(TYPE_CNAME, 5, b"\x05alias\xc0\x12")],
        );
        assert_eq!(
            parse(&r, 1, "cname.example.net", TYPE_A, false),
            Reply::Answer(Answer {
                addrs: vec![],
                cname: Some("alias.example.net".to_string()),
                ttl: 5,
                records: 1,
            })
        );
        // A pointer loop is malformed, not a hang.
        let looped = reply(
            1,
            0x8180,
            "x.example.net",
            TYPE_A,
            &[record(TYPE_CNAME, 5, b"\xc0\x00")],
        );
        let mut looped = looped;
        let n = looped.len();
        looped[n - 2] = 0xc0;
        looped[n - 1] = (n - 2) as u8;
        assert!(matches!(
            parse(&looped, 1, "x.example.net", TYPE_A, false),
            Reply::Ignore(_)
        ));
    }

    #[test]
    fn keeps_an_alias_next_to_the_addresses_and_counts_every_record() {
        // CNAME to "alias.example.net", then the target's AAAA (owner: pointer to the
        // CNAME's data, as the test name servers write it) and a DNAME, which is skipped.
        let name = "cn.example.net";
        // Header 12 + question 20 + the CNAME's owner, type, class, TTL and length 12.
        let target_at = 44;
        let mut aaaa = record(
            TYPE_AAAA,
            40,
            &[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        );
        aaaa[1] = target_at;
        let r = reply(
            3,
            0x8180,
            name,
            TYPE_AAAA,
            &[
                record(TYPE_CNAME, 60, b"\x05alias\xc0\x0f"),
                aaaa,
                record(TYPE_DNAME, 20, b"\x00"),
            ],
        );
        assert_eq!(
            parse(&r, 3, name, TYPE_AAAA, false),
            Reply::Answer(Answer {
                addrs: vec!["fe80::1".parse().unwrap()],
                cname: Some("alias.example.net".to_string()),
                ttl: 20,
                records: 3,
            })
        );
        // An A record in the answer to an AAAA question is a broken reply, not an answer.
        let wrong = reply(
            3,
            0x8180,
            name,
            TYPE_AAAA,
            &[record(TYPE_A, 1, &[1, 2, 3, 4])],
        );
        assert!(matches!(
            parse(&wrong, 3, name, TYPE_AAAA, false),
            Reply::Ignore(_)
        ));
    }
}
