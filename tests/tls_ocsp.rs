//! OCSP stapling fetched from the responder, end to end: certificates made with openssl
//! (a CA and leaves whose Authority Information Access names a loopback responder),
//! `openssl ocsp -index … -port N` as the real responder, anx started on an nginx.conf,
//! and `openssl s_client -status` reading the staple back. Each check polls with a bound
//! (the fetch runs in the background); nothing asserts how long anything takes.
//!
//! Covered: a good staple from the certificate's responder (TLS 1.2 and 1.3, two
//! shards); a revoked certificate is not stapled and is logged while another server's good
//! one is; a responder that is down at start-up (anx serves without a staple, then staples
//! once it is up); `ssl_stapling_responder` overriding the certificate's URL;
//! `ssl_stapling_verify` refusing a response signed by a key other than the issuer's, or
//! by a trusted root that is not the issuer;
//! and `anx -t` reporting a certificate that cannot staple. Also the OCSP check of client
//! certificates (`ssl_ocsp leaf`, `ssl_ocsp_cache`) against the same responder, with curl
//! presenting the certificate.

mod common;
mod tls_util;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Anx, Site};
use tls_util::{
    anx_test, conf, curl_https, free_ports, openssl, s_client, site_path, start, tls_server,
};

/// Bound on waiting for a staple or a log line (each fetch is quick; retries back off
/// from one second).
const STAPLE_DEADLINE: Duration = Duration::from_secs(60);

/// A CA made with openssl in the site (`ca.pem`, `ca.key`), and a second one with the
/// same name and another key (`other-ca.pem`, `other-ca.key`) to sign wrong responses.
fn pki() -> Site {
    let site = Site::new();
    for name in ["ca", "other-ca"] {
        ec_key(&site, &format!("{name}.key"));
        openssl(&[
            "req",
            "-x509",
            "-key",
            &site_path(&site, &format!("{name}.key")),
            "-out",
            &site_path(&site, &format!("{name}.pem")),
            "-subj",
            "/CN=anx OCSP test CA",
            "-days",
            "30",
        ]);
    }
    site.write("index.txt", "");
    site
}

fn ec_key(site: &Site, name: &str) {
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &site_path(site, name),
    ]);
}

/// A leaf for `host` signed by `ca.pem`, its AIA naming `http://127.0.0.1:<aia_port>/`
/// (none when `None`); writes `<host>.crt` (leaf then CA: the issuer comes from the
/// chain, nginx's rule) and `<host>.key`, and adds it to `index.txt` as valid, or revoked.
fn leaf(site: &Site, host: &str, aia_port: Option<u16>, revoked: bool) {
    let key = format!("{host}.key");
    ec_key(site, &key);
    let csr = site_path(site, &format!("{host}.csr"));
    openssl(&[
        "req",
        "-new",
        "-key",
        &site_path(site, &key),
        "-out",
        &csr,
        "-subj",
        &format!("/CN={host}"),
    ]);
    let mut ext = format!("subjectAltName=DNS:{host}\n");
    if let Some(port) = aia_port {
        ext.push_str(&format!(
            "authorityInfoAccess=OCSP;URI:http://127.0.0.1:{port}/\n"
        ));
    }
    site.write(&format!("{host}.ext"), ext);
    let only_leaf = site_path(site, &format!("{host}-leaf.crt"));
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &site_path(site, "ca.pem"),
        "-CAkey",
        &site_path(site, "ca.key"),
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        &site_path(site, &format!("{host}.ext")),
        "-out",
        &only_leaf,
    ]);
    let leaf_pem = std::fs::read_to_string(&only_leaf).unwrap();
    let ca_pem = std::fs::read_to_string(site.path().join("ca.pem")).unwrap();
    site.write(&format!("{host}.crt"), format!("{leaf_pem}{ca_pem}"));
    let serial = openssl(&["x509", "-in", &only_leaf, "-noout", "-serial"]);
    let serial = serial.trim().trim_start_matches("serial=");
    let line = if revoked {
        format!("R\t301231235959Z\t240101000000Z\t{serial}\tunknown\t/CN={host}\n")
    } else {
        format!("V\t301231235959Z\t\t{serial}\tunknown\t/CN={host}\n")
    };
    let mut index = std::fs::read_to_string(site.path().join("index.txt")).unwrap();
    index.push_str(&line);
    site.write("index.txt", index);
}

