//! nginx front-end, part 2: the directive table, from the parsed directive tree to a
//! [`ConfigTree`].
//!
//! Runs on the control thread while a configuration loads, never on the request path.
//! [`super::parser`] gives a tree of directives that says nothing about meaning; this module
//! knows, for every directive anx accepts, where nginx allows it, how many arguments it takes
//! and which `ConfigTree` field it fills, and checks all of that with nginx's own wording.
//! Only the syntax is handled here: regexes, `$variables` and the words of `error_page`,
//! `try_files`, `expires` and `if` are stored as written and compiled by `config::resolve`,
//! which the TOML front-end shares, so both formats mean the same thing by construction.
//!
//! Every error in a configuration is collected in one run, so a user fixes them in one pass.
//! A directive nginx has but anx does not implement is an error naming it, never silently
//! ignored; the few accepted without effect are listed, each with its reason, in `NO_OPS`.
//!
//! Layout: this file holds the entry points, the table (`SPECS`, `NO_OPS`) and the
//! checks every directive goes through; `main` has the main and events contexts, `http` the
//! http, server and location blocks, `layers` the settings those three share, `script` the
//! rewrite module (`if`, `rewrite`, `return`, `set`, `break`), `names` the list of stock
//! nginx directives.

mod geo;
mod http;
mod layers;
mod main;
mod names;
mod proxy;
mod script;
mod settings;
#[cfg(test)]
mod tests;
mod tls;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use super::modules;
use super::parser::{parse_file, parse_param, Directive, ParseOptions};
use crate::config::tree::{self, ConfigTree, Origin};
use crate::config::{ConfigError, ConfigErrors};

pub use script::script_from_text;

/// Loads the nginx.conf at `path` into a [`ConfigTree`].
///
/// `prefix` is nginx's `-p` prefix (callers pass the configuration's directory when there is
/// none): relative `root`, `alias`, `pid` and log paths resolve against it later, in
/// `resolve`. Relative `include`s resolve against the directory of `path`, as nginx's
/// configuration prefix does. `globals` is the text of `-g`: main-context directives that
/// nginx reads *before* the file, so a directive given in both is reported as a duplicate at
/// its line in the file.
pub fn load_tree(
    path: &Path,
    prefix: &Path,
    globals: Option<&str>,
) -> Result<ConfigTree, ConfigErrors> {
    let conf_dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let opts = ParseOptions { prefix: conf_dir };
    let mut errors = Vec::new();
    let globals = match globals.map(|text| parse_param(text, &opts)) {
        None => Vec::new(),
        Some(Ok(dirs)) => dirs,
        Some(Err(e)) => {
            errors.extend(e.0);
            Vec::new()
        }
    };
    let dirs = match parse_file(path, &opts) {
        Ok(dirs) => dirs,
        Err(e) => {
            errors.extend(e.0);
            Vec::new()
        }
    };
    // A syntax error leaves no tree to check: the parser has said what it could.
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    tree_from_directives(&globals, &dirs, path, prefix)
}

/// The directive table's part of [`load_tree`], on directives already parsed.
fn tree_from_directives(
    globals: &[Directive],
    dirs: &[Directive],
    source: &Path,
    prefix: &Path,
) -> Result<ConfigTree, ConfigErrors> {
    let mut walker = Walker::default();
    let mut tree = ConfigTree {
        source: Some(source.to_path_buf()),
        base_dir: prefix.to_path_buf(),
        ..ConfigTree::default()
    };
    let mut seen = Seen::default();
    walker.main_block(globals, &mut tree, &mut seen);
    walker.main_block(dirs, &mut tree, &mut seen);
    // nginx runs one worker when `worker_processes` is not given, and a configuration
    // written for nginx means that: its upstream state, round-robin and limits then live
    // in one place, as they did. (anx's own TOML default stays one shard per core.)
    if tree.main.shards.is_none() {
        tree.main.shards = Some(crate::config::model::ShardCount::Fixed(1));
    }
    // nginx refuses a configuration without `events`; without `http` anx would serve
    // nothing, which is never what a web server's configuration means.
    for (present, name) in [(seen.events, "events"), (seen.http, "http")] {
        if !present {
            walker.errors.push(ConfigError {
                file: Some(source.to_path_buf()),
                line: None,
                message: format!("no \"{name}\" section in configuration"),
            });
        }
    }
    tree.notes = std::mem::take(&mut walker.notes);
    walker.finish(tree)
}

