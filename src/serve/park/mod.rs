//! Parked keep-alive connections: what an idle plain connection shrinks to.
//!
//! A kept-alive HTTP/1 connection that has waited [`PARK_AFTER`] for its next request stops
//! being a task. `serve::h1` turns it into a [`Parked`] record (the socket, the few facts its
//! next request needs, its place in the gauges and in `worker_connections`) and hands it to
//! its shard's [`Parking`]; the task, its buffers, its glommio socket and its timers are
//! freed. The socket waits in the shard's epoll set ([`watcher`]). When it becomes readable
//! the record is taken out and `h1::resume` runs it as a new task; when its
//! `keepalive_timeout` passes, or the shard stops, the record is dropped, which closes it.
//!
//! This keeps an idle connection at a few hundred bytes of user space (nginx: ~500), where a
//! waiting glommio task costs several KB. TLS connections keep their task: their session
//! state is most of their size and cannot be parked this way.

pub mod watcher;

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, FutureExt};

use super::generation::ShardGeneration;
use super::ShardResources;
use crate::config::model::SockAddr;
use crate::metrics::ConnTracker;
use watcher::Watcher;

/// How long a connection waits for its next request as a task before it parks. Short
/// enough that idle connections cost little, long enough that a client sending request
/// after request (a benchmark, a browser loading a page) never pays for parking.
pub const PARK_AFTER: Duration = Duration::from_millis(250);
/// The lot re-checks deadlines and a graceful stop at least this often.
const CHECK: Duration = Duration::from_millis(100);
/// After this many connections parked, the freed task memory is handed back to the kernel
/// (at most once per [`TRIM_GAP`]).
const TRIM_AFTER: usize = 256;
const TRIM_GAP: Duration = Duration::from_secs(1);

/// An idle connection without a task.
pub struct Parked {
    pub fd: OwnedFd,
    pub generation: Rc<ShardGeneration>,
    pub listen: SockAddr,
    pub peer: SockAddr,
    pub local: SockAddr,
    pub proxy: Option<Rc<crate::net::proxy_protocol::ProxyHeader>>,
    pub id: u64,
    pub tracker: ConnTracker,
    pub slot: Option<glommio::sync::StaticPermit>,
    pub requests: u64,
    pub born: Instant,
    /// The idle timeout its next wait gets (that of the location that answered last).
    pub idle_timeout: Duration,
    pub nonblocking: bool,
    /// When `keepalive_timeout` ends it.
    pub deadline: Instant,
}

struct Slot {
    /// Bumped whenever the slot is emptied, so that a stale token or deadline finds nothing.
    stamp: u32,
    parked: Option<Parked>,
}

struct Lot {
    watcher: Watcher,
    metrics: crate::metrics::ShardMetrics,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// (deadline, slot, stamp); entries of connections that woke are skipped when popped.
    deadlines: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    count: usize,
    /// Parked since the heap was last trimmed.
    since_trim: usize,
}

/// A shard's parked connections (started with the first one).
#[derive(Default)]
pub struct Parking {
    lot: RefCell<Option<Lot>>,
}

fn token(slot: u32, stamp: u32) -> u64 {
    (u64::from(stamp) << 32) | u64::from(slot)
}

impl Parking {
    /// Parks `parked`; gives it back when the shard cannot watch it (then it is served as
    /// a task, as before parking existed).
    pub fn park(&self, shard: &Rc<ShardResources>, parked: Parked) -> Result<(), Box<Parked>> {
        if shard.draining() {
            return Err(Box::new(parked));
        }
        if self.lot.borrow().is_none() {
            match Watcher::start() {
                Ok((watcher, tokens)) => {
                    *self.lot.borrow_mut() = Some(Lot {
                        watcher,
                        metrics: shard.metrics.clone(),
                        slots: Vec::new(),
                        free: Vec::new(),
                        deadlines: BinaryHeap::new(),
                        count: 0,
                        since_trim: 0,
                    });
                    // SAFETY: the descriptor is moved out of `tokens`, which is not used again.
                    let tokens =
                        unsafe { glommio::net::UnixStream::from_raw_fd(tokens.into_raw_fd()) };
                    // glommio may run a new task at once: no borrow of the lot is held here.
                    glommio::spawn_local(run(shard.clone(), tokens)).detach();
                }
                Err(e) => {
                    log::warn!("cannot park idle connections ({e}); they keep their tasks");
                    return Err(Box::new(parked));
                }
            }
        }
        let mut lot = self.lot.borrow_mut();
        let Some(lot) = lot.as_mut() else {
            return Err(Box::new(parked));
        };
        let slot = match lot.free.pop() {
            Some(s) => s,
            None => {
                lot.slots.push(Slot {
                    stamp: 0,
                    parked: None,
                });
                (lot.slots.len() - 1) as u32
            }
        };
        let stamp = lot.slots[slot as usize].stamp;
        if lot
            .watcher
            .watch_once(parked.fd.as_raw_fd(), token(slot, stamp))
            .is_err()
        {
            lot.free.push(slot);
            return Err(Box::new(parked));
        }
        lot.deadlines.push(Reverse((parked.deadline, slot, stamp)));
        lot.slots[slot as usize].parked = Some(parked);
        lot.count += 1;
        lot.since_trim += 1;
        lot.metrics.block().parked.add(1);
        // Woken connections leave their deadlines behind; rebuilt when they outnumber the
        // live ones, so a connection that parks every second does not grow the heap.
        if lot.deadlines.len() > 2 * lot.count + 1024 {
            let slots = &lot.slots;
            let live = |&Reverse((_, s, st)): &Reverse<(Instant, u32, u32)>| {
                slots[s as usize].stamp == st && slots[s as usize].parked.is_some()
            };
            let kept: Vec<_> = lot.deadlines.drain().filter(live).collect();
            lot.deadlines = kept.into();
        }
        Ok(())
    }