/// `openssl ocsp` answering for `ca.pem`'s certificates from `index.txt`, signing with
/// `<signer>.pem`/`<signer>.key`, responses valid for a day. Killed when dropped.
struct Responder {
    child: Child,
}

impl Responder {
    fn start(site: &Site, port: u16, signer: &str) -> Responder {
        let mut cmd = Command::new("openssl");
        cmd.args(["ocsp", "-index"])
            .arg(site.path().join("index.txt"))
            .args(["-port", &port.to_string(), "-rsigner"])
            .arg(site.path().join(format!("{signer}.pem")))
            .arg("-rkey")
            .arg(site.path().join(format!("{signer}.key")))
            .arg("-CA")
            .arg(site.path().join("ca.pem"))
            .args(["-ndays", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn openssl ocsp");
        // Ready once it says so. (Not by connecting: it serves one connection at a time
        // and would wait on a probe for a request.)
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("waiting for OCSP client connections") {
                    let _ = tx.send(Ok(()));
                } else if line.contains("rror") {
                    let _ = tx.send(Err(line));
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(())) => {}
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("openssl ocsp on port {port} did not start: {other:?}");
            }
        }
        Responder { child }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TLS server for `host` with its `<host>.crt` chain and `extra` lines.
fn server(host: &str, extra: &str) -> String {
    format!(
        "        listen 127.0.0.1:0 ssl;\n        server_name {host};\n        root html;\n        ssl_certificate {host}.crt;\n        ssl_certificate_key {host}.key;\n        ssl_stapling on;\n{extra}"
    )
}

/// What `s_client -status` saw for `host`.
fn status(anx: &Anx, host: &str, version: &str) -> String {
    s_client(anx.port, &["-servername", host, "-status", version], b"")
}

/// Polls `f` until it gives something, up to [`STAPLE_DEADLINE`]; then fails showing
/// anx's stderr.
fn wait<T>(anx: &Anx, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + STAPLE_DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= end {
            panic!(
                "no {what} within {STAPLE_DEADLINE:?}; anx's stderr:\n{}",
                anx.stderr().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Polls until `host`'s handshake carries a staple; returns the s_client output.
fn wait_for_staple(anx: &Anx, host: &str) -> String {
    wait(anx, &format!("staple for {host}"), || {
        let out = status(anx, host, "-tls1_3");
        out.contains("OCSP Response Data").then_some(out)
    })
}

/// Polls until anx's stderr has a line with every one of `needles`.
fn wait_for_log(anx: &Anx, needles: &[&str]) -> String {
    wait(anx, &format!("log line with {needles:?}"), || {
        anx.stderr_matching(needles).into_iter().next()
    })
}

fn cert_path(site: &Site, host: &str) -> PathBuf {
    site.path().join(format!("{host}.crt"))
}

#[test]
fn good_staple_fetched_from_the_certificates_responder() {
    let site = pki();
    let [port] = free_ports::<1>();
    leaf(&site, "a.test", Some(port), false);
    let _responder = Responder::start(&site, port, "ca");
    let anx = start(
        &site,
        &conf("", &[server("a.test", "        ssl_stapling_verify on;\n")]),
        2,
    );
    let out = wait_for_staple(&anx, "a.test");
    assert!(out.contains("OCSP Response Status: successful"), "{out}");
    assert!(out.contains("Cert Status: good"), "{out}");
    assert!(out.contains("Responder Id: CN = anx OCSP test CA"), "{out}");
    // Every shard and both protocol versions staple the same response.
    for _ in 0..4 {
        for version in ["-tls1_2", "-tls1_3"] {
            let out = status(&anx, "a.test", version);
            assert!(out.contains("Cert Status: good"), "{version}: {out}");
        }
    }
    let line = wait_for_log(
        &anx,
        &["OCSP response stapled", "certificate status \"good\""],
    );
    assert!(line.contains(&format!("peer: 127.0.0.1:{port}")), "{line}");
    assert!(
        line.contains(&format!(
            "certificate: \"{}\"",
            cert_path(&site, "a.test").display()
        )),
        "{line}"
    );
}

#[test]
fn revoked_certificate_is_not_stapled_and_is_logged() {
    let site = pki();
    let [port] = free_ports::<1>();
    leaf(&site, "good.test", Some(port), false);
    leaf(&site, "revoked.test", Some(port), true);
    let _responder = Responder::start(&site, port, "ca");
    let anx = start(
        &site,
        &conf("", &[server("good.test", ""), server("revoked.test", "")]),
        1,
    );
    // The same responder and fetcher staple the good one…
    let out = wait_for_staple(&anx, "good.test");
    assert!(out.contains("Cert Status: good"), "{out}");
    // …and refuse the revoked one, with nginx's warning.
    let line = wait_for_log(
        &anx,
        &[
            "[warn]",
            "certificate status \"revoked\" in the OCSP response while requesting certificate status",
            "revoked.test.crt",
        ],
    );
    assert!(
        line.contains(&format!("responder: 127.0.0.1, peer: 127.0.0.1:{port}")),
        "{line}"
    );
    for version in ["-tls1_2", "-tls1_3"] {
        let out = status(&anx, "revoked.test", version);
        assert!(
            out.contains("OCSP response: no response sent"),
            "{version}: {out}"
        );
        assert!(!out.contains("Cert Status"), "{out}");
    }
}

#[test]
fn responder_down_at_start_then_stapled_when_it_comes_up() {
    let site = pki();
    let [port] = free_ports::<1>();
    leaf(&site, "a.test", Some(port), false);
    let anx = start(&site, &conf("", &[server("a.test", "")]), 1);
    // Serving already, without a staple; the failed fetch is a warning.
    let line = wait_for_log(
        &anx,
        &[
            "[warn]",
            "connect() failed",
            "while requesting certificate status",
        ],
    );
    assert!(line.contains(&format!("peer: 127.0.0.1:{port}")), "{line}");
    let out = status(&anx, "a.test", "-tls1_3");
    assert!(out.contains("OCSP response: no response sent"), "{out}");
    assert!(
        out.contains("Verify return code") || out.contains("CONNECTED"),
        "{out}"
    );
    // The responder comes up; a retry staples.
    let _responder = Responder::start(&site, port, "ca");
    let out = wait_for_staple(&anx, "a.test");
    assert!(out.contains("Cert Status: good"), "{out}");
}

#[test]
fn ssl_stapling_responder_overrides_the_certificates_url() {
    let site = pki();
    let [dead, live] = free_ports::<2>();
    // The certificate names a port nothing listens on; the directive names the responder.
    leaf(&site, "a.test", Some(dead), false);
    leaf(&site, "plain.test", None, false);
    let _responder = Responder::start(&site, live, "ca");
    let over = format!("        ssl_stapling_responder http://127.0.0.1:{live}/ocsp;\n");
    let anx = start(
        &site,
        &conf("", &[server("a.test", &over), server("plain.test", &over)]),
        1,
    );
    for host in ["a.test", "plain.test"] {
        let out = wait_for_staple(&anx, host);
        assert!(out.contains("Cert Status: good"), "{host}: {out}");
    }
    assert!(
        anx.stderr_matching(&[&format!("127.0.0.1:{dead}")])
            .is_empty(),
        "the certificate's URL was used: {:?}",
        anx.stderr()
    );
}

#[test]
fn stapling_verify_refuses_a_response_not_signed_by_the_issuer() {
    let site = pki();
    let [port] = free_ports::<1>();
    leaf(&site, "checked.test", Some(port), false);
    leaf(&site, "unchecked.test", Some(port), false);
    // Signed by a key under the CA's name that did not issue the leaves.
    let _responder = Responder::start(&site, port, "other-ca");
    let anx = start(
        &site,
        &conf(
            "",
            &[
                server("checked.test", "        ssl_stapling_verify on;\n"),
                server("unchecked.test", "        ssl_stapling_verify off;\n"),
            ],
        ),
        1,
    );
    // Without verification the response is stapled (it is good and current)…
    let out = wait_for_staple(&anx, "unchecked.test");
    assert!(out.contains("Cert Status: good"), "{out}");
    // …with it, refused and logged.
    wait_for_log(
        &anx,
        &["[warn]", "OCSP_basic_verify() failed", "checked.test.crt"],
    );
    let out = status(&anx, "checked.test", "-tls1_3");
    assert!(out.contains("OCSP response: no response sent"), "{out}");
}

#[test]
fn stapling_verify_refuses_a_trusted_root_that_is_not_the_issuer() {
    let site = pki();
    ec_key(&site, "root.key");
    openssl(&[
        "req",
        "-x509",
        "-key",
        &site_path(&site, "root.key"),
        "-out",
        &site_path(&site, "root.pem"),
        "-subj",
        "/CN=anx OCSP test root",
        "-days",
        "30",
    ]);
    let [port] = free_ports::<1>();
    leaf(&site, "checked.test", Some(port), false);
    leaf(&site, "unchecked.test", Some(port), false);
    // Signed by a root that ssl_trusted_certificate trusts but that neither issued the
    // leaves nor holds a delegation from their issuer (nginx: "root ca not trusted").
    let _responder = Responder::start(&site, port, "root");
    let trusted = "        ssl_trusted_certificate root.pem;
";
    let anx = start(
        &site,
        &conf(
            "",
            &[
                server(
                    "checked.test",
                    &format!("{trusted}        ssl_stapling_verify on;\n"),
                ),
                server("unchecked.test", trusted),
            ],
        ),
        1,
    );
    let out = wait_for_staple(&anx, "unchecked.test");
    assert!(out.contains("Cert Status: good"), "{out}");
    wait_for_log(&anx, &["[warn]", "root ca not trusted", "checked.test.crt"]);
    let out = status(&anx, "checked.test", "-tls1_3");
    assert!(out.contains("OCSP response: no response sent"), "{out}");
}

#[test]
fn config_test_reports_a_certificate_that_cannot_staple() {
    let site = pki();
    leaf(&site, "a.test", None, false);
    // The chain without its issuer, and no responder in the certificate.
    std::fs::copy(
        site.path().join("a.test-leaf.crt"),
        site.path().join("lonely.test.crt"),
    )
    .unwrap();
    std::fs::copy(
        site.path().join("a.test.key"),
        site.path().join("lonely.test.key"),
    )
    .unwrap();
    let (code, stderr, path) = anx_test(
        &site,
        &conf("", &[server("a.test", ""), server("lonely.test", "")]),
    );
    assert_eq!(code, 0, "{stderr}");
    let shown = path.display().to_string();
    assert!(
        stderr.lines().any(|l| l.contains(&format!(
            "\"ssl_stapling\" ignored, no OCSP responder URL for certificate \"{}\"",
            cert_path(&site, "a.test").display()
        )) && l.contains(&shown)),
        "{stderr}"
    );
    assert!(
        stderr.contains("\"ssl_stapling\" ignored, issuer certificate not found for certificate"),
        "{stderr}"
    );
    // A responder URL anx cannot use is an error with file:line.
    let (code, stderr, _) = anx_test(
        &site,
        &conf(
            "",
            &[server(
                "a.test",
                "        ssl_stapling_responder https://127.0.0.1/;\n",
            )],
        ),
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("ssl_stapling_responder") && stderr.contains(&format!("{shown}:")),
        "{stderr}"
    );
}

#[test]
fn a_reload_keeps_the_staple_while_the_responder_is_down() {
    let site = pki();
    let [port] = free_ports::<1>();
    leaf(&site, "a.test", Some(port), false);
    let responder = Responder::start(&site, port, "ca");
    let page = |body: &str| {
        conf(
            "",
            &[server(
                "a.test",
                &format!("        location = / {{ return 200 \"{body}\\n\"; }}\n"),
            )],
        )
    };
    let anx = start(&site, &page("one"), 2);
    wait_for_staple(&anx, "a.test");
    drop(responder);
    std::fs::write(site.path().join("anx.conf"), page("two")).unwrap();
    let before = anx.stderr_matching(&["generation 2 in effect"]).len();
    assert_eq!(before, 0);
    anx.signal(libc::SIGHUP);
    wait_for_log(&anx, &["generation 2 in effect"]);
    // The new generation's first handshakes already carry the response fetched before.
    for _ in 0..4 {
        let out = status(&anx, "a.test", "-tls1_3");
        assert!(out.contains("Cert Status: good"), "{out}");
    }
}

#[test]
fn client_certificates_checked_with_ssl_ocsp() {
    let site = pki();
    let [port] = free_ports::<1>();
    leaf(&site, "a.test", None, false);
    leaf(&site, "c.test", None, false);
    leaf(&site, "alice", Some(port), false);
    leaf(&site, "mallory", Some(port), true);
    let responder = Responder::start(&site, port, "ca");
    let client = "        ssl_verify_client on;\n        ssl_client_certificate ca.pem;\n        ssl_ocsp leaf;\n        add_header X-Verify $ssl_client_verify always;\n        location / { return 200 \"ok\\n\"; }\n";
    let cached = format!("{client}        ssl_ocsp_cache shared:OCSP:1m;\n");
    let anx = start(
        &site,
        &conf(
            "",
            &[
                tls_server("a.test", "a.test", client),
                tls_server("c.test", "c.test", &cached),
            ],
        ),
        1,
    );
    let get = |host: &str, who: &str| {
        let cert = site_path(&site, &format!("{who}-leaf.crt"));
        let key = site_path(&site, &format!("{who}.key"));
        curl_https(
            &site,
            anx.port,
            host,
            "/",
            &["--cert", &cert, "--key", &key],
        )
    };
    let r = get("a.test", "alice");
    assert_eq!(r.status, 200, "{} {}", r.headers, r.stderr);
    assert_eq!(r.header("x-verify").as_deref(), Some("SUCCESS"));
    let r = get("a.test", "mallory");
    assert_eq!(r.status, 400, "{}", r.headers);
    assert_eq!(
        r.header("x-verify").as_deref(),
        Some("FAILED:certificate revoked")
    );
    // Asked once through the cached server, then answered from its cache.
    assert_eq!(get("c.test", "alice").status, 200);
    drop(responder);
    let r = get("a.test", "alice");
    assert_eq!(r.status, 400, "{}", r.headers);
    assert_eq!(
        r.header("x-verify").as_deref(),
        Some("FAILED:certificate status request failed")
    );
    wait_for_log(
        &anx,
        &["connect() failed", "while requesting certificate status"],
    );
    let r = get("c.test", "alice");
    assert_eq!(r.status, 200, "{}", r.headers);
    assert_eq!(r.header("x-verify").as_deref(), Some("SUCCESS"));
}

#[test]
fn ssl_ocsp_config_errors() {
    let site = pki();
    leaf(&site, "a.test", None, false);
    let check = |extra: &str| {
        let body = format!("        ssl_client_certificate ca.pem;\n{extra}");
        anx_test(&site, &conf("", &[tls_server("a.test", "a.test", &body)]))
    };
    let (code, stderr, _) = check(
        "        ssl_verify_client on;\n        ssl_ocsp leaf;\n        ssl_ocsp_responder http://127.0.0.1:9/;\n        ssl_ocsp_cache shared:OCSP:1m;\n",
    );
    assert_eq!(code, 0, "{stderr}");
    for (extra, message) in [
        (
            "        ssl_verify_client optional_no_ca;\n        ssl_ocsp on;\n",
            "\"ssl_ocsp\" is incompatible with \"ssl_verify_client optional_no_ca\"",
        ),
        (
            "        ssl_verify_client on;\n        ssl_ocsp yes;\n",
            "invalid value \"yes\" in \"ssl_ocsp\" directive",
        ),
        (
            "        ssl_verify_client on;\n        ssl_ocsp on;\n        ssl_ocsp_cache shared:OCSP:1k;\n",
            "OCSP cache \"shared:OCSP:1k\" is too small",
        ),
        (
            "        ssl_verify_client on;\n        ssl_ocsp on;\n        ssl_ocsp_cache OCSP;\n",
            "invalid \"ssl_ocsp_cache\" \"OCSP\"",
        ),
        (
            "        ssl_verify_client on;\n        ssl_ocsp on;\n        ssl_ocsp_responder ftp://127.0.0.1/;\n",
            "in \"ssl_ocsp_responder\"",
        ),
    ] {
        let (code, stderr, _) = check(extra);
        assert_ne!(code, 0, "{extra}");
        assert!(stderr.contains(message), "{extra}: {stderr}");
    }
}
