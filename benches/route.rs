//! Criterion benchmarks of routing at scale: 50 servers by name on one address, the chosen
//! one with 200 locations (100 prefixes, 100 regexes). The bound: a prefix hit routes
//! in under 1 µs. Measured with the per-shard index (`ConfigIndex`, one `RegexSet` per level)
//! as the pipeline uses it, and without it (one regex at a time) for comparison.

use std::fmt::Write;
use std::hint::black_box;
use std::path::Path;

use anx::config::toml::parse;
use anx::context::state::RequestState;
use anx::route::{self, ConfigIndex};
use criterion::{criterion_group, criterion_main, Criterion};

const SERVERS: usize = 50;
const PREFIXES: usize = 100;
const REGEXES: usize = 100;

fn config_text() -> String {
    let mut t = String::new();
    for s in 0..SERVERS {
        let _ = writeln!(
            t,
            "[[server]]\nlisten = [\"127.0.0.1:1\"]\nserver_name = [\"www{s}.example.com\", \"*.s{s}.example.org\"]\n[[server.location]]\npath = \"/\""
        );
    }
    // The last server holds the 200 locations, interleaved as configs tend to be.
    for i in 0..PREFIXES.max(REGEXES) {
        if i < PREFIXES {
            let _ = writeln!(t, "[[server.location]]\npath = \"/section{i}/\"");
        }
        if i < REGEXES {
            let _ = writeln!(
                t,
                "[[server.location]]\npath = '^/api/v{i}/(\\d+)/items$'\nmatch = \"regex\""
            );
        }
    }
    t
}

fn bench(c: &mut Criterion) {
    let config = parse(&config_text(), None, Path::new("/srv")).expect("bench config");
    let listener = route::servers_for_listener(&config, &"127.0.0.1:1".parse().expect("addr"));
    let index = ConfigIndex::build(&config);
    let host = format!("www{}.example.com", SERVERS - 1);
    let target = SERVERS - 1;
    assert_eq!(
        route::select_server(&config, &listener, Some(host.as_bytes())),
        target
    );
    let server = &config.servers[target];
    let server_index = &index.servers[target];

    let mut st = RequestState::new(b"/section57/assets/app.min.js".to_vec());
    let found = route::find_location(server, Some(server_index), &mut st)
        .location()
        .expect("prefix hit");
    assert_eq!(found.path, b"/section57/");

    c.bench_function("route/server_of_50", |b| {
        b.iter(|| route::select_server(&config, &listener, Some(black_box(host.as_bytes()))))
    });
    c.bench_function("route/prefix_hit_200_locations", |b| {
        b.iter(|| {
            let s = route::select_server(&config, &listener, Some(black_box(host.as_bytes())));
            route::find_location(&config.servers[s], index.servers.get(s), &mut st)
                .location()
                .is_some()
        })
    });
    c.bench_function("route/prefix_hit_200_locations_no_index", |b| {
        b.iter(|| {
            let s = route::select_server(&config, &listener, Some(black_box(host.as_bytes())));
            route::find_location(&config.servers[s], None, &mut st)
                .location()
                .is_some()
        })
    });
    let mut regex_st = RequestState::new(b"/api/v90/12345/items".to_vec());
    let found = route::find_location(server, Some(server_index), &mut regex_st)
        .location()
        .expect("regex");
    assert_eq!(
        found.regex.as_ref().map(|p| p.source.as_str()),
        Some("^/api/v90/(\\d+)/items$")
    );
    c.bench_function("route/regex_hit_90th_of_100", |b| {
        b.iter(|| {
            route::find_location(black_box(server), Some(server_index), &mut regex_st)
                .location()
                .is_some()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