// ----------------------------------------------------------------------------------------
// The table

/// Where a directive may be written: nginx's `NGX_*_CONF` bits, plus the two contexts of a
/// rewrite script embedded in a TOML file ([`script_from_text`]).
type Ctx = u16;
const MAIN: Ctx = 1;
const EVENTS: Ctx = 1 << 1;
/// Directly in `http {}` (nginx's `NGX_HTTP_MAIN_CONF`).
const HTTP: Ctx = 1 << 2;
const SRV: Ctx = 1 << 3;
const LOC: Ctx = 1 << 4;
/// Inside `if` in a server.
const SIF: Ctx = 1 << 5;
/// Inside `if` in a location.
const LIF: Ctx = 1 << 6;
/// The top level of a script given to [`script_from_text`].
const SCRIPT: Ctx = 1 << 7;
/// Inside `if` in such a script.
const SCRIPT_IF: Ctx = 1 << 8;
/// Inside `upstream {}` (nginx's `NGX_HTTP_UPS_CONF`).
const UPS: Ctx = 1 << 9;
/// Inside `limit_except {}` (nginx's `NGX_HTTP_LMT_CONF`).
const LMT: Ctx = 1 << 10;
const HSL: Ctx = HTTP | SRV | LOC;
/// The rewrite module's directives other than `if` go everywhere a script runs.
const REWRITE: Ctx = SRV | LOC | SIF | LIF | SCRIPT | SCRIPT_IF;

/// No upper bound on the number of arguments.
const ANY: usize = usize::MAX;

/// One directive anx knows: nginx's contexts and argument count for it, so a misplaced or
/// malformed directive gets nginx's message before anx looks at its values.
#[derive(Clone, Copy)]
struct Spec {
    name: &'static str,
    ctx: Ctx,
    min_args: usize,
    max_args: usize,
    block: bool,
}

const fn simple(name: &'static str, ctx: Ctx, min_args: usize, max_args: usize) -> Spec {
    Spec {
        name,
        ctx,
        min_args,
        max_args,
        block: false,
    }
}

const fn block(name: &'static str, ctx: Ctx, min_args: usize, max_args: usize) -> Spec {
    Spec {
        name,
        ctx,
        min_args,
        max_args,
        block: true,
    }
}

