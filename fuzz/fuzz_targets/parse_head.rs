//! Fuzzes the HTTP/1.x request-head parser: it must never panic, every position it returns
//! must lie inside the input, and a head it accepts must parse the same way again.
#![no_main]

use anx::http::request::{parse_head, HeadLimits};
use libfuzzer_sys::fuzz_target;

const LIMITS: HeadLimits = HeadLimits {
    max_request_line: 1024,
    max_header_line: 1024,
    max_header_bytes: 4096,
    max_headers: 32,
    ignore_invalid_headers: true,
    underscores_in_headers: false,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(head)) = parse_head(data, &LIMITS) {
        assert!(head.len <= data.len());
        assert!(head.target.end <= head.len && head.path_and_query.end <= head.len);
        for f in &head.fields {
            assert!(f.name.end <= head.len && f.value.end <= head.len);
            // Values never carry CR, LF or NUL: the framing of what follows stays ours.
            assert!(!data[f.value.clone()].iter().any(|&b| b == b'\r' || b == b'\n' || b == 0));
        }
        let again = parse_head(&data[..head.len], &LIMITS);
        assert_eq!(again, Ok(Some(head)));
    }
});
