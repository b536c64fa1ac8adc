//! `anx` binary: parse the command line, then run a one-shot command or the server.
//!
//! Runs on the process's main thread, which becomes the control thread when anx serves
//! (`runtime::run`). The one-shot commands (`-t`, `-T`, `-s`, `-v`, `-V`, `-h`) load what they
//! need, print nginx's lines with `anx:` and exit; none of them starts a shard.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anx::cli::{self, Action};
use anx::config::model::{ErrorLevel, ErrorLog, LogTarget};
use anx::config::{self, Config};
use anx::runtime::signal_cmd;

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
            print!("{}{}", version_line(), cli::USAGE);
            ExitCode::SUCCESS
        }
        Action::Version => {
            eprint!("{}", version_line());
            ExitCode::SUCCESS
        }
        Action::VersionAndBuild => {
            eprint!("{}", version_line());
            eprint!("{}", build_options());
            ExitCode::SUCCESS
        }
        Action::Signal(name) => signal(&cli, name),
        Action::Test => test_config(&cli, false),
        Action::TestAndDump => test_config(&cli, true),
        Action::Run => run(&cli),
    }
}

fn version_line() -> String {
    format!("anx version: anx/{}\n", env!("CARGO_PKG_VERSION"))
}

/// The nginx release whose behaviour anx follows and is checked against (Debian 12's
/// package, which the parity tests run beside anx). Tools that read `nginx -V` (nginx's own
/// test suite, certbot's nginx plugin) look for this line.
const NGINX_COMPATIBLE: &str = "1.22.1";

/// Which glommio this binary runs: perf/glommio/prepare.sh sets `ANX_GLOMMIO_BUILD` for the
/// compiler (in the `.cargo/config.toml` it writes) when it points cargo at the patched copy.
const GLOMMIO_BUILD: &str = match option_env!("ANX_GLOMMIO_BUILD") {
    Some(build) => build,
    None => "stock glommio 0.9.0 (without the ring-flag patch: slower; build with perf/run)",
};

/// `-V`: what this binary was built with, in nginx's shape: the lines tools parse (`nginx
/// version:`, `built with`, `TLS SNI support enabled`, `configure arguments:`) after anx's
/// own, and anx's details last.
fn build_options() -> String {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!(
        "nginx version: nginx/{NGINX_COMPATIBLE} (anx follows this release's behaviour)\n\
         built with rustls 0.23 ({provider})\n\
         TLS SNI support enabled\n\
         configure arguments: --prefix=./ --conf-path={DEFAULT_CONFIG} \
         --error-log-path=stderr {modules}\n\
         anx: built for {arch}-{os} ({profile} build) with {glommio} (io_uring), httparse, \
         regex; configuration in TOML (native) or nginx.conf syntax\n",
        glommio = GLOMMIO_BUILD,
        arch = std::env::consts::ARCH,
        os = std::env::consts::OS,
        provider = anx::tls::PROVIDER_NAME,
        modules = anx::config::nginx::modules::configure_arguments(),
    )
}

/// The configuration file to use: `-c` (relative to `-p`), else conf/anx.toml under the
/// prefix, else none (the built-in default).
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

/// Loads the configuration the command line names. Relative paths inside it resolve against
/// `-p` when given, else against the file's directory (as `config::load` does); `-g` goes to
/// the nginx front-end, which refuses it for TOML files.
fn load(cli: &cli::Cli) -> Result<(Config, Option<PathBuf>), config::ConfigErrors> {
    let globals = cli.global_directives.as_deref();
    match config_path(cli) {
        Some(path) => {
            let prefix = match &cli.prefix {
                Some(p) => p.clone(),
                None => path
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from(".")),
            };
            let (config, notes) = config::load_with_notes(&path, &prefix, globals)?;
            for note in notes {
                eprintln!("anx: [warn] {note}");
            }
            Ok((config, Some(path)))
        }
        None if globals.is_some() => Err(config::ConfigErrors(vec![config::ConfigError {
            file: None,
            line: None,
            message: "-g needs an nginx-syntax configuration (the built-in default is TOML)"
                .to_string(),
        }])),
        None => config::embedded_default().map(|c| (c, None)),
    }
}

fn display(path: &Option<PathBuf>) -> String {
    path.as_deref()
        .map(Path::display)
        .map(|d| d.to_string())
        .unwrap_or_else(|| "<built-in>".to_string())
}

