//! nginx's modules, and whether anx has each one: the one table behind `anx -V`'s
//! `configure arguments:` line, `load_module`, and the error for a directive of a module anx
//! lacks.
//!
//! Read on the control thread only (command line and configuration loading). Tools read
//! `nginx -V` to learn what a build can do (nginx's own test suite decides from it which
//! tests to run; certbot's nginx plugin reads the version), so the line must be honest: a
//! module nginx builds by default appears as `--without-http_<x>_module` when anx lacks it,
//! an optional one as `--with-http_<x>_module` only when anx has it. A unit test keeps this
//! table and the directive table in step: no directive anx accepts belongs to a module
//! listed as missing, and every accepted directive belongs to some module here.

/// How nginx's `configure` treats a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// Always compiled in (core, http core, index, static, log, headers, upstream…): no
    /// configure switch names it.
    Always,
    /// Compiled in unless `--without-<flag>` is given.
    Default,
    /// Compiled in only with `--with-<flag>`.
    Optional,
}

/// One nginx module and anx's status for it.
#[derive(Debug)]
pub struct Module {
    /// nginx's module name, as in `ngx_http_gzip_module` (`load_module` names its `.so`).
    pub name: &'static str,
    /// The configure switch's stem, as in `http_gzip_module` or `http-cache`.
    pub flag: &'static str,
    pub build: Build,
    /// Whether anx implements the module's function (in full or in part: the directive table
    /// says which directives).
    pub in_anx: bool,
    /// The module's directives: exact names, or a stem ending in `*` for a family
    /// (`fastcgi_*`).
    pub directives: &'static [&'static str],
    /// For a missing module: what anx offers instead, or which issue brings it.
    pub instead: &'static str,
}

const fn has(
    name: &'static str,
    flag: &'static str,
    build: Build,
    directives: &'static [&'static str],
) -> Module {
    Module {
        name,
        flag,
        build,
        in_anx: true,
        directives,
        instead: "",
    }
}

const fn lacks(
    name: &'static str,
    flag: &'static str,
    build: Build,
    directives: &'static [&'static str],
    instead: &'static str,
) -> Module {
    Module {
        name,
        flag,
        build,
        in_anx: false,
        directives,
        instead,
    }
}

use Build::{Always, Default, Optional};

const LATER: &str = "not in anx yet";
const COMPRESSION: &str = "compression is planned";
const SECURITY: &str = "access rules, auth and limits are planned";
const HTTP2: &str = "HTTP/2 and gRPC are planned";
const CACHE: &str = "proxy caching is planned";

