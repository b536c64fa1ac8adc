//! nginx.conf parser: statements → the generic directive tree, with `include` expanded.
//!
//! Part of the nginx configuration front-end, run on the control thread while a
//! configuration loads, never on the request path. Input is a file (or a string) in nginx
//! syntax; output is a tree of [`Directive`]s, each with its words and the file and line it
//! was written at. Nothing here knows what a directive means: `if` conditions, `map` and
//! `types` entries are plain directives; the directive table gives them meaning later.
//!
//! Structure follows nginx's `ngx_conf_parse`: every file is parsed on its own (a block
//! cannot start in one file and end in another), a syntax error ends the file it is in, and
//! `include` is expanded where it stands, at any depth. Unlike nginx, which stops at the
//! first error, we carry on wherever that is cheap (after a missing include, in the file
//! that included a broken one) so one run reports as much as possible.

use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::lexer::{End, LexError, Lexer, Mode, Statement, Word};
use crate::config::{ConfigError, ConfigErrors};

/// Files inside files: nginx has no limit and recurses until it runs out of descriptors;
/// real configurations nest two or three deep.
const MAX_INCLUDE_DEPTH: usize = 32;

/// Blocks inside blocks, across includes. nginx has no explicit limit either, but the tree
/// is recursive (and so are drop, clone and the directive table's walk over it), so an
/// absurd depth must be refused before it can exhaust the stack.
const MAX_BLOCK_DEPTH: usize = 100;

/// One word of a directive after its name.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// The text with quotes removed and escapes resolved.
    pub value: String,
    /// Written in `"..."` or `'...'`: some directives treat such a word differently.
    pub quoted: bool,
}

/// One directive as written: `name args;` or `name args { block }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<Arg>,
    /// `Some` for a block directive, even an empty one.
    pub block: Option<Vec<Directive>>,
    /// File the directive was read from; `-g` text carries a pseudo path.
    pub file: Arc<PathBuf>,
    /// 1-based line of the directive's name.
    pub line: usize,
}

/// How to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Relative `include` paths resolve against this (nginx's configuration prefix), used
    /// exactly as given.
    pub prefix: PathBuf,
}

/// Parses the file at `path` and everything it includes.
pub fn parse_file(path: &Path, opts: &ParseOptions) -> Result<Vec<Directive>, ConfigErrors> {
    let mut parser = Parser::new(opts);
    let mut out = Vec::new();
    parser.read_file(path, None, 0, &mut out);
    parser.finish(out)
}

/// Every file [`parse_file`] reads for `path`, in the order it reads them, each once, with
/// its bytes: what `anx -T` prints as nginx's `# configuration file PATH:` sections. Errors
/// are left to `parse_file`; a file that cannot be read is not listed.
pub fn source_files(path: &Path, opts: &ParseOptions) -> Vec<(PathBuf, Vec<u8>)> {
    let mut parser = Parser::new(opts);
    parser.sources = Some(Vec::new());
    let mut out = Vec::new();
    parser.read_file(path, None, 0, &mut out);
    parser.sources.unwrap_or_default()
}

/// Parses `text` as if it were a file at `pseudo_file` (whose name is only used in
/// directives and errors; includes still resolve against `opts.prefix`).
pub fn parse_str(
    text: &str,
    pseudo_file: &Path,
    opts: &ParseOptions,
) -> Result<Vec<Directive>, ConfigErrors> {
    let mut parser = Parser::new(opts);
    let mut out = Vec::new();
    let file = Arc::new(pseudo_file.to_path_buf());
    parser.parse_source(text.as_bytes(), &file, Mode::File, 0, &mut out);
    parser.finish(out)
}

/// Parses the text of nginx's `-g` option, with nginx's rules for it: no blocks, its own
/// end-of-input message, and errors located "in <command line>" without a line.
pub fn parse_param(text: &str, opts: &ParseOptions) -> Result<Vec<Directive>, ConfigErrors> {
    let mut parser = Parser::new(opts);
    let mut out = Vec::new();
    let file = Arc::new(PathBuf::from("<command line>"));
    parser.parse_source(text.as_bytes(), &file, Mode::Param, 0, &mut out);
    parser.finish(out)
}

