//! The rewrite module's directives (`rewrite`, `return`, `set`, `if`, `break`), run in order
//! as nginx's server-rewrite and rewrite phases.
//!
//! `pipeline::run` calls [`run`] with the server's steps before the location search, and
//! with the location's steps after it; the [`Flow`] it gets back says what comes next
//! (search again, stay, or answer). The rules are nginx's `ngx_http_script_regex_*_code`:
//!
//! - a replacement with a literal `?` replaces the args, and the original args follow after
//!   `&` unless the replacement ends in `?`; without `?` the args stay as they were;
//! - a replacement starting with `http://`, `https://` or `$scheme`, or the flags `redirect`
//!   / `permanent`, answer 302 / 301 with it as Location (original args appended);
//! - captures inserted after the `?` (or anywhere in a redirect) are escaped when the
//!   request path was percent-encoded or held a '+', as nginx does;
//! - a URI rewrite makes the request internal (`internal` locations may answer it).

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;

use crate::config::model::{
    Condition, FileTest, Handler, Location, Part, RewriteFlag, Step, Template, Var,
};
use crate::context::state::Args;
use crate::context::vars::{Ctx, Scope};
use crate::http::response::{Body, Response};

/// What the request path does after a list of steps.
#[derive(Debug)]
pub enum Flow {
    /// The list ran out: carry on (a URI changed without flag is seen by the caller through
    /// `uri_changed`).
    Next,
    /// `rewrite … last`: search the location again for the new URI.
    Last,
    /// `break`, `rewrite … break`: stop rewriting and stay in this location.
    Break,
    /// `return`, a redirect, or an error (500 for an empty rewritten URI): answer this.
    Respond(Response),
}

/// Runs `steps` in order.
pub fn run<'c>(ctx: &mut Ctx<'_, 'c>, steps: &'c [Step]) -> Flow {
    let enclosing = ctx.st.location;
    run_list(ctx, steps, enclosing).unwrap_or(Flow::Next)
}

/// `None`: the list ran out without stopping. `enclosing` is the location whose steps
/// these are (an `if` without a block of its own brings back its configuration).
fn run_list<'c>(
    ctx: &mut Ctx<'_, 'c>,
    steps: &'c [Step],
    enclosing: Option<&'c Location>,
) -> Option<Flow> {
    for step in steps {
        match step {
            Step::Rewrite {
                pattern,
                replacement,
                flag,
            } => {
                if !ctx.st.match_uri(pattern) {
                    // nginx's script regex code: a miss leaves no captures.
                    ctx.st.captures.clear();
                    continue;
                }
                if let Some(flow) = rewrite(ctx, replacement, *flag) {
                    return Some(flow);
                }
            }
            Step::Return { status, text } => {
                return Some(Flow::Respond(respond(ctx, *status, text.as_ref())))
            }
            Step::SetLimitRate { value } => {
                let v = ctx.eval_vec(value);
                // As nginx: a value that is not a size sets no limit.
                ctx.st.limit_rate = Some(crate::config::tree::size_value(&v).unwrap_or(0));
            }
            Step::SetArgs { value } => {
                let v = ctx.eval_vec(value);
                ctx.st.args = crate::context::state::Args::Owned(v);
            }
            Step::Set { var, value } => {
                let v = ctx.eval_vec(value);
                let slots = ctx.config.user_vars.len().max(var + 1);
                if ctx.st.user.len() < slots {
                    ctx.st.user.resize(slots, None);
                }
                ctx.st.user[*var] = Some(v);
            }
            Step::If {
                condition,
                steps,
                location,
            } => {
                if holds(ctx, condition) {
                    // nginx's if-location: its configuration applies from here on (a block
                    // anx keeps no location for has the enclosing one's).
                    let block = location.as_deref().or(enclosing);
                    note_handler(ctx, block);
                    ctx.st.location = block;
                    if let Some(flow) = run_list(ctx, steps, enclosing) {
                        return Some(flow);
                    }
                }
            }
            Step::Break => {
                // nginx's break code: a pending URI change is served here, not searched.
                if ctx.st.uri_changed {
                    ctx.st.valid_location = false;
                }
                ctx.st.uri_changed = false;
                return Some(Flow::Break);
            }
        }
    }
    None
}

