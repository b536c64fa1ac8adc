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

/// `tree::ProxyLayer` → `model::ProxySettings`: how a `proxy_pass` location talks to its
/// upstream (http, server and location; the model holds them where a `proxy_pass` is).
macro_rules! proxy_settings {
    ($($gen:ident)::+ ! { $($args:tt)* } $($groups:tt)*) => {
        $($gen)::+! { $($args)* $($groups)*
            [proxy: $crate::config::tree::ProxyLayer => $crate::config::model::ProxySettings,
                Hsl in proxy;
                /// `proxy_connect_timeout` (default 60s) → 504 when it passes.
                connect_timeout: Duration = Duration::from_secs(60);
                    Time, proxy_connect_timeout;
                /// `proxy_read_timeout` (default 60s): between two reads from the upstream →
                /// 504.
                read_timeout: Duration = Duration::from_secs(60); Time, proxy_read_timeout;
                /// `proxy_send_timeout` (default 60s): between two writes to the upstream →
                /// 504.
                send_timeout: Duration = Duration::from_secs(60); Time, proxy_send_timeout;
                /// `proxy_next_upstream_tries` (0 = unlimited, the default).
                next_upstream_tries: u32 = 0; Count, proxy_next_upstream_tries;
                /// `proxy_next_upstream_timeout` (zero = unlimited, the default).
                next_upstream_timeout: Duration = Duration::ZERO;
                    Time, proxy_next_upstream_timeout;
                /// `proxy_buffering` (default on). Off: each chunk read from the upstream is
                /// written to the client at once. On: anx still streams through a bounded
                /// buffer (it never spools to disk); the difference is how eagerly it
                /// flushes.
                buffering: bool = true; Flag, proxy_buffering;
                /// `proxy_request_buffering` (default on): read the whole client body before
                /// connecting (bounded by `client_max_body_size`; a body that does not fit in
                /// memory is streamed).
                request_buffering: bool = true; Flag, proxy_request_buffering;
                /// `proxy_buffer_size` (default 4k, nginx's page size; anx allows up to this
                /// for the upstream's response head) — a longer head is an invalid header
                /// (502).
                buffer_size: usize = $crate::config::model::proxy::DEFAULT_PROXY_BUFFER_SIZE;
                    Size, proxy_buffer_size;
                /// `proxy_intercept_errors` (default off): upstream responses ≥ 300 go to
                /// error_page.
                intercept_errors: bool = false; Flag, proxy_intercept_errors;
                /// `proxy_ignore_client_abort` (default off): off, a client that closes while
                /// the upstream has not answered ends the exchange (499); on, the exchange
                /// runs on.
                ignore_client_abort: bool = false; Flag, proxy_ignore_client_abort;
                /// `proxy_pass_request_headers` (default on).
                pass_request_headers: bool = true; Flag, proxy_pass_request_headers;
                /// `proxy_pass_request_body` (default on).
                pass_request_body: bool = true; Flag, proxy_pass_request_body;
                /// `resolver_timeout` (default 30s): how long one name may take to resolve →
                /// 502.
                resolver_timeout: Duration = $crate::config::model::proxy::DEFAULT_RESOLVER_TIMEOUT;
                    Time, resolver_timeout;
                /// `proxy_limit_rate` (bytes a second; 0, the default, is no limit): how fast
                /// the response is read from the upstream, per request.
                limit_rate: u64 = 0; Size, proxy_limit_rate;
            ]
        }
    };
}
pub(crate) use proxy_settings;

/// `tree::FileLayer` → `model::FileSettings`: how the static handler serves files (http,
/// server and location).
macro_rules! files_settings {
    ($($gen:ident)::+ ! { $($args:tt)* } $($groups:tt)*) => {
        $($gen)::+! { $($args)* $($groups)*
            [files: $crate::config::tree::FileLayer => $crate::config::model::FileSettings,
                Hsl in files;
                /// `log_not_found`: a missing file is logged at `error` (nginx's default:
                /// on).
                log_not_found: bool = true; Flag, log_not_found;
                /// Serve names starting with '.' (nginx serves them; anx refuses them by
                /// default).
                allow_dotfiles: bool = false; Flag, allow_dotfiles, nginx "anx_allow_dotfiles";
                /// `etag on|off`.
                etag: bool = true; Flag, etag;
                /// Files up to this size are kept in the shard's memory cache (0 disables the
                /// cache).
                memory_cache_max_file: u64 = 64 * 1024;
                    Size, memory_cache_max_file, nginx "anx_memory_cache_max_file";
                /// Bound of the shard's memory cache in bytes.
                memory_cache_bytes: u64 = 64 * 1024 * 1024;
                    Size, memory_cache_bytes, nginx "anx_memory_cache_bytes";
                /// Ranges allowed in one request before the full body is sent (`max_ranges`).
                max_ranges: usize = 16; Count, max_ranges;
            ]
        }
    };
}
pub(crate) use files_settings;
