//! Shards: one pinned glommio executor per core, each owning its listeners and connections.
//!
//! The control thread binds every shard's SO_REUSEPORT sockets (so a busy port fails the
//! start, not a shard), then starts each shard on its own thread with a glommio
//! `LocalExecutor` placed on one core from `core_affinity::get_core_ids()`. A shard accepts on
//! its own sockets and spawns `serve::h1` per connection; a panic inside a connection is
//! caught there and costs only that connection.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use futures_lite::FutureExt;
use glommio::{LocalExecutorBuilder, Placement};

use crate::config::model::{Config, Listen};
use crate::config::snapshot::Snapshot;
use crate::net::listener;
use crate::route::{servers_for_listener, ListenerServers};
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

/// A running shard.
pub struct ShardHandle {
    pub id: usize,
    pub thread: JoinHandle<()>,
}

/// Starts a shard on `core`; returns once it is listening, or with the reason it cannot.
pub fn start(
    id: usize,
    core: Option<usize>,
    listeners: Vec<BoundListener>,
    snapshot: Arc<Snapshot>,
    stop: Arc<AtomicBool>,
) -> Result<ShardHandle, String> {
    let (ready_tx, ready_rx) = crossbeam::channel::bounded::<Result<(), String>>(1);
    let thread = std::thread::Builder::new()
        .name(format!("anx-shard-{id}"))
        .spawn(move || {
            crate::log::error::set_shard(id);
            let placement = match core {
                Some(c) => Placement::Fixed(c),
                None => Placement::Unbound,
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
            executor.run(shard_main(id, listeners, snapshot, stop, ready_tx));
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
    ready: crossbeam::channel::Sender<Result<(), String>>,
) {
    let resources = Rc::new(ShardResources {
        id,
        ..ShardResources::default()
    });
    let mut accept_tasks = Vec::new();
    for bound in listeners {
        let resources = resources.clone();
        let snapshot = snapshot.clone();
        let glommio_listener = listener::into_glommio(bound.socket);
        accept_tasks.push(glommio::spawn_local(accept_loop(
            glommio_listener,
            bound.listen,
            resources,
            snapshot,
        )));
    }
    let _ = ready.send(Ok(()));
    let mut flush_every = snapshot
        .load()
        .servers
        .iter()
        .filter_map(|s| s.access_log.as_ref())
        .map(|l| l.flush)
        .min()
        .unwrap_or(Duration::from_secs(1));
    flush_every = flush_every.max(TICK);
    while !stop.load(Ordering::Relaxed) {
        glommio::timer::sleep(TICK).await;
        resources.access_logs.flush_older_than(flush_every);
    }
    resources.access_logs.flush_all();
    drop(accept_tasks);
}

async fn accept_loop(
    listener: glommio::net::TcpListener,
    listen: Listen,
    resources: Rc<ShardResources>,
    snapshot: Arc<Snapshot>,
) {
    // Routing tables per listener are derived once per configuration generation.
    let mut generation: Option<(Arc<Config>, Rc<ListenerServers>)> = None;
    let mut next_id: u64 = resources.id as u64;
    loop {
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
        let servers = match &generation {
            Some((c, s)) if Arc::ptr_eq(c, &config) => s.clone(),
            _ => {
                let s = Rc::new(servers_for_listener(&config, listen.addr));
                generation = Some((config.clone(), s.clone()));
                s
            }
        };
        let _ = stream.set_nodelay(true);
        let peer = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        // Connection numbers are unique per process: shard id + k × 1024.
        next_id += 1024;
        let conn = h1::Connection {
            stream,
            config,
            listener: servers,
            shard: resources.clone(),
            peer,
            id: next_id,
        };
        glommio::spawn_local(async move {
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
