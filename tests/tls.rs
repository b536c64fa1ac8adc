//! HTTPS handshakes against the real binary: certificates made with rcgen in each test,
//! driven by curl, `openssl s_client` and a rustls client (tests/tls_util). SNI picks the
//! server block and its certificate; several certificates on one server are chosen by
//! what the client offers; ALPN is http/1.1 only; `ssl_protocols` and `ssl_ciphers` are
//! honoured; sessions resume on the other shard (TLS 1.2 and 1.3) and on a second anx
//! process sharing an `ssl_session_ticket_key` file; `ssl_session_tickets off`; the OCSP
//! staple; the 421 rule; and the `$scheme`/`$https`/`$ssl_*` variables.
//!
//! mTLS is in tls_mtls.rs, serving (redirects, files, the proxy, bad input, config
//! errors) in tls_serve.rs.

mod common;
mod tls_util;

use common::Site;
use rustls::{HandshakeKind, SignatureScheme};
use tls_util::*;

/// A site with a CA (`ca.pem`) and leaves `a` (a.test, P-256) and `b` (b.test, P-384).
fn two_servers_site() -> (Site, Ca, Leaf, Leaf) {
    let site = Site::new();
    let ca = ca("anx test CA");
    write_ca(&site, &ca);
    let a = server_leaf(&ca, &["a.test"], Alg::P256);
    let b = server_leaf(&ca, &["b.test"], Alg::P384);
    a.write(&site, "a");
    b.write(&site, "b");
    (site, ca, a, b)
}

const WHO: &str = "        location / { return 200 \"$server_name sni=$ssl_server_name\"; }\n";

fn two_servers_conf(extra: &str) -> String {
    conf(
        "",
        &[
            tls_server("a.test", "a", &format!("{WHO}{extra}")),
            tls_server("b.test", "b", &format!("{WHO}{extra}")),
        ],
    )
}

#[test]
fn sni_chooses_server_block_and_certificate() {
    let (site, ca, a, b) = two_servers_site();
    let anx = start(&site, &two_servers_conf(""), 1);
    // curl verifies the certificate against the name: each name gets its own.
    for (name, server) in [("a.test", "a.test"), ("b.test", "b.test")] {
        let r = curl_https(&site, anx.port, name, "/", &[]);
        assert_eq!(r.exit, 0, "{name}: {}", r.stderr);
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.text(), format!("{server} sni={name}"));
    }
    // The exact certificate, as the rustls client sees it.
    let client = Client::new(ClientOptions {
        ca_pem: &ca.pem,
        ..Default::default()
    });
    for (name, leaf) in [("a.test", &a), ("b.test", &b)] {
        let (hs, reply) = client.get(anx.port, name, name, "/").expect(name);
        assert_eq!(hs.leaf, leaf.der, "{name}: wrong certificate");
        assert_eq!(reply.status, 200);
    }
    // openssl prints the subject it was given.
    let out = s_client(
        anx.port,
        &[
            "-servername",
            "b.test",
            "-CAfile",
            &site_path(&site, "ca.pem"),
        ],
        b"",
    );
    assert!(out.contains("subject=CN = b.test"), "{out}");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    // An SNI no server names: the default server (the first) and its certificate.
    let (hs, reply) = client.get(anx.port, "a.test", "zzz.test", "/").unwrap();
    assert_eq!(hs.leaf, a.der);
    assert_eq!(reply.text(), "a.test sni=a.test");
    let any = Client::new(ClientOptions {
        any_cert: true,
        ..Default::default()
    });
    let (hs, reply) = any.get(anx.port, "zzz.test", "zzz.test", "/").unwrap();
    assert_eq!(
        hs.leaf, a.der,
        "unknown SNI must get the default certificate"
    );
    assert_eq!(reply.text(), "a.test sni=zzz.test");
}