/// The current file's syntax is broken; stop reading it.
struct Stop;

struct Parser<'o> {
    opts: &'o ParseOptions,
    errors: Vec<ConfigError>,
    /// Files being read, outermost first, canonicalized when possible: a file that appears
    /// again would include itself for ever.
    open: Vec<PathBuf>,
    /// How many `include`s deep we are.
    include_depth: usize,
    /// When set, every file read, once, with its bytes ([`source_files`]).
    sources: Option<Vec<(PathBuf, Vec<u8>)>>,
}

/// Where the source being parsed came from, for errors.
struct Source<'a> {
    file: &'a Arc<PathBuf>,
    mode: Mode,
}

impl Source<'_> {
    fn error(&self, line: usize, message: String) -> ConfigError {
        ConfigError {
            file: Some(self.file.as_ref().clone()),
            // nginx names no line for `-g` errors.
            line: (self.mode == Mode::File).then_some(line),
            message,
        }
    }
}

impl<'o> Parser<'o> {
    fn new(opts: &'o ParseOptions) -> Parser<'o> {
        Parser {
            opts,
            errors: Vec::new(),
            open: Vec::new(),
            include_depth: 0,
            sources: None,
        }
    }

    fn finish(self, tree: Vec<Directive>) -> Result<Vec<Directive>, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(tree)
        } else {
            Err(ConfigErrors(self.errors))
        }
    }

    /// Reads one file and appends its directives to `out`. `from` is where the file was
    /// named (the `include`), for the error when it cannot be read.
    fn read_file(
        &mut self,
        path: &Path,
        from: Option<(&Source<'_>, usize)>,
        depth: usize,
        out: &mut Vec<Directive>,
    ) {
        let error = |message: String| match from {
            Some((src, line)) => src.error(line, message),
            None => ConfigError {
                file: Some(path.to_path_buf()),
                line: None,
                message,
            },
        };
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.open.contains(&key) {
            self.errors.push(error(format!(
                "include cycle: \"{}\" is already being read",
                path.display()
            )));
            return;
        }
        let bytes = match read_whole(path) {
            Ok(b) => b,
            Err(message) => {
                self.errors.push(error(message));
                return;
            }
        };
        if let Some(sources) = &mut self.sources {
            if !sources.iter().any(|(p, _)| p == path) {
                sources.push((path.to_path_buf(), bytes.clone()));
            }
        }
        let file = Arc::new(path.to_path_buf());
        self.open.push(key);
        self.parse_source(&bytes, &file, Mode::File, depth, out);
        self.open.pop();
    }

    fn parse_source(
        &mut self,
        bytes: &[u8],
        file: &Arc<PathBuf>,
        mode: Mode,
        depth: usize,
        out: &mut Vec<Directive>,
    ) {
        let src = Source { file, mode };
        let mut lexer = Lexer::new(bytes, mode);
        // The outcome is in `self.errors` either way; a stop only ends this file.
        let _ = self.parse_block(&mut lexer, &src, depth, false, out);
        self.drain_soft(&mut lexer, &src);
    }

    /// Reads directives into `out` until the end of the block (`in_block`) or of the file.
    fn parse_block(
        &mut self,
        lexer: &mut Lexer<'_>,
        src: &Source<'_>,
        depth: usize,
        in_block: bool,
        out: &mut Vec<Directive>,
    ) -> Result<(), Stop> {
        loop {
            let st = match lexer.next_statement() {
                Ok(st) => st,
                Err(LexError { line, message }) => {
                    self.drain_soft(lexer, src);
                    self.errors.push(src.error(line, message));
                    return Err(Stop);
                }
            };
            self.drain_soft(lexer, src);
            match st.end {
                End::BlockEnd if in_block => return Ok(()),
                End::BlockEnd => return Err(self.stop(src, st.line, "unexpected \"}\"")),
                End::Eof if in_block => {
                    let message = "unexpected end of file, expecting \"}\"";
                    return Err(self.stop(src, st.line, message));
                }
                End::Eof => return Ok(()),
                End::Semicolon => self.simple(st, src, depth, out),
                End::BlockStart => self.block(st, lexer, src, depth, out)?,
            }
        }
    }

    fn simple(&mut self, st: Statement, src: &Source<'_>, depth: usize, out: &mut Vec<Directive>) {
        let Some((name, args)) = split(st.words) else {
            return;
        };
        if name.value == "include" {
            self.include(&args, st.line, src, depth, out);
            return;
        }
        out.push(directive(name, args, None, src.file));
    }

    fn block(
        &mut self,
        st: Statement,
        lexer: &mut Lexer<'_>,
        src: &Source<'_>,
        depth: usize,
        out: &mut Vec<Directive>,
    ) -> Result<(), Stop> {
        if src.mode == Mode::Param {
            let message = "block directives are not supported in -g option";
            return Err(self.stop(src, st.line, message));
        }
        if depth + 1 > MAX_BLOCK_DEPTH {
            let message = format!("blocks are nested deeper than {MAX_BLOCK_DEPTH} levels");
            return Err(self.stop(src, st.line, &message));
        }
        let mut inner = Vec::new();
        self.parse_block(lexer, src, depth + 1, true, &mut inner)?;
        let Some((name, args)) = split(st.words) else {
            return Ok(());
        };
        if name.value == "include" {
            // nginx's message for a `;` directive that opened a block; the block was read
            // only to stay in step with the file.
            self.errors.push(src.error(
                st.line,
                "directive \"include\" is not terminated by \";\"".to_string(),
            ));
            return Ok(());
        }
        out.push(directive(name, args, Some(inner), src.file));
        Ok(())
    }

    /// Expands `include` in place, as nginx's `ngx_conf_include` does: a path without
    /// `*?[` must exist; a pattern may match nothing; matches are read in byte order.
    fn include(
        &mut self,
        args: &[Word],
        line: usize,
        src: &Source<'_>,
        depth: usize,
        out: &mut Vec<Directive>,
    ) {
        let [arg] = args else {
            let message = "invalid number of arguments in \"include\" directive".to_string();
            self.errors.push(src.error(line, message));
            return;
        };
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            let message = format!(
                "includes are nested deeper than {MAX_INCLUDE_DEPTH} levels at \"{}\"",
                arg.value
            );
            self.errors.push(src.error(line, message));
            return;
        }
        let paths = if arg.value.contains(['*', '?', '[']) {
            match self.expand_glob(&arg.value) {
                Ok(paths) => paths,
                Err(message) => {
                    self.errors.push(src.error(line, message));
                    return;
                }
            }
        } else {
            vec![self.opts.prefix.join(&arg.value)]
        };
        self.include_depth += 1;
        for path in paths {
            self.read_file(&path, Some((src, line)), depth, out);
        }
        self.include_depth -= 1;
    }

    /// Matches `pattern` like glob(3) with no flags, which nginx uses: `*` and `?` stay
    /// within one path component and do not match a leading dot, `**` is just `*`, and
    /// unreadable directories are skipped. nginx looks for wildcards in the prefix as well;
    /// we treat the prefix literally, so a `[` in a directory name cannot break includes.
    fn expand_glob(&self, pattern: &str) -> Result<Vec<PathBuf>, String> {
        let base = if pattern.starts_with('/') {
            String::new()
        } else {
            let prefix = self.opts.prefix.to_string_lossy();
            let mut p = glob::Pattern::escape(&prefix);
            if !p.is_empty() && !p.ends_with('/') {
                p.push('/');
            }
            p
        };
        // The glob crate reads `**` as "any directories"; glob(3) reads it as `*`.
        let mut written = String::with_capacity(pattern.len());
        let mut last_star = false;
        for c in pattern.chars() {
            if !(c == '*' && last_star) {
                written.push(c);
            }
            last_star = c == '*';
        }
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let full = format!("{base}{written}");
        let matches = match glob::glob_with(&full, options) {
            Ok(m) => m,
            // glob(3) reads a `[` without its `]` as itself; the crate refuses the pattern.
            // Retry with the brackets taken literally.
            Err(_) => {
                let mut literal = base.clone();
                for c in written.chars() {
                    match c {
                        '[' => literal.push_str("[[]"),
                        ']' => literal.push_str("[]]"),
                        _ => literal.push(c),
                    }
                }
                glob::glob_with(&literal, options)
                    .map_err(|e| format!("glob() \"{full}\" failed ({e})"))?
            }
        };
        let mut paths: Vec<PathBuf> = matches.filter_map(Result::ok).collect();
        // glob(3) sorts whole paths bytewise; the crate sorts one directory at a time.
        paths.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
        Ok(paths)
    }

    fn stop(&mut self, src: &Source<'_>, line: usize, message: &str) -> Stop {
        self.errors.push(src.error(line, message.to_string()));
        Stop
    }

    fn drain_soft(&mut self, lexer: &mut Lexer<'_>, src: &Source<'_>) {
        for LexError { line, message } in lexer.take_soft_errors() {
            self.errors.push(src.error(line, message));
        }
    }
}

