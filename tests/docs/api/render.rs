//! One public item as one line of text: its kind, its public path and its
//! signature, printed by `prettyplease` without attributes, doc comments,
//! bodies or private fields, then folded onto one line.
//!
//! - `pub fn netrig::Lab::node(&self, name: &str) -> Result<Node<'_>>`
//! - `pub struct netrig::reach::Row { pub cell: Cell, .. }` (`..`: private
//!   fields, or `#[non_exhaustive]`; a tuple struct's private field is `_`)
//! - `pub enum netrig::Error { Io { .. }, .. }` (variants with their fields)
//! - `pub const netrig::reach::DEFAULT_DEADLINE: Duration` (no value)
//! - `pub trait netrig::ToSocket`, `pub type …`, `macro netrig::testing::main!`
//! - `impl netrig::ToSocket for &str` (impls of the crate's public traits)

use quote::ToTokens;

use crate::walk::is_doc_hidden;

/// The line of `item`, public at `path`; `None` for kinds that are no API
/// items (impls, uses, extern blocks).
pub fn item(path: &str, item: &syn::Item) -> Option<String> {
    let line = match item {
        syn::Item::Fn(f) => fn_line(path, &f.vis, &f.sig),
        syn::Item::Struct(s) => struct_line(path, s),
        syn::Item::Enum(e) => enum_line(path, e),
        syn::Item::Union(u) => {
            let mut u = u.clone();
            u.attrs.clear();
            let mut fields: Vec<syn::Field> = u.fields.named.clone().into_iter().collect();
            let hidden = public_fields(&mut fields);
            u.fields.named = fields.into_iter().collect();
            with_path(&unparse(syn::Item::Union(u)), "union", path, hidden)
        }
        syn::Item::Trait(t) => {
            let mut t = t.clone();
            t.attrs.clear();
            t.items.clear();
            with_path(&unparse(syn::Item::Trait(t)), "trait", path, false)
        }
        syn::Item::Type(t) => {
            let mut t = t.clone();
            t.attrs.clear();
            with_path(&unparse(syn::Item::Type(t)), "type", path, false)
        }
        syn::Item::Const(c) => format!("pub const {path}: {}", ty(&c.ty)),
        syn::Item::Static(s) => {
            let mutable = if matches!(s.mutability, syn::StaticMutability::Mut(_)) {
                "mut "
            } else {
                ""
            };
            format!("pub static {mutable}{path}: {}", ty(&s.ty))
        }
        syn::Item::Macro(_) => format!("macro {path}!"),
        _ => return None,
    };
    Some(line)
}

/// `pub mod netrig::reach`.
pub fn module(path: &str) -> String {
    format!("pub mod {path}")
}

/// `pub use netrig::x::Name = other_crate::Name`: another crate's item
/// re-exported at `path`.
pub fn external(path: &str, theirs: &str) -> String {
    format!("pub use {path} = {theirs}")
}

/// A method or associated function of the type or trait at `owner`.
pub fn method(owner: &str, sig: &syn::Signature) -> String {
    let vis = syn::Visibility::Public(Default::default());
    fn_line(&format!("{owner}::{}", sig.ident), &vis, sig)
}

/// An associated constant of the type or trait at `owner`.
pub fn assoc_const(owner: &str, name: &syn::Ident, of: &syn::Type) -> String {
    format!("pub const {owner}::{name}: {}", ty(of))
}