/// Every directive anx handles, with nginx's contexts (`LIF` where nginx allows it inside
/// `if`, so anx can say it does not support it there rather than that nginx forbids it).
/// Stock nginx directives missing here are "not supported by anx yet"; other names are
/// unknown.
const SPECS: &[Spec] = &[
    // main
    simple("worker_processes", MAIN, 1, 1),
    simple("worker_cpu_affinity", MAIN, 1, ANY),
    simple("pid", MAIN, 1, 1),
    simple("worker_shutdown_timeout", MAIN, 1, 1),
    simple("error_log", MAIN | HSL, 1, 2),
    simple("daemon", MAIN, 1, 1),
    simple("master_process", MAIN, 1, 1),
    simple("user", MAIN, 1, 2),
    simple("load_module", MAIN, 1, 1),
    block("events", MAIN, 0, 0),
    block("http", MAIN, 0, 0),
    // events
    simple("worker_connections", EVENTS, 1, 1),
    simple("worker_priority", MAIN, 1, 1),
    simple("timer_resolution", MAIN, 1, 1),
    simple("pcre_jit", MAIN, 1, 1),
    simple("thread_pool", MAIN, 2, 3),
    simple("aio", HSL, 1, 1),
    simple("use", EVENTS, 1, 1),
    simple("multi_accept", EVENTS, 1, 1),
    simple("accept_mutex", EVENTS, 1, 1),
    // http
    block("server", HTTP, 0, 0),
    block("types", HSL, 0, 0),
    block("map", HTTP, 2, 2),
    block("geo", HTTP, 1, 2),
    block("split_clients", HTTP, 2, 2),
    // access module: in order, in every block and inside limit_except
    simple("allow", HSL | LMT, 1, 1),
    simple("deny", HSL | LMT, 1, 1),
    simple("log_format", HTTP, 2, ANY),
    block("upstream", HTTP, 1, 1),
    // upstream (`server`, `keepalive_timeout` and `keepalive_requests` share their names
    // with http-level directives; `spec` picks by context)
    simple("server", UPS, 1, ANY),
    simple("keepalive", UPS, 1, 1),
    simple("keepalive_timeout", UPS, 1, 1),
    simple("keepalive_requests", UPS, 1, 1),
    simple("keepalive_time", UPS, 1, 1),
    simple("least_conn", UPS, 0, 0),
    simple("ip_hash", UPS, 0, 0),
    simple("hash", UPS, 1, 2),
    simple("random", UPS, 0, 2),
    simple("anx_health_check", UPS, 0, ANY),
    // proxy (ProxyLayer; `proxy_pass` is the location's handler, also inside a location's
    // `if` and in `limit_except`).
    simple("proxy_pass", LOC | LIF | LMT | SCRIPT_IF, 1, 1),
    block("limit_except", LOC, 1, ANY),
    // status pages (handlers too); nginx's stub_status still takes the old `on` argument.
    simple("stub_status", LOC, 0, 1),
    simple("anx_status", LOC, 0, 0),
    simple("anx_metrics", LOC, 0, 0),
    simple("anx_dashboard", LOC, 0, 0),
    simple("proxy_set_header", HSL, 2, 2),
    simple("proxy_hide_header", HSL, 1, 1),
    simple("proxy_pass_header", HSL, 1, 1),
    simple("proxy_http_version", HSL, 1, 1),
    simple("proxy_method", HSL, 1, 1),
    simple("proxy_redirect", HSL, 1, 2),
    simple("proxy_next_upstream", HSL, 1, ANY),
    simple("proxy_ssl_verify", HSL, 1, 1),
    simple("proxy_ssl_trusted_certificate", HSL, 1, 1),
    simple("proxy_ssl_verify_depth", HSL, 1, 1),
    simple("proxy_ssl_server_name", HSL, 1, 1),
    simple("proxy_ssl_name", HSL, 1, 1),
    simple("proxy_ssl_certificate", HSL, 1, 1),
    simple("proxy_ssl_certificate_key", HSL, 1, 1),
    simple("proxy_ssl_password_file", HSL, 1, 1),
    simple("proxy_ssl_crl", HSL, 1, 1),
    simple("proxy_ssl_protocols", HSL, 1, ANY),
    simple("proxy_ssl_session_reuse", HSL, 1, 1),
    // The name servers of a proxy_pass with variables (ProxyLayer).
    simple("resolver", HSL, 1, ANY),
    simple("proxy_cookie_domain", HSL, 1, 2),
    simple("proxy_set_body", HSL, 1, 1),
    // The rate of response bodies (Layers; nginx also allows them in `if` in a location,
    // which anx does not apply there yet).
    simple("limit_rate", HSL, 1, 1),
    simple("limit_rate_after", HSL, 1, 1),
    simple("proxy_bind", HSL, 1, 2),
    simple("proxy_ignore_headers", HSL, 1, ANY),
    simple("proxy_cookie_path", HSL, 1, 2),
    simple("proxy_cookie_flags", HSL, 1, ANY),
    // https (TlsLayer): http and server levels, as nginx
    simple("ssl_certificate", HTTP | SRV, 1, 1),
    simple("ssl_certificate_key", HTTP | SRV, 1, 1),
    simple("ssl_protocols", HTTP | SRV, 1, ANY),
    simple("ssl_ciphers", HTTP | SRV, 1, 1),
    simple("ssl_prefer_server_ciphers", HTTP | SRV, 1, 1),
    simple("ssl_ecdh_curve", HTTP | SRV, 1, 1),
    simple("ssl_session_tickets", HTTP | SRV, 1, 1),
    simple("ssl_session_ticket_key", HTTP | SRV, 1, 1),
    simple("ssl_session_timeout", HTTP | SRV, 1, 1),
    simple("ssl_session_cache", HTTP | SRV, 1, 2),
    simple("ssl_client_certificate", HTTP | SRV, 1, 1),
    simple("ssl_trusted_certificate", HTTP | SRV, 1, 1),
    simple("ssl_verify_client", HTTP | SRV, 1, 1),
    simple("ssl_verify_depth", HTTP | SRV, 1, 1),
    simple("ssl_crl", HTTP | SRV, 1, 1),
    simple("ssl_password_file", HTTP | SRV, 1, 1),
    simple("ssl_reject_handshake", HTTP | SRV, 1, 1),
    simple("ssl_stapling", HTTP | SRV, 1, 1),
    simple("ssl_stapling_file", HTTP | SRV, 1, 1),
    simple("ssl_stapling_responder", HTTP | SRV, 1, 1),
    simple("ssl_stapling_verify", HTTP | SRV, 1, 1),
    simple("ssl_ocsp", HTTP | SRV, 1, 1),
    simple("ssl_ocsp_responder", HTTP | SRV, 1, 1),
    simple("ssl_ocsp_cache", HTTP | SRV, 1, 1),
    // server and location
    simple("listen", SRV, 1, ANY),
    simple("server_name", SRV, 1, ANY),
    block("location", SRV | LOC, 1, 2),
    simple("internal", LOC, 0, 0),
    simple("alias", LOC, 1, 1),
    // rewrite module
    block("if", SRV | LOC | SCRIPT, 1, ANY),
    simple("rewrite", REWRITE, 2, 3),
    simple("return", REWRITE, 1, 2),
    simple("set", REWRITE, 2, 2),
    simple("break", REWRITE, 0, 0),
    // files (FileLayer and the other inheritable settings)
    simple("root", HSL | LIF, 1, 1),
    simple("index", HSL, 1, ANY),
    simple("autoindex", HSL, 1, 1),
    simple("autoindex_format", HSL, 1, 1),
    simple("default_type", HSL, 1, 1),
    simple("if_modified_since", HSL, 1, 1),
    simple("disable_symlinks", HSL, 1, 2),
    simple("try_files", SRV | LOC, 2, ANY),
    simple("error_page", HSL | LIF, 2, ANY),
    simple("post_action", HSL | LIF, 1, 1),
    simple("add_header", HSL | LIF | SCRIPT_IF, 2, 3),
    simple("add_trailer", HSL | LIF | SCRIPT_IF, 2, 3),
    simple("expires", HSL | LIF | SCRIPT_IF, 1, 2),
    simple("absolute_redirect", HSL, 1, 1),
    simple("port_in_redirect", HSL, 1, 1),
    simple("server_name_in_redirect", HSL, 1, 1),
    simple("access_log", HSL | LIF, 1, ANY),
    // connections (HttpLayer; the scalar ones are declared in `config::settings`)
    simple("keepalive_timeout", HSL, 1, 2),
    simple("client_max_body_size", HSL, 1, 1),
    simple("large_client_header_buffers", HTTP | SRV, 2, 2),
    simple("server_tokens", HSL, 1, 1),
    simple("keepalive_disable", HSL, 1, 2),
    simple("client_body_buffer_size", HSL, 1, 1),
    simple("client_body_temp_path", HSL, 1, 4),
    simple("client_body_in_file_only", HSL, 1, 1),
    simple("client_body_in_single_buffer", HSL, 1, 1),
    simple("client_header_buffer_size", HTTP | SRV, 1, 1),
    // accepted without effect: see NO_OPS
    simple("sendfile", HSL | LIF, 1, 1),
    simple("tcp_nopush", HSL, 1, 1),
    simple("tcp_nodelay", HSL, 1, 1),
    simple("log_subrequest", HSL, 1, 1),
    simple("types_hash_max_size", HSL, 1, 1),
    simple("types_hash_bucket_size", HSL, 1, 1),
    simple("server_names_hash_max_size", HTTP, 1, 1),
    simple("server_names_hash_bucket_size", HTTP, 1, 1),
    simple("map_hash_max_size", HTTP, 1, 1),
    simple("map_hash_bucket_size", HTTP, 1, 1),
    simple("variables_hash_max_size", HTTP, 1, 1),
    simple("variables_hash_bucket_size", HTTP, 1, 1),
    simple("proxy_buffers", HSL, 2, 2),
    simple("proxy_busy_buffers_size", HSL, 1, 1),
    simple("proxy_max_temp_file_size", HSL, 1, 1),
    simple("proxy_temp_file_write_size", HSL, 1, 1),
    simple("proxy_temp_path", HSL, 1, 4),
    simple("connection_pool_size", HTTP | SRV, 1, 1),
    simple("request_pool_size", HTTP | SRV, 1, 1),
    simple("ssl_dhparam", HTTP | SRV, 1, 1),
];