#[test]
fn no_sni_gets_default_server_certificate() {
    let (site, _ca, a, _b) = two_servers_site();
    // b.test first, so the default is not simply the one named in the request.
    let conf = conf(
        "",
        &[
            tls_server("b.test", "b", WHO),
            tls_server("a.test", "a", WHO),
        ],
    );
    let anx = start(&site, &conf, 1);
    let out = s_client(anx.port, &["-noservername"], b"");
    assert!(out.contains("subject=CN = b.test"), "{out}");
    let client = Client::new(ClientOptions {
        any_cert: true,
        no_sni: true,
        ..Default::default()
    });
    let (hs, reply) = client.get(anx.port, "a.test", "b.test", "/").unwrap();
    assert_ne!(hs.leaf, a.der, "no SNI must not get a.test's certificate");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.text(),
        "b.test sni=",
        "$ssl_server_name is empty without SNI"
    );
}

#[test]
fn certificate_chosen_by_what_the_client_offers() {
    let site = Site::new();
    let ca = ca("anx test CA");
    write_ca(&site, &ca);
    let leaves = [
        ("p256", Alg::P256),
        ("p384", Alg::P384),
        ("rsa", Alg::Rsa2048),
        ("ed", Alg::Ed25519),
    ]
    .map(|(name, alg)| {
        let l = server_leaf(&ca, &["multi.test"], alg);
        l.write(&site, name);
        (name, l)
    });
    let server = format!(
        "        listen 127.0.0.1:0 ssl;\n        server_name multi.test;\n{}        location / {{ return 200 \"$ssl_protocol $ssl_cipher\"; }}\n",
        leaves
            .iter()
            .map(|(n, _)| format!(
                "        ssl_certificate {n}.crt;\n        ssl_certificate_key {n}.key;\n"
            ))
            .collect::<String>()
    );
    let anx = start(&site, &conf("", &[server]), 1);
    let cases: [(&str, Vec<SignatureScheme>); 4] = [
        ("p256", vec![SignatureScheme::ECDSA_NISTP256_SHA256]),
        ("p384", vec![SignatureScheme::ECDSA_NISTP384_SHA384]),
        (
            "rsa",
            vec![
                SignatureScheme::RSA_PSS_SHA256,
                SignatureScheme::RSA_PKCS1_SHA256,
            ],
        ),
        ("ed", vec![SignatureScheme::ED25519]),
    ];
    for (want, schemes) in cases {
        let client = Client::new(ClientOptions {
            ca_pem: &ca.pem,
            schemes,
            ..Default::default()
        });
        let (hs, reply) = client
            .get(anx.port, "multi.test", "multi.test", "/")
            .unwrap_or_else(|e| panic!("{want}: {e}"));
        let leaf = &leaves.iter().find(|(n, _)| *n == want).unwrap().1;
        assert_eq!(hs.leaf, leaf.der, "offering only {want}'s scheme");
        assert_eq!(reply.status, 200);
    }
    // openssl: -sigalgs picks the key type; the public key size shows which one came.
    for (sigalgs, key) in [
        ("RSA-PSS+SHA256", "Server public key is 2048 bit"),
        ("ECDSA+SHA384", "Server public key is 384 bit"),
        ("ECDSA+SHA256", "Server public key is 256 bit"),
        ("ed25519", "Peer signature type: ed25519"),
    ] {
        let out = s_client(
            anx.port,
            &[
                "-servername",
                "multi.test",
                "-sigalgs",
                sigalgs,
                "-CAfile",
                &site_path(&site, "ca.pem"),
            ],
            b"",
        );
        assert!(out.contains(key), "-sigalgs {sigalgs}: {out}");
        assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    }
    // curl: a TLS 1.2 RSA suite gets the RSA certificate, an ECDSA one an ECDSA one.
    for cipher in [
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    ] {
        let r = curl_https(
            &site,
            anx.port,
            "multi.test",
            "/",
            &["--tlsv1.2", "--tls-max", "1.2", "--ciphers", cipher],
        );
        assert_eq!(r.status, 200, "{cipher}: {}", r.stderr);
        assert_eq!(r.text(), format!("TLSv1.2 {cipher}"));
    }
}

