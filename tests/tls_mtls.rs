//! Client certificates against the real binary: `ssl_verify_client on` accepts a
//! certificate from `ssl_client_certificate`'s CA and answers 400 to none or another CA's;
//! `optional` and `optional_no_ca` with `$ssl_client_verify`, `$ssl_client_s_dn` and
//! `$ssl_client_fingerprint` (compared with `openssl x509 -fingerprint -sha1`); and the
//! 421 rule keeping a handshake for a server without client verification from reaching
//! one with it. Driven by curl (`--cert/--key`) and the rustls client (tests/tls_util).

mod common;
mod tls_util;

use common::Site;
use tls_util::*;

const VARS: &str = "        location / { return 200 \"$ssl_client_verify|$ssl_client_s_dn|$ssl_client_fingerprint\"; }\n";

/// A site with the server CA (`ca.pem`), a.test's certificate, the client CA
/// (`clients.pem`), `alice` signed by it and `mallory` signed by another CA.
struct Pki {
    site: Site,
    ca: Ca,
    alice: Leaf,
    mallory: Leaf,
}

fn pki() -> Pki {
    let site = Site::new();
    let ca = ca("server CA");
    write_ca(&site, &ca);
    server_leaf(&ca, &["a.test"], Alg::P256).write(&site, "a");
    server_leaf(&ca, &["b.test"], Alg::P256).write(&site, "b");
    let clients = tls_util::ca("client CA");
    site.write("clients.pem", &clients.pem);
    let alice = client_leaf(&clients, "alice");
    alice.write(&site, "alice");
    let other = tls_util::ca("other CA");
    let mallory = client_leaf(&other, "mallory");
    mallory.write(&site, "mallory");
    Pki {
        site,
        ca,
        alice,
        mallory,
    }
}

fn verify_conf(mode: &str) -> String {
    conf(
        "",
        &[tls_server(
            "a.test",
            "a",
            &format!(
                "        ssl_client_certificate clients.pem;\n        ssl_verify_client {mode};\n{VARS}"
            ),
        )],
    )
}

fn with_cert<'a>(p: &'a Pki, who: &str, buf: &'a mut Vec<String>) -> Vec<&'a str> {
    *buf = vec![
        site_path(&p.site, &format!("{who}.crt")),
        site_path(&p.site, &format!("{who}.key")),
    ];
    vec!["--cert", &buf[0], "--key", &buf[1]]
}

/// `curl_https` to a.test `/` presenting `who`'s certificate, with `extra` arguments.
fn curl_as(p: &Pki, port: u16, who: &str, extra: &[&str]) -> Curl {
    let mut buf = Vec::new();
    let mut args = with_cert(p, who, &mut buf);
    args.extend_from_slice(extra);
    curl_https(&p.site, port, "a.test", "/", &args)
}

/// What `VARS` answers for `who`'s certificate when `$ssl_client_verify` is `verdict`.
fn vars_for(p: &Pki, verdict: &str, who: &str) -> String {
    format!("{verdict}|{}|{}", subject(p, who), fingerprint(p, who))
}

/// `openssl x509 -in <who>.crt -noout <flags>`.
fn x509(p: &Pki, who: &str, flags: &[&str]) -> String {
    let path = site_path(&p.site, &format!("{who}.crt"));
    let mut args = vec!["x509", "-in", &path, "-noout"];
    args.extend_from_slice(flags);
    openssl(&args)
}

/// `openssl x509 -fingerprint -sha1` of a certificate file, as nginx prints it
/// (lowercase hex, no colons).
fn fingerprint(p: &Pki, who: &str) -> String {
    let out = x509(p, who, &["-fingerprint", "-sha1"]);
    out.trim()
        .split('=')
        .nth(1)
        .expect("fingerprint line")
        .replace(':', "")
        .to_lowercase()
}

/// `openssl x509 -subject -nameopt RFC2253`: the form nginx prints `$ssl_client_s_dn` in
/// (X509_NAME_print_ex with XN_FLAG_RFC2253: the last RDN first).
fn subject(p: &Pki, who: &str) -> String {
    let out = x509(p, who, &["-subject", "-nameopt", "RFC2253"]);
    out.trim().trim_start_matches("subject=").to_string()
}

#[test]
fn verify_client_on_accepts_a_certificate_from_the_ca() {
    let p = pki();
    let anx = start(&p.site, &verify_conf("on"), 1);
    let r = curl_as(&p, anx.port, "alice", &[]);
    assert_eq!(r.status, 200, "{}", r.stderr);
    assert_eq!(r.text(), vars_for(&p, "SUCCESS", "alice"));
    // TLS 1.2 too.
    let r = curl_as(&p, anx.port, "alice", &["--tlsv1.2", "--tls-max", "1.2"]);
    assert_eq!(r.status, 200, "{}", r.stderr);
    assert!(r.text().starts_with("SUCCESS|"), "{}", r.text());
}

