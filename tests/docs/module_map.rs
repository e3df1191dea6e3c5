//! lib.rs's `# Module map` against the imports in the source.
//!
//! The map lists the top-level modules in layers; a module may use only its
//! own layer and the layers above it. In the system layer the order of the
//! lines is a dependency order too: a module may use only the lines above
//! its own (modules named on one line, such as "`sysctl`, `netns`", are one
//! step and may use each other). An import is any `crate::…` path, a
//! `super::…` path that climbs out of the top-level module, or a name the
//! crate root re-exports (`crate::Namespace` is `namespace`'s), anywhere in
//! a module's code outside comments and `#[cfg(test)]` modules.

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::ToTokens;

use crate::walk::{Module, use_leaves};

/// Where a module sits in the map: (layer, step); the step counts lines
/// in the ordered (system) layer and is 0 in the others.
type Place = (usize, usize);

/// What is wrong between the map and the source: modules missing from the
/// map, names in the map that are no modules, and imports against it.
pub fn problems(lib_text: &str, modules: &[Module]) -> Vec<String> {
    let places = places(lib_text);
    let top: BTreeSet<String> = modules
        .iter()
        .filter(|m| m.path.len() == 1)
        .map(|m| m.path[0].clone())
        .collect();
    let mut out = Vec::new();
    for m in top.iter().filter(|m| !places.contains_key(*m)) {
        out.push(format!("module {m} is not in lib.rs's module map"));
    }
    for m in places.keys().filter(|m| !top.contains(*m)) {
        out.push(format!("the module map names {m}, which is not a module"));
    }
    let owner = root_owners(&modules[0]);
    let mut wrong = BTreeSet::new();
    for module in modules.iter().filter(|m| !m.path.is_empty()) {
        let here_name = &module.path[0];
        let Some(&here) = places.get(here_name) else {
            continue;
        };
        let mut used = BTreeSet::new();
        for item in &module.items {
            scan(item.to_token_stream(), &module.path, &mut used);
        }
        for name in used {
            let there_name = owner.get(&name).unwrap_or(&name);
            if let Some(&there) = places.get(there_name)
                && there > here
            {
                let file = module.file.display();
                wrong.insert(format!(
                    "{here_name} {} imports {there_name} {} ({file})",
                    show(here),
                    show(there)
                ));
            }
        }
    }
    out.extend(wrong);
    out
}

/// "(layer 2)" or "(layer 2, line 5)".
fn show((layer, step): Place) -> String {
    if step == 0 {
        format!("(layer {layer})")
    } else {
        format!("(layer {layer}, line {step})")
    }
}

/// Module name -> its place, from lib.rs's `# Module map` section.
pub fn places(lib: &str) -> BTreeMap<String, Place> {
    let map = &lib[lib.find("# Module map").unwrap()..lib.find("# Example").unwrap()];
    let (mut layer, mut step, mut ordered) = (0, 0, false);
    let mut out = BTreeMap::new();
    for line in map.lines().map(|l| l.trim_start_matches("//!").trim()) {
        if line.ends_with(':') && !line.starts_with('-') {
            layer += 1;
            step = 0;
            ordered = line.starts_with("System layer");
        } else if let Some(entry) = line.strip_prefix("- ") {
            if ordered {
                step += 1;
            }
            let names = entry.split(" — ").next().unwrap();
            for name in names.split(',') {
                let name = name.trim().trim_matches(|c| "[]`".contains(c));
                out.insert(name.to_string(), (layer, step));
            }
        }
    }
    out
}

/// Name -> the top-level module it comes from, for the crate root's `use`s
/// (`pub use namespace::Namespace` gives `Namespace` -> `namespace`).
fn root_owners(root: &Module) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for item in &root.items {
        if let syn::Item::Use(u) = item {
            for leaf in use_leaves(&u.tree) {
                let path: Vec<&str> = leaf.path.iter().map(String::as_str).collect();
                let path = path.strip_prefix(&["crate"]).unwrap_or(&path);
                if let (Some(name), Some(first)) = (leaf.name, path.first()) {
                    out.insert(name, first.to_string());
                }
            }
        }
    }
    out
}

/// Adds to `used` the first name after the crate root of every path in
/// `tokens` that leaves module `here` through `crate::` or `super::`.
fn scan(tokens: TokenStream, here: &[String], used: &mut BTreeSet<String>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        if let TokenTree::Group(g) = &tokens[i] {
            scan(g.stream(), here, used);
            i += 1;
            continue;
        }
        let path_start = i == 0 || !is_colon_colon(&tokens, i.wrapping_sub(2));
        let climbs = match &tokens[i] {
            TokenTree::Ident(id) if path_start && id == "crate" => Some(i + 1),
            TokenTree::Ident(id) if path_start && id == "super" => {
                let mut j = i;
                let mut levels = 0;
                while matches!(&tokens[j], TokenTree::Ident(s) if s == "super")
                    && is_colon_colon(&tokens, j + 1)
                {
                    levels += 1;
                    j += 3;
                }
                (levels > 0 && levels >= here.len()).then(|| j - 2)
            }
            _ => None,
        };
        match climbs {
            Some(j) if is_colon_colon(&tokens, j) => {
                match tokens.get(j + 2) {
                    Some(TokenTree::Ident(name)) => {
                        used.insert(name.to_string());
                    }
                    Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
                        group_heads(g.stream(), used)
                    }
                    _ => {}
                }
                i = j + 2;
            }
            _ => i += 1,
        }
    }
}

/// Whether `tokens[i..i + 2]` is `::`.
fn is_colon_colon(tokens: &[TokenTree], i: usize) -> bool {
    let colon =
        |t: Option<&TokenTree>| matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == ':');
    colon(tokens.get(i)) && colon(tokens.get(i + 1))
}

/// The first name of each comma-separated entry of a `{a::b, c}` use group.
fn group_heads(tokens: TokenStream, used: &mut BTreeSet<String>) {
    let mut at_start = true;
    for t in tokens {
        match &t {
            TokenTree::Ident(name) if at_start => {
                used.insert(name.to_string());
                at_start = false;
            }
            TokenTree::Punct(p) if p.as_char() == ',' => at_start = true,
            _ => at_start = false,
        }
    }
}
