//! The directive table's geo, split_clients and access modules (nginx front-end, control
//! thread only): `geo` and `split_clients` blocks at http level, `allow` and `deny` in
//! http, server, location and `limit_except`. Only the syntax is read here; networks,
//! percentages and variables are checked by `config::resolve::geo`, shared with TOML.

use super::{arg, Walker};
use crate::config::nginx::parser::Directive;
use crate::config::tree::{AccessTree, At, GeoEntry, GeoTree, SplitClientsTree};

impl Walker {
    /// `geo [$address] $name { [ranges;] [proxy_recursive;] [volatile;] default v; proxy
    /// net; net v; delete net; }` (`include` is already expanded by the parser).
    pub(super) fn geo(&mut self, d: &Directive) -> Option<At<GeoTree>> {
        let (source, name) = match d.args.as_slice() {
            [name] => (None, &name.value),
            [source, name] => (Some(source.value.clone()), &name.value),
            _ => {
                self.error(d, "invalid number of arguments in \"geo\" directive");
                return None;
            }
        };
        let Some(name) = name.strip_prefix('$') else {
            self.error(d, format!("invalid variable name \"{name}\""));
            return None;
        };
        if let Some(s) = &source {
            if !s.starts_with('$') {
                self.error(d, format!("invalid variable name \"{s}\""));
                return None;
            }
        }
        let mut geo = GeoTree {
            source,
            name: name.to_string(),
            ..GeoTree::default()
        };
        for entry in d.block.as_deref().unwrap_or_default() {
            if entry.block.is_some() {
                self.error(entry, "unexpected \"{\"");
                continue;
            }
            let origin = self.origin(entry);
            let word = entry.name.as_str();
            let entry_value = match (word, entry.args.as_slice()) {
                ("ranges", []) => {
                    let tables = geo
                        .entries
                        .iter()
                        .any(|e| !matches!(e.value, GeoEntry::Proxy(_)));
                    if tables {
                        self.error(
                            entry,
                            "the \"ranges\" directive must be the first directive inside \
                             \"geo\" block",
                        );
                    }
                    geo.ranges = true;
                    continue;
                }
                ("proxy_recursive", []) => {
                    geo.proxy_recursive = true;
                    continue;
                }
                ("volatile", []) => {
                    geo.volatile = true;
                    continue;
                }
                ("default", [v]) => GeoEntry::Default(v.value.clone()),
                ("proxy", [v]) => GeoEntry::Proxy(v.value.clone()),
                ("delete", [v]) => GeoEntry::Delete(v.value.clone()),
                (net, [v]) => GeoEntry::Net {
                    net: net.to_string(),
                    value: v.value.clone(),
                },
                _ => {
                    self.error(entry, "invalid number of the geo parameters");
                    continue;
                }
            };
            geo.entries.push(At::new(entry_value, origin));
        }
        Some(At::new(geo, self.origin(d)))
    }

    /// `split_clients $string $name { N% value; * value; }`.
    pub(super) fn split_clients(&mut self, d: &Directive) -> Option<At<SplitClientsTree>> {
        let Some(name) = arg(d, 1).strip_prefix('$') else {
            self.error(d, format!("invalid variable name \"{}\"", arg(d, 1)));
            return None;
        };
        let mut split = SplitClientsTree {
            source: arg(d, 0).to_string(),
            name: name.to_string(),
            parts: Vec::new(),
        };
        for entry in d.block.as_deref().unwrap_or_default() {
            if entry.block.is_some() {
                self.error(entry, "unexpected \"{\"");
                continue;
            }
            match entry.args.as_slice() {
                [value] => split.parts.push(At::new(
                    (entry.name.clone(), value.value.clone()),
                    self.origin(entry),
                )),
                _ => self.error(entry, "invalid number of the split_clients parameters"),
            }
        }
        Some(At::new(split, self.origin(d)))
    }

    /// `allow what;` / `deny what;`: appended to this level's rules, in order.
    pub(super) fn access_rule(&mut self, d: &Directive, rules: &mut Option<Vec<At<AccessTree>>>) {
        let rule = AccessTree {
            allow: d.name == "allow",
            what: arg(d, 0).to_string(),
        };
        rules
            .get_or_insert_with(Vec::new)
            .push(At::new(rule, self.origin(d)));
    }
}
