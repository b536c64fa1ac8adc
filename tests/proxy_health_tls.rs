//! Active health checks over TLS: the probes of a group behind `proxy_pass https://` go
//! inside a TLS session checked with that location's `proxy_ssl_*` settings, so a peer
//! whose certificate the proxy would refuse is down, and `scheme=` overrides the choice.
//!
//! The HTTPS backend (`tests/tls_util/backend.rs`) records every request line it read
//! through TLS, so "the probe arrived inside TLS" is checked directly.

mod common;
mod tls_util;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{poll_until, Anx, Site};
use tls_util::backend::{backend, Backend};
use tls_util::*;

const WAIT: Duration = Duration::from_secs(10);

/// A site with `ca.pem` (which signed the backend's `backend.test` certificate) and an
/// unrelated `other-ca.pem`, and a running backend.
fn setup() -> (Site, Backend) {
    let site = Site::new();
    let ca = ca("anx upstream CA");
    site.write("ca.pem", &ca.pem);
    site.write("other-ca.pem", &tls_util::ca("someone else").pem);
    let leaf = server_leaf(&ca, &["backend.test"], Alg::P256);
    (site, backend(&leaf, None))
}

/// anx with group `g` (the backend, checked with `check`) and `/` proxied by `pass` with
/// the location's `ssl` lines.
fn start(site: &Site, b: &Backend, check: &str, pass: &str, ssl: &str) -> Anx {
    let http = format!(
        "upstream g {{\n        server 127.0.0.1:{};\n        anx_health_check interval=100ms uri=/health timeout=2s {check};\n    }}",
        b.port
    );
    let server = format!(
        "        listen 127.0.0.1:0;\n        location / {{\n            proxy_pass {pass};\n{ssl}\n        }}"
    );
    Anx::start_conf(site, &conf(&http, &[server]), 1)
}

fn probes(b: &Backend) -> usize {
    let lines = b.seen.lines.lock().expect("lock");
    lines
        .iter()
        .filter(|l| l.starts_with("GET /health "))
        .count()
}

fn wait_log(anx: &Anx, needles: &[&str]) -> String {
    poll_until(WAIT, "the error-log line", || {
        anx.stderr_matching(needles).into_iter().next()
    })
}

const VERIFY: &str = "            proxy_ssl_verify on;\n            proxy_ssl_trusted_certificate ca.pem;\n            proxy_ssl_name backend.test;\n            proxy_ssl_server_name on;";

#[test]
fn probes_go_inside_tls_with_the_location_settings() {
    let (site, b) = setup();
    let anx = start(&site, &b, "", "https://g", VERIFY);
    poll_until(WAIT, "two probes through TLS", || {
        (probes(&b) >= 2).then_some(())
    });
    // Verified against backend.test and sent in SNI, as the location's requests are.
    let snis = b.seen.snis.lock().expect("lock").clone();
    assert!(
        snis.iter().all(|s| s.as_deref() == Some("backend.test")),
        "{snis:?}"
    );
    assert!(
        anx.stderr_matching(&["is down"]).is_empty(),
        "{:?}",
        anx.stderr()
    );
    assert_eq!(anx.get("/").status, 200);

    // The probe's answer is judged as over plain HTTP: a 500 takes the peer out.
    b.seen.status.store(500, Ordering::SeqCst);
    let line = wait_log(&anx, &["upstream \"g\"", "is down"]);
    assert!(line.contains("status 500"), "{line}");
    b.seen.status.store(200, Ordering::SeqCst);
    wait_log(&anx, &["upstream \"g\"", "is up again"]);
}

#[test]
fn a_certificate_the_proxy_would_refuse_marks_the_peer_down() {
    let (site, b) = setup();
    let ssl = VERIFY.replace("ca.pem", "other-ca.pem");
    let anx = start(&site, &b, "", "https://g", &ssl);
    let line = wait_log(&anx, &["upstream \"g\"", "is down"]);
    assert!(line.to_ascii_lowercase().contains("certificate"), "{line}");
    assert_eq!(probes(&b), 0, "no probe may pass an unverified handshake");
    // Down by its check, the only peer is not even tried.
    assert_eq!(anx.get("/").status, 502);
    wait_log(&anx, &["no live upstreams"]);
}

#[test]
fn scheme_overrides_what_proxy_pass_says() {
    // scheme=http: plain probes to a TLS port fail, though proxy_pass speaks https.
    let (site, b) = setup();
    let anx = start(&site, &b, "scheme=http", "https://g", VERIFY);
    wait_log(&anx, &["upstream \"g\"", "is down"]);
    assert_eq!(probes(&b), 0);
    drop(anx);

    // scheme=https for a group reached only through variables: TLS with the defaults (no
    // verification), named by host=.
    let (site, b) = setup();
    let anx = start(
        &site,
        &b,
        "scheme=https host=probe.test",
        "https://$arg_g",
        "            proxy_ssl_server_name on;",
    );
    poll_until(WAIT, "a probe through TLS", || {
        (probes(&b) >= 1).then_some(())
    });
    // The defaults send no SNI (proxy_ssl_server_name off), whatever the location says.
    let first = b.seen.snis.lock().expect("lock").first().cloned();
    assert_eq!(first, Some(None));
    assert!(
        anx.stderr_matching(&["is down"]).is_empty(),
        "{:?}",
        anx.stderr()
    );
    let r = anx.get("/?g=g");
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn a_group_behind_both_schemes_must_choose() {
    let site = Site::new();
    let text = conf(
        "upstream g {\n        server 127.0.0.1:9;\n        anx_health_check;\n    }",
        &["        listen 127.0.0.1:0;\n        location /a { proxy_pass http://g; }\n        location /b { proxy_pass https://g; }".to_string()],
    );
    let (code, out, _) = anx_test(&site, &text);
    assert_ne!(code, 0, "{out}");
    let line = line_of(&text, "anx_health_check");
    assert!(
        out.contains(
            "anx_health_check: upstream \"g\" is proxied to over both http:// and https://: \
             add scheme=http or scheme=https in "
        ),
        "{out}"
    );
    assert!(out.contains(&format!("anx.conf:{line}\n")), "{out}");
    let fixed = text.replace("anx_health_check;", "anx_health_check scheme=https;");
    let (code, out, _) = anx_test(&site, &fixed);
    assert_eq!(code, 0, "{out}");
}
