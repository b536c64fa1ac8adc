//! The request context: what one request carries through the pipeline, and its variables.
//!
//! Not a phase: the data every phase, handler, filter, router and logger reads. [`state`]
//! holds what a request carries (the URI and args as rewritten, captures, `set` variables,
//! map results, upstream facts); [`vars`] is [`vars::Ctx`] (configuration + request +
//! state) and evaluates every nginx variable and template against it. The variable sources
//! that need more than a field live beside it: `map`, `geo`, `split_clients`,
//! `$request_id` and the clock's formats. Everything above (`phases/`, `handlers/`,
//! `filters/`, `log/`, `route`, `pipeline`) imports this; it imports none of them.

pub mod clock;
pub mod geo;
pub mod map;
pub mod request_id;
pub mod split_clients;
pub mod state;
#[cfg(test)]
pub mod testing;
pub mod vars;
