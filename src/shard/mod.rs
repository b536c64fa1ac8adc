//! Shards: one pinned glommio executor per core, each owning its listeners and connections.
//!
//! The control thread binds every shard's SO_REUSEPORT sockets (so a busy port fails the
//! start, not a shard), then starts each shard on its own thread with a glommio
//! `LocalExecutor` pinned to the CPUs the control thread chose ([`ShardCpus`]: one core, or a
//! `worker_cpu_affinity` set). A shard accepts on its own sockets and spawns `serve::h1` per
//! connection; a panic inside a connection is caught there and costs only that connection.
//! A shard holds at most `worker_connections` client connections: at the limit its accept
//! loops wait (new connections queue in the kernel backlog) until one of its connections
//! ends. The count is the shard's own; shards share nothing for it.

use std::cell::Cell;
use std::fmt;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use futures_lite::FutureExt;
use glommio::sync::Semaphore;
use glommio::{CpuSet, LocalExecutorBuilder, Placement};

use crate::config::model::{AccessLog, Config, Listen, Location};
use crate::config::snapshot::Snapshot;
use crate::net::client::ClientStream;
use crate::net::listener;
use crate::net::tls::{self, Accepted};
use crate::tls::{TlsListener, TlsListeners};
use crate::upstream::health::HealthBoard;

use crate::serve::{h1, ShardResources};

/// glommio's registered-buffer arena per shard. Its default (10 MiB) is above the 8 MiB
/// RLIMIT_MEMLOCK many machines have; anx does not use registered buffers for sockets.
const IO_MEMORY: usize = 512 * 1024;
/// How often a shard checks for stop requests and flushes due access-log buffers.
const TICK: Duration = Duration::from_millis(100);

/// One listening socket for one shard, with the `listen` it serves.
pub struct BoundListener {
    pub listen: Listen,
    pub local: SocketAddr,
    pub socket: socket2::Socket,
}

/// The CPUs one shard's thread may run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardCpus {
    /// Not pinned (the core list was unavailable).
    Any,
    /// Pinned to one CPU.
    One(usize),
    /// Fenced to a set of CPUs (a `worker_cpu_affinity` mask with several bits set); the
    /// kernel schedules the shard's thread on any of them.
    Set(Vec<usize>),
}

impl ShardCpus {
    fn placement(&self) -> Result<Placement, String> {
        let cpus = match self {
            ShardCpus::Any => return Ok(Placement::Unbound),
            ShardCpus::One(cpu) => std::slice::from_ref(cpu),
            ShardCpus::Set(cpus) => cpus.as_slice(),
        };
        // Checked here so that a mask naming a missing CPU says so, rather than surfacing
        // as an executor (io_uring) start-up failure.
        let online = CpuSet::online().map_err(|e| format!("cannot read the CPU topology: {e}"))?;
        let set = online.filter(|l| cpus.contains(&l.cpu));
        if set.is_empty() {
            return Err(match self {
                ShardCpus::Set(_) => {
                    format!("cpu_affinity: none of the CPUs {self} is online on this machine")
                }
                _ => format!("cpu_affinity: CPU {self} is not online on this machine"),
            });
        }
        Ok(match self {
            ShardCpus::One(cpu) => Placement::Fixed(*cpu),
            _ => Placement::Fenced(set),
        })
    }
}

impl fmt::Display for ShardCpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardCpus::Any => f.write_str("any"),
            ShardCpus::One(cpu) => write!(f, "{cpu}"),
            ShardCpus::Set(cpus) => {
                let list: Vec<String> = cpus.iter().map(usize::to_string).collect();
                write!(f, "{{{}}}", list.join(","))
            }
        }
    }
}

/// A running shard.
pub struct ShardHandle {
    pub id: usize,
    pub thread: JoinHandle<()>,
}

