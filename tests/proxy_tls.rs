//! `proxy_pass https://` against the real binary: an HTTPS backend written here (a std
//! listener with a rustls `ServerConnection` per connection, certificates from rcgen)
//! answers every request with what it saw — the SNI, the request line, whether the
//! handshake resumed and whether a client certificate came — so each test can check what
//! anx sent: verification on and off, `proxy_ssl_name`, SNI only with
//! `proxy_ssl_server_name on`, a client certificate, keep-alive over TLS and session reuse.

mod common;
mod tls_util;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Anx, Site};
use tls_util::backend::backend;
use tls_util::*;

/// A site with a CA written as `ca.pem`, a backend certificate for `backend.test` and a
/// second, unrelated CA as `other-ca.pem`.
fn site() -> (Site, Ca, Leaf) {
    let site = Site::new();
    let ca = ca("anx upstream CA");
    site.write("ca.pem", &ca.pem);
    site.write("other-ca.pem", &tls_util::ca("someone else").pem);
    let leaf = server_leaf(&ca, &["backend.test"], Alg::P256);
    (site, ca, leaf)
}

/// anx with one plain server whose `/` proxies to `upstream` (`https://` + it), with
/// `http` and `location` lines added.
fn start(site: &Site, http: &str, upstream: &str, location: &str) -> Anx {
    start_url(site, http, &format!("https://{upstream}"), location)
}

/// anx with one plain server whose `/` has `proxy_pass url` (variables allowed), with
/// `http` and `location` lines added.
fn start_url(site: &Site, http: &str, url: &str, location: &str) -> Anx {
    let server = format!(
        "        listen 127.0.0.1:0;\n        location / {{\n            proxy_pass {url};\n{location}\n        }}"
    );
    Anx::start_conf(site, &conf(http, &[server]), 1)
}

#[test]
fn verify_off_accepts_any_certificate() {
    let (site, _ca, leaf) = site();
    let b = backend(&leaf, None);
    let anx = start(&site, "", &format!("127.0.0.1:{}", b.port), "");
    let r = anx.get("/x?y=1");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("line=GET /x?y=1 HTTP/1.0"),
        "{}",
        r.text()
    );
    // nginx sends no SNI by default.
    assert!(r.text().contains("sni=-"), "{}", r.text());
}

#[test]
fn verify_on_with_the_right_ca_and_name() {
    let (site, _ca, leaf) = site();
    let b = backend(&leaf, None);
    let anx = start(
        &site,
        "",
        &format!("127.0.0.1:{}", b.port),
        "            proxy_ssl_verify on;\n            proxy_ssl_trusted_certificate ca.pem;\n            proxy_ssl_name backend.test;",
    );
    let r = anx.get("/");
    assert_eq!(r.status, 200, "{}", r.text());
    // A name of its own is still not sent without proxy_ssl_server_name.
    assert!(r.text().contains("sni=-"), "{}", r.text());
}

#[test]
fn verify_on_with_a_wrong_ca_or_name_is_502() {
    let (site, _ca, leaf) = site();
    let b = backend(&leaf, None);
    for (ca_file, name) in [
        ("other-ca.pem", "backend.test"),
        ("ca.pem", "elsewhere.test"),
    ] {
        let anx = start(
            &site,
            "",
            &format!("127.0.0.1:{}", b.port),
            &format!(
                "            proxy_ssl_verify on;\n            proxy_ssl_trusted_certificate {ca_file};\n            proxy_ssl_name {name};"
            ),
        );
        let r = anx.get("/");
        assert_eq!(r.status, 502, "{ca_file} {name}");
        // The error log is written by another thread: give it a moment.
        let needles = [
            "upstream SSL certificate verify error",
            "while SSL handshaking to upstream",
        ];
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while anx.stderr_matching(&needles).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !anx.stderr_matching(&needles).is_empty(),
            "{:?}",
            anx.stderr()
        );
    }
}

