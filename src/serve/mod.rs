//! The per-connection layer: it owns the socket and drives the codec and the pipeline.
//!
//! `shard/` accepts a connection and spawns [`h1::serve`] on it with the shard's
//! [`ShardResources`]; everything below (`pipeline`, handlers, filters, codecs) is sans-io.

pub mod accel;
pub mod body;
pub mod buffers;
pub mod dispatch;
pub mod generation;
pub mod h1;
pub mod park;
pub mod post_action;
pub mod proxy;
pub mod rate;
pub mod spill;
pub mod trailers;
pub mod tunnel;
pub mod upstreams;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::handlers::static_files::StaticState;
use crate::log::access::AccessLogs;
use crate::metrics::ShardMetrics;
use crate::shard::generation::{Current, Generation};
use generation::ShardGeneration;

/// What one shard shares between its connections (never between shards).
#[derive(Default)]
pub struct ShardResources {
    pub id: usize,
    pub buffers: buffers::BufferPool,
    /// The proxy's relay buffers (64 KiB each, kept full-length: never zeroed again).
    pub relay_buffers: buffers::BufferPool,
    pub statics: RefCell<StaticState>,
    pub access_logs: AccessLogs,
    /// The newest generation this shard has seen (use [`ShardResources::generation`]).
    current: RefCell<Option<Rc<ShardGeneration>>>,
    /// Set by a graceful stop: answers say `Connection: close` and idle connections end.
    draining: Cell<bool>,
    /// Connections in the middle of a request (head partly read, or being answered).
    busy: Rc<Cell<usize>>,
    /// This shard's counters in the process's registry (`metrics/`).
    pub metrics: ShardMetrics,
    /// Connections this shard has numbered (all its listeners together).
    numbered: Cell<u64>,
    /// `ssl_ocsp_cache`: this shard's answers about client certificates.
    pub ocsp_cache: RefCell<crate::tls::ocsp::client::Cache>,
    /// A task is queued to write the unbuffered access logs' lines.
    log_flush_queued: Cell<bool>,
    /// When that task last wrote.
    log_written: Cell<Option<Instant>>,
    /// Idle keep-alive connections parked without a task.
    pub parking: park::Parking,
}

/// The least time between two writes of the unbuffered access logs by
/// [`ShardResources::flush_logs_soon`] (a connection that closes writes at once).
const LOG_WRITE_GAP: Duration = Duration::from_millis(1);

impl ShardResources {
    pub fn new(id: usize, metrics: ShardMetrics) -> ShardResources {
        ShardResources {
            id,
            metrics,
            ..ShardResources::default()
        }
    }

    /// The next connection's `$connection`: unique in the process without a shared counter
    /// (shard i of n numbers i+1, i+1+n, i+1+2n, …), and on one shard 1, 2, 3… as nginx's
    /// single worker does, so hashes of it (split_clients) split as nginx's do.
    pub fn number_connection(&self) -> u64 {
        let k = self.numbered.get();
        self.numbered.set(k + 1);
        let shards = self.metrics.registry().shards().len().max(1) as u64;
        k * shards + self.id as u64 + 1
    }

    /// Writes the lines of access logs without `buffer=` once the shard has run the tasks
    /// ready now: one queued task (behind them) writes what they all logged, so an idle
    /// shard writes a line right after its response. Under load the writes are spaced
    /// [`LOG_WRITE_GAP`] apart, each taking the lines of every request in between.
    pub fn flush_logs_soon(self: &Rc<Self>) {
        if !self.access_logs.has_due() || self.log_flush_queued.replace(true) {
            return;
        }
        let shard = self.clone();
        glommio::spawn_local(async move {
            let since = shard.log_written.get().map(|t| t.elapsed());
            match since {
                Some(since) if since < LOG_WRITE_GAP => {
                    glommio::timer::sleep(LOG_WRITE_GAP - since).await
                }
                _ => futures_lite::future::yield_now().await,
            }
            shard.log_flush_queued.set(false);
            shard.access_logs.flush_due();
            shard.log_written.set(Some(Instant::now()));
        })
        .detach();
    }

