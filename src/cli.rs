//! The command line: nginx's flags (`-?hvVtTq`, `-c`, `-p`, `-e`, `-g`, `-s`) plus `--shards`.
//!
//! Parsing only, on the main thread before anything else runs; `main.rs` acts on the result. Single-letter flags combine as in nginx
//! (`-tq`), and options take their value attached or as the next argument (`-cfile`, `-c file`).

use std::path::PathBuf;

use crate::config::model::ShardCount;
use crate::config::tree::parse_shards;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Run,
    Help,
    Version,
    VersionAndBuild,
    Test,
    TestAndDump,
    Signal(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    pub action: Action,
    pub config: Option<PathBuf>,
    pub prefix: Option<PathBuf>,
    pub quiet: bool,
    pub shards: Option<ShardCount>,
    pub error_log: Option<String>,
    pub global_directives: Option<String>,
}

pub const USAGE: &str = "Usage: anx [-?hvVtTq] [-s signal] [-p prefix] [-e filename] [-c filename] [-g directives] [--shards auto|N]

Options:
  -?,-h,--help  : this help
  -v,--version  : show version and exit
  -V            : show version and build options, then exit
  -t            : test configuration and exit
  -T            : test configuration, dump it as TOML to stdout and exit
                  (anx -T -c nginx.conf > anx.toml converts an nginx configuration)
  -q            : suppress non-error messages during configuration testing
  -s signal     : send signal to the running process (pid file from \"pid\"):
                  stop, quit, reopen, reload
  -p prefix     : set prefix path: -c and the configuration's relative paths resolve
                  against it (default: the current directory for -c, the configuration
                  file's directory for the paths inside it)
  -e filename   : set error log file, or \"stderr\" (default: the configuration's)
  -c filename   : set configuration file, TOML or nginx syntax
                  (default: conf/anx.toml, else a built-in site)
  -g directives : set global directives out of configuration file (nginx syntax only)
  --shards N    : shards (one per core): auto or a number
";

pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Cli, String> {
    let mut cli = Cli {
        action: Action::Run,
        config: None,
        prefix: None,
        quiet: false,
        shards: None,
        error_log: None,
        global_directives: None,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            match name {
                "shards" => {
                    let v = inline
                        .or_else(|| args.next())
                        .ok_or("option \"--shards\" requires a value")?;
                    cli.shards = Some(parse_shards(&v)?);
                }
                "help" => cli.action = Action::Help,
                "version" => cli.action = Action::Version,
                _ => return Err(format!("invalid option: \"{arg}\"")),
            }
            continue;
        }
        let Some(flags) = arg.strip_prefix('-') else {
            return Err(format!("invalid option: \"{arg}\""));
        };
        if flags.is_empty() {
            return Err("invalid option: \"-\"".to_string());
        }
        for (i, c) in flags.char_indices() {
            match c {
                '?' | 'h' => cli.action = Action::Help,
                'v' => cli.action = Action::Version,
                'V' => cli.action = Action::VersionAndBuild,
                't' => cli.action = Action::Test,
                'T' => cli.action = Action::TestAndDump,
                'q' => cli.quiet = true,
                'c' | 'p' | 'e' | 'g' | 's' => {
                    let rest = &flags[i + c.len_utf8()..];
                    let value = if rest.is_empty() {
                        args.next()
                            .ok_or_else(|| format!("option \"-{c}\" requires {}", what(c)))?
                    } else {
                        rest.to_string()
                    };
                    match c {
                        'c' => cli.config = Some(PathBuf::from(value)),
                        'p' => cli.prefix = Some(PathBuf::from(value)),
                        'e' => cli.error_log = Some(value),
                        'g' => cli.global_directives = Some(value),
                        _ => {
                            if !matches!(value.as_str(), "stop" | "quit" | "reopen" | "reload") {
                                return Err(format!("invalid option: \"-s {value}\""));
                            }
                            cli.action = Action::Signal(value)
                        }
                    }
                    break;
                }
                _ => return Err(format!("invalid option: \"{c}\"")),
            }
        }
    }
    Ok(cli)
}

fn what(c: char) -> &'static str {
    match c {
        'c' | 'e' => "file name",
        'p' => "directory name",
        'g' => "parameters",
        _ => "parameter",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Cli, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn nginx_forms() {
        let c = p(&["-tq", "-c", "a.toml"]).unwrap();
        assert_eq!(c.action, Action::Test);
        assert!(c.quiet);
        assert_eq!(c.config, Some(PathBuf::from("a.toml")));
        assert_eq!(p(&["-cfile"]).unwrap().config, Some(PathBuf::from("file")));
        assert_eq!(
            p(&["-s", "reload"]).unwrap().action,
            Action::Signal("reload".into())
        );
        assert!(p(&["-s", "bogus"]).is_err());
        assert!(p(&["-c"]).is_err());
        assert!(p(&["-x"]).is_err());
        assert!(p(&["file"]).is_err());
    }

    #[test]
    fn usage_lists_every_flag() {
        for flag in [
            "-?",
            "-h",
            "--help",
            "-v",
            "--version",
            "-V",
            "-t",
            "-T",
            "-q",
            "-s",
            "-p",
            "-e",
            "-c",
            "-g",
            "--shards",
            "stop",
            "quit",
            "reopen",
            "reload",
        ] {
            assert!(USAGE.contains(flag), "usage does not mention {flag}");
        }
    }

    #[test]
    fn values_attach_or_follow() {
        let c = p(&["-g", "worker_processes 2;", "-pprefix", "-e", "stderr"]).unwrap();
        assert_eq!(c.global_directives.as_deref(), Some("worker_processes 2;"));
        assert_eq!(c.prefix, Some(PathBuf::from("prefix")));
        assert_eq!(c.error_log.as_deref(), Some("stderr"));
        assert_eq!(p(&["-T"]).unwrap().action, Action::TestAndDump);
        assert_eq!(
            p(&["-sstop"]).unwrap().action,
            Action::Signal("stop".into())
        );
    }

    #[test]
    fn shards() {
        assert_eq!(
            p(&["--shards", "auto"]).unwrap().shards,
            Some(ShardCount::Auto)
        );
        assert_eq!(
            p(&["--shards=2"]).unwrap().shards,
            Some(ShardCount::Fixed(2))
        );
        assert!(p(&["--shards", "0"]).is_err());
    }
}
