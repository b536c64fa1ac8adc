//! The connection and request-body settings nginx reads from the location that answers a
//! request (http → server → location): keep-alive, timeouts, `server_tokens`, and how a
//! request body is buffered (memory up to `client_body_buffer_size`, then a temporary file).
//! Read by `serve::h1`, `serve::body` and `serve::proxy` once the pipeline chose a location.

use std::path::PathBuf;
use std::time::Duration;

/// nginx's default `client_body_buffer_size`: two memory pages (8k on x86-64).
pub const DEFAULT_BODY_BUFFER: u64 = 8 * 1024;

crate::config::settings::conn_settings! { crate::config::settings::model_struct! {
    /// Per-location connection settings, every inherited value merged in (the scalar ones
    /// are declared in `config::settings`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct LocationHttp {
        /// `keepalive_timeout`'s first argument; zero disables keep-alive.
        pub keepalive_timeout: Duration = Duration::from_secs(75),
        /// `keepalive_timeout`'s second argument: sent as `Keep-Alive: timeout=N`.
        pub keepalive_header: Option<Duration> = None,
        /// `keepalive_disable`.
        pub keepalive_disable: KeepaliveDisable = KeepaliveDisable {
            msie6: true,
            safari: false,
        },
        /// `server_tokens`.
        pub server_tokens: bool = true,
        pub body: BodyBuffering = BodyBuffering::default(),
    }
} }

/// `keepalive_disable none | msie6 | safari …`: browsers keep-alive is off for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeepaliveDisable {
    pub msie6: bool,
    pub safari: bool,
}

impl KeepaliveDisable {
    /// nginx's browser checks on `User-Agent` (`ngx_http_process_user_agent`): `msie6`
    /// turns keep-alive off for POST requests from MSIE 4–6 (6 without "SV1"), `safari` for
    /// any request from Safari on Mac OS X.
    /// `user_agent` is only asked for when a check applies (the default `msie6` looks at
    /// POST requests only), so most requests never look the field up.
    pub fn refuses<'u>(&self, user_agent: impl FnOnce() -> Option<&'u [u8]>, post: bool) -> bool {
        if !(self.safari || self.msie6 && post) {
            return false;
        }
        let Some(ua) = user_agent() else {
            return false;
        };
        let (msie, msie6) = msie(ua);
        let opera = find(ua, b"Opera").is_some();
        if self.msie6 && post && msie6 && !opera {
            return true;
        }
        self.safari
            && !(msie || opera)
            && find(ua, b"Gecko/").is_none()
            && find(ua, b"Chrome/").is_none()
            && find(ua, b"Safari/").is_some()
            && find(ua, b"Mac OS X").is_some()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// (is MSIE, is MSIE 6 or older without the XP SP2 fix).
fn msie(ua: &[u8]) -> (bool, bool) {
    let Some(at) = find(ua, b"MSIE ") else {
        return (false, false);
    };
    if at + 7 >= ua.len() {
        return (false, false);
    }
    let old = ua[at + 6] == b'.'
        && match ua[at + 5] {
            b'4' | b'5' => true,
            b'6' => find(&ua[at + 8..], b"SV1").is_none(),
            _ => false,
        };
    (true, old)
}

/// How a request body read for a handler (a buffered proxy) is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyBuffering {
    /// `client_body_buffer_size`: bytes held in memory before the body goes to a file.
    pub buffer_size: u64,
    /// `client_body_temp_path`.
    pub temp_path: TempPath,
    /// `client_body_in_file_only`.
    pub in_file_only: InFileOnly,
    /// `client_body_in_single_buffer`: a body that fits `buffer_size` stays in memory even
    /// when it came in several reads (anx always keeps such a body in one buffer).
    pub single_buffer: bool,
}

impl Default for BodyBuffering {
    fn default() -> Self {
        BodyBuffering {
            buffer_size: DEFAULT_BODY_BUFFER,
            temp_path: TempPath {
                path: PathBuf::from("client_body_temp"),
                levels: Vec::new(),
            },
            in_file_only: InFileOnly::Off,
            single_buffer: false,
        }
    }
}

/// `client_body_temp_path path [l1 [l2 [l3]]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempPath {
    /// Resolved against the prefix.
    pub path: PathBuf,
    /// Digits of the file name per directory level (1 or 2 each), as nginx's levels: level
    /// one takes the last digits of the name.
    pub levels: Vec<u8>,
}

impl TempPath {
    /// The file for temporary number `n`: the ten-digit zero-padded name, under one
    /// directory per level taken from the end of that name (nginx's `ngx_create_hashed_filename`).
    pub fn file(&self, n: u64) -> PathBuf {
        let name = format!("{n:010}");
        let mut path = self.path.clone();
        let mut end = name.len();
        for &l in &self.levels {
            let l = usize::from(l);
            let start = end.saturating_sub(l);
            path.push(&name[start..end]);
            end = start;
        }
        path.push(&name);
        path
    }
}

/// `client_body_in_file_only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InFileOnly {
    /// The body goes to a file only when it does not fit `client_body_buffer_size`.
    Off,
    /// Always a file, kept after the request.
    On,
    /// Always a file, removed after the request.
    Clean,
}

impl InFileOnly {
    pub fn name(self) -> &'static str {
        match self {
            InFileOnly::Off => "off",
            InFileOnly::On => "on",
            InFileOnly::Clean => "clean",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_take_levels_from_the_end() {
        let t = TempPath {
            path: PathBuf::from("/t"),
            levels: vec![1, 2],
        };
        assert_eq!(t.file(123), PathBuf::from("/t/3/12/0000000123"));
        let flat = TempPath {
            path: PathBuf::from("/t"),
            levels: vec![],
        };
        assert_eq!(flat.file(7), PathBuf::from("/t/0000000007"));
    }

    #[test]
    fn browser_checks() {
        let d = KeepaliveDisable {
            msie6: true,
            safari: true,
        };
        let ie6 = b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0)";
        assert!(d.refuses(|| Some(&ie6[..]), true));
        assert!(
            !d.refuses(|| Some(&ie6[..]), false),
            "msie6 is about POST only"
        );
        assert!(d.refuses(|| Some(&b"MSIE 5.0"[..]), true));
        let sp2 = b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)";
        assert!(!d.refuses(|| Some(&sp2[..]), true));
        assert!(!d.refuses(|| Some(&b"MSIE 7.0"[..]), true));
        assert!(d.refuses(|| Some(&b"Mac OS X Safari/7534.48.3"[..]), false));
        let chrome = b"Mozilla/5.0 (Macintosh; Intel Mac OS X) AppleWebKit Chrome/120 Safari/537";
        assert!(!d.refuses(|| Some(&chrome[..]), false));
        assert!(!d.refuses(|| None, true));
        // The default (msie6 only) never looks at the field of a GET.
        let default = KeepaliveDisable {
            msie6: true,
            safari: false,
        };
        assert!(!default.refuses(|| panic!("User-Agent read for a GET"), false));
    }
}
