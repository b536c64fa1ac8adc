//! Logging: the error log (log + fern, nginx's line shape) and per-shard buffered access logs.
//!
//! `serve/` records one access-log entry after each response is written; the control thread
//! sets up the error log before shards start.

pub mod access;
pub mod error;
pub mod escape;
pub mod format;
