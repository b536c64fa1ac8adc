//! Shards: one pinned glommio executor per core, each owning its listeners and connections.
//!
//! The control thread binds every shard's SO_REUSEPORT sockets (so a busy port fails the
//! start, not a shard), then starts each shard on its own thread with a glommio
//! `LocalExecutor` pinned to the CPUs the control thread chose ([`ShardCpus`]: one core, or a
//! `worker_cpu_affinity` set). A shard accepts on its own sockets and spawns `serve::dispatch` per
//! connection; a panic inside a connection is caught there and costs only that connection.
//! A shard holds at most `worker_connections` client connections: at the limit its accept
//! loops wait (new connections queue in the kernel backlog) until one of its connections
//! ends. The count is the shard's own; shards share nothing for it.

pub mod generation;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use glommio::sync::Semaphore;
use glommio::{CpuSet, LocalExecutorBuilder, Placement};

use crate::config::model::{AccessLog, Config, Listen, Location, SockAddr};
use crate::metrics::Registry;
use crate::net::client::ClientStream;
use crate::net::listener;
use crate::net::proxy_protocol::read::Failed;
use crate::net::tls::{self, Accepted};
use generation::Current;

use crate::serve::{h1, ShardResources};

/// glommio's registered-buffer arena per shard. Its default (10 MiB) is above the 8 MiB
/// RLIMIT_MEMLOCK many machines have; anx does not use registered buffers for sockets.
const IO_MEMORY: usize = 512 * 1024;
/// How often a shard checks for stop requests and flushes due access-log buffers.
const TICK: Duration = Duration::from_millis(100);

/// One listening socket for one shard, with the `listen` it serves.
pub struct BoundListener {
    /// Names the socket across reloads (the same on every shard for one address).
    pub id: u64,
    pub listen: Listen,
    /// The address bound (the kernel's port where the configuration says 0).
    pub local: SockAddr,
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
    /// Orders from the control thread (reload, graceful stop), read at the shard's tick.
    pub commands: crossbeam::channel::Sender<Command>,
}

/// What the control thread asks of a running shard.
pub enum Command {
    /// A reload was published in [`Current`]: adopt it, accept on `add` and stop accepting
    /// on the listeners `remove` names. Answered on `done` once in effect.
    Reload {
        add: Vec<BoundListener>,
        remove: Vec<u64>,
        done: crossbeam::channel::Sender<()>,
    },
    /// Graceful stop: stop accepting, let requests in flight finish (for at most
    /// `deadline`), close idle connections, then end.
    Quit { deadline: Option<Duration> },
}

/// Starts a shard on `cpus`; returns once it is listening, or with the reason it cannot.
/// `metrics` is the process's registry (the shard counts into its block `id`).
#[allow(clippy::too_many_arguments)]
pub fn start(
    id: usize,
    cpus: ShardCpus,
    listeners: Vec<BoundListener>,
    current: Arc<Current>,
    stop: Arc<AtomicBool>,
    metrics: Arc<Registry>,
) -> Result<ShardHandle, String> {
    let (ready_tx, ready_rx) = crossbeam::channel::bounded::<Result<(), String>>(1);
    let (commands, orders) = crossbeam::channel::unbounded::<Command>();
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
            let shard = Shard {
                resources: Rc::new(ShardResources::new(id, metrics.for_shard(id))),
                current,
                accepting: RefCell::new(Vec::new()),
                limit: Rc::new(ConnLimit::new(id, 1)),
            };
            executor.run(shard.run(listeners, stop, orders, ready_tx));
        })
        .map_err(|e| format!("shard {id}: cannot start its thread: {e}"))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(ShardHandle {
            id,
            thread,
            commands,
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("shard {id} exited during start-up")),
    }
}

/// One shard's own state, on its thread.
struct Shard {
    resources: Rc<ShardResources>,
    current: Arc<Current>,
    /// One accept loop per listening socket, by listener id; dropping one closes its socket.
    accepting: RefCell<Vec<(u64, glommio::Task<()>)>>,
    limit: Rc<ConnLimit>,
}

