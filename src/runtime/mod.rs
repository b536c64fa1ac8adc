//! The control thread: binds sockets, starts shards, waits for signals, reloads, stops.
//!
//! `main` hands a validated [`Config`] and a way to read it again; this picks the CPUs of
//! every shard (`--shards auto|N` over `core_affinity::get_core_ids()`, or the `cpu_affinity`
//! masks), binds one SO_REUSEPORT socket per listen address per shard ([`sockets`]), builds
//! generation 1 (TLS listeners, health checks: `shard::generation`), starts the shards,
//! writes the pid file ([`pid`]) and tells systemd ([`systemd`]), then waits for signals:
//! - SIGHUP reloads: the configuration is read and checked here, off the shards; if it is
//!   invalid nothing changes and the error log says why. Otherwise the new generation is
//!   published, new listen addresses are bound and removed ones closed on every shard, and
//!   no connection is closed: requests in flight finish under the old generation, the next
//!   request of a kept-alive connection runs under the new one.
//! - SIGUSR1 reopens every log file (`log::reopen`); access logs can also rotate by
//!   themselves (`log::rotate`, one thread).
//! - SIGQUIT stops gracefully: shards stop accepting, finish requests in flight (for at most
//!   `worker_shutdown_timeout`), close idle connections; SIGINT/SIGTERM stop at once.
//!
//! With `user`, [`privilege`] gives up root once the sockets are bound, before any other
//! thread starts, and keeps a root helper process for what reloads and reopens still need
//! (new ports below 1024, root-only keys, log files in root-owned directories).
//!
//! [`ocsp`] is the background thread that fetches OCSP staples, one per generation.
//! [`signal_cmd`] is the other side: the one-shot `anx -s` that sends those signals. Nothing
//! here is on the request path.

pub mod ocsp;
pub mod pid;
pub mod privilege;
pub mod signal_cmd;
mod sockets;
mod systemd;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

use crate::config::model::{Config, CpuAffinity, ShardCount};
use crate::shard::generation::{Current, Generation};
use crate::shard::{self, Command, ShardCpus, ShardHandle};
use sockets::Sockets;

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