fn print_errors(errors: &config::ConfigErrors) {
    for e in &errors.0 {
        eprintln!("anx: [emerg] {e}");
    }
}

/// `-t`, and `-T` (`dump`): nginx's two lines on stderr; with `-T` the resolved model as TOML
/// on stdout, which loads back to the same model (the nginx → TOML migration).
fn test_config(cli: &cli::Cli, dump: bool) -> ExitCode {
    let path = config_path(cli);
    match load(cli) {
        Ok((config, _)) => {
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
            if dump {
                if let Some(path) = &path {
                    eprint!("{}", source_dump(path));
                }
                print!("{}", config::dump::to_toml(&config));
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            print_errors(&errors);
            eprintln!("anx: configuration file {} test failed", display(&path));
            ExitCode::FAILURE
        }
    }
}

/// nginx's `-T` listing: every configuration file read, in reading order, behind a
/// `# configuration file PATH:` line. anx prints it on stderr so that stdout stays the TOML
/// model (`anx -T > anx.toml` is the migration), while tools that read `nginx -T 2>&1` find
/// nginx's sections.
fn source_dump(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let files = match config::detect_syntax(path, &text) {
        config::Syntax::Nginx => {
            let conf_dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let opts = config::nginx::ParseOptions { prefix: conf_dir };
            config::nginx::source_files(path, &opts)
        }
        config::Syntax::Toml => vec![(path.to_path_buf(), text.into_bytes())],
    };
    let mut out = String::new();
    for (file, bytes) in files {
        out.push_str(&format!("# configuration file {}:\n", file.display()));
        out.push_str(&String::from_utf8_lossy(&bytes));
        if !bytes.ends_with(b"\n") {
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// `-s stop|quit|reopen|reload`: signal the server named by the configuration's pid file.
fn signal(cli: &cli::Cli, name: &str) -> ExitCode {
    let config = match load(cli) {
        Ok((c, _)) => c,
        Err(errors) => {
            print_errors(&errors);
            return ExitCode::FAILURE;
        }
    };
    match signal_cmd::send(&config, name) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("anx: [{}] {}", e.severity.label(), e.message);
            ExitCode::FAILURE
        }
    }
}

/// `--shards` and `-e` win over the file, at start and on every reload.
fn apply_overrides(config: &mut Config, cli: &cli::Cli) {
    if let Some(shards) = cli.shards {
        config.shards = shards;
    }
    if let Some(e) = &cli.error_log {
        // -e replaces the configured logs with one, at the first one's level.
        let level = config
            .error_log
            .first()
            .map_or(ErrorLevel::Notice, |l| l.level);
        // As nginx: a relative -e names a file under the prefix (-p), not the current
        // directory.
        let target = match (&cli.prefix, e.as_str()) {
            (_, "stderr") => LogTarget::Stderr,
            (Some(prefix), path) => LogTarget::File(prefix.join(path)),
            (None, path) => LogTarget::File(PathBuf::from(path)),
        };
        config.error_log = vec![ErrorLog { target, level }];
    }
}

fn run(cli: &cli::Cli) -> ExitCode {
    let (mut config, path) = match load(cli) {
        Ok(c) => c,
        Err(errors) => {
            print_errors(&errors);
            return ExitCode::FAILURE;
        }
    };
    if path.is_none() {
        eprintln!(
            "anx: no configuration file given and {DEFAULT_CONFIG} not found: serving the current directory on http://127.0.0.1:8080/ (built-in default)"
        );
    }
    apply_overrides(&mut config, cli);
    if let Err(e) = anx::log::error::init(&config.error_log) {
        eprintln!("anx: [emerg] {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = anx::log::scoped::open_all(&config) {
        eprintln!("anx: [emerg] {e}");
        return ExitCode::FAILURE;
    }
    // SIGHUP reads the same file with the same command-line overrides, as `anx -t` would.
    let reload_cli = cli.clone();
    let reload = Box::new(move || {
        let (mut config, _) = load(&reload_cli).map_err(|errors| {
            let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
            lines.join("; ")
        })?;
        apply_overrides(&mut config, &reload_cli);
        // nginx opens a new configuration's logs before taking it: one that cannot be
        // opened refuses the reload.
        anx::log::scoped::open_all(&config)?;
        Ok(config)
    });
    match anx::runtime::run(config, reload) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("anx: [emerg] {e}");
            log::error!(target: anx::log::error::EMERG, "{e}");
            ExitCode::FAILURE
        }
    }
}
