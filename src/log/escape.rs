//! Escaping of logged values, as nginx's `log_format escape=default|json`.

/// nginx's default escaping: `"`, `\`, and bytes outside 0x20..=0x7e become `\xHH`.
pub fn default_into(out: &mut Vec<u8>, value: &[u8]) {
    for &b in value {
        if b == b'"' || b == b'\\' || !(0x20..=0x7e).contains(&b) {
            out.extend_from_slice(b"\\x");
            out.push(hex(b >> 4));
            out.push(hex(b & 0xf));
        } else {
            out.push(b);
        }
    }
}

/// JSON string contents: `"`, `\` and control bytes escaped; other bytes pass through
/// (invalid UTF-8 is written as \u00XX per byte so the line stays valid JSON).
pub fn json_into(out: &mut Vec<u8>, value: &[u8]) {
    let valid = std::str::from_utf8(value).is_ok();
    for &b in value {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => unicode_escape(out, b),
            0x80..=0xff if !valid => unicode_escape(out, b),
            _ => out.push(b),
        }
    }
}

fn unicode_escape(out: &mut Vec<u8>, b: u8) {
    out.extend_from_slice(b"\\u00");
    out.push(hex(b >> 4));
    out.push(hex(b & 0xf));
}

fn hex(n: u8) -> u8 {
    b"0123456789ABCDEF"[usize::from(n & 0xf)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let mut v = Vec::new();
        default_into(&mut v, b"a\"b\\c\x01\xff");
        assert_eq!(v, b"a\\x22b\\x5Cc\\x01\\xFF");
        let mut j = Vec::new();
        json_into(&mut j, b"a\"\n\x01\xff");
        assert_eq!(j, b"a\\\"\\n\\u0001\\u00FF");
        let mut u = Vec::new();
        json_into(&mut u, "é".as_bytes());
        assert_eq!(u, "é".as_bytes());
    }
}
