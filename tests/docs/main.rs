//! The docs stay true: what the README shows is what the tests run, lib.rs's
//! module map matches the imports, and docs/public-api.txt is the public API.

mod api;
mod diff;
mod module_map;
mod walk;

use std::path::Path;

/// The repository's root.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The variable that rewrites generated files instead of comparing, as for
/// netrig's golden matrices.
const BLESS_VAR: &str = "NETRIG_BLESS";

/// The most items the public API may have. Lower it when the API shrinks;
/// raise it only with a reason in the commit that does.
const MAX_API_ITEMS: usize = 284;

/// The README's "Writing a test" example is tests/readme.rs, verbatim.
fn readme_shows_tests_readme_rs() {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    let this = std::fs::read_to_string(format!("{ROOT}/tests/readme.rs")).unwrap();
    let start = readme.find("```rust\n").expect("a rust block in README.md") + 8;
    let shown = &readme[start..start + readme[start..].find("```").unwrap()];
    let example = &this[this.find("use netrig::expect::udp;").unwrap()..];
    assert_eq!(
        shown.trim(),
        example.trim(),
        "README.md's example differs from tests/readme.rs"
    );
}

/// The module map in lib.rs is true: every module is in it, no module
/// imports one from a layer below its own, and in the system layer none
/// imports one listed after it.
fn module_map_matches_the_imports() {
    let lib = Path::new(ROOT).join("harness/src/lib.rs");
    let lib_text = std::fs::read_to_string(&lib).unwrap();
    let problems = module_map::problems(&lib_text, &walk::walk(&lib));
    assert!(
        problems.is_empty(),
        "lib.rs's module map and the imports disagree:\n{}",
        problems.join("\n")
    );
}

/// The API file made from today's source (made once; two tests read it).
fn generated() -> &'static api::Api {
    static API: std::sync::OnceLock<api::Api> = std::sync::OnceLock::new();
    API.get_or_init(|| api::generate(&walk::walk(&Path::new(ROOT).join("harness/src/lib.rs"))))
}

/// docs/public-api.txt lists the library's public API as the source has it
/// (`NETRIG_BLESS=1` rewrites it).
fn public_api_matches_the_file() {
    let api = generated();
    assert!(
        api.problems.is_empty(),
        "tests/docs/api cannot list these; teach it (or simplify the source):\n{}",
        api.problems.join("\n")
    );
    let path = Path::new(ROOT).join(api::FILE);
    let file = std::fs::read_to_string(&path).unwrap_or_default();
    if file == api.text {
        return;
    }
    if std::env::var(BLESS_VAR).is_ok_and(|v| v == "1") {
        std::fs::write(&path, &api.text).unwrap();
        return;
    }
    panic!(
        "{} differs from the public API in the source ({} items in the file, {} in the \
         source; - file, + source):\n{}\nIf the change is intended, run\n    \
         {}=1 cargo test --test docs\nand commit {} with it.",
        api::FILE,
        api::count(&file).map_or("no".to_string(), |n| n.to_string()),
        api.count,
        diff::unified(&file, &api.text),
        BLESS_VAR,
        api::FILE,
    );
}

/// The public API has at most [`MAX_API_ITEMS`] items.
fn public_api_stays_small() {
    let api = generated();
    assert!(
        api.count <= MAX_API_ITEMS,
        "the public API has {} items, more than MAX_API_ITEMS = {MAX_API_ITEMS} \
         (tests/docs/main.rs). Keep new items out of it (pub(crate), or a private \
         module without a pub use), or remove others; raise MAX_API_ITEMS only if the \
         API must grow, saying why in the commit. {} lists every item.",
        api.count,
        api::FILE,
    );
}

/// The README's API table names every type, trait, module-level function and
/// macro of docs/public-api.txt (a method is covered by its type's row).
fn readme_api_table_names_every_item_group() {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    let start = readme
        .find("\n## The API\n")
        .expect("README.md has \"## The API\"");
    let rest = &readme[start + 1..];
    let table = &rest[..rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3)];
    let missing: Vec<String> = groups(&generated().text)
        .into_iter()
        .filter(|name| !mentions(table, name))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's API table (## The API) does not name these public items of {}: {}",
        api::FILE,
        missing.join(", ")
    );
}

/// The names of the API file's types, traits, modules' functions and
/// macros (not methods, fields or constants of a type).
fn groups(api: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in api.lines().filter(|l| !l.starts_with('#')) {
        let mut words = line.split_whitespace();
        let kind = match words.next() {
            Some("macro") => "macro",
            Some("pub") => words.next().unwrap_or(""),
            _ => continue,
        };
        let Some(path) = words.next() else { continue };
        let path = path.split(['(', '<', ':', '{', '!']).next().unwrap_or(path);
        let path = line[line.find("netrig::").unwrap_or(0)..]
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .next()
            .unwrap_or(path)
            .trim_end_matches(':');
        let segments: Vec<&str> = path.split("::").collect();
        let name = segments.last().copied().unwrap_or("");
        let parent = segments
            .get(segments.len().wrapping_sub(2))
            .copied()
            .unwrap_or("");
        let in_type = parent.starts_with(char::is_uppercase);
        let wanted = match kind {
            "struct" | "enum" | "trait" | "type" | "macro" => true,
            "fn" => !in_type,
            _ => false,
        };
        if wanted && !name.is_empty() && !out.contains(&name.to_string()) {
            out.push(name.to_string());
        }
    }
    out
}

/// Whether `text` has `name` as a whole word.
fn mentions(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !word(before) && !word(after)
    })
}

netrig::testing::main!(
    #[plain]
    readme_shows_tests_readme_rs,
    #[plain]
    module_map_matches_the_imports,
    #[plain]
    public_api_matches_the_file,
    #[plain]
    public_api_stays_small,
    #[plain]
    readme_api_table_names_every_item_group,
    #[plain]
    api::sample::lists_the_sample_crate,
);
