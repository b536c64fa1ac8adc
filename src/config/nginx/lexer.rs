//! nginx.conf tokenizer: bytes → statements (the words of one directive and what ended it).
//!
//! Part of the nginx configuration front-end; it runs on the control thread while a
//! configuration loads, never on the request path. Input is the raw bytes of one file (or
//! one `-g` string); output is a sequence of [`Statement`]s, each the words read up to a
//! `;`, `{`, `}` or the end of input. The parser turns statements into the directive tree.
//!
//! The state machine reproduces nginx's `ngx_conf_read_token` (src/core/ngx_conf_file.c)
//! decision for decision, because a file nginx accepts must read the same here and a file
//! nginx refuses should be refused with the same words. Quirks kept on purpose:
//!
//! - `#` starts a comment only where a word could start; `a#b` is one word.
//! - `}` ends a word only when it stands alone; `a}` is one word.
//! - A quote opens a quoted word only at the start of a word; `a"b` is one word.
//! - After a closing quote the next byte must be whitespace, `;`, `{` or `)`. A `)` starts a
//!   new word, which is how `if ($a = "b")` reads.
//! - `${` inside a word does not open a block.
//! - A backslash protects the next byte from ending the word, in and out of quotes. When the
//!   word is stored, `\"` `\'` `\\` lose the backslash and `\t` `\r` `\n` become the control
//!   characters; every other pair (`\;`, `\ `, `\d`) keeps its backslash.
//! - nginx reads a file through a 4 KiB buffer and refuses a word, or a comment, that does
//!   not fit in it ("too long parameter"); the same limit applies here, at the same byte.
//!
//! Words are bytes until stored; a word that is not UTF-8 is converted lossily and reported
//! as an error (we would rather refuse it than open a different file than nginx would), but
//! lexing goes on so later errors are found too. Comments may hold any bytes.

use std::borrow::Cow;

/// nginx's `NGX_CONF_BUFFER`: the longest word (or comment) its reader can hold.
const CONF_BUFFER: usize = 4096;

/// One word as stored: escapes resolved, quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub value: String,
    /// Written inside `"..."` or `'...'`.
    pub quoted: bool,
    /// 1-based line the word starts on.
    pub line: usize,
}

/// What ended a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `;`: a simple directive.
    Semicolon,
    /// `{`: a block directive; its contents follow.
    BlockStart,
    /// `}` on its own: the enclosing block is done (the statement has no words).
    BlockEnd,
    /// The input is used up between statements (the statement has no words).
    Eof,
}

/// The words of one directive and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub words: Vec<Word>,
    pub end: End,
    /// Line of the byte that ended the statement: nginx names this line when a directive's
    /// handler fails, and `}`/end-of-file errors are reported there.
    pub line: usize,
}

/// A tokenizer error, phrased as nginx phrases it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub line: usize,
    pub message: String,
}

/// Where the text came from; nginx words its end-of-input error differently for `-g` and
/// has no buffer limit there (the whole string is already in memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    File,
    Param,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

/// Where the reader is inside one statement. nginx keeps a handful of flags; only these
/// combinations of them can occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between words (nginx: `last_space`).
    Gap,
    /// After `#`, until the end of the line.
    Comment,
    /// Inside a word.
    Word {
        quote: Quote,
        /// The previous byte was an unprotected backslash.
        escaped: bool,
        /// The previous byte was `$` (or `${...` is open), so `{` belongs to the word.
        dollar: bool,
    },
    /// Just after a closing quote (nginx: `need_space`).
    AfterQuote,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Reads statements from one source.
pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
    mode: Mode,
    /// Problems that do not stop reading (non-UTF-8 words); drained by the parser.
    soft_errors: Vec<LexError>,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a [u8], mode: Mode) -> Lexer<'a> {
        Lexer {
            src,
            pos: 0,
            line: 1,
            mode,
            soft_errors: Vec::new(),
        }
    }

    /// Current 1-based line.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Errors found so far that did not stop the reader, oldest first.
    pub fn take_soft_errors(&mut self) -> Vec<LexError> {
        std::mem::take(&mut self.soft_errors)
    }

    /// Reads the next statement. After an `Err` the reader's position is unspecified: nginx
    /// gives up on the file at its first syntax error, and so does the parser.
    pub fn next_statement(&mut self) -> Result<Statement, LexError> {
        let mut words = Vec::new();
        let mut state = State::Gap;
        // nginx's `start`: where the current word (or comment) began. Its buffer limit is
        // measured from here, so it moves exactly when nginx moves it (not inside comments,
        // not over the whitespace right after a closing quote).
        let mut start = self.pos;
        let mut start_line = self.line;

        loop {
            let Some(&ch) = self.src.get(self.pos) else {
                return self.at_end(words, state);
            };
            if self.mode == Mode::File && self.pos - start >= CONF_BUFFER {
                return Err(self.too_long(start, start_line, state));
            }
            self.pos += 1;
            if ch == b'\n' {
                self.line += 1;
            }

            // States that either swallow the byte or hand it on to `Gap`.
            match state {
                State::Comment => {
                    if ch != b'\n' {
                        continue;
                    }
                    state = State::Gap;
                }
                State::Word {
                    escaped: true,
                    quote,
                    dollar,
                } => {
                    state = State::Word {
                        quote,
                        escaped: false,
                        dollar,
                    };
                    continue;
                }
                State::AfterQuote => match ch {
                    _ if is_space(ch) => {
                        state = State::Gap;
                        continue;
                    }
                    b';' => return Ok(self.statement(words, End::Semicolon)),
                    b'{' => return Ok(self.statement(words, End::BlockStart)),
                    b')' => state = State::Gap,
                    _ => return Err(self.unexpected(ch)),
                },
                State::Gap | State::Word { .. } => {}
            }

            match state {
                State::Gap => {
                    start = self.pos - 1;
                    start_line = self.line;
                    match ch {
                        _ if is_space(ch) => {}
                        b';' | b'{' => {
                            if words.is_empty() {
                                return Err(self.unexpected(ch));
                            }
                            let end = if ch == b'{' {
                                End::BlockStart
                            } else {
                                End::Semicolon
                            };
                            return Ok(self.statement(words, end));
                        }
                        b'}' => {
                            if !words.is_empty() {
                                return Err(self.unexpected(ch));
                            }
                            return Ok(self.statement(words, End::BlockEnd));
                        }
                        b'#' => state = State::Comment,
                        _ => {
                            let quote = match ch {
                                b'"' => Quote::Double,
                                b'\'' => Quote::Single,
                                _ => Quote::None,
                            };
                            if quote != Quote::None {
                                start = self.pos;
                            }
                            state = State::Word {
                                quote,
                                escaped: ch == b'\\',
                                dollar: ch == b'$',
                            };
                        }
                    }
                }
                State::Word { quote, dollar, .. } => {
                    if ch == b'{' && dollar {
                        continue;
                    }
                    let ends = match quote {
                        _ if ch == b'\\' || ch == b'$' => false,
                        Quote::Double => ch == b'"',
                        Quote::Single => ch == b'\'',
                        Quote::None => is_space(ch) || ch == b';' || ch == b'{',
                    };
                    if !ends {
                        state = State::Word {
                            quote,
                            escaped: ch == b'\\',
                            dollar: ch == b'$',
                        };
                        continue;
                    }
                    let raw = self.src.get(start..self.pos - 1).unwrap_or_default();
                    let word = self.word(raw, quote != Quote::None, start_line);
                    words.push(word);
                    if quote != Quote::None {
                        state = State::AfterQuote;
                    } else if ch == b';' {
                        return Ok(self.statement(words, End::Semicolon));
                    } else if ch == b'{' {
                        return Ok(self.statement(words, End::BlockStart));
                    } else {
                        state = State::Gap;
                    }
                }
                // Both were turned into `Gap` above or left the loop.
                State::Comment | State::AfterQuote => {}
            }
        }
    }

    fn statement(&self, words: Vec<Word>, end: End) -> Statement {
        Statement {
            words,
            end,
            line: self.line,
        }
    }

    fn at_end(&self, words: Vec<Word>, state: State) -> Result<Statement, LexError> {
        let inside_word = matches!(state, State::Word { .. } | State::AfterQuote);
        if words.is_empty() && !inside_word {
            return Ok(self.statement(words, End::Eof));
        }
        let message = match self.mode {
            Mode::File => "unexpected end of file, expecting \";\" or \"}\"",
            Mode::Param => "unexpected end of parameter, expecting \";\"",
        };
        Err(LexError {
            line: self.line,
            message: message.to_string(),
        })
    }

    fn too_long(&self, start: usize, start_line: usize, state: State) -> LexError {
        let message = match state {
            State::Word {
                quote: Quote::Double,
                ..
            } => "too long parameter, probably missing terminating \"\"\" character".to_string(),
            State::Word {
                quote: Quote::Single,
                ..
            } => "too long parameter, probably missing terminating \"'\" character".to_string(),
            _ => {
                let head = self.src.get(start..start + 10).unwrap_or_default();
                format!(
                    "too long parameter \"{}...\" started",
                    String::from_utf8_lossy(head)
                )
            }
        };
        LexError {
            line: start_line,
            message,
        }
    }

    /// `unexpected "x"` for the byte just read. nginx prints the raw byte; we print the
    /// whole character when it is UTF-8 so the message stays readable.
    fn unexpected(&self, ch: u8) -> LexError {
        let shown: Cow<'_, str> = if ch.is_ascii() {
            Cow::Owned(char::from(ch).to_string())
        } else {
            let rest = self.src.get(self.pos - 1..).unwrap_or_default();
            match rest
                .utf8_chunks()
                .next()
                .and_then(|c| c.valid().chars().next())
            {
                Some(c) => Cow::Owned(c.to_string()),
                None => Cow::Owned(format!("\\x{ch:02x}")),
            }
        };
        LexError {
            line: self.line,
            message: format!("unexpected \"{shown}\""),
        }
    }

    fn word(&mut self, raw: &[u8], quoted: bool, line: usize) -> Word {
        let value = match String::from_utf8(unescape(raw)) {
            Ok(s) => s,
            Err(e) => {
                let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
                self.soft_errors.push(LexError {
                    line,
                    message: format!("invalid UTF-8 in parameter \"{lossy}\""),
                });
                lossy
            }
        };
        Word {
            value,
            quoted,
            line,
        }
    }
}

