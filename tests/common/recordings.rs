//! The real Docker 20.10 recordings (`tests/data/real-docker`) and the
//! scenario they were made with, shared by the behaviour and pre-start tests
//! and (included by path) the crate's rule tests in `docker::fidelity`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use netrig::Backend;
use netrig::docker::{ContainerSpec, DaemonOptions, DockerHost, DockerHostBuilder, NetworkSpec};

pub fn data(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// The recorded scenario: `ca` with `-p 8080:80`, network `br`, `cb` on it,
/// `ca2`, `cn` (none), `ch` (host), `cc` (container:ca); optionally an
/// internal network `brint` with `ci`.
pub fn standard(b: DockerHostBuilder, internal: bool) -> DockerHost {
    standard_builder(b, internal, |n| n)
        .build()
        .expect("the standard scenario is valid")
}

/// [`standard`] before it is built, each network passed through `net` (e.g.
/// to give it the id the recording's daemon picked).
pub fn standard_builder(
    b: DockerHostBuilder,
    internal: bool,
    net: impl Fn(NetworkSpec) -> NetworkSpec,
) -> DockerHostBuilder {
    let mut b = b
        .container(ContainerSpec::new("ca").publish("8080:80"))
        .network(net(NetworkSpec::from("br")))
        .container(ContainerSpec::new("cb").network("br"))
        .container(ContainerSpec::new("ca2"))
        .container(ContainerSpec::new("cn").network("none"))
        .container(ContainerSpec::new("ch").network("host"))
        .container(ContainerSpec::new("cc").network("container:ca"));
    if internal {
        b = b
            .network(net(NetworkSpec {
                internal: true,
                ..NetworkSpec::from("brint")
            }))
            .container(ContainerSpec::new("ci").network("brint"));
    }
    b
}

/// The daemon variants that were recorded, with their builders.
pub fn variant(name: &str) -> DockerHost {
    variant_with(name, |b| b)
}

/// A recorded variant with extra builder settings (e.g. another layout).
pub fn variant_with(
    name: &str,
    extra: impl FnOnce(DockerHostBuilder) -> DockerHostBuilder,
) -> DockerHost {
    let b = DockerHost::builder();
    let b = match name {
        "default" | "default-plus-internal" => b,
        "legacy-backend" => b.backend(Backend::IptablesLegacy),
        "userland-proxy-false" => b.daemon(DaemonOptions {
            userland_proxy: false,
            ..Default::default()
        }),
        "icc-false" => b.daemon(DaemonOptions {
            icc: false,
            ..Default::default()
        }),
        "ip-masq-false" => b.daemon(DaemonOptions {
            ip_masq: false,
            ..Default::default()
        }),
        _ => panic!("unknown variant {name}"),
    };
    standard(extra(b), name == "default-plus-internal")
}

/// Replaces our deterministic bridge names by `br-<network name>`, as the
/// recordings' canon files do.
pub fn normalise(host: &DockerHost, text: &str) -> String {
    let mut t = text.to_string();
    for n in host.networks().iter().filter(|n| !n.is_default) {
        t = t.replace(&n.bridge, &format!("br-{}", n.name));
    }
    t
}

/// Panics with a line-by-line comparison unless the texts are equal.
pub fn assert_same_lines(what: &str, expected: &str, actual: &str) {
    if expected.trim_end() == actual.trim_end() {
        return;
    }
    let e: Vec<&str> = expected.trim_end().lines().collect();
    let a: Vec<&str> = actual.trim_end().lines().collect();
    let mut report = String::new();
    for i in 0..e.len().max(a.len()) {
        let (x, y) = (
            e.get(i).copied().unwrap_or("<none>"),
            a.get(i).copied().unwrap_or("<none>"),
        );
        let mark = if x == y { "   " } else { "!!!" };
        report.push_str(&format!(
            "{mark} {i:3} expected: {x}\n{mark}     rendered: {y}\n"
        ));
    }
    panic!("{what}: rendered rules differ from the reference\n{report}");
}

/// One save section (`iptables-nft-save` / `iptables-legacy-save`) of a dump,
/// per table: chain declarations and rules, bridge ids normalised through
/// the subnets they masquerade or isolate (172.18 → br-br, 172.19 → br-brint).
pub fn recorded_tables(dump: &str, section: &str) -> BTreeMap<String, Vec<String>> {
    let names = [("172.18.0.0/16", "br-br"), ("172.19.0.0/16", "br-brint")];
    tables(&rename_bridges(&save_section(dump, section), &names))
}

/// The lines of one save section of a dump.
pub fn save_section(dump: &str, section: &str) -> String {
    let mut text = String::new();
    let mut on = false;
    for l in dump.lines() {
        if l.starts_with("### ") {
            on = l.starts_with(&format!("### {section} "));
            continue;
        }
        if on {
            text.push_str(l);
            text.push('\n');
        }
    }
    text
}

/// Replaces each `br-<12 hex>` that masquerades or isolates one of the
/// `(subnet, name)` subnets by its name.
pub fn rename_bridges(text: &str, names: &[(&str, &str)]) -> String {
    let mut text = text.to_string();
    for (subnet, name) in names {
        for l in text.clone().lines() {
            for pat in [format!("-s {subnet} ! -o "), format!("! -s {subnet} -o ")] {
                if let Some(rest) = l.split(&pat).nth(1) {
                    let id = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    if id.starts_with("br-") && id.len() == 15 {
                        text = text.replace(&id, name);
                    }
                }
            }
        }
    }
    text
}

pub fn tables(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cur = String::new();
    for l in text.lines() {
        if let Some(t) = l.strip_prefix('*') {
            cur = t.to_string();
            out.entry(cur.clone()).or_default();
        } else if l.starts_with(':') || l.starts_with("-A ") {
            out.entry(cur.clone()).or_default().push(l.to_string());
        }
    }
    out
}

/// Strips what iptables-save itself varies: comments and counters.
pub fn bare(saved: &str) -> String {
    saved
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match (l.find(" ["), l.find("] -A ")) {
            (Some(i), _) if l.starts_with(':') => l[..i].to_string(),
            (_, Some(i)) if l.starts_with('[') => l[i + 2..].to_string(),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
