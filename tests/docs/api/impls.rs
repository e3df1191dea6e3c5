//! The `impl` blocks of public types and traits, wherever in the crate they
//! are written (`impl Lab` in `lab/build.rs`, `impl Matrix` in
//! `reach/golden.rs`, `impl<'a> Node<'a>`).
//!
//! An impl's type or trait is found by resolving its path in the module the
//! impl is written in, as the compiler does ([`Names::resolve`]); when that
//! fails (a type brought in by a macro, say) the one item of that name in
//! the crate is taken, and if there is none or more than one, the impl is
//! reported as unplaced. Impls inside function bodies are not seen.

use super::names::{ItemId, Names, Target};
use crate::walk::{is_cfg_test, is_doc_hidden};

/// An `impl` block: the item it is for and the block.
pub struct Impl<'a> {
    /// The type an inherent impl is for, or the trait a trait impl implements.
    pub of: ItemId,
    /// For a trait impl, the crate item its type is (through references),
    /// if it is one: an impl for a private type is no API.
    pub for_item: Option<ItemId>,
    /// The block.
    pub block: &'a syn::ItemImpl,
}

/// The crate's impl blocks, inherent and of its own traits (left out: those
/// for other crates' traits, `#[cfg(test)]` and `#[doc(hidden)]` ones);
/// also the ones whose type or trait was not found, as messages.
pub fn impls<'a>(names: &Names<'a>) -> (Vec<Impl<'a>>, Vec<String>) {
    let (mut out, mut unplaced) = (Vec::new(), Vec::new());
    for (m, module) in names.modules.iter().enumerate() {
        for item in &module.items {
            let syn::Item::Impl(block) = item else {
                continue;
            };
            if is_cfg_test(&block.attrs) || is_doc_hidden(&block.attrs) {
                continue;
            }
            let path = match &block.trait_ {
                Some((_, path, _)) => Some(segments(path)),
                None => type_path(&block.self_ty),
            };
            let Some(path) = path else {
                continue;
            };
            let for_item = match block.trait_ {
                Some(_) => type_path(&block.self_ty).and_then(|p| match names.resolve(m, &p)? {
                    Target::Item(id) => Some(id),
                    _ => None,
                }),
                None => None,
            };
            match place(names, m, &path) {
                Some(of) => out.push(Impl {
                    of,
                    for_item,
                    block,
                }),
                None if block.trait_.is_none() => unplaced.push(format!(
                    "impl {} in {}",
                    path.join("::"),
                    module.file.display()
                )),
                // Another crate's trait (Display, From …).
                None => {}
            }
        }
    }
    (out, unplaced)
}

/// The item `path` (written in module `m`) names; when its first name is
/// not in scope there (a prelude trait, or a type a macro brought in), the
/// one crate item of its last name, if exactly one has it.
fn place(names: &Names, m: usize, path: &[String]) -> Option<ItemId> {
    match names.resolve(m, path) {
        Some(Target::Item(id)) => return Some(id),
        // Brought in from another crate by a `use`, or written as its path.
        Some(Target::External(theirs)) if theirs != path || path.len() > 1 => return None,
        _ => {}
    }
    let last = path.last()?;
    let mut found = names.modules.iter().enumerate().flat_map(|(m, module)| {
        module
            .items
            .iter()
            .enumerate()
            .filter_map(move |(index, item)| {
                (defined_name(item)? == *last).then_some(ItemId { module: m, index })
            })
    });
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// The name a type or trait definition defines.
fn defined_name(item: &syn::Item) -> Option<String> {
    match item {
        syn::Item::Enum(i) => Some(i.ident.to_string()),
        syn::Item::Struct(i) => Some(i.ident.to_string()),
        syn::Item::Trait(i) => Some(i.ident.to_string()),
        syn::Item::Union(i) => Some(i.ident.to_string()),
        syn::Item::Type(i) => Some(i.ident.to_string()),
        _ => None,
    }
}

/// The names of `path`, without generic arguments.
fn segments(path: &syn::Path) -> Vec<String> {
    path.segments.iter().map(|s| s.ident.to_string()).collect()
}

/// The names of the path type `ty` is, through references (`&Foo<'a>` is
/// `Foo`); `None` for tuples, slices and the like.
fn type_path(ty: &syn::Type) -> Option<Vec<String>> {
    match ty {
        syn::Type::Path(p) if p.qself.is_none() => Some(segments(&p.path)),
        syn::Type::Reference(r) => type_path(&r.elem),
        _ => None,
    }
}
