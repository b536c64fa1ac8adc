//! Fuzzes the nginx.conf front-end: the lexer on raw bytes (any encoding) and the parser on
//! text, in file and `-g` mode, never panic, never loop, and every error they report names
//! its line.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anx::config::nginx::lexer::{End, Lexer, Mode};
use anx::config::nginx::parser::parse_param;
use anx::config::nginx::{parse_str, ParseOptions};
use libfuzzer_sys::fuzz_target;

/// A scratch prefix with a few files, so `include` finds something, a broken file and a
/// cycle. Inputs cannot name anything outside it (see below).
fn prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let dir = std::env::temp_dir().join("anx-fuzz-nginx");
        let _ = std::fs::create_dir_all(&dir);
        let files = [
            ("a.conf", "a 1;\nb { c \"d\"; }\n"),
            ("loop.conf", "include *.conf;\n"),
            ("bad.conf", "x \"y\"z;\n"),
        ];
        for (name, text) in files {
            let _ = std::fs::write(dir.join(name), text);
        }
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    for mode in [Mode::File, Mode::Param] {
        let mut lexer = Lexer::new(data, mode);
        // Every statement but the last consumes at least one byte.
        for _ in 0..=data.len() {
            match lexer.next_statement() {
                Ok(st) if st.end != End::Eof => {}
                _ => break,
            }
        }
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Without `/` an include can only name a file in the prefix (or the prefix's parent,
    // a directory, which fails to read): the fuzzer must not wander the filesystem.
    if text.contains("include") && text.contains('/') {
        return;
    }
    let opts = ParseOptions {
        prefix: prefix().to_path_buf(),
    };
    if let Err(errors) = parse_str(text, Path::new("fuzz.conf"), &opts) {
        assert!(!errors.0.is_empty());
        for e in &errors.0 {
            assert!(e.line.is_some() && e.file.is_some(), "{e:?}");
        }
    }
    if let Err(errors) = parse_param(text, &opts) {
        assert!(!errors.0.is_empty());
    }
});
