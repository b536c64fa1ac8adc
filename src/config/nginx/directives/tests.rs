//! Tests of the directive table: nginx text → `ConfigTree`, and the errors it reports.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{all_specs, load_tree, script_from_text, tree_from_directives};
use crate::config::model::{AutoindexFormat, CpuAffinity, RewriteFlag, ShardCount};
use crate::config::nginx::parser::{parse_str, ParseOptions};
use crate::config::tree::{
    At, ConfigTree, LocationTree, MimeSource, Origin, RawAccessLog, RawListen, RawMatch, StepTree,
};
use crate::config::ConfigErrors;

const FILE: &str = "/t/nginx.conf";

fn load(text: &str) -> Result<ConfigTree, ConfigErrors> {
    let opts = ParseOptions {
        prefix: PathBuf::from("/t"),
    };
    let dirs = match parse_str(text, Path::new(FILE), &opts) {
        Ok(dirs) => dirs,
        Err(e) => panic!("syntax error in test input: {e}"),
    };
    tree_from_directives(&[], &dirs, Path::new(FILE), Path::new("/prefix"))
}

fn ok(text: &str) -> ConfigTree {
    match load(text) {
        Ok(tree) => tree,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

/// `body` inside `http {}`, after `events {}`: body line 1 is file line 3.
fn http(body: &str) -> String {
    format!("events {{}}\nhttp {{\n{body}\n}}\n")
}

/// `body` inside one server: body line 1 is file line 4.
fn server(body: &str) -> String {
    http(&format!("server {{\n{body}\n}}"))
}

/// Every error as (line, message); every error must name the test file.
fn errors(text: &str) -> Vec<(Option<usize>, String)> {
    match load(text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => {
            e.0.into_iter()
                .map(|e| {
                    assert_eq!(e.file.as_deref(), Some(Path::new(FILE)), "{}", e.message);
                    (e.line, e.message)
                })
                .collect()
        }
    }
}

fn one_error(text: &str) -> (Option<usize>, String) {
    let mut all = errors(text);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn first_server_location(tree: &ConfigTree) -> &LocationTree {
    &tree.servers[0].value.locations[0].value
}

fn steps(list: &[At<StepTree>]) -> Vec<&StepTree> {
    list.iter().map(|s| &s.value).collect()
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// main and events

#[test]
fn main_and_events_directives() {
    let tree = ok("worker_processes 4;\n\
         worker_cpu_affinity 0101 1010 10000000000000000;\n\
         pid run/anx.pid;\n\
         error_log logs/error.log warn;\n\
         daemon off;\n\
         master_process on;\n\
         events {\n worker_connections 4096;\n use epoll;\n multi_accept on;\n accept_mutex off;\n}\n\
         http {}\n");
    let main = &tree.main;
    assert_eq!(main.shards, Some(ShardCount::Fixed(4)));
    assert_eq!(
        main.cpu_affinity,
        Some(CpuAffinity::Sets(vec![vec![0, 2], vec![1, 3], vec![16]]))
    );
    assert_eq!(main.worker_connections, Some(4096));
    let pid = main.pid.as_ref().map(|p| (p.value.as_str(), p.origin.line));
    assert_eq!(pid, Some(("run/anx.pid", Some(3))));
    let logs: Vec<(&str, Option<&str>)> = main
        .error_log
        .iter()
        .map(|l| (l.value.target.as_str(), l.value.level.as_deref()))
        .collect();
    assert_eq!(logs, [("logs/error.log", Some("warn"))]);
    assert_eq!(tree.source.as_deref(), Some(Path::new(FILE)));
    assert_eq!(tree.base_dir, PathBuf::from("/prefix"));
    let origin = &main
        .pid
        .as_ref()
        .map(|p| p.origin.clone())
        .unwrap_or_default();
    assert_eq!(
        origin.file.as_deref().map(PathBuf::as_path),
        Some(Path::new(FILE))
    );
}

#[test]
fn auto_values() {
    let tree = ok("worker_processes auto;\nworker_cpu_affinity auto;\nerror_log stderr;\nevents {}\nhttp {}\n");
    assert_eq!(tree.main.shards, Some(ShardCount::Auto));
    assert_eq!(tree.main.cpu_affinity, Some(CpuAffinity::Auto));
    assert!(tree.main.error_log_level.is_none());
}

#[test]
fn main_errors() {
    let errs = errors(
        "worker_processes 0;\n\
         worker_cpu_affinity 01x1 0000;\n\
         worker_cpu_affinity auto 0011;\n\
         user www-data; user nobody nogroup;\n\
         worker_rlimit_nofile 8192;\n\
         error_log syslog:server=x;\n\
         error_log a.log loud;\n\
         daemon maybe;\n\
         events { worker_connections 0; worker_connections 10; use kqueue; }\n\
         events {}\n\
         http {}\n\
         http {}\n",
    );
    let lines: Vec<Option<usize>> = errs.iter().map(|e| e.0).collect();
    assert_eq!(
        lines,
        [1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
            .into_iter()
            .map(Some)
            .collect::<Vec<_>>(),
        "{errs:?}"
    );
    let messages: Vec<&str> = errs.iter().map(|e| e.1.as_str()).collect();
    assert!(messages[0].starts_with("\"worker_processes\" directive: "));
    assert_eq!(
        messages[1],
        "invalid character \"x\" in \"worker_cpu_affinity\""
    );
    assert_eq!(
        messages[2],
        "mask \"0000\" in \"worker_cpu_affinity\" selects no CPU"
    );
    // The first one failed, so the second is not a duplicate.
    assert_eq!(
        messages[3],
        "\"worker_cpu_affinity auto\" with a mask is not supported by anx yet"
    );
    assert_eq!(messages[4], "\"user\" directive is duplicate");
    assert_eq!(
        messages[5],
        "\"worker_rlimit_nofile\" directive is not supported by anx yet"
    );
    assert!(messages[6].contains("syslog:"));
    assert_eq!(messages[7], "invalid log level \"loud\"");
    assert_eq!(
        messages[8],
        "invalid value \"maybe\" in \"daemon\" directive, it must be \"on\" or \"off\""
    );
    assert_eq!(
        messages[9],
        "\"worker_connections\" directive: it must be at least 1"
    );
    assert_eq!(messages[10], "\"events\" directive is duplicate");
    assert_eq!(messages[11], "\"http\" directive is duplicate");
}

#[test]
fn events_and_http_are_required() {
    let errs = errors("worker_processes 1;\n");
    let messages: Vec<&str> = errs.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        messages,
        [
            "no \"events\" section in configuration",
            "no \"http\" section in configuration"
        ]
    );
    assert!(errs.iter().all(|e| e.0.is_none()));
}

// ---------------------------------------------------------------------------------------
// server: listen, server_name

#[test]
fn listen_forms() {
    let tree = ok(&server(
        "listen 8080;\n\
         listen 127.0.0.1:81 default_server backlog=511 reuseport;\n\
         listen [::]:82 default;\n\
         listen localhost:83;",
    ));
    let listens: Vec<_> = tree.servers[0]
        .value
        .listen
        .iter()
        .map(|l| {
            (
                l.value.addr.to_string(),
                l.value.backlog,
                l.value.default_server,
            )
        })
        .collect();
    assert_eq!(
        listens,
        [
            ("0.0.0.0:8080".to_string(), None, false),
            ("127.0.0.1:81".to_string(), Some(511), true),
            ("[::]:82".to_string(), None, true),
            ("127.0.0.1:83".to_string(), None, false),
        ]
    );
    assert_eq!(tree.servers[0].value.listen[1].origin.line, Some(5));
}

#[test]
fn listen_errors() {
    let errs = errors(&server(
        "listen 443 ssl quic;\n\
         listen 80 http2 deferred;\n\
         listen 80 backlog=0;\n\
         listen 80 fast;\n\
         listen unix:;\n\
         listen;\n\
         listen 80 default_server=1 ipv6only=on;",
    ));
    let got: Vec<(Option<usize>, &str)> = errs.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(
        got[0],
        (
            Some(4),
            "the \"quic\" parameter of \"listen\" is not supported by anx yet"
        )
    );
    assert_eq!(
        got[1],
        (
            Some(5),
            "the \"http2\" parameter of \"listen\" is not supported by anx yet"
        )
    );
    assert_eq!(
        got[2],
        (
            Some(5),
            "the \"deferred\" parameter of \"listen\" is not supported by anx yet"
        )
    );
    assert_eq!(got[3], (Some(6), "invalid backlog \"0\""));
    assert_eq!(got[4], (Some(7), "invalid parameter \"fast\""));
    assert_eq!(got[5].0, Some(8));
    assert_eq!(
        got[5].1,
        "\"listen\" directive: no path in the unix domain socket \"unix:\""
    );
    assert_eq!(
        got[6],
        (
            Some(9),
            "invalid number of arguments in \"listen\" directive"
        )
    );
    assert_eq!(got[7], (Some(10), "invalid parameter \"default_server=1\""));
    assert_eq!(
        got[8],
        (
            Some(10),
            "the \"ipv6only\" parameter of \"listen\" is not supported by anx yet"
        )
    );
    assert_eq!(got.len(), 9);
    assert!(load(&server("listen 80;")).is_ok());
}

#[test]
fn listen_socket_options_and_unix_paths() {
    let tree = ok(&server(
        "listen 127.0.0.1:8080 sndbuf=32k rcvbuf=1m proxy_protocol;\n\
         listen unix:/run/anx.sock default_server;",
    ));
    let listens: Vec<&RawListen> = tree.servers[0]
        .value
        .listen
        .iter()
        .map(|l| &l.value)
        .collect();
    assert_eq!(listens[0].sndbuf, Some(32 * 1024));
    assert_eq!(listens[0].rcvbuf, Some(1024 * 1024));
    assert!(listens[0].proxy_protocol && !listens[0].ssl);
    assert_eq!(listens[1].addr.to_string(), "unix:/run/anx.sock");
    assert!(listens[1].default_server && !listens[1].proxy_protocol);
    let errs = errors(&server("listen 80 sndbuf=0;\nlisten 80 rcvbuf=lots;"));
    let got: Vec<&str> = errs.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(got, ["invalid sndbuf \"0\"", "invalid rcvbuf \"lots\""]);
}

#[test]
fn server_names() {
    let tree = ok(&server(
        "server_name example.com *.example.com \"\";\nserver_name ~^www\\d+\\.example\\.net$;",
    ));
    let names: Vec<&str> = tree.servers[0]
        .value
        .names
        .iter()
        .map(|n| n.value.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "example.com",
            "*.example.com",
            "",
            "~^www\\d+\\.example\\.net$"
        ]
    );
    assert_eq!(tree.servers[0].value.names[3].origin.line, Some(5));
    assert_eq!(tree.servers[0].origin.line, Some(3));
}

// ---------------------------------------------------------------------------------------
// locations

#[test]
fn location_modifiers() {
    let tree = ok(&server(
        "location = /a {}\n\
         location ^~ /b {}\n\
         location ~ \\.png$ {}\n\
         location ~* \\.JPG$ {}\n\
         location /c {}\n\
         location @fallback {}\n\
         location =/x {}\n\
         location ^~/y {}\n\
         location ~*\\.gif$ {}\n\
         location ~\\.css$ {}\n\
         location \"\" {}",
    ));
    let got: Vec<(RawMatch, &str)> = tree.servers[0]
        .value
        .locations
        .iter()
        .map(|l| (l.value.match_kind, l.value.path.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (RawMatch::Exact, "/a"),
            (RawMatch::PrefixNoRegex, "/b"),
            (RawMatch::Regex, "\\.png$"),
            (RawMatch::RegexCaseless, "\\.JPG$"),
            (RawMatch::Prefix, "/c"),
            (RawMatch::Named, "fallback"),
            (RawMatch::Exact, "/x"),
            (RawMatch::PrefixNoRegex, "/y"),
            (RawMatch::RegexCaseless, "\\.gif$"),
            (RawMatch::Regex, "\\.css$"),
            (RawMatch::Prefix, ""),
        ]
    );
    let errs = errors(&server("location !~ /x {\n  rooot /x;\n}"));
    let got: Vec<(Option<usize>, &str)> = errs.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(
        got,
        [
            (Some(4), "invalid location modifier \"!~\""),
            (Some(5), "unknown directive \"rooot\""),
        ]
    );
    let (_, message) = one_error(&server("location = /x /y {}"));
    assert_eq!(
        message,
        "invalid number of arguments in \"location\" directive"
    );
    let (_, message) = one_error(&server("location /x;"));
    assert_eq!(message, "directive \"location\" has no opening \"{\"");
}

#[test]
fn nested_locations() {
    let tree = ok(&server(
        "location /a {\n\
           internal;\n\
           location /a/b { location = /a/b/c {} }\n\
           location ~ \\.php$ {}\n\
         }",
    ));
    let a = first_server_location(&tree);
    assert!(a.internal);
    assert_eq!(a.locations.len(), 2);
    assert_eq!(a.locations[0].value.path, "/a/b");
    assert_eq!(a.locations[0].origin.line, Some(6));
    assert_eq!(
        a.locations[0].value.locations[0].value.match_kind,
        RawMatch::Exact
    );
    assert_eq!(a.locations[1].value.match_kind, RawMatch::Regex);
}

#[test]
fn nesting_rules() {
    let errs = errors(&server(
        "location = /x { location /x/y {} }\n\
         location @n { location /z {} }\n\
         location /a { location @m {} }\n\
         location /a { location /b { root /bad; } }\n\
         location ~ \\.php$ { location /p {} }",
    ));
    let got: Vec<(Option<usize>, &str)> = errs.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(
        got,
        [
            (
                Some(4),
                "location \"/x/y\" cannot be inside the exact location \"/x\""
            ),
            (
                Some(5),
                "location \"/z\" cannot be inside the named location \"@n\""
            ),
            (
                Some(6),
                "named location \"@m\" can be on the server level only"
            ),
            (Some(7), "location \"/b\" is outside location \"/a\""),
            (Some(8), "location \"/p\" is outside location \"\\.php$\""),
        ]
    );
    // The refused location's body is still checked.
    let errs = errors(&server("location /a { location /b { rooot /x; } }"));
    assert_eq!(errs.len(), 2);
    assert_eq!(errs[1].1, "unknown directive \"rooot\"");
}

// ---------------------------------------------------------------------------------------
// rewrite module

#[test]
fn rewrite_steps_in_server_and_location() {
    let tree = ok(&server(
        "set $flag 1;\n\
         if ($host = example.org) {\n\
           rewrite ^/old/(.*)$ /new/$1 permanent;\n\
           set $flag \"\";\n\
           break;\n\
         }\n\
         rewrite ^/a$ /b;\n\
         location / {\n\
           if ( -f $request_filename ) { return 404; }\n\
           if (!-e $request_filename) { rewrite ^ /index.html last; }\n\
           return 301 https://example.org$request_uri;\n\
         }",
    ));
    let server = &tree.servers[0].value;
    assert_eq!(
        steps(&server.rewrite),
        [
            &StepTree::Set {
                name: "flag".into(),
                value: "1".into()
            },
            &StepTree::If {
                condition: strings(&["$host", "=", "example.org"]),
                headers: Box::default(),
                proxy_pass: None,
                steps: vec![
                    At::new(
                        StepTree::Rewrite {
                            regex: "^/old/(.*)$".into(),
                            replacement: "/new/$1".into(),
                            flag: RewriteFlag::Permanent
                        },
                        origin(6)
                    ),
                    At::new(
                        StepTree::Set {
                            name: "flag".into(),
                            value: String::new()
                        },
                        origin(7)
                    ),
                    At::new(StepTree::Break, origin(8)),
                ]
            },
            &StepTree::Rewrite {
                regex: "^/a$".into(),
                replacement: "/b".into(),
                flag: RewriteFlag::None
            },
        ]
    );
    assert_eq!(server.rewrite[1].origin.line, Some(5));
    let location = first_server_location(&tree);
    let got = steps(&location.rewrite);
    assert_eq!(
        got[0],
        &StepTree::If {
            condition: strings(&["-f", "$request_filename"]),
            headers: Box::default(),
            proxy_pass: None,
            steps: vec![At::new(
                StepTree::Return {
                    status: 404,
                    text: None
                },
                origin(12)
            )]
        }
    );
    let StepTree::If { condition, .. } = got[1] else {
        panic!("{got:?}")
    };
    assert_eq!(condition, &strings(&["!-e", "$request_filename"]));
    assert_eq!(
        got[2],
        &StepTree::Return {
            status: 301,
            text: Some("https://example.org$request_uri".into())
        }
    );
}

fn origin(line: usize) -> Origin {
    Origin {
        file: Some(std::sync::Arc::new(PathBuf::from(FILE))),
        line: Some(line),
    }
}

#[test]
fn return_forms() {
    let tree = ok(&server(
        "location /a { return 403; }\n\
         location /b { return 200 \"hello\\n\"; }\n\
         location /c { return https://example.org/; }\n\
         location /d { return $scheme://example.org; }\n\
         location /e { return 444; }\n\
         location /f { return 999; }",
    ));
    let got: Vec<&StepTree> = tree.servers[0]
        .value
        .locations
        .iter()
        .map(|l| &l.value.rewrite[0].value)
        .collect();
    let ret = |status: u16, text: Option<&str>| StepTree::Return {
        status,
        text: text.map(str::to_string),
    };
    assert_eq!(
        got,
        [
            &ret(403, None),
            &ret(200, Some("hello\n")),
            &ret(302, Some("https://example.org/")),
            &ret(302, Some("$scheme://example.org")),
            &ret(444, None),
            &ret(999, None),
        ]
    );
    let errs = errors(&server(
        "return 1000;\nreturn http://x/ 302;\nreturn abc;\nreturn -1;",
    ));
    let messages: Vec<&str> = errs.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        messages,
        [
            "invalid return code \"1000\"",
            "invalid return code \"http://x/\"",
            "invalid return code \"abc\"",
            "invalid return code \"-1\""
        ]
    );
}

#[test]
fn rewrite_module_errors() {
    let errs = errors(&server(
        "rewrite ^ \"\";\n\
         rewrite ^ /x sometimes;\n\
         set flag 1;\n\
         if $a { return 403; }\n\
         if ($a { return 403; }\n\
         if () { return 403; }\n\
         location / {\n\
           if ($a) { if ($b) { return 403; } root /x; listen 80; proxy_pass http://u; }\n\
         }\n\
         if ($a) { root /x; }\n\
         break 1;",
    ));
    let got: Vec<(Option<usize>, &str)> = errs.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(
        got,
        [
            (Some(4), "empty replacement"),
            (Some(5), "invalid parameter \"sometimes\""),
            (Some(6), "invalid variable name \"flag\""),
            (Some(7), "invalid condition \"$a\""),
            (Some(8), "invalid condition \"$a\""),
            (Some(9), "invalid condition \"()\""),
            (Some(11), "\"if\" directive is not allowed here"),
            (
                Some(11),
                "\"root\" directive is not supported inside if by anx; only rewrite, return, \
                 set, break, add_header, add_trailer and expires are"
            ),
            (Some(11), "\"listen\" directive is not allowed here"),
            // `root` is not allowed inside `if` in a server even by nginx.
            (Some(13), "\"root\" directive is not allowed here"),
            (
                Some(14),
                "invalid number of arguments in \"break\" directive"
            ),
        ]
    );
}

#[test]
fn scripts_from_text() {
    let at = Origin {
        file: Some(std::sync::Arc::new(PathBuf::from("/t/anx.toml"))),
        line: Some(12),
    };
    let got = match script_from_text("if ($http_x) { return 403; }\nset $a b;", &at) {
        Ok(steps) => steps,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|s| s.origin == at));
    assert_eq!(
        got[0].value,
        StepTree::If {
            condition: strings(&["$http_x"]),
            headers: Box::default(),
            proxy_pass: None,
            steps: vec![At::new(
                StepTree::Return {
                    status: 403,
                    text: None
                },
                at.clone()
            )]
        }
    );

    let errs = match script_from_text("return 200;\nroot /x;\nif ($a) { if ($b) { break; } }", &at)
    {
        Ok(steps) => panic!("{steps:?}"),
        Err(e) => e.0,
    };
    let messages: Vec<&str> = errs.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "\"root\" directive is not allowed here: a rewrite script holds only rewrite, \
             return, set, if and break (line 2 of the nginx text)",
            "\"if\" directive is not allowed here (line 3 of the nginx text)",
        ]
    );
    assert!(errs
        .iter()
        .all(|e| e.line == Some(12) && e.file.as_deref() == Some(Path::new("/t/anx.toml"))));

    // A syntax error is placed at the script too; one line needs no line number.
    let errs = match script_from_text("return 200", &at) {
        Ok(steps) => panic!("{steps:?}"),
        Err(e) => e.0,
    };
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, Some(12));
    assert!(!errs[0].message.contains("of the nginx text"));

    assert_eq!(script_from_text("", &at).map(|s| s.len()), Ok(0));
    let unknown = script_from_text("gzip on;", &Origin::default());
    assert!(unknown.is_err());
}

