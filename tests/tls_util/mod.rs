//! Shared by the `tls*.rs` integration tests: certificates made with rcgen in the test (a
//! CA and leaves signed by it), nginx-syntax configurations with `listen … ssl` servers,
//! and three clients: curl, `openssl s_client` and a rustls client over a std socket for
//! what the command-line tools cannot express (the exact certificate presented, offered
//! signature schemes, session reuse with the connection's shard).
//!
//! Timeouts here only turn a hang into a failure; nothing asserts how long anything takes.

#![allow(dead_code)]

pub mod backend;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SignatureAlgorithm,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, HandshakeKind, RootCertStore,
    SignatureScheme, StreamOwned,
};

use crate::common::{Anx, Site, READ_TIMEOUT};

/// How long a curl or openssl run may take before the test calls it a hang.
pub const TOOL_DEADLINE: Duration = Duration::from_secs(20);

/// Key algorithms for leaf certificates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    P256,
    P384,
    Rsa2048,
    Ed25519,
}

impl Alg {
    fn rcgen(self) -> &'static SignatureAlgorithm {
        match self {
            Alg::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Alg::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Alg::Rsa2048 => &rcgen::PKCS_RSA_SHA256,
            Alg::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

/// A certificate authority: its PEM (for `--cacert`, `ssl_client_certificate`) and key.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
    pub key_pem: String,
}

/// A CA named `cn` with an ECDSA P-256 key.
pub fn ca(cn: &str) -> Ca {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "anx tests");
    let cert = params.self_signed(&key).expect("CA cert");
    Ca {
        pem: cert.pem(),
        key_pem: key.serialize_pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A leaf certificate: PEM of the certificate and of its key, and the certificate's DER.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Leaf {
    /// Writes `<name>.crt` and `<name>.key` into the site; returns their paths.
    pub fn write(&self, site: &Site, name: &str) -> (PathBuf, PathBuf) {
        (
            site.write(&format!("{name}.crt"), &self.cert_pem),
            site.write(&format!("{name}.key"), &self.key_pem),
        )
    }
}

fn leaf_params(cn: &str, names: &[&str]) -> CertificateParams {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Example");
    params
}

/// A server certificate for `names` (the first is also the CN), signed by `ca`.
pub fn server_leaf(ca: &Ca, names: &[&str], alg: Alg) -> Leaf {
    sign(ca, leaf_params(names[0], names), alg)
}

/// [`server_leaf`], valid only in 2000.
pub fn expired_leaf(ca: &Ca, names: &[&str]) -> Leaf {
    let mut params = leaf_params(names[0], names);
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    sign(ca, params, Alg::P256)
}

/// A client certificate with subject `CN=<cn>,O=Example` (clientAuth), signed by `ca`.
pub fn client_leaf(ca: &Ca, cn: &str) -> Leaf {
    let mut params = leaf_params(cn, &[]);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    sign(ca, params, Alg::P256)
}

fn sign(ca: &Ca, params: CertificateParams, alg: Alg) -> Leaf {
    let key = KeyPair::generate_for(alg.rcgen()).expect("leaf key");
    let cert = params.signed_by(&key, &ca.issuer).expect("sign leaf");
    Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

/// `N` distinct free loopback ports (held open together so they differ).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let ls: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| ls[i].local_addr().unwrap().port())
}

/// An nginx-syntax configuration: error log on stderr at info, no access log, `http`
/// lines, then each of `servers` as the body of a `server { }` block.
pub fn conf(http: &str, servers: &[String]) -> String {
    let mut out = String::from("error_log stderr info;\nevents {}\nhttp {\n    access_log off;\n");
    out.push_str(http);
    out.push('\n');
    for s in servers {
        out.push_str("    server {\n");
        out.push_str(s);
        out.push_str("\n    }\n");
    }
    out.push_str("}\n");
    out
}

/// The body of a TLS server on the shared ephemeral address (`listen 127.0.0.1:0 ssl`:
/// every server written this way shares one port) with `server_name`, the certificate
/// pair at `<cert>.crt`/`<cert>.key` in the site, and `extra` lines.
pub fn tls_server(name: &str, cert: &str, extra: &str) -> String {
    format!(
        "        listen 127.0.0.1:0 ssl;\n        server_name {name};\n        root html;\n        ssl_certificate {cert}.crt;\n        ssl_certificate_key {cert}.key;\n{extra}"
    )
}

/// Starts anx on `conf` (written to the site as anx.conf) with `shards`.
pub fn start(site: &Site, conf: &str, shards: usize) -> Anx {
    Anx::start_conf(site, conf, shards)
}

/// Runs a command with `stdin`, killing it after [`TOOL_DEADLINE`].
pub fn run_tool(mut cmd: Command, stdin: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    {
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(stdin);
    }
    let deadline = Instant::now() + TOOL_DEADLINE;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} did not finish within {TOOL_DEADLINE:?}; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What curl got: its exit code, the HTTP status (0 when no response), headers and body.
#[derive(Debug)]
pub struct Curl {
    pub exit: i32,
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
    pub stderr: String,
}

impl Curl {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// curl to `https://<host>:<port><path>`, `--resolve`d to 127.0.0.1, verifying with the
/// CA at `<site>/ca.pem`, plus `extra` arguments.
pub fn curl_https(site: &Site, port: u16, host: &str, path: &str, extra: &[&str]) -> Curl {
    let url = format!("https://{host}:{port}{path}");
    let resolve = format!("{host}:{port}:127.0.0.1");
    let ca = site.path().join("ca.pem");
    let mut args = vec!["--resolve", &resolve, "--cacert", ca.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(site, &args)
}

/// curl with `args` (the URL among them): `-sS`, headers and body to files, `%{http_code}`.
pub fn curl(site: &Site, args: &[&str]) -> Curl {
    let n = CURL_RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let head = site.path().join(format!("curl-{n}.head"));
    let body = site.path().join(format!("curl-{n}.body"));
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "-w", "%{http_code}", "-D"])
        .arg(&head)
        .arg("-o")
        .arg(&body)
        .args(args);
    let out = run_tool(cmd, b"");
    let status = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    Curl {
        exit: out.status.code().unwrap_or(-1),
        status,
        headers: std::fs::read_to_string(&head).unwrap_or_default(),
        body: std::fs::read(&body).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

static CURL_RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `openssl s_client -connect 127.0.0.1:<port>` with `args`, `stdin` sent to it; returns
/// stdout and stderr together.
pub fn s_client(port: u16, args: &[&str], stdin: &[u8]) -> String {
    let mut cmd = Command::new("openssl");
    cmd.arg("s_client")
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .args(args);
    let out = run_tool(cmd, stdin);
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `openssl` with `args`; panics unless it succeeds; returns stdout.
pub fn openssl(args: &[&str]) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(args);
    let out = run_tool(cmd, b"");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `anx -t -c <site>/anx.conf` on `conf`: (exit code, stderr).
pub fn anx_test(site: &Site, conf: &str) -> (i32, String, PathBuf) {
    let path = site.write("anx.conf", conf);
    let out = Command::new(crate::common::anx_bin())
        .arg("-t")
        .arg("-c")
        .arg(&path)
        .current_dir(site.path())
        .output()
        .expect("run anx -t");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        path,
    )
}

/// The 1-based line of `conf` holding `needle` (for file:line checks).
pub fn line_of(conf: &str, needle: &str) -> usize {
    conf.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in the conf"))
        + 1
}

/// What a rustls client connection settled.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The end-entity certificate the server presented.
    pub leaf: Vec<u8>,
    pub version: Option<rustls::ProtocolVersion>,
    pub suite: Option<rustls::CipherSuite>,
    pub alpn: Option<Vec<u8>>,
    pub kind: Option<HandshakeKind>,
    /// The OCSP response stapled to the certificate (empty when none).
    pub ocsp: Vec<u8>,
}

/// A verifier that checks the server's chain with webpki against the test CA, offers
/// only `schemes` (all when empty: this is what the ClientHello's signature_algorithms
/// carries) and records the leaf and the staple.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    schemes: Vec<SignatureScheme>,
    seen: Mutex<(Vec<u8>, Vec<u8>)>,
    /// Skip the chain check (for a client that must see whatever certificate comes).
    any: bool,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = (end_entity.as_ref().to_vec(), ocsp.to_vec());
        if self.any {
            return Ok(ServerCertVerified::assertion());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        if self.schemes.is_empty() {
            self.inner.supported_verify_schemes()
        } else {
            self.schemes.clone()
        }
    }
}

/// A rustls client; one config (and so one session store) for all its connections, so a
/// second connection to the same name offers the first one's ticket.
pub struct Client {
    config: Arc<ClientConfig>,
    verifier: Arc<Recording>,
}

/// How to build a [`Client`].
#[derive(Default)]
pub struct ClientOptions<'a> {
    /// PEM of the CA to verify with (required unless `any_cert`).
    pub ca_pem: &'a str,
    /// Accept any server certificate (still recorded).
    pub any_cert: bool,
    /// Offered signature schemes (empty: all).
    pub schemes: Vec<SignatureScheme>,
    /// Protocol versions (empty: TLS 1.2 and 1.3).
    pub versions: Vec<&'static rustls::SupportedProtocolVersion>,
    /// ALPN protocols offered.
    pub alpn: Vec<Vec<u8>>,
    /// Send no SNI.
    pub no_sni: bool,
    /// A client certificate (cert PEM, key PEM).
    pub client_cert: Option<(&'a str, &'a str)>,
}

