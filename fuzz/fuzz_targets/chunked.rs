//! Fuzzes the chunked body decoder: no panics, consumption never exceeds the input, and
//! feeding the input in two pieces decodes exactly what feeding it at once does.
#![no_main]

use anx::http::body::chunked::ChunkedDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut whole = ChunkedDecoder::new();
    let mut out_whole = Vec::new();
    let r_whole = whole.decode(data, &mut |b| out_whole.extend_from_slice(b));
    if let Ok(p) = r_whole {
        assert!(p.consumed <= data.len());
    }
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut parts = ChunkedDecoder::new();
    let mut out_parts = Vec::new();
    let first = parts.decode(&data[..split], &mut |b| out_parts.extend_from_slice(b));
    if let (Ok(p1), Ok(pw)) = (first, r_whole) {
        if !p1.done && p1.consumed == split {
            if let Ok(p2) = parts.decode(&data[split..], &mut |b| out_parts.extend_from_slice(b)) {
                assert_eq!(p1.consumed + p2.consumed, pw.consumed);
                assert_eq!(out_parts, out_whole);
            }
        }
    }
});
