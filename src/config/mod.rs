//! Configuration: front-ends turn a file into the one resolved [`model::Config`].
//!
//! Nothing here runs on the request path: the control thread loads, resolves and validates a
//! configuration, then hands shards an immutable `Arc<Config>` snapshot through
//! [`snapshot::Snapshot`].

pub mod model;
pub mod resolve;
pub mod snapshot;
pub mod toml;
pub mod units;

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

/// Loads and validates the configuration at `path` (TOML front-end; the nginx front-end
/// comes with its own issue).
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: Some(path.to_path_buf()),
            line: None,
            message: format!("cannot read configuration: {e}"),
        }])
    })?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    toml::parse(&text, Some(path), &base)
}

/// The embedded default, resolved against the current directory.
pub fn embedded_default() -> Result<Config, ConfigErrors> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    toml::parse(EMBEDDED_DEFAULT, None, &cwd)
}
