//! The TOML front-end's `[[http.geo]]`, `[[http.split_clients]]` and the `access` key of
//! every block (nginx's `allow`/`deny`), as tree values; `config::resolve::geo` checks and
//! builds them, for both front-ends alike.

use serde::Deserialize;

use crate::config::tree::{AccessTree, At, GeoEntry, GeoTree, Origin, SplitClientsTree};
use crate::config::ConfigError;

/// `[[http.geo]]`: `variable = "$name"`, optional `source = "$address"`, `ranges`,
/// `default`, `proxy = [networks]`, `proxy_recursive`, `volatile`, `entries = [[network,
/// value], …]` (ranges as `"a.b.c.d-e.f.g.h"`), then `delete = [networks]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TomlGeo {
    variable: String,
    source: Option<String>,
    #[serde(default)]
    ranges: bool,
    default: Option<String>,
    #[serde(default)]
    proxy: Vec<String>,
    #[serde(default)]
    proxy_recursive: bool,
    #[serde(default)]
    volatile: bool,
    #[serde(default)]
    entries: Vec<(String, String)>,
    #[serde(default)]
    delete: Vec<String>,
}

impl TomlGeo {
    pub(super) fn tree(&self, at: &Origin, errors: &mut Vec<ConfigError>) -> Option<GeoTree> {
        let Some(name) = self.variable.strip_prefix('$') else {
            errors.push(at.error(format!("invalid variable name \"{}\"", self.variable)));
            return None;
        };
        let here = |e: GeoEntry| At::new(e, at.clone());
        let mut entries: Vec<At<GeoEntry>> = Vec::new();
        entries.extend(self.proxy.iter().map(|p| here(GeoEntry::Proxy(p.clone()))));
        entries.extend(
            self.default
                .iter()
                .map(|d| here(GeoEntry::Default(d.clone()))),
        );
        entries.extend(self.entries.iter().map(|(net, value)| {
            here(GeoEntry::Net {
                net: net.clone(),
                value: value.clone(),
            })
        }));
        entries.extend(
            self.delete
                .iter()
                .map(|d| here(GeoEntry::Delete(d.clone()))),
        );
        Some(GeoTree {
            source: self.source.clone(),
            name: name.to_string(),
            ranges: self.ranges,
            proxy_recursive: self.proxy_recursive,
            volatile: self.volatile,
            entries,
        })
    }
}

/// `[[http.split_clients]]`: `source`, `variable`, `parts = [["51.2%", "a"], ["*", "b"]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TomlSplitClients {
    source: String,
    variable: String,
    parts: Vec<(String, String)>,
}

impl TomlSplitClients {
    pub(super) fn tree(
        &self,
        at: &Origin,
        errors: &mut Vec<ConfigError>,
    ) -> Option<SplitClientsTree> {
        let Some(name) = self.variable.strip_prefix('$') else {
            errors.push(at.error(format!("invalid variable name \"{}\"", self.variable)));
            return None;
        };
        Some(SplitClientsTree {
            source: self.source.clone(),
            name: name.to_string(),
            parts: self
                .parts
                .iter()
                .map(|p| At::new(p.clone(), at.clone()))
                .collect(),
        })
    }
}

/// One entry of `access = [{ allow = "10.0.0.0/8" }, { deny = "all" }]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TomlAccessRule {
    allow: Option<String>,
    deny: Option<String>,
}

/// The `access` key as tree rules, in order.
pub(super) fn access(
    rules: &Option<Vec<TomlAccessRule>>,
    at: &Origin,
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<At<AccessTree>>> {
    let rules = rules.as_ref()?;
    let mut out = Vec::new();
    for r in rules {
        let rule = match (&r.allow, &r.deny) {
            (Some(what), None) => AccessTree {
                allow: true,
                what: what.clone(),
            },
            (None, Some(what)) => AccessTree {
                allow: false,
                what: what.clone(),
            },
            _ => {
                errors.push(at.error("access: each rule is { allow = \"…\" } or { deny = \"…\" }"));
                continue;
            }
        };
        out.push(At::new(rule, at.clone()));
    }
    Some(out)
}
