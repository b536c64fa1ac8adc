//! The value kinds a scalar setting may have (control thread only, while a configuration
//! loads or is dumped): one nginx reading, one TOML reading and one `-T` writing each, so
//! every setting of a kind is read and written the same way in both formats.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::config::dump::{int, q, time};
use crate::config::toml::{Size as TomlSize, Time as TomlTime};
use crate::config::tree;

/// How values of type `T` are read and written for one kind.
pub trait Kind<T> {
    /// What the TOML key holds (checked while the file is read, so errors carry a line).
    type Toml: DeserializeOwned;
    fn from_toml(v: Self::Toml) -> T;
    /// The nginx argument, or the whole error message naming `directive`.
    fn nginx(directive: &str, word: &str) -> Result<T, String>;
    /// The value as `-T` writes it (TOML).
    fn toml(v: &T) -> String;
    /// The value as an nginx argument.
    fn nginx_word(v: &T) -> String;
    /// A value other than `v` (tests prove every setting with it).
    fn other(v: &T) -> T;
}

/// `on` / `off` (any case, as nginx); TOML `true` / `false`.
pub struct Flag;

/// A time (`75s`, `1m 30s`, `500ms`, bare seconds); TOML the same text or seconds.
pub struct Time;

/// A size in bytes (`8k`, `1m`, bare bytes); TOML the same text or bytes.
pub struct Size;

/// A plain decimal number (nginx's `ngx_atoi`: digits only, no sign); TOML an integer.
pub struct Count;

impl Kind<bool> for Flag {
    type Toml = bool;
    fn from_toml(v: bool) -> bool {
        v
    }
    fn nginx(directive: &str, word: &str) -> Result<bool, String> {
        if word.eq_ignore_ascii_case("on") {
            Ok(true)
        } else if word.eq_ignore_ascii_case("off") {
            Ok(false)
        } else {
            Err(format!(
                "invalid value \"{word}\" in \"{directive}\" directive, it must be \"on\" or \
                 \"off\""
            ))
        }
    }
    fn toml(v: &bool) -> String {
        v.to_string()
    }
    fn nginx_word(v: &bool) -> String {
        if *v { "on" } else { "off" }.to_string()
    }
    fn other(v: &bool) -> bool {
        !v
    }
}

impl Kind<Duration> for Time {
    type Toml = TomlTime;
    fn from_toml(v: TomlTime) -> Duration {
        v.0
    }
    fn nginx(directive: &str, word: &str) -> Result<Duration, String> {
        tree::time(word).map_err(|e| format!("\"{directive}\" directive: {e}"))
    }
    fn toml(v: &Duration) -> String {
        q(&time(*v))
    }
    fn nginx_word(v: &Duration) -> String {
        format!("\"{}\"", time(*v))
    }
    fn other(v: &Duration) -> Duration {
        *v + Duration::from_secs(7)
    }
}

/// Sizes and counts of each integer type the model holds.
macro_rules! integer_kinds {
    ($($t:ty),*) => {$(
        impl Kind<$t> for Size {
            type Toml = TomlSize;
            fn from_toml(v: TomlSize) -> $t {
                // Only beyond the address space (never on 64-bit): the largest there is.
                <$t>::try_from(v.0).unwrap_or(<$t>::MAX)
            }
            fn nginx(directive: &str, word: &str) -> Result<$t, String> {
                let n = tree::size(word).map_err(|e| format!("\"{directive}\" directive: {e}"))?;
                <$t>::try_from(n)
                    .map_err(|_| format!("\"{directive}\" directive: \"{word}\" is too large"))
            }
            fn toml(v: &$t) -> String {
                int(*v as u64)
            }
            fn nginx_word(v: &$t) -> String {
                v.to_string()
            }
            fn other(v: &$t) -> $t {
                v.saturating_add(1024)
            }
        }

        impl Kind<$t> for Count {
            type Toml = $t;
            fn from_toml(v: $t) -> $t {
                v
            }
            fn nginx(directive: &str, word: &str) -> Result<$t, String> {
                let digits = !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit());
                digits.then(|| word.parse::<$t>().ok()).flatten().ok_or_else(|| {
                    format!("\"{directive}\" directive: expected a number, found \"{word}\"")
                })
            }
            fn toml(v: &$t) -> String {
                int(*v as u64)
            }
            fn nginx_word(v: &$t) -> String {
                v.to_string()
            }
            fn other(v: &$t) -> $t {
                v.saturating_add(7)
            }
        }
    )*};
}

integer_kinds!(u32, u64, usize);
