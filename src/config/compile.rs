//! Compiling configuration text into [`super::value`] types: templates with variables,
//! regexes, rewrite steps, `if` conditions, and the word lists of `try_files`, `error_page`
//! and `expires`.
//!
//! Called only by `resolve`, at load time, for both front-ends. Every failure is a message
//! for a `ConfigError` at the directive's origin; nothing here runs on the request path.

use hashbrown::HashMap;

use super::model::{
    Condition, ErrorPage, ErrorPageStatus, ErrorPageTarget, Expires, FileTest, RewriteFlag, Step,
    TryFallback, TryFiles,
};
use super::tree::{At, StepTree};
use super::units::parse_duration;
use super::value::{Part, Pattern, Template, Var};
use super::ConfigError;

/// The variable names a configuration defines beyond the built-in ones.
#[derive(Debug, Default)]
pub struct Scope {
    /// `set` variables, by name → index into `Config::user_vars`.
    pub user: HashMap<String, usize>,
    /// `map` results, by name → index into `Config::maps`.
    pub maps: HashMap<String, usize>,
    /// `geo` results, by name → index into `Config::geos`.
    pub geos: HashMap<String, usize>,
    /// `split_clients` results, by name → index into `Config::split_clients`.
    pub splits: HashMap<String, usize>,
    /// Named captures of every regex in the configuration.
    pub captures: hashbrown::HashSet<String>,
}

/// The built-in variables anx knows by exact name.
fn builtin(name: &str) -> Option<Var> {
    Some(match name {
        "uri" | "document_uri" => Var::Uri,
        "request_uri" => Var::RequestUri,
        "args" | "query_string" => Var::Args,
        "is_args" => Var::IsArgs,
        "host" => Var::Host,
        "remote_addr" => Var::RemoteAddr,
        "remote_port" => Var::RemotePort,
        "remote_user" => Var::RemoteUser,
        "server_addr" => Var::ServerAddr,
        "server_port" => Var::ServerPort,
        "server_name" => Var::ServerName,
        "scheme" => Var::Scheme,
        "https" => Var::Https,
        "ssl_protocol" => Var::SslProtocol,
        "ssl_cipher" => Var::SslCipher,
        "ssl_server_name" => Var::SslServerName,
        "ssl_session_reused" => Var::SslSessionReused,
        "ssl_client_verify" => Var::SslClientVerify,
        "ssl_client_s_dn" => Var::SslClientSDn,
        "ssl_client_fingerprint" => Var::SslClientFingerprint,
        "request_method" => Var::RequestMethod,
        "request" => Var::Request,
        "server_protocol" => Var::ServerProtocol,
        "document_root" => Var::DocumentRoot,
        "realpath_root" => Var::RealpathRoot,
        "request_filename" => Var::RequestFilename,
        "content_type" => Var::ContentType,
        "content_length" => Var::ContentLength,
        "status" => Var::Status,
        "body_bytes_sent" => Var::BodyBytesSent,
        "bytes_sent" => Var::BytesSent,
        "request_length" => Var::RequestLength,
        "request_time" => Var::RequestTime,
        "msec" => Var::Msec,
        "time_local" => Var::TimeLocal,
        "time_iso8601" => Var::TimeIso8601,
        "request_id" => Var::RequestId,
        "connection" => Var::Connection,
        "connection_requests" => Var::ConnectionRequests,
        "connections_active" => Var::ConnectionsActive,
        "connections_reading" => Var::ConnectionsReading,
        "connections_writing" => Var::ConnectionsWriting,
        "connections_waiting" => Var::ConnectionsWaiting,
        "limit_rate" => Var::LimitRate,
        "pipe" => Var::Pipe,
        "connection_time" => Var::ConnectionTime,
        "request_body" => Var::RequestBody,
        "request_body_file" => Var::RequestBodyFile,
        "pid" => Var::Pid,
        "hostname" => Var::Hostname,
        "nginx_version" => Var::NginxVersion,
        "proxy_host" => Var::ProxyHost,
        "proxy_port" => Var::ProxyPort,
        "proxy_add_x_forwarded_for" => Var::ProxyAddXForwardedFor,
        "upstream_addr" => Var::UpstreamAddr,
        "upstream_status" => Var::UpstreamStatus,
        "upstream_response_time" => Var::UpstreamResponseTime,
        "upstream_connect_time" => Var::UpstreamConnectTime,
        "upstream_header_time" => Var::UpstreamHeaderTime,
        "upstream_bytes_received" => Var::UpstreamBytesReceived,
        "upstream_bytes_sent" => Var::UpstreamBytesSent,
        "upstream_response_length" => Var::UpstreamResponseLength,
        "proxy_protocol_addr" => Var::ProxyProtocolAddr,
        "proxy_protocol_port" => Var::ProxyProtocolPort,
        "proxy_protocol_server_addr" => Var::ProxyProtocolServerAddr,
        "proxy_protocol_server_port" => Var::ProxyProtocolServerPort,
        _ => return crate::tls::info::SslVar::from_name(name).map(Var::Ssl),
    })
}

