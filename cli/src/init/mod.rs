//! `netrig init [DIR]`: netrig in an existing Cargo project — a
//! dev-dependency, a `harness = false` test target with a lab test and a
//! Docker-host test (and a failure to look at, behind NETRIG_SHOW_FAILURE),
//! a topology file, a CI workflow that works in that project (the apt line,
//! CI=true, JUnit and the evidence of failed labs uploaded), a nextest
//! profile, and `netrig-artifacts/` in `.gitignore`.
//!
//! Idempotent: a file that already says what init would write is left
//! alone. A file of the user's that says something else is never
//! overwritten: init names it and changes nothing. Exit 0 done, 2 refused.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the project's netrig comes from.
pub enum Source {
    /// A checkout on this machine (`netrig = { path = … }`).
    Path(PathBuf),
    /// A git repository, at a tag if given.
    Git { url: String, tag: Option<String> },
}

impl Source {
    /// The dev-dependency line.
    fn dependency(&self) -> String {
        match self {
            Source::Path(p) => format!("netrig = {{ path = {} }}", quote(&p.display().to_string())),
            Source::Git { url, tag: None } => format!("netrig = {{ git = {} }}", quote(url)),
            Source::Git { url, tag: Some(t) } => {
                format!("netrig = {{ git = {}, tag = {} }}", quote(url), quote(t))
            }
        }
    }
}

/// The files init writes: path in the project, text.
pub const FILES: [(&str, &str); 4] = [
    ("tests/netrig.rs", include_str!("netrig.rs")),
    ("topologies/web.toml", include_str!("web.toml")),
    (".github/workflows/netrig.yml", include_str!("workflow.yml")),
    (".config/nextest.toml", include_str!("nextest.toml")),
];

/// The test target init adds.
const TEST_TARGET: &str =
    "\n[[test]]\nname = \"netrig\"\npath = \"tests/netrig.rs\"\nharness = false\n";

/// `netrig init DIR`, netrig from `source`.
pub fn run(dir: &Path, source: &Source) -> ExitCode {
    match scaffold(dir, source) {
        Ok(done) => {
            for line in done {
                println!("{line}");
            }
            println!(
                "next: sudo -E cargo test --test netrig   (netrig doctor says what a machine lacks)"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("netrig: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Does the work; returns what it did, a line each.
fn scaffold(dir: &Path, source: &Source) -> Result<Vec<String>, String> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|e| {
        format!(
            "{}: {e}: netrig init works in an existing Cargo project (run `cargo new` or `cargo init` first)",
            manifest.display()
        )
    })?;
    let doc: toml::Table = toml::from_str(&text).map_err(|e| {
        format!(
            "{}: not a valid Cargo.toml: {}",
            manifest.display(),
            e.message()
        )
    })?;
    if !doc.contains_key("package") {
        return Err(format!(
            "{}: has no [package] (a workspace root?): run netrig init in the package that gets the tests",
            manifest.display()
        ));
    }
    // Refuse before writing anything.
    let conflicts: Vec<String> = FILES
        .iter()
        .filter(|(rel, body)| {
            std::fs::read_to_string(dir.join(rel)).is_ok_and(|have| have != *body)
        })
        .map(|(rel, _)| dir.join(rel).display().to_string())
        .collect();
    if !conflicts.is_empty() {
        return Err(format!(
            "not overwriting your file(s): {} (move them aside, or add netrig by hand: see netrig's README)",
            conflicts.join(", ")
        ));
    }
    let mut done = Vec::new();
    let has_dep = doc
        .get("dev-dependencies")
        .and_then(|d| d.as_table())
        .is_some_and(|d| d.contains_key("netrig"));
    let has_test = doc
        .get("test")
        .and_then(|t| t.as_array())
        .is_some_and(|ts| {
            ts.iter()
                .any(|t| t.get("name").and_then(|n| n.as_str()) == Some("netrig"))
        });
    let mut edited = text.clone();
    if !has_dep {
        let line = source.dependency();
        match edited.find("\n[dev-dependencies]\n") {
            Some(i) => edited.insert_str(i + "\n[dev-dependencies]\n".len(), &format!("{line}\n")),
            None => edited.push_str(&format!("\n[dev-dependencies]\n{line}\n")),
        }
        done.push(format!("Cargo.toml: added the dev-dependency {line}"));
    }
    if !has_test {
        edited.push_str(TEST_TARGET);
        done.push("Cargo.toml: added the test target `netrig` (harness = false)".into());
    }
    if edited != text {
        write(&manifest, &edited)?;
    } else {
        done.push("Cargo.toml: unchanged".into());
    }
    for (rel, body) in FILES {
        let path = dir.join(rel);
        if path.exists() {
            done.push(format!("{rel}: unchanged"));
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        write(&path, body)?;
        done.push(format!("{rel}: written"));
    }
    let gitignore = dir.join(".gitignore");
    let ignored = std::fs::read_to_string(&gitignore).unwrap_or_default();
    if ignored.lines().any(|l| l.trim() == "netrig-artifacts/") {
        done.push(".gitignore: unchanged".into());
    } else {
        let sep = if ignored.is_empty() || ignored.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        write(&gitignore, &format!("{ignored}{sep}netrig-artifacts/\n"))?;
        done.push(".gitignore: added netrig-artifacts/".into());
    }
    Ok(done)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The checkout this binary was built from, when it still holds netrig's
/// library (`cargo install --path cli` or `cargo run` from a checkout).
pub fn this_checkout() -> Option<PathBuf> {
    let root = std::fs::canonicalize(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).ok()?;
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).ok()?;
    manifest.contains("name = \"netrig\"").then_some(root)
}