/// Starts a shard on `cpus`; returns once it is listening, or with the reason it cannot.
pub fn start(
    id: usize,
    cpus: ShardCpus,
    listeners: Vec<BoundListener>,
    snapshot: Arc<Snapshot>,
    stop: Arc<AtomicBool>,
    health: Option<Arc<HealthBoard>>,
    tls: Option<TlsListeners>,
) -> Result<ShardHandle, String> {
    let (ready_tx, ready_rx) = crossbeam::channel::bounded::<Result<(), String>>(1);
    let thread = std::thread::Builder::new()
        .name(format!("anx-shard-{id}"))
        .spawn(move || {
            crate::log::error::set_shard(id);
            let placement = match cpus.placement() {
                Ok(p) => p,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("shard {id}: {e}")));
                    return;
                }
            };
            let executor = LocalExecutorBuilder::new(placement)
                .name(&format!("anx-shard-{id}"))
                .io_memory(IO_MEMORY)
                .make();
            let executor = match executor {
                Ok(e) => e,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!(
                        "shard {id}: cannot start a glommio executor (io_uring): {e}; see kernel-notes/io_uring.md"
                    )));
                    return;
                }
            };
            executor.run(shard_main(id, listeners, snapshot, stop, health, tls, ready_tx));
        })
        .map_err(|e| format!("shard {id}: cannot start its thread: {e}"))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(ShardHandle { id, thread }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("shard {id} exited during start-up")),
    }
}

async fn shard_main(
    id: usize,
    listeners: Vec<BoundListener>,
    snapshot: Arc<Snapshot>,
    stop: Arc<AtomicBool>,
    health: Option<Arc<HealthBoard>>,
    tls: Option<TlsListeners>,
    ready: crossbeam::channel::Sender<Result<(), String>>,
) {
    // Session caches and ticketer handles of this shard's own; keys shared by all.
    let tls = tls.map(|t| t.for_shard());
    let resources = Rc::new(ShardResources {
        id,
        health,
        ..ShardResources::default()
    });
    let config = snapshot.load();
    // The limit of the configuration the shard started with (a reload does not resize it).
    let limit = Rc::new(ConnLimit::new(id, config.worker_connections));
    let mut accept_tasks = Vec::new();
    for bound in listeners {
        let resources = resources.clone();
        let snapshot = snapshot.clone();
        let glommio_listener = listener::into_glommio(bound.socket);
        let tls_listener = tls.as_ref().and_then(|t| t.get(bound.listen.addr).cloned());
        accept_tasks.push(glommio::spawn_local(accept_loop(
            glommio_listener,
            bound.listen,
            resources,
            snapshot,
            limit.clone(),
            tls_listener,
        )));
    }
    let _ = ready.send(Ok(()));
    let flush_every = shortest_flush(&config)
        .unwrap_or(Duration::from_secs(1))
        .max(TICK);
    drop(config);
    while !stop.load(Ordering::Relaxed) {
        glommio::timer::sleep(TICK).await;
        resources.access_logs.tick(flush_every);
        let now = std::time::Instant::now();
        for (_, groups) in resources.upstreams.borrow().iter() {
            groups.expire(now);
        }
    }
    resources.access_logs.flush_all();
    drop(accept_tasks);
}

/// The shortest `flush=` of any access log: how often the shard must look at its buffers.
fn shortest_flush(config: &Config) -> Option<Duration> {
    fn walk(locations: &[Location], min: &mut Option<Duration>) {
        for l in locations {
            note(&l.access_logs, min);
            walk(&l.locations, min);
        }
    }
    fn note(logs: &[AccessLog], min: &mut Option<Duration>) {
        for log in logs {
            *min = Some(min.map_or(log.flush, |m| m.min(log.flush)));
        }
    }
    let mut min = None;
    for server in &config.servers {
        note(&server.access_logs, &mut min);
        walk(&server.locations, &mut min);
    }
    min
}

/// `worker_connections` for one shard: a permit per client connection, shared by the
/// shard's accept loops (one per listener) and never by other shards.
struct ConnLimit {
    shard: usize,
    limit: usize,
    permits: Rc<Semaphore>,
    /// Set while the shard is at the limit and has said so; one warning per episode.
    warned: Cell<bool>,
}

