//! nginx's (OpenSSL's) names for TLS cipher suites and key-exchange groups → rustls's.
//!
//! Used by `config::resolve` while a configuration loads (`ssl_ciphers`, `ssl_ecdh_curve`)
//! and by `anx -T` to print the resolved lists back; never on the request path. Sans-io.
//!
//! `ssl_ciphers` takes OpenSSL's cipher-list syntax: names (`ECDHE-ECDSA-AES128-GCM-SHA256`
//! or the IANA form `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`), class keywords (`HIGH`,
//! `ECDHE`, `AESGCM`, `aRSA`, …) joined by `+` for "both", and `!x` (never), `-x` (remove
//! for now) and `+x` (move to the end). Keywords select among the TLS 1.2 suites rustls
//! has; TLS 1.3 suites are chosen by naming them (as OpenSSL keeps them apart from the
//! cipher list), otherwise all of rustls's defaults apply. Names of real OpenSSL suites and
//! classes that rustls does not implement (DHE, CBC, RC4, …) select nothing and are
//! reported back so the operator gets a note; anything else is an error.

use rustls::{CipherSuite, NamedGroup};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    Ecdsa,
    Rsa,
    /// TLS 1.3: the certificate type is negotiated apart from the suite.
    Any,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Enc {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20,
}

/// One suite rustls implements, with the attributes OpenSSL's keywords select by.
struct Suite {
    openssl: &'static str,
    suite: CipherSuite,
    tls13: bool,
    auth: Auth,
    enc: Enc,
    /// The PRF hash: SHA256 or SHA384.
    sha384: bool,
}

/// Every suite of the crypto provider, in rustls's default preference order.
const SUITES: &[Suite] = &[
    Suite {
        openssl: "TLS_AES_256_GCM_SHA384",
        suite: CipherSuite::TLS13_AES_256_GCM_SHA384,
        tls13: true,
        auth: Auth::Any,
        enc: Enc::Aes256Gcm,
        sha384: true,
    },
    Suite {
        openssl: "TLS_AES_128_GCM_SHA256",
        suite: CipherSuite::TLS13_AES_128_GCM_SHA256,
        tls13: true,
        auth: Auth::Any,
        enc: Enc::Aes128Gcm,
        sha384: false,
    },
    Suite {
        openssl: "TLS_CHACHA20_POLY1305_SHA256",
        suite: CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        tls13: true,
        auth: Auth::Any,
        enc: Enc::Chacha20,
        sha384: false,
    },
    Suite {
        openssl: "ECDHE-ECDSA-AES256-GCM-SHA384",
        suite: CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        tls13: false,
        auth: Auth::Ecdsa,
        enc: Enc::Aes256Gcm,
        sha384: true,
    },
    Suite {
        openssl: "ECDHE-ECDSA-AES128-GCM-SHA256",
        suite: CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        tls13: false,
        auth: Auth::Ecdsa,
        enc: Enc::Aes128Gcm,
        sha384: false,
    },
    Suite {
        openssl: "ECDHE-ECDSA-CHACHA20-POLY1305",
        suite: CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        tls13: false,
        auth: Auth::Ecdsa,
        enc: Enc::Chacha20,
        sha384: false,
    },
    Suite {
        openssl: "ECDHE-RSA-AES256-GCM-SHA384",
        suite: CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        tls13: false,
        auth: Auth::Rsa,
        enc: Enc::Aes256Gcm,
        sha384: true,
    },
    Suite {
        openssl: "ECDHE-RSA-AES128-GCM-SHA256",
        suite: CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        tls13: false,
        auth: Auth::Rsa,
        enc: Enc::Aes128Gcm,
        sha384: false,
    },
    Suite {
        openssl: "ECDHE-RSA-CHACHA20-POLY1305",
        suite: CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        tls13: false,
        auth: Auth::Rsa,
        enc: Enc::Chacha20,
        sha384: false,
    },
];

