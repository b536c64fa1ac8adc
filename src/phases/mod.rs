//! The phases of the request path between routing and content, as nginx runs them.
//!
//! `pipeline::run` drives these in order (DESIGN.md §2); none of them calls the next:
//!
//! ```text
//! server-rewrite (rewrite.rs) → find location (route.rs) → rewrite (rewrite.rs)
//!   → access (access.rs) → try_files (try_files.rs) → content → error_page (error_page.rs)
//! ```
//!
//! [`state`] holds what a request carries through them (current URI and args, captures, `set`
//! variables, map results); [`vars`] evaluates every nginx variable and template against it,
//! for the phases, the headers filter and the access log alike. [`docroot`] maps a URI to a
//! file beneath a root or alias, for try_files, the static handler and `$request_filename`.

pub mod access;
pub mod error_page;
pub mod rewrite;
pub mod try_files;