/// Whether `name` is a built-in variable (`set` may not redefine one).
pub fn is_builtin(name: &str) -> bool {
    builtin(name).is_some()
        || [
            "arg_",
            "http_",
            "cookie_",
            "sent_http_",
            "sent_trailer_",
            "upstream_http_",
            "upstream_cookie_",
            "proxy_protocol_tlv_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
}

impl Scope {
    fn lookup(&self, name: &str) -> Option<Var> {
        if let Some(v) = builtin(name) {
            return Some(v);
        }
        if let Some(&i) = self.user.get(name) {
            return Some(Var::User(i));
        }
        if let Some(&i) = self.maps.get(name) {
            return Some(Var::Map(i));
        }
        if let Some(&i) = self.geos.get(name) {
            return Some(Var::Geo(i));
        }
        if let Some(&i) = self.splits.get(name) {
            return Some(Var::Split(i));
        }
        if self.captures.contains(name) {
            return Some(Var::NamedCapture(name.to_string()));
        }
        // As nginx, a prefix alone names a variable too: `$arg_` is the argument with an
        // empty name (`?=value`).
        let prefixed = |p: &str| name.strip_prefix(p);
        if let Some(rest) = prefixed("arg_") {
            return Some(Var::Arg(rest.to_string()));
        }
        if let Some(rest) = prefixed("http_") {
            return Some(Var::Http(rest.to_ascii_lowercase().replace('_', "-")));
        }
        if let Some(rest) = prefixed("sent_http_") {
            return Some(Var::SentHttp(rest.to_ascii_lowercase().replace('_', "-")));
        }
        if let Some(rest) = prefixed("sent_trailer_") {
            return Some(Var::SentTrailer(
                rest.to_ascii_lowercase().replace('_', "-"),
            ));
        }
        if let Some(rest) = prefixed("upstream_http_") {
            return Some(Var::UpstreamHttp(
                rest.to_ascii_lowercase().replace('_', "-"),
            ));
        }
        if let Some(rest) = prefixed("upstream_cookie_") {
            return Some(Var::UpstreamCookie(rest.to_string()));
        }
        if let Some(rest) = prefixed("cookie_") {
            return Some(Var::Cookie(rest.to_string()));
        }
        if let Some(rest) = prefixed("proxy_protocol_tlv_") {
            return Some(Var::ProxyProtocolTlv(
                crate::net::proxy_protocol::TlvName::parse(rest),
            ));
        }
        None
    }

    /// Compiles `text` with `$name`, `${name}` and `$1`…`$9` references.
    pub fn template(&self, text: &str) -> Result<Template, String> {
        let bytes = text.as_bytes();
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'$' {
                let next = text[i..].find('$').map_or(text.len(), |n| i + n);
                literal.push_str(&text[i..next]);
                i = next;
                continue;
            }
            let (name, end) = if bytes.get(i + 1) == Some(&b'{') {
                let close = text[i + 2..].find('}').ok_or_else(|| {
                    format!("the closing bracket in \"{text}\" variable is missing")
                })?;
                (&text[i + 2..i + 2 + close], i + 3 + close)
            } else if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                // nginx: `$1` is one digit; `$10` is `$1` followed by "0".
                (&text[i + 1..i + 2], i + 2)
            } else {
                let len = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
                (&text[i + 1..i + 1 + len], i + 1 + len)
            };
            if name.is_empty() {
                return Err(format!("invalid variable name in \"{text}\""));
            }
            let var = if let Ok(n) = name.parse::<u8>() {
                if n > 9 {
                    return Err(format!("invalid capture \"${name}\" in \"{text}\""));
                }
                if n == 0 {
                    // nginx has no `$0` (the whole match is not a variable there).
                    return Err("unknown \"0\" variable".to_string());
                }
                Var::Capture(n)
            } else {
                self.lookup(name)
                    .ok_or_else(|| format!("unknown \"{name}\" variable"))?
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(Part::Var(var));
            i = end;
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template {
            source: text.to_string(),
            parts,
        })
    }
}

