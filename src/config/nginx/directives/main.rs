//! The directive table's main and events contexts (nginx front-end, control thread only):
//! `worker_processes`, `worker_cpu_affinity`, `pid`, `user`, `worker_shutdown_timeout`, `error_log`, `events`, and the
//! `http` block that the `http` module walks.

use super::{arg, is_no_op_directive, Seen, Walker, EVENTS, MAIN};
use crate::config::model::{CpuAffinity, ErrorLevel};
use crate::config::nginx::modules;
use crate::config::nginx::parser::Directive;
use crate::config::tree::{self, ConfigTree};
use crate::config::ConfigError;

impl Walker {
    pub(super) fn main_block(
        &mut self,
        dirs: &[Directive],
        tree: &mut ConfigTree,
        seen: &mut Seen,
    ) {
        for d in dirs {
            if !self.check(d, MAIN) {
                continue;
            }
            let main = &mut tree.main;
            match d.name.as_str() {
                "worker_processes" => self.once(d, &mut main.shards, |w| {
                    tree::parse_shards(arg(d, 0))
                        .map_err(|e| w.error(d, format!("\"worker_processes\" directive: {e}")))
                        .ok()
                }),
                "worker_cpu_affinity" => {
                    self.once(d, &mut main.cpu_affinity, |w| w.cpu_affinity(d))
                }
                "pid" => self.once(d, &mut main.pid, |w| {
                    Some(tree::At::new(arg(d, 0).to_string(), w.origin(d)))
                }),
                "worker_shutdown_timeout" => {
                    self.once(d, &mut main.shutdown_timeout, |w| w.time(d, arg(d, 0)))
                }
                "error_log" => self.error_log(d, main),
                "load_module" => self.load_module(d),
                "user" => self.once(d, &mut main.user, |w| {
                    let raw = tree::RawUser {
                        name: arg(d, 0).to_string(),
                        group: d.args.get(1).map(|a| a.value.clone()),
                    };
                    Some(tree::At::new(raw, w.origin(d)))
                }),
                "events" => {
                    if seen.events {
                        self.duplicate(d);
                    } else {
                        seen.events = true;
                        self.events_block(d.block.as_deref().unwrap_or_default(), tree);
                    }
                }
                "http" => {
                    if seen.http {
                        self.duplicate(d);
                    } else {
                        seen.http = true;
                        self.http_block(d.block.as_deref().unwrap_or_default(), tree);
                    }
                }
                name if is_no_op_directive(name) => self.no_op(d),
                _ => self.unhandled(d),
            }
        }
    }

    /// `worker_cpu_affinity auto | mask...`: masks like `0101`, rightmost character = CPU 0.
    fn cpu_affinity(&mut self, d: &Directive) -> Option<CpuAffinity> {
        if arg(d, 0) == "auto" {
            if d.args.len() > 2 {
                self.error(
                    d,
                    "invalid number of arguments in \"worker_cpu_affinity\" directive",
                );
            } else if d.args.len() == 2 {
                self.error(
                    d,
                    "\"worker_cpu_affinity auto\" with a mask is not supported by anx yet",
                );
            }
            return Some(CpuAffinity::Auto);
        }
        let mut sets = Vec::with_capacity(d.args.len());
        let mut ok = true;
        for a in &d.args {
            match cpu_mask(&a.value) {
                Ok(cpus) => sets.push(cpus),
                Err(message) => {
                    self.error(d, message);
                    ok = false;
                }
            }
        }
        ok.then_some(CpuAffinity::Sets(sets))
    }