impl ConnLimit {
    fn new(shard: usize, limit: usize) -> ConnLimit {
        // 0 would never accept anything; resolve refuses it, this keeps the shard alive anyway.
        let limit = limit.max(1);
        ConnLimit {
            shard,
            limit,
            permits: Rc::new(Semaphore::new(limit as u64)),
            warned: Cell::new(false),
        }
    }

    /// Returns once the shard has a free slot, without taking it (so a listener idle in
    /// accept() holds none); warns once when the shard is full. `false` only if the semaphore
    /// was closed, which never happens (the accept loop then ends).
    async fn wait_for_slot(&self) -> bool {
        let free = self.permits.available();
        if free > 0 {
            // The episode ends once a tenth of the slots (at least one) are free again;
            // without the margin a shard hovering at the limit would warn again and again.
            if free >= (self.limit as u64 / 10).max(1) {
                self.warned.set(false);
            }
            return true;
        }
        if !self.warned.replace(true) {
            log::warn!(
                "{} worker_connections are not enough: shard {} stops accepting until a connection ends",
                self.limit,
                self.shard
            );
        }
        if self.permits.acquire(1).await.is_err() {
            return false;
        }
        self.permits.signal(1);
        true
    }

    /// Takes a slot for an accepted connection; it is freed when the permit drops.
    async fn take(&self) -> Option<glommio::sync::StaticPermit> {
        self.permits.acquire_static_permit(1).await.ok()
    }
}

async fn accept_loop(
    listener: glommio::net::TcpListener,
    listen: Listen,
    resources: Rc<ShardResources>,
    snapshot: Arc<Snapshot>,
    limit: Rc<ConnLimit>,
    tls: Option<Arc<TlsListener>>,
) {
    let mut next_id: u64 = resources.id as u64;
    loop {
        // Wait for a free slot before accepting: at the limit the connection stays in the
        // kernel's backlog (this shard's SO_REUSEPORT socket) instead of being accepted and
        // dropped. The slot is not held while idle in accept(), so listeners do not count.
        if !limit.wait_for_slot().await {
            return;
        }
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                log::error!("accept() failed on {}: {e}", listen.addr);
                // Out of descriptors or memory: back off instead of spinning.
                glommio::timer::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let config = snapshot.load();
        // Routing tables (this listener's servers included) exist once per generation.
        let index = resources.route_index(&config);
        let servers = index.listener(&config, listen.addr);
        // Normally free at once; if another listener of this shard took the last slot in
        // the meantime, this connection waits for one before it is served.
        let Some(permit) = limit.take().await else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let peer = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        // Connection numbers are unique per process: shard id + k × 1024.
        next_id += 1024;
        let id = next_id;
        let shard = resources.clone();
        let tls = tls.clone();
        glommio::spawn_local(async move {
            // Held for the connection's life, panics included; dropping it frees the slot.
            let _permit = permit;
            let default_http = &config.servers[servers.default].http;
            let (stream, tls) = match tls {
                None => (ClientStream::Plain(stream), None),
                Some(listener) => {
                    // The handshake counts as part of the first request's head.
                    let timeout = default_http.client_header_timeout;
                    match tls::accept(stream, &listener, timeout).await {
                        Accepted::Tls { stream, info, sni } => (
                            stream,
                            Some(h1::TlsConn {
                                listener,
                                info: Rc::new(info),
                                sni,
                            }),
                        ),
                        Accepted::PlainHttp(stream) => {
                            log::info!("*{id} client sent plain HTTP request to HTTPS port, client: {peer}");
                            h1::refuse_plain_http(stream, default_http.server_tokens).await;
                            return;
                        }
                        Accepted::Failed(reason) => {
                            log::info!("*{id} {reason} while SSL handshaking, client: {peer}");
                            return;
                        }
                    }
                }
            };
            let conn = h1::Connection {
                stream,
                config,
                listener: servers,
                index,
                shard,
                peer,
                id,
                tls,
            };
            if AssertUnwindSafe(h1::serve(conn))
                .catch_unwind()
                .await
                .is_err()
            {
                log::error!("connection from {peer} panicked; the shard goes on");
            }
        })
        .detach();
    }
}
