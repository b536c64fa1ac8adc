//! `resolver` / `resolver_timeout`: a `proxy_pass` with variables naming a host that is no
//! upstream group is resolved through the configured name servers (a small DNS server on
//! loopback here), the answer is cached for its TTL (or `valid=`), CNAMEs are followed
//! the way nginx combines the A and AAAA replies,
//! errors give 502 with nginx's log line and are not cached, several addresses are tried in
//! turn under `proxy_next_upstream`, and without a resolver such a request is a 502.

mod common;

use common::backend::*;
use common::*;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One answer record: A (4 bytes) or CNAME (a dotted name), with its TTL.
#[derive(Clone)]
enum Rr {
    A([u8; 4], u32),
    Cname(&'static str, u32),
}

/// A UDP DNS server on 127.0.0.1 answering with `answer(name, qtype)`: `Err(rcode)` or the
/// records. Counts the A queries it gets and keeps every question asked.
struct Dns {
    port: u16,
    a_queries: Arc<AtomicUsize>,
    asked: Arc<Mutex<Vec<(String, u16)>>>,
}

impl Dns {
    fn start(answer: impl Fn(&str, u16) -> Result<Vec<Rr>, u8> + Send + 'static) -> Dns {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let a_queries = Arc::new(AtomicUsize::new(0));
        let count = a_queries.clone();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let q = &buf[..n];
                let Some((name, end)) = qname(q) else {
                    continue;
                };
                let qtype = u16::from_be_bytes([q[end], q[end + 1]]);
                if qtype == 1 {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                log.lock().unwrap().push((name.clone(), qtype));
                let (rcode, records) = match answer(&name, qtype) {
                    Ok(r) => (0u8, r),
                    Err(code) => (code, Vec::new()),
                };
                let mut out = q[..2].to_vec();
                out.extend_from_slice(&[0x81, 0x80 | rcode, 0, 1]);
                out.extend_from_slice(&(records.len() as u16).to_be_bytes());
                out.extend_from_slice(&[0, 0, 0, 0]);
                out.extend_from_slice(&q[12..end + 4]);
                for rr in records {
                    out.extend_from_slice(&[0xc0, 12]);
                    let (rtype, ttl, data) = match rr {
                        Rr::A(ip, ttl) => (1u16, ttl, ip.to_vec()),
                        Rr::Cname(target, ttl) => (5, ttl, encode(target)),
                    };
                    out.extend_from_slice(&rtype.to_be_bytes());
                    out.extend_from_slice(&[0, 1]);
                    out.extend_from_slice(&ttl.to_be_bytes());
                    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
                    out.extend_from_slice(&data);
                }
                let _ = socket.send_to(&out, from);
            }
        });
        Dns {
            port,
            a_queries,
            asked,
        }
    }

    fn a_queries(&self) -> usize {
        self.a_queries.load(Ordering::SeqCst)
    }

    /// The record types asked for `name` so far, in order.
    fn asked(&self, name: &str) -> Vec<u16> {
        let log = self.asked.lock().unwrap();
        log.iter().filter(|(n, _)| n == name).map(|q| q.1).collect()
    }
}

fn encode(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// The question's name and the offset of its type.
fn qname(q: &[u8]) -> Option<(String, usize)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(at)? as usize;
        if len == 0 {
            return Some((labels.join("."), at + 1));
        }
        labels.push(String::from_utf8_lossy(q.get(at + 1..at + 1 + len)?).into_owned());
        at += 1 + len;
    }
}

const LOOPBACK: [u8; 4] = [127, 0, 0, 1];

/// Waits for an error-log line containing every needle; panics with the whole log if none.
fn wait_for_log(anx: &Anx, needles: &[&str]) {
    for _ in 0..100 {
        if !anx.stderr_matching(needles).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "no error-log line with {needles:?}; stderr:\n{}",
        anx.stderr().join("\n")
    );
}

/// anx proxying `/` to `http://$http_x_host:<backend port>` with `resolver` set to `dns`
/// plus `extra` words.
fn start(dns: &Dns, backend: &Backend, extra: &str) -> (Site, Anx) {
    start_proxy(
        "",
        &format!(
            "        location / {{\n            resolver 127.0.0.1:{} {extra};\n            resolver_timeout 2s;\n            proxy_pass http://$http_x_host:{};\n        }}\n        location /none {{ proxy_pass http://$http_x_host:{}; }}\n",
            dns.port,
            backend.port(),
            backend.port()
        ),
    )
}

