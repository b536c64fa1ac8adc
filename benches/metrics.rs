//! Criterion benchmark of what counting costs a request: the connection-state changes and
//! the finished-request update (shard block, server zone, duration histogram) that
//! `serve::h1` makes per request, and a JSON report over two shards with a few zones and
//! peers (the status page's work, off the request path).

use std::hint::black_box;
use std::time::Instant;

use anx::config::toml::parse;
use anx::metrics::{self, report, Phase, Registry};
use criterion::{criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    let registry = Registry::new(2);
    let shard = registry.for_shard(1);
    let text = "[[upstream]]\nname = \"app\"\nservers = [\"127.0.0.1:9001\", \"127.0.0.1:9002\"]\n\
                [[server]]\nlisten = [\"127.0.0.1:1\"]\nserver_name = [\"a\"]\n\
                [[server.location]]\npath = \"/\"\nproxy_pass = \"http://app\"\n\
                [[server]]\nlisten = [\"127.0.0.1:1\"]\nserver_name = [\"b\"]\n";
    let config = parse(text, None, std::path::Path::new("/tmp")).expect("bench config");
    let zones = shard.zones(&config);
    let mut conn = shard.connection();
    c.bench_function(
        "metrics: one request counted (states, shard, zone, histogram)",
        |b| {
            b.iter(|| {
                let started = Instant::now();
                conn.set(Phase::Reading);
                shard.block().requests.inc();
                conn.set(Phase::Writing);
                metrics::finished(
                    shard.block(),
                    zones.get(black_box(0)),
                    black_box(200),
                    (black_box(80), black_box(1200)),
                    Some(started),
                );
                conn.set(Phase::Waiting);
            })
        },
    );
    c.bench_function("metrics: Instant::now (part of the above)", |b| {
        b.iter(|| black_box(Instant::now()))
    });
    c.bench_function("metrics: JSON report build, 2 shards", |b| {
        b.iter(|| black_box(report::build(&registry, &config, None)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