#[test]
fn alpn_is_http11_only() {
    let (site, ca, _a, _b) = two_servers_site();
    let anx = start(&site, &two_servers_conf(""), 1);
    let out = s_client(
        anx.port,
        &["-servername", "a.test", "-alpn", "http/1.1"],
        b"",
    );
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");
    let out = s_client(anx.port, &["-servername", "a.test", "-alpn", "h2"], b"");
    assert!(
        out.contains("No ALPN negotiated"),
        "h2 must not be selected: {out}"
    );
    assert!(!out.contains("ALPN protocol: h2"), "{out}");
    let out = s_client(
        anx.port,
        &["-servername", "a.test", "-alpn", "h2,http/1.1"],
        b"",
    );
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");
    let client = Client::new(ClientOptions {
        ca_pem: &ca.pem,
        alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        ..Default::default()
    });
    let (hs, reply) = client.get(anx.port, "a.test", "a.test", "/").unwrap();
    assert_eq!(hs.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(reply.status, 200);
    // curl offers h2 and http/1.1 and ends up speaking HTTP/1.1.
    let r = curl_https(&site, anx.port, "a.test", "/", &["--http2"]);
    assert_eq!(r.status, 200, "{}", r.stderr);
    assert!(r.headers.starts_with("HTTP/1.1 200"), "{}", r.headers);
}

#[test]
fn ssl_protocols_are_honoured() {
    let (site, _ca, _a, _b) = two_servers_site();
    let conf = conf(
        "",
        &[
            tls_server(
                "a.test",
                "a",
                "        ssl_protocols TLSv1.3;\n        location / { return 200 $ssl_protocol; }\n",
            ),
            tls_server(
                "b.test",
                "b",
                "        ssl_protocols TLSv1.2;\n        location / { return 200 $ssl_protocol; }\n",
            ),
        ],
    );
    let anx = start(&site, &conf, 1);
    let r = curl_https(
        &site,
        anx.port,
        "a.test",
        "/",
        &["--tlsv1.2", "--tls-max", "1.2"],
    );
    assert_ne!(r.exit, 0, "a TLS 1.2-only client must be refused: {r:?}");
    assert_eq!(r.status, 0);
    let r = curl_https(&site, anx.port, "a.test", "/", &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "TLSv1.3"),
        "{}",
        r.stderr
    );
    let out = s_client(anx.port, &["-servername", "a.test", "-tls1_2"], b"");
    assert!(!out.contains("Cipher is ECDHE"), "{out}");
    assert!(out.contains("alert") || out.contains("error"), "{out}");
    // The SNI's server gives the protocols: b.test is TLS 1.2 only on the same port.
    let r = curl_https(&site, anx.port, "b.test", "/", &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "TLSv1.2"),
        "{}",
        r.stderr
    );
    let out = s_client(anx.port, &["-servername", "b.test", "-tls1_3"], b"");
    assert!(!out.contains("New, TLSv1.3"), "{out}");
    let out = s_client(anx.port, &["-servername", "b.test", "-tls1_2"], b"");
    assert!(out.contains("New, TLSv1.2"), "{out}");
}

#[test]
fn ssl_ciphers_subset_is_honoured() {
    let (site, _ca, _a, _b) = two_servers_site();
    let conf = conf(
        "",
        &[tls_server(
            "a.test",
            "a",
            "        ssl_ciphers ECDHE-ECDSA-AES256-GCM-SHA384:TLS_CHACHA20_POLY1305_SHA256;\n        location / { return 200 \"$ssl_protocol $ssl_cipher\"; }\n",
        )],
    );
    let anx = start(&site, &conf, 1);
    let tls12 = ["--tlsv1.2", "--tls-max", "1.2"];
    let r = curl_https(
        &site,
        anx.port,
        "a.test",
        "/",
        &[&tls12[..], &["--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"]].concat(),
    );
    assert_ne!(r.exit, 0, "a suite outside ssl_ciphers was accepted: {r:?}");
    let r = curl_https(
        &site,
        anx.port,
        "a.test",
        "/",
        &[&tls12[..], &["--ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384"]].concat(),
    );
    assert_eq!(r.status, 200, "{}", r.stderr);
    assert_eq!(r.text(), "TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384");
    // TLS 1.3: only the named suite.
    let r = curl_https(
        &site,
        anx.port,
        "a.test",
        "/",
        &["--tls13-ciphers", "TLS_AES_128_GCM_SHA256"],
    );
    assert_ne!(
        r.exit, 0,
        "a TLS 1.3 suite outside ssl_ciphers was accepted: {r:?}"
    );
    let r = curl_https(&site, anx.port, "a.test", "/", &[]);
    assert_eq!(r.status, 200, "{}", r.stderr);
    assert_eq!(r.text(), "TLSv1.3 TLS_CHACHA20_POLY1305_SHA256");
}

