//! The control thread: binds sockets, starts shards, waits for signals, stops shards.
//!
//! `main` hands a validated [`Config`]; this picks the CPUs of every shard (`--shards auto|N`
//! over `core_affinity::get_core_ids()`, or the `cpu_affinity` masks), binds one SO_REUSEPORT
//! socket per listen address per shard, starts the shards, writes the pid file ([`pid`]),
//! then blocks on signals. SIGINT/SIGTERM/SIGQUIT stop; SIGUSR1 reopens every log file
//! (`log::reopen`); SIGHUP (reload) is logged and ignored until the operations issue lands.
//! [`signal_cmd`] is the other side: the one-shot `anx -s` that sends those signals. Nothing
//! here is on the request path.

pub mod pid;
pub mod signal_cmd;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

use crate::config::model::{Config, CpuAffinity, ShardCount};
use crate::config::snapshot::Snapshot;
use crate::net::listener;
use crate::shard::{self, BoundListener, ShardCpus, ShardHandle};

/// The CPUs of every shard. The count is one per allowed core for `auto`, else N. With
/// `cpu_affinity = auto` shard i runs on the i-th allowed core (wrapping round when N exceeds
/// the cores, as nginx allows more workers than CPUs); with masks, shard i gets the i-th
/// mask and shards beyond the list reuse the last one, as nginx's workers do.
pub fn shard_cpus(count: ShardCount, affinity: &CpuAffinity) -> Vec<ShardCpus> {
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
        .map(|i| match affinity {
            CpuAffinity::Sets(sets) if !sets.is_empty() => {
                match sets[i.min(sets.len() - 1)].as_slice() {
                    [] => ShardCpus::Any,
                    [one] => ShardCpus::One(*one),
                    many => ShardCpus::Set(many.to_vec()),
                }
            }
            _ if cores.is_empty() => ShardCpus::Any,
            _ => ShardCpus::One(cores[i % cores.len()]),
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
    let cpus = shard_cpus(config.shards, &config.cpu_affinity);
    let listeners = bind_all(&config, cpus.len())?;
    let pid_path = config.pid.clone();
    // One prober for the whole process, whatever the shard count; shards read its verdicts.
    let health = config
        .upstreams
        .iter()
        .any(|u| u.health_check.is_some())
        .then(|| crate::upstream::health::HealthBoard::new(&config));
    let snapshot = Arc::new(Snapshot::new(config));
    // rustls objects for every `listen … ssl` address, built once and shared by the shards.
    let tls = {
        let config = snapshot.load();
        let listeners = crate::tls::TlsListeners::build(&config)?;
        (!listeners.is_empty()).then_some(listeners)
    };
    let _prober = health
        .as_ref()
        .and_then(|board| crate::upstream::health::start(snapshot.load(), board.clone()));
    let stop = Arc::new(AtomicBool::new(false));

    let mut signals = Signals::new([SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;

    let mut shards: Vec<ShardHandle> = Vec::new();
    let stop_all = |shards: Vec<ShardHandle>| {
        stop.store(true, Ordering::Relaxed);
        for h in shards {
            let _ = h.thread.join();
        }
    };
    for (id, (cpu, bound)) in cpus.iter().zip(listeners).enumerate() {
        match shard::start(
            id,
            cpu.clone(),
            bound,
            snapshot.clone(),
            stop.clone(),
            health.clone(),
            tls.clone(),
        ) {
            Ok(h) => shards.push(h),
            Err(e) => {
                stop_all(shards);
                return Err(e);
            }
        }
    }
    // Written once the sockets are bound and the shards run, so `anx -s` never finds the pid
    // of a server that then fails to start; removed on return (see `pid::PidFile`).
    let _pid_file = match pid_path.as_deref().map(pid::PidFile::create).transpose() {
        Ok(f) => f,
        Err(e) => {
            stop_all(shards);
            return Err(e);
        }
    };
    // Built-in access-log rotation (`rotate_size=` / `rotate_time=`): one thread, see log::rotate.
    let _rotator = crate::log::rotate::spawn(snapshot.clone(), stop.clone())
        .map_err(|e| log::error!("cannot start the log rotation thread: {e}"));
    let cpu_list: Vec<String> = cpus.iter().map(ShardCpus::to_string).collect();
    log::info!(
        "anx/{} started: {} shard(s) on CPUs [{}]",
        env!("CARGO_PKG_VERSION"),
        shards.len(),
        cpu_list.join(", ")
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
                SIGUSR1 => {
                    log::info!("signal {signal} (SIGUSR1) received, reopening logs");
                    crate::log::reopen::request();
                }
                _ => {}
            }
        }
        if let Some(dead) = shards.iter().find(|h| h.thread.is_finished()) {
            log::error!("shard {} exited unexpectedly; stopping", dead.id);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop_all(shards);
    log::info!("exit");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_shards_reuse_the_last_mask_like_nginx() {
        let sets = CpuAffinity::Sets(vec![vec![0], vec![1, 2]]);
        assert_eq!(
            shard_cpus(ShardCount::Fixed(3), &sets),
            vec![
                ShardCpus::One(0),
                ShardCpus::Set(vec![1, 2]),
                ShardCpus::Set(vec![1, 2])
            ]
        );
    }

    #[test]
    fn auto_pins_one_core_per_shard() {
        let cpus = shard_cpus(ShardCount::Fixed(2), &CpuAffinity::Auto);
        assert_eq!(cpus.len(), 2);
        assert!(cpus
            .iter()
            .all(|c| matches!(c, ShardCpus::One(_) | ShardCpus::Any)));
    }
}