// ---------------------------------------------------------------------------------------
// http: map, log_format, types

#[test]
fn maps() {
    let tree = ok(&http(
        "map $http_host $backend {\n\
           hostnames;\n\
           volatile;\n\
           default off;\n\
           *.example.com  on;\n\
           ~^www\\d+      \"$1\";\n\
           \\~literal     x;\n\
         }",
    ));
    let map = &tree.maps[0].value;
    assert_eq!(map.source, "$http_host");
    assert_eq!(map.name, "backend");
    assert!(map.hostnames);
    assert_eq!(map.default.as_deref(), Some("off"));
    let entries: Vec<(&str, &str)> = map
        .entries
        .iter()
        .map(|e| (e.value.0.as_str(), e.value.1.as_str()))
        .collect();
    assert_eq!(
        entries,
        [
            ("*.example.com", "on"),
            ("~^www\\d+", "$1"),
            ("\\~literal", "x")
        ]
    );
    assert_eq!(map.entries[1].origin.line, Some(8));
    assert_eq!(tree.maps[0].origin.line, Some(3));

    let errs = errors(&http(
        "map $a b { }\nmap $a $b { default 1; default 2; k; k v w; x { } }\nserver { map $a $c {} }",
    ));
    let messages: Vec<(Option<usize>, &str)> = errs.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(
        messages,
        [
            (Some(3), "invalid variable name \"b\""),
            (Some(4), "duplicate default map parameter"),
            (Some(4), "invalid number of the map parameters"),
            (Some(4), "invalid number of the map parameters"),
            (Some(4), "unexpected \"{\""),
            (Some(5), "\"map\" directive is not allowed here"),
        ]
    );
}

