//! Content handlers: exactly one runs per request, chosen by the location's [`Handler`].
//!
//! Handlers turn a routed request into a [`Response`]; they never write to the socket and
//! never call filters (the pipeline does both).
//!
//! [`Handler`]: crate::config::model::Handler

pub mod ret;
pub mod static_files;

use crate::http::response::Response;
