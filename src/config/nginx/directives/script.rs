//! The directive table's rewrite module: `rewrite`, `return`, `set`, `if` and `break` →
//! [`StepTree`]s (nginx front-end, control thread only).
//!
//! Used for server and location blocks of nginx.conf, and through [`script_from_text`] by
//! the TOML front-end, which embeds these directives as nginx text. Only words are checked
//! here; regexes, variables and conditions are compiled by `config::resolve`.

use std::path::{Path, PathBuf};

use super::layers::Level;
use super::{arg, Ctx, ScriptPlace, Walker, SCRIPT, SCRIPT_IF};
use crate::config::model::RewriteFlag;
use crate::config::nginx::parser::{parse_str, Directive, ParseOptions};
use crate::config::tree::{At, Layers, Origin, StepTree};
use crate::config::{ConfigError, ConfigErrors};

/// Rewrite-module directives (`rewrite`, `return`, `set`, `if`, `break`) written as nginx
/// text, as the TOML front-end embeds them (`rewrite = '''if ($x) { return 403; }'''`).
///
/// `origin` is where that text sits in the TOML file: every step and every error is placed
/// there (errors in a text of several lines also name the line within it).
pub fn script_from_text(text: &str, origin: &Origin) -> Result<Vec<At<StepTree>>, ConfigErrors> {
    let pseudo = origin
        .file
        .as_deref()
        .cloned()
        .unwrap_or_else(|| PathBuf::from("<rewrite script>"));
    let prefix = pseudo
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let multiline = text.trim().contains('\n');
    let dirs = parse_str(text, &pseudo, &ParseOptions { prefix }).map_err(|e| {
        ConfigErrors(
            e.0.into_iter()
                .map(|err| ConfigError {
                    file: origin.file.as_deref().cloned(),
                    line: origin.line,
                    message: match err.line {
                        Some(line) if multiline => {
                            format!("{} (line {line} of the nginx text)", err.message)
                        }
                        _ => err.message,
                    },
                })
                .collect(),
        )
    })?;
    let mut walker = Walker {
        errors: Vec::new(),
        notes: Vec::new(),
        script: Some(ScriptPlace {
            origin: origin.clone(),
            multiline,
        }),
        ..Walker::default()
    };
    let mut steps = Vec::new();
    for d in &dirs {
        if walker.check(d, SCRIPT) {
            if let Some(step) = walker.step(d, SCRIPT_IF) {
                steps.push(step);
            }
        }
    }
    walker.finish(steps)
}

impl Walker {
    /// One rewrite-module directive, already checked against its context; `if_ctx` is the
    /// context its `if` block (if it is one) gives the directives inside.
    pub(super) fn step(&mut self, d: &Directive, if_ctx: Ctx) -> Option<At<StepTree>> {
        let step = match d.name.as_str() {
            "rewrite" => self.rewrite(d)?,
            "return" => self.ret(d)?,
            "set" => {
                let Some(name) = arg(d, 0).strip_prefix('$') else {
                    self.error(d, format!("invalid variable name \"{}\"", arg(d, 0)));
                    return None;
                };
                StepTree::Set {
                    name: name.to_string(),
                    value: arg(d, 1).to_string(),
                }
            }
            "break" => StepTree::Break,
            "if" => self.if_block(d, if_ctx)?,
            _ => {
                self.unhandled(d);
                return None;
            }
        };
        Some(At::new(step, self.origin(d)))
    }

    /// `rewrite regex replacement [last|break|redirect|permanent]`. A replacement starting
    /// with `http://`, `https://` or `$scheme` is a redirect even without a flag: `resolve`
    /// decides that from the text, as nginx does.
    fn rewrite(&mut self, d: &Directive) -> Option<StepTree> {
        if arg(d, 1).is_empty() {
            self.error(d, "empty replacement");
            return None;
        }
        let flag = match d.args.get(2).map(|a| a.value.as_str()) {
            None => RewriteFlag::None,
            Some("last") => RewriteFlag::Last,
            Some("break") => RewriteFlag::Break,
            Some("redirect") => RewriteFlag::Redirect,
            Some("permanent") => RewriteFlag::Permanent,
            Some(other) => {
                self.error(d, format!("invalid parameter \"{other}\""));
                return None;
            }
        };
        Some(StepTree::Rewrite {
            regex: arg(d, 0).to_string(),
            replacement: arg(d, 1).to_string(),
            flag,
        })
    }