    /// Connections parked now (`anx_connections_parked`).
    pub fn count(&self) -> usize {
        self.lot.borrow().as_ref().map_or(0, |l| l.count)
    }

    fn take(lot: &mut Lot, slot: u32, stamp: u32) -> Option<Parked> {
        let entry = lot.slots.get_mut(slot as usize)?;
        if entry.stamp != stamp {
            return None;
        }
        let parked = entry.parked.take()?;
        entry.stamp = entry.stamp.wrapping_add(1);
        lot.free.push(slot);
        lot.count -= 1;
        lot.metrics.block().parked.add(-1);
        Some(parked)
    }

    /// The connection a watcher token names, out of the epoll set.
    fn wake(&self, token: u64) -> Option<Parked> {
        let mut lot = self.lot.borrow_mut();
        let lot = lot.as_mut()?;
        let parked = Self::take(lot, token as u32, (token >> 32) as u32)?;
        lot.watcher.forget(parked.fd.as_raw_fd());
        Some(parked)
    }

    /// Closes the connections whose keep-alive time is over.
    fn expire(&self, now: Instant) {
        let mut closed = Vec::new();
        if let Some(lot) = self.lot.borrow_mut().as_mut() {
            while let Some(&Reverse((deadline, slot, stamp))) = lot.deadlines.peek() {
                if deadline > now {
                    break;
                }
                lot.deadlines.pop();
                closed.extend(Self::take(lot, slot, stamp));
            }
        }
        // Dropped outside the borrow: a record's drop updates gauges and frees its slot.
        drop(closed);
    }

    /// Whether enough connections parked since the last trim to make one worth it.
    fn trim_due(&self) -> bool {
        let mut lot = self.lot.borrow_mut();
        match lot.as_mut() {
            Some(l) if l.since_trim >= TRIM_AFTER => {
                l.since_trim = 0;
                true
            }
            _ => false,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let lot = self.lot.borrow();
        lot.as_ref()?.deadlines.peek().map(|Reverse((d, _, _))| *d)
    }

    /// Closes every parked connection (a graceful stop, or the watcher gone).
    pub fn close_all(&self) {
        let mut closed = Vec::new();
        if let Some(lot) = self.lot.borrow_mut().as_mut() {
            for slot in &mut lot.slots {
                if let Some(p) = slot.parked.take() {
                    slot.stamp = slot.stamp.wrapping_add(1);
                    closed.push(p);
                }
            }
            lot.free = (0..lot.slots.len() as u32).collect();
            lot.deadlines.clear();
            lot.metrics.block().parked.add(-(lot.count as i64));
            lot.count = 0;
        }
        drop(closed);
    }
}

/// The shard's parking task: wakes connections whose sockets fired, closes those past their
/// deadline, and ends with the shard.
async fn run(shard: Rc<ShardResources>, mut tokens: glommio::net::UnixStream) {
    let mut buf = [0u8; 512];
    let mut pending = Vec::new();
    let mut trimmed = Instant::now();
    loop {
        if shard.draining() {
            shard.parking.close_all();
            return;
        }
        let now = Instant::now();
        let wait = shard
            .parking
            .next_deadline()
            .map_or(CHECK, |d| d.saturating_duration_since(now).min(CHECK));
        let read = async { Some(tokens.read(&mut buf).await) };
        let sleep = async {
            glommio::timer::sleep(wait).await;
            None
        };
        let got = read.or(sleep).await;
        match got {
            Some(Ok(n)) if n > 0 => watcher::take_tokens(&mut pending, &buf[..n], |t| {
                if let Some(parked) = shard.parking.wake(t) {
                    super::h1::resume(parked, shard.clone());
                }
            }),
            Some(_) => {
                log::error!("the parked-connection watcher of shard {} ended", shard.id);
                shard.parking.close_all();
                // The next park starts a new watcher and task; this lot's set has no reader.
                shard.parking.lot.borrow_mut().take();
                return;
            }
            None => {}
        }
        let now = Instant::now();
        shard.parking.expire(now);
        // The tasks of parked connections were freed, but glibc keeps freed memory in the
        // middle of its heap mapped; a burst of parking leaves MBs resident without this.
        if now.duration_since(trimmed) >= TRIM_GAP && shard.parking.trim_due() {
            trimmed = now;
            // SAFETY: malloc_trim has no preconditions.
            unsafe { libc::malloc_trim(0) };
        }
    }
}
