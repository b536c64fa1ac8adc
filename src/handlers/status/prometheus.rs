//! `anx_metrics`: the Prometheus text exposition format (version 0.0.4).
//!
//! Every family is announced once with its HELP and TYPE lines (names and help from
//! `metrics::names`), then its samples. Label values come from the configuration only
//! (status classes, server names, upstream groups and peers), never from requests.

use std::fmt::Write;

use crate::metrics::names::{self as n, Kind, Metric};
use crate::metrics::report::{Classes, Histogram, PeerReport, Report};

/// A per-peer family and the figure it shows.
type PeerFigure = (&'static Metric, fn(&PeerReport) -> u64);

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One family being written.
struct Out(String);

impl Out {
    fn family(&mut self, m: &Metric) {
        let _ = writeln!(self.0, "# HELP {} {}", m.name, m.help);
        let _ = writeln!(self.0, "# TYPE {} {}", m.name, m.kind.as_str());
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// A family with one unlabelled sample.
    fn single(&mut self, m: &Metric, value: impl std::fmt::Display) {
        self.family(m);
        self.sample(m.name, &[], value);
    }

    fn classes(&mut self, m: &Metric, labels: &[(&str, &str)], c: &Classes) {
        for (class, count) in c.labelled() {
            let mut all = labels.to_vec();
            all.push(("class", class));
            self.sample(m.name, &all, count);
        }
    }

    fn histogram(&mut self, m: &Metric, labels: &[(&str, &str)], h: &Histogram) {
        debug_assert!(m.kind == Kind::Histogram);
        let bucket = format!("{}_bucket", m.name);
        for b in &h.buckets {
            let mut all = labels.to_vec();
            all.push(("le", &b.le));
            self.sample(&bucket, &all, b.count);
        }
        self.sample(&format!("{}_sum", m.name), labels, h.sum_seconds);
        self.sample(&format!("{}_count", m.name), labels, h.count);
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn render(r: &Report) -> Vec<u8> {
    let mut o = Out(String::with_capacity(8192));
    o.family(&n::BUILD_INFO);
    o.sample(n::BUILD_INFO.name, &[("version", r.version)], 1);
    o.single(&n::SHARDS, r.shards.len());
    o.single(&n::CONFIG_GENERATION, r.generation);
    o.family(&n::RELOADS);
    o.sample(n::RELOADS.name, &[("result", "ok")], r.reloads.ok);
    o.sample(n::RELOADS.name, &[("result", "failed")], r.reloads.failed);
    let last_ok = r.reloads.last.as_ref().is_none_or(|l| l.ok);
    o.single(&n::LAST_RELOAD_OK, u8::from(last_ok));

    let c = &r.connections;
    o.single(&n::CONN_ACCEPTED, c.accepted);
    o.single(&n::CONN_HANDLED, c.handled);
    o.single(&n::CONN_ACTIVE, c.active);
    o.family(&n::CONN_STATE);
    for (state, v) in [
        ("reading", c.reading),
        ("writing", c.writing),
        ("waiting", c.waiting),
    ] {
        o.sample(n::CONN_STATE.name, &[("state", state)], v);
    }
    o.single(&n::CONN_PARKED, c.parked);

    o.single(&n::REQUESTS, r.requests.total);
    o.family(&n::RESPONSES);
    o.classes(&n::RESPONSES, &[], &r.requests.responses);
    o.single(&n::RECEIVED_BYTES, r.requests.received_bytes);
    o.single(&n::SENT_BYTES, r.requests.sent_bytes);
    o.family(&n::REQUEST_DURATION);
    o.histogram(&n::REQUEST_DURATION, &[], &r.requests.duration);

    zones(&mut o, r);
    peers(&mut o, r);

    o.family(&n::TLS_HANDSHAKES);
    o.sample(
        n::TLS_HANDSHAKES.name,
        &[("result", "ok")],
        r.tls.handshakes,
    );
    o.sample(
        n::TLS_HANDSHAKES.name,
        &[("result", "failed")],
        r.tls.failed,
    );
    o.single(&n::TLS_RESUMED, r.tls.resumed);

    let p = &r.process;
    if let Some(v) = p.cpu_seconds {
        o.single(&n::CPU, v);
    }
    if let Some(v) = p.resident_memory_bytes {
        o.single(&n::RSS, v);
    }
    if let Some(v) = p.open_fds {
        o.single(&n::OPEN_FDS, v);
    }
    if let Some(v) = p.max_fds {
        o.single(&n::MAX_FDS, v);
    }
    o.single(&n::START_TIME, r.start_time_seconds);
    o.0.into_bytes()
}

fn zones(o: &mut Out, r: &Report) {
    if r.server_zones.is_empty() {
        return;
    }
    o.family(&n::ZONE_REQUESTS);
    for z in &r.server_zones {
        o.sample(n::ZONE_REQUESTS.name, &[("server", &z.name)], z.requests);
    }
    o.family(&n::ZONE_RESPONSES);
    for z in &r.server_zones {
        o.classes(&n::ZONE_RESPONSES, &[("server", &z.name)], &z.responses);
    }
    o.family(&n::ZONE_RECEIVED);
    for z in &r.server_zones {
        o.sample(
            n::ZONE_RECEIVED.name,
            &[("server", &z.name)],
            z.received_bytes,
        );
    }
    o.family(&n::ZONE_SENT);
    for z in &r.server_zones {
        o.sample(n::ZONE_SENT.name, &[("server", &z.name)], z.sent_bytes);
    }
}

fn peers(o: &mut Out, r: &Report) {
    let all: Vec<_> = r
        .upstreams
        .iter()
        .flat_map(|u| u.peers.iter().map(move |p| (u.name.as_str(), p)))
        .collect();
    if all.is_empty() {
        return;
    }
    let simple: [PeerFigure; 4] = [
        (&n::PEER_UP, |p| u64::from(p.state == "up")),
        (&n::PEER_ACTIVE, |p| p.active),
        (&n::PEER_REQUESTS, |p| p.requests),
        (&n::PEER_FAILS, |p| p.fails),
    ];
    for figure in simple {
        peer_family(o, figure, &all);
    }
    o.family(&n::PEER_RESPONSES);
    for (group, p) in &all {
        let labels = [("upstream", *group), ("peer", p.server.as_str())];
        o.classes(&n::PEER_RESPONSES, &labels, &p.responses);
    }
    let checked: Vec<_> = all
        .iter()
        .filter(|(_, p)| p.health_check.is_some())
        .copied()
        .collect();
    let health: [PeerFigure; 2] = [
        (&n::PEER_HEALTH_CHECKS, |p| {
            p.health_check.as_ref().map_or(0, |h| h.checks)
        }),
        (&n::PEER_HEALTH_FAILS, |p| {
            p.health_check.as_ref().map_or(0, |h| h.fails)
        }),
    ];
    for figure in health.into_iter().filter(|_| !checked.is_empty()) {
        peer_family(o, figure, &checked);
    }
    o.family(&n::PEER_HEADER_DURATION);
    for (group, p) in &all {
        let labels = [("upstream", *group), ("peer", p.server.as_str())];
        o.histogram(&n::PEER_HEADER_DURATION, &labels, &p.header_time);
    }
}

/// One per-peer family: its HELP/TYPE lines, then a sample per (group, peer).
fn peer_family(o: &mut Out, (m, value): PeerFigure, peers: &[(&str, &PeerReport)]) {
    o.family(m);
    for (group, p) in peers {
        o.sample(
            m.name,
            &[("upstream", group), ("peer", &p.server)],
            value(p),
        );
    }
}