#[test]
fn sni_only_with_proxy_ssl_server_name_on() {
    let (site, _ca, leaf) = site();
    let b = backend(&leaf, None);
    let up = format!("upstream backend.test {{ server 127.0.0.1:{}; }}", b.port);
    let anx = start(
        &site,
        &up,
        "backend.test",
        "            proxy_ssl_server_name on;",
    );
    let r = anx.get("/");
    assert_eq!(r.status, 200, "{}", r.text());
    // The default name is $proxy_host: the group's name.
    assert!(r.text().contains("sni=backend.test"), "{}", r.text());
    drop(anx);

    let anx = start(
        &site,
        &up,
        "backend.test",
        "            proxy_ssl_server_name on;\n            proxy_ssl_name $arg_n;",
    );
    let r = anx.get("/?n=named.test");
    assert!(r.text().contains("sni=named.test"), "{}", r.text());
}

#[test]
fn client_certificate_to_an_upstream_that_requires_one() {
    let (site, ca, leaf) = site();
    let client = client_leaf(&ca, "anx");
    client.write(&site, "client");
    let b = backend(&leaf, Some(&ca));
    let addr = format!("127.0.0.1:{}", b.port);
    let anx = start(&site, "", &addr, "");
    assert_eq!(anx.get("/").status, 502);
    drop(anx);
    let anx = start(
        &site,
        "",
        &addr,
        "            proxy_ssl_certificate client.crt;\n            proxy_ssl_certificate_key client.key;",
    );
    let r = anx.get("/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("client_cert=true"), "{}", r.text());
}

#[test]
fn keepalive_and_session_reuse_over_tls() {
    let (site, _ca, leaf) = site();
    let b = backend(&leaf, None);
    let up = format!(
        "upstream tlsapp {{ server 127.0.0.1:{}; keepalive 4; }}",
        b.port
    );
    let anx = start(&site, &up, "tlsapp", "            proxy_http_version 1.1;");
    for i in 0..20 {
        let r = anx.get(&format!("/{i}"));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // Sequential requests reuse one pooled connection.
    assert_eq!(b.seen.accepts.load(Ordering::SeqCst), 1);
    drop(anx);

    // Without keepalive every request is a new connection, and after the first each
    // handshake resumes the session (TLS 1.3 tickets), unless reuse is off.
    let b = backend(&leaf, None);
    let addr = format!("127.0.0.1:{}", b.port);
    let anx = start(&site, "", &addr, "");
    for _ in 0..4 {
        assert_eq!(anx.get("/").status, 200);
    }
    assert_eq!(b.seen.accepts.load(Ordering::SeqCst), 4);
    assert_eq!(b.seen.resumed.load(Ordering::SeqCst), 3);
    drop(anx);

    let b = backend(&leaf, None);
    let addr = format!("127.0.0.1:{}", b.port);
    let anx = start(&site, "", &addr, "            proxy_ssl_session_reuse off;");
    for _ in 0..3 {
        assert_eq!(anx.get("/").status, 200);
    }
    assert_eq!(b.seen.resumed.load(Ordering::SeqCst), 0);
}

#[test]
fn https_with_variables_uses_tls_with_the_location_settings() {
    let (site, _ca, leaf) = site();
    let b = backend(&leaf, None);
    let up = format!("upstream backend.test {{ server 127.0.0.1:{}; }}", b.port);
    // The scheme and the group both come from variables.
    let anx = start_url(
        &site,
        &up,
        "$arg_s://backend.test$uri",
        "            proxy_ssl_verify on;\n            proxy_ssl_trusted_certificate ca.pem;\n            proxy_ssl_server_name on;",
    );
    let r = anx.get("/x?s=https");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("line=GET /x HTTP/1.0"), "{}", r.text());
    // The default name is the URL's host, verified and sent in SNI.
    assert!(r.text().contains("sni=backend.test"), "{}", r.text());
    // The same URL evaluated to http:// speaks plain HTTP to the TLS port, which fails.
    assert_eq!(anx.get("/x?s=http").status, 502);
    assert_eq!(b.seen.lines.lock().expect("lock").len(), 1);
    drop(anx);

    // A literal address with variables after it; proxy_ssl_verify applies per request.
    let anx = start_url(
        &site,
        "",
        &format!("https://127.0.0.1:{}$uri", b.port),
        "            proxy_ssl_verify on;\n            proxy_ssl_trusted_certificate ca.pem;\n            proxy_ssl_name $arg_n;",
    );
    let r = anx.get("/y?n=backend.test");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("line=GET /y HTTP/1.0"), "{}", r.text());
    assert_eq!(anx.get("/y?n=elsewhere.test").status, 502);
}