    /// What the status pages read: the registry and the health checks' verdicts of the
    /// generation the request runs under (their indexes are that configuration's).
    pub fn status_sources<'a>(
        &'a self,
        generation: &'a ShardGeneration,
    ) -> crate::handlers::status::Sources<'a> {
        crate::handlers::status::Sources {
            registry: self.metrics.registry(),
            health: generation.shared.health.as_deref(),
        }
    }

    /// This shard's state for `shared`, built the first time the shard meets it. Only the
    /// newest generation is kept here; connections still on an older one hold their own.
    pub fn generation(&self, shared: &Arc<Generation>) -> Rc<ShardGeneration> {
        let mut current = self.current.borrow_mut();
        if let Some(g) = current.as_ref().filter(|g| Arc::ptr_eq(&g.shared, shared)) {
            return g.clone();
        }
        // A connection that started before a reload may meet an older generation than the
        // newest; it gets a state of its own and the shard's stays the newest.
        if let Some(g) = current.as_ref() {
            if g.shared.number > shared.number {
                return Rc::new(ShardGeneration::build(
                    shared.clone(),
                    Some(g),
                    &self.metrics,
                ));
            }
        }
        let built = Rc::new(ShardGeneration::build(
            shared.clone(),
            current.as_deref(),
            &self.metrics,
        ));
        if let Some(old) = current.as_ref() {
            // Cached files carry a Content-Type and fields made from the MIME table and the
            // servers' file settings; the cache survives a reload that changed neither.
            let (a, b) = (old.config(), built.config());
            if a.mime != b.mime || a.servers != b.servers {
                self.statics.borrow_mut().cache.clear();
            }
        }
        *current = Some(built.clone());
        built
    }

    /// The shard's state for the process's current generation (`current`), adopting it first
    /// if a reload published it since.
    pub fn refresh(&self, current: &Current) -> Rc<ShardGeneration> {
        let known = self.current.borrow().clone();
        match known {
            Some(g) => match current.newer_than(&g.shared) {
                Some(newer) => self.generation(&newer),
                None => g,
            },
            None => self.generation(&current.load()),
        }
    }

    /// The newest generation this shard has adopted, if it is not `than`.
    pub fn newer_than(&self, than: &Rc<ShardGeneration>) -> Option<Rc<ShardGeneration>> {
        let current = self.current.borrow();
        let newest = current.as_ref()?;
        (!Rc::ptr_eq(newest, than) && newest.shared.number > than.shared.number)
            .then(|| newest.clone())
    }

    /// Closes pooled upstream connections idle past their `keepalive_timeout`.
    pub fn expire_upstreams(&self, now: std::time::Instant) {
        if let Some(g) = self.current.borrow().as_ref() {
            g.upstreams.expire(now);
        }
    }

    pub fn draining(&self) -> bool {
        self.draining.get()
    }

    pub fn start_draining(&self) {
        self.draining.set(true);
    }

    /// Connections in the middle of a request.
    pub fn busy(&self) -> usize {
        self.busy.get()
    }
}

/// Runs a connection's task, fenced: a panic anywhere in it ends this connection, logged at
/// alert, and the shard serves on.
pub fn spawn_connection(
    id: u64,
    client: crate::config::model::SockAddr,
    connection: impl std::future::Future<Output = ()> + 'static,
) {
    use futures_lite::FutureExt;
    // Boxed: an async block that awaits a future it captured keeps two copies of it.
    let connection = Box::pin(connection);
    glommio::spawn_local(async move {
        if let Err(panic) = std::panic::AssertUnwindSafe(connection)
            .catch_unwind()
            .await
        {
            let what = crate::log::panic_text(&*panic);
            log::error!(
                target: crate::log::error::ALERT,
                "*{id} connection panicked ({what}), client: {}; closed, the shard serves on",
                client.host()
            );
        }
    })
    .detach();
}

/// Counts a connection as busy (accepted, or in the middle of a request, or with an answer
/// not yet sent) while set; a graceful stop waits for the shard's count to reach zero. It
/// starts set, and unsets itself when dropped, however the connection ends (panics too).
pub struct BusyMark {
    count: Rc<Cell<usize>>,
    marked: bool,
}

impl BusyMark {
    pub fn new(shard: &ShardResources) -> BusyMark {
        shard.busy.set(shard.busy.get() + 1);
        BusyMark {
            count: shard.busy.clone(),
            marked: true,
        }
    }

    pub fn set(&mut self, busy: bool) {
        if self.marked != busy {
            self.marked = busy;
            let n = self.count.get();
            self.count
                .set(if busy { n + 1 } else { n.saturating_sub(1) });
        }
    }
}

impl Drop for BusyMark {
    fn drop(&mut self) {
        self.set(false);
    }
}