impl Shard {
    async fn run(
        mut self,
        listeners: Vec<BoundListener>,
        stop: Arc<AtomicBool>,
        orders: crossbeam::channel::Receiver<Command>,
        ready: crossbeam::channel::Sender<Result<(), String>>,
    ) {
        let generation = self.current.load();
        // The limit of the configuration the shard started with (a reload does not resize it).
        self.limit = Rc::new(ConnLimit::new(
            self.resources.id,
            generation.config.worker_connections,
        ));
        self.resources.generation(&generation);
        for bound in listeners {
            self.listen(bound);
        }
        let _ = ready.send(Ok(()));
        let mut flush_every = flush_period(&generation.config);
        drop(generation);
        let mut quitting: Option<Option<Instant>> = None;
        while !stop.load(Ordering::Relaxed) {
            glommio::timer::sleep(TICK).await;
            self.resources.access_logs.tick(flush_every);
            self.resources.expire_upstreams(Instant::now());
            while let Ok(order) = orders.try_recv() {
                match order {
                    Command::Reload { add, remove, done } => {
                        let generation = self.current.load();
                        self.resources.generation(&generation);
                        flush_every = flush_period(&generation.config);
                        self.accepting
                            .borrow_mut()
                            .retain(|(id, _)| !remove.contains(id));
                        for bound in add {
                            self.listen(bound);
                        }
                        let _ = done.send(());
                    }
                    Command::Quit { deadline } => {
                        // Closing the sockets first: new connections go to no one rather
                        // than to a shard that is about to end.
                        self.accepting.borrow_mut().clear();
                        self.resources.start_draining();
                        quitting = Some(deadline.map(|d| Instant::now() + d));
                    }
                }
            }
            if let Some(deadline) = quitting {
                let busy = self.resources.busy();
                if busy == 0 {
                    break;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    log::warn!(
                        "worker_shutdown_timeout: shard {} stops with {busy} request(s) in flight",
                        self.resources.id
                    );
                    break;
                }
            }
        }
        self.resources.access_logs.flush_all();
        self.accepting.borrow_mut().clear();
    }

    /// Starts accepting on `bound`.
    fn listen(&self, bound: BoundListener) {
        let task = glommio::spawn_local(accept_loop(
            listener::into_glommio(bound.socket),
            bound.listen.addr,
            bound.local,
            self.resources.clone(),
            self.current.clone(),
            self.limit.clone(),
        ));
        self.accepting.borrow_mut().push((bound.id, task));
    }
}