/// Every nginx module anx knows of, in nginx's order (auto/modules), then third-party
/// modules Debian enables by default.
pub const MODULES: &[Module] = &[
    has(
        "ngx_core_module",
        "core",
        Always,
        &[
            "daemon",
            "master_process",
            "timer_resolution",
            "pid",
            "lock_file",
            "worker_processes",
            "debug_points",
            "user",
            "worker_priority",
            "worker_cpu_affinity",
            "worker_rlimit_nofile",
            "worker_rlimit_core",
            "worker_shutdown_timeout",
            "working_directory",
            "env",
            "load_module",
            "pcre_jit",
            "thread_pool",
            "error_log",
            "include",
        ],
    ),
    has(
        "ngx_events_module",
        "events",
        Always,
        &[
            "events",
            "worker_connections",
            "use",
            "multi_accept",
            "accept_mutex",
            "accept_mutex_delay",
            "debug_connection",
            "worker_aio_requests",
        ],
    ),
    has(
        "ngx_http_core_module",
        "http",
        Always,
        &[
            "http",
            "server",
            "location",
            "listen",
            "server_name",
            "types",
            "types_hash_*",
            "variables_hash_*",
            "server_names_hash_*",
            "default_type",
            "root",
            "alias",
            "limit_except",
            "client_*",
            "large_client_header_buffers",
            "ignore_invalid_headers",
            "merge_slashes",
            "underscores_in_headers",
            "internal",
            "sendfile",
            "sendfile_max_chunk",
            "subrequest_output_buffer_size",
            "aio",
            "aio_write",
            "read_ahead",
            "directio",
            "directio_alignment",
            "tcp_nopush",
            "tcp_nodelay",
            "send_timeout",
            "send_lowat",
            "postpone_output",
            "limit_rate",
            "limit_rate_after",
            "keepalive_*",
            "satisfy",
            "auth_delay",
            "connection_pool_size",
            "request_pool_size",
            "lingering_*",
            "reset_timedout_connection",
            "absolute_redirect",
            "server_name_in_redirect",
            "port_in_redirect",
            "msie_padding",
            "msie_refresh",
            "log_not_found",
            "log_subrequest",
            "recursive_error_pages",
            "server_tokens",
            "if_modified_since",
            "max_ranges",
            "chunked_transfer_encoding",
            "etag",
            "error_page",
            "post_action",
            "error_log",
            "open_file_cache",
            "open_file_cache_*",
            "resolver",
            "resolver_timeout",
            "disable_symlinks",
            "try_files",
            "output_buffers",
            "early_hints",
            "max_headers",
        ],
    ),
    has(
        "ngx_http_log_module",
        "http_log",
        Always,
        &["access_log", "log_format", "open_log_file_cache"],
    ),
    has(
        "ngx_http_upstream_module",
        "http_upstream",
        Always,
        &["upstream", "server"],
    ),
    has("ngx_http_static_module", "http_static", Always, &[]),
    has("ngx_http_index_module", "http_index", Always, &["index"]),
    has(
        "ngx_http_headers_module",
        "http_headers",
        Always,
        &["add_header", "add_trailer", "expires"],
    ),
    has(
        "ngx_http_ssl_module",
        "http_ssl_module",
        Optional,
        &["ssl", "ssl_*"],
    ),
    lacks(
        "ngx_http_v2_module",
        "http_v2_module",
        Optional,
        &["http2", "http2_*"],
        HTTP2,
    ),
    lacks(
        "ngx_http_v3_module",
        "http_v3_module",
        Optional,
        &["http3", "http3_*", "quic_*"],
        HTTP2,
    ),
    lacks(
        "ngx_http_charset_module",
        "http_charset_module",
        Default,
        &[
            "charset",
            "charset_map",
            "charset_types",
            "source_charset",
            "override_charset",
        ],
        LATER,
    ),
    lacks(
        "ngx_http_gzip_module",
        "http_gzip_module",
        Default,
        &[
            "gzip",
            "gzip_buffers",
            "gzip_comp_level",
            "gzip_disable",
            "gzip_hash",
            "gzip_http_version",
            "gzip_min_length",
            "gzip_no_buffer",
            "gzip_proxied",
            "gzip_types",
            "gzip_vary",
            "gzip_window",
        ],
        COMPRESSION,
    ),
    lacks(
        "ngx_http_gunzip_module",
        "http_gunzip_module",
        Optional,
        &["gunzip", "gunzip_buffers"],
        COMPRESSION,
    ),
    lacks(
        "ngx_http_gzip_static_module",
        "http_gzip_static_module",
        Optional,
        &["gzip_static"],
        COMPRESSION,
    ),
    lacks(
        "ngx_http_ssi_module",
        "http_ssi_module",
        Default,
        &["ssi", "ssi_*"],
        LATER,
    ),
    lacks(
        "ngx_http_userid_module",
        "http_userid_module",
        Default,
        &["userid", "userid_*"],
        LATER,
    ),
    lacks(
        "ngx_http_realip_module",
        "http_realip_module",
        Optional,
        &["set_real_ip_from", "real_ip_header", "real_ip_recursive"],
        SECURITY,
    ),
    lacks(
        "ngx_http_addition_module",
        "http_addition_module",
        Optional,
        &["add_before_body", "add_after_body", "addition_types"],
        LATER,
    ),
    lacks(
        "ngx_http_xslt_filter_module",
        "http_xslt_module",
        Optional,
        &["xslt_*", "xml_entities"],
        LATER,
    ),
    lacks(
        "ngx_http_image_filter_module",
        "http_image_filter_module",
        Optional,
        &["image_filter", "image_filter_*"],
        LATER,
    ),
    lacks(
        "ngx_http_geoip_module",
        "http_geoip_module",
        Optional,
        &["geoip_*"],
        LATER,
    ),
    lacks(
        "ngx_http_sub_module",
        "http_sub_module",
        Optional,
        &["sub_filter", "sub_filter_*"],
        LATER,
    ),
    lacks(
        "ngx_http_dav_module",
        "http_dav_module",
        Optional,
        &[
            "dav_methods",
            "dav_access",
            "create_full_put_path",
            "min_delete_depth",
        ],
        LATER,
    ),
    lacks(
        "ngx_http_flv_module",
        "http_flv_module",
        Optional,
        &["flv"],
        LATER,
    ),
    lacks(
        "ngx_http_mp4_module",
        "http_mp4_module",
        Optional,
        &["mp4", "mp4_*"],
        LATER,
    ),
    lacks(
        "ngx_http_auth_request_module",
        "http_auth_request_module",
        Optional,
        &["auth_request", "auth_request_set"],
        SECURITY,
    ),
    lacks(
        "ngx_http_random_index_module",
        "http_random_index_module",
        Optional,
        &["random_index"],
        LATER,
    ),
    lacks(
        "ngx_http_secure_link_module",
        "http_secure_link_module",
        Optional,
        &["secure_link", "secure_link_md5", "secure_link_secret"],
        SECURITY,
    ),
    lacks(
        "ngx_http_degradation_module",
        "http_degradation_module",
        Optional,
        &["degradation", "degrade"],
        LATER,
    ),
    lacks(
        "ngx_http_slice_module",
        "http_slice_module",
        Optional,
        &["slice"],
        CACHE,
    ),
    has(
        "ngx_http_stub_status_module",
        "http_stub_status_module",
        Optional,
        &["stub_status"],
    ),
    lacks(
        "ngx_http_perl_module",
        "http_perl_module",
        Optional,
        &["perl", "perl_modules", "perl_require", "perl_set"],
        LATER,
    ),
    lacks(
        "ngx_http_mirror_module",
        "http_mirror_module",
        Default,
        &["mirror", "mirror_request_body"],
        LATER,
    ),
    has(
        "ngx_http_autoindex_module",
        "http_autoindex_module",
        Default,
        &["autoindex", "autoindex_*"],
    ),
    has(
        "ngx_http_access_module",
        "http_access_module",
        Default,
        &["allow", "deny"],
    ),
    lacks(
        "ngx_http_auth_basic_module",
        "http_auth_basic_module",
        Default,
        &["auth_basic", "auth_basic_user_file"],
        SECURITY,
    ),
    has("ngx_http_geo_module", "http_geo_module", Default, &["geo"]),
    has(
        "ngx_http_map_module",
        "http_map_module",
        Default,
        &["map", "map_hash_*"],
    ),
    has(
        "ngx_http_split_clients_module",
        "http_split_clients_module",
        Default,
        &["split_clients"],
    ),
    lacks(
        "ngx_http_referer_module",
        "http_referer_module",
        Default,
        &["valid_referers", "referer_hash_*"],
        SECURITY,
    ),
    has(
        "ngx_http_rewrite_module",
        "http_rewrite_module",
        Default,
        &[
            "rewrite",
            "return",
            "break",
            "if",
            "set",
            "rewrite_log",
            "uninitialized_variable_warn",
        ],
    ),
    has(
        "ngx_http_proxy_module",
        "http_proxy_module",
        Default,
        &["proxy_*"],
    ),
    lacks(
        "ngx_http_fastcgi_module",
        "http_fastcgi_module",
        Default,
        &["fastcgi_*"],
        "proxy_pass to an HTTP upstream",
    ),
    lacks(
        "ngx_http_uwsgi_module",
        "http_uwsgi_module",
        Default,
        &["uwsgi_*"],
        "proxy_pass to an HTTP upstream",
    ),
    lacks(
        "ngx_http_scgi_module",
        "http_scgi_module",
        Default,
        &["scgi_*"],
        "proxy_pass to an HTTP upstream",
    ),
    lacks(
        "ngx_http_grpc_module",
        "http_grpc_module",
        Default,
        &["grpc_*"],
        HTTP2,
    ),
    lacks(
        "ngx_http_memcached_module",
        "http_memcached_module",
        Default,
        &["memcached_*"],
        LATER,
    ),
    lacks(
        "ngx_http_limit_conn_module",
        "http_limit_conn_module",
        Default,
        &["limit_conn", "limit_conn_*"],
        SECURITY,
    ),
    lacks(
        "ngx_http_limit_req_module",
        "http_limit_req_module",
        Default,
        &["limit_req", "limit_req_*"],
        SECURITY,
    ),
    lacks(
        "ngx_http_empty_gif_module",
        "http_empty_gif_module",
        Default,
        &["empty_gif"],
        "return 200 with the image bytes from a file (try_files)",
    ),
    lacks(
        "ngx_http_browser_module",
        "http_browser_module",
        Default,
        &[
            "modern_browser",
            "modern_browser_value",
            "ancient_browser",
            "ancient_browser_value",
        ],
        LATER,
    ),
    has(
        "ngx_http_upstream_hash_module",
        "http_upstream_hash_module",
        Default,
        &["hash"],
    ),
    has(
        "ngx_http_upstream_ip_hash_module",
        "http_upstream_ip_hash_module",
        Default,
        &["ip_hash"],
    ),
    has(
        "ngx_http_upstream_least_conn_module",
        "http_upstream_least_conn_module",
        Default,
        &["least_conn"],
    ),
    lacks(
        "ngx_http_upstream_least_time_module",
        "http_upstream_least_time_module",
        Default,
        &["least_time"],
        "least_conn",
    ),
    has(
        "ngx_http_upstream_random_module",
        "http_upstream_random_module",
        Default,
        &["random"],
    ),
    has(
        "ngx_http_upstream_keepalive_module",
        "http_upstream_keepalive_module",
        Default,
        &["keepalive"],
    ),
    lacks(
        "ngx_http_upstream_zone_module",
        "http_upstream_zone_module",
        Default,
        &["zone"],
        "anx keeps each upstream group's state per shard; no shared zone is needed",
    ),
    lacks(
        "ngx_http_upstream_sticky_module",
        "http_upstream_sticky_module",
        Default,
        &["sticky", "sticky_*"],
        "hash $cookie_… consistent, or ip_hash",
    ),
    lacks(
        "ngx_http_tunnel_module",
        "http_tunnel_module",
        Default,
        &["tunnel_pass"],
        LATER,
    ),
    lacks(
        "ngx_http_upstream_cache",
        "http-cache",
        Default,
        &[
            "proxy_cache",
            "proxy_cache_*",
            "proxy_no_cache",
            "proxy_store",
            "proxy_store_access",
        ],
        CACHE,
    ),
    lacks(
        "ngx_mail_module",
        "mail",
        Optional,
        &["mail", "smtp_*", "pop3_*", "imap_*"],
        LATER,
    ),
    lacks("ngx_stream_module", "stream", Optional, &["stream"], LATER),
    // Third-party modules Debian's packages enable by default (modules-enabled/*.conf).
    lacks(
        "ngx_http_echo_module",
        "",
        Optional,
        &["echo", "echo_*"],
        "return CODE \"text\" answers with a fixed body",
    ),
];

