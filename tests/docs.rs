//! The docs stay true: what the README shows is what the tests run.

/// The README's "Writing a test" example is tests/readme.rs, verbatim.
fn readme_shows_tests_readme_rs() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let this = std::fs::read_to_string(format!("{root}/tests/readme.rs")).unwrap();
    let start = readme.find("```rust\n").expect("a rust block in README.md") + 8;
    let shown = &readme[start..start + readme[start..].find("```").unwrap()];
    let example = &this[this.find("use netrig::expect::udp;").unwrap()..];
    assert_eq!(
        shown.trim(),
        example.trim(),
        "README.md's example differs from tests/readme.rs"
    );
}

netrig::testing::main!(
    #[plain]
    readme_shows_tests_readme_rs
);
