//! Fuzzes the upstream response-head parser and the client-head writer: no panics, every
//! position lies inside the head, no value carries CR, LF or NUL, an accepted head parses the
//! same way again on its own bytes, and the head written for the client is well terminated.
#![no_main]

use anx::http::upstream::{parse_response_head, write_client_head, Parsed, RelayOptions};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the options, so one corpus covers them all.
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let head_request = flags & 1 != 0;
    match parse_response_head(data, MAX, head_request) {
        Ok(Parsed::Head(head)) => {
            assert!(head.len <= data.len() && head.len <= MAX);
            for (name, value) in &head.fields {
                assert!(name.end <= head.len && value.end <= head.len);
                assert!(!data[value.clone()]
                    .iter()
                    .any(|&b| b == b'\r' || b == b'\n' || b == 0));
            }
            match parse_response_head(&data[..head.len], MAX, head_request) {
                Ok(Parsed::Head(again)) => {
                    assert_eq!(again.len, head.len);
                    assert_eq!(again.framing, head.framing);
                    assert_eq!(again.fields, head.fields);
                }
                other => panic!("reparse gave {other:?}"),
            }
            let hide = ["x-hidden".to_string()];
            let pass = ["server".to_string()];
            let opts = RelayOptions {
                hide: &hide,
                pass: if flags & 2 != 0 { &pass } else { &[] },
                server_tokens: flags & 4 != 0,
                keep_alive: flags & 8 != 0,
                client_minor: (flags >> 4) & 1,
                head_request,
                upgrade: flags & 32 != 0,
                extra: b"",
                chunked: flags & 128 != 0,
                keepalive_header: None,
                replace_cache_fields: flags & 64 != 0,
                trailers: flags & 128 != 0 && flags & 16 != 0,
            };
            let mut out = Vec::new();
            write_client_head(&mut out, &head, data, &opts, &mut |_name, v| {
                (flags & 64 != 0).then(|| v.to_vec())
            });
            assert!(out.ends_with(b"\r\n\r\n"));
        }
        Ok(Parsed::Interim(len)) => assert!(len <= data.len() && len <= MAX),
        Ok(Parsed::Incomplete) | Err(_) => {}
    }
});