#[test]
fn unknown_cipher_name_is_skipped_as_openssl_does() {
    let (site, _ca, _a, _b) = two_servers_site();
    // OpenSSL skips a name it does not know while the list selects something: a warning.
    let listed = conf(
        "",
        &[tls_server(
            "a.test",
            "a",
            "        ssl_ciphers ECDHE-ECDSA-AES256-GCM-SHA384:NO-SUCH-CIPHER;\n",
        )],
    );
    let (code, err, path) = anx_test(&site, &listed);
    assert_eq!(code, 0, "{err}");
    let at = format!("{}:{}", shown(&path), line_of(&listed, "NO-SUCH-CIPHER"));
    assert!(
        err.contains("unknown cipher NO-SUCH-CIPHER ignored") && err.contains(&at),
        "expected a warning at {at} in: {err}"
    );
    // A list of nothing but unknown names is an error, with file:line.
    let only = conf(
        "",
        &[tls_server(
            "a.test",
            "a",
            "        ssl_ciphers NO-SUCH-CIPHER;\n",
        )],
    );
    let (code, err, path) = anx_test(&site, &only);
    assert_eq!(code, 1, "{err}");
    let at = format!("{}:{}", shown(&path), line_of(&only, "NO-SUCH-CIPHER"));
    assert!(err.contains("NO-SUCH-CIPHER") && err.contains(&at), "{err}");
}

#[test]
fn tls_variables() {
    let (site, _ca, _a, _b) = two_servers_site();
    let [plain] = free_ports::<1>();
    let vars = "        location / { return 200 \"$scheme|$https|$ssl_protocol|$ssl_cipher|$ssl_server_name|$ssl_session_reused\"; }\n";
    let conf = conf(
        "",
        &[
            tls_server("a.test", "a", vars),
            format!("        listen 127.0.0.1:{plain};\n        server_name a.test;\n{vars}"),
        ],
    );
    let anx = start(&site, &conf, 1);
    let r = curl_https(
        &site,
        anx.port,
        "a.test",
        "/",
        &["--tls13-ciphers", "TLS_AES_128_GCM_SHA256"],
    );
    assert_eq!(
        r.text(),
        "https|on|TLSv1.3|TLS_AES_128_GCM_SHA256|a.test|.",
        "{}",
        r.stderr
    );
    let r = curl_https(
        &site,
        anx.port,
        "a.test",
        "/",
        &[
            "--tls-max",
            "1.2",
            "--ciphers",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
        ],
    );
    assert_eq!(
        r.text(),
        "https|on|TLSv1.2|ECDHE-ECDSA-CHACHA20-POLY1305|a.test|.",
        "{}",
        r.stderr
    );
    let r = curl(&site, &[&format!("http://127.0.0.1:{plain}/")]);
    assert_eq!(r.text(), "http|||||", "plain: {}", r.stderr);
    // Resumed: `r`.
    let client = Client::new(ClientOptions {
        ca_pem: &site_text(&site, "ca.pem"),
        ..Default::default()
    });
    let (_, first) = client.get(anx.port, "a.test", "a.test", "/").unwrap();
    assert!(first.text().ends_with("|."), "{}", first.text());
    let (hs, second) = client.get(anx.port, "a.test", "a.test", "/").unwrap();
    assert_eq!(hs.kind, Some(HandshakeKind::Resumed));
    assert!(second.text().ends_with("|a.test|r"), "{}", second.text());
}

fn site_text(site: &Site, rel: &str) -> String {
    std::fs::read_to_string(site.path().join(rel)).unwrap()
}

