//! The control thread: binds sockets, starts shards, waits for signals, stops shards.
//!
//! `main` hands a validated [`Config`]; this picks the cores (`--shards auto|N` over
//! `core_affinity::get_core_ids()`), binds one SO_REUSEPORT socket per listen address per
//! shard, starts the shards, then blocks on signals. SIGINT/SIGTERM/SIGQUIT stop; SIGHUP and
//! SIGUSR1 (reload, log reopen) are logged and ignored until the operations issue lands.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

use crate::config::model::{Config, ShardCount};
use crate::config::snapshot::Snapshot;
use crate::net::listener;
use crate::shard::{self, BoundListener, ShardHandle};

/// The cores shards run on: every allowed core for `auto`, the first N otherwise (wrapping
/// round when N exceeds the cores, as nginx allows more workers than CPUs).
pub fn shard_cores(count: ShardCount) -> Vec<Option<usize>> {
    let cores: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let n = match count {
        ShardCount::Auto => cores.len().max(1),
        ShardCount::Fixed(n) => n,
    };
    (0..n)
        .map(|i| {
            if cores.is_empty() {
                None
            } else {
                Some(cores[i % cores.len()])
            }
        })
        .collect()
}

/// Binds every listen address once per shard. Port 0 is resolved by the first socket so
/// that all shards share the port the kernel chose.
fn bind_all(config: &Config, shards: usize) -> Result<Vec<Vec<BoundListener>>, String> {
    let mut per_shard: Vec<Vec<BoundListener>> = (0..shards).map(|_| Vec::new()).collect();
    for listen in config.listen_addrs() {
        let mut actual = listen;
        for (i, bucket) in per_shard.iter_mut().enumerate() {
            let socket = listener::bind(&actual)
                .map_err(|e| format!("bind() to {} failed ({e})", actual.addr))?;
            if i == 0 {
                if let Some(local) = socket.local_addr().ok().and_then(|a| a.as_socket()) {
                    actual.addr = local;
                }
            }
            bucket.push(BoundListener {
                listen,
                local: actual.addr,
                socket,
            });
        }
        eprintln!("anx: listening on {}", actual.addr);
    }
    Ok(per_shard)
}

/// Runs anx until a stop signal; returns the process exit code.
pub fn run(config: Config) -> Result<(), String> {
    crate::net::uring_probe::probe()?;
    let cores = shard_cores(config.shards);
    let listeners = bind_all(&config, cores.len())?;
    let snapshot = Arc::new(Snapshot::new(config));
    let stop = Arc::new(AtomicBool::new(false));

    let mut signals = Signals::new([SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;

    let mut shards: Vec<ShardHandle> = Vec::new();
    for (id, (core, bound)) in cores.iter().zip(listeners).enumerate() {
        match shard::start(id, *core, bound, snapshot.clone(), stop.clone()) {
            Ok(h) => shards.push(h),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                for h in shards {
                    let _ = h.thread.join();
                }
                return Err(e);
            }
        }
    }
    log::info!(
        "anx/{} started: {} shard(s) on cores {:?}",
        env!("CARGO_PKG_VERSION"),
        shards.len(),
        cores
    );
    eprintln!("anx: ready ({} shards)", shards.len());

    'control: loop {
        for signal in signals.pending() {
            match signal {
                SIGINT | SIGTERM | SIGQUIT => {
                    log::info!("signal {signal} received, stopping");
                    break 'control;
                }
                SIGHUP => {
                    log::warn!("SIGHUP: reload is not implemented yet; configuration unchanged")
                }
                SIGUSR1 => log::warn!("SIGUSR1: log reopening is not implemented yet"),
                _ => {}
            }
        }
        if let Some(dead) = shards.iter().find(|h| h.thread.is_finished()) {
            log::error!("shard {} exited unexpectedly; stopping", dead.id);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for h in shards {
        let _ = h.thread.join();
    }
    log::info!("exit");
    Ok(())
}
