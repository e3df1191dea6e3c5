//! The library's module tree, read from the source the way the compiler
//! finds it: from `harness/src/lib.rs`, following each `mod` declaration to
//! `name.rs`, `name/mod.rs` or its `#[path]`, and into inline `mod name { … }`
//! blocks. `#[cfg(test)] mod …` items (inline blocks and the files they
//! name) are left out; everything else is kept, parsed with `syn`.

use std::path::{Path, PathBuf};

/// One module of the library.
pub struct Module {
    /// Its path below the crate root (`["reach", "golden"]`); empty for the root.
    pub path: Vec<String>,
    /// Index of its parent in the list [`walk`] returns (`None` for the root).
    pub parent: Option<usize>,
    /// Whether it is declared `pub mod` (the root counts as public).
    pub public: bool,
    /// Whether its declaration carries `#[doc(hidden)]`.
    pub hidden: bool,
    /// The file it is written in (an inline module's is its parent's).
    pub file: PathBuf,
    /// Its items. An inline child module appears here as `mod name;` (its
    /// items are in its own [`Module`]); `#[cfg(test)]` modules are gone.
    pub items: Vec<syn::Item>,
}

/// Every module of the library rooted at `lib` (`…/harness/src/lib.rs`),
/// parents before their children, the root first.
pub fn walk(lib: &Path) -> Vec<Module> {
    let mut out = Vec::new();
    let file = parse(lib);
    let dir = lib.parent().unwrap().to_path_buf();
    add(
        &mut out,
        Vec::new(),
        None,
        (true, false),
        lib,
        &dir,
        file.items,
    );
    out
}

/// Adds the module `path` with `items` (from `file`; its children's files
/// are under `dir`), then its children.
fn add(
    out: &mut Vec<Module>,
    path: Vec<String>,
    parent: Option<usize>,
    (public, hidden): (bool, bool),
    file: &Path,
    dir: &Path,
    items: Vec<syn::Item>,
) {
    let me = out.len();
    out.push(Module {
        path: path.clone(),
        parent,
        public,
        hidden,
        file: file.to_path_buf(),
        items: Vec::new(),
    });
    let mut kept = Vec::new();
    for item in items {
        let syn::Item::Mod(mut m) = item else {
            kept.push(item);
            continue;
        };
        if is_cfg_test(&m.attrs) {
            continue;
        }
        let name = m.ident.to_string();
        let mut child_path = path.clone();
        child_path.push(name.clone());
        let flags = (
            matches!(m.vis, syn::Visibility::Public(_)),
            is_doc_hidden(&m.attrs),
        );
        match m.content.take() {
            Some((_, inner)) => {
                let child_dir = dir.join(&name);
                add(out, child_path, Some(me), flags, file, &child_dir, inner);
                m.semi = Some(Default::default());
            }
            None => {
                let child_file = module_file(dir, &name, &m.attrs);
                // `x.rs` and `x/mod.rs` both keep their children in `x/`.
                let child_dir = match path_attr(&m.attrs) {
                    Some(_) => child_file.parent().unwrap().to_path_buf(),
                    None => dir.join(&name),
                };
                let parsed = parse(&child_file);
                add(
                    out,
                    child_path,
                    Some(me),
                    flags,
                    &child_file,
                    &child_dir,
                    parsed.items,
                );
            }
        }
        kept.push(syn::Item::Mod(m));
    }
    out[me].items = kept;
}

/// The file of `mod name;` declared with `attrs` whose children live in `dir`.
fn module_file(dir: &Path, name: &str, attrs: &[syn::Attribute]) -> PathBuf {
    if let Some(path) = path_attr(attrs) {
        return dir.join(path);
    }
    let flat = dir.join(format!("{name}.rs"));
    if flat.exists() {
        flat
    } else {
        dir.join(name).join("mod.rs")
    }
}

/// The value of a `#[path = "…"]` attribute.
fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

/// `path` parsed as a Rust file; panics with the file's name if it is not.
fn parse(path: &Path) -> syn::File {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    syn::parse_file(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

/// Whether `attrs` include `#[cfg(test)]`.
pub fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test")
    })
}

/// Whether `attrs` include `#[doc(hidden)]`.
pub fn is_doc_hidden(attrs: &[syn::Attribute]) -> bool {
    has_doc_word(attrs, "hidden")
}

/// Whether `attrs` include `#[doc(inline)]`.
pub fn is_doc_inline(attrs: &[syn::Attribute]) -> bool {
    has_doc_word(attrs, "inline")
}

/// Whether `attrs` include `#[doc(word)]`.
fn has_doc_word(attrs: &[syn::Attribute], word: &str) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("doc")
            && matches!(&a.meta, syn::Meta::List(_))
            && a.parse_args::<syn::Ident>().is_ok_and(|i| i == word)
    })
}

/// One name a `use` item brings in: `use a::{b, c as d, e::*}` gives
/// `a::b` as `b`, `a::c` as `d` and the glob `a::e::*`.
pub struct UseLeaf {
    /// The path's segments (`crate`, `self`, `super` kept as written).
    pub path: Vec<String>,
    /// The name it is bound to here; `None` for a glob.
    pub name: Option<String>,
}

/// The names `tree` brings in.
pub fn use_leaves(tree: &syn::UseTree) -> Vec<UseLeaf> {
    let mut out = Vec::new();
    leaves(tree, &mut Vec::new(), &mut out);
    out
}

/// Collects the leaves of `tree` under `prefix` into `out`.
fn leaves(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<UseLeaf>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            leaves(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => out.push(leaf(prefix, &n.ident, &n.ident)),
        syn::UseTree::Rename(r) => out.push(leaf(prefix, &r.ident, &r.rename)),
        syn::UseTree::Glob(_) => out.push(UseLeaf {
            path: prefix.clone(),
            name: None,
        }),
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| leaves(t, prefix, out)),
    }
}

/// The leaf `prefix::ident as name` (`a::{self}` is `a` itself).
fn leaf(prefix: &[String], ident: &syn::Ident, name: &syn::Ident) -> UseLeaf {
    let mut path = prefix.to_vec();
    if ident != "self" {
        path.push(ident.to_string());
    }
    let name = if name == "self" {
        path.last().cloned()
    } else {
        Some(name.to_string())
    };
    UseLeaf { path, name }
}
