//! docs/public-api.txt: netrig's public API, one line per item that can be
//! named from outside the crate, made from the source.
//!
//! [`generate`] takes the walked modules ([`crate::walk`]), binds the names
//! of each ([`names`]), finds the public paths from the root ([`public`]),
//! places every `impl` block on its type or trait ([`impls`]) and prints
//! one line per item ([`render`]), sorted by path so that a type's methods
//! follow it. Listed: public modules; public structs, enums, unions,
//! traits (and their methods, constants and types), type aliases,
//! functions, constants, statics, exported macros, other crates' items
//! re-exported; the `pub` methods and constants of public types' inherent
//! impls; impls of netrig's public traits. Not listed: fields (a type's
//! public fields are on its line), `#[doc(hidden)]` items, `pub(crate)`
//! and the like, `#[cfg(test)]` code, impls of other crates' traits.

mod impls;
mod names;
mod public;
mod render;
pub mod sample;

use crate::walk::{Module, is_cfg_test, is_doc_hidden};

/// The file, from the repository's root.
pub const FILE: &str = "docs/public-api.txt";

/// The crate's name, the root of every path.
const CRATE: &str = "netrig";

/// The API file's text, made from the source.
pub struct Api {
    /// The whole file.
    pub text: String,
    /// How many items it lists.
    pub count: usize,
    /// What the generator could not follow or place (`pub use`s leading
    /// nowhere, impls of unknown types): each a blind spot to fix.
    pub problems: Vec<String>,
}

/// One line of the file and where it sorts: by path, an item before the
/// impls of its trait.
type Line = (Vec<String>, u8, String);

/// The API file of netrig, made of `modules`.
pub fn generate(modules: &[Module]) -> Api {
    generate_for(modules, CRATE)
}

/// The API file of the crate `name` made of `modules`.
pub fn generate_for(modules: &[Module], name: &str) -> Api {
    let names = names::Names::new(modules);
    let public = public::find(&names, name);
    let mut lines: Vec<Line> = Vec::new();
    let mut add = |path: &str, rank: u8, text: String| {
        let key = path.split("::").map(str::to_string).collect();
        lines.push((key, rank, text));
    };
    for (_, path) in public.modules.iter().skip(1) {
        add(path, 0, render::module(path));
    }
    for (&id, path) in &public.items {
        let item = names.item(id);
        if let Some(line) = render::item(path, item) {
            add(path, 0, line);
        }
        if let syn::Item::Trait(t) = item {
            for (at, line) in trait_members(path, t) {
                add(&at, 0, line);
            }
        }
    }
    for (path, theirs) in &public.external {
        add(path, 0, render::external(path, theirs));
    }
    let (impls, unplaced) = impls::impls(&names);
    for imp in &impls {
        let Some(owner) = public.items.get(&imp.of) else {
            continue;
        };
        if imp.block.trait_.is_some() {
            let for_public = imp.for_item.is_none_or(|id| public.items.contains_key(&id));
            if for_public && matches!(names.item(imp.of), syn::Item::Trait(_)) {
                add(owner, 1, render::trait_impl(owner, imp.block));
            }
            continue;
        }
        for (at, line) in inherent_members(owner, imp.block) {
            add(&at, 0, line);
        }
    }
    lines.sort();
    let count = lines.len();
    let mut text = header(count);
    for (_, _, line) in lines {
        text.push_str(&line);
        text.push('\n');
    }
    let mut problems = public.unresolved;
    problems.extend(
        unplaced
            .into_iter()
            .map(|u| format!("no type found for {u}")),
    );
    Api {
        text,
        count,
        problems,
    }
}

/// The number of items an API file's text says it lists.
pub fn count(text: &str) -> Option<usize> {
    text.lines()
        .find_map(|l| l.strip_prefix("# ")?.strip_suffix(" items")?.parse().ok())
}

/// The comment at the top of the file.
fn header(count: usize) -> String {
    format!(
        "# netrig's public API: one line per item that can be named from outside the crate
# (modules, types with their public fields, functions, methods, constants, macros,
# impls of netrig's traits), sorted by path. Made from harness/src by tests/docs/api;
# the `docs` test fails when the source and this file differ. After an intended
# API change, run
#     NETRIG_BLESS=1 cargo test --test docs
# and commit this file with the change.
# {count} items
"
    )
}

/// (path, line) of each public method and constant of inherent impl `block`
/// of the type at `owner`.
fn inherent_members(owner: &str, block: &syn::ItemImpl) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for member in &block.items {
        match member {
            syn::ImplItem::Fn(f) if shown(&f.vis, &f.attrs) => {
                out.push((
                    format!("{owner}::{}", f.sig.ident),
                    render::method(owner, &f.sig),
                ));
            }
            syn::ImplItem::Const(c) if shown(&c.vis, &c.attrs) => {
                out.push((
                    format!("{owner}::{}", c.ident),
                    render::assoc_const(owner, &c.ident, &c.ty),
                ));
            }
            _ => {}
        }
    }
    out
}

/// (path, line) of each method, constant and type of trait `t` at `owner`.
fn trait_members(owner: &str, t: &syn::ItemTrait) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for member in &t.items {
        let (name, line) = match member {
            syn::TraitItem::Fn(f) if visible(&f.attrs) => {
                (&f.sig.ident, render::method(owner, &f.sig))
            }
            syn::TraitItem::Const(c) if visible(&c.attrs) => {
                (&c.ident, render::assoc_const(owner, &c.ident, &c.ty))
            }
            syn::TraitItem::Type(ty) if visible(&ty.attrs) => {
                (&ty.ident, render::assoc_type(owner, ty))
            }
            _ => continue,
        };
        out.push((format!("{owner}::{name}"), line));
    }
    out
}

/// Whether an impl member is plain `pub`, not hidden and not test code.
fn shown(vis: &syn::Visibility, attrs: &[syn::Attribute]) -> bool {
    matches!(vis, syn::Visibility::Public(_)) && visible(attrs)
}

/// Whether a member is neither `#[doc(hidden)]` nor `#[cfg(test)]`.
fn visible(attrs: &[syn::Attribute]) -> bool {
    !is_doc_hidden(attrs) && !is_cfg_test(attrs)
}