#[test]
fn verify_client_on_refuses_no_certificate_and_another_ca() {
    let p = pki();
    let anx = start(&p.site, &verify_conf("on"), 1);
    // As nginx: the handshake completes and the request gets 400 ("No required SSL
    // certificate was sent", "The SSL certificate error").
    let mut buf = Vec::new();
    for (what, args) in [
        ("no certificate", vec![]),
        (
            "another CA's certificate",
            with_cert(&p, "mallory", &mut buf),
        ),
    ] {
        for tls12 in [false, true] {
            let mut args = args.clone();
            if tls12 {
                args.extend(["--tlsv1.2", "--tls-max", "1.2"]);
            }
            let r = curl_https(&p.site, anx.port, "a.test", "/", &args);
            assert!(
                r.status == 400,
                "{what} (TLS 1.2 only: {tls12}): got {} {:?}",
                r.status,
                r.text()
            );
            assert!(!r.text().contains("SUCCESS"), "{what}: {}", r.text());
        }
    }
    // The rustls client gets the same 400.
    let client = Client::new(ClientOptions {
        ca_pem: &p.ca.pem,
        ..Default::default()
    });
    let got = client.get(anx.port, "a.test", "a.test", "/");
    assert!(
        got.as_ref().is_ok_and(|(_, r)| r.status == 400),
        "no certificate: {:?}",
        got.map(|(_, r)| r.text())
    );
    // Still serving the good client afterwards.
    let r = curl_as(&p, anx.port, "alice", &[]);
    assert_eq!(r.status, 200, "{}", r.stderr);
}

#[test]
fn verify_client_optional() {
    let p = pki();
    let anx = start(&p.site, &verify_conf("optional"), 1);
    let r = curl_https(&p.site, anx.port, "a.test", "/", &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "NONE||"),
        "{}",
        r.stderr
    );
    let r = curl_as(&p, anx.port, "alice", &[]);
    assert_eq!(r.status, 200, "{}", r.stderr);
    assert_eq!(r.text(), vars_for(&p, "SUCCESS", "alice"));
    // A certificate from another CA gets 400 (nginx: "The SSL certificate error").
    let r = curl_as(&p, anx.port, "mallory", &[]);
    assert_eq!(r.status, 400, "{r:?}");
    // The rustls client sees the same values.
    let client = Client::new(ClientOptions {
        ca_pem: &p.ca.pem,
        client_cert: Some((&p.alice.cert_pem, &p.alice.key_pem)),
        ..Default::default()
    });
    let (_, reply) = client.get(anx.port, "a.test", "a.test", "/").unwrap();
    assert_eq!(reply.text(), vars_for(&p, "SUCCESS", "alice"));
}

#[test]
fn verify_client_optional_no_ca_reports_the_failure() {
    let p = pki();
    let anx = start(&p.site, &verify_conf("optional_no_ca"), 1);
    let r = curl_as(&p, anx.port, "mallory", &[]);
    assert_eq!(r.status, 200, "{}", r.stderr);
    let text = r.text();
    assert!(text.starts_with("FAILED:"), "{text}");
    assert!(
        text.ends_with(vars_for(&p, "", "mallory").as_str()),
        "{text}"
    );
    let r = curl_as(&p, anx.port, "alice", &[]);
    assert_eq!(r.text(), vars_for(&p, "SUCCESS", "alice"));
    let r = curl_https(&p.site, anx.port, "a.test", "/", &[]);
    assert_eq!(r.text(), "NONE||");
    let _ = &p.mallory;
}

#[test]
fn handshake_without_client_verification_cannot_reach_a_server_with_it() {
    let p = pki();
    // a.test requires a client certificate; b.test (same port) does not.
    let conf = conf(
        "",
        &[
            tls_server(
                "a.test",
                "a",
                &format!(
                    "        ssl_client_certificate clients.pem;\n        ssl_verify_client on;\n{VARS}"
                ),
            ),
            tls_server("b.test", "b", VARS),
        ],
    );
    let anx = start(&p.site, &conf, 1);
    let r = curl_https(&p.site, anx.port, "b.test", "/", &["-H", "Host: a.test"]);
    assert_eq!(r.status, 421, "{r:?}");
    let r = curl_https(&p.site, anx.port, "b.test", "/", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "NONE||"));
    let r = curl_as(&p, anx.port, "alice", &[]);
    assert_eq!(r.status, 200, "{}", r.stderr);
    // A resumed b.test session with Host a.test: still 421.
    let client = Client::new(ClientOptions {
        ca_pem: &p.ca.pem,
        ..Default::default()
    });
    client.get(anx.port, "b.test", "b.test", "/").unwrap();
    let (hs, reply) = client.get(anx.port, "b.test", "a.test", "/").unwrap();
    assert_eq!(hs.kind, Some(rustls::HandshakeKind::Resumed));
    assert_eq!(reply.status, 421, "{}", reply.text());
}
