//! What one name comes to once the A and AAAA replies are both in (sans-io): addresses, an
//! alias to resolve instead, or an error. `net::resolver` asks both questions through
//! `upstream::dns` and hands the replies here before `serve::proxy` connects.
//!
//! The rules are nginx's (`ngx_resolver_process_a`), which reads the replies one after the
//! other and decides on the second:
//! - an error in either reply fails the name, even when the other has addresses;
//! - otherwise every address of both replies is the answer, and aliases are not followed;
//! - with no address, only the CNAME of the reply read last is followed (the target asked
//!   again for both types): a CNAME-only reply read first is dropped, so a CNAME for A
//!   with an empty AAAA reply is "host not found";
//! - an empty second reply and no address at all is "host not found"; a second reply that
//!   holds records but neither an address nor a CNAME leaves nginx waiting for the
//!   resolver timeout ([`Outcome::Unusable`]).
//!
//! anx asks A and AAAA at once and reads them as nginx does a server that answers in the
//! order asked: A first, AAAA last.

use std::net::IpAddr;

use super::dns::Answer;

/// DNS NXDOMAIN, nginx's "Host not found".
pub const NXDOMAIN: u8 = 3;

/// One type's reply: its answer section, or the server's DNS error code.
pub type Response = Result<Answer, u8>;

/// One name's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The name's addresses (A first), valid for `ttl` seconds (smallest TTL read).
    Addrs { addrs: Vec<IpAddr>, ttl: u32 },
    /// Resolve `target` instead; the alias itself is valid for `ttl` seconds.
    Alias { target: String, ttl: u32 },
    /// The name fails with this DNS error code.
    Fail(u8),
    /// Records, but none nginx can use: it answers nothing until the resolver times out.
    Unusable,
}

