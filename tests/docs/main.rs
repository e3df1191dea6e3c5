//! The docs stay true: what the README shows is what the tests run, lib.rs's
//! module map matches the imports, and docs/public-api.txt is the public API.

mod module_map;
mod walk;

use std::path::Path;

/// The repository's root.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

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

netrig::testing::main!(
    #[plain]
    readme_shows_tests_readme_rs,
    #[plain]
    module_map_matches_the_imports,
);