/// The name and the arguments; `None` only if the lexer broke its promise of a word.
fn split(mut words: Vec<Word>) -> Option<(Word, Vec<Word>)> {
    if words.is_empty() {
        return None;
    }
    let name = words.remove(0);
    Some((name, words))
}

fn directive(
    name: Word,
    args: Vec<Word>,
    block: Option<Vec<Directive>>,
    file: &Arc<PathBuf>,
) -> Directive {
    Directive {
        line: name.line,
        name: name.value,
        args: args
            .into_iter()
            .map(|w| Arg {
                value: w.value,
                quoted: w.quoted,
            })
            .collect(),
        block,
        file: Arc::clone(file),
    }
}

/// Reads a file as nginx does: as many bytes as fstat reports, so a device or a pipe reads
/// as empty instead of never ending. Errors are worded as nginx's.
fn read_whole(path: &Path) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let mut file = crate::config::files::open(path)
        .map_err(|e| format!("open() \"{shown}\" failed {}", os(&e)))?;
    let size = file
        .metadata()
        .map_err(|e| format!("fstat() \"{shown}\" failed {}", os(&e)))?
        .len();
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 20));
    let read = (&mut file)
        .take(size)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("pread() \"{shown}\" failed {}", os(&e)))?;
    if (read as u64) < size {
        return Err(format!(
            "pread() returned only {read} bytes instead of {size}"
        ));
    }
    Ok(bytes)
}

