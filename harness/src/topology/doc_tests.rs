//! docs/topology-format.md cannot drift from the parser: each of its key
//! tables lists exactly the keys the parser accepts in that table (asked of
//! the parser itself, through its unknown-key error), and each of its TOML
//! examples parses.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::*;

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/topology-format.md")
}

/// A file with the unknown key `zzz_probe` in the table a heading documents.
fn probe(heading: &str) -> Option<&'static str> {
    Some(match heading {
        "Top level (generic lab)" => "zzz_probe = 1\n[[node]]\nname = \"a\"\n",
        "`[[node]]`" => "[[node]]\nname = \"a\"\nzzz_probe = 1\n",
        "`[[alias]]`" => "[[node]]\nname = \"a\"\n[[alias]]\nzzz_probe = 1\n",
        "`[[bridge]]`" => "[[node]]\nname = \"a\"\n[[bridge]]\nzzz_probe = 1\n",
        "`[[link]]`" => "[[node]]\nname = \"a\"\n[[link]]\nzzz_probe = 1\n",
        "link end (`a`, `b`)" => "[[node]]\nname = \"a\"\n[[link]]\na = { zzz_probe = 1 }\n",
        "`[[address]]`" => "[[node]]\nname = \"a\"\n[[address]]\nzzz_probe = 1\n",
        "`[[route]]`" => "[[node]]\nname = \"a\"\n[[route]]\nzzz_probe = 1\n",
        "`[[docker]]`" => "[[node]]\nname = \"a\"\n[[docker]]\nzzz_probe = 1\n",
        "`[before]`" => "[before]\nzzz_probe = 1\n",
        "`[after]`" => "[after]\nzzz_probe = 1\n",
        "Top level (Docker host)" => "zzz_probe = 1\n",
        "`[daemon]`" => "[daemon]\nzzz_probe = 1\n",
        "`[[network]]`" => "[[network]]\nzzz_probe = 1\n",
        "`[[container]]`" => "[[container]]\nzzz_probe = 1\n",
        "`[internet]`" => "[internet]\nzzz_probe = 1\n",
        "`[[lan_peer]]`" => "[[lan_peer]]\nzzz_probe = 1\n",
        "`[[interface]]`" => "[[interface]]\nzzz_probe = 1\n",
        "`[matrix]`" => "[matrix]\nzzz_probe = 1\n",
        _ => return None,
    })
}

/// The keys the parser accepts where `text` puts `zzz_probe`.
fn parser_keys(text: &str) -> BTreeSet<String> {
    let err = parse(text, "probe.toml")
        .expect_err("zzz_probe is refused")
        .to_string();
    let expected = err
        .split("expected ")
        .nth(1)
        .unwrap_or_else(|| panic!("no key list in: {err}"));
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// (heading, keys in its table) for every `### ` heading.
fn doc_tables(doc: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out: Vec<(String, BTreeSet<String>)> = Vec::new();
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            out.push((h.trim().to_string(), BTreeSet::new()));
        } else if let (Some(row), Some((_, keys))) = (line.strip_prefix("| `"), out.last_mut()) {
            keys.insert(row.split('`').next().unwrap_or_default().to_string());
        }
    }
    out
}

/// Every table of the reference lists exactly the parser's keys, and every
/// table of the parser is in the reference.
#[test]
fn reference_tables_match_the_parser() {
    let doc = std::fs::read_to_string(doc_path()).expect("docs/topology-format.md");
    let tables = doc_tables(&doc);
    assert_eq!(tables.len(), 19, "one table per TOML table of the format");
    for (heading, keys) in &tables {
        let text = probe(heading).unwrap_or_else(|| panic!("no probe for heading {heading:?}"));
        assert_eq!(
            keys,
            &parser_keys(text),
            "docs table {heading:?} vs the parser"
        );
    }
}

/// Every TOML example of the reference parses as the kind it shows.
#[test]
fn reference_examples_parse() {
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).expect("docs/topology-format.md");
    let mut blocks = doc.split("```toml\n").skip(1);
    let mut n = 0;
    for block in blocks.by_ref() {
        let text = block.split("```").next().unwrap();
        parse(text, &path).unwrap_or_else(|e| panic!("example {n} does not parse: {e}\n{text}"));
        n += 1;
    }
    assert_eq!(
        n, 3,
        "a generic lab example, a Docker host example and an IPv6 one"
    );
}
