//! The upstream side of the proxy, per shard: which peer gets a request ([`balance`]),
//! whether another peer is tried after an attempt ([`retry`]), the idle keep-alive
//! connections kept for reuse ([`pool`]), and the process-wide view of the active health
//! checks ([`health`]).
//!
//! `serve::proxy` drives an exchange and calls into these; they hold no sockets of their own
//! except the health prober, which runs on its own thread off the shards.

pub mod balance;
pub mod dns;
pub mod dns_answers;
pub mod health;
pub mod pool;
mod probe_conn;
pub mod retry;