/// Whether `name` is one of `patterns` (exact, or a `stem*` family).
fn matches(patterns: &[&str], name: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(stem) => name.starts_with(stem),
        None => *p == name,
    })
}

/// The module a directive belongs to. A family pattern loses to an exact name in another
/// module (`proxy_cache` is the cache's, not the proxy module's), and a module anx lacks
/// wins ties, so `proxy_cache_path` is reported as the missing cache.
pub fn module_of(directive: &str) -> Option<&'static Module> {
    let exact = MODULES.iter().find(|m| m.directives.contains(&directive));
    exact.or_else(|| {
        let mut candidates = MODULES.iter().filter(|m| matches(m.directives, directive));
        let first = candidates.next()?;
        Some(
            std::iter::once(first)
                .chain(candidates)
                .min_by_key(|m| m.in_anx)
                .unwrap_or(first),
        )
    })
}

/// The module a `load_module` path names: `modules/ngx_http_echo_module.so` →
/// `ngx_http_echo_module`; a suffix after `-` (a version some packagers add) is cut.
pub fn module_file_stem(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.strip_suffix(".so").unwrap_or(file);
    stem.split('-').next().unwrap_or(stem)
}

pub fn by_name(name: &str) -> Option<&'static Module> {
    MODULES.iter().find(|m| m.name == name)
}

