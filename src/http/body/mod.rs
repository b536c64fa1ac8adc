//! The one body codec: sans-io decoding of message bodies (length, chunked, until close)
//! and their HTTP/1 encoding (identity or chunked with the last chunk and trailers).
//!
//! Every body anx reads or relays goes through here: the client's request body
//! (`serve::body`, and `serve::proxy` when it streams one upstream), the upstream's response
//! body on its way to the client (`serve::proxy` → `filters::body` → [`Encoder`]), and the
//! chunk framing of the static writer (`serve::trailers`). Nothing here does I/O.

pub mod chunked;
pub mod decode;
pub mod encode;

pub use decode::{DecodeError, Decoder, Progress};
pub use encode::Encoder;
