//! Not-modified filter: conditional request evaluation for responses built from a file.
//!
//! In: the response's validators (made by `http::validators`) and the raw values of the
//! request's If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since headers.
//! Out: a [`Precondition`] telling the caller whether to send the body, a 304, or a 412.

use crate::http::request::trim_ows;
use crate::http::validators::parse_http_date;
#[cfg(test)]
use crate::http::validators::{etag, http_date, MAX_HTTP_DATE_SECS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    Proceed,
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    pub etag: &'a str,
    pub mtime_secs: i64,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    pub if_match: Option<&'a [u8]>,
    pub if_none_match: Option<&'a [u8]>,
    pub if_modified_since: Option<&'a [u8]>,
    /// How If-Modified-Since compares (`if_modified_since`).
    pub modified_since_mode: crate::config::model::IfModifiedSince,
    pub if_unmodified_since: Option<&'a [u8]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    /// The quoted part, quotes included.
    opaque: &'a [u8],
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Parses exactly one entity-tag (`[W/]"..."`) filling all of `s`.
fn parse_entity_tag(s: &[u8]) -> Option<EntityTag<'_>> {
    let (weak, rest) = match s.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if rest.len() < 2 || rest[0] != b'"' || rest[rest.len() - 1] != b'"' {
        return None;
    }
    // etagc excludes DQUOTE, so an inner quote means this is not one tag.
    if memchr::memchr(b'"', &rest[1..rest.len() - 1]).is_some() {
        return None;
    }
    Some(EntityTag { weak, opaque: rest })
}

