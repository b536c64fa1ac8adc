//! anx: a thread-per-core web server and reverse proxy on io_uring (glommio).
//!
//! The life of a request, and the module that owns each step:
//!
//! ```text
//! accept (shard)        shard/        one pinned glommio executor per core, SO_REUSEPORT listeners
//!   → TLS handshake     net/tls.rs    rustls on the shard (SNI picks the server, tls/)
//!   → connection loop   serve/h1.rs   read, parse, pipelining, keep-alive, write (sendfile)
//!   → codec             http/         httparse heads, bodies (http/body/), response heads (sans-io)
//!   → pipeline          pipeline.rs   the request path in one function:
//!       route           route.rs        server (listen + Host + name regexes), then location
//!                                       (= / longest prefix, nested / ^~ / regex in order)
//!       phases          phases/         server-rewrite → rewrite (rewrite/return/set/if) →
//!                                       try_files; variables, maps, error_page
//!       content         handlers/       static files (root/alias, index, autoindex), proxy
//!   → upstream          serve/proxy.rs  peer choice (upstream/), pool, retries, relay, tunnel
//!       filters         filters/        not-modified → range → headers (add_header, expires);
//!                                       bodies: decoder → filters/body.rs chain → encoder
//!   → log               log/          access log (per-shard buffers, log_format), error log
//!   → counters          metrics/      per-shard blocks each shard writes alone; the status
//!                                     pages (handlers/status/) sum them when asked
//! ```
//!
//! Configuration (`config/`) is loaded and validated by the control thread (`runtime/`) and
//! shared with shards as one immutable `Arc<Config>` per generation (`shard::generation`):
//! a reload publishes a new generation lock-free, and each connection moves to it at its
//! next request.

pub mod cli;
pub mod config;
pub mod context;
pub mod files;
pub mod filters;
pub mod handlers;
pub mod http;
pub mod log;
pub mod metrics;
pub mod net;
pub mod phases;
pub mod pipeline;
pub mod route;
pub mod runtime;
pub mod serve;
pub mod shard;
pub mod tls;
pub mod upstream;