/// Combines the reply read `first` (none when only one type is asked) with the one read
/// `last`.
pub fn combine(first: Option<Response>, last: Response) -> Outcome {
    let (early, error) = match first {
        None => (Answer::default(), None),
        Some(Ok(a)) => (a, None),
        Some(Err(code)) => (Answer::default(), Some(code)),
    };
    // The error of the last reply is the one reported when both fail.
    let last = match (last, error) {
        (Err(code), _) | (Ok(_), Some(code)) => return Outcome::Fail(code),
        (Ok(a), None) => a,
    };
    let ttl = early.ttl.min(last.ttl);
    if last.records == 0 && early.addrs.is_empty() {
        return Outcome::Fail(NXDOMAIN);
    }
    if !early.addrs.is_empty() || !last.addrs.is_empty() {
        let mut addrs = early.addrs;
        addrs.extend(last.addrs);
        return Outcome::Addrs { addrs, ttl };
    }
    match last.cname {
        Some(target) => Outcome::Alias { target, ttl },
        None => Outcome::Unusable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: u32 = 3600;

    fn addrs(list: &[&str]) -> Answer {
        Answer {
            addrs: list.iter().map(|a| a.parse().unwrap()).collect(),
            cname: None,
            ttl: TTL,
            records: list.len() as u16,
        }
    }

    fn cname(target: &str) -> Answer {
        Answer {
            addrs: vec![],
            cname: Some(target.to_string()),
            ttl: TTL,
            records: 1,
        }
    }

    fn cname_and(target: &str, list: &[&str]) -> Answer {
        let mut a = addrs(list);
        a.cname = Some(target.to_string());
        a.records += 1;
        a
    }

    fn got(list: &[&str]) -> Outcome {
        Outcome::Addrs {
            addrs: addrs(list).addrs,
            ttl: TTL,
        }
    }

    fn alias(target: &str) -> Outcome {
        Outcome::Alias {
            target: target.to_string(),
            ttl: TTL,
        }
    }

    /// The A / AAAA pairs of nginx-tests' http_resolver_aaaa.t, by the name's prefix.
    #[test]
    fn follows_nginx_for_every_pair_of_answers() {
        let a = || Ok(addrs(&["127.0.0.201"]));
        let a2 = || Ok(addrs(&["127.0.0.201", "127.0.0.202"]));
        let six = || Ok(addrs(&["fe80::1"]));
        let six2 = || Ok(addrs(&["fe80::1", "fe80::2"]));
        let cases: Vec<(&str, Response, Response, Outcome)> = vec![
            (
                "z-z",
                Ok(Answer::default()),
                Ok(Answer::default()),
                Outcome::Fail(NXDOMAIN),
            ),
            ("z-n", Ok(Answer::default()), six(), got(&["fe80::1"])),
            (
                "z-c",
                Ok(Answer::default()),
                Ok(cname("alias2")),
                alias("alias2"),
            ),
            ("z-e", Ok(Answer::default()), Err(2), Outcome::Fail(2)),
            ("n-z", a(), Ok(Answer::default()), got(&["127.0.0.201"])),
            ("n-n", a(), six(), got(&["127.0.0.201", "fe80::1"])),
            ("n-c", a(), Ok(cname("alias2")), got(&["127.0.0.201"])),
            ("n-e", a(), Err(2), Outcome::Fail(2)),
            (
                "c-z",
                Ok(cname("alias")),
                Ok(Answer::default()),
                Outcome::Fail(NXDOMAIN),
            ),
            ("c-n", Ok(cname("alias")), six(), got(&["fe80::1"])),
            (
                "c-c",
                Ok(cname("alias2")),
                Ok(cname("alias2")),
                alias("alias2"),
            ),
            (
                "c1-c2",
                Ok(cname("alias4")),
                Ok(cname("alias6")),
                alias("alias6"),
            ),
            (
                "c-cn",
                Ok(cname("alias2")),
                Ok(cname_and("alias2", &["fe80::1", "fe80::2"])),
                got(&["fe80::1", "fe80::2"]),
            ),
            ("c-e", Ok(cname("alias")), Err(2), Outcome::Fail(2)),
            (
                "cn-z",
                Ok(cname_and("alias2", &["127.0.0.201", "127.0.0.202"])),
                Ok(Answer::default()),
                got(&["127.0.0.201", "127.0.0.202"]),
            ),
            (
                "cn-c",
                Ok(cname_and("alias2", &["127.0.0.201", "127.0.0.202"])),
                Ok(cname("alias2")),
                got(&["127.0.0.201", "127.0.0.202"]),
            ),
            (
                "cn-n",
                Ok(cname_and("alias2", &["127.0.0.201", "127.0.0.202"])),
                six2(),
                got(&["127.0.0.201", "127.0.0.202", "fe80::1", "fe80::2"]),
            ),
            ("e-n", Err(2), six(), Outcome::Fail(2)),
            ("e-c", Err(2), Ok(cname("alias2")), Outcome::Fail(2)),
            ("e-z", Err(2), Ok(Answer::default()), Outcome::Fail(2)),
            ("e-e", Err(2), Err(3), Outcome::Fail(3)),
        ];
        for (name, first, last, want) in cases {
            assert_eq!(combine(Some(first), last), want, "{name}");
        }
        assert_eq!(
            combine(Some(a2()), six2()),
            got(&["127.0.0.201", "127.0.0.202", "fe80::1", "fe80::2"])
        );
    }

    #[test]
    fn one_type_asked_is_read_as_the_last_reply() {
        assert_eq!(combine(None, Ok(cname("alias"))), alias("alias"));
        assert_eq!(
            combine(None, Ok(Answer::default())),
            Outcome::Fail(NXDOMAIN)
        );
        assert_eq!(combine(None, Err(5)), Outcome::Fail(5));
        assert_eq!(
            combine(None, Ok(addrs(&["127.0.0.1"]))),
            got(&["127.0.0.1"])
        );
    }

    #[test]
    fn the_smallest_ttl_of_both_replies_counts() {
        let mut first = cname("alias");
        first.ttl = 5;
        let mut last = addrs(&["fe80::1"]);
        last.ttl = 60;
        assert_eq!(
            combine(Some(Ok(first)), Ok(last)),
            Outcome::Addrs {
                addrs: vec!["fe80::1".parse().unwrap()],
                ttl: 5
            }
        );
    }

    #[test]
    fn records_without_address_or_alias_are_unusable() {
        // A DNAME alone (no synthesised CNAME): records, nothing to use.
        let dname = Answer {
            ttl: 30,
            records: 1,
            ..Answer::default()
        };
        assert_eq!(
            combine(Some(Ok(Answer::default())), Ok(dname.clone())),
            Outcome::Unusable
        );
        // Read first, it counts as no address; the second reply decides.
        assert_eq!(
            combine(Some(Ok(dname.clone())), Ok(Answer::default())),
            Outcome::Fail(NXDOMAIN)
        );
        assert_eq!(
            combine(Some(Ok(dname)), Ok(cname("alias"))),
            Outcome::Alias {
                target: "alias".to_string(),
                ttl: 30
            }
        );
    }
}