impl Client {
    pub fn new(o: ClientOptions<'_>) -> Client {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = RootCertStore::empty();
        if !o.ca_pem.is_empty() {
            for c in CertificateDer::pem_slice_iter(o.ca_pem.as_bytes()) {
                roots.add(c.expect("CA PEM")).expect("add root");
            }
        } else {
            assert!(o.any_cert, "a client needs a CA or any_cert");
            // webpki needs one root to build; the chain check is skipped anyway.
            let throwaway = ca("throwaway");
            for c in CertificateDer::pem_slice_iter(throwaway.pem.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
        }
        let inner =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .expect("verifier");
        let verifier = Arc::new(Recording {
            inner,
            schemes: o.schemes,
            seen: Mutex::new((Vec::new(), Vec::new())),
            any: o.any_cert,
        });
        let versions = if o.versions.is_empty() {
            vec![&rustls::version::TLS13, &rustls::version::TLS12]
        } else {
            o.versions
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .expect("versions")
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone() as Arc<dyn ServerCertVerifier>);
        let mut config = match o.client_cert {
            Some((cert, key)) => {
                let chain: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_slice_iter(cert.as_bytes())
                        .map(|c| c.expect("client cert PEM"))
                        .collect();
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key");
                builder
                    .with_client_auth_cert(chain, key)
                    .expect("client auth")
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = o.alpn;
        config.enable_sni = !o.no_sni;
        Client {
            config: Arc::new(config),
            verifier,
        }
    }

    /// Handshakes with `name` on `port` (SNI = `name` unless disabled).
    pub fn connect(&self, port: u16, name: &str) -> Result<TlsStream, String> {
        let sock = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        sock.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        let server_name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
        let conn = ClientConnection::new(Arc::clone(&self.config), server_name)
            .map_err(|e| e.to_string())?;
        *self.verifier.seen.lock().unwrap() = (Vec::new(), Vec::new());
        let mut stream = StreamOwned::new(conn, sock);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| format!("handshake: {e}"))?;
        }
        // A resumed session has no certificate message: the leaf comes from the session.
        let ocsp = self.verifier.seen.lock().unwrap().1.clone();
        let leaf = stream
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec())
            .unwrap_or_default();
        let hs = Handshake {
            leaf,
            version: stream.conn.protocol_version(),
            suite: stream.conn.negotiated_cipher_suite().map(|s| s.suite()),
            alpn: stream.conn.alpn_protocol().map(<[u8]>::to_vec),
            kind: stream.conn.handshake_kind(),
            ocsp,
        };
        Ok(TlsStream { stream, hs })
    }

