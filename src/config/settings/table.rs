//! The declaration of every scalar inheritable setting, by group (see the module docs of
//! [`super`] for what an entry yields and how to add one).
//!
//! A group is `[name: tree layer => model struct, levels in Layers field; entries]`. Each
//! table macro appends its group to the generator call it is given, so tables chain:
//! `conn_settings! { server_settings! { layer_struct! { … } } }` hands `layer_struct!` both
//! groups. An entry reads
//! `/// doc` `field: Type = nginx default; Kind, toml_key [, nginx "directive" …];`.

/// `tree::HttpLayer` → `model::LocationHttp`: the connection settings a location answers
/// with (http, server and location).
macro_rules! conn_settings {
    ($($gen:ident)::+ ! { $($args:tt)* } $($groups:tt)*) => {
        $($gen)::+! { $($args)* $($groups)*
            [conn: $crate::config::tree::HttpLayer => $crate::config::model::LocationHttp,
                Hsl in conn;
                /// `client_body_timeout`: gap allowed between two reads of a request body
                /// (→ 408).
                client_body_timeout: Duration = Duration::from_secs(60);
                    Time, client_body_timeout;
                /// `keepalive_requests`: requests served on one connection before it is
                /// closed.
                keepalive_requests: u64 = 1000; Count, keepalive_requests;
                /// `keepalive_time`: no new request on a connection older than this.
                keepalive_time: Duration = Duration::from_secs(3600); Time, keepalive_time;
                /// `send_timeout`: gap allowed between two successful writes to the client.
                send_timeout: Duration = Duration::from_secs(60); Time, send_timeout;
                /// `chunked_transfer_encoding`: a response of unknown length to an HTTP/1.1
                /// client goes chunked when on, else ends with the connection.
                chunked_transfer_encoding: bool = true; Flag, chunked_transfer_encoding;
            ]
        }
    };
}
pub(crate) use conn_settings;

/// `tree::HttpLayer` → `model::HttpSettings`: what a server reads before it has chosen a
/// location (http and server only).
macro_rules! server_settings {
    ($($gen:ident)::+ ! { $($args:tt)* } $($groups:tt)*) => {
        $($gen)::+! { $($args)* $($groups)*
            [server: $crate::config::tree::HttpLayer => $crate::config::model::HttpSettings,
                HttpServer in conn;
                /// `client_header_timeout`: the whole request head must arrive within this
                /// (→ 408).
                client_header_timeout: Duration = Duration::from_secs(60);
                    Time, client_header_timeout;
                /// Longest request line in bytes (→ 414). nginx: `large_client_header_buffers`
                /// size.
                max_request_line: usize = 8 * 1024;
                    Size, max_request_line, nginx "anx_max_request_line";
                /// Largest request head (request line + headers) in bytes; also the longest
                /// header line is `max_request_line` (both → nginx's 400 "Request Header Or
                /// Cookie Too Large").
                max_header_bytes: usize = 32 * 1024;
                    Size, max_header_bytes, nginx "anx_max_header_bytes";
                /// Most header fields in one request (→ the same 400).
                max_headers: usize = 100;
                    Count, max_headers, nginx "max_headers" "anx_max_headers";
                /// `merge_slashes`.
                merge_slashes: bool = true; Flag, merge_slashes;
                /// `ignore_invalid_headers`: header fields whose names are not letters, digits
                /// and `-` (and `_` with `underscores_in_headers`) are dropped (on) or kept
                /// (off).
                ignore_invalid_headers: bool = true; Flag, ignore_invalid_headers;
                /// `underscores_in_headers`.
                underscores_in_headers: bool = false; Flag, underscores_in_headers;
            ]
        }
    };
}
pub(crate) use server_settings;
