//! The reader's side: every figure summed over the shards into plain numbers, in the shape
//! the JSON endpoint prints (`serde`), and the stub_status, Prometheus and dashboard pages
//! draw from. Built when a status page is asked for; the request path never comes here.
//!
//! Zones and peers are listed in the order of the configuration the status request runs
//! under; their counts are the registry's, so they include what earlier generations counted
//! under the same names.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::blocks::ShardBlock;
use super::counter::{HistogramSum, BUCKETS};
use super::process::{self, Process};
use super::Registry;
use crate::config::model::Config;
use crate::upstream::health::HealthBoard;

#[derive(Debug, Serialize)]
pub struct Report {
    pub version: &'static str,
    /// Configuration generation (1 at start, +1 per successful reload).
    pub generation: u64,
    pub uptime_seconds: f64,
    pub start_time_seconds: f64,
    pub reloads: Reloads,
    pub connections: Connections,
    pub requests: Requests,
    pub tls: Tls,
    pub shards: Vec<ShardReport>,
    pub server_zones: Vec<Zone>,
    pub upstreams: Vec<UpstreamReport>,
    pub process: Process,
}

#[derive(Debug, Serialize)]
pub struct Reloads {
    pub ok: u64,
    pub failed: u64,
    pub last: Option<LastReload>,
}

#[derive(Debug, Serialize)]
pub struct LastReload {
    pub time_seconds: f64,
    pub ok: bool,
    pub message: String,
}

#[derive(Debug, Default, Serialize, Clone, Copy)]
pub struct Connections {
    pub accepted: u64,
    pub handled: u64,
    pub active: u64,
    pub reading: u64,
    pub writing: u64,
    pub waiting: u64,
    /// Of the waiting ones, those parked without a task (`serve/park`).
    pub parked: u64,
}

impl Connections {
    /// One shard's connection counters as they stand.
    pub fn of(b: &ShardBlock) -> Connections {
        let (active, reading, writing) = (
            gauge(b.active.get()),
            gauge(b.reading.get()),
            gauge(b.writing.get()),
        );
        Connections {
            accepted: b.accepted.get(),
            handled: b.handled.get(),
            active,
            reading,
            writing,
            waiting: active.saturating_sub(reading + writing),
            parked: gauge(b.parked.get()),
        }
    }

    /// The whole node's: every shard's summed (what `stub_status` and `$connections_*` show).
    pub fn of_node(registry: &Registry) -> Connections {
        let mut all = Connections::default();
        for b in registry.shards().iter() {
            all.add(&Connections::of(b));
        }
        all
    }

    fn add(&mut self, c: &Connections) {
        self.accepted += c.accepted;
        self.handled += c.handled;
        self.active += c.active;
        self.reading += c.reading;
        self.writing += c.writing;
        self.waiting += c.waiting;
        self.parked += c.parked;
    }
}

/// Responses by status class.
#[derive(Debug, Default, Serialize, Clone, Copy, PartialEq, Eq)]
pub struct Classes {
    #[serde(rename = "1xx")]
    pub c1: u64,
    #[serde(rename = "2xx")]
    pub c2: u64,
    #[serde(rename = "3xx")]
    pub c3: u64,
    #[serde(rename = "4xx")]
    pub c4: u64,
    #[serde(rename = "5xx")]
    pub c5: u64,
}

impl Classes {
    fn from(sum: [u64; 5]) -> Classes {
        Classes {
            c1: sum[0],
            c2: sum[1],
            c3: sum[2],
            c4: sum[3],
            c5: sum[4],
        }
    }