/// Runs anx until a stop signal. `reload` reads and validates the configuration again (what
/// `anx -t` does) for SIGHUP; it runs on this thread, never on a shard.
pub fn run(config: Config, mut reload: Reloader) -> Result<(), String> {
    crate::net::uring_probe::probe()?;
    let cpus = shard_cpus(config.shards, &config.cpu_affinity);
    let mut sockets = Sockets::default();
    let listeners = sockets.bind_new(&config, cpus.len())?;
    // `user`: give up root now, before any other thread starts (see `privilege`).
    privilege::separate(&config, &mut reload)?;
    let pid_path = config.pid.clone();
    // TLS listeners and health checks are built once per generation, off the shards.
    let current = Arc::new(Current::new(Generation::build(config, 1, None)?));
    // OCSP staples are fetched off the shards, by one thread per generation.
    start_stapling(&current.load());
    let stop = Arc::new(AtomicBool::new(false));

    let mut signals = Signals::new([SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;

    // One registry for the process's life: it outlives every configuration generation.
    let metrics = crate::metrics::Registry::new(cpus.len());
    let mut shards: Vec<ShardHandle> = Vec::new();
    for (id, (cpu, bound)) in cpus.iter().zip(listeners).enumerate() {
        match shard::start(
            id,
            cpu.clone(),
            bound,
            current.clone(),
            stop.clone(),
            metrics.clone(),
        ) {
            Ok(h) => shards.push(h),
            Err(e) => {
                stop_now(&stop, shards);
                return Err(e);
            }
        }
    }
    // Written once the sockets are bound and the shards run, so `anx -s` never finds the pid
    // of a server that then fails to start; removed on return (see `pid::PidFile`).
    let written = match privilege::write_pid().filter(|_| pid_path.is_some()) {
        // The helper writes it where the user may not, and removes it after we exit.
        Some(done) => done.map(|()| None),
        None => pid_path.as_deref().map(pid::PidFile::create).transpose(),
    };
    let _pid_file = match written {
        Ok(f) => f,
        Err(e) => {
            stop_now(&stop, shards);
            return Err(e);
        }
    };
    // Built-in access-log rotation (`rotate_size=` / `rotate_time=`): one thread, see log::rotate.
    let rotator_view = current.clone();
    let _rotator =
        crate::log::rotate::spawn(move || rotator_view.load().config.clone(), stop.clone())
            .map_err(|e| log::error!("cannot start the log rotation thread: {e}"));
    let cpu_list: Vec<String> = cpus.iter().map(ShardCpus::to_string).collect();
    log::info!(
        "anx/{} started: {} shard(s) on CPUs [{}]",
        env!("CARGO_PKG_VERSION"),
        shards.len(),
        cpu_list.join(", ")
    );
    eprintln!("anx: ready ({} shards)", shards.len());
    systemd::ready();

    let mut control = Control {
        reload,
        current,
        sockets,
        shards,
        generation: 1,
        metrics,
    };
    let ending = control.serve_signals(&mut signals);
    systemd::stopping();
    let sockets = std::mem::take(&mut control.sockets);
    match ending {
        Ending::Fast => stop_now(&stop, control.shards),
        Ending::Graceful => control.quit(&stop, &mut signals),
    }
    sockets.remove_socket_files();
    log::info!("exit");
    Ok(())
}

/// Reads the configuration again for a reload (the command line's file and overrides).
pub type Reloader = Box<dyn FnMut() -> Result<Config, String>>;

enum Ending {
    /// SIGINT, SIGTERM, or a shard that died: stop at once.
    Fast,
    /// SIGQUIT: finish what is in flight first.
    Graceful,
}

/// The control thread's state while anx runs.
struct Control {
    reload: Reloader,
    current: Arc<Current>,
    sockets: Sockets,
    shards: Vec<ShardHandle>,
    generation: u64,
    /// Where reload results are counted for the status pages.
    metrics: Arc<crate::metrics::Registry>,
}

impl Control {
    fn serve_signals(&mut self, signals: &mut Signals) -> Ending {
        loop {
            for signal in signals.pending() {
                match signal {
                    SIGINT | SIGTERM => {
                        log::info!("signal {signal} ({}) received, exiting", name(signal));
                        return Ending::Fast;
                    }
                    SIGQUIT => {
                        log::info!("signal {signal} (SIGQUIT) received, shutting down gracefully");
                        return Ending::Graceful;
                    }
                    SIGHUP => {
                        log::info!("signal {signal} (SIGHUP) received, reconfiguring");
                        self.reload();
                    }
                    SIGUSR1 => {
                        log::info!("signal {signal} (SIGUSR1) received, reopening logs");
                        privilege::before_reopen();
                        crate::log::reopen::request();
                    }
                    _ => {}
                }
            }
            if let Some(dead) = self.shards.iter().find(|h| h.thread.is_finished()) {
                log::error!("shard {} exited unexpectedly; stopping", dead.id);
                return Ending::Fast;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGHUP: a new generation if the configuration is valid, else nothing changes.
    fn reload(&mut self) {
        systemd::reloading();
        match self.try_reload() {
            Ok(n) => {
                let message = format!("configuration generation {n} in effect");
                log::info!("reload: {message}");
                self.metrics.control.record_reload(true, &message);
            }
            Err(e) => {
                log::error!("reload failed, still serving the previous configuration: {e}");
                self.metrics.control.record_reload(false, &e);
            }
        }
        systemd::ready();
    }

    fn try_reload(&mut self) -> Result<u64, String> {
        privilege::before_reload()?;
        let config = (self.reload)()?;
        let old = self.current.load();
        for note in restart_only_changes(&old.config, &config) {
            log::warn!("reload: {note} changes only when anx restarts; the old value stays");
        }
        let number = self.generation + 1;
        let generation = Arc::new(Generation::build(config, number, Some(&old))?);
        if let (Some(before), Some(now)) = (&old.tls, &generation.tls) {
            crate::tls::ocsp::slot::carry_over(&before.stapling_targets(), &now.stapling_targets());
        }
        start_stapling(&generation);
        let plan = self.sockets.plan(&generation.config);
        // Every new socket is bound before anything changes, so a busy port fails the whole
        // reload and leaves the running configuration alone.
        let mut added = self.sockets.bind_listens(&plan.add, self.shards.len())?;
        // From here on the reload is committed: new connections already use it.
        self.current.store(generation);
        self.generation = number;
        let (done_tx, done_rx) = crossbeam::channel::unbounded();
        let mut told = 0;
        for (i, shard) in self.shards.iter().enumerate() {
            let add = std::mem::take(&mut added[i]);
            let order = Command::Reload {
                add,
                remove: plan.remove.clone(),
                done: done_tx.clone(),
            };
            match shard.commands.send(order) {
                Ok(()) => told += 1,
                // Its thread has ended; the control loop notices and stops the server.
                Err(_) => log::error!("reload: shard {} is gone", shard.id),
            }
        }
        self.sockets.forget(&plan.remove);
        for _ in 0..told {
            if done_rx.recv_timeout(SHARD_ANSWER).is_err() {
                // Its order is queued and applies at its next tick; nothing to undo.
                log::warn!("reload: a shard is slow to take generation {number}");
                break;
            }
        }
        Ok(number)
    }

    /// SIGQUIT: every shard stops accepting, finishes its requests in flight (for at most
    /// `worker_shutdown_timeout`), closes its idle connections and ends.
    /// SIGTERM or SIGINT during it turns it into a fast stop, as with nginx.
    fn quit(self, stop: &AtomicBool, signals: &mut Signals) {
        let deadline = self.current.load().config.shutdown_timeout;
        for shard in &self.shards {
            let _ = shard.commands.send(Command::Quit { deadline });
        }
        while !self.shards.iter().all(|h| h.thread.is_finished()) {
            if signals.pending().any(|s| s == SIGTERM || s == SIGINT) {
                log::info!("fast stop requested during the graceful stop");
                stop.store(true, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for h in self.shards {
            let _ = h.thread.join();
        }
        stop.store(true, Ordering::Relaxed);
    }
}

fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// How long the control thread waits for shards to take a reload (a shard reads its orders
/// every 100 ms; building a generation's routing tables takes milliseconds).
const SHARD_ANSWER: Duration = Duration::from_secs(10);

/// Starts the OCSP fetcher of `generation`'s certificates (none when nothing staples a
/// fetched response); it ends by itself once the generation is gone.
fn start_stapling(generation: &Generation) {
    if let Some(tls) = &generation.tls {
        drop(ocsp::start(tls.stapling_targets()));
    }
}

fn stop_now(stop: &AtomicBool, shards: Vec<ShardHandle>) {
    stop.store(true, Ordering::Relaxed);
    for h in shards {
        let _ = h.thread.join();
    }
}

/// Settings a running anx cannot change: the shard count, their CPUs and their connection
/// limit are fixed when the shards start, the error log is installed once, root is given
/// up once.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    if old.shards != new.shards {
        out.push("worker_processes (shards)");
    }
    if old.cpu_affinity != new.cpu_affinity {
        out.push("worker_cpu_affinity");
    }
    if old.worker_connections != new.worker_connections {
        out.push("worker_connections");
    }
    if old.error_log != new.error_log {
        out.push("error_log");
    }
    if old.pid != new.pid {
        out.push("pid");
    }
    if old.user != new.user {
        // The switch is made once; the helper keeps giving files to the first user.
        out.push("user");
    }
    out
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
