//! Unit tests of decisions the pipeline makes itself: which server may answer a request on
//! a TLS connection (the 421 rule), with listeners built from real certificates.

use crate::context::testing::fixture_on;
use crate::pipeline::{Handshake, Misdirected};
use crate::tls::tests::{addr, two_servers, Site, ADDR};

/// Server position chosen for `Host: host` on each handshake's SNI, on a site where
/// `b.test` has the settings `extra_b` (a.test is the default server).
fn choices(extra_b: &str, cases: &[(Option<&str>, &str)]) -> Vec<Result<usize, Misdirected>> {
    let site = Site::new();
    let (toml, _) = two_servers(&site, "", extra_b);
    let listeners = site.listeners(&toml);
    let listener = listeners.get(&addr()).expect("listener");
    cases
        .iter()
        .map(|&(sni, host)| {
            let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            let fx = fixture_on(ADDR, &toml, site.path(), &request);
            fx.select(Some(Handshake { listener, sni }))
        })
        .collect()
}

#[test]
fn host_must_select_the_server_of_the_handshake() {
    let got = choices(
        "",
        &[
            (Some("a.test"), "a.test:8443"),
            (Some("b.test"), "b.test"),
            (Some("x.b.test"), "B.test"),
            // Another server than the SNI's, with another certificate: 421.
            (Some("a.test"), "b.test"),
            (Some("b.test"), "a.test"),
            // An unknown SNI and an unknown Host both fall to the default server.
            (Some("nothing.test"), "other.test"),
            // No SNI: the client took the default certificate for whatever it wanted.
            (None, "b.test"),
        ],
    );
    let want = [
        Ok(0),
        Ok(1),
        Ok(1),
        Err(Misdirected),
        Err(Misdirected),
        Ok(0),
        Ok(1),
    ];
    assert_eq!(got, want);
}

#[test]
fn client_verification_cannot_be_crossed_without_sni() {
    let verify = "ssl_client_certificate = \"ca.pem\"\nssl_verify_client = \"on\"";
    let got = choices(
        verify,
        &[
            (None, "b.test"),
            (None, "a.test"),
            (Some("b.test"), "b.test"),
        ],
    );
    assert_eq!(got, [Err(Misdirected), Ok(0), Ok(1)]);
}

#[test]
fn a_plain_connection_selects_by_host_alone() {
    let site = Site::new();
    let (toml, _) = two_servers(&site, "", "");
    let request = "GET / HTTP/1.1\r\nHost: b.test\r\n\r\n";
    let fx = fixture_on(ADDR, &toml, site.path(), request);
    assert_eq!(fx.select(None), Ok(1));
}