    /// (label, count) pairs, 1xx first.
    pub fn labelled(&self) -> [(&'static str, u64); 5] {
        [
            ("1xx", self.c1),
            ("2xx", self.c2),
            ("3xx", self.c3),
            ("4xx", self.c4),
            ("5xx", self.c5),
        ]
    }
}

#[derive(Debug, Serialize)]
pub struct Requests {
    pub total: u64,
    pub responses: Classes,
    pub received_bytes: u64,
    pub sent_bytes: u64,
    pub duration: Histogram,
}

/// A histogram as printed: cumulative bucket counts.
#[derive(Debug, Serialize)]
pub struct Histogram {
    pub count: u64,
    pub sum_seconds: f64,
    /// `le` bounds in seconds; the last bucket ("+Inf") is `count`.
    pub buckets: Vec<Bucket>,
}

#[derive(Debug, Serialize)]
pub struct Bucket {
    pub le: String,
    pub count: u64,
}

impl Histogram {
    fn from(sum: &HistogramSum) -> Histogram {
        let cumulative = sum.cumulative();
        let buckets = BUCKETS
            .iter()
            .map(|b| b.to_string())
            .chain(std::iter::once("+Inf".to_string()))
            .zip(cumulative)
            .map(|(le, count)| Bucket { le, count })
            .collect();
        Histogram {
            count: sum.count(),
            sum_seconds: sum.sum_seconds(),
            buckets,
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Tls {
    pub handshakes: u64,
    pub failed: u64,
    pub resumed: u64,
}

#[derive(Debug, Serialize)]
pub struct ShardReport {
    pub id: usize,
    pub connections: Connections,
    pub requests: u64,
    pub responses: Classes,
    pub received_bytes: u64,
    pub sent_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Zone {
    pub name: String,
    pub requests: u64,
    pub responses: Classes,
    pub received_bytes: u64,
    pub sent_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct UpstreamReport {
    pub name: String,
    pub peers: Vec<PeerReport>,
}

#[derive(Debug, Serialize)]
pub struct PeerReport {
    /// The address, as `$upstream_addr` prints it.
    pub server: String,
    /// `up`, `down` (configured so), `unhealthy` (failing its active health check) or
    /// `unavailable` (a shard's `max_fails` keeps it out for `fail_timeout`).
    pub state: &'static str,
    pub backup: bool,
    pub weight: u32,
    pub active: u64,
    pub requests: u64,
    pub responses: Classes,
    pub fails: u64,
    pub health_check: Option<HealthReport>,
    pub header_time: Histogram,
    /// Mean time to the response head, in milliseconds (`None` before the first one).
    pub mean_header_ms: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct HealthReport {
    pub up: bool,
    pub checks: u64,
    pub fails: u64,
    pub last_status: Option<u16>,
    pub last_check_seconds: Option<f64>,
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn gauge(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Everything, summed, for the configuration `config` (the status request's).
pub fn build(registry: &Registry, config: &Config, health: Option<&HealthBoard>) -> Report {
    let mut shards = Vec::new();
    let mut conns = Connections::default();
    let mut responses = [0u64; 5];
    let (mut requests, mut received, mut sent) = (0, 0, 0);
    let mut duration = HistogramSum::default();
    let mut tls = Tls::default();
    for (id, b) in registry.shards().iter().enumerate() {
        let c = Connections::of(b);
        let mut own = [0u64; 5];
        b.responses.add_to(&mut own);
        shards.push(ShardReport {
            id,
            connections: c,
            requests: b.requests.get(),
            responses: Classes::from(own),
            received_bytes: b.bytes_in.get(),
            sent_bytes: b.bytes_out.get(),
        });
        conns.add(&c);
        b.responses.add_to(&mut responses);
        requests += b.requests.get();
        received += b.bytes_in.get();
        sent += b.bytes_out.get();
        b.request_time.add_to(&mut duration);
        tls.handshakes += b.tls_handshakes.get();
        tls.failed += b.tls_failed.get();
        tls.resumed += b.tls_resumed.get();
    }
    let control = &registry.control;
    Report {
        version: env!("CARGO_PKG_VERSION"),
        generation: control.generation(),
        uptime_seconds: registry.uptime().as_secs_f64(),
        start_time_seconds: unix(registry.started),
        reloads: Reloads {
            ok: control.reloads_ok(),
            failed: control.reloads_failed(),
            last: control.last_reload().map(|l| LastReload {
                time_seconds: unix(l.at),
                ok: l.ok,
                message: l.message,
            }),
        },
        connections: conns,
        requests: Requests {
            total: requests,
            responses: Classes::from(responses),
            received_bytes: received,
            sent_bytes: sent,
            duration: Histogram::from(&duration),
        },
        tls,
        shards,
        server_zones: zones(registry, config),
        upstreams: upstreams(registry, config, health),
        process: process::read(),
    }
}

fn zones(registry: &Registry, config: &Config) -> Vec<Zone> {
    let mut out: Vec<Zone> = Vec::new();
    for server in &config.servers {
        let name = super::zone_name(server);
        if out.iter().any(|z| z.name == name) {
            continue;
        }
        let (mut requests, mut received, mut sent) = (0, 0, 0);
        let mut responses = [0u64; 5];
        for b in registry.zone(&name).iter().flat_map(|z| z.iter()) {
            requests += b.requests.get();
            received += b.bytes_in.get();
            sent += b.bytes_out.get();
            b.responses.add_to(&mut responses);
        }
        out.push(Zone {
            name,
            requests,
            responses: Classes::from(responses),
            received_bytes: received,
            sent_bytes: sent,
        });
    }
    out
}

fn upstreams(
    registry: &Registry,
    config: &Config,
    health: Option<&HealthBoard>,
) -> Vec<UpstreamReport> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    config
        .upstreams
        .iter()
        .enumerate()
        .map(|(gi, up)| UpstreamReport {
            name: up.name.clone(),
            peers: up
                .peers
                .iter()
                .enumerate()
                .map(|(pi, peer)| {
                    let server = peer.addr.to_string();
                    let checked = health.and_then(|h| h.peer(gi, pi));
                    let mut p = PeerReport {
                        server: server.clone(),
                        state: "up",
                        backup: peer.backup,
                        weight: peer.weight,
                        active: 0,
                        requests: 0,
                        responses: Classes::default(),
                        fails: 0,
                        health_check: checked.map(|c| HealthReport {
                            up: c.is_up(),
                            checks: c.checks(),
                            fails: c.failures(),
                            last_status: c.last_status(),
                            last_check_seconds: c.last_check().map(unix),
                        }),
                        header_time: Histogram::from(&HistogramSum::default()),
                        mean_header_ms: None,
                    };
                    let mut responses = [0u64; 5];
                    let mut times = HistogramSum::default();
                    let mut active = 0i64;
                    let mut unavailable = false;
                    for b in registry
                        .peer(&up.name, &server)
                        .iter()
                        .flat_map(|s| s.iter())
                    {
                        p.requests += b.requests.get();
                        p.fails += b.fails.get();
                        active += b.active.get();
                        b.responses.add_to(&mut responses);
                        b.header_time.add_to(&mut times);
                        unavailable |= b.unavailable_until_ms.get() > now_ms;
                    }
                    p.active = gauge(active);
                    p.responses = Classes::from(responses);
                    p.mean_header_ms = (times.count() > 0)
                        .then(|| times.sum_seconds() * 1e3 / times.count() as f64);
                    p.header_time = Histogram::from(&times);
                    p.state = if peer.down {
                        "down"
                    } else if checked.is_some_and(|c| !c.is_up()) {
                        "unhealthy"
                    } else if unavailable {
                        "unavailable"
                    } else {
                        "up"
                    };
                    p
                })
                .collect(),
        })
        .collect()
}