fn get_host(anx: &Anx, path: &str, host: &str) -> Response {
    anx.raw(format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nX-Host: {host}\r\nConnection: close\r\n\r\n"
    ))
}

#[test]
fn resolves_a_name_and_caches_it() {
    let dns = Dns::start(|name, qtype| match (name, qtype) {
        ("app.test", 1) => Ok(vec![Rr::A(LOOPBACK, 3600)]),
        ("app.test", _) => Ok(vec![]),
        _ => Err(3),
    });
    let backend = Backend::text("resolved\n");
    let (_site, anx) = start(&dns, &backend, "");
    let r = get_host(&anx, "/", "app.test");
    assert_eq!((r.status, r.text().as_str()), (200, "resolved\n"));
    assert_eq!(dns.a_queries(), 1);
    // Any case, from the cache.
    let r = get_host(&anx, "/", "APP.test");
    assert_eq!(r.status, 200);
    assert_eq!(
        dns.a_queries(),
        1,
        "the second request is answered from the cache"
    );
    // The upstream request names the host as written in the URL.
    assert_eq!(
        backend.last().header("host"),
        Some(&*format!("APP.test:{}", backend.port()))
    );
}

#[test]
fn unknown_names_fail_with_502_and_are_not_cached() {
    let dns = Dns::start(|_, _| Err(3));
    let backend = Backend::text("never\n");
    let (_site, anx) = start(&dns, &backend, "");
    assert_eq!(get_host(&anx, "/", "nx.test").status, 502);
    assert_eq!(get_host(&anx, "/", "nx.test").status, 502);
    assert_eq!(dns.a_queries(), 2, "an error is asked again");
    wait_for_log(&anx, &["nx.test could not be resolved (3: Host not found)"]);
    assert!(backend.requests().is_empty());
}

#[test]
fn follows_cnames_and_honours_ttl_and_valid() {
    let dns = Dns::start(|name, qtype| match (name, qtype) {
        ("www.test", _) => Ok(vec![Rr::Cname("real.test", 3600)]),
        ("real.test", 1) => Ok(vec![Rr::A(LOOPBACK, 1)]),
        _ => Ok(vec![]),
    });
    let backend = Backend::text("via cname\n");
    let (_site, anx) = start(&dns, &backend, "");
    let r = get_host(&anx, "/", "www.test");
    assert_eq!((r.status, r.text().as_str()), (200, "via cname\n"));
    let asked = dns.a_queries();
    assert_eq!(asked, 2, "the alias and its target");
    // The smallest TTL of the chain (1s) bounds the cache.
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(get_host(&anx, "/", "www.test").status, 200);
    assert_eq!(dns.a_queries(), 4, "asked again after the TTL");

    // valid= overrides the records' TTL.
    let (_site2, anx2) = start(&dns, &backend, "valid=1h ipv6=off");
    assert_eq!(get_host(&anx2, "/", "www.test").status, 200);
    let asked = dns.a_queries();
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(get_host(&anx2, "/", "www.test").status, 200);
    assert_eq!(dns.a_queries(), asked, "valid=1h keeps the answer");
}

