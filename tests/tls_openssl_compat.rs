//! What OpenSSL serves, anx serves: certificates and keys made by the `openssl` command the
//! way nginx's own test suite makes them, against the real binary.
//!
//! - X.509 v1 certificates (`openssl req -x509` without extensions) load with a warning,
//!   serve, verify clients and upstreams; a key that is not the certificate's stays an
//!   error.
//! - `ssl_verify_client on` as nginx: the handshake completes, a request without a good
//!   certificate gets 400 and `$ssl_client_verify` says why.
//! - `ssl_password_file` decrypts `openssl genrsa -aes128` keys.
//! - `ssl_reject_handshake` answers with an `unrecognized_name` alert.
//! - `ssl_ciphers` skips names OpenSSL does not know (`DEFAULT:ECCdraft`).
//! - The certificate variables (`$ssl_client_raw_cert`, `$ssl_client_escaped_cert`,
//!   `$ssl_client_i_dn`, `$ssl_client_s_dn_legacy`, `$ssl_client_serial`) match openssl.

mod common;
mod tls_util;

use common::Site;
use tls_util::*;

const OPENSSL_CONF: &str = "[ req ]\ndefault_bits = 2048\nencrypt_key = no\n\
                            distinguished_name = req_distinguished_name\n[ req_distinguished_name ]\n";

/// `<name>.crt` / `<name>.key`: a self-signed X.509 v1 certificate for CN=`name`.
fn v1_cert(site: &Site, name: &str) {
    let conf = site.write("openssl.conf", OPENSSL_CONF);
    let dir = site.path();
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-config",
        conf.to_str().unwrap(),
        "-subj",
        &format!("/CN={name}/"),
        "-out",
        dir.join(format!("{name}.crt")).to_str().unwrap(),
        "-keyout",
        dir.join(format!("{name}.key")).to_str().unwrap(),
    ]);
    let text = openssl(&[
        "x509",
        "-noout",
        "-text",
        "-in",
        dir.join(format!("{name}.crt")).to_str().unwrap(),
    ]);
    assert!(text.contains("Version: 1 (0x0)"), "{text}");
}

fn server(name: &str, cert: &str, extra: &str) -> String {
    tls_server(name, cert, extra)
}

#[test]
fn v1_certificate_serves_with_a_warning() {
    let site = Site::new();
    v1_cert(&site, "localhost");
    let conf = conf(
        "",
        &[server(
            "localhost",
            "localhost",
            "        location / { return 200 \"$ssl_protocol\"; }\n",
        )],
    );
    let anx = start(&site, &conf, 1);
    anx.wait_stderr(&["localhost.crt", "X.509 v1"]);
    let got = curl_https(&site, anx.port, "localhost", "/", &["-k"]);
    assert_eq!(got.status, 200, "{got:?}");
    assert!(got.text().starts_with("TLSv1."), "{got:?}");
}

#[test]
fn key_of_another_certificate_is_an_error() {
    let site = Site::new();
    v1_cert(&site, "one");
    v1_cert(&site, "two");
    let conf = conf(
        "",
        &[server("one", "one", "").replace("one.key", "two.key")],
    );
    let (code, err, _) = anx_test(&site, &conf);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("does not match certificate"), "{err}");
}

#[test]
fn v1_client_certificates_and_their_variables() {
    let site = Site::new();
    v1_cert(&site, "localhost");
    v1_cert(&site, "client");
    v1_cert(&site, "stranger");
    let vars = "        add_header X-Verify $ssl_client_verify always;\n        \
                location /raw { return 200 $ssl_client_raw_cert; }\n        \
                location /escaped { return 200 $ssl_client_escaped_cert; }\n        \
                location /names { return 200 \"$ssl_client_i_dn|$ssl_client_s_dn_legacy|$ssl_client_serial\"; }\n";
    let conf = conf(
        "",
        &[server(
            "localhost",
            "localhost",
            &format!(
                "        ssl_verify_client on;\n        ssl_client_certificate client.crt;\n{vars}"
            ),
        )],
    );
    let anx = start(&site, &conf, 1);
    let as_client = |who: &str, path: &str| {
        let crt = site_path(&site, &format!("{who}.crt"));
        let key = site_path(&site, &format!("{who}.key"));
        curl_https(
            &site,
            anx.port,
            "localhost",
            path,
            &["-k", "--cert", &crt, "--key", &key],
        )
    };
    let raw = as_client("client", "/raw");
    assert_eq!(raw.status, 200, "{raw:?}");
    let file = std::fs::read_to_string(site.path().join("client.crt")).unwrap();
    assert_eq!(raw.text(), file);
    let escaped = as_client("client", "/escaped").text();
    assert!(
        escaped.starts_with("-----BEGIN%20CERTIFICATE-----%0A"),
        "{escaped}"
    );
    assert!(
        !escaped.contains('/') && !escaped.contains('\n'),
        "{escaped}"
    );

    let names = as_client("client", "/names").text();
    let serial = openssl(&[
        "x509",
        "-noout",
        "-serial",
        "-in",
        site.path().join("client.crt").to_str().unwrap(),
    ]);
    let serial = serial.trim().trim_start_matches("serial=");
    assert_eq!(names, format!("CN=client|/CN=client|{serial}"));

    // As nginx: no certificate, or one no CA here signed, completes the handshake and
    // gets 400, with the reason in the variable.
    let none = curl_https(&site, anx.port, "localhost", "/raw", &["-k"]);
    assert_eq!(none.status, 400, "{none:?}");
    assert_eq!(none.header("X-Verify").as_deref(), Some("NONE"));
    let stranger = as_client("stranger", "/raw");
    assert_eq!(stranger.status, 400, "{stranger:?}");
    assert_eq!(
        stranger.header("X-Verify").as_deref(),
        Some("FAILED:self-signed certificate")
    );
}

