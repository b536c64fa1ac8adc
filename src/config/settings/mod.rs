//! Scalar inheritable settings, each declared once (control thread only: configuration
//! loading, resolving and `-T`; the request path reads the resolved fields this generates).
//!
//! A scalar setting is one value (a flag, a time, a size, a count) that a block sets and
//! its inner blocks inherit: `send_timeout`, `proxy_connect_timeout`, `etag`. Each used to
//! cost about ten hand edits in seven files (tree field, model field and default, directive
//! table entry and handler, TOML key and mapping, inheritance, dump line). Now it is one
//! line in `table.rs`, and generators here and in the files that hold the structs turn the
//! groups of that table into:
//!
//! - the per-level `Option` field of the tree layer (`tree::HttpLayer`, …): `layer_struct!`,
//! - the resolved field with its nginx default (`model::LocationHttp`, …): `model_struct!`,
//! - the nginx directive (its entry in the directive table, with the levels it may be written
//!   at, and its handler: duplicates refused, the value read by its [`kind`]): `group!`,
//! - the TOML key (read by `config::toml`'s block macros, at the same levels),
//! - inheritance (a set value replaces the inherited one) and the `-T` line: `group!`.
//!
//! ## Adding a setting
//!
//! Add one entry to its group in `table.rs`, for example in `conn_settings`:
//!
//! ```text
//! /// `send_timeout`: gap allowed between two successful writes to the client.
//! send_timeout: Duration = Duration::from_secs(60); Time, send_timeout;
//! ```
//!
//! that is: the model field, its type and nginx's default; the kind ([`kind::Flag`],
//! [`kind::Time`], [`kind::Size`], [`kind::Count`]); the TOML key, which is also the nginx
//! directive unless `nginx "name" …` follows (anx's own settings: `nginx
//! "anx_allow_dotfiles"`). Then use the model field where the request needs it, and list a
//! stock nginx directive in its module in `nginx/modules.rs` (a test says so). The test in
//! `settings/tests.rs` proves every declared setting in both formats and through `-T`
//! without being told about it.
//!
//! A new group (a new layer/model pair, such as gzip's) is one more table macro in
//! `table.rs`, named where the structs are generated (`tree.rs`, the model file), in the
//! TOML block chain (`toml.rs`) and in the `group!` chain at the end of this file.
//!
//! ## What stays hand-written, and why
//!
//! - `keepalive_timeout` (two arguments: the second is the `Keep-Alive` header's),
//!   `large_client_header_buffers` (sets two settings of this table at once, which it fills
//!   through their tree fields), `server_tokens` (`build` is a third word),
//!   `client_header_buffer_size` (nginx ignores 0), `client_max_body_size` (the model keeps
//!   it on the location, next to the server's copy).
//! - `client_body_in_single_buffer` and the other body settings: they live in the nested
//!   `BodyBuffering`, and the temp path and `in_file_only` are not scalars.
//! - The server's copies of location settings in `HttpSettings` (`send_timeout`, …), read
//!   before a location is chosen: `resolve` copies them from the same tree fields.
//! - Words that need compiling or cross-checks (`keepalive_disable`, `proxy_next_upstream`,
//!   `expires`, `default_type`, `if_modified_since`, `disable_symlinks`, …) and lists.
//! - `autoindex` (the model folds it into `autoindex_format`).
//! - `absolute_redirect`, `port_in_redirect`, `server_name_in_redirect`: plain flags, but
//!   their tree fields sit on `Layers` itself; they move once they get a layer struct.
//! - `proxy_ssl_verify`, `proxy_ssl_verify_depth`, `proxy_ssl_server_name`,
//!   `proxy_ssl_session_reuse`: plain too, but the model nests them in `ProxySsl` under
//!   other names (`ssl.verify`), which a group of their own with renamed tree fields needs.
//! - The `ssl_*` scalars (`ssl_session_timeout`, `ssl_verify_depth`, …), which
//!   `resolve/tls.rs` checks together with the certificates; the `upstream {}` keep-alive
//!   settings, which are not inherited.

pub mod kind;
mod table;
#[cfg(test)]
mod tests;

pub use kind::Kind;
pub(crate) use table::{conn_settings, files_settings, proxy_settings, server_settings};

/// Where nginx allows a setting (the TOML block macros put its key at the same levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Levels {
    /// http, server and location.
    Hsl,
    /// http and server only.
    HttpServer,
}

/// One declared setting, as the directive table and the tests see it.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The TOML key (and the nginx directive unless `directives` says otherwise).
    pub key: &'static str,
    /// The nginx directives that set it (more than one for an alias, `max_headers`).
    pub directives: &'static [&'static str],
    pub levels: Levels,
    /// A value other than the default, as (nginx argument, TOML value).
    #[cfg_attr(not(test), allow(dead_code))]
    pub sample: fn() -> (String, String),
}