    /// `load_module file.so`: anx links its modules in, so the line is accepted with a
    /// warning naming the module — that anx has it built in, or that it lacks it. Debian
    /// enables modules this way by default (`modules-enabled/*.conf`), so a configuration
    /// that never uses a missing module's directives still starts; using one is the error,
    /// and it names this line.
    fn load_module(&mut self, d: &Directive) {
        let path = arg(d, 0);
        let name = modules::module_file_stem(path);
        let message = match modules::by_name(name) {
            Some(m) if m.in_anx => {
                format!("\"load_module {path}\" has no effect: {name} is built into anx")
            }
            Some(m) => {
                let at = format!("{}:{}", d.file.display(), d.line);
                self.loaded_modules.push((name.to_string(), at));
                format!(
                    "\"load_module {path}\" is ignored: anx does not have {name} ({}); \
                     the configuration uses none of its directives, or they are errors",
                    m.instead
                )
            }
            None => format!(
                "\"load_module {path}\" is ignored: anx cannot load nginx modules and has \
                 no built-in {name}; directives it would add are unknown to anx"
            ),
        };
        let origin = self.origin(d);
        self.notes.push(ConfigError {
            file: origin.file.map(|f| f.as_ref().clone()),
            line: origin.line,
            message,
        });
    }

    /// `error_log path|stderr [level]`, as often as wanted in the main context: every line
    /// goes to each log whose level it meets.
    fn error_log(&mut self, d: &Directive, main: &mut tree::MainSettings) {
        if let Some(log) = self.raw_error_log(d) {
            main.error_log.push(tree::At::new(log, self.origin(d)));
        }
    }

    /// One `error_log` directive's target and level, checked (main, http, server and
    /// location contexts alike).
    pub(super) fn raw_error_log(&mut self, d: &Directive) -> Option<tree::RawErrorLog> {
        let target = arg(d, 0);
        for scheme in ["syslog:", "memory:"] {
            if target.starts_with(scheme) {
                self.error(
                    d,
                    format!("\"error_log\" to \"{scheme}\" is not supported by anx yet"),
                );
                return None;
            }
        }
        let level = d.args.get(1).map(|a| a.value.clone());
        if let Some(level) = &level {
            if ErrorLevel::parse(level).is_none() {
                self.error(d, format!("invalid log level \"{level}\""));
                return None;
            }
        }
        Some(tree::RawErrorLog {
            target: target.to_string(),
            level,
        })
    }

    fn events_block(&mut self, dirs: &[Directive], tree: &mut ConfigTree) {
        for d in dirs {
            if !self.check(d, EVENTS) {
                continue;
            }
            match d.name.as_str() {
                "worker_connections" => self.once(d, &mut tree.main.worker_connections, |w| {
                    let n = w.number::<usize>(d, arg(d, 0))?;
                    if n == 0 {
                        w.error(d, "\"worker_connections\" directive: it must be at least 1");
                        return None;
                    }
                    Some(n)
                }),
                name if is_no_op_directive(name) => self.no_op(d),
                _ => self.unhandled(d),
            }
        }
    }
}

/// One `worker_cpu_affinity` mask → the CPUs it selects, ascending. As nginx: spaces are
/// skipped, at most 1024 CPUs (CPU_SETSIZE).
fn cpu_mask(mask: &str) -> Result<Vec<usize>, String> {
    const CPU_SETSIZE: usize = 1024;
    if mask.len() > CPU_SETSIZE {
        return Err(format!(
            "\"worker_cpu_affinity\" supports up to {CPU_SETSIZE} CPUs only"
        ));
    }
    let mut cpus = Vec::new();
    let mut cpu = 0;
    for ch in mask.chars().rev() {
        match ch {
            ' ' => continue,
            '0' => {}
            '1' => cpus.push(cpu),
            other => {
                return Err(format!(
                    "invalid character \"{other}\" in \"worker_cpu_affinity\""
                ))
            }
        }
        cpu += 1;
    }
    if cpus.is_empty() {
        // nginx would start a worker pinned to no CPU and fail at run time; say it now.
        return Err(format!(
            "mask \"{mask}\" in \"worker_cpu_affinity\" selects no CPU"
        ));
    }
    Ok(cpus)
}
