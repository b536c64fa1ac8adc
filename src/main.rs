//! `anx` binary: parse the command line, then run a one-shot command or the server.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anx::cli::{self, Action};
use anx::config::{self, model::LogTarget, Config};

const DEFAULT_CONFIG: &str = "conf/anx.toml";

fn main() -> ExitCode {
    let cli = match cli::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("anx: {e}");
            return ExitCode::FAILURE;
        }
    };
    match &cli.action {
        Action::Help => {
            print!(
                "anx version: anx/{}\n{}",
                env!("CARGO_PKG_VERSION"),
                cli::USAGE
            );
            ExitCode::SUCCESS
        }
        Action::Version => {
            eprintln!("anx version: anx/{}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Action::VersionAndBuild => {
            eprintln!("anx version: anx/{}", env!("CARGO_PKG_VERSION"));
            eprintln!("built with rustc, glommio 0.9 (io_uring), httparse");
            eprintln!("configure arguments: --with-toml-config");
            ExitCode::SUCCESS
        }
        Action::Signal(_) | Action::TestAndDump => {
            eprintln!("anx: this option is not implemented yet (see README, \"Not built yet\")");
            ExitCode::FAILURE
        }
        Action::Test => test_config(&cli),
        Action::Run => run(&cli),
    }
}

/// The configuration file to use: `-c`, else conf/anx.toml under the prefix, else none.
fn config_path(cli: &cli::Cli) -> Option<PathBuf> {
    let prefix = cli.prefix.clone().unwrap_or_else(|| PathBuf::from("."));
    match &cli.config {
        Some(c) if c.is_absolute() => Some(c.clone()),
        Some(c) => Some(prefix.join(c)),
        None => {
            let default = prefix.join(DEFAULT_CONFIG);
            default.exists().then_some(default)
        }
    }
}

fn load(cli: &cli::Cli) -> Result<(Config, Option<PathBuf>), config::ConfigErrors> {
    match config_path(cli) {
        Some(path) => config::load(&path).map(|c| (c, Some(path))),
        None => config::embedded_default().map(|c| (c, None)),
    }
}

fn display(path: &Option<PathBuf>) -> String {
    path.as_deref()
        .map(Path::display)
        .map(|d| d.to_string())
        .unwrap_or_else(|| "<built-in>".to_string())
}

fn test_config(cli: &cli::Cli) -> ExitCode {
    let path = config_path(cli);
    match load(cli) {
        Ok(_) => {
            if !cli.quiet {
                eprintln!(
                    "anx: the configuration file {} syntax is ok",
                    display(&path)
                );
                eprintln!(
                    "anx: configuration file {} test is successful",
                    display(&path)
                );
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("anx: [emerg] {e}");
            }
            eprintln!("anx: configuration file {} test failed", display(&path));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &cli::Cli) -> ExitCode {
    let (mut config, path) = match load(cli) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("anx: [emerg] {e}");
            }
            return ExitCode::FAILURE;
        }
    };
    if path.is_none() {
        eprintln!(
            "anx: no configuration file given and {DEFAULT_CONFIG} not found: serving the current directory on http://127.0.0.1:8080/ (built-in default)"
        );
    }
    if let Some(shards) = cli.shards {
        config.shards = shards;
    }
    if let Some(e) = &cli.error_log {
        config.error_log.target = if e == "stderr" {
            LogTarget::Stderr
        } else {
            LogTarget::File(PathBuf::from(e))
        };
    }
    if let Err(e) = anx::log::error::init(&config.error_log) {
        eprintln!("anx: [emerg] {e}");
        return ExitCode::FAILURE;
    }
    match anx::runtime::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("anx: [emerg] {e}");
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