/// What an accepted no-op may say.
enum NoOpValue {
    /// Any value.
    Any,
    /// `on` or `off`.
    Flag,
    /// Only this word; anything else changes behaviour anx does not have, so it is an error.
    Only(&'static str),
}

/// Why nginx's hash-table sizing directives need no counterpart.
const HASH_SIZING: &str = "they size nginx's static hash tables; anx's tables (hashbrown) grow \
                           as needed, so there is nothing to size";

/// Why nginx's proxy buffer and temporary-file sizing needs no counterpart.
const PROXY_SPOOLING: &str = "anx streams an upstream response through one bounded buffer per \
                              request (proxy_buffer_size) and never spools it to disk, so there \
                              are no buffer chains or temporary files to size";

/// A directive (or a directive's parameter) anx accepts and ignores.
struct NoOp {
    directive: &'static str,
    value: NoOpValue,
    /// Why ignoring it is right: anx already behaves the way it asks for, or the choice it
    /// makes does not exist in anx.
    reason: &'static str,
}

/// The complete list of things anx accepts without storing them. Everything else nginx has
/// and anx lacks is an error, so a configuration never means less than it says.
const NO_OPS: &[NoOp] = &[
    NoOp {
        directive: "daemon",
        value: NoOpValue::Flag,
        reason: "anx always runs in the foreground, under whatever supervises it",
    },
    NoOp {
        directive: "master_process",
        value: NoOpValue::Flag,
        reason: "anx is one process whose shards are threads: there are no worker processes",
    },
    NoOp {
        directive: "use",
        value: NoOpValue::Any,
        reason: "anx always uses io_uring; there is no event method to choose",
    },
    NoOp {
        directive: "multi_accept",
        value: NoOpValue::Flag,
        reason: "each shard accepts in a loop on its own SO_REUSEPORT socket",
    },
    NoOp {
        directive: "accept_mutex",
        value: NoOpValue::Flag,
        reason: "each shard has its own SO_REUSEPORT socket, so there is no shared socket \
                 to take turns on; the kernel spreads connections",
    },
    NoOp {
        directive: "sendfile",
        value: NoOpValue::Only("on"),
        reason: "anx always sends file bodies with sendfile(2)",
    },
    NoOp {
        directive: "tcp_nopush",
        value: NoOpValue::Only("on"),
        reason: "anx corks (TCP_CORK) a sendfile body of 512 KiB or more from its head, \
                 and a smaller one once the socket is full",
    },
    NoOp {
        directive: "tcp_nodelay",
        value: NoOpValue::Only("on"),
        reason: "anx sets TCP_NODELAY on every connection it accepts, which is what it asks for",
    },
    NoOp {
        directive: "types_hash_max_size",
        value: NoOpValue::Any,
        reason: HASH_SIZING,
    },
    NoOp {
        directive: "types_hash_bucket_size",
        value: NoOpValue::Any,
        reason: HASH_SIZING,
    },
    NoOp {
        directive: "server_names_hash_max_size",
        value: NoOpValue::Any,
        reason: HASH_SIZING,
    },
    NoOp {
        directive: "server_names_hash_bucket_size",
        value: NoOpValue::Any,
        reason: HASH_SIZING,
    },
    NoOp {
        directive: "map_hash_max_size",
        value: NoOpValue::Any,
        reason: HASH_SIZING,
    },
    NoOp {
        directive: "map_hash_bucket_size",
        value: NoOpValue::Any,
        reason: HASH_SIZING,
    },
    NoOp {
        directive: "variables_hash_max_size",
        value: NoOpValue::Any,
        reason: HASH_SIZING,
    },
    NoOp {
        directive: "variables_hash_bucket_size",
        value: NoOpValue::Any,
        reason: HASH_SIZING,
    },
    NoOp {
        directive: "proxy_buffers",
        value: NoOpValue::Any,
        reason: PROXY_SPOOLING,
    },
    NoOp {
        directive: "proxy_busy_buffers_size",
        value: NoOpValue::Any,
        reason: PROXY_SPOOLING,
    },
    NoOp {
        directive: "proxy_max_temp_file_size",
        value: NoOpValue::Any,
        reason: PROXY_SPOOLING,
    },
    NoOp {
        directive: "proxy_temp_file_write_size",
        value: NoOpValue::Any,
        reason: PROXY_SPOOLING,
    },
    NoOp {
        directive: "proxy_temp_path",
        value: NoOpValue::Any,
        reason: PROXY_SPOOLING,
    },
    NoOp {
        directive: "worker_priority",
        value: NoOpValue::Any,
        reason: "it sets nginx's worker nice value; anx's shards are threads pinned to their \
                 cores, so set the process's priority from its supervisor instead",
    },
    NoOp {
        directive: "timer_resolution",
        value: NoOpValue::Any,
        reason: "it coarsens nginx's gettimeofday calls; anx reads a coarse clock already",
    },
    NoOp {
        directive: "pcre_jit",
        value: NoOpValue::Flag,
        reason: "anx's regexes use the regex crate, which has no PCRE JIT to switch",
    },
    NoOp {
        directive: "thread_pool",
        value: NoOpValue::Any,
        reason: "it sizes nginx's thread pools for blocking file I/O; anx has none to size",
    },
    NoOp {
        directive: "aio",
        value: NoOpValue::Any,
        reason: "anx reads files with sendfile and its shard's memory cache; there is no \
                 asynchronous file-read mode to choose",
    },
    NoOp {
        directive: "connection_pool_size",
        value: NoOpValue::Any,
        reason: "it sizes nginx's per-connection memory pool; anx allocates per connection \
                 from its shard's buffer pools, so there is no pool to size",
    },
    NoOp {
        directive: "log_subrequest",
        value: NoOpValue::Flag,
        reason: "anx makes no subrequests, so there are none to log",
    },
    NoOp {
        directive: "request_pool_size",
        value: NoOpValue::Any,
        reason: "it sizes nginx's per-request memory pool; anx has no per-request pool to size",
    },
    NoOp {
        directive: "ssl_dhparam",
        value: NoOpValue::Any,
        reason: "rustls has no finite-field Diffie-Hellman (DHE) suites; key exchange is \
                 always elliptic-curve (ssl_ecdh_curve)",
    },
    NoOp {
        directive: "listen",
        value: NoOpValue::Only("reuseport"),
        reason: "anx always listens with SO_REUSEPORT, one socket per shard",
    },
];

/// Every entry: [`SPECS`] and the settings declared in `config::settings`.
fn all_specs() -> impl Iterator<Item = Spec> {
    SPECS.iter().copied().chain(settings::specs())
}

/// The entry for `name`, preferring the one allowed in `ctx` (a few names mean different
/// directives in `upstream {}` and elsewhere).
fn spec(name: &str, ctx: Ctx) -> Option<Spec> {
    all_specs()
        .find(|s| s.name == name && s.ctx & ctx != 0)
        .or_else(|| all_specs().find(|s| s.name == name))
}

/// Whether `word` of `directive` is one of the accepted no-op parameters (`listen ...
/// reuseport`).
fn is_no_op_parameter(directive: &str, word: &str) -> bool {
    NO_OPS
        .iter()
        .any(|n| n.directive == directive && matches!(n.value, NoOpValue::Only(v) if v == word))
}

fn is_no_op_directive(name: &str) -> bool {
    !matches!(name, "listen" | "map") && NO_OPS.iter().any(|n| n.directive == name)
}

// ----------------------------------------------------------------------------------------
// The walker: checks and error collection shared by every context

/// `parse_param`'s pseudo file: nginx names no line for `-g` errors.
const COMMAND_LINE: &str = "<command line>";

/// Where a [`script_from_text`] script sits in its TOML file.
struct ScriptPlace {
    origin: Origin,
    /// Several lines: errors add the line within the script.
    multiline: bool,
}

/// Walks a directive tree, collecting every error instead of stopping at the first.
#[derive(Default)]
struct Walker {
    errors: Vec<ConfigError>,
    /// Things worth telling the operator that are not errors (see [`ConfigTree::notes`]).
    notes: Vec<ConfigError>,
    /// Set for [`script_from_text`]: every step and error is placed at the script.
    script: Option<ScriptPlace>,
    /// Modules named by `load_module` that anx does not have, with where: a directive of
    /// one of them is then reported with the line that loaded it.
    loaded_modules: Vec<(String, String)>,
}

/// Sections seen in the main context, across the `-g` text and the file.
#[derive(Default)]
struct Seen {
    events: bool,
    http: bool,
}

/// Argument `i` of `d` ("" if absent: arities are checked first, but no input may panic).
fn arg(d: &Directive, i: usize) -> &str {
    d.args.get(i).map_or("", |a| a.value.as_str())
}

fn words(d: &Directive) -> Vec<String> {
    d.args.iter().map(|a| a.value.clone()).collect()
}

impl Walker {
    fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors(self.errors))
        }
    }

    fn origin(&self, d: &Directive) -> Origin {
        if let Some(place) = &self.script {
            return place.origin.clone();
        }
        let line = (d.file.as_os_str() != COMMAND_LINE).then_some(d.line);
        Origin {
            file: Some(d.file.clone()),
            line,
        }
    }

    fn error(&mut self, d: &Directive, message: impl Into<String>) {
        let mut message = message.into();
        if let Some(place) = &self.script {
            if place.multiline {
                message.push_str(&format!(" (line {} of the nginx text)", d.line));
            }
        }
        let origin = self.origin(d);
        self.errors.push(ConfigError {
            file: origin.file.map(|f| f.as_ref().clone()),
            line: origin.line,
            message,
        });
    }

    /// nginx's checks before a directive's own handler: known, allowed in `ctx`, block or
    /// not, argument count. `true` when the directive may be handled.
    fn check(&mut self, d: &Directive, ctx: Ctx) -> bool {
        let Some(spec) = spec(&d.name, ctx) else {
            self.not_in_anx(d);
            return false;
        };
        if spec.ctx & ctx == 0 {
            let rewrite_module = matches!(spec.name, "rewrite" | "return" | "set" | "break" | "if");
            if ctx & (SCRIPT | SCRIPT_IF) != 0 && !rewrite_module {
                self.error(
                    d,
                    format!(
                        "\"{}\" directive is not allowed here: a rewrite script holds only \
                         rewrite, return, set, if and break",
                        d.name
                    ),
                );
            } else {
                self.error(d, format!("\"{}\" directive is not allowed here", d.name));
            }
            return false;
        }
        if !spec.block && d.block.is_some() {
            self.error(
                d,
                format!("directive \"{}\" is not terminated by \";\"", d.name),
            );
            return false;
        }
        if spec.block && d.block.is_none() {
            self.error(d, format!("directive \"{}\" has no opening \"{{\"", d.name));
            return false;
        }
        if d.args.len() < spec.min_args || d.args.len() > spec.max_args {
            self.error(
                d,
                format!("invalid number of arguments in \"{}\" directive", d.name),
            );
            return false;
        }
        true
    }

    /// A directive the table does not have: a module anx lacks (naming it, and the
    /// `load_module` that asked for it), a stock directive not done yet, or a typo.
    fn not_in_anx(&mut self, d: &Directive) {
        let module = modules::module_of(&d.name).filter(|m| !m.in_anx);
        let message = match module {
            Some(m) => {
                let loaded = self
                    .loaded_modules
                    .iter()
                    .find(|(name, _)| name == m.name)
                    .map(|(_, at)| format!(" (loaded by \"load_module\" at {at})"))
                    .unwrap_or_default();
                format!(
                    "\"{}\" directive is not supported by anx yet ({}{loaded}: {})",
                    d.name, m.name, m.instead
                )
            }
            None if names::is_nginx_directive(&d.name) => {
                format!("\"{}\" directive is not supported by anx yet", d.name)
            }
            None => format!("unknown directive \"{}\"", d.name),
        };
        self.error(d, message);
    }

    fn duplicate(&mut self, d: &Directive) {
        self.error(d, format!("\"{}\" directive is duplicate", d.name));
    }

    /// Sets a single-valued setting, refusing a second one at the same level as nginx does.
    fn once<T>(
        &mut self,
        d: &Directive,
        slot: &mut Option<T>,
        parse: impl FnOnce(&mut Walker) -> Option<T>,
    ) {
        if slot.is_some() {
            self.duplicate(d);
        } else {
            *slot = parse(self);
        }
    }

    /// `on` / `off` (the first argument; any case, as nginx compares them).
    fn flag(&mut self, d: &Directive) -> Option<bool> {
        match arg(d, 0) {
            v if v.eq_ignore_ascii_case("on") => Some(true),
            v if v.eq_ignore_ascii_case("off") => Some(false),
            other => {
                self.error(
                    d,
                    format!(
                        "invalid value \"{other}\" in \"{}\" directive, it must be \"on\" or \
                         \"off\"",
                        d.name
                    ),
                );
                None
            }
        }
    }

    fn time(&mut self, d: &Directive, text: &str) -> Option<Duration> {
        tree::time(text)
            .map_err(|e| self.error(d, format!("\"{}\" directive: {e}", d.name)))
            .ok()
    }

    fn size(&mut self, d: &Directive, text: &str) -> Option<u64> {
        tree::size(text)
            .map_err(|e| self.error(d, format!("\"{}\" directive: {e}", d.name)))
            .ok()
    }

    /// A plain decimal number (nginx's `ngx_atoi`: digits only, no sign).
    fn number<T: FromStr>(&mut self, d: &Directive, text: &str) -> Option<T> {
        let parsed = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            text.parse::<T>().ok()
        } else {
            None
        };
        if parsed.is_none() {
            self.error(
                d,
                format!(
                    "\"{}\" directive: expected a number, found \"{text}\"",
                    d.name
                ),
            );
        }
        parsed
    }

    /// An accepted no-op directive: its value is still checked, so a typo is not hidden.
    fn no_op(&mut self, d: &Directive) {
        let Some(entry) = NO_OPS.iter().find(|n| n.directive == d.name) else {
            return;
        };
        // One warning line per directive, naming why it changes nothing in anx.
        let warn = |w: &mut Walker, shown: String| {
            let origin = w.origin(d);
            w.notes.push(ConfigError {
                file: origin.file.map(|f| f.as_ref().clone()),
                line: origin.line,
                message: format!("\"{shown}\" has no effect: {}", entry.reason),
            });
        };
        match entry.value {
            NoOpValue::Any => warn(self, d.name.clone()),
            NoOpValue::Flag => {
                // `daemon off` and `master_process off` ask for what anx does: nothing to say.
                if let Some(on) = self.flag(d) {
                    let matches_anx = !on && matches!(d.name.as_str(), "daemon" | "master_process");
                    if !matches_anx {
                        warn(
                            self,
                            format!("{} {}", d.name, if on { "on" } else { "off" }),
                        );
                    }
                }
            }
            NoOpValue::Only(word) => {
                // These no-ops are all nginx flags, whose values nginx reads in any case.
                let value = arg(d, 0);
                if !value.eq_ignore_ascii_case(word) {
                    self.error(
                        d,
                        format!(
                            "\"{} {value}\" is not supported by anx yet; only \"{} {word}\" is \
                             accepted, because {}",
                            d.name, d.name, entry.reason
                        ),
                    );
                }
            }
        }
    }

    /// A directive nginx allows here that anx takes only at another level.
    fn not_at_this_level(&mut self, d: &Directive, hint: &str) {
        self.error(
            d,
            format!(
                "\"{}\" directive is not supported at this level by anx yet; {hint}",
                d.name
            ),
        );
    }

    /// A directive the table allows in a context whose handler does not know it: a bug in
    /// this module, reported rather than ignored.
    fn unhandled(&mut self, d: &Directive) {
        self.error(
            d,
            format!("\"{}\" directive is not supported here by anx yet", d.name),
        );
    }
}
