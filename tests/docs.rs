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

/// The module map in lib.rs is true: every module is in it, and no module
/// imports one from a layer below its own.
fn module_map_matches_the_imports() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/harness/src");
    let lib = std::fs::read_to_string(format!("{root}/lib.rs")).unwrap();
    let layers = map_layers(&lib);
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim_start_matches("pub ").strip_prefix("mod "))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    for m in &declared {
        assert!(
            layers.contains_key(*m),
            "module {m} is not in lib.rs's module map"
        );
    }
    // Root re-exports: `crate::Namespace` is module `namespace`'s.
    let mut owner = std::collections::BTreeMap::new();
    let reexports = lib.replace("{\n", "{").replace(",\n", ",");
    for l in reexports.lines().filter(|l| l.starts_with("pub use ")) {
        let (module, items) = l["pub use ".len()..].split_once("::").unwrap();
        for item in items.trim_matches(|c| "{};".contains(c)).split(',') {
            owner.insert(item.trim().to_string(), module.to_string());
        }
    }
    let mut wrong = Vec::new();
    for (module, text) in sources(root) {
        let here = layers[module.as_str()];
        for used in imports(&text, &owner) {
            if let Some(&there) = layers.get(used.as_str())
                && there > here
            {
                wrong.push(format!(
                    "{module} (layer {here}) imports {used} (layer {there})"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the module map:\n{}",
        wrong.join("\n")
    );
}

/// Module name -> layer index, from lib.rs's `# Module map`.
fn map_layers(lib: &str) -> std::collections::BTreeMap<String, usize> {
    let map = &lib[lib.find("# Module map").unwrap()..lib.find("# Example").unwrap()];
    let mut layer = 0;
    let mut out = std::collections::BTreeMap::new();
    for line in map.lines().map(|l| l.trim_start_matches("//!").trim()) {
        if line.ends_with(':') && !line.starts_with('-') {
            layer += 1;
        } else if let Some(entry) = line.strip_prefix("- ") {
            let names = entry.split(" — ").next().unwrap();
            for name in names.split(',') {
                let name = name.trim().trim_matches(|c| "[]`".contains(c));
                out.insert(name.to_string(), layer);
            }
        }
    }
    out
}

/// (top-level module, its source without comments and tests) for every file.
fn sources(dir: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(dir).unwrap();
                let first = rel
                    .components()
                    .next()
                    .unwrap()
                    .as_os_str()
                    .to_string_lossy();
                let module = first.trim_end_matches(".rs").to_string();
                if module == "lib" {
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                let text = text.split("#[cfg(test)]").next().unwrap();
                let code: Vec<&str> = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect();
                out.push((module, code.join("\n")));
            }
        }
    }
    out
}

/// The top-level modules `text` uses through `crate::…`.
fn imports(text: &str, owner: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for part in text.split("crate::").skip(1) {
        let ident: String = part
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ident.starts_with(|c: char| c.is_lowercase()) {
            out.push(ident);
        } else if let Some(m) = owner.get(&ident) {
            out.push(m.clone());
        }
    }
    out
}

netrig::testing::main!(
    #[plain]
    readme_shows_tests_readme_rs,
    #[plain]
    module_map_matches_the_imports,
);