/// rustls's default suites (all of [`SUITES`]), TLS 1.3 first: what `HIGH:!aNULL:!MD5`,
/// nginx's default, means here.
pub fn default_ciphers() -> Vec<CipherSuite> {
    SUITES.iter().map(|s| s.suite).collect()
}

/// OpenSSL's name of a suite (what `anx -T` prints), or rustls's for one not in the table.
pub fn cipher_name(suite: CipherSuite) -> String {
    match SUITES.iter().find(|s| s.suite == suite) {
        Some(s) => s.openssl.to_string(),
        None => format!("{suite:?}"),
    }
}

/// OpenSSL's name of a suite anx knows, `None` for others (`$ssl_ciphers` prints those
/// as hex, as OpenSSL does for suites it lacks).
pub fn openssl_name(suite: CipherSuite) -> Option<String> {
    SUITES
        .iter()
        .find(|s| s.suite == suite)
        .map(|s| s.openssl.to_string())
}

/// The suite a single name means: OpenSSL's or the IANA/rustls name, any case.
fn by_name(name: &str) -> Option<&'static Suite> {
    SUITES.iter().find(|s| {
        s.openssl.eq_ignore_ascii_case(name)
            || format!("{:?}", s.suite).eq_ignore_ascii_case(name)
            || iana(s).eq_ignore_ascii_case(name)
    })
}

/// The IANA name (rustls names TLS 1.3 suites `TLS13_…`; IANA and OpenSSL say `TLS_…`).
fn iana(s: &Suite) -> String {
    let debug = format!("{:?}", s.suite);
    match debug.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => debug,
    }
}

/// What a class keyword selects among the TLS 1.2 suites; `None` for a word that is not
/// a keyword. Keywords for things rustls never offers select nothing.
fn keyword(word: &str) -> Option<fn(&Suite) -> bool> {
    let f: fn(&Suite) -> bool = match word {
        "ALL" | "DEFAULT" | "HIGH" | "ECDHE" | "EECDH" | "kECDHE" | "kEECDH" | "AEAD"
        | "TLSv1.2" | "SSLv3" | "FIPS" | "COMPLEMENTOFALL" => |s| !s.tls13,
        "AESGCM" | "AES" => |s| !s.tls13 && matches!(s.enc, Enc::Aes128Gcm | Enc::Aes256Gcm),
        "AES128" => |s| !s.tls13 && s.enc == Enc::Aes128Gcm,
        "AES256" => |s| !s.tls13 && s.enc == Enc::Aes256Gcm,
        "CHACHA20" => |s| !s.tls13 && s.enc == Enc::Chacha20,
        "ECDSA" | "aECDSA" => |s| !s.tls13 && s.auth == Auth::Ecdsa,
        "aRSA" => |s| !s.tls13 && s.auth == Auth::Rsa,
        "SHA256" => |s| !s.tls13 && !s.sha384,
        "SHA384" => |s| !s.tls13 && s.sha384,
        // Real OpenSSL classes that no rustls suite belongs to.
        "aNULL"
        | "eNULL"
        | "NULL"
        | "MD5"
        | "RC4"
        | "DES"
        | "3DES"
        | "EXP"
        | "EXPORT"
        | "LOW"
        | "MEDIUM"
        | "PSK"
        | "aPSK"
        | "kPSK"
        | "ECDHEPSK"
        | "DHEPSK"
        | "RSAPSK"
        | "SRP"
        | "aSRP"
        | "kSRP"
        | "CAMELLIA"
        | "CAMELLIA128"
        | "CAMELLIA256"
        | "SEED"
        | "IDEA"
        | "ARIA"
        | "ARIAGCM"
        | "AESCCM"
        | "AESCCM8"
        | "CCM"
        | "DSS"
        | "aDSS"
        | "RSA"
        | "kRSA"
        | "DH"
        | "DHE"
        | "EDH"
        | "kDHE"
        | "kEDH"
        | "ADH"
        | "AECDH"
        | "SHA1"
        | "SHA"
        | "GOST"
        | "aGOST"
        | "kGOST"
        | "CBC"
        | "SSLv2"
        | "TLSv1"
        | "TLSv1.0"
        | "COMPLEMENTOFDEFAULT"
        | "aECDH"
        | "kECDH"
        | "ECDH" => |_| false,
        _ => return None,
    };
    Some(f)
}