/// nginx's content handler is the last one a matched block set, while the configuration is
/// the last matched block's: an `if` with `proxy_pass` followed by a matched `if` whose
/// configuration has none leaves a proxy handler with no upstream (nginx's 500 since 1.3.10).
fn note_handler(ctx: &mut Ctx<'_, '_>, block: Option<&Location>) {
    let proxies = |l: Option<&Location>| l.is_some_and(|l| matches!(l.handler, Handler::Proxy(_)));
    if proxies(block) {
        ctx.st.handler_without_upstream = false;
    } else if proxies(ctx.st.location) {
        ctx.st.handler_without_upstream = true;
    }
}

/// Applies one matched `rewrite`; `None` to carry on with the next step.
fn rewrite(ctx: &mut Ctx, replacement: &Template, flag: RewriteFlag) -> Option<Flow> {
    let source = replacement.source.as_str();
    let redirect = matches!(flag, RewriteFlag::Redirect | RewriteFlag::Permanent)
        || source.starts_with("http://")
        || source.starts_with("https://")
        || source.starts_with("$scheme");
    let add_args = !source.ends_with('?');
    let (mut value, mut args_at) = replacement_value(ctx, replacement, redirect);
    if !add_args && value.last() == Some(&b'?') {
        // The trailing '?' only says "drop the original args"; it is no separator.
        value.pop();
        if args_at == Some(value.len()) {
            args_at = None;
        }
    }
    let old_args = ctx
        .st
        .args(&ctx.req)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();

    if redirect {
        let mut url = unescape_redirect(&value);
        if add_args && !old_args.is_empty() {
            url.push(if args_at.is_some() { b'&' } else { b'?' });
            url.extend_from_slice(&old_args);
        }
        let status = if flag == RewriteFlag::Permanent {
            301
        } else {
            302
        };
        let mut r = Response::new(status);
        r.location = Some(url);
        return Some(Flow::Respond(r));
    }

    if let Some(at) = args_at {
        let mut args = value.split_off(at);
        args.remove(0);
        if add_args && !old_args.is_empty() {
            args.push(b'&');
            args.extend_from_slice(&old_args);
        }
        ctx.st.args = Args::Owned(args);
    } else if !add_args {
        ctx.st.args = Args::Owned(Vec::new());
    }
    if value.is_empty() {
        ctx.log()
            .error(format_args!("the rewritten URI has a zero length"));
        return Some(Flow::Respond(Response::new(500)));
    }
    ctx.st.uri = value;
    ctx.st.internal = true;
    match flag {
        RewriteFlag::Break => {
            ctx.st.uri_changed = false;
            ctx.st.valid_location = false;
            Some(Flow::Break)
        }
        RewriteFlag::Last => {
            ctx.st.uri_changed = true;
            Some(Flow::Last)
        }
        _ => {
            ctx.st.uri_changed = true;
            None
        }
    }
}

/// Evaluates a replacement; returns it and where its first literal '?' is (the args
/// separator: a '?' from a variable's value is not one).
fn replacement_value(ctx: &mut Ctx, t: &Template, redirect: bool) -> (Vec<u8>, Option<usize>) {
    let mut out = Vec::new();
    let mut args_at: Option<usize> = None;
    let quoted = { memchr::memchr2(b'%', b'+', ctx.req.raw_path()).is_some() };
    for part in &t.parts {
        match part {
            Part::Literal(s) => {
                if args_at.is_none() {
                    if let Some(i) = memchr::memchr(b'?', s.as_bytes()) {
                        args_at = Some(out.len() + i);
                    }
                }
                out.extend_from_slice(s.as_bytes());
            }
            Part::Var(Var::Capture(n)) if quoted && (redirect || args_at.is_some()) => {
                if let Some(c) = ctx.st.captures.get(usize::from(*n)) {
                    escape_args(&mut out, c);
                }
            }
            Part::Var(v) => {
                ctx.var(v, &mut out, Scope::default());
            }
        }
    }
    (out, args_at)
}

