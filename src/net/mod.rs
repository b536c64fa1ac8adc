//! Sockets: listeners built with socket2 (one SO_REUSEPORT socket per address per shard) and
//! the raw syscalls `serve/` uses beside glommio's streams (sendfile, non-blocking mode).

pub mod client;
pub mod listener;
pub mod ocsp;
pub mod proxy_protocol;
pub mod resolver;
pub mod sendfile;
pub mod tls;
pub mod upstream;
pub mod uring_probe;