/// Parts OpenSSL suite names are made of: a name built only of these is a real suite that
/// rustls lacks (`DHE-RSA-AES128-GCM-SHA256`), not a typo.
const OPENSSL_NAME_PARTS: &[&str] = &[
    "ECDHE",
    "DHE",
    "EDH",
    "ADH",
    "AECDH",
    "RSA",
    "ECDSA",
    "DSS",
    "PSK",
    "SRP",
    "AES128",
    "AES256",
    "AES",
    "GCM",
    "CCM",
    "CCM8",
    "CHACHA20",
    "POLY1305",
    "SHA",
    "SHA256",
    "SHA384",
    "CAMELLIA128",
    "CAMELLIA256",
    "ARIA128",
    "ARIA256",
    "DES",
    "CBC3",
    "CBC",
    "RC4",
    "MD5",
    "NULL",
    "SEED",
    "IDEA",
    "EXP",
    "EXP1024",
    "DES40",
    "RC2",
    "KRB5",
    "GOST94",
    "GOST2001",
    "GOST89",
    "CNT",
    "DSA",
    "DH",
    "ECDH",
];

fn is_openssl_suite_name(word: &str) -> bool {
    if word.starts_with("TLS_") || word.starts_with("SSL_") {
        return word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    }
    word.contains('-') && word.split('-').all(|p| OPENSSL_NAME_PARTS.contains(&p))
}

/// The outcome of reading an `ssl_ciphers` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CipherList {
    /// Selected suites, TLS 1.3 first, in preference order.
    pub suites: Vec<CipherSuite>,
    /// Words naming real OpenSSL suites or classes that rustls does not implement: they
    /// selected nothing (worth a note, not an error).
    pub unsupported: Vec<String>,
    /// Words OpenSSL does not know either (`ECCdraft`): OpenSSL skips them as long as the
    /// list selects something, and so does anx (with a note).
    pub unknown: Vec<String>,
}

/// Reads an OpenSSL cipher list (see the module docs). Errors name the unknown word.
pub fn parse_ciphers(text: &str) -> Result<CipherList, String> {
    let mut tls12: Vec<&'static Suite> = Vec::new();
    let mut tls13: Vec<&'static Suite> = Vec::new();
    let mut banned: Vec<CipherSuite> = Vec::new();
    let mut unsupported = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let words = text
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|w| !w.is_empty());
    for word in words {
        // `@STRENGTH`, `@SECLEVEL=n`: orderings and levels rustls's suites all satisfy.
        if word.starts_with('@') {
            continue;
        }
        let (op, body) = match word.as_bytes()[0] {
            b'!' | b'-' | b'+' => (word.as_bytes()[0], &word[1..]),
            _ => (b' ', word),
        };
        let mut selected: Vec<&'static Suite> = Vec::new();
        let mut any_unsupported = false;
        for (i, part) in body.split('+').enumerate() {
            let matching: Vec<&'static Suite> = if let Some(s) = by_name(part) {
                vec![s]
            } else if let Some(pred) = keyword(part) {
                SUITES.iter().filter(|s| pred(s)).collect()
            } else if is_openssl_suite_name(part) {
                any_unsupported = true;
                Vec::new()
            } else {
                unknown.push(part.to_string());
                Vec::new()
            };
            selected = if i == 0 {
                matching
            } else {
                selected
                    .into_iter()
                    .filter(|s| matching.iter().any(|m| m.suite == s.suite))
                    .collect()
            };
        }
        if any_unsupported && op != b'!' && op != b'-' {
            unsupported.push(word.to_string());
        }
        for s in selected {
            let list = if s.tls13 { &mut tls13 } else { &mut tls12 };
            match op {
                b'!' => {
                    banned.push(s.suite);
                    list.retain(|x| x.suite != s.suite);
                }
                b'-' => list.retain(|x| x.suite != s.suite),
                b'+' => {
                    if let Some(at) = list.iter().position(|x| x.suite == s.suite) {
                        let moved = list.remove(at);
                        list.push(moved);
                    }
                }
                _ => {
                    if !banned.contains(&s.suite) && !list.iter().any(|x| x.suite == s.suite) {
                        list.push(s);
                    }
                }
            }
        }
    }
    // OpenSSL keeps TLS 1.3 suites out of the cipher list: unnamed, they are all on.
    if tls13.is_empty() {
        tls13 = SUITES
            .iter()
            .filter(|s| s.tls13 && !banned.contains(&s.suite))
            .collect();
    }
    let suites: Vec<CipherSuite> = tls13.iter().chain(&tls12).map(|s| s.suite).collect();
    let named13 = text.split([':', ',', ' ']).any(|w| by_name(w).is_some());
    if let Some(first) = unknown.first().filter(|_| tls12.is_empty() && !named13) {
        return Err(format!("unknown cipher \"{first}\" in \"{text}\""));
    }
    if tls12.is_empty() && !named13 {
        return Err(format!(
            "\"{text}\" selects no TLS 1.2 cipher suite rustls implements"
        ));
    }
    Ok(CipherList {
        suites,
        unsupported,
        unknown,
    })
}

