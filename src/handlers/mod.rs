//! Content handlers: exactly one runs per request, chosen by the location's [`Handler`].
//!
//! Handlers turn a routed request into a response; they never write to the socket and never
//! call filters (the pipeline does both). `return` is no handler: it is a rewrite-module
//! directive (`phases::rewrite`), as in nginx.
//!
//! [`Handler`]: crate::config::model::Handler

pub mod proxy;
pub mod proxy_cookie;
pub mod static_files;
pub mod status;