/// Resumes with one client until a resumed connection lands on another shard than the
/// first (full) one, every one of them resumed.
fn resume_on_other_shard(version: &'static rustls::SupportedProtocolVersion) {
    let (site, ca, _a, _b) = two_servers_site();
    let conf = two_servers_conf(
        "        location /c { return 200 \"$connection $ssl_session_reused $ssl_protocol\"; }\n",
    );
    let anx = start(&site, &conf, 2);
    let client = Client::new(ClientOptions {
        ca_pem: &ca.pem,
        versions: vec![version],
        ..Default::default()
    });
    let (hs, first) = client.get(anx.port, "a.test", "a.test", "/c").unwrap();
    assert_eq!(hs.kind, Some(HandshakeKind::Full));
    let parse = |t: &str| -> (u64, String, String) {
        let mut it = t.split(' ');
        (
            it.next().unwrap().parse().unwrap(),
            it.next().unwrap().to_string(),
            it.next().unwrap().to_string(),
        )
    };
    let (conn0, reused0, proto) = parse(&first.text());
    assert_eq!(reused0, ".");
    let want_proto = if version == &rustls::version::TLS13 {
        "TLSv1.3"
    } else {
        "TLSv1.2"
    };
    assert_eq!(proto, want_proto);
    let mut shards_seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let (hs, reply) = client.get(anx.port, "a.test", "a.test", "/c").unwrap();
        let (conn, reused, _) = parse(&reply.text());
        assert_eq!(
            hs.kind,
            Some(HandshakeKind::Resumed),
            "connection {conn} (shard {}) did not resume; the first was on shard {}",
            shard_of(conn),
            shard_of(conn0)
        );
        assert_eq!(reused, "r");
        shards_seen.insert(shard_of(conn));
        if shard_of(conn) != shard_of(conn0) {
            return;
        }
    }
    panic!(
        "40 connections all landed on shard {}: {shards_seen:?}",
        shard_of(conn0)
    );
}

#[test]
fn tls13_resumes_on_the_other_shard() {
    resume_on_other_shard(&rustls::version::TLS13);
}

#[test]
fn tls12_ticket_resumes_on_the_other_shard() {
    resume_on_other_shard(&rustls::version::TLS12);
}

/// `openssl s_client -reconnect`: the first handshake is new, the five reconnects reuse it.
fn reconnects(out: &str) -> (usize, usize) {
    let new = out.matches("\nNew, TLSv1.").count();
    let reused = out.matches("\nReused, TLSv1.").count();
    (new, reused)
}

#[test]
fn s_client_reconnect_resumes_across_shards() {
    let (site, _ca, _a, _b) = two_servers_site();
    let anx = start(&site, &two_servers_conf(""), 2);
    // TLS 1.2 only: OpenSSL 3.0's -reconnect takes the session before a TLS 1.3 ticket
    // arrives, so it never resumes TLS 1.3 against any server (sess_out_sess_in_… does).
    {
        let version = "-tls1_2";
        let out = s_client(
            anx.port,
            &["-servername", "a.test", version, "-reconnect"],
            b"",
        );
        let (new, reused) = reconnects(&out);
        assert!(
            new + reused >= 6,
            "{version}: expected 6 handshakes (new {new}, reused {reused}): {out}"
        );
        assert!(
            reused >= 4,
            "{version}: only {reused} of the reconnects resumed: {out}"
        );
    }
}

#[test]
fn sess_out_sess_in_resumes_across_shards() {
    let (site, _ca, _a, _b) = two_servers_site();
    let conf = two_servers_conf(
        "        location /c { return 200 \"conn=$connection reused=$ssl_session_reused\"; }\n",
    );
    let anx = start(&site, &conf, 2);
    let sess = site_path(&site, "sess.pem");
    let req = b"GET /c HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
    let conn_of = |out: &str| -> u64 {
        let at = out
            .find("conn=")
            .unwrap_or_else(|| panic!("no response: {out}"));
        out[at + 5..].split(' ').next().unwrap().parse().unwrap()
    };
    let out = s_client(
        anx.port,
        &["-servername", "a.test", "-ign_eof", "-sess_out", &sess],
        req,
    );
    assert!(out.contains("reused=."), "{out}");
    let first = shard_of(conn_of(&out));
    for _ in 0..30 {
        let out = s_client(
            anx.port,
            &["-servername", "a.test", "-ign_eof", "-sess_in", &sess],
            req,
        );
        assert!(out.contains("\nReused, TLSv1.3"), "{out}");
        assert!(out.contains("reused=r"), "{out}");
        if shard_of(conn_of(&out)) != first {
            return;
        }
    }
    panic!("30 connections all on shard {first}");
}