/// Whether a suite is a TLS 1.3 one.
pub fn is_tls13(suite: CipherSuite) -> bool {
    SUITES.iter().any(|s| s.suite == suite && s.tls13)
}

/// Key-exchange groups by nginx/OpenSSL names (and the IANA ones), the crypto provider's
/// default order being the order of this table.
const GROUPS: &[(&[&str], NamedGroup)] = &[
    (&["X25519MLKEM768"], NamedGroup::X25519MLKEM768),
    (&["X25519", "x25519"], NamedGroup::X25519),
    (&["prime256v1", "P-256", "secp256r1"], NamedGroup::secp256r1),
    (&["secp384r1", "P-384"], NamedGroup::secp384r1),
    (&["SecP256r1MLKEM768"], NamedGroup::secp256r1MLKEM768),
    (&["MLKEM768"], NamedGroup::MLKEM768),
    (&["MLKEM1024"], NamedGroup::MLKEM1024),
];

/// Real group names the crypto provider does not have.
const UNSUPPORTED_GROUPS: &[&str] = &[
    "secp521r1",
    "P-521",
    "X448",
    "x448",
    "ffdhe2048",
    "ffdhe3072",
    "ffdhe4096",
    "ffdhe6144",
    "ffdhe8192",
    "X448MLKEM1024",
    "secp224r1",
    "secp256k1",
    "brainpoolP256r1",
    "brainpoolP384r1",
    "brainpoolP512r1",
];

/// The provider's default groups: what `ssl_ecdh_curve auto` (nginx's default) means. The
/// hybrid post-quantum group goes first, as rustls prefers it.
pub fn default_groups() -> Vec<NamedGroup> {
    GROUPS.iter().take(4).map(|(_, g)| *g).collect()
}

/// nginx's name of a group (what `anx -T` prints).
pub fn group_name(group: NamedGroup) -> String {
    match GROUPS.iter().find(|(_, g)| *g == group) {
        Some((names, _)) => names[0].to_string(),
        None => format!("{group:?}"),
    }
}

/// The outcome of reading an `ssl_ecdh_curve` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupList {
    pub groups: Vec<NamedGroup>,
    /// Real group names the provider lacks (left out, worth a note).
    pub unsupported: Vec<String>,
}