#[test]
fn pooled_tls_connections_keep_their_scheme_and_name() {
    let (site, _ca, leaf) = site();
    let b = backend(&leaf, None);
    let up = format!(
        "upstream tlsapp {{ server 127.0.0.1:{}; keepalive 4; }}",
        b.port
    );
    let anx = start_url(
        &site,
        &up,
        "$arg_s://tlsapp",
        "            proxy_http_version 1.1;\n            proxy_ssl_server_name on;\n            proxy_ssl_name $arg_n;",
    );
    for _ in 0..3 {
        let r = anx.get("/?s=https&n=a.test");
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.text().contains("sni=a.test"), "{}", r.text());
    }
    assert_eq!(b.seen.accepts.load(Ordering::SeqCst), 1);
    // A connection opened (and verified) for one name is not reused for another.
    let r = anx.get("/?s=https&n=b.test");
    assert!(r.text().contains("sni=b.test"), "{}", r.text());
    assert_eq!(b.seen.accepts.load(Ordering::SeqCst), 2);
    // Nor is a TLS connection reused by a request that evaluates to http://: it goes out
    // in plain text on a new connection, which the TLS backend refuses.
    assert_eq!(anx.get("/?s=http&n=b.test").status, 502);
    assert_eq!(b.seen.accepts.load(Ordering::SeqCst), 3);
    assert_eq!(b.seen.lines.lock().expect("lock").len(), 4);
}

#[test]
fn config_errors() {
    let (site, _ca, _leaf) = site();
    let server = "        listen 127.0.0.1:0;\n        location / { proxy_pass https://127.0.0.1:1; proxy_ssl_verify on; }".to_string();
    let (code, out, _) = anx_test(&site, &conf("", &[server]));
    assert_ne!(code, 0);
    assert!(
        out.contains("no proxy_ssl_trusted_certificate for proxy_ssl_verify"),
        "{out}"
    );
}

#[test]
fn client_certificate_named_by_variables() {
    let (site, ca, leaf) = site();
    client_leaf(&ca, "good").write(&site, "good");
    client_leaf(&tls_util::ca("someone else"), "stranger").write(&site, "stranger");
    // The same key, encrypted, for proxy_ssl_password_file.
    let (cert, key) = client_leaf(&ca, "locked").write(&site, "locked");
    let locked_key = site.path().join("locked-enc.key");
    openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        key.to_str().unwrap(),
        "-out",
        locked_key.to_str().unwrap(),
        "-passout",
        "pass:secret",
    ]);
    std::fs::copy(&cert, site.path().join("locked-enc.crt")).unwrap();
    site.write("passwords", "wrong\nsecret\n");
    let b = backend(&leaf, Some(&ca));
    let addr = format!("127.0.0.1:{}", b.port);
    let anx = start(
        &site,
        "",
        &addr,
        "            proxy_ssl_certificate $arg_c;\n            proxy_ssl_certificate_key $arg_k;\n            proxy_ssl_password_file passwords;",
    );
    let r = anx.get("/?c=good.crt&k=good.key");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("client_cert=true"), "{}", r.text());
    // A certificate the backend does not trust: its handshake fails.
    assert_eq!(anx.get("/?c=stranger.crt&k=stranger.key").status, 502);
    assert_eq!(anx.get("/?c=locked-enc.crt&k=locked-enc.key").status, 200);
    // An empty certificate path means none, as nginx; this backend wants one.
    assert_eq!(anx.get("/").status, 502);
    // Files that do not load are anx's error, before any connection.
    let accepts = b.seen.accepts.load(Ordering::SeqCst);
    assert_eq!(anx.get("/?c=missing.crt&k=missing.key").status, 500);
    assert_eq!(b.seen.accepts.load(Ordering::SeqCst), accepts);
    anx.wait_stderr(&["cannot load certificate", "missing.crt"]);
    // Loaded files are kept by path for the configuration's life (a reload reads them
    // again): the shard does not read them per request.
    std::fs::remove_file(site.path().join("good.crt")).unwrap();
    assert_eq!(anx.get("/?c=good.crt&k=good.key").status, 200);
}