#[test]
fn session_tickets_off_means_no_resumption() {
    let (site, ca, _a, _b) = two_servers_site();
    let anx = start(
        &site,
        &two_servers_conf("        ssl_session_tickets off;\n"),
        1,
    );
    // TLS 1.2 with s_client (see s_client_reconnect_…); both versions with rustls below.
    {
        let version = "-tls1_2";
        let out = s_client(
            anx.port,
            &["-servername", "a.test", version, "-reconnect"],
            b"",
        );
        let (new, reused) = reconnects(&out);
        assert!(new >= 6, "{version}: new {new}, reused {reused}: {out}");
        assert_eq!(reused, 0, "{version}: {out}");
    }
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let client = Client::new(ClientOptions {
            ca_pem: &ca.pem,
            versions: vec![version],
            ..Default::default()
        });
        client.get(anx.port, "a.test", "a.test", "/").unwrap();
        let (hs, _) = client.get(anx.port, "a.test", "a.test", "/").unwrap();
        assert_eq!(hs.kind, Some(HandshakeKind::Full), "{version:?}");
    }
}

#[test]
fn ticket_key_file_resumes_on_another_process() {
    let (site, ca, _a, _b) = two_servers_site();
    site.write("ticket.key", common::pattern(80, 7));
    site.write("other.key", common::pattern(80, 8));
    let with_key = |key: &str| {
        let s = Site::new();
        for f in ["a.crt", "a.key", "b.crt", "b.key"] {
            std::fs::copy(site.path().join(f), s.path().join(f)).unwrap();
        }
        std::fs::copy(site.path().join(key), s.path().join("t.key")).unwrap();
        let anx = start(
            &s,
            &two_servers_conf("        ssl_session_ticket_key t.key;\n"),
            1,
        );
        (s, anx)
    };
    let (_s1, one) = with_key("ticket.key");
    let (_s2, two) = with_key("ticket.key");
    let (_s3, three) = with_key("other.key");
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        // One client per check: its session store holds the ticket `one` issued.
        let fresh = || {
            let c = Client::new(ClientOptions {
                ca_pem: &ca.pem,
                versions: vec![version],
                ..Default::default()
            });
            let (hs, _) = c.get(one.port, "a.test", "a.test", "/").unwrap();
            assert_eq!(hs.kind, Some(HandshakeKind::Full));
            c
        };
        let (hs, reply) = fresh().get(two.port, "a.test", "a.test", "/").unwrap();
        assert_eq!(
            hs.kind,
            Some(HandshakeKind::Resumed),
            "{version:?}: a ticket from the first process, same key file"
        );
        assert_eq!(reply.status, 200);
        let (hs, _) = fresh().get(three.port, "a.test", "a.test", "/").unwrap();
        assert_eq!(
            hs.kind,
            Some(HandshakeKind::Full),
            "{version:?}: another key file must not open the ticket"
        );
    }
    // The same with openssl's session files.
    let sess = site_path(&site, "sess.pem");
    let out = s_client(
        one.port,
        &["-servername", "a.test", "-tls1_2", "-sess_out", &sess],
        b"",
    );
    assert!(out.contains("New, TLSv1.2"), "{out}");
    let out = s_client(
        two.port,
        &["-servername", "a.test", "-tls1_2", "-sess_in", &sess],
        b"",
    );
    assert!(out.contains("Reused, TLSv1.2"), "{out}");
}

