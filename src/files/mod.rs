//! Files beneath a root, shared by the phases and the static handler.
//!
//! [`path`] normalises and encodes URI paths (the pipeline's first step, redirects, the
//! static handler's dot-segment rules); [`docroot`] maps a URI to a file under a location's
//! `root` or `alias`, as nginx's `ngx_http_map_uri_to_path`; [`open`] opens it beneath its
//! root without following what `disable_symlinks` forbids. try_files, `$request_filename`
//! and the static handler all import these downward.

pub mod docroot;
pub mod open;
pub mod path;
