//! `limit_rate` / `limit_rate_after`: response bodies (static, proxied) go out no faster
//! than nginx's allowance, whole and in order; variables are read per request;
//! X-Accel-Limit-Rate from an upstream replaces the location's rate. Only lower bounds on
//! time are checked (a slow machine can only make a paced response slower).

mod common;

use common::backend::*;
use common::*;
use std::time::{Duration, Instant};

fn timed_get(anx: &Anx, path: &str) -> (Response, Duration) {
    let t0 = Instant::now();
    let r = anx.get(path);
    (r, t0.elapsed())
}

#[test]
fn static_and_proxied_bodies_are_paced() {
    let body = "x".repeat(24 * 1024);
    let b = Backend::text(&body);
    let site = Site::new();
    site.write("html/big.txt", &body);
    let conf = proxy_conf(
        "",
        &format!(
            "        root {};\n        location /big.txt {{ limit_rate 8k; limit_rate_after 1k; }}\n        location /up {{ proxy_pass http://{}; limit_rate 8k; }}\n",
            site.path().join("html").display(),
            b.addr()
        ),
    );
    let anx = Anx::start_conf(&site, &conf, 1);
    // 24 KiB at 8 KiB/s with nginx's one second of slack: at least two seconds.
    let (r, took) = timed_get(&anx, "/big.txt");
    assert_eq!((r.status, r.text().len()), (200, body.len()));
    assert!(
        took >= Duration::from_millis(1500),
        "static body took {took:?}"
    );
    let (r, took) = timed_get(&anx, "/up");
    assert_eq!(r.text(), body);
    assert!(
        took >= Duration::from_millis(1500),
        "proxied body took {took:?}"
    );
}

#[test]
fn rates_from_variables_and_x_accel_limit_rate() {
    let body = "y".repeat(24 * 1024);
    let b = Backend::start({
        let body = body.clone();
        move |req| {
            let r = Reply::ok(body.clone());
            match req.arg("xal") {
                Some(v) => r.header("X-Accel-Limit-Rate", v),
                None => r,
            }
        }
    });
    let (_s, anx) = start_proxy(
        "",
        &format!(
            "        location / {{ proxy_pass http://{}; limit_rate $arg_r; }}\n",
            b.addr()
        ),
    );
    let (r, took) = timed_get(&anx, "/?r=8k");
    assert_eq!(r.text(), body);
    assert!(took >= Duration::from_millis(1500), "took {took:?}");
    // The upstream's X-Accel-Limit-Rate replaces the unset location rate.
    let (r, took) = timed_get(&anx, "/?xal=8192");
    assert_eq!(r.text(), body);
    assert!(took >= Duration::from_millis(1500), "took {took:?}");
    assert!(
        r.header("x-accel-limit-rate").is_none(),
        "X-Accel-* is hidden"
    );
}

#[test]
fn bad_sizes_are_refused() {
    let site = Site::new();
    let conf = proxy_conf(
        "    limit_rate fast;\n",
        "        location / { return 200; }\n",
    );
    let path = site.write("anx.conf", conf);
    let out = common::test_config(&path);
    assert!(!out.0);
    assert!(out.1.contains("\"limit_rate\" directive invalid value"));
}

#[test]
fn proxy_limit_rate_paces_reading_the_upstream() {
    // The first read (with the head) takes at most proxy_buffer_size; the rest is paced
    // without slack, as nginx's pipe: 256 KiB at 64 KiB/s is close to four seconds.
    let body = "z".repeat(256 * 1024);
    let b = Backend::text(&body);
    let (_s, anx) = start_proxy(
        "",
        &format!(
            "        location / {{ proxy_pass http://{}; proxy_limit_rate 64k; }}\n",
            b.addr()
        ),
    );
    let (r, took) = timed_get(&anx, "/");
    assert_eq!(r.text(), body);
    assert!(took >= Duration::from_millis(1500), "took {took:?}");
}