#[test]
fn encrypted_key_with_a_password_file() {
    let site = Site::new();
    let dir = site.path().to_path_buf();
    let key = dir.join("enc.key");
    openssl(&[
        "genrsa",
        "-out",
        key.to_str().unwrap(),
        "-passout",
        "pass:secret",
        "-aes128",
        "2048",
    ]);
    let head = std::fs::read_to_string(&key).unwrap();
    assert!(
        head.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{head}"
    );
    let conf_file = site.write("openssl.conf", OPENSSL_CONF);
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-config",
        conf_file.to_str().unwrap(),
        "-subj",
        "/CN=enc/",
        "-key",
        key.to_str().unwrap(),
        "-passin",
        "pass:secret",
        "-out",
        dir.join("enc.crt").to_str().unwrap(),
    ]);
    site.write("passwords", "wrong\r\nsecret\r\n");
    let body = "        ssl_password_file passwords;\n        location / { return 200 ok; }\n";
    let good = conf("", &[server("enc", "enc", body)]);
    let anx = start(&site, &good, 1);
    let got = curl_https(&site, anx.port, "enc", "/", &["-k"]);
    assert_eq!((got.status, got.text().as_str()), (200, "ok"), "{got:?}");
    drop(anx);

    site.write("passwords", "wrong\n");
    let (code, err, _) = anx_test(&site, &good);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("no pass phrase of \"ssl_password_file\""),
        "{err}"
    );
    let without = conf("", &[server("enc", "enc", "")]);
    let (code, err, _) = anx_test(&site, &without);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("encrypted and no \"ssl_password_file\""),
        "{err}"
    );
}

#[test]
fn reject_handshake_sends_unrecognized_name() {
    let site = Site::new();
    v1_cert(&site, "localhost");
    let conf = conf(
        "",
        &[
            "        listen 127.0.0.1:0 ssl;\n        server_name localhost;\n        ssl_reject_handshake on;\n"
                .to_string(),
            server(
                "virtual",
                "localhost",
                "        location / { return 200 \"$ssl_server_name\"; }\n",
            )
            .replace(" ssl;", ";"),
        ],
    );
    let anx = start(&site, &conf, 1);
    let rejected = s_client(anx.port, &["-servername", "unknown.test"], b"");
    assert!(rejected.contains("unrecognized name"), "{rejected}");
    let no_sni = s_client(anx.port, &["-noservername"], b"");
    assert!(no_sni.contains("unrecognized name"), "{no_sni}");
    let got = curl_https(&site, anx.port, "virtual", "/", &["-k"]);
    assert_eq!(
        (got.status, got.text().as_str()),
        (200, "virtual"),
        "{got:?}"
    );
}

#[test]
fn unknown_cipher_names_are_skipped_as_openssl_does() {
    let site = Site::new();
    v1_cert(&site, "localhost");
    let body = "        ssl_ciphers DEFAULT:ECCdraft;\n        location / { return 200 ok; }\n";
    let anx = start(
        &site,
        &conf("", &[server("localhost", "localhost", body)]),
        1,
    );
    anx.wait_stderr(&["ECCdraft", "ignored"]);
    let got = curl_https(&site, anx.port, "localhost", "/", &["-k"]);
    assert_eq!(got.status, 200, "{got:?}");
    let (code, err, _) = anx_test(
        &site,
        &conf(
            "",
            &[server(
                "localhost",
                "localhost",
                "        ssl_ciphers NOPE;\n",
            )],
        ),
    );
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("unknown cipher \"NOPE\""), "{err}");
}

#[test]
fn upstream_with_a_v1_certificate_verifies_by_cn() {
    let site = Site::new();
    v1_cert(&site, "backend.test");
    let [front, back] = free_ports::<2>();
    let conf = conf(
        "",
        &[
            format!(
                "        listen 127.0.0.1:{front};\n        server_name front;\n        \
                 location /good {{ proxy_pass https://127.0.0.1:{back}/; proxy_ssl_verify on; \
                 proxy_ssl_name backend.test; proxy_ssl_trusted_certificate backend.test.crt; }}\n        \
                 location /bad {{ proxy_pass https://127.0.0.1:{back}/; proxy_ssl_verify on; \
                 proxy_ssl_name other.test; proxy_ssl_trusted_certificate backend.test.crt; }}\n"
            ),
            format!(
                "        listen 127.0.0.1:{back} ssl;\n        server_name backend.test;\n        \
                 ssl_certificate backend.test.crt;\n        ssl_certificate_key backend.test.key;\n        \
                 location / {{ return 200 backend; }}\n"
            ),
        ],
    );
    let _anx = start(&site, &conf, 1);
    let good = curl(&site, &[&format!("http://127.0.0.1:{front}/good")]);
    assert_eq!(
        (good.status, good.text().as_str()),
        (200, "backend"),
        "{good:?}"
    );
    let bad = curl(&site, &[&format!("http://127.0.0.1:{front}/bad")]);
    assert_eq!(bad.status, 502, "{bad:?}");
}