/// Reads `ssl_ecdh_curve`: `auto` or names joined by `:` (OpenSSL's list form).
pub fn parse_groups(text: &str) -> Result<GroupList, String> {
    let mut groups = Vec::new();
    let mut unsupported = Vec::new();
    for word in text
        .split([':', ','])
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        if word == "auto" {
            for g in default_groups() {
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
            continue;
        }
        if let Some((_, g)) = GROUPS
            .iter()
            .find(|(names, _)| names.iter().any(|n| n.eq_ignore_ascii_case(word)))
        {
            if !groups.contains(g) {
                groups.push(*g);
            }
        } else if UNSUPPORTED_GROUPS
            .iter()
            .any(|n| n.eq_ignore_ascii_case(word))
        {
            unsupported.push(word.to_string());
        } else {
            return Err(format!("unknown curve \"{word}\" in \"{text}\""));
        }
    }
    if groups.is_empty() {
        return Err(format!(
            "\"{text}\" names no key-exchange group rustls implements"
        ));
    }
    Ok(GroupList {
        groups,
        unsupported,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_default_means_rustls_defaults() {
        let list = parse_ciphers("HIGH:!aNULL:!MD5").unwrap();
        assert_eq!(list.suites, default_ciphers());
        assert!(list.unsupported.is_empty());
    }

    #[test]
    fn names_in_both_forms() {
        let list =
            parse_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")
                .unwrap();
        // TLS 1.3 suites unnamed: all of them, then the two named.
        assert_eq!(
            &list.suites[3..],
            &[
                CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
            ]
        );
        let only13 = parse_ciphers("TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256").unwrap();
        assert_eq!(
            only13.suites,
            vec![
                CipherSuite::TLS13_AES_128_GCM_SHA256,
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            ]
        );
    }

    #[test]
    fn mozilla_intermediate_keeps_what_rustls_has() {
        let list = parse_ciphers(
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:\
             ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
             DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384",
        )
        .unwrap();
        assert_eq!(list.suites.len(), 3 + 6);
        assert_eq!(
            list.unsupported,
            ["DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384"]
        );
    }

    #[test]
    fn keywords_and_operators() {
        let list = parse_ciphers("EECDH+AESGCM:!AES256").unwrap();
        assert_eq!(
            &list.suites[3..],
            &[
                CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            ]
        );
        let list = parse_ciphers("aRSA:+CHACHA20").unwrap();
        assert_eq!(
            list.suites.last(),
            Some(&CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256)
        );
    }

    #[test]
    fn unknown_names_are_skipped_as_openssl_does() {
        let list = parse_ciphers("DEFAULT:ECCdraft").unwrap();
        assert_eq!(list.unknown, ["ECCdraft"]);
        assert!(!list.suites.is_empty());
        assert!(parse_ciphers("BOGUS").unwrap_err().contains("BOGUS"));
        assert!(parse_ciphers("BOGUS:!HIGH").unwrap_err().contains("BOGUS"));
        assert!(parse_ciphers("RC4-MD5").is_err()); // selects nothing at all
        assert!(parse_groups("X25519:nope").is_err());
    }

    #[test]
    fn curves() {
        let g = parse_groups("X25519:prime256v1:secp384r1").unwrap();
        assert_eq!(
            g.groups,
            vec![
                NamedGroup::X25519,
                NamedGroup::secp256r1,
                NamedGroup::secp384r1
            ]
        );
        assert_eq!(parse_groups("auto").unwrap().groups, default_groups());
        assert_eq!(default_groups()[0], NamedGroup::X25519MLKEM768);
        let g = parse_groups("P-384:secp521r1").unwrap();
        assert_eq!(g.groups, vec![NamedGroup::secp384r1]);
        assert_eq!(g.unsupported, ["secp521r1"]);
        for g in default_groups() {
            assert_eq!(parse_groups(&group_name(g)).unwrap().groups, vec![g]);
        }
        for s in default_ciphers() {
            assert_eq!(by_name(&cipher_name(s)).map(|x| x.suite), Some(s));
        }
    }
}
