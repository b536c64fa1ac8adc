//! Fuzzes URI path normalisation: no panics, and an accepted path is absolute, has no "."
//! or ".." segments and no NUL, so it can never name anything above the root.
#![no_main]

use anx::files::path::normalize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for merge in [true, false] {
        if let Ok(p) = normalize(data, merge) {
            assert_eq!(p.first(), Some(&b'/'));
            assert!(!p.contains(&0));
            for segment in p.split(|&b| b == b'/') {
                assert!(segment != b"." && segment != b"..", "{:?}", String::from_utf8_lossy(&p));
            }
        }
    }
});