/// `(2: No such file or directory)`, the way nginx shows an errno.
fn os(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let text = e.to_string();
            let suffix = format!(" (os error {code})");
            let text = text.strip_suffix(&suffix).unwrap_or(&text);
            format!("({code}: {text})")
        }
        None => format!("({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn opts(prefix: &Path) -> ParseOptions {
        ParseOptions {
            prefix: prefix.to_path_buf(),
        }
    }

    fn parse(text: &str) -> Result<Vec<Directive>, ConfigErrors> {
        parse_str(
            text,
            Path::new("/t/nginx.conf"),
            &opts(Path::new("/nonexistent")),
        )
    }

    fn errors(text: &str) -> Vec<ConfigError> {
        match parse(text) {
            Ok(tree) => panic!("{text:?} parsed: {tree:?}"),
            Err(ConfigErrors(e)) => e,
        }
    }

    /// The only error of `text`, as (line, message).
    fn one_error(text: &str) -> (Option<usize>, String) {
        let mut e = errors(text);
        assert_eq!(e.len(), 1, "{e:?}");
        let e = e.remove(0);
        (e.line, e.message)
    }

    fn names(tree: &[Directive]) -> Vec<&str> {
        tree.iter().map(|d| d.name.as_str()).collect()
    }

    fn values(d: &Directive) -> Vec<&str> {
        d.args.iter().map(|a| a.value.as_str()).collect()
    }

    fn write(path: &Path, text: &str) {
        fs::write(path, text).unwrap();
    }

    #[test]
    fn nested_blocks_and_lines() {
        let text = "user www;\nhttp {\n  server {\n    listen 80;\n    location / { }\n  }\n}\n";
        let tree = parse(text).unwrap();
        assert_eq!(names(&tree), ["user", "http"]);
        assert_eq!(tree[0].line, 1);
        assert!(tree[0].block.is_none());
        let http = &tree[1];
        assert_eq!(http.line, 2);
        let server = &http.block.as_ref().unwrap()[0];
        assert_eq!((server.name.as_str(), server.line), ("server", 3));
        let inner = server.block.as_ref().unwrap();
        assert_eq!(names(inner), ["listen", "location"]);
        assert_eq!(values(&inner[0]), ["80"]);
        assert_eq!(inner[0].line, 4);
        assert_eq!(inner[1].block.as_deref(), Some(&[][..]));
        assert_eq!(*inner[1].file, PathBuf::from("/t/nginx.conf"));
    }

    #[test]
    fn args_keep_quoting() {
        let tree = parse("return 200 \"a b\" 'c' d;").unwrap();
        let want = [
            Arg {
                value: "200".into(),
                quoted: false,
            },
            Arg {
                value: "a b".into(),
                quoted: true,
            },
            Arg {
                value: "c".into(),
                quoted: true,
            },
            Arg {
                value: "d".into(),
                quoted: false,
            },
        ];
        assert_eq!(tree[0].args, want);
    }

    #[test]
    fn if_map_and_types_are_plain_directives() {
        let text = "if ($http_x = \"y\") { return 403; }\n\
                    map $uri $m { default 0; ~^/a 1; }\n\
                    types { text/html html htm; }\n";
        let tree = parse(text).unwrap();
        assert_eq!(values(&tree[0]), ["($http_x", "=", "y", ")"]);
        let map = tree[1].block.as_ref().unwrap();
        assert_eq!(names(map), ["default", "~^/a"]);
        let types = tree[2].block.as_ref().unwrap();
        assert_eq!(types[0].name, "text/html");
        assert_eq!(values(&types[0]), ["html", "htm"]);
    }

    #[test]
    fn variables_with_braces() {
        let tree = parse("location / { return 200 \"${a}\" ${b}x; }").unwrap();
        let ret = &tree[0].block.as_ref().unwrap()[0];
        assert_eq!(values(ret), ["200", "${a}", "${b}x"]);
    }

    #[test]
    fn syntax_errors() {
        let cases = [
            ("a;\n}", 2, "unexpected \"}\""),
            ("a {\n b;\n", 3, "unexpected end of file, expecting \"}\""),
            ("a b", 1, "unexpected end of file, expecting \";\" or \"}\""),
            ("\n{ }", 2, "unexpected \"{\""),
            ("a;\n;", 2, "unexpected \";\""),
            ("a b }", 1, "unexpected \"}\""),
            ("a \"b\"c;", 1, "unexpected \"c\""),
            ("a { b { c; }", 1, "unexpected end of file, expecting \"}\""),
        ];
        for (text, line, message) in cases {
            assert_eq!(
                one_error(text),
                (Some(line), message.to_string()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn errors_name_the_file() {
        let e = errors("}");
        assert_eq!(e[0].file.as_deref(), Some(Path::new("/t/nginx.conf")));
        assert_eq!(e[0].to_string(), "unexpected \"}\" in /t/nginx.conf:1");
    }

    #[test]
    fn block_depth_is_limited() {
        let deep = "a {".repeat(MAX_BLOCK_DEPTH + 1);
        let (_, message) = one_error(&deep);
        assert!(message.contains("nested deeper"), "{message}");
        let ok = format!(
            "{}{}",
            "a {".repeat(MAX_BLOCK_DEPTH),
            "}".repeat(MAX_BLOCK_DEPTH)
        );
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn param_mode() {
        let o = opts(Path::new("/nonexistent"));
        let tree = parse_param("daemon off; worker_processes 2;", &o).unwrap();
        assert_eq!(names(&tree), ["daemon", "worker_processes"]);
        assert_eq!(*tree[0].file, PathBuf::from("<command line>"));
        let e = parse_param("daemon off", &o).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unexpected end of parameter, expecting \";\" in <command line>"
        );
        let e = parse_param("events { }", &o).unwrap_err();
        assert_eq!(
            e.0[0].message,
            "block directives are not supported in -g option"
        );
    }

    #[test]
    fn include_glob_in_sorted_order_with_own_lines() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir(d.join("conf.d")).unwrap();
        write(&d.join("conf.d/b.conf"), "\n\nb 1;\n");
        write(&d.join("conf.d/a.conf"), "a 1;\nsub {\n  a 2;\n}\n");
        write(&d.join("conf.d/.hidden.conf"), "hidden;\n");
        write(&d.join("conf.d/c.txt"), "c;\n");
        let main = d.join("nginx.conf");
        write(
            &main,
            "first;\nhttp {\n  include conf.d/*.conf;\n}\nlast;\n",
        );
        let tree = parse_file(&main, &opts(d)).unwrap();
        assert_eq!(names(&tree), ["first", "http", "last"]);
        assert_eq!(tree[2].line, 5);
        let http = tree[1].block.as_ref().unwrap();
        assert_eq!(names(http), ["a", "sub", "b"]);
        assert_eq!(*http[0].file, d.join("conf.d/a.conf"));
        assert_eq!(http[0].line, 1);
        assert_eq!(http[1].block.as_ref().unwrap()[0].line, 3);
        assert_eq!(*http[2].file, d.join("conf.d/b.conf"));
        assert_eq!(http[2].line, 3);
        assert_eq!(*tree[0].file, main);
    }

    #[test]
    fn include_relative_to_prefix_not_to_the_including_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir(d.join("sub")).unwrap();
        write(&d.join("mime.types"), "types { text/plain txt; }\n");
        // Included from sub/, but named relative to the prefix, as nginx does.
        write(&d.join("sub/inner.conf"), "include mime.types;\n");
        let text = "include sub/inner.conf;\ninclude \"mime.types\";";
        let tree = parse_str(text, &d.join("x.conf"), &opts(d)).unwrap();
        assert_eq!(names(&tree), ["types", "types"]);
        assert_eq!(*tree[0].file, d.join("mime.types"));
        // An absolute path ignores the prefix.
        let abs = format!("include {};", d.join("mime.types").display());
        let tree = parse_str(&abs, Path::new("x"), &opts(Path::new("/nonexistent"))).unwrap();
        assert_eq!(names(&tree), ["types"]);
    }

    #[test]
    fn glob_matching_nothing_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let text = "include none/*.conf;\ninclude x?.conf;\na;";
        let tree = parse_str(text, Path::new("x"), &opts(dir.path())).unwrap();
        assert_eq!(names(&tree), ["a"]);
    }

    #[test]
    fn missing_include_is_reported_and_parsing_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let text = "a;\ninclude missing.conf;\nb;\ninclude gone.conf;\n}";
        let e = parse_str(text, Path::new("/t/main.conf"), &opts(d))
            .unwrap_err()
            .0;
        assert_eq!(e.len(), 3, "{e:?}");
        let missing = d.join("missing.conf");
        assert_eq!(
            e[0].message,
            format!(
                "open() \"{}\" failed (2: No such file or directory)",
                missing.display()
            )
        );
        assert_eq!(e[0].line, Some(2));
        assert_eq!(e[0].file.as_deref(), Some(Path::new("/t/main.conf")));
        assert_eq!(e[1].line, Some(4));
        assert_eq!(e[2].message, "unexpected \"}\"");
    }

    #[test]
    fn missing_main_file() {
        let e = parse_file(Path::new("/nonexistent/nginx.conf"), &opts(Path::new("/")))
            .unwrap_err()
            .0;
        assert_eq!(
            e[0].message,
            "open() \"/nonexistent/nginx.conf\" failed (2: No such file or directory)"
        );
        assert_eq!(e[0].line, None);
    }

    #[test]
    fn including_a_directory_fails_like_nginx() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        let e = parse_str("include d;", Path::new("x"), &opts(dir.path())).unwrap_err();
        assert!(
            e.0[0].message.ends_with("failed (21: Is a directory)"),
            "{e}"
        );
    }

    #[test]
    fn include_cycle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(&d.join("a.conf"), "a;\ninclude b.conf;\n");
        write(&d.join("b.conf"), "b;\n\ninclude a.conf;\n");
        let e = parse_file(&d.join("a.conf"), &opts(d)).unwrap_err().0;
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].message.starts_with("include cycle"), "{e:?}");
        assert_eq!(e[0].file.as_deref(), Some(d.join("b.conf").as_path()));
        assert_eq!(e[0].line, Some(3));
        // A glob that matches the including file itself is a cycle too.
        write(&d.join("self.conf"), "include *.conf;\n");
        assert!(parse_file(&d.join("self.conf"), &opts(d)).is_err());
    }

    #[test]
    fn include_depth_is_limited_without_a_cycle() {
        // parse_str's pseudo file is not on disk, so only the depth limit can stop this.
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for i in 0..40 {
            write(
                &d.join(format!("f{i}.conf")),
                &format!("include f{}.conf;", i + 1),
            );
        }
        write(&d.join("f40.conf"), "end;");
        let e = parse_str("include f0.conf;", Path::new("x"), &opts(d))
            .unwrap_err()
            .0;
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].message.contains("nested deeper than 32"), "{e:?}");
        assert_eq!(*e[0].file.as_ref().unwrap(), d.join("f31.conf"));
    }

    #[test]
    fn include_shapes_that_nginx_refuses() {
        let (line, message) = one_error("include;");
        assert_eq!(line, Some(1));
        assert_eq!(
            message,
            "invalid number of arguments in \"include\" directive"
        );
        let (_, message) = one_error("include a b;");
        assert_eq!(
            message,
            "invalid number of arguments in \"include\" directive"
        );
        let e = errors("include a { b; }\nc;");
        assert_eq!(
            e[0].message,
            "directive \"include\" is not terminated by \";\""
        );
    }

    #[test]
    fn syntax_error_in_included_file_does_not_stop_the_includer() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(&d.join("bad.conf"), "ok;\n\"x\"y;\n");
        let e = parse_str("include bad.conf;\nz }", Path::new("m"), &opts(d))
            .unwrap_err()
            .0;
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0].file.as_deref(), Some(d.join("bad.conf").as_path()));
        assert_eq!(e[0].line, Some(2));
        assert_eq!(e[0].message, "unexpected \"y\"");
        assert_eq!(e[1].message, "unexpected \"}\"");
    }

    #[test]
    fn a_block_cannot_span_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(&d.join("open.conf"), "http {\n");
        let e = parse_str("include open.conf;\n}", Path::new("m"), &opts(d))
            .unwrap_err()
            .0;
        assert_eq!(e[0].message, "unexpected end of file, expecting \"}\"");
        assert_eq!(e[1].message, "unexpected \"}\"");
    }

    #[test]
    fn non_utf8_file_is_reported_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.conf");
        fs::write(&path, b"# caf\xe9 is fine here\nroot /caf\xe9;\n").unwrap();
        let e = parse_file(&path, &opts(dir.path())).unwrap_err().0;
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, Some(2));
        assert!(e[0].message.starts_with("invalid UTF-8"));
    }

    #[test]
    fn device_files_read_as_empty() {
        let tree = parse("include /dev/zero;\na;").unwrap();
        assert_eq!(names(&tree), ["a"]);
    }

    #[test]
    fn unmatched_bracket_is_literal_as_in_glob3() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a[1.conf"), "one;");
        let o = opts(dir.path());
        let tree = parse_str("include a[*.conf;\ninclude b[;", Path::new("m"), &o).unwrap();
        assert_eq!(names(&tree), ["one"]);
    }

    #[test]
    fn glob_double_star_is_single_star_and_prefix_is_literal() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("we[ir]d*");
        fs::create_dir_all(prefix.join("x")).unwrap();
        write(&prefix.join("x/one.conf"), "one;");
        let tree = parse_str("include x/**.conf;", Path::new("m"), &opts(&prefix)).unwrap();
        assert_eq!(names(&tree), ["one"]);
    }
}