#[test]
fn aliases_are_followed_as_nginx_combines_a_and_aaaa() {
    let dns = Dns::start(|name, qtype| match (name, qtype) {
        ("n-c.test", 1) => Ok(vec![Rr::A(LOOPBACK, 60)]),
        ("n-c.test", _) => Ok(vec![Rr::Cname("unasked.test", 60)]),
        ("z-c.test", 28) => Ok(vec![Rr::Cname("target.test", 60)]),
        ("target.test", 1) => Ok(vec![Rr::A(LOOPBACK, 60)]),
        ("c-z.test", 1) => Ok(vec![Rr::Cname("target.test", 60)]),
        ("loop1.test", _) => Ok(vec![Rr::Cname("loop2.test", 60)]),
        ("loop2.test", _) => Ok(vec![Rr::Cname("loop1.test", 60)]),
        _ => Ok(vec![]),
    });
    let backend = Backend::text("aliased\n");
    let (_site, anx) = start(&dns, &backend, "");

    // An address for A wins: the alias in the AAAA reply is not followed.
    assert_eq!(get_host(&anx, "/", "n-c.test").status, 200);
    assert_eq!(dns.asked("unasked.test"), Vec::<u16>::new());

    // An alias with no address anywhere: its target is asked for both types, and cached
    // as a name of its own.
    let r = get_host(&anx, "/", "z-c.test");
    assert_eq!((r.status, r.text().as_str()), (200, "aliased\n"));
    let mut types = dns.asked("target.test");
    types.sort();
    assert_eq!(types, vec![1, 28]);
    assert_eq!(get_host(&anx, "/", "target.test").status, 200);
    assert_eq!(
        dns.asked("target.test").len(),
        2,
        "the target came from the cache"
    );

    // An alias only in the A reply, the AAAA reply empty: nginx reads the AAAA reply last
    // and drops the alias, so the name is not found (though its target is cached).
    assert_eq!(get_host(&anx, "/", "c-z.test").status, 502);
    wait_for_log(
        &anx,
        &["c-z.test could not be resolved (3: Host not found)"],
    );

    // A loop of aliases ends at once as not found, each name asked once per type.
    assert_eq!(get_host(&anx, "/", "loop1.test").status, 502);
    wait_for_log(
        &anx,
        &["loop1.test could not be resolved (3: Host not found)"],
    );
    assert_eq!(dns.asked("loop1.test").len(), 2);
    assert_eq!(dns.asked("loop2.test").len(), 2);
}

#[test]
fn every_address_is_tried_in_turn() {
    let dns = Dns::start(|name, qtype| match (name, qtype) {
        ("two.test", 1) => Ok(vec![Rr::A([127, 0, 0, 2], 60), Rr::A(LOOPBACK, 60)]),
        _ => Ok(vec![]),
    });
    let backend = Backend::text("second\n");
    // The first address refuses (nothing listens on 127.0.0.2:<port>), the second answers.
    let (_site, anx) = start_proxy(
        "",
        &format!(
            "        location / {{\n            resolver 127.0.0.1:{};\n            proxy_pass http://$http_x_host:{};\n            add_header X-Up $upstream_addr;\n        }}\n",
            dns.port,
            backend.port()
        ),
    );
    let r = get_host(&anx, "/", "two.test");
    assert_eq!((r.status, r.text().as_str()), (200, "second\n"));
    let port = backend.port();
    assert_eq!(
        r.header("x-up"),
        Some(&*format!("127.0.0.2:{port}, 127.0.0.1:{port}"))
    );
}

#[test]
fn without_a_resolver_a_name_is_a_502() {
    let dns = Dns::start(|_, _| Ok(vec![Rr::A(LOOPBACK, 60)]));
    let backend = Backend::text("never\n");
    let (_site, anx) = start(&dns, &backend, "");
    assert_eq!(get_host(&anx, "/none", "app.test").status, 502);
    wait_for_log(&anx, &["no resolver defined to resolve app.test"]);
    assert_eq!(dns.a_queries(), 0);
}

#[test]
fn a_silent_name_server_times_out_with_502() {
    // A socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let backend = Backend::text("never\n");
    let (_site, anx) = start_proxy(
        "",
        &format!(
            "        location / {{\n            resolver {};\n            resolver_timeout 300ms;\n            proxy_pass http://$http_x_host:{};\n        }}\n",
            silent.local_addr().unwrap(),
            backend.port()
        ),
    );
    assert_eq!(get_host(&anx, "/", "slow.test").status, 502);
    wait_for_log(
        &anx,
        &["slow.test could not be resolved (110: Operation timed out)"],
    );
}

#[test]
fn bad_resolver_lines_are_refused() {
    for (line, message) in [
        ("resolver 127.0.0.1 valid=x;", "invalid parameter: valid=x"),
        (
            "resolver 127.0.0.1 ipv4=off ipv6=off;",
            "cannot both be \"off\"",
        ),
        ("resolver 127.0.0.1:99999;", "invalid port in resolver"),
    ] {
        let site = Site::new();
        let conf = proxy_conf(
            &format!("    {line}\n"),
            "        location / { return 200; }\n",
        );
        let path = site.write("anx.conf", conf);
        let out = common::test_config(&path);
        let stderr = out.1.clone();
        assert!(!out.0, "{line} was accepted");
        assert!(stderr.contains(message), "{line}: {stderr}");
    }
}
