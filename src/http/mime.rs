//! MIME type table used by the static file handler to pick Content-Type.
//!
//! In: the text of an nginx-style `mime.types` file
//! (`types { text/html html htm; ... }`, `#` comments) at configuration time;
//! at request time, the normalised path of the file being served.
//! Out: the content type registered for the path's extension, or `None` so
//! the caller can fall back to its `default_type`.

use std::collections::HashMap;

/// Lowercase extension → content type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MimeTypes {
    by_ext: HashMap<Vec<u8>, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Open,
    Close,
    Semi,
}

/// Splits config text into words and the punctuation nginx treats specially,
/// each tagged with the 1-based line it starts on.
fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, String> {
    let mut tokens = Vec::new();
    let mut line = 1usize;
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            '\n' => {
                line += 1;
                chars.next();
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => {
                while let Some(&c) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    chars.next();
                }
            }
            '{' | '}' | ';' => {
                chars.next();
                let tok = match c {
                    '{' => Token::Open,
                    '}' => Token::Close,
                    _ => Token::Semi,
                };
                tokens.push((tok, line));
            }
            '"' | '\'' => {
                let start_line = line;
                chars.next();
                let mut word = String::new();
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            word.push(ch);
                        }
                        None => {
                            return Err(format!(
                            "line {start_line}: unterminated quoted string, expected closing {c}"
                        ))
                        }
                    }
                }
                tokens.push((Token::Word(word), start_line));
            }
            _ => {
                let mut word = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_whitespace() || matches!(ch, '{' | '}' | ';' | '#' | '"' | '\'') {
                        break;
                    }
                    word.push(ch);
                    chars.next();
                }
                tokens.push((Token::Word(word), line));
            }
        }
    }
    Ok(tokens)
}

fn describe(tok: &Token) -> String {
    match tok {
        Token::Word(w) => format!("'{w}'"),
        Token::Open => "'{'".to_string(),
        Token::Close => "'}'".to_string(),
        Token::Semi => "';'".to_string(),
    }
}

impl MimeTypes {
    /// Parses one or more `types { <type> <ext>...; ... }` blocks.
    ///
    /// Extensions are stored lowercase. A repeated extension keeps the last
    /// type, as nginx does (it only warns). A type with no extensions is
    /// accepted and ignored, also like nginx. An "extension" containing '/'
    /// is rejected because it almost always means a missing ';' on the
    /// previous entry, which would otherwise silently map e.g. "image/png"
    /// as an extension of the previous type.
    pub fn parse_nginx(text: &str) -> Result<MimeTypes, String> {
        let tokens = tokenize(text)?;
        let mut by_ext = HashMap::new();
        let mut it = tokens.into_iter().peekable();
        while let Some((tok, line)) = it.next() {
            let mut last_line = line;
            match tok {
                Token::Word(ref w) if w == "types" => {}
                other => {
                    return Err(format!(
                        "line {line}: expected 'types', found {}",
                        describe(&other)
                    ))
                }
            }
            match it.next() {
                Some((Token::Open, _)) => {}
                Some((other, l)) => {
                    return Err(format!(
                        "line {l}: expected '{{' after 'types', found {}",
                        describe(&other)
                    ))
                }
                None => {
                    return Err(format!(
                        "line {line}: unexpected end of file, expected '{{' after 'types'"
                    ))
                }
            }
            loop {
                let (mime, mime_line) = match it.next() {
                    Some((Token::Close, _)) => break,
                    Some((Token::Word(w), l)) => (w, l),
                    Some((other, l)) => {
                        return Err(format!(
                            "line {l}: expected a MIME type or '}}', found {}",
                            describe(&other)
                        ))
                    }
                    None => {
                        return Err(format!(
                            "line {last_line}: unexpected end of file, expected '}}'"
                        ))
                    }
                };
                last_line = mime_line;
                if mime.is_empty() {
                    return Err(format!("line {mime_line}: expected a MIME type, found ''"));
                }
                loop {
                    match it.next() {
                        Some((Token::Semi, _)) => break,
                        Some((Token::Word(ext), l)) => {
                            last_line = l;
                            if ext.is_empty() || ext.contains('/') {
                                return Err(format!(
                                    "line {l}: expected a file extension or ';' after '{mime}', \
                                     found '{ext}' (missing ';'?)"
                                ));
                            }
                            by_ext.insert(ext.to_ascii_lowercase().into_bytes(), mime.clone());
                        }
                        Some((other, l)) => {
                            return Err(format!(
                            "line {l}: expected a file extension or ';' after '{mime}', found {}",
                            describe(&other)
                        ))
                        }
                        None => {
                            return Err(format!(
                            "line {last_line}: unexpected end of file, expected ';' after '{mime}'"
                        ))
                        }
                    }
                }
            }
        }
        Ok(MimeTypes { by_ext })
    }