/// Why a directive's value was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The block set it already (nginx's "is duplicate").
    Duplicate,
    /// The whole message.
    Invalid(String),
}

impl Refusal {
    /// Sets a single-valued setting, refusing a second one at the same level as nginx does.
    fn set<T>(
        slot: &mut Option<T>,
        read: impl FnOnce() -> Result<T, String>,
    ) -> Result<(), Refusal> {
        if slot.is_some() {
            return Err(Refusal::Duplicate);
        }
        *slot = Some(read().map_err(Refusal::Invalid)?);
        Ok(())
    }
}

/// The nginx names of an entry: the TOML key, or the names given after `nginx`.
macro_rules! directives {
    ($key:ident) => {
        &[stringify!($key)]
    };
    ($key:ident, $($dir:literal)+) => {
        &[$($dir),+]
    };
}

/// The tree layer of a block: the hand-written fields given, then one `Option` per setting
/// of the groups that follow (`None`: not set at this level).
macro_rules! layer_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }
        $([$group:ident: $layer:path => $model:path, $levels:ident in $lf:ident;
            $($(#[$smeta:meta])* $sfield:ident: $sty:ty = $sdefault:expr;
                $kind:ident, $key:ident $(, nginx $($dir:literal)+)?;)*
        ])*
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            $($($(#[$smeta])* pub $sfield: Option<$sty>,)*)*
        }
    };
}
pub(crate) use layer_struct;

/// A resolved settings struct: one field per setting of the group that follows, with its
/// default, then the hand-written fields given with theirs (`field: Type = default,`).
macro_rules! model_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty = $default:expr,)* }
        [$group:ident: $layer:path => $model:path, $levels:ident in $lf:ident;
            $($(#[$smeta:meta])* $sfield:ident: $sty:ty = $sdefault:expr;
                $kind:ident, $key:ident $(, nginx $($dir:literal)+)?;)*
        ]
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$smeta])* pub $sfield: $sty,)*
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    $($sfield: $sdefault,)*
                    $($field: $default,)*
                }
            }
        }
    };
}
pub(crate) use model_struct;

/// One module per group: its [`Setting`]s, the nginx handler, inheritance and the `-T` lines.
macro_rules! group {
    ($([$group:ident: $layer:path => $model:path, $levels:ident in $lf:ident;
        $($(#[$smeta:meta])* $sfield:ident: $sty:ty = $sdefault:expr;
            $kind:ident, $key:ident $(, nginx $($dir:literal)+)?;)*
    ])*) => {
        $(pub mod $group {
            #[allow(unused_imports)]
            use std::time::Duration;

            use $crate::config::settings::{kind, Kind, Levels, Refusal, Setting};

            pub const SETTINGS: &[Setting] = &[$(
                Setting {
                    key: stringify!($key),
                    directives: directives!($key $(, $($dir)+)?),
                    levels: Levels::$levels,
                    sample: || {
                        let v = <kind::$kind as Kind<$sty>>::other(&$sdefault);
                        (
                            <kind::$kind as Kind<$sty>>::nginx_word(&v),
                            <kind::$kind as Kind<$sty>>::toml(&v),
                        )
                    },
                },
            )*];

            /// Reads `directive word` into `l` if it is one of this group's; `None` if not.
            pub fn nginx(
                l: &mut $layer,
                directive: &str,
                word: &str,
            ) -> Option<Result<(), Refusal>> {
                $(
                    let names: &[&str] = directives!($key $(, $($dir)+)?);
                    if names.contains(&directive) {
                        return Some(Refusal::set(&mut l.$sfield, || {
                            <kind::$kind as Kind<$sty>>::nginx(directive, word)
                        }));
                    }
                )*
                None
            }

            /// What `l` sets replaces what `out` inherited.
            pub fn inherit(out: &mut $model, l: &$layer) {
                $(
                    if let Some(v) = l.$sfield {
                        out.$sfield = v;
                    }
                )*
            }

            /// `(TOML key, value)` for every setting, as `-T` writes them.
            pub fn dump(m: &$model) -> Vec<(&'static str, String)> {
                vec![$((stringify!($key), <kind::$kind as Kind<$sty>>::toml(&m.$sfield)),)*]
            }
        })*

        /// Every declared setting, for the directive table and the tests.
        pub fn all() -> impl Iterator<Item = &'static Setting> {
            [$($group::SETTINGS),*].into_iter().flatten()
        }

        /// Reads `directive word` into the block's `layers` if it is a declared setting;
        /// `None` if it is not.
        pub fn nginx(
            layers: &mut $crate::config::tree::Layers,
            directive: &str,
            word: &str,
        ) -> Option<Result<(), Refusal>> {
            $(
                if let Some(done) = $group::nginx(&mut layers.$lf, directive, word) {
                    return Some(done);
                }
            )*
            None
        }
    };
}

conn_settings! { server_settings! { files_settings! { proxy_settings! { group! {} } } } }