/// nginx's `NGX_ESCAPE_ARGS`: space # % & + ; ? and bytes outside 0x21..0x7e.
fn escape_args(out: &mut Vec<u8>, v: &[u8]) {
    for &b in v {
        if matches!(b, b' ' | b'#' | b'%' | b'&' | b'+' | b';' | b'?') || !(0x21..0x7f).contains(&b)
        {
            out.push(b'%');
            out.push(b"0123456789ABCDEF"[usize::from(b >> 4)]);
            out.push(b"0123456789ABCDEF"[usize::from(b & 0xf)]);
        } else {
            out.push(b);
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// nginx's `NGX_UNESCAPE_REDIRECT` on a redirect target: `%XX` for a printable character
/// above '%' is decoded, other escapes stay; decoding stops after the first '?'.
fn unescape_redirect(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        let b = v[i];
        if b == b'?' {
            out.extend_from_slice(&v[i..]);
            return out;
        }
        if b == b'%' {
            match (
                v.get(i + 1).copied().and_then(hex),
                v.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    let ch = (h << 4) | l;
                    if ch > b'%' && ch < 0x7f {
                        out.push(ch);
                    } else {
                        out.extend_from_slice(&v[i..i + 3]);
                    }
                    i += 3;
                }
                _ => {
                    // nginx drops a '%' that starts no valid escape.
                    i += 1;
                }
            }
            continue;
        }
        out.push(b);
        i += 1;
    }
    out
}

/// `return code [text]` as nginx's `ngx_http_send_response`: text (or any code below 400)
/// answers directly; 301/302/303/307/308 carry the text as Location; 204 has no body;
/// 444 closes the connection; a bare code of 400 or more is an error page.
pub fn respond(ctx: &mut Ctx, status: u16, text: Option<&Template>) -> Response {
    if status == 444 {
        return Response {
            status,
            abort: true,
            close: true,
            ..Response::default()
        };
    }
    let has_text = text.is_some_and(|t| !t.parts.is_empty());
    if status >= 400 && !has_text {
        return Response::new(status);
    }
    ctx.st.status = status;
    let value = text.map(|t| ctx.eval_vec(t)).unwrap_or_default();
    let mut r = Response::new(status);
    if matches!(status, 301 | 302 | 303 | 307 | 308) {
        r.location = Some(value);
        return r;
    }
    if status == 204 {
        return r;
    }
    r.content_type = Some(content_type(ctx));
    r.body = Body::Bytes(value);
    r
}

/// nginx's `ngx_http_set_content_type`: by the current URI's extension, else the
/// location's `default_type`.
pub fn content_type(ctx: &Ctx) -> String {
    if let Some(t) = ctx.config.mime.lookup(&ctx.st.uri) {
        return t.to_string();
    }
    default_type(ctx).to_string()
}

fn default_type<'c>(ctx: &Ctx<'_, 'c>) -> &'c str {
    if let Some(loc) = ctx.st.location {
        return &loc.files.default_type;
    }
    // Before a location is chosen (server-level `return`): the server's locations all
    // inherit its default_type unless they set their own; the first one is the best guess
    // the model offers.
    ctx.server
        .locations
        .first()
        .map_or("text/plain", |l| l.files.default_type.as_str())
}

/// Evaluates an `if` condition; a regex match sets captures.
fn holds<'c>(ctx: &mut Ctx<'_, 'c>, c: &'c Condition) -> bool {
    match c {
        Condition::Truthy(t) => ctx.truthy(t, Scope::default()),
        Condition::Equals {
            value,
            other,
            negate,
        } => {
            let a = ctx.eval_vec(value);
            let b = ctx.eval_vec(other);
            (a == b) != *negate
        }
        Condition::Matches {
            value,
            pattern,
            negate,
        } => {
            let v = ctx.eval_vec(value);
            let matched = ctx.st.match_bytes(pattern, &v);
            if !matched {
                ctx.st.captures.clear();
            }
            matched != *negate
        }
        Condition::File { test, path, negate } => {
            let p = ctx.eval_vec(path);
            file_test(*test, &p) != *negate
        }
    }
}