/// `configure arguments:` as `nginx -V` prints it: the switches a stock build would need to
/// behave like anx, derived from [`MODULES`].
pub fn configure_arguments() -> String {
    let mut args = Vec::new();
    for m in MODULES {
        if m.flag.is_empty() {
            continue;
        }
        match (m.build, m.in_anx) {
            (Build::Optional, true) => args.push(format!("--with-{}", m.flag)),
            (Build::Default, false) => args.push(format!("--without-{}", m.flag)),
            _ => {}
        }
    }
    args.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_exact_names() {
        assert_eq!(
            module_of("gzip").map(|m| m.name),
            Some("ngx_http_gzip_module")
        );
        assert_eq!(
            module_of("gzip_static").map(|m| m.name),
            Some("ngx_http_gzip_static_module")
        );
        assert_eq!(
            module_of("proxy_cache_path").map(|m| m.name),
            Some("ngx_http_upstream_cache")
        );
        assert_eq!(
            module_of("proxy_pass").map(|m| m.name),
            Some("ngx_http_proxy_module")
        );
        assert_eq!(
            module_of("fastcgi_pass").map(|m| m.name),
            Some("ngx_http_fastcgi_module")
        );
        assert!(module_of("no_such_directive").is_none());
    }

    #[test]
    fn load_module_paths() {
        assert_eq!(
            module_file_stem("/usr/lib/nginx/modules/ngx_http_echo_module.so"),
            "ngx_http_echo_module"
        );
        assert_eq!(
            module_file_stem("ngx_stream_module.so"),
            "ngx_stream_module"
        );
    }

    #[test]
    fn configure_line_is_honest() {
        let line = configure_arguments();
        assert!(line.contains("--with-http_ssl_module"));
        assert!(line.contains("--with-http_stub_status_module"));
        assert!(line.contains("--without-http_gzip_module"));
        assert!(line.contains("--without-http-cache"));
        // Modules anx has are never switched off, and optional modules it lacks are not
        // named at all (nginx's suite looks a feature up as a bare word in the line).
        assert!(!line.contains("http_proxy_module"));
        assert!(!line.contains("http_v2"));
        assert!(!line.contains("http_autoindex_module"));
    }
}
