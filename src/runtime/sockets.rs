//! The listening sockets of every shard, as the control thread keeps track of them.
//!
//! Each listen address of the configuration has one SO_REUSEPORT socket per shard, all
//! named by one id. At start every address is bound; a reload binds only addresses that are
//! new (or whose backlog changed) and names the ids shards must close, so sockets that stay
//! are never closed and no connection waiting in their backlog is lost. Binding happens here,
//! on the control thread, so a busy port fails the start or the reload, never a shard.

use crate::config::model::{Config, Listen, SockAddr};
use crate::net::listener;
use crate::shard::BoundListener;

/// One listen address, bound on every shard.
struct Entry {
    id: u64,
    listen: Listen,
    /// The address the sockets are bound to (the kernel's port when the config says 0).
    bound: SockAddr,
}

/// What a new configuration changes about the sockets.
pub struct Plan {
    pub add: Vec<Listen>,
    pub remove: Vec<u64>,
}

#[derive(Default)]
pub struct Sockets {
    entries: Vec<Entry>,
    next_id: u64,
}

/// Two listens can share sockets when the socket options are the same; `ssl`,
/// `proxy_protocol` and `default_server` are read per connection, so they may change on a
/// reload.
fn same_socket(a: &Listen, b: &Listen) -> bool {
    a.addr == b.addr && a.backlog == b.backlog && a.rcvbuf == b.rcvbuf && a.sndbuf == b.sndbuf
}

impl Sockets {
    /// Binds every listen address of `config` on `shards` shards (start-up).
    pub fn bind_new(
        &mut self,
        config: &Config,
        shards: usize,
    ) -> Result<Vec<Vec<BoundListener>>, String> {
        self.bind_listens(&config.listen_addrs(), shards)
    }

    /// Which addresses `config` adds and which sockets it no longer uses.
    pub fn plan(&self, config: &Config) -> Plan {
        let wanted = config.listen_addrs();
        let add = wanted
            .iter()
            .filter(|l| !self.entries.iter().any(|e| same_socket(&e.listen, l)))
            .cloned()
            .collect();
        let remove = self
            .entries
            .iter()
            .filter(|e| !wanted.iter().any(|l| same_socket(&e.listen, l)))
            .map(|e| e.id)
            .collect();
        Plan { add, remove }
    }

    /// Binds `listens` once per shard; on failure nothing stays bound or recorded.
    pub fn bind_listens(
        &mut self,
        listens: &[Listen],
        shards: usize,
    ) -> Result<Vec<Vec<BoundListener>>, String> {
        let mut per_shard: Vec<Vec<BoundListener>> = (0..shards).map(|_| Vec::new()).collect();
        let mut entries = Vec::new();
        for listen in listens {
            // A port the kernel chose stays the same across a rebind of the same address.
            let mut actual = listen.clone();
            if let Some(e) = self.entries.iter().find(|e| e.listen.addr == listen.addr) {
                actual.addr = e.bound.clone();
            }
            let id = self.next_id + entries.len() as u64;
            let bind = |l: &Listen| {
                listener::bind(l)
                    .or_else(|e| super::privilege::bind_denied(l, e))
                    .map_err(|e| format!("bind() to {} failed ({e})", l.addr))
            };
            // A Unix socket file has one socket: every shard accepts on a copy of it.
            let unix = match actual.addr {
                SockAddr::Unix(_) => Some(bind(&actual)?),
                SockAddr::Inet(_) => None,
            };
            for (i, bucket) in per_shard.iter_mut().enumerate() {
                let socket = match &unix {
                    Some(s) => s
                        .try_clone()
                        .map_err(|e| format!("dup() of {} failed ({e})", actual.addr))?,
                    None => bind(&actual)?,
                };
                if i == 0 && unix.is_none() {
                    if let Some(local) = socket.local_addr().ok().and_then(|a| a.as_socket()) {
                        actual.addr = SockAddr::Inet(local);
                    }
                }
                bucket.push(BoundListener {
                    id,
                    listen: listen.clone(),
                    local: actual.addr.clone(),
                    socket,
                });
            }
            entries.push(Entry {
                id,
                listen: listen.clone(),
                bound: actual.addr,
            });
        }
        for e in &entries {
            eprintln!("anx: listening on {}", e.bound);
        }
        self.next_id += entries.len() as u64;
        self.entries.extend(entries);
        Ok(per_shard)
    }

    /// Drops the record of sockets the shards have closed (and the socket file of a Unix
    /// address no socket is left on).
    pub fn forget(&mut self, ids: &[u64]) {
        for e in self.entries.iter().filter(|e| ids.contains(&e.id)) {
            log::info!("reload: no longer listening on {}", e.bound);
        }
        let (gone, kept): (Vec<Entry>, Vec<Entry>) =
            self.entries.drain(..).partition(|e| ids.contains(&e.id));
        for e in gone {
            if !kept.iter().any(|k| k.bound == e.bound) {
                listener::remove_socket_file(&e.bound);
            }
        }
        self.entries = kept;
    }

    /// Removes the socket files of every Unix address (at the end of a stop, once the
    /// shards have closed their sockets).
    pub fn remove_socket_files(&self) {
        for e in &self.entries {
            listener::remove_socket_file(&e.bound);
        }
    }
}