/// `-f`, `-d`, `-e`, `-x` on a path (symlinks followed, as nginx's open_file_cache does).
fn file_test(test: FileTest, path: &[u8]) -> bool {
    let Ok(meta) = std::fs::metadata(std::ffi::OsStr::from_bytes(path)) else {
        return false;
    };
    match test {
        FileTest::File => meta.is_file(),
        FileTest::Dir => meta.is_dir(),
        FileTest::Exists => true,
        FileTest::Executable => meta.permissions().mode() & 0o100 != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_unescaping() {
        assert_eq!(unescape_redirect(b"/show%41%2f%3F/ab"), b"/showA/?/ab");
        assert_eq!(unescape_redirect(b"/a%20b"), b"/a%20b");
        assert_eq!(unescape_redirect(b"/a%2Bb?x=%41"), b"/a+b?x=%41");
    }

    #[test]
    fn args_escaping() {
        let mut v = Vec::new();
        escape_args(&mut v, b"/ x&y+z");
        assert_eq!(v, b"/%20x%26y%2Bz");
    }
}

#[cfg(test)]
mod request_tests {
    use crate::context::testing::{body, fixture, location};
    use std::path::Path;

    /// Server-level `server_rw`, then locations: "/show" echoes, "/" carries `loc_rw`.
    fn run(server_rw: &str, loc_rw: &str, target: &str) -> (u16, String, String) {
        let toml = format!(
            r#"
[[server]]
listen = ["127.0.0.1:8080"]
server_name = ["main.test"]
rewrite = '''{server_rw}'''
[[server.location]]
path = "/"
rewrite = '''{loc_rw}'''
[[server.location]]
path = "/show"
return = {{ status = 200, text = "$uri?$args" }}
[[server.location]]
path = "/internal/"
internal = true
return = {{ status = 200, text = "internal $uri" }}
"#
        );
        let req = format!("GET {target} HTTP/1.1\r\nHost: h.test:8080\r\n\r\n");
        let fx = fixture(&toml, Path::new("/srv"), &req);
        let out = fx.respond();
        (out.status, body(&out), location(&out))
    }

    fn text(server_rw: &str, loc_rw: &str, target: &str) -> String {
        run(server_rw, loc_rw, target).1
    }

    #[test]
    fn args_rules() {
        // No '?': args stay. '?x': new args, the old ones after '&'. Trailing '?': dropped.
        assert_eq!(
            text("", "rewrite ^/a(.*)$ /show$1 last;", "/a/p?y=2"),
            "/show/p?y=2"
        );
        assert_eq!(
            text("", "rewrite ^/a(.*)$ /show$1?x=1 last;", "/a/p?y=2"),
            "/show/p?x=1&y=2"
        );
        assert_eq!(
            text("", "rewrite ^/a(.*)$ /show$1?x=1? last;", "/a/p?y=2"),
            "/show/p?x=1"
        );
        assert_eq!(
            text("", "rewrite ^/a(.*)$ /show$1? last;", "/a/p?y=2"),
            "/show/p?"
        );
        // Without a flag the search happens after the list; a later rewrite sees the new URI.
        assert_eq!(
            text(
                "",
                "rewrite ^/a(.*)$ /b$1; rewrite ^/b(.*)$ /show$1;",
                "/a/q"
            ),
            "/show/q?"
        );
    }

    #[test]
    fn server_level_runs_first() {
        assert_eq!(
            text("rewrite ^/old/(.*)$ /show/$1;", "", "/old/x?k=v"),
            "/show/x?k=v"
        );
    }

    #[test]
    fn redirects() {
        let (status, _, loc) = run("", "rewrite ^/a(.*)$ /show$1?x=1 redirect;", "/a/p?y=2");
        assert_eq!(
            (status, loc.as_str()),
            (302, "http://h.test:8080/show/p?x=1&y=2")
        );
        let (status, _, loc) = run("", "rewrite ^/a/(.*)$ http://ex.com/$1;", "/a/p?y=2");
        assert_eq!((status, loc.as_str()), (302, "http://ex.com/p?y=2"));
        let (status, _, loc) = run("", "rewrite ^/a/(.*)$ /show/$1? permanent;", "/a/p?y=2");
        assert_eq!((status, loc.as_str()), (301, "http://h.test:8080/show/p"));
        // Captures of an escaped path are escaped again in a redirect...
        let (_, _, loc) = run("", "rewrite ^/a/(.*)$ /show/$1 redirect;", "/a/x%20y+z");
        assert_eq!(loc, "http://h.test:8080/show/x%20y+z");
        // ... and in the args of an internal rewrite, but not in its path.
        assert_eq!(
            text("", "rewrite ^/a/(.*)$ /show/$1?v=$1 last;", "/a/x%20y+z"),
            "/show/x y+z?v=x%20y%2Bz"
        );
    }

    #[test]
    fn break_and_last() {
        // break: served in this location (its own return runs no more), with the new URI.
        assert_eq!(
            run(
                "",
                "rewrite ^ /show/x break; return 200 \"here $uri\";",
                "/a"
            )
            .0,
            404
        );
        assert_eq!(
            text("", "rewrite ^ /show/z last; return 200 \"no\";", "/a"),
            "/show/z?"
        );
        assert_eq!(
            run("", "rewrite ^ /show/y; break; return 200 \"no\";", "/a").0,
            404
        );
    }

    #[test]
    fn rewrite_reaches_internal_locations() {
        assert_eq!(
            text("", "rewrite ^ /internal/x last;", "/a"),
            "internal /internal/x"
        );
        assert_eq!(run("", "", "/internal/x").0, 404);
    }

    #[test]
    fn cycles_end_in_500() {
        assert_eq!(run("", "rewrite ^/a /b; rewrite ^/b /a;", "/a").0, 500);
    }

    #[test]
    fn conditions_and_set() {
        let rw = r#"set $v "x$arg_a";
            if ($arg_a = 1) { return 200 "eq $v"; }
            if ($arg_a != 2) { return 200 "ne $v"; }
            if ($http_x ~* ^(ab)(c)) { return 200 "re $1$2"; }
            if ($http_y) { return 200 "truthy"; }
            if (!-d /) { return 200 "not dir"; }
            if (-d /) { return 200 "dir $v"; }"#;
        let get = |target: &str, headers: &str| {
            let toml = format!(
                "[[server]]\nlisten = [\"127.0.0.1:8080\"]\n[[server.location]]\npath = \"/\"\nrewrite = '''{rw}'''\n"
            );
            let req = format!("GET {target} HTTP/1.1\r\nHost: h\r\n{headers}\r\n");
            body(&fixture(&toml, Path::new("/srv"), &req).respond())
        };
        assert_eq!(get("/?a=1", ""), "eq x1");
        assert_eq!(get("/?a=3", ""), "ne x3");
        assert_eq!(get("/?a=2", "X: ABCd\r\n"), "re ABC");
        assert_eq!(get("/?a=2", "Y: 0\r\n"), "dir x2");
        assert_eq!(get("/?a=2", "Y: yes\r\n"), "truthy");
    }

    #[test]
    fn return_forms() {
        let ret = |r: &str| run("", r, "/x.html");
        assert_eq!(ret("return 204;").0, 204);
        let (s, b, _) = ret("return 200;");
        assert_eq!((s, b.as_str()), (200, ""));
        let (s, b, _) = ret("return 404 \"gone\";");
        assert_eq!((s, b.as_str()), (404, "gone"));
        let (s, b, _) = ret("return 404;");
        assert!(s == 404 && b.contains("<h1>404 Not Found</h1>"), "{b}");
        let (s, b, loc) = ret("return 301 /else;");
        assert_eq!((s, loc.as_str()), (301, "http://h.test:8080/else"));
        assert!(b.contains("301 Moved Permanently"));
        let (s, _, loc) = ret("return https://ex.com$request_uri;");
        assert_eq!((s, loc.as_str()), (302, "https://ex.com/x.html"));
        let (s, b, _) = ret("return 418;");
        assert_eq!((s, b.as_str()), (418, ""));
    }

    #[test]
    fn return_444_aborts() {
        let toml = "[[server]]\nlisten = [\"127.0.0.1:8080\"]\n[[server.location]]\npath = \"/\"\nreturn = 444\n";
        let fx = fixture(toml, Path::new("/srv"), "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        let r = fx.respond();
        assert!(r.abort && r.status == 444);
    }

    #[test]
    fn return_text_type_follows_the_extension() {
        let toml = "[[server]]\nlisten = [\"127.0.0.1:8080\"]\n[[server.location]]\npath = \"/\"\ndefault_type = \"text/x-default\"\nreturn = { status = 200, text = \"t\" }\n";
        let get = |t: &str| {
            let req = format!("GET {t} HTTP/1.1\r\nHost: h\r\n\r\n");
            fixture(toml, Path::new("/srv"), &req)
                .respond()
                .content_type
        };
        assert_eq!(get("/a.html").as_deref(), Some("text/html"));
        assert_eq!(get("/a").as_deref(), Some("text/x-default"));
    }
}