    /// The table shipped in `conf/mime.types`. A broken file is caught by the
    /// tests; at runtime we degrade to a minimal table rather than panic.
    pub fn builtin() -> MimeTypes {
        Self::parse_nginx(include_str!("../../conf/mime.types")).unwrap_or_else(|_| {
            let mut by_ext = HashMap::new();
            for (ext, ty) in [
                ("html", "text/html"),
                ("css", "text/css"),
                ("js", "application/javascript"),
                ("txt", "text/plain"),
                ("png", "image/png"),
                ("jpg", "image/jpeg"),
            ] {
                by_ext.insert(ext.as_bytes().to_vec(), ty.to_string());
            }
            MimeTypes { by_ext }
        })
    }

    /// Content type for the extension of the last path segment.
    ///
    /// The extension is what follows the last '.' of the last segment,
    /// compared case-insensitively. A leading dot does not start an extension
    /// (".bashrc" has none, matching nginx), nor does a trailing one ("a.").
    pub fn lookup(&self, path: &[u8]) -> Option<&str> {
        let name = match memchr::memrchr(b'/', path) {
            Some(i) => &path[i + 1..],
            None => path,
        };
        let dot = memchr::memrchr(b'.', name)?;
        if dot == 0 {
            return None;
        }
        let ext = &name[dot + 1..];
        if ext.is_empty() {
            return None;
        }
        if ext.iter().any(u8::is_ascii_uppercase) {
            self.by_ext
                .get(&ext.to_ascii_lowercase())
                .map(String::as_str)
        } else {
            self.by_ext.get(ext).map(String::as_str)
        }
    }

    /// Adds `ext` → `content_type` (a repeated extension keeps the last type, as nginx).
    pub fn insert(&mut self, ext: &str, content_type: &str) {
        self.by_ext.insert(
            ext.to_ascii_lowercase().into_bytes(),
            content_type.to_string(),
        );
    }

    /// Every (extension, type) pair, sorted by extension (for `anx -T`).
    pub fn entries(&self) -> Vec<(&[u8], &str)> {
        let mut v: Vec<(&[u8], &str)> = self
            .by_ext
            .iter()
            .map(|(e, t)| (e.as_slice(), t.as_str()))
            .collect();
        v.sort();
        v
    }