/// How often the shard must look at its access-log buffers: the shortest `flush=`.
fn flush_period(config: &Config) -> Duration {
    shortest_flush(config)
        .unwrap_or(Duration::from_secs(1))
        .max(TICK)
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
    listen_addr: SockAddr,
    bound: SockAddr,
    resources: Rc<ShardResources>,
    current: Arc<Current>,
    limit: Rc<ConnLimit>,
) {
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
                log::error!("accept() failed on {listen_addr}: {e}");
                // Out of descriptors or memory: back off instead of spinning.
                glommio::timer::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Routing tables, TLS objects and this listener's servers exist once per shard per
        // generation.
        let generation = resources.refresh(&current);
        let Some(slot) = generation.listen(&listen_addr).cloned() else {
            // A reload removed this address and the shard has not closed its socket yet.
            continue;
        };
        // Normally free at once; if another listener of this shard took the last slot in
        // the meantime, this connection waits for one before it is served.
        let Some(permit) = limit.take().await else {
            return;
        };
        // Counted as accepted and handled, and in the connection gauges until it ends.
        let tracker = resources.metrics.connection();
        let zones = generation.zones.clone();
        let (peer, local) = match &bound {
            SockAddr::Inet(_) => {
                let _ = stream.set_nodelay(true);
                let unknown = || SocketAddr::from(([0, 0, 0, 0], 0));
                (
                    SockAddr::Inet(stream.peer_addr().unwrap_or_else(|_| unknown())),
                    SockAddr::Inet(stream.local_addr().unwrap_or_else(|_| unknown())),
                )
            }
            // A Unix client's end has no name; the local end is the socket file.
            SockAddr::Unix(_) => (SockAddr::unnamed_unix(), bound.clone()),
        };
        let listen_addr = listen_addr.clone();
        let id = resources.number_connection();
        let shard = resources.clone();
        let client = peer.clone();
        // The whole connection (handshake, requests, relay) is fenced: a panic anywhere in it
        // ends this connection, logged at alert, and the shard serves on.
        let connection = async move {
            // Busy from accept (TLS handshake, first request) until its first idle wait.
            let busy = crate::serve::BusyMark::new(&shard);
            let config = generation.config().clone();
            let default_http = &config.servers[slot.servers.default].http;
            let mut stream = stream;
            let proxy = if slot.listen.proxy_protocol {
                // Before TLS: the header is the first thing on the connection.
                let timeout = default_http.client_header_timeout;
                match Box::pin(crate::net::proxy_protocol::read(&mut stream, timeout)).await {
                    Ok(header) => header.map(Rc::new),
                    Err(Failed::Broken(line)) => {
                        log::error!(
                            "*{id} {line} while reading PROXY protocol, client: {}",
                            peer.host()
                        );
                        return;
                    }
                    Err(Failed::Io(e)) => {
                        log::info!(
                            "*{id} {} while reading PROXY protocol, client: {}",
                            lost(&e),
                            peer.host()
                        );
                        return;
                    }
                }
            } else {
                None
            };
            let (stream, tls) = match &slot.tls {
                None => (ClientStream::Plain(stream), None),
                Some(listener) => {
                    // The handshake counts as part of the first request's head.
                    let timeout = default_http.client_header_timeout;
                    let counts = shard.metrics.block();
                    // Boxed, as every step that only some connections take: a future is as large
                    // as its largest await, and the handshake's was ~38 KB in every idle
                    // connection's task.
                    match Box::pin(tls::accept(stream, listener, timeout, &shard.ocsp_cache)).await
                    {
                        Accepted::Tls { stream, info, sni } => {
                            counts.tls_handshakes.inc();
                            if info.session_reused {
                                counts.tls_resumed.inc();
                            }
                            (
                                stream,
                                Some(h1::TlsConn {
                                    listener: listener.clone(),
                                    info: Rc::new(*info),
                                    sni,
                                }),
                            )
                        }
                        Accepted::PlainHttp(stream) => {
                            counts.tls_failed.inc();
                            log::info!("*{id} client sent plain HTTP request to HTTPS port, client: {peer}");
                            Box::pin(h1::refuse_plain_http(stream, default_http.server_tokens))
                                .await;
                            return;
                        }
                        Accepted::Failed(reason) => {
                            counts.tls_failed.inc();
                            log::info!("*{id} {reason} while SSL handshaking, client: {peer}");
                            return;
                        }
                    }
                }
            };
            let conn = h1::Connection {
                stream,
                index: generation.index.clone(),
                listener: slot.servers.clone(),
                listen: listen_addr,
                generation,
                config,
                shard,
                peer: peer.clone(),
                local,
                proxy,
                id,
                tls,
                tracker,
                zones,
                busy,
                slot: Some(permit),
            };
            crate::serve::dispatch::serve(conn).await;
        };
        crate::serve::spawn_connection(id, client, connection);
    }
}

/// nginx's wording for a connection lost while reading: "client timed out", "client
/// closed connection", else the error itself.
fn lost(e: &std::io::Error) -> std::borrow::Cow<'static, str> {
    match e.kind() {
        std::io::ErrorKind::TimedOut => "client timed out".into(),
        std::io::ErrorKind::UnexpectedEof => "client closed connection".into(),
        _ => e.to_string().into(),
    }
}
