//! Configuration: front-ends turn a file into the one resolved [`model::Config`].
//!
//! Nothing here runs on the request path: the control thread loads, resolves and validates a
//! configuration, then hands shards an immutable `Arc<Config>` inside a configuration
//! generation (`shard::generation`), swapped lock-free on reload.

pub mod compile;
pub mod dump;
pub mod files;
pub mod model;
pub mod nginx;
pub mod resolve;
pub mod settings;
pub mod toml;
pub mod tree;
pub mod units;
pub mod value;

use std::fmt;
use std::path::{Path, PathBuf};

pub use model::Config;

/// A configuration problem, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self
            .file
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<built-in>".to_string());
        match self.line {
            Some(line) => write!(f, "{} in {}:{}", self.message, file, line),
            None => write!(f, "{} in {}", self.message, file),
        }
    }
}

/// All errors found in one load: a user fixes them in one pass, not one per run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The site anx serves when no configuration file exists: the current directory on
/// 127.0.0.1:8080, so a new user sees something at once.
pub const EMBEDDED_DEFAULT: &str = r#"
[main]
shards = 1

[[server]]
listen = ["127.0.0.1:8080"]
root = "."
autoindex = true

[[server.location]]
path = "/"
"#;

/// Which front-end reads a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Toml,
    Nginx,
}

/// Picks the front-end: `.toml` → TOML, `.conf` → nginx; otherwise by content (nginx files are
/// made of `name args;` and `name {` lines, TOML of `key = value` and `[table]` lines).
pub fn detect_syntax(path: &Path, text: &str) -> Syntax {
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => return Syntax::Toml,
        Some("conf") => return Syntax::Nginx,
        _ => {}
    }
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            return Syntax::Toml;
        }
        let word_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(line.len());
        let after = line[word_end..].trim_start();
        return if after.starts_with('=') {
            Syntax::Toml
        } else {
            Syntax::Nginx
        };
    }
    Syntax::Toml
}

/// Loads and validates the configuration at `path`; relative paths resolve against the
/// file's directory.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let prefix = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    load_with(path, &prefix, None)
}

/// Loads `path` with an explicit prefix (`-p`) for relative paths (includes resolve against
/// the file's own directory, as nginx does), and `-g` directives (nginx syntax only).
pub fn load_with(
    path: &Path,
    prefix: &Path,
    globals: Option<&str>,
) -> Result<Config, ConfigErrors> {
    load_with_notes(path, prefix, globals).map(|(config, _)| config)
}

/// [`load_with`], plus the front-end's remarks that are not errors (for the command line).
pub fn load_with_notes(
    path: &Path,
    prefix: &Path,
    globals: Option<&str>,
) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
    let mut tree = load_tree(path, prefix, globals)?;
    let (config, notes) = resolve::resolve_with_notes(&tree)?;
    tree.notes.extend(notes);
    Ok((config, tree.notes))
}

/// The unresolved tree of `path` (both front-ends).
pub fn load_tree(
    path: &Path,
    prefix: &Path,
    globals: Option<&str>,
) -> Result<tree::ConfigTree, ConfigErrors> {
    let text = files::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: Some(path.to_path_buf()),
            line: None,
            message: format!("cannot read configuration: {e}"),
        }])
    })?;
    match detect_syntax(path, &text) {
        Syntax::Nginx => nginx::load_tree(path, prefix, globals),
        Syntax::Toml => {
            if globals.is_some() {
                return Err(ConfigErrors(vec![ConfigError {
                    file: Some(path.to_path_buf()),
                    line: None,
                    message: "-g needs an nginx-syntax configuration (this file is TOML)"
                        .to_string(),
                }]));
            }
            toml::parse_tree(&text, Some(path), prefix)
        }
    }
}

/// The embedded default, resolved against the current directory.
pub fn embedded_default() -> Result<Config, ConfigErrors> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    toml::parse(EMBEDDED_DEFAULT, None, &cwd)
}