    pub fn len(&self) -> usize {
        self.by_ext.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ext.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_and_is_thorough() {
        let text = include_str!("../../conf/mime.types");
        let parsed = MimeTypes::parse_nginx(text);
        assert!(parsed.is_ok(), "{:?}", parsed.err());
        let m = MimeTypes::builtin();
        assert!(m.len() > 100, "only {} entries", m.len());
        assert!(!m.is_empty());
        let expect = [
            ("html", "text/html"),
            ("htm", "text/html"),
            ("shtml", "text/html"),
            ("css", "text/css"),
            ("js", "application/javascript"),
            ("mjs", "application/javascript"),
            ("json", "application/json"),
            ("xml", "text/xml"),
            ("txt", "text/plain"),
            ("csv", "text/csv"),
            ("md", "text/markdown"),
            ("svg", "image/svg+xml"),
            ("png", "image/png"),
            ("jpg", "image/jpeg"),
            ("jpeg", "image/jpeg"),
            ("gif", "image/gif"),
            ("webp", "image/webp"),
            ("avif", "image/avif"),
            ("ico", "image/x-icon"),
            ("bmp", "image/x-ms-bmp"),
            ("tif", "image/tiff"),
            ("tiff", "image/tiff"),
            ("woff", "font/woff"),
            ("woff2", "font/woff2"),
            ("ttf", "font/ttf"),
            ("otf", "font/otf"),
            ("eot", "application/vnd.ms-fontobject"),
            ("mp3", "audio/mpeg"),
            ("ogg", "audio/ogg"),
            ("wav", "audio/wav"),
            ("flac", "audio/flac"),
            ("m4a", "audio/x-m4a"),
            ("mp4", "video/mp4"),
            ("webm", "video/webm"),
            ("mov", "video/quicktime"),
            ("mkv", "video/x-matroska"),
            ("avi", "video/x-msvideo"),
            ("pdf", "application/pdf"),
            ("zip", "application/zip"),
            ("gz", "application/gzip"),
            ("tgz", "application/gzip"),
            ("tar", "application/x-tar"),
            ("bz2", "application/x-bzip2"),
            ("xz", "application/x-xz"),
            ("7z", "application/x-7z-compressed"),
            ("rar", "application/x-rar-compressed"),
            ("wasm", "application/wasm"),
            ("doc", "application/msword"),
            (
                "docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ),
            ("xls", "application/vnd.ms-excel"),
            (
                "xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            ("ppt", "application/vnd.ms-powerpoint"),
            (
                "pptx",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            ),
            ("odt", "application/vnd.oasis.opendocument.text"),
            ("rtf", "application/rtf"),
            ("atom", "application/atom+xml"),
            ("rss", "application/rss+xml"),
            ("jar", "application/java-archive"),
            ("war", "application/java-archive"),
            ("ear", "application/java-archive"),
            ("bin", "application/octet-stream"),
            ("exe", "application/octet-stream"),
            ("dll", "application/octet-stream"),
            ("iso", "application/octet-stream"),
            ("img", "application/octet-stream"),
        ];
        for (ext, ty) in expect {
            let path = format!("/x/file.{ext}");
            assert_eq!(m.lookup(path.as_bytes()), Some(ty), "{ext}");
        }
    }

    #[test]
    fn builtin_has_no_charset_on_html() {
        let m = MimeTypes::builtin();
        assert_eq!(m.lookup(b"/index.html"), Some("text/html"));
    }

    #[test]
    fn parse_basic_block() {
        let m = MimeTypes::parse_nginx(
            "# leading comment\ntypes {\n  text/html  html htm; # trailing\n  image/png png;\n}\n",
        )
        .unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m.lookup(b"/a.htm"), Some("text/html"));
        assert_eq!(m.lookup(b"/a.png"), Some("image/png"));
    }

    #[test]
    fn parse_compact_and_multiple_blocks() {
        let m = MimeTypes::parse_nginx("types{a/b x;c/d y;}types{e/f z;}").unwrap();
        assert_eq!(m.lookup(b"f.x"), Some("a/b"));
        assert_eq!(m.lookup(b"f.y"), Some("c/d"));
        assert_eq!(m.lookup(b"f.z"), Some("e/f"));
    }

    #[test]
    fn parse_empty_inputs() {
        assert!(MimeTypes::parse_nginx("").unwrap().is_empty());
        assert!(MimeTypes::parse_nginx("# only a comment")
            .unwrap()
            .is_empty());
        assert!(MimeTypes::parse_nginx("types {}").unwrap().is_empty());
    }

    #[test]
    fn parse_quoted_words() {
        let m = MimeTypes::parse_nginx("types { \"text/plain\" 'txt'; }").unwrap();
        assert_eq!(m.lookup(b"a.txt"), Some("text/plain"));
    }

    #[test]
    fn duplicate_extension_last_wins_and_lowercased() {
        let m = MimeTypes::parse_nginx("types { a/one X; a/two x; }").unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m.lookup(b"f.x"), Some("a/two"));
    }

    #[test]
    fn type_without_extensions_ignored() {
        let m = MimeTypes::parse_nginx("types { a/b; c/d e; }").unwrap();
        assert_eq!(m.len(), 1);
    }

    fn err(text: &str) -> String {
        match MimeTypes::parse_nginx(text) {
            Ok(_) => panic!("expected an error for {text:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn errors_name_line_and_expectation() {
        let e = err("types {\n text/html html\n image/png png;\n}");
        assert!(e.starts_with("line 3:"), "{e}");
        assert!(e.contains("missing ';'"), "{e}");

        let e = err("\n\nfoo { }");
        assert!(
            e.starts_with("line 3:") && e.contains("expected 'types'"),
            "{e}"
        );

        let e = err("types\n\n text/html html;");
        assert!(
            e.starts_with("line 3:") && e.contains("expected '{'"),
            "{e}"
        );

        let e = err("types {\n text/html html;\n");
        assert!(e.contains("line 2") && e.contains("expected '}'"), "{e}");

        let e = err("types {\n text/html html");
        assert!(e.contains("line 2") && e.contains("expected ';'"), "{e}");

        let e = err("types {\n ; }");
        assert!(
            e.starts_with("line 2:") && e.contains("expected a MIME type"),
            "{e}"
        );

        let e = err("types { a/b { }");
        assert!(e.contains("expected a file extension"), "{e}");

        let e = err("types { a/b c; } trailing");
        assert!(e.contains("expected 'types'"), "{e}");

        let e = err("types { \"a/b c; }");
        assert!(e.contains("unterminated"), "{e}");

        let e = err("types");
        assert!(e.contains("end of file"), "{e}");

        let e = err("types { '' x; }");
        assert!(e.contains("expected a MIME type"), "{e}");

        let e = err("}");
        assert!(e.contains("expected 'types'"), "{e}");
    }

    #[test]
    fn garbage_input_does_not_panic() {
        for text in [
            "{{{{",
            ";;;",
            "types {{",
            "types { a/b x y z",
            "\u{0}\u{1}",
            "types { é/ü ö; }",
        ] {
            let _ = MimeTypes::parse_nginx(text);
        }
    }

    #[test]
    fn lookup_rules() {
        let m = MimeTypes::parse_nginx("types { text/html html; text/plain txt bashrc; a/gz gz; }")
            .unwrap();
        assert_eq!(m.lookup(b"/index.HTML"), Some("text/html"));
        assert_eq!(m.lookup(b"/index.HtMl"), Some("text/html"));
        assert_eq!(m.lookup(b"/a.b/c"), None);
        assert_eq!(m.lookup(b"/a.b/"), None);
        assert_eq!(m.lookup(b"/.bashrc"), None);
        assert_eq!(m.lookup(b".bashrc"), None);
        assert_eq!(m.lookup(b"/x/.bashrc"), None);
        assert_eq!(m.lookup(b"/file."), None);
        assert_eq!(m.lookup(b"/file"), None);
        assert_eq!(m.lookup(b""), None);
        assert_eq!(m.lookup(b"/"), None);
        assert_eq!(m.lookup(b"/a.tar.gz"), Some("a/gz"));
        assert_eq!(m.lookup(b"/..txt"), Some("text/plain"));
        assert_eq!(m.lookup(b"/a.unknown"), None);
        assert_eq!(m.lookup(b"/a.\xff\xfe"), None);
        assert_eq!(m.lookup(b"/a.txt\xff"), None);
        assert_eq!(m.lookup(b"noslash.txt"), Some("text/plain"));
    }
}