/// An associated type of the trait at `owner` (with its bounds).
pub fn assoc_type(owner: &str, t: &syn::TraitItemType) -> String {
    let bounds = if t.bounds.is_empty() {
        String::new()
    } else {
        let bounds = t.bounds.to_token_stream();
        let printed = unparse(syn::parse_quote!(fn f<T: #bounds>() {}));
        let inner = &printed[printed.find(": ").unwrap() + 2..printed.rfind(">(").unwrap()];
        format!(": {inner}")
    };
    format!("pub type {owner}::{}{bounds}", t.ident)
}

/// `impl<…> netrig::Trait for Type`: `imp`, with its trait (public at
/// `trait_path`) named by that path.
pub fn trait_impl(trait_path: &str, imp: &syn::ItemImpl) -> String {
    let mut imp = imp.clone();
    imp.attrs.clear();
    imp.items.clear();
    let (_, written, _) = imp.trait_.as_mut().unwrap();
    let args = written.segments.last().unwrap().arguments.clone();
    let mut public: syn::Path = syn::parse_str(trait_path).unwrap();
    public.segments.last_mut().unwrap().arguments = args;
    *written = public;
    finish(&unparse(syn::Item::Impl(imp)))
}

/// `vis fn path(args) -> ret`, without `mut` on arguments (a binding of
/// the body's, not the signature's).
fn fn_line(path: &str, vis: &syn::Visibility, sig: &syn::Signature) -> String {
    let mut sig = sig.clone();
    for input in sig.inputs.iter_mut() {
        match input {
            syn::FnArg::Receiver(r) if r.reference.is_none() => r.mutability = None,
            syn::FnArg::Typed(t) => {
                t.attrs.clear();
                if let syn::Pat::Ident(p) = &mut *t.pat {
                    p.mutability = None;
                }
            }
            syn::FnArg::Receiver(_) => {}
        }
    }
    let f = syn::ItemFn {
        attrs: Vec::new(),
        vis: vis.clone(),
        sig: sig.clone(),
        block: Box::new(syn::parse_quote!({})),
    };
    let printed = unparse(syn::Item::Fn(f));
    let name = format!("fn {}", sig.ident);
    finish(&printed.replacen(&name, &format!("fn {path}"), 1))
}

/// A struct with its public fields.
fn struct_line(path: &str, s: &syn::ItemStruct) -> String {
    let mut s = s.clone();
    let more = non_exhaustive(&s.attrs);
    s.attrs.clear();
    let hidden = match &mut s.fields {
        syn::Fields::Named(named) => {
            let mut fields: Vec<syn::Field> = named.named.clone().into_iter().collect();
            let hidden = public_fields(&mut fields);
            named.named = fields.into_iter().collect();
            hidden
        }
        syn::Fields::Unnamed(unnamed) => {
            for field in unnamed.unnamed.iter_mut() {
                if !is_public(&field.vis, &field.attrs) {
                    field.ty = syn::Type::Infer(syn::parse_quote!(_));
                }
                field.attrs.clear();
            }
            false
        }
        syn::Fields::Unit => false,
    };
    with_path(
        &unparse(syn::Item::Struct(s)),
        "struct",
        path,
        hidden || more,
    )
}

/// An enum with its (visible) variants and their fields.
fn enum_line(path: &str, e: &syn::ItemEnum) -> String {
    let mut e = e.clone();
    let more = non_exhaustive(&e.attrs);
    e.attrs.clear();
    e.variants = e
        .variants
        .into_iter()
        .filter(|v| !is_doc_hidden(&v.attrs))
        .map(|mut v| {
            v.attrs.clear();
            v.fields.iter_mut().for_each(|f| f.attrs.clear());
            v
        })
        .collect();
    with_path(&unparse(syn::Item::Enum(e)), "enum", path, more)
}

/// Keeps the public fields of `fields` (without their attributes); whether
/// any were left out.
fn public_fields(fields: &mut Vec<syn::Field>) -> bool {
    let before = fields.len();
    fields.retain(|f| is_public(&f.vis, &f.attrs));
    fields.iter_mut().for_each(|f| f.attrs.clear());
    fields.len() < before
}

/// Whether a field is `pub` and not `#[doc(hidden)]`.
fn is_public(vis: &syn::Visibility, attrs: &[syn::Attribute]) -> bool {
    matches!(vis, syn::Visibility::Public(_)) && !is_doc_hidden(attrs)
}

/// Whether `attrs` include `#[non_exhaustive]`.
fn non_exhaustive(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("non_exhaustive"))
}

/// `printed` (`pub struct Name …`) with `keyword Name` replaced by
/// `keyword path`, and `..` closing its braces when `more` is left out.
fn with_path(printed: &str, keyword: &str, path: &str, more: bool) -> String {
    let name = path.rsplit("::").next().unwrap();
    let line = finish(&printed.replacen(
        &format!("{keyword} {name}"),
        &format!("{keyword} {path}"),
        1,
    ));
    if !more {
        line
    } else if let Some(open) = line.strip_suffix("{}") {
        format!("{open}{{ .. }}")
    } else if let Some(open) = line.strip_suffix(" }") {
        format!("{open}, .. }}")
    } else {
        format!("{line} {{ .. }}")
    }
}

/// A type as written, on one line.
fn ty(t: &syn::Type) -> String {
    let printed = unparse(syn::parse_quote!(type T = #t;));
    let line = one_line(&printed);
    line["type T = ".len()..].trim_end_matches(';').to_string()
}

/// `item` printed alone.
fn unparse(item: syn::Item) -> String {
    prettyplease::unparse(&syn::File {
        shebang: None,
        attrs: Vec::new(),
        items: vec![item],
    })
}

/// A printed item on one line, without its empty body or final `;`.
fn finish(printed: &str) -> String {
    let line = one_line(printed);
    let line = line.strip_suffix("{}").unwrap_or(&line).trim_end();
    let line = line.strip_suffix(';').unwrap_or(line);
    // A `where` clause printed on its own lines keeps its last comma.
    line.strip_suffix(',').unwrap_or(line).to_string()
}

/// `text` with every run of whitespace one space, and no space or
/// trailing comma left inside brackets where lines were folded.
fn one_line(text: &str) -> String {
    let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for (from, to) in [
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        ("< ", "<"),
        (" >", ">"),
        (",)", ")"),
        (",]", "]"),
        (",>", ">"),
        (", }", " }"),
    ] {
        line = line.replace(from, to);
    }
    line
}
