//! The directive table's side of the scalar settings declared in `config::settings`
//! (nginx front-end, control thread only): their entries in the table, and their handler.

use super::{arg, simple, Ctx, Directive, Spec, Walker, HSL, HTTP, SRV};
use crate::config::settings::{self, Levels, Refusal};
use crate::config::tree::Layers;

/// Where nginx allows a declared setting.
fn ctx(levels: Levels) -> Ctx {
    match levels {
        Levels::Hsl => HSL,
        Levels::HttpServer => HTTP | SRV,
    }
}

/// The table entries of every declared setting (one argument each).
pub(super) fn specs() -> impl Iterator<Item = Spec> {
    settings::all().flat_map(|s| {
        s.directives
            .iter()
            .map(move |name| simple(name, ctx(s.levels), 1, 1))
    })
}

impl Walker {
    /// `d` into `layers` if it is a declared setting (true then, whatever its value).
    pub(super) fn declared_setting(&mut self, d: &Directive, layers: &mut Layers) -> bool {
        match settings::nginx(layers, &d.name, arg(d, 0)) {
            None => return false,
            Some(Ok(())) => {}
            Some(Err(Refusal::Duplicate)) => self.duplicate(d),
            Some(Err(Refusal::Invalid(message))) => self.error(d, message),
        }
        true
    }
}