    /// `return code [text|URL]`, or `return URL` (302). nginx takes any code up to 999.
    fn ret(&mut self, d: &Directive) -> Option<StepTree> {
        let first = arg(d, 0);
        let code = if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
            first.parse::<u16>().ok().filter(|&c| c <= 999)
        } else {
            None
        };
        match code {
            Some(status) => Some(StepTree::Return {
                status,
                text: d.args.get(1).map(|a| a.value.clone()),
            }),
            None if d.args.len() == 1
                && (first.starts_with("http://")
                    || first.starts_with("https://")
                    || first.starts_with("$scheme")) =>
            {
                Some(StepTree::Return {
                    status: 302,
                    text: Some(first.to_string()),
                })
            }
            None => {
                self.error(d, format!("invalid return code \"{first}\""));
                None
            }
        }
    }

    /// `if (condition) { ... }`: the condition's words without the parentheses (nginx
    /// accepts them glued, `($a)`, or apart, `( $a )`), and the steps inside.
    fn if_block(&mut self, d: &Directive, if_ctx: Ctx) -> Option<StepTree> {
        let mut condition: Vec<String> = d.args.iter().map(|a| a.value.clone()).collect();
        let ok = match condition.first_mut() {
            Some(first) if first.starts_with('(') => {
                first.remove(0);
                true
            }
            _ => false,
        };
        if !ok {
            self.error(d, format!("invalid condition \"{}\"", arg(d, 0)));
            return None;
        }
        if condition.first().is_some_and(String::is_empty) {
            condition.remove(0);
        }
        let ok = match condition.last_mut() {
            Some(last) if last.ends_with(')') => {
                last.pop();
                true
            }
            _ => false,
        };
        if !ok {
            // nginx names the last word after it took the "(" off the first.
            let last = match condition.last() {
                Some(word) => word.as_str(),
                None => d.args.last().map_or("", |a| a.value.as_str()),
            };
            self.error(d, format!("invalid condition \"{last}\""));
            return None;
        }
        if condition.last().is_some_and(String::is_empty) {
            condition.pop();
        }
        if condition.is_empty() {
            let all: Vec<&str> = d.args.iter().map(|a| a.value.as_str()).collect();
            self.error(d, format!("invalid condition \"{}\"", all.join(" ")));
            return None;
        }
        let mut steps = Vec::new();
        let mut layers = Layers::default();
        let mut proxy_pass = None;
        for inner in d.block.as_deref().unwrap_or_default() {
            if !self.check(inner, if_ctx) {
                continue;
            }
            match inner.name.as_str() {
                "rewrite" | "return" | "set" | "break" => {
                    if let Some(step) = self.step(inner, if_ctx) {
                        steps.push(step);
                    }
                }
                // The header filters' settings: the block's own list replaces the
                // location's while the condition holds (nginx's "if makes a location").
                "add_header" | "add_trailer" | "expires" => {
                    self.layer(inner, &mut layers, Level::Location { named: false })
                }
                // The table allows it only in an `if` of a location, as nginx.
                "proxy_pass" => self.once(inner, &mut proxy_pass, |w| {
                    Some(At::new(arg(inner, 0).to_string(), w.origin(inner)))
                }),
                // nginx allows a few more inside `if` in a location (root, ...).
                _ => self.error(
                    inner,
                    format!(
                        "\"{}\" directive is not supported inside if by anx; only rewrite, \
                         return, set, break, add_header, add_trailer and expires are",
                        inner.name
                    ),
                ),
            }
        }
        Some(StepTree::If {
            condition,
            steps,
            headers: Box::new(layers),
            proxy_pass,
        })
    }
}