    /// One `GET path` with `Host: host` on a fresh connection whose SNI is `name`.
    pub fn get(
        &self,
        port: u16,
        name: &str,
        host: &str,
        path: &str,
    ) -> Result<(Handshake, Reply), String> {
        let mut s = self.connect(port, name)?;
        let reply = s.request(host, path)?;
        Ok((s.hs.clone(), reply))
    }
}

/// A TLS connection made by [`Client::connect`].
pub struct TlsStream {
    pub stream: StreamOwned<ClientConnection, TcpStream>,
    pub hs: Handshake,
}

/// A parsed response (the body read to its Content-Length or to the close).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl TlsStream {
    /// Sends `GET path` with `Host` and `Connection: close`; reads the whole response.
    pub fn request(&mut self, host: &str, path: &str) -> Result<Reply, String> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        self.stream
            .write_all(req.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        self.stream.flush().map_err(|e| format!("flush: {e}"))?;
        let mut all = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                // A close without close_notify still ends a Connection: close response.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(format!("read: {e} after {} bytes", all.len())),
            }
        }
        parse_reply(&all)
    }
}

/// Splits a response into status, head and body (checked against Content-Length).
pub fn parse_reply(all: &[u8]) -> Result<Reply, String> {
    let end = crate::common::find(all, b"\r\n\r\n")
        .ok_or_else(|| format!("no response head in {:?}", String::from_utf8_lossy(all)))?;
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let body = all[end + 4..].to_vec();
    let length = head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    });
    if let Some(len) = length {
        if body.len() != len {
            return Err(format!(
                "body of {} bytes, Content-Length {len}: {head}",
                body.len()
            ));
        }
    }
    Ok(Reply { status, head, body })
}

/// The first bytes a rustls client sends: a complete ClientHello record for `name`.
pub fn client_hello(name: &str) -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    let mut conn = ClientConnection::new(
        Arc::new(config),
        ServerName::try_from(name.to_string()).unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    assert_eq!(out[0], 0x16, "a handshake record");
    out
}

/// Reads until the server closes (EOF or reset), failing after `limit`. Returns what
/// arrived (a TLS alert at most, for the callers here).
pub fn wait_closed(sock: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "still open after {limit:?} (received {} bytes)",
                got.len()
            ));
        }
        sock.set_read_timeout(Some(left)).unwrap();
        match sock.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(got),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Writes the site's `ca.pem` (what [`curl_https`] verifies with).
pub fn write_ca(site: &Site, ca: &Ca) -> PathBuf {
    site.write("ca.pem", &ca.pem)
}

/// The path of a file in the site as a string.
pub fn site_path(site: &Site, rel: &str) -> String {
    site.path().join(rel).to_str().unwrap().to_string()
}

/// `$connection % 1024`: the shard that served a connection (anx numbers connections
/// shard id + k × 1024).
pub fn shard_of(connection: u64) -> u64 {
    connection % 1024
}

/// A path made absolute against the site (for messages).
pub fn shown(p: &Path) -> String {
    p.display().to_string()
}
