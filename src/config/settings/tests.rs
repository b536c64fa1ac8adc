//! Every declared setting, without being listed here: written at each level nginx allows
//! it, in nginx syntax (under each of its directive names) and in TOML, the two load to
//! the same model, the model differs from the one without it, and `-T` reads back to it.

use std::path::Path;

use super::{all, Levels};
use crate::config::{dump, toml, Config};

/// The same site in both formats, with `nginx` / `toml` written at server or location level
/// (a proxy location: the model holds the `proxy_*` settings only where a `proxy_pass` is).
fn pair(dir: &Path, level: &str, nginx: &str, toml: &str) -> (Config, Config) {
    let (server_n, location_n, server_t, location_t) = match level {
        "server" => (nginx, "", toml, ""),
        _ => ("", nginx, "", toml),
    };
    let conf = format!(
        "worker_processes 1;\nevents {{}}\nhttp {{\n types {{ text/html html; }}\n \
         server {{\n  listen 127.0.0.1:8080;\n  {server_n}\n  location / {{ proxy_pass http://127.0.0.1:9000; {location_n} }}\n }}\n}}\n"
    );
    let file = dir.join("nginx.conf");
    std::fs::write(&file, conf).unwrap();
    let mut from_nginx =
        crate::config::load(&file).unwrap_or_else(|e| panic!("nginx `{nginx}`: {e}"));
    let text = format!(
        "[main]\nshards = 1\n[main.types]\n\"text/html\" = [\"html\"]\n[[server]]\n\
         listen = [\"127.0.0.1:8080\"]\n{server_t}\n[[server.location]]\npath = \"/\"\n\
         proxy_pass = \"http://127.0.0.1:9000\"\n{location_t}\n"
    );
    let mut from_toml =
        toml::parse(&text, None, dir).unwrap_or_else(|e| panic!("TOML `{toml}`: {e}"));
    from_nginx.source = None;
    from_toml.source = None;
    (from_nginx, from_toml)
}

#[test]
fn every_declared_setting_means_the_same_in_both_formats_and_through_dump() {
    let dir = tempfile::tempdir().unwrap();
    let (baseline, _) = pair(dir.path(), "server", "", "");
    let mut proved = 0;
    for setting in all() {
        let (word, value) = (setting.sample)();
        let levels: &[&str] = match setting.levels {
            Levels::Hsl => &["server", "location"],
            Levels::HttpServer => &["server"],
        };
        for level in levels {
            for directive in setting.directives {
                let (nginx, toml_model) = pair(
                    dir.path(),
                    level,
                    &format!("{directive} {word};"),
                    &format!("{} = {value}", setting.key),
                );
                if let Some(diff) = nginx.first_difference(&toml_model) {
                    panic!("{directive} at {level}: the formats disagree: {diff}");
                }
                assert!(
                    nginx != baseline,
                    "{directive} {word} at {level} changed nothing in the model"
                );
                let dumped = dump::to_toml(&nginx);
                let mut again = toml::parse(&dumped, None, dir.path())
                    .unwrap_or_else(|e| panic!("{directive}: -T does not load: {e}\n{dumped}"));
                again.source = None;
                if let Some(diff) = nginx.first_difference(&again) {
                    panic!("{directive} at {level}: -T lost something: {diff}\n{dumped}");
                }
                proved += 1;
            }
        }
    }
    assert!(proved >= all().count(), "only {proved} cases");
}

#[test]
fn declared_names_are_unique() {
    let mut keys: Vec<&str> = all().map(|s| s.key).collect();
    let mut directives: Vec<&str> = all().flat_map(|s| s.directives.iter().copied()).collect();
    for list in [&mut keys, &mut directives] {
        let before = list.len();
        list.sort_unstable();
        list.dedup();
        assert_eq!(before, list.len(), "a name is declared twice: {list:?}");
    }
}
