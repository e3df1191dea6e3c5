//! Which modules and items can be named from outside the crate, and by
//! which path.
//!
//! Breadth-first from the crate root (`netrig`): in a module reached by a
//! public path, every plain `pub` binding that is not `#[doc(hidden)]` is
//! public too: `pub mod`s are walked into, `pub use`s (and their globs) are
//! followed to the definition. An item is listed once, under the first path
//! found: the shortest, and among those of one length the first in source
//! order. A `pub use` of a `#[doc(hidden)]` item (such as a
//! `#[macro_export]` macro, which lives at the root) shows it only when
//! marked `#[doc(inline)]`, as rustdoc does.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::names::{Binding, ItemId, Kind, Names, Target};
use crate::walk::is_doc_hidden;

/// The public paths of the crate.
#[derive(Default)]
pub struct Public {
    /// Each public item's path (`netrig::reach::Row`).
    pub items: BTreeMap<ItemId, String>,
    /// Each public module's path, the root's (`netrig`) first.
    pub modules: Vec<(usize, String)>,
    /// Other crates' items re-exported: (path here, path there).
    pub external: Vec<(String, String)>,
    /// `pub use`s the walk could not follow.
    pub unresolved: Vec<String>,
}

/// The crate's public paths, from its root module named `root`.
pub fn find(names: &Names, root: &str) -> Public {
    let mut out = Public::default();
    let mut queue = VecDeque::from([(0, root.to_string())]);
    let mut walked = BTreeSet::from([0]);
    while let Some((m, path)) = queue.pop_front() {
        out.modules.push((m, path.clone()));
        for binding in names.bindings(m) {
            if !binding.public || binding.hidden {
                continue;
            }
            let Some(target) = names.target(binding) else {
                out.unresolved.push(unresolved(names, binding));
                continue;
            };
            let entries = match (&binding.name, target) {
                (Some(name), target) => vec![(name.clone(), binding, target)],
                (None, Target::Module(g)) => names
                    .bindings(g)
                    .iter()
                    .filter(|b| b.public && !b.hidden)
                    .filter_map(|b| Some((b.name.clone()?, b, names.target(b)?)))
                    .collect(),
                (None, _) => Vec::new(),
            };
            for (name, binding, target) in entries {
                if shows(names, binding, &target) {
                    let at = format!("{path}::{name}");
                    match target {
                        Target::Module(c) => {
                            if walked.insert(c) {
                                queue.push_back((c, at));
                            }
                        }
                        Target::Item(id) => {
                            out.items.entry(id).or_insert(at);
                        }
                        Target::External(theirs) => out.external.push((at, theirs.join("::"))),
                    }
                }
            }
        }
    }
    out
}

/// Whether `binding`, which stands for `target`, shows it: a `use` of a
/// hidden module or item shows it only with `#[doc(inline)]`.
fn shows(names: &Names, binding: &Binding, target: &Target) -> bool {
    if !matches!(binding.kind, Kind::Use { .. }) || binding.inline {
        return true;
    }
    match target {
        Target::Module(m) => !names.modules[*m].hidden,
        Target::Item(id) => !attrs(names.item(*id)).is_some_and(is_doc_hidden),
        Target::External(_) => true,
    }
}

/// "pub use a::b (in module x)" for a `pub use` that leads nowhere.
fn unresolved(names: &Names, binding: &Binding) -> String {
    match &binding.kind {
        Kind::Use { from, path } => format!(
            "pub use {} (in {})",
            path.join("::"),
            names.modules[*from].file.display()
        ),
        _ => "a binding".to_string(),
    }
}

/// The attributes of an item that has them.
pub fn attrs(item: &syn::Item) -> Option<&[syn::Attribute]> {
    Some(match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::TraitAlias(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => return None,
    })
}
