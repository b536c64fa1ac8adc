//! `log_format` lines: a template formatted through the variable evaluator with nginx's
//! escaping.
//!
//! `log::access` calls [`render`] for `AccessLogFormat::Custom` after the response is out,
//! so `$status`, `$body_bytes_sent`, `$request_time` and `$sent_http_*` see what was sent.
//! Literal text is copied as written; each variable's value is escaped per `escape=`:
//! `default` writes `"`, `\` and bytes outside 0x20–0x7e as `\xHH` and a variable that is not
//! found as `-`; `json` escapes as a JSON string body; `none` copies (with both, a variable
//! that is not found writes nothing, as nginx).

use std::cell::RefCell;

use super::escape;
use crate::config::model::{LogEscape, LogFormat, Part};
use crate::context::vars::{Ctx, Scope};

thread_local! {
    /// One value at a time is evaluated here before escaping (no allocation per line).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Appends one line (with its '\n') for the request in `ctx`.
pub fn render(out: &mut Vec<u8>, format: &LogFormat, ctx: &mut Ctx, scope: Scope) {
    SCRATCH.with(|scratch| {
        let mut value = scratch.borrow_mut();
        for part in &format.template.parts {
            match part {
                Part::Literal(s) => out.extend_from_slice(s.as_bytes()),
                Part::Var(v) => {
                    value.clear();
                    let found = ctx.var(v, &mut value, scope);
                    match format.escape {
                        LogEscape::Default if !found => out.push(b'-'),
                        LogEscape::Default => escape::default_into(out, &value),
                        LogEscape::Json => json_into(out, &value),
                        LogEscape::None => out.extend_from_slice(&value),
                    }
                }
            }
        }
    });
    out.push(b'\n');
}

/// nginx's `ngx_escape_json`: `"` and `\` backslashed, control bytes as `\n`, `\r`, `\t`,
/// `\b`, `\f` or `\u00XX`; everything else (UTF-8 or not) as it is.
fn json_into(out: &mut Vec<u8>, value: &[u8]) {
    for &b in value {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(b"0123456789abcdef"[usize::from(b >> 4)]);
                out.push(b"0123456789abcdef"[usize::from(b & 0xf)]);
            }
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_escaping() {
        let mut v = Vec::new();
        super::json_into(&mut v, b"a\"b\\\n\x01\xff");
        assert_eq!(v, b"a\\\"b\\\\\\n\\u0001\xff");
    }
}