/// Resolves the escapes nginx resolves when it stores a word; see the module comment.
fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'\\' {
            let replaced = match raw.get(i + 1) {
                Some(&c @ (b'"' | b'\'' | b'\\')) => Some(c),
                Some(b't') => Some(b'\t'),
                Some(b'r') => Some(b'\r'),
                Some(b'n') => Some(b'\n'),
                _ => None,
            };
            if let Some(c) = replaced {
                out.push(c);
                i += 2;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All statements up to the end, or the first error.
    fn lex_mode(src: &str, mode: Mode) -> Result<Vec<Statement>, LexError> {
        let mut lx = Lexer::new(src.as_bytes(), mode);
        let mut out = Vec::new();
        loop {
            let st = lx.next_statement()?;
            let end = st.end;
            out.push(st);
            if end == End::Eof {
                return Ok(out);
            }
        }
    }

    fn lex(src: &str) -> Result<Vec<Statement>, LexError> {
        lex_mode(src, Mode::File)
    }

    /// The words of each statement, with `;`, `{`, `}` appended as markers.
    fn shape(src: &str) -> Vec<String> {
        let mut out = Vec::new();
        for st in lex(src).unwrap_or_else(|e| panic!("{src:?}: {e:?}")) {
            out.extend(st.words.into_iter().map(|w| w.value));
            match st.end {
                End::Semicolon => out.push(";".into()),
                End::BlockStart => out.push("{".into()),
                End::BlockEnd => out.push("}".into()),
                End::Eof => {}
            }
        }
        out
    }

    fn err(src: &str) -> LexError {
        match lex(src) {
            Ok(st) => panic!("{src:?} lexed: {st:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn words_and_terminators() {
        assert_eq!(
            shape("a b;\nc {\n d e; }\n"),
            ["a", "b", ";", "c", "{", "d", "e", ";", "}"]
        );
        assert_eq!(shape("a\tb\r\nc;"), ["a", "b", "c", ";"]);
        assert_eq!(shape("a{b;}"), ["a", "{", "b", ";", "}"]);
        assert_eq!(shape(""), Vec::<String>::new());
        assert_eq!(shape("  \n\t"), Vec::<String>::new());
    }

    #[test]
    fn brace_and_hash_inside_words_are_literal() {
        assert_eq!(shape("a b}; c d#e;"), ["a", "b}", ";", "c", "d#e", ";"]);
        assert_eq!(shape("a b\"c d\";"), ["a", "b\"c", "d\"", ";"]);
    }

    #[test]
    fn comments() {
        assert_eq!(shape("# x ; { }\na; # y\n#z"), ["a", ";"]);
        assert_eq!(shape("a # c ; }\n b;"), ["a", "b", ";"]);
        // A comment ends at the newline, even without trailing text.
        assert_eq!(shape("#"), Vec::<String>::new());
    }

    #[test]
    fn quotes() {
        let st = lex("a \"b c\" 'd;{}' \"\";").unwrap();
        let w = &st[0].words;
        assert_eq!(w[1].value, "b c");
        assert!(w[1].quoted);
        assert_eq!(w[2].value, "d;{}");
        assert!(w[2].quoted);
        assert_eq!(w[3].value, "");
        assert!(w[3].quoted);
        assert!(!w[0].quoted);
        // A quoted word may end the statement or open a block directly.
        assert_eq!(shape("\"a\";'b'{}"), ["a", ";", "b", "{", "}"]);
        assert_eq!(shape("a 'x\ny';"), ["a", "x\ny", ";"]);
    }

    #[test]
    fn escapes_inside_quotes() {
        let st = lex(r#"a "q\"s\'b\\t\tr\rn\nx\dy\$";"#).unwrap();
        assert_eq!(st[0].words[1].value, "q\"s'b\\t\tr\rn\nx\\dy\\$");
        let st = lex(r"a 'it\'s';").unwrap();
        assert_eq!(st[0].words[1].value, "it's");
    }

    #[test]
    fn escapes_outside_quotes() {
        // The backslash protects `;` and space from ending the word but stays in it.
        assert_eq!(shape(r"a b\;c d\ e;"), ["a", r"b\;c", r"d\ e", ";"]);
        assert_eq!(
            shape(r#"a \"b\" c\\d e\n;"#),
            ["a", "\"b\"", r"c\d", "e\n", ";"]
        );
        assert_eq!(shape("a \\{ b;"), ["a", "\\{", "b", ";"]);
        // A backslash at the start of a word protects the next byte too.
        assert_eq!(shape("a \\#b;"), ["a", "\\#b", ";"]);
    }

    #[test]
    fn dollar_brace_stays_in_word() {
        assert_eq!(
            shape("set $a ${b}c;\nreturn 200 x${y}z;"),
            ["set", "$a", "${b}c", ";", "return", "200", "x${y}z", ";"]
        );
        // Only right after `$`: `$a{` opens a block.
        assert_eq!(shape("a $b{ }"), ["a", "$b", "{", "}"]);
        assert_eq!(shape("a \"${b}\";"), ["a", "${b}", ";"]);
    }

    #[test]
    fn closing_paren_after_quote_starts_a_word() {
        assert_eq!(
            shape("if ($a = \"b\") { }"),
            ["if", "($a", "=", "b", ")", "{", "}"]
        );
        assert_eq!(shape("a \"b\")c;"), ["a", "b", ")c", ";"]);
    }

    #[test]
    fn word_and_statement_lines() {
        let st = lex("a\n  b\n'c\nd'\n;\n\nx { }").unwrap();
        let lines: Vec<usize> = st[0].words.iter().map(|w| w.line).collect();
        assert_eq!(lines, [1, 2, 3]);
        assert_eq!(st[0].line, 5);
        assert_eq!(st[1].words[0].line, 7);
        assert_eq!(st[2].end, End::BlockEnd);
    }

    #[test]
    fn unexpected_after_quote() {
        let e = err("a \"b\"c;");
        assert_eq!(e.message, "unexpected \"c\"");
        assert_eq!(err("a\n'b'}").message, "unexpected \"}\"");
        assert_eq!(err("a\n'b'}").line, 2);
        assert_eq!(err("a 'b'#").message, "unexpected \"#\"");
        assert_eq!(err("a 'b'é").message, "unexpected \"é\"");
    }

    #[test]
    fn unexpected_terminators() {
        assert_eq!(err(";").message, "unexpected \";\"");
        assert_eq!(err("a;\n\n  {").message, "unexpected \"{\"");
        assert_eq!(err("a;\n\n  {").line, 3);
        assert_eq!(err("a b }").message, "unexpected \"}\"");
    }

    #[test]
    fn unexpected_end() {
        let want = "unexpected end of file, expecting \";\" or \"}\"";
        for src in ["a", "a b", "a\n", "a \"b", "a 'b'", "\\", "a # c"] {
            assert_eq!(err(src).message, want, "{src:?}");
        }
        assert_eq!(err("a;\nb\n").line, 3);
        let e = lex_mode("a b", Mode::Param).unwrap_err();
        assert_eq!(e.message, "unexpected end of parameter, expecting \";\"");
    }

    #[test]
    fn too_long_word_or_comment() {
        let long = "x".repeat(CONF_BUFFER);
        // Exactly at the limit with more input after it: refused, from the line it started.
        let e = err(&format!("a;\n{long};"));
        assert_eq!(e.message, "too long parameter \"xxxxxxxxxx...\" started");
        assert_eq!(e.line, 2);
        // One byte shorter fits.
        assert!(lex(&format!("{};", &long[1..])).is_ok());
        // The limit counts for comments as well, as in nginx.
        let e = err(&format!("#{long}\na;"));
        assert_eq!(e.message, "too long parameter \"#xxxxxxxxx...\" started");
        let e = err(&format!("a \"{long}\";"));
        assert_eq!(
            e.message,
            "too long parameter, probably missing terminating \"\"\" character"
        );
        let e = err(&format!("a '{long}';"));
        assert_eq!(
            e.message,
            "too long parameter, probably missing terminating \"'\" character"
        );
        // A -g string has no buffer limit.
        assert!(lex_mode(&format!("a {long};"), Mode::Param).is_ok());
    }

    #[test]
    fn invalid_utf8_is_reported_and_lexing_goes_on() {
        let mut lx = Lexer::new(b"# \xff ok in comment\na b\xffc;\nd;", Mode::File);
        let st = lx.next_statement().unwrap();
        assert_eq!(st.words[1].value, "b\u{fffd}c");
        let soft = lx.take_soft_errors();
        assert_eq!(soft.len(), 1);
        assert_eq!(soft[0].line, 2);
        assert!(soft[0].message.starts_with("invalid UTF-8"));
        assert_eq!(lx.next_statement().unwrap().words[0].value, "d");
        assert_eq!(lx.next_statement().unwrap().end, End::Eof);
    }

    #[test]
    fn unexpected_non_utf8_byte_is_shown_escaped() {
        let mut lx = Lexer::new(b"a 'b'\xff;", Mode::File);
        assert_eq!(
            lx.next_statement().unwrap_err().message,
            "unexpected \"\\xff\""
        );
    }

    #[test]
    fn unescape_pairs() {
        assert_eq!(unescape(br"\\\n"), b"\\\n");
        assert_eq!(unescape(b"\\q\\\"\\"), b"\\q\"\\");
        assert_eq!(unescape(b"\\"), b"\\");
    }
}