#[test]
fn log_formats() {
    let tree = ok(&http(
        "log_format main '$remote_addr - $remote_user [$time_local] '\n\
                         '\"$request\" $status';\n\
         log_format js escape=json '{\"a\":\"$uri\"}';",
    ));
    let formats: Vec<(&str, Option<&str>, &str)> = tree
        .log_formats
        .iter()
        .map(|f| {
            (
                f.value.name.as_str(),
                f.value.escape.as_deref(),
                f.value.text.as_str(),
            )
        })
        .collect();
    assert_eq!(
        formats,
        [
            (
                "main",
                None,
                "$remote_addr - $remote_user [$time_local] \"$request\" $status"
            ),
            ("js", Some("json"), "{\"a\":\"$uri\"}"),
        ]
    );
    let errs = errors(&http(
        "log_format a x;\nlog_format a y;\nlog_format combined z;\nlog_format b escape=xml q;\nlog_format c;",
    ));
    let messages: Vec<&str> = errs.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        messages,
        [
            "duplicate \"log_format\" name \"a\"",
            "duplicate \"log_format\" name \"combined\"",
            "unknown log format escaping \"xml\"",
            "invalid number of arguments in \"log_format\" directive",
        ]
    );
}

#[test]
fn types_blocks_merge() {
    let tree = ok(&http(
        "types { text/html html htm; image/png PNG; }\ntypes { text/plain html; application/x-empty; }\ndefault_type application/octet-stream;",
    ));
    let Some(At {
        value: MimeSource::Table(table),
        origin,
    }) = &tree.main.mime
    else {
        panic!("{:?}", tree.main.mime)
    };
    assert_eq!(origin.line, Some(3));
    assert_eq!(table.lookup(b"/a.html"), Some("text/plain"));
    assert_eq!(table.lookup(b"/a.htm"), Some("text/html"));
    assert_eq!(table.lookup(b"/a.png"), Some("image/png"));
    assert_eq!(
        tree.http.files.default_type.as_deref(),
        Some("application/octet-stream")
    );
    let errs = errors(&http(
        "types { text/html html\n image/png png; }\nserver { types {} location / { types {} } }",
    ));
    let messages: Vec<(Option<usize>, &str)> = errs.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(
        messages,
        [
            (
                Some(3),
                "invalid extension \"image/png\" for \"text/html\" in \"types\" (missing \";\"?)"
            ),
            (
                Some(5),
                "\"types\" directive is not supported at this level by anx yet; write it in http"
            ),
            (
                Some(5),
                "\"types\" directive is not supported at this level by anx yet; write it in http"
            ),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// inheritable settings

#[test]
fn layers_at_every_level() {
    let tree = ok(&http(
        "root html;\n\
         index index.html index.htm;\n\
         index default.html;\n\
         autoindex on;\n\
         autoindex_format json;\n\
         etag off;\n\
         max_ranges 2;\n\
         client_header_timeout 10s;\n\
         client_body_timeout 1m;\n\
         keepalive_timeout 5;\n\
         keepalive_requests 50;\n\
         send_timeout 500ms;\n\
         client_max_body_size 0;\n\
         large_client_header_buffers 4 16k;\n\
         max_headers 64;\n\
         server_tokens off;\n\
         merge_slashes off;\n\
         error_page 404 /404.html;\n\
         error_page 500 502 =200 @err;\n\
         add_header X-A \"1\";\n\
         add_header X-B $host always;\n\
         expires modified 1h;\n\
         absolute_redirect off;\n\
         port_in_redirect off;\n\
         server_name_in_redirect on;\n\
         disable_symlinks off;\n\
         anx_allow_dotfiles on;\n\
         anx_memory_cache_max_file 128k;\n\
         anx_memory_cache_bytes 1g;\n\
         sendfile on;\n\
         tcp_nopush on;\n\
         tcp_nodelay on;\n\
         server {\n\
           anx_max_headers 10;\n\
           try_files $uri $uri/ =404;\n\
           location /x {\n\
             alias /srv/x/;\n\
             disable_symlinks on from=$document_root;\n\
             expires max;\n\
           }\n\
         }",
    ));
    let h = &tree.http;
    let f = &h.files;
    assert_eq!(f.root.as_ref().map(|r| r.value.as_str()), Some("html"));
    assert_eq!(
        f.index.as_deref(),
        Some(&strings(&["index.html", "index.htm", "default.html"])[..])
    );
    assert_eq!(f.autoindex, Some(true));
    assert_eq!(f.autoindex_format, Some(AutoindexFormat::Json));
    assert_eq!(f.etag, Some(false));
    assert_eq!(f.max_ranges, Some(2));
    assert_eq!(f.allow_symlinks_outside_root, Some(true));
    assert_eq!(f.allow_dotfiles, Some(true));
    assert_eq!(f.memory_cache_max_file, Some(128 * 1024));
    assert_eq!(f.memory_cache_bytes, Some(1 << 30));
    let c = &h.conn;
    assert_eq!(c.client_header_timeout, Some(Duration::from_secs(10)));
    assert_eq!(c.client_body_timeout, Some(Duration::from_secs(60)));
    assert_eq!(c.keepalive_timeout, Some(Duration::from_secs(5)));
    assert_eq!(c.keepalive_requests, Some(50));
    assert_eq!(c.send_timeout, Some(Duration::from_millis(500)));
    assert_eq!(c.client_max_body_size, Some(0));
    assert_eq!(c.max_request_line, Some(16 * 1024));
    assert_eq!(c.max_header_bytes, Some(64 * 1024));
    assert_eq!(c.max_headers, Some(64));
    assert_eq!(c.server_tokens, Some(false));
    assert_eq!(c.merge_slashes, Some(false));
    let pages: Vec<&Vec<String>> = h.error_pages.iter().flatten().map(|p| &p.value).collect();
    assert_eq!(
        pages,
        [
            &strings(&["404", "/404.html"]),
            &strings(&["500", "502", "=200", "@err"])
        ]
    );
    let headers: Vec<(&str, &str, bool)> = h
        .add_headers
        .iter()
        .flatten()
        .map(|a| {
            (
                a.value.name.as_str(),
                a.value.value.as_str(),
                a.value.always,
            )
        })
        .collect();
    assert_eq!(headers, [("X-A", "1", false), ("X-B", "$host", true)]);
    assert_eq!(
        h.expires.as_ref().map(|e| &e.value),
        Some(&strings(&["modified", "1h"]))
    );
    assert_eq!(h.absolute_redirect, Some(false));
    assert_eq!(h.port_in_redirect, Some(false));
    assert_eq!(h.server_name_in_redirect, Some(true));

    let s = &tree.servers[0].value.layers;
    assert_eq!(s.conn.max_headers, Some(10));
    assert_eq!(
        s.try_files.as_ref().map(|t| &t.value),
        Some(&strings(&["$uri", "$uri/", "=404"]))
    );
    let l = &first_server_location(&tree).layers;
    assert_eq!(
        l.files
            .alias
            .as_ref()
            .map(|a| (a.value.as_str(), a.origin.line)),
        Some(("/srv/x/", Some(39)))
    );
    assert_eq!(l.files.allow_symlinks_outside_root, Some(false));
    assert_eq!(
        l.expires.as_ref().map(|e| &e.value),
        Some(&strings(&["max"]))
    );
}

#[test]
fn flags_in_any_case_and_anx_limits() {
    // nginx compares on/off and enumerated values in any case.
    let tree = ok(&server(
        "etag OFF;\nserver_tokens Off;\nautoindex_format JSON;\nsendfile On;\n\
         anx_max_request_line 4k;\nanx_max_header_bytes 20k;",
    ));
    let layers = &tree.servers[0].value.layers;
    assert_eq!(layers.files.etag, Some(false));
    assert_eq!(layers.conn.server_tokens, Some(false));
    assert_eq!(layers.files.autoindex_format, Some(AutoindexFormat::Json));
    assert_eq!(layers.conn.max_request_line, Some(4096));
    assert_eq!(layers.conn.max_header_bytes, Some(20 * 1024));
    let (_, message) = one_error(&server(
        "anx_max_header_bytes 20k;\nlarge_client_header_buffers 4 8k;",
    ));
    assert_eq!(
        message,
        "\"large_client_header_buffers\" directive is duplicate"
    );
}

#[test]
fn access_logs() {
    let tree = ok(&server(
        "access_log logs/a.log;\n\
         access_log logs/b.log main buffer=32k flush=5s if=$loggable;\n\
         location / { access_log off; }",
    ));
    let logs: Vec<&RawAccessLog> = tree.servers[0]
        .value
        .layers
        .access_logs
        .iter()
        .flatten()
        .map(|l| &l.value)
        .collect();
    assert_eq!(
        logs,
        [
            &RawAccessLog::On {
                path: "logs/a.log".into(),
                format: None,
                buffer: None,
                flush: None,
                condition: None,
                rotate: Default::default(),
            },
            &RawAccessLog::On {
                path: "logs/b.log".into(),
                format: Some("main".into()),
                buffer: Some(32 * 1024),
                flush: Some(Duration::from_secs(5)),
                condition: Some("$loggable".into()),
                rotate: Default::default(),
            },
        ]
    );
    let off = &first_server_location(&tree).layers.access_logs;
    assert_eq!(
        off.iter().flatten().map(|l| &l.value).collect::<Vec<_>>(),
        [&RawAccessLog::Off]
    );
    let errs = errors(&server(
        "access_log off combined;\n\
         access_log a.log main gzip;\n\
         access_log a.log main flush=1s;\n\
         access_log a.log main buffer=0;\n\
         access_log a.log main sometimes;\n\
         access_log syslog:server=127.0.0.1;",
    ));
    let messages: Vec<&str> = errs.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        messages,
        [
            "invalid parameter \"combined\"",
            "the \"gzip\" parameter of \"access_log\" is not supported by anx yet",
            "no buffer is defined for access_log \"a.log\"",
            "invalid buffer size \"0\"",
            "invalid parameter \"sometimes\"",
            "\"access_log\" to \"syslog:\" is not supported by anx yet",
        ]
    );
}

#[test]
fn connection_settings_in_location() {
    // nginx reads keep-alive, timeouts, server_tokens and body buffering from the location;
    // the head settings belong to the server.
    let errs = errors(&server(
        "location / {\n\
           keepalive_timeout 5s 4s;\n\
           client_max_body_size 1m;\n\
           server_tokens off;\n\
           client_header_timeout 5s;\n\
           merge_slashes off;\n\
           anx_max_headers 5;\n\
           client_body_buffer_size 2k;\n\
           client_body_temp_path /tmp/b 1 2;\n\
           client_body_in_file_only clean;\n\
           keepalive_disable msie6 safari;\n\
           ignore_invalid_headers off;\n\
         }",
    ));
    let got: Vec<(Option<usize>, &str)> = errs.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(
        got,
        [
            (
                Some(8),
                "\"client_header_timeout\" directive is not allowed here"
            ),
            (Some(9), "\"merge_slashes\" directive is not allowed here"),
            (
                Some(10),
                "\"anx_max_headers\" directive is not allowed here"
            ),
            (
                Some(15),
                "\"ignore_invalid_headers\" directive is not allowed here"
            ),
        ]
    );
}

#[test]
fn value_errors() {
    let errs = errors(&server(
        "etag yes;\n\
         log_not_found maybe;\n\
         autoindex_format csv;\n\
         keepalive_timeout 75s soon;\n\
         client_body_timeout soon;\n\
         client_max_body_size 1x;\n\
         max_ranges -1;\n\
         client_body_temp_path /t 3;\n\
         large_client_header_buffers 0 8k;\n\
         disable_symlinks off from=$document_root;\n\
         disable_symlinks on from=/srv;\n\
         add_header X 1 sometimes;\n\
         index a /abs b;\n\
         sendfile off;\n\
         tcp_nodelay off;",
    ));
    let messages: Vec<&str> = errs.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(messages.len(), 15, "{messages:#?}");
    assert_eq!(
        messages[0],
        "invalid value \"yes\" in \"etag\" directive, it must be \"on\" or \"off\""
    );
    assert!(messages[1].starts_with("invalid value \"maybe\" in \"log_not_found\""));
    assert!(messages[2].starts_with("invalid value \"csv\" in \"autoindex_format\""));
    assert!(messages[3].starts_with("\"keepalive_timeout\" directive: expected a time"));
    assert!(messages[4].starts_with("\"client_body_timeout\" directive: expected a time"));
    assert!(messages[5].starts_with("\"client_max_body_size\" directive: expected a size"));
    assert_eq!(
        messages[6],
        "\"max_ranges\" directive: expected a number, found \"-1\""
    );
    assert_eq!(messages[7], "invalid value \"3\"");
    assert!(messages[8].starts_with("invalid value \"0 8k\""));
    assert_eq!(
        messages[9],
        "\"from=\" cannot be used with \"off\" parameter"
    );
    assert!(messages[10].contains("from=/srv"));
    assert_eq!(messages[11], "invalid parameter \"sometimes\"");
    assert_eq!(
        messages[12],
        "only the last index in \"index\" directive should be absolute"
    );
    assert!(messages[13].starts_with(
        "\"sendfile off\" is not supported by anx yet; only \"sendfile on\" is accepted, because"
    ));
    assert!(messages[14].starts_with("\"tcp_nodelay off\" is not supported by anx yet"));
}

#[test]
fn duplicates() {
    let errs = errors(&server(
        "root /a;\n\
         root /b;\n\
         etag on;\n\
         etag off;\n\
         try_files $uri =404;\n\
         try_files $uri =404;\n\
         keepalive_timeout 5;\n\
         keepalive_timeout 6;\n\
         max_headers 5;\n\
         anx_max_headers 6;\n\
         large_client_header_buffers 4 8k;\n\
         large_client_header_buffers 4 8k;\n\
         location / { alias /x; root /y; }\n\
         location /b { root /y; alias /x; }\n\
         location @n { alias /x; }\n\
         location /c { root $document_root/x; }\n\
         expires 1h;\n\
         expires 2h;",
    ));
    let got: Vec<(Option<usize>, &str)> = errs.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(
        got,
        [
            (Some(5), "\"root\" directive is duplicate"),
            (Some(7), "\"etag\" directive is duplicate"),
            (Some(9), "\"try_files\" directive is duplicate"),
            (Some(11), "\"keepalive_timeout\" directive is duplicate"),
            (Some(13), "\"anx_max_headers\" directive is duplicate"),
            (
                Some(15),
                "\"large_client_header_buffers\" directive is duplicate"
            ),
            (
                Some(16),
                "\"root\" directive is duplicate, \"alias\" directive was specified earlier"
            ),
            (
                Some(17),
                "\"alias\" directive is duplicate, \"root\" directive was specified earlier"
            ),
            (
                Some(18),
                "the \"alias\" directive cannot be used inside the named location"
            ),
            (
                Some(19),
                "the $document_root variable cannot be used in the \"root\" directive"
            ),
            (Some(21), "\"expires\" directive is duplicate"),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// whole-file behaviour

#[test]
fn many_errors_in_one_run() {
    let text = "worker_processes 2;\n\
                gzip on;\n\
                events { worker_connections 1024; }\n\
                http {\n\
                  sendfile on;\n\
                  proxy_pass http://backend;\n\
                  foo bar;\n\
                  server {\n\
                    listen 80;\n\
                    root /srv;\n\
                    ssl_early_data on;\n\
                    location / {\n\
                      listen 81;\n\
                      autoindex maybe;\n\
                      limit_req zone=one;\n\
                    }\n\
                  }\n\
                  worker_connections 10;\n\
                  auth_basic \"x\";\n\
                }\n";
    let got = errors(text);
    let got: Vec<(Option<usize>, &str)> = got.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(
        got,
        [
            (
                Some(2),
                "\"gzip\" directive is not supported by anx yet (ngx_http_gzip_module: \
                 compression is planned)"
            ),
            // nginx allows proxy_pass in locations only.
            (Some(6), "\"proxy_pass\" directive is not allowed here"),
            (Some(7), "unknown directive \"foo\""),
            (
                Some(11),
                "\"ssl_early_data\" directive is not supported by anx yet"
            ),
            (Some(13), "\"listen\" directive is not allowed here"),
            (
                Some(14),
                "invalid value \"maybe\" in \"autoindex\" directive, it must be \"on\" or \"off\""
            ),
            (
                Some(15),
                "\"limit_req\" directive is not supported by anx yet (ngx_http_limit_req_module: \
                 access rules, auth and limits are planned)"
            ),
            (
                Some(18),
                "\"worker_connections\" directive is not allowed here"
            ),
            (
                Some(19),
                "\"auth_basic\" directive is not supported by anx yet (ngx_http_auth_basic_module: \
                 access rules, auth and limits are planned)"
            ),
        ]
    );
}

#[test]
fn wrong_contexts() {
    let errs = errors(
        "root /x;\nserver {}\nevents { http {} }\nhttp {\n listen 80;\n location / {}\n internal;\n server { server {} try_files a b; alias /x; }\n pid x;\n}\n",
    );
    let got: Vec<(Option<usize>, &str)> = errs.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(
        got,
        [
            (Some(1), "\"root\" directive is not allowed here"),
            (Some(2), "\"server\" directive is not allowed here"),
            (Some(3), "\"http\" directive is not allowed here"),
            (Some(5), "\"listen\" directive is not allowed here"),
            (Some(6), "\"location\" directive is not allowed here"),
            (Some(7), "\"internal\" directive is not allowed here"),
            (Some(8), "\"server\" directive is not allowed here"),
            (Some(8), "\"alias\" directive is not allowed here"),
            (Some(9), "\"pid\" directive is not allowed here"),
        ]
    );
    let (_, message) = one_error(&server("root /x { }"));
    assert_eq!(message, "directive \"root\" is not terminated by \";\"");
    let (_, message) = one_error(&server("error_log x.log loud;"));
    assert_eq!(message, "invalid log level \"loud\"");
}

#[test]
fn error_logs_and_log_not_found_per_level() {
    let tree = ok(&server(
        "error_log s.log;\nlocation / {\nerror_log a.log warn;\nerror_log stderr;\nlog_not_found off;\n}",
    ));
    let server_logs = tree.servers[0].value.layers.error_logs.as_ref();
    assert_eq!(server_logs.map(Vec::len), Some(1));
    let loc = &first_server_location(&tree).layers;
    let logs: Vec<_> = loc.error_logs.iter().flatten().map(|l| &l.value).collect();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0].target, "a.log");
    assert_eq!(logs[0].level.as_deref(), Some("warn"));
    assert_eq!(logs[1].target, "stderr");
    assert_eq!(loc.files.log_not_found, Some(false));
}

#[test]
fn load_tree_with_includes_and_globals() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let conf = dir.path().join("nginx.conf");
    let write = |name: &str, text: &str| {
        if let Err(e) = std::fs::write(dir.path().join(name), text) {
            panic!("{e}");
        }
    };
    write(
        "nginx.conf",
        "worker_processes 2;\nevents {}\nhttp {\n include mime.types;\n server { listen 8080; }\n}\n",
    );
    write("mime.types", "types { text/html html; }\n");
    let prefix = Path::new("/srv/anx");
    let tree = match load_tree(&conf, prefix, Some("pid /run/anx.pid; error_log stderr;")) {
        Ok(tree) => tree,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(tree.base_dir, prefix);
    assert_eq!(tree.source.as_deref(), Some(conf.as_path()));
    assert_eq!(tree.main.shards, Some(ShardCount::Fixed(2)));
    assert_eq!(tree.servers.len(), 1);
    assert!(matches!(
        tree.main.mime.as_ref().map(|m| &m.value),
        Some(MimeSource::Table(t)) if t.lookup(b"a.html") == Some("text/html")
    ));
    let pid = tree
        .main
        .pid
        .as_ref()
        .map(|p| (p.value.as_str(), p.origin.line));
    assert_eq!(pid, Some(("/run/anx.pid", None)));

    // `-g` is read before the file (as nginx does): the file's line is the duplicate.
    let errs = match load_tree(&conf, prefix, Some("worker_processes 4; bogus 1;")) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.0,
    };
    let got: Vec<(Option<&Path>, Option<usize>, &str)> = errs
        .iter()
        .map(|e| (e.file.as_deref(), e.line, e.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                Some(Path::new("<command line>")),
                None,
                "unknown directive \"bogus\""
            ),
            (
                Some(conf.as_path()),
                Some(1),
                "\"worker_processes\" directive is duplicate"
            ),
        ]
    );

    // A missing file is the parser's error, reported as such.
    assert!(load_tree(&dir.path().join("none.conf"), prefix, None).is_err());
}

#[test]
fn no_op_table_is_consistent() {
    // Every accepted no-op directive is in the table (so its context and arity are checked)
    // and every parameter no-op belongs to a directive that looks it up.
    for n in super::NO_OPS {
        assert!(super::spec(n.directive, !0).is_some(), "{}", n.directive);
    }
    // A name may appear twice only for contexts that do not overlap (`server` in http and
    // in upstream).
    let specs: Vec<_> = all_specs().collect();
    for (i, a) in specs.iter().enumerate() {
        for b in &specs[..i] {
            assert!(
                a.name != b.name || a.ctx & b.ctx == 0,
                "{} is in the table twice for one context",
                a.name
            );
        }
    }
}

#[test]
fn never_panics_on_odd_input() {
    // Every known directive, with 0 to 3 odd arguments, with and without a block, in every
    // context: only errors, never a panic.
    let arg_sets = [
        "",
        " \"\"",
        " ( )",
        " = \"\" x",
        " (",
        " )",
        " @",
        " ~*",
        " 1 2 3",
    ];
    for spec in all_specs() {
        for args in arg_sets {
            for block in ["", " { }", " { if (x) { } }"] {
                let d = format!(
                    "{}{args}{}",
                    spec.name,
                    if block.is_empty() { ";" } else { block }
                );
                for text in [
                    d.clone(),
                    format!("events {{ {d} }}\nhttp {{}}"),
                    http(&d),
                    http(&format!("upstream u {{ {d} }}")),
                    server(&d),
                    server(&format!("location / {{ {d} }}")),
                    server(&format!("location @x {{ {d} }}")),
                    server(&format!("if ($a) {{ {d} }}")),
                ] {
                    let opts = ParseOptions {
                        prefix: PathBuf::from("/t"),
                    };
                    if let Ok(dirs) = parse_str(&text, Path::new(FILE), &opts) {
                        let _ = tree_from_directives(&dirs, &dirs, Path::new(FILE), Path::new("/"));
                    }
                }
                let _ = script_from_text(&d, &Origin::default());
            }
        }
    }
}

/// The module table behind `-V` and the directive table agree: every directive anx accepts
/// belongs to a module `-V` says anx has, none to a module it says anx lacks, and every
/// directive the module table names is one stock nginx (or the third-party module listed)
/// has, so a typo in either table shows here.
#[test]
fn module_table_matches_directive_table() {
    use crate::config::nginx::modules::{module_of, MODULES};
    for spec in all_specs() {
        if spec.name.starts_with("anx_") {
            continue;
        }
        match module_of(spec.name) {
            Some(m) => assert!(
                m.in_anx,
                "\"{}\" is accepted but belongs to {}, which -V says anx lacks",
                spec.name, m.name
            ),
            None => panic!("\"{}\" belongs to no module in the module table", spec.name),
        }
    }
    for m in MODULES.iter().filter(|m| !m.flag.is_empty()) {
        for d in m.directives.iter().filter(|d| !d.ends_with('*')) {
            assert!(
                super::names::is_nginx_directive(d),
                "{} lists \"{d}\", which nginx does not have",
                m.name
            );
        }
    }
}

#[test]
fn load_module_is_a_warning_and_its_directives_an_error() {
    let text = "load_module modules/ngx_http_echo_module.so;\n\
                load_module modules/ngx_http_map_module.so;\n\
                events {}\nhttp { server { listen 8080; } }";
    let tree = ok(text);
    let notes: Vec<String> = tree.notes.iter().map(|n| n.to_string()).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("ngx_http_echo_module") && n.contains("ignored")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("ngx_http_map_module") && n.contains("built into anx")),
        "{notes:?}"
    );
    let used = "load_module modules/ngx_http_echo_module.so;\n\
                events {}\nhttp { server { listen 8080; location / { echo hi; } } }";
    let err = load(used).expect_err("a directive of a missing module is an error");
    let text = err.to_string();
    assert!(
        text.contains("ngx_http_echo_module") && text.contains("/t/nginx.conf:1"),
        "{text}"
    );
    let gzip = load("events {}\nhttp { gzip on; }").expect_err("gzip is not in anx");
    assert!(gzip.to_string().contains("ngx_http_gzip_module"), "{gzip}");
}

#[test]
fn process_model_no_ops_warn_once_naming_why() {
    let text = "daemon off;\nworker_priority -5;\npcre_jit on;\nthread_pool p 4;\n\
                events { multi_accept on; }\n\
                http { connection_pool_size 512; aio threads; server { listen 8080; } }";
    let tree = ok(text);
    let notes: Vec<String> = tree.notes.iter().map(|n| n.to_string()).collect();
    for shown in [
        "\"worker_priority\" has no effect",
        "\"pcre_jit on\" has no effect",
        "\"thread_pool\" has no effect",
        "\"multi_accept on\" has no effect",
        "\"connection_pool_size\" has no effect",
        "\"aio\" has no effect",
    ] {
        assert_eq!(
            notes.iter().filter(|n| n.contains(shown)).count(),
            1,
            "{shown} in {notes:#?}"
        );
    }
    // `daemon off` is what anx does: no warning.
    assert!(!notes.iter().any(|n| n.contains("daemon")), "{notes:#?}");
}