/// Calls `f` on each well-formed entity-tag of a comma-separated list.
/// Malformed members are skipped rather than poisoning the whole list, so a
/// single bad member never turns a valid match into a mismatch. Commas inside
/// quotes are legal etag characters and do not split members.
fn any_list_member(value: &[u8], mut f: impl FnMut(EntityTag<'_>) -> bool) -> bool {
    let mut rest = value;
    while !rest.is_empty() {
        // Find the end of this member: the first comma not inside quotes.
        let mut in_quotes = false;
        let mut end = rest.len();
        for (i, &b) in rest.iter().enumerate() {
            match b {
                b'"' => in_quotes = !in_quotes,
                b',' if !in_quotes => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let member = trim_ows(&rest[..end]);
        if let Some(tag) = parse_entity_tag(member) {
            if f(tag) {
                return true;
            }
        }
        rest = rest.get(end + 1..).unwrap_or(&[]);
    }
    false
}

/// Strong comparison of two single entity-tags (If-Range); malformed tags never match.
pub fn strong_match(a: &[u8], b: &[u8]) -> bool {
    match (parse_entity_tag(a), parse_entity_tag(b)) {
        (Some(x), Some(y)) => strong_eq(x, y),
        _ => false,
    }
}

fn strong_eq(a: EntityTag<'_>, b: EntityTag<'_>) -> bool {
    !a.weak && !b.weak && a.opaque == b.opaque
}

fn weak_eq(a: EntityTag<'_>, b: EntityTag<'_>) -> bool {
    a.opaque == b.opaque
}

fn is_blank(v: &[u8]) -> bool {
    trim_ows(v).iter().all(|&b| b == b',' || is_ows(b))
}

/// Whether an If-Match / If-None-Match value selects the current
/// representation. "*" matches whenever the resource exists, which is always
/// the case for a file we are about to serve.
fn tag_list_matches(value: &[u8], ours: Option<EntityTag<'_>>, strong: bool) -> bool {
    if trim_ows(value) == b"*" {
        return true;
    }
    let Some(ours) = ours else {
        return false;
    };
    any_list_member(value, |theirs| {
        if strong {
            strong_eq(theirs, ours)
        } else {
            weak_eq(theirs, ours)
        }
    })
}

/// Evaluates conditional request headers in RFC 9110 §13.2.2 order.
///
/// 1. If-Match (strong comparison, "*" matches) → `Failed` (412) on mismatch;
///    otherwise, only when If-Match is absent, If-Unmodified-Since →
///    `Failed` when the file is newer than the date.
/// 2. If-None-Match (weak comparison, lists, "*", `W/` prefixes) →
///    `NotModified` on a match; otherwise, only when If-None-Match is absent,
///    If-Modified-Since → `NotModified` when `mtime <= date`.
///
/// Choices where nginx and the RFC differ, and what the caller must know:
/// - If-Modified-Since uses the RFC's "not modified since" (`mtime <= date`)
///   rather than nginx's default `if_modified_since exact` (equal times only).
///   This also answers 304 to clients that echo a later date.
/// - Unparseable dates are ignored (RFC); nginx answers 412 to an unparseable
///   If-Unmodified-Since.
/// - A header whose value is empty (or only commas and whitespace) is treated
///   as absent; malformed list members are skipped.
/// - `NotModified` assumes a GET or HEAD request: for any other method the
///   RFC requires 412 instead of 304, so the caller must map it.
/// - If `v.etag` is not a well-formed entity-tag, only "*" can match it.
pub fn evaluate(c: &Conditions, v: &Validators) -> Precondition {
    let ours = parse_entity_tag(v.etag.as_bytes());

    match c.if_match.filter(|im| !is_blank(im)) {
        Some(im) => {
            if !tag_list_matches(im, ours, true) {
                return Precondition::Failed;
            }
        }
        None => {
            if let Some(date) = c.if_unmodified_since.and_then(parse_http_date) {
                if v.mtime_secs > date {
                    return Precondition::Failed;
                }
            }
        }
    }

    match c.if_none_match.filter(|inm| !is_blank(inm)) {
        Some(inm) => {
            if tag_list_matches(inm, ours, false) {
                return Precondition::NotModified;
            }
        }
        None => {
            if let Some(date) = c.if_modified_since.and_then(parse_http_date) {
                use crate::config::model::IfModifiedSince;
                let unmodified = match c.modified_since_mode {
                    IfModifiedSince::Off => false,
                    IfModifiedSince::Exact => v.mtime_secs == date,
                    IfModifiedSince::Before => v.mtime_secs <= date,
                };
                if unmodified {
                    return Precondition::NotModified;
                }
            }
        }
    }

    Precondition::Proceed
}

#[cfg(test)]
mod tests {
    use super::*;

    // 1994-11-06T08:49:37Z
    const T: i64 = 784_111_777;
    const T_STR: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

    fn none() -> Conditions<'static> {
        Conditions {
            if_match: None,
            if_none_match: None,
            if_modified_since: None,
            if_unmodified_since: None,
            modified_since_mode: crate::config::model::IfModifiedSince::Before,
        }
    }

    const ETAG: &str = "\"2ebc98a1-1f4\"";

    fn v() -> Validators<'static> {
        Validators {
            etag: ETAG,
            mtime_secs: T,
        }
    }

    #[test]
    fn etag_format() {
        assert_eq!(etag(0x5f5e_1000, 0x1234), "\"5f5e1000-1234\"");
        assert_eq!(etag(0, 0), "\"0-0\"");
        assert_eq!(etag(T, 500), ETAG);
        assert_eq!(etag(-1, u64::MAX), "\"ffffffffffffffff-ffffffffffffffff\"");
        assert_eq!(etag(i64::MAX, 1), "\"7fffffffffffffff-1\"");
    }

    #[test]
    fn http_date_format() {
        assert_eq!(http_date(T), T_STR);
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(-5), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(i64::MIN), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(
            http_date(MAX_HTTP_DATE_SECS + 1),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }

    #[test]
    fn parse_dates() {
        assert_eq!(parse_http_date(T_STR.as_bytes()), Some(T));
        assert_eq!(parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), Some(T));
        assert_eq!(parse_http_date(b"Sun Nov  6 08:49:37 1994"), Some(T));
        assert_eq!(
            parse_http_date(b"  Sun, 06 Nov 1994 08:49:37 GMT\t"),
            Some(T)
        );
        assert_eq!(
            parse_http_date(http_date(1_700_000_000).as_bytes()),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn parse_bad_dates() {
        for bad in [
            &b""[..],
            b"garbage",
            b"Sun, 06 Nov 1994 08:49:37",
            b"Mon, 06 Nov 1994 08:49:37 GMT", // wrong weekday
            b"Sun, 32 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 25:49:37 GMT",
            b"Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",
            b"\xff\xfe",
            b"1994-11-06T08:49:37Z",
            b"784111777",
        ] {
            assert_eq!(
                parse_http_date(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn no_conditions_proceed() {
        assert_eq!(evaluate(&none(), &v()), Precondition::Proceed);
    }

    #[test]
    fn if_match() {
        let cases: &[(&[u8], Precondition)] = &[
            (b"\"2ebc98a1-1f4\"", Precondition::Proceed),
            (b"*", Precondition::Proceed),
            (b"  *  ", Precondition::Proceed),
            (b"\"x\", \"2ebc98a1-1f4\"", Precondition::Proceed),
            (b"\"x\",\"2ebc98a1-1f4\" ,\"y\"", Precondition::Proceed),
            (b"garbage, \"2ebc98a1-1f4\"", Precondition::Proceed),
            // Strong comparison: weak tags never match.
            (b"W/\"2ebc98a1-1f4\"", Precondition::Failed),
            (b"\"other\"", Precondition::Failed),
            (b"2ebc98a1-1f4", Precondition::Failed),
            (b"\"2ebc98a1-1f4", Precondition::Failed),
            (b"\"2ebc98a1-1f4\"x", Precondition::Failed),
            (b"w/\"2ebc98a1-1f4\"", Precondition::Failed),
            (b"\"*\"", Precondition::Failed),
            (b"*, \"x\"", Precondition::Failed),
        ];
        for &(h, want) in cases {
            let c = Conditions {
                if_match: Some(h),
                ..none()
            };
            assert_eq!(evaluate(&c, &v()), want, "{:?}", String::from_utf8_lossy(h));
        }
    }

    #[test]
    fn if_match_against_weak_etag_fails() {
        let weak = Validators {
            etag: "W/\"2ebc98a1-1f4\"",
            mtime_secs: T,
        };
        let c = Conditions {
            if_match: Some(b"W/\"2ebc98a1-1f4\""),
            ..none()
        };
        assert_eq!(evaluate(&c, &weak), Precondition::Failed);
        let c = Conditions {
            if_match: Some(b"*"),
            ..none()
        };
        assert_eq!(evaluate(&c, &weak), Precondition::Proceed);
    }

    #[test]
    fn blank_headers_are_absent() {
        let c = Conditions {
            if_match: Some(b"  "),
            if_none_match: Some(b" , ,"),
            ..none()
        };
        assert_eq!(evaluate(&c, &v()), Precondition::Proceed);
        let c = Conditions {
            if_none_match: Some(b""),
            if_modified_since: Some(T_STR.as_bytes()),
            ..none()
        };
        assert_eq!(evaluate(&c, &v()), Precondition::NotModified);
    }

    #[test]
    fn if_unmodified_since() {
        let older = http_date(T - 1);
        let newer = http_date(T + 1);
        let cases: &[(&[u8], Precondition)] = &[
            (T_STR.as_bytes(), Precondition::Proceed),
            (newer.as_bytes(), Precondition::Proceed),
            (older.as_bytes(), Precondition::Failed),
            (b"not a date", Precondition::Proceed),
        ];
        for &(h, want) in cases {
            let c = Conditions {
                if_unmodified_since: Some(h),
                ..none()
            };
            assert_eq!(evaluate(&c, &v()), want, "{:?}", String::from_utf8_lossy(h));
        }
    }

    #[test]
    fn if_match_overrides_if_unmodified_since() {
        let older = http_date(T - 100);
        let c = Conditions {
            if_match: Some(ETAG.as_bytes()),
            if_unmodified_since: Some(older.as_bytes()),
            ..none()
        };
        assert_eq!(evaluate(&c, &v()), Precondition::Proceed);
    }

    #[test]
    fn if_none_match() {
        let cases: &[(&[u8], Precondition)] = &[
            (b"\"2ebc98a1-1f4\"", Precondition::NotModified),
            (b"W/\"2ebc98a1-1f4\"", Precondition::NotModified),
            (b"*", Precondition::NotModified),
            (b"\"a\", W/\"2ebc98a1-1f4\"", Precondition::NotModified),
            (b"\"a,b\", \"2ebc98a1-1f4\"", Precondition::NotModified),
            (b"\t\"2ebc98a1-1f4\"\t", Precondition::NotModified),
            (b"\"other\"", Precondition::Proceed),
            (b"\"a\", \"b\"", Precondition::Proceed),
            (b"\"2ebc98a1-1f4,\"", Precondition::Proceed),
            (b"2ebc98a1-1f4", Precondition::Proceed),
            (b"W/ \"2ebc98a1-1f4\"", Precondition::Proceed),
            (b"\"\"", Precondition::Proceed),
            (b"\"", Precondition::Proceed),
            (b"W/", Precondition::Proceed),
            (b"\xff\xfe", Precondition::Proceed),
        ];
        for &(h, want) in cases {
            let c = Conditions {
                if_none_match: Some(h),
                ..none()
            };
            assert_eq!(evaluate(&c, &v()), want, "{:?}", String::from_utf8_lossy(h));
        }
    }

    #[test]
    fn weak_server_etag_matches_weakly() {
        let weak = Validators {
            etag: "W/\"2ebc98a1-1f4\"",
            mtime_secs: T,
        };
        let c = Conditions {
            if_none_match: Some(b"\"2ebc98a1-1f4\""),
            ..none()
        };
        assert_eq!(evaluate(&c, &weak), Precondition::NotModified);
    }

    #[test]
    fn malformed_server_etag_only_star_matches() {
        let bad = Validators {
            etag: "no-quotes",
            mtime_secs: T,
        };
        let c = Conditions {
            if_none_match: Some(b"no-quotes"),
            ..none()
        };
        assert_eq!(evaluate(&c, &bad), Precondition::Proceed);
        let c = Conditions {
            if_none_match: Some(b"*"),
            ..none()
        };
        assert_eq!(evaluate(&c, &bad), Precondition::NotModified);
    }

    #[test]
    fn if_modified_since() {
        let older = http_date(T - 1);
        let newer = http_date(T + 3600);
        let cases: &[(&[u8], Precondition)] = &[
            (T_STR.as_bytes(), Precondition::NotModified),
            (newer.as_bytes(), Precondition::NotModified),
            (older.as_bytes(), Precondition::Proceed),
            (b"yesterday", Precondition::Proceed),
            (b"", Precondition::Proceed),
        ];
        for &(h, want) in cases {
            let c = Conditions {
                if_modified_since: Some(h),
                ..none()
            };
            assert_eq!(evaluate(&c, &v()), want, "{:?}", String::from_utf8_lossy(h));
        }
    }

    #[test]
    fn if_none_match_overrides_if_modified_since() {
        // A non-matching tag means "send it", whatever the date says.
        let c = Conditions {
            if_none_match: Some(b"\"stale\""),
            if_modified_since: Some(T_STR.as_bytes()),
            ..none()
        };
        assert_eq!(evaluate(&c, &v()), Precondition::Proceed);
        // And a matching tag wins over an old date.
        let older = http_date(T - 100);
        let c = Conditions {
            if_none_match: Some(ETAG.as_bytes()),
            if_modified_since: Some(older.as_bytes()),
            ..none()
        };
        assert_eq!(evaluate(&c, &v()), Precondition::NotModified);
    }

    #[test]
    fn failed_precondition_beats_not_modified() {
        let c = Conditions {
            if_match: Some(b"\"other\""),
            if_none_match: Some(ETAG.as_bytes()),
            ..none()
        };
        assert_eq!(evaluate(&c, &v()), Precondition::Failed);
        let older = http_date(T - 1);
        let c = Conditions {
            if_unmodified_since: Some(older.as_bytes()),
            if_modified_since: Some(T_STR.as_bytes()),
            ..none()
        };
        assert_eq!(evaluate(&c, &v()), Precondition::Failed);
    }

    #[test]
    fn all_headers_pass() {
        let c = Conditions {
            if_match: Some(ETAG.as_bytes()),
            if_none_match: Some(b"\"other\""),
            if_modified_since: Some(T_STR.as_bytes()),
            if_unmodified_since: Some(T_STR.as_bytes()),
            ..none()
        };
        assert_eq!(evaluate(&c, &v()), Precondition::Proceed);
    }

    #[test]
    fn if_modified_since_modes() {
        use crate::config::model::IfModifiedSince;
        let later = "Sun, 06 Nov 1994 08:49:38 GMT";
        for (mode, same, after) in [
            (
                IfModifiedSince::Before,
                Precondition::NotModified,
                Precondition::NotModified,
            ),
            (
                IfModifiedSince::Exact,
                Precondition::NotModified,
                Precondition::Proceed,
            ),
            (
                IfModifiedSince::Off,
                Precondition::Proceed,
                Precondition::Proceed,
            ),
        ] {
            for (date, expected) in [(T_STR, same), (later, after)] {
                let c = Conditions {
                    if_modified_since: Some(date.as_bytes()),
                    modified_since_mode: mode,
                    ..none()
                };
                assert_eq!(evaluate(&c, &v()), expected, "{mode:?} {date}");
            }
        }
    }

    #[test]
    fn huge_list_is_handled() {
        let mut h = "\"x\", ".repeat(50_000).into_bytes();
        h.extend_from_slice(ETAG.as_bytes());
        let c = Conditions {
            if_none_match: Some(&h),
            ..none()
        };
        assert_eq!(evaluate(&c, &v()), Precondition::NotModified);
        let junk = vec![b','; 100_000];
        let c = Conditions {
            if_match: Some(&junk),
            if_none_match: Some(&junk),
            ..none()
        };
        assert_eq!(evaluate(&c, &v()), Precondition::Proceed);
    }

    #[test]
    fn negative_mtime_does_not_panic() {
        let old = Validators {
            etag: ETAG,
            mtime_secs: -100,
        };
        let c = Conditions {
            if_modified_since: Some(b"Thu, 01 Jan 1970 00:00:00 GMT"),
            ..none()
        };
        assert_eq!(evaluate(&c, &old), Precondition::NotModified);
    }
}