/// Compiles a regex the way nginx's PCRE runs it (bytes, ASCII classes), with a clear message
/// for the PCRE constructs the regex crate does not have.
pub fn pattern(source: &str, caseless: bool) -> Result<Pattern, String> {
    let translated = pcre_quotes(source);
    let regex = regex::bytes::RegexBuilder::new(&translated)
        .case_insensitive(caseless)
        .unicode(false)
        .size_limit(1 << 22)
        .build()
        .or_else(|_| {
            // Patterns with non-ASCII literals or Unicode classes need Unicode mode.
            regex::bytes::RegexBuilder::new(&translated)
                .case_insensitive(caseless)
                .size_limit(1 << 22)
                .build()
        })
        .map_err(|e| {
            let detail = e.to_string();
            if detail.contains("look-around") || detail.contains("backreferences") {
                format!(
                    "regex \"{source}\" uses a PCRE-only construct (look-around or a \
                     backreference), which anx's regex engine (the regex crate, linear time) \
                     does not support: {}",
                    last_line(&detail)
                )
            } else {
                format!("invalid regex \"{source}\": {}", last_line(&detail))
            }
        })?;
    Ok(Pattern {
        source: source.to_string(),
        caseless,
        regex,
    })
}

/// PCRE's `\Q…\E` (everything between is literal, `\E` optional at the end), which the
/// regex crate lacks, rewritten as escaped text. Other escapes are copied as they are, so
/// `\\Q` stays an escaped backslash followed by `Q`.
fn pcre_quotes(source: &str) -> std::borrow::Cow<'_, str> {
    if !source.contains("\\Q") {
        return std::borrow::Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len() + 8);
    let mut rest = source;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.chars().next() {
            Some('Q') => {
                let quoted = &after[1..];
                let (literal, tail) = match quoted.find("\\E") {
                    Some(end) => (&quoted[..end], &quoted[end + 2..]),
                    None => (quoted, ""),
                };
                out.push_str(&regex::escape(literal));
                rest = tail;
            }
            Some(c) => {
                out.push('\\');
                out.push(c);
                rest = &after[c.len_utf8()..];
            }
            None => {
                out.push('\\');
                rest = "";
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

fn last_line(s: &str) -> &str {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
}

/// Named capture groups of a regex source (for the variable scope), if it compiles.
pub fn capture_names(source: &str) -> Vec<String> {
    pattern(source, false)
        .map(|p| p.capture_names().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Compiles a list of rewrite-module directives; errors go to `errors` with their origin.
pub fn steps(scope: &Scope, tree: &[At<StepTree>], errors: &mut Vec<ConfigError>) -> Vec<Step> {
    let mut out = Vec::new();
    for at in tree {
        match step(scope, &at.value, errors) {
            Ok(s) => out.push(s),
            Err(msg) => errors.push(at.origin.error(msg)),
        }
    }
    out
}

fn step(scope: &Scope, tree: &StepTree, errors: &mut Vec<ConfigError>) -> Result<Step, String> {
    Ok(match tree {
        StepTree::Rewrite {
            regex,
            replacement,
            flag,
        } => Step::Rewrite {
            pattern: pattern(regex, false)?,
            replacement: scope.template(replacement)?,
            flag: *flag,
        },
        StepTree::Return { status, text } => {
            if *status > 999 {
                return Err(format!("invalid return code \"{status}\""));
            }
            Step::Return {
                status: *status,
                text: text.as_deref().map(|t| scope.template(t)).transpose()?,
            }
        }
        StepTree::Set { name, value } if name == "args" => Step::SetArgs {
            value: scope.template(value)?,
        },
        StepTree::Set { name, value } if name == "limit_rate" => Step::SetLimitRate {
            value: scope.template(value)?,
        },
        StepTree::Set { name, value } => {
            let var = *scope
                .user
                .get(name)
                .ok_or_else(|| format!("unknown \"{name}\" variable"))?;
            Step::Set {
                var,
                value: scope.template(value)?,
            }
        }
        // `resolve` gives the block its location when it sets add_header/expires.
        StepTree::If {
            condition, steps, ..
        } => Step::If {
            condition: self::condition(scope, condition)?,
            steps: self::steps(scope, steps, errors),
            location: None,
        },
        StepTree::Break => Step::Break,
    })
}

/// `if` conditions, as nginx's rewrite module reads them.
pub fn condition(scope: &Scope, words: &[String]) -> Result<Condition, String> {
    let invalid = || format!("invalid condition \"{}\"", words.join(" "));
    match words {
        [value] => {
            if !value.starts_with('$') {
                return Err(invalid());
            }
            Ok(Condition::Truthy(scope.template(value)?))
        }
        [test, path] if test.starts_with('-') || test.starts_with("!-") => {
            let negate = test.starts_with('!');
            let test = match test.trim_start_matches('!') {
                "-f" => FileTest::File,
                "-d" => FileTest::Dir,
                "-e" => FileTest::Exists,
                "-x" => FileTest::Executable,
                _ => return Err(invalid()),
            };
            Ok(Condition::File {
                test,
                path: scope.template(path)?,
                negate,
            })
        }
        [value, op, other] => {
            if !value.starts_with('$') {
                return Err(invalid());
            }
            let value = scope.template(value)?;
            match op.as_str() {
                "=" | "!=" => Ok(Condition::Equals {
                    value,
                    other: scope.template(other)?,
                    negate: op == "!=",
                }),
                "~" | "~*" | "!~" | "!~*" => Ok(Condition::Matches {
                    value,
                    pattern: pattern(other, op.ends_with('*'))?,
                    negate: op.starts_with('!'),
                }),
                _ => Err(format!("unexpected \"{op}\" in condition")),
            }
        }
        _ => Err(invalid()),
    }
}

/// `try_files file ... uri|=code|@name`.
pub fn try_files(scope: &Scope, words: &[String]) -> Result<TryFiles, String> {
    let Some((last, files)) = words.split_last() else {
        return Err("invalid number of arguments in \"try_files\" directive".to_string());
    };
    if files.is_empty() {
        return Err("invalid number of arguments in \"try_files\" directive".to_string());
    }
    let fallback = if let Some(code) = last.strip_prefix('=') {
        let code: u16 = code
            .parse()
            .ok()
            .filter(|c| (100..=999).contains(c))
            .ok_or_else(|| format!("invalid code \"{last}\""))?;
        TryFallback::Status(code)
    } else if let Some(name) = last.strip_prefix('@') {
        TryFallback::Named(name.to_string())
    } else {
        TryFallback::Uri(scope.template(last)?)
    };
    Ok(TryFiles {
        candidates: files
            .iter()
            .map(|f| scope.template(f))
            .collect::<Result<_, _>>()?,
        fallback,
    })
}

/// `error_page code ... [=[response]] uri|@name|URL`.
pub fn error_page(scope: &Scope, words: &[String]) -> Result<ErrorPage, String> {
    let Some((target, rest)) = words.split_last() else {
        return Err("invalid number of arguments in \"error_page\" directive".to_string());
    };
    let mut codes = Vec::new();
    let mut status = ErrorPageStatus::Keep;
    for (i, w) in rest.iter().enumerate() {
        if let Some(code) = w.strip_prefix('=') {
            if i + 1 != rest.len() {
                return Err(format!("invalid value \"{w}\""));
            }
            status = if code.is_empty() {
                ErrorPageStatus::FromTarget
            } else {
                ErrorPageStatus::Set(
                    code.parse()
                        .ok()
                        .filter(|c| (100..=999).contains(c))
                        .ok_or_else(|| format!("invalid value \"{w}\""))?,
                )
            };
            continue;
        }
        let code: u16 = w.parse().map_err(|_| format!("invalid value \"{w}\""))?;
        if !(300..=599).contains(&code) {
            return Err(format!("value \"{code}\" must be between 300 and 599"));
        }
        codes.push(code);
    }
    if codes.is_empty() {
        return Err("invalid number of arguments in \"error_page\" directive".to_string());
    }
    let target = if let Some(name) = target.strip_prefix('@') {
        ErrorPageTarget::Named(name.to_string())
    } else if is_url(target) {
        ErrorPageTarget::Redirect(scope.template(target)?)
    } else {
        ErrorPageTarget::Uri(scope.template(target)?)
    };
    Ok(ErrorPage {
        codes,
        status,
        target,
    })
}

/// Whether a `return`/`rewrite`/`error_page` target is an absolute URL (a redirect).
pub fn is_url(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://") || text.starts_with("$scheme")
}

/// `expires off|epoch|max|[modified] [-]time|@time-of-day`, with no variables (those are
/// [`Expires::Variable`], which `resolve` builds and evaluates per request with this).
pub fn expires(words: &[String]) -> Result<Expires, String> {
    let signed = |t: &str| -> Result<i64, String> {
        let (neg, t) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let secs = parse_duration(t)?.as_secs() as i64;
        Ok(if neg { -secs } else { secs })
    };
    match words {
        [w] if w == "off" => Ok(Expires::Off),
        [w] if w == "epoch" => Ok(Expires::Epoch),
        [w] if w == "max" => Ok(Expires::Max),
        [w] if w.starts_with('@') => {
            let secs = parse_duration(&w[1..])?.as_secs();
            if secs >= 24 * 3600 {
                return Err(format!(
                    "daily time value \"{w}\" must be less than 24 hours"
                ));
            }
            Ok(Expires::DailyAt(secs as u32))
        }
        [m, t] if m == "modified" => Ok(Expires::Modified(signed(t)?)),
        [t] => Ok(Expires::After(signed(t)?)),
        _ => Err(format!(
            "invalid value \"{}\" in \"expires\"",
            words.join(" ")
        )),
    }
}

/// Is this rewrite flag word known? (Used by the front-ends' parsers.)
pub fn rewrite_flag(word: &str) -> Option<RewriteFlag> {
    Some(match word {
        "last" => RewriteFlag::Last,
        "break" => RewriteFlag::Break,
        "redirect" => RewriteFlag::Redirect,
        "permanent" => RewriteFlag::Permanent,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcre_quoting() {
        assert_eq!(pcre_quotes(r"^\Q.example.com\E$"), r"^\.example\.com$");
        assert_eq!(pcre_quotes(r"a\Q+*"), r"a\+\*");
        assert_eq!(pcre_quotes(r"\\Q"), r"\\Q");
        assert_eq!(pcre_quotes(r"\d+"), r"\d+");
        let p = pattern(r"^(?P<name>[a-z]+)\Q.example.com\E$", false).unwrap();
        assert!(p.regex.is_match(b"www.example.com"));
        assert!(!p.regex.is_match(b"wwwxexample.com"));
    }

    fn scope() -> Scope {
        let mut s = Scope::default();
        s.user.insert("mine".into(), 0);
        s.maps.insert("mapped".into(), 0);
        s.captures.insert("sub".into());
        s
    }

    #[test]
    fn templates() {
        let s = scope();
        let t = s.template("https://$host${request_uri}x").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Literal("https://".into()),
                Part::Var(Var::Host),
                Part::Var(Var::RequestUri),
                Part::Literal("x".into())
            ]
        );
        let t = s.template("$10$http_user_agent$sub$mine$mapped").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Var(Var::Capture(1)),
                Part::Literal("0".into()),
                Part::Var(Var::Http("user-agent".into())),
                Part::Var(Var::NamedCapture("sub".into())),
                Part::Var(Var::User(0)),
                Part::Var(Var::Map(0)),
            ]
        );
        let t = s
            .template("$proxy_host$upstream_http_X_Cache$upstream_response_time")
            .unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Var(Var::ProxyHost),
                Part::Var(Var::UpstreamHttp("x-cache".into())),
                Part::Var(Var::UpstreamResponseTime),
            ]
        );
        assert!(is_builtin("upstream_http_server"));
        assert_eq!(s.template("plain").unwrap().as_literal(), Some("plain"));
        assert!(s
            .template("$nope")
            .unwrap_err()
            .contains("unknown \"nope\""));
        assert!(s.template("${host").is_err());
        assert!(s.template("a$").is_err());
    }

    #[test]
    fn patterns() {
        assert!(pattern("^/a/(?<x>\\d+)$", false).is_ok());
        let e = pattern("^(?!admin)", false).unwrap_err();
        assert!(e.contains("PCRE-only"), "{e}");
        let e = pattern("(a)\\1", false).unwrap_err();
        assert!(e.contains("PCRE-only") || e.contains("invalid"), "{e}");
        assert!(pattern("(", false).unwrap_err().contains("invalid regex"));
        let p = pattern("\\.PHP$", true).unwrap();
        assert!(p.regex.is_match(b"/x.php"));
    }

    #[test]
    fn conditions() {
        let s = scope();
        let w = |t: &str| t.split(' ').map(String::from).collect::<Vec<_>>();
        assert!(matches!(
            condition(&s, &w("$mine")).unwrap(),
            Condition::Truthy(_)
        ));
        assert!(matches!(
            condition(&s, &w("$host != a")).unwrap(),
            Condition::Equals { negate: true, .. }
        ));
        assert!(matches!(
            condition(&s, &w("$uri !~* ^/x")).unwrap(),
            Condition::Matches { negate: true, .. }
        ));
        assert!(matches!(
            condition(&s, &w("!-f $request_filename")).unwrap(),
            Condition::File {
                test: FileTest::File,
                negate: true,
                ..
            }
        ));
        assert!(condition(&s, &w("$a <> b")).is_err());
        assert!(condition(&s, &w("x")).is_err());
    }

    #[test]
    fn word_lists() {
        let s = scope();
        let w = |t: &str| t.split(' ').map(String::from).collect::<Vec<_>>();
        let t = try_files(&s, &w("$uri $uri/ =404")).unwrap();
        assert_eq!(t.fallback, TryFallback::Status(404));
        assert!(try_files(&s, &w("$uri")).is_err());
        let e = error_page(&s, &w("404 500 =200 @x")).unwrap();
        assert_eq!(e.codes, vec![404, 500]);
        assert_eq!(e.status, ErrorPageStatus::Set(200));
        assert_eq!(e.target, ErrorPageTarget::Named("x".into()));
        let e = error_page(&s, &w("404 = /x")).unwrap();
        assert_eq!(e.status, ErrorPageStatus::FromTarget);
        assert!(matches!(
            error_page(&s, &w("404 http://a/")).unwrap().target,
            ErrorPageTarget::Redirect(_)
        ));
        assert!(error_page(&s, &w("200 /x")).is_err());
        assert_eq!(expires(&w("1h")).unwrap(), Expires::After(3600));
        assert_eq!(expires(&w("-1")).unwrap(), Expires::After(-1));
        assert_eq!(
            expires(&w("modified 2d")).unwrap(),
            Expires::Modified(172800)
        );
        assert_eq!(expires(&w("@15h30m")).unwrap(), Expires::DailyAt(55800));
        assert_eq!(expires(&w("max")).unwrap(), Expires::Max);
        assert!(expires(&w("soon")).is_err());
    }
}