#[test]
fn ocsp_staple_from_file() {
    let (site, ca, a, _b) = two_servers_site();
    // A real OCSP response, signed by the CA, saying a.test's certificate is good.
    site.write("ca.key", &ca.key_pem);
    let serial = openssl(&[
        "x509",
        "-in",
        &site_path(&site, "a.crt"),
        "-noout",
        "-serial",
    ]);
    let serial = serial.trim().trim_start_matches("serial=");
    let subject = "/CN=a.test/O=Example";
    site.write(
        "index.txt",
        format!("V\t301231235959Z\t\t{serial}\tunknown\t{subject}\n"),
    );
    openssl(&[
        "ocsp",
        "-issuer",
        &site_path(&site, "ca.pem"),
        "-cert",
        &site_path(&site, "a.crt"),
        "-no_nonce",
        "-reqout",
        &site_path(&site, "req.der"),
    ]);
    openssl(&[
        "ocsp",
        "-index",
        &site_path(&site, "index.txt"),
        "-rsigner",
        &site_path(&site, "ca.pem"),
        "-rkey",
        &site_path(&site, "ca.key"),
        "-CA",
        &site_path(&site, "ca.pem"),
        "-ndays",
        "1",
        "-reqin",
        &site_path(&site, "req.der"),
        "-respout",
        &site_path(&site, "ocsp.der"),
    ]);
    let staple = std::fs::read(site.path().join("ocsp.der")).unwrap();
    let conf = conf(
        "",
        &[
            tls_server(
                "a.test",
                "a",
                "        ssl_stapling on;\n        ssl_stapling_file ocsp.der;\n",
            ),
            tls_server("b.test", "b", ""),
        ],
    );
    let anx = start(&site, &conf, 1);
    for version in ["-tls1_2", "-tls1_3"] {
        let out = s_client(
            anx.port,
            &["-servername", "a.test", "-status", version],
            b"",
        );
        assert!(out.contains("OCSP Response Data"), "{version}: {out}");
        assert!(out.contains("OCSP Response Status: successful"), "{out}");
        assert!(out.contains("Cert Status: good"), "{out}");
        // b.test staples nothing.
        let out = s_client(
            anx.port,
            &["-servername", "b.test", "-status", version],
            b"",
        );
        assert!(
            out.contains("OCSP response: no response sent"),
            "{version}: {out}"
        );
    }
    let client = Client::new(ClientOptions {
        ca_pem: &ca.pem,
        ..Default::default()
    });
    let (hs, _) = client.get(anx.port, "a.test", "a.test", "/").unwrap();
    assert_eq!(hs.leaf, a.der);
    assert_eq!(hs.ocsp, staple, "the staple is the file's bytes");
}

#[test]
fn host_naming_a_server_with_another_certificate_is_421() {
    let (site, _ca, _a, _b) = two_servers_site();
    // c.test shares a.test's certificate file and settings: allowed on a.test's handshake.
    let conf = conf(
        "",
        &[
            tls_server("a.test", "a", WHO),
            tls_server("b.test", "b", WHO),
            tls_server("c.test", "a", WHO),
        ],
    );
    let anx = start(&site, &conf, 1);
    let r = curl_https(&site, anx.port, "a.test", "/", &["-H", "Host: b.test"]);
    assert_eq!(r.status, 421, "{r:?}");
    let r = curl_https(&site, anx.port, "b.test", "/", &["-H", "Host: a.test"]);
    assert_eq!(r.status, 421, "{r:?}");
    let r = curl_https(&site, anx.port, "a.test", "/", &["-H", "Host: a.test"]);
    assert_eq!((r.status, r.text().as_str()), (200, "a.test sni=a.test"));
    let r = curl_https(&site, anx.port, "a.test", "/", &["-H", "Host: c.test"]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "c.test sni=a.test"),
        "{r:?}"
    );
    // A kept-alive connection: the 421 does not poison the next request on another one.
    let r = curl_https(&site, anx.port, "b.test", "/", &[]);
    assert_eq!(r.status, 200);
    // Each refusal says why in the error log (info), once.
    let why = "request for another server than the TLS handshake's, client: 127.0.0.1";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while anx.stderr_matching(&[why]).len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(anx.stderr_matching(&[why]).len(), 2, "{:?}", anx.stderr());
}
