//! Sans-io HTTP/1.x codecs: request heads, bodies (length, chunked, until close), response
//! heads, dates, MIME, host names.
//!
//! Nothing here does I/O, routes, or knows about shards; `serve/` drives these with bytes.

pub mod accel;
pub mod body;
pub mod date;
pub mod hop;
pub mod host;
pub mod mime;
pub mod request;
pub mod request_line;
pub mod response;
pub mod status;
pub mod upstream;
pub mod validators;
