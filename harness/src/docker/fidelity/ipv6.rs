//! A dual-stack V28 host (`topologies/docker-ipv6.toml`) against the real
//! Docker 28.5.2 recorded with `--ipv6 --fixed-cidr-v6 fd00:17::/64` and the
//! networks `n6` and `g6` (`tests/data/real-docker-ipv6`, issue 21): at
//! every recorded step, the ip6tables rules — chain declarations with their
//! policies, then every rule in order — and the iptables rules beside them,
//! for every recorded variant (both iptables backends, n6's IPv6 gateway
//! modes, proxy off, `--ip6tables=false`, IPv6 forwarding off or on before), and the
//! classic layout against Docker 20.10.24 with `--ip6tables`.

use std::collections::BTreeMap;

use super::recordings::{assert_same_lines, bare, data, normalise, save_section, tables};
use crate::Backend;
use crate::docker::DockerHost;

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/topologies/docker-ipv6.toml");

#[path = "../../../../tests/common/recordings_ipv6.rs"]
mod variants;
use variants::{IPV6_VARIANTS as VARIANTS, Ipv6Variant, ipv6_variant_text};

/// The recorded steps and the model's step each shows (the last: everything).
const STEPS: [(&str, Option<usize>); 4] = [
    ("-0-daemon-start", Some(0)),
    ("-1-after-network-create-n6", Some(1)),
    ("-2-after-network-create-g6", Some(2)),
    ("", None),
];

fn host(backend: Backend) -> DockerHost {
    let text = std::fs::read_to_string(FILE).expect("docker-ipv6.toml");
    let text = text.replace(
        "backend = \"iptables-nft\"",
        &format!("backend = \"{backend}\""),
    );
    let spec = crate::topology::parse(&text, FILE).expect("docker-ipv6.toml loads");
    spec.docker_host("host").expect("a Docker host").clone()
}

/// The topology file with the variant's additions.
fn variant(x: &Ipv6Variant) -> DockerHost {
    let text = std::fs::read_to_string(FILE).expect("docker-ipv6.toml");
    let text = ipv6_variant_text(&text, x);
    let spec = crate::topology::parse(&text, FILE).expect("docker-ipv6.toml loads");
    spec.docker_host("host").expect("a Docker host").clone()
}

/// A recorded dump's save section, per table, its bridge ids named
/// `br-<network name>` (from the recording's `bridges.txt`).
fn recorded(dump: &str, section: &str) -> BTreeMap<String, String> {
    recorded_in("real-docker-ipv6", dump, section)
}

/// [`recorded`] from the recordings in `dir` (under `tests/data`).
fn recorded_in(dir: &str, dump: &str, section: &str) -> BTreeMap<String, String> {
    let mut text = save_section(&data(&format!("{dir}/dumps/{dump}.rules")), section);
    for line in data(&format!("{dir}/bridges.txt")).lines() {
        if let [d, id, net] = line.split_whitespace().collect::<Vec<_>>().as_slice()
            && *d == dump
        {
            text = text.replace(id, &format!("br-{net}"));
        }
    }
    tables(&bare(&text))
        .into_iter()
        .map(|(t, l)| (t, l.join("\n")))
        .collect()
}

fn rendered(host: &DockerHost, saved: &str) -> BTreeMap<String, String> {
    tables(&bare(&normalise(host, saved)))
        .into_iter()
        .map(|(t, l)| (t, l.join("\n")))
        .collect()
}

fn assert_tables(what: &str, want: &BTreeMap<String, String>, got: &BTreeMap<String, String>) {
    assert!(
        want.is_empty() || want.get("filter").is_some_and(|l| l.lines().count() > 5),
        "{what}: the recording has no filter table"
    );
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "{what}: tables"
    );
    for (t, lines) in want {
        assert_same_lines(&format!("{what} table {t}"), lines, &got[t]);
    }
}

/// At every recorded step, on both iptables backends, the ip6tables rules
/// equal the real 28.5.2's rule for rule, policies included.
#[test]
fn ip6tables_equal_the_recording_at_every_step() {
    for x in &VARIANTS {
        let h = variant(x);
        let (_, six) = super::recordings28::sections(&h);
        for (suffix, step) in STEPS {
            let dump = format!("{}{suffix}", x.name);
            let stage = h.at(step.unwrap_or(h.last_step()));
            // `--ip6tables=false`: nothing in ip6tables, as recorded.
            let saved = stage
                .ip6tables()
                .map(|r| r.iptables_restore())
                .unwrap_or_default();
            let want = recorded(&dump, six);
            assert_tables(&format!("{dump} {six}"), &want, &rendered(&h, &saved));
        }
    }
}

/// At every recorded step the IPv4 rules of the dual-stack host equal the
/// recording too (IPv6 changes nothing there).
#[test]
fn iptables_of_the_dual_stack_host_equal_the_recording() {
    for x in &VARIANTS {
        let h = variant(x);
        let (four, _) = super::recordings28::sections(&h);
        for (suffix, step) in STEPS {
            let dump = format!("{}{suffix}", x.name);
            let stage = h.at(step.unwrap_or(h.last_step()));
            let want = recorded(&dump, four);
            let got = rendered(&h, &stage.iptables().iptables_restore());
            assert_tables(&format!("{dump} {four}"), &want, &got);
        }
    }
}

/// The lines of one `===== IPv6: TITLE =====` section of a recording's
/// IPv6 state (`tests/data/real-docker-ipv6/ipv6/NAME.ipv6.txt`).
fn ipv6_section(name: &str, title: &str) -> Vec<String> {
    let text = data(&format!("real-docker-ipv6/ipv6/{name}.ipv6.txt"));
    let mut on = false;
    let mut out = Vec::new();
    for l in text.lines() {
        if let Some(t) = l.strip_prefix("===== IPv6: ") {
            on = t.trim_end_matches(" =====").starts_with(title);
            continue;
        }
        if on && !l.trim().is_empty() {
            out.push(l.trim().to_string());
        }
    }
    out
}

/// The docker-proxy processes (IPv4 and `[::]`/`[::1]` listeners, each to
/// the container's address in the listener's family) equal the recording's.
#[test]
fn proxies_equal_the_recording() {
    let h = host(Backend::IptablesNft);
    let mut want: Vec<String> = ipv6_section("default", "docker-proxy processes")
        .iter()
        .filter_map(|l| l.split_once("docker-proxy ").map(|(_, a)| a.to_string()))
        .collect();
    let mut got: Vec<String> = h
        .running()
        .proxies()
        .iter()
        .map(|p| p.args().join(" "))
        .collect();
    want.sort();
    got.sort();
    assert!(want.len() == 6, "recorded proxies: {want:?}");
    assert_eq!(got, want);
}

/// Every container's addresses (IPv4 and IPv6 with prefixes) equal those
/// `docker network inspect` showed, and the sysctls Docker set on the host
/// (per-bridge `disable_ipv6=0` and `accept_ra=0`, IPv6 forwarding) hold
/// the recorded values.
#[test]
fn addresses_and_sysctls_equal_the_recording() {
    let h = host(Backend::IptablesNft);
    let mut recorded_addrs = Vec::new();
    for l in ipv6_section("default", "docker network inspect") {
        if let Some((_, list)) = l.split_once(" containers=") {
            recorded_addrs.extend(list.split(',').filter(|s| !s.is_empty()).map(String::from));
        }
    }
    let mut model_addrs: Vec<String> = h
        .containers()
        .iter()
        .flat_map(|c| {
            c.attachments()
                .iter()
                .map(move |a| format!("{}={}+{}", c.name, a.cidr(), a.cidr6().expect("dual stack")))
        })
        .collect();
    recorded_addrs.sort();
    model_addrs.sort();
    assert_eq!(model_addrs, recorded_addrs);

    let sysctls = ipv6_section("default", "sysctls (host netns)");
    let bridge_of = |name: &str| {
        data("real-docker-ipv6/bridges.txt")
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.first() == Some(&"default") && f.get(2) == Some(&name)).then(|| f[1].to_string())
            })
            .unwrap_or_else(|| "docker0".into())
    };
    let rendered = h.rendered().sysctls;
    assert!(!rendered.is_empty());
    for (node, key, value) in rendered
        .iter()
        .filter(|(_, k, _)| k.starts_with("net.ipv6"))
    {
        assert_eq!(node, "host");
        // The model's bridge name -> the recording's.
        let mut real_key = key.clone();
        for n in h.networks().iter().filter(|n| !n.is_default) {
            real_key = real_key.replace(&n.bridge, &bridge_of(&n.name));
        }
        let line = format!("{real_key} = {value}");
        assert!(
            sysctls.contains(&line),
            "{line} not in the recording: {sysctls:#?}"
        );
    }
}

/// Docker 20.10.24 with `--ipv6 --fixed-cidr-v6 --experimental --ip6tables`
/// (`tests/data/real-docker-ipv6/20.10.24`): the classic layout with
/// `[daemon] ip6tables = true` renders its ip6tables and iptables rules
/// rule for rule at every step — docker0's MAC-derived IPv6 address, no
/// `DOCKER-USER` and no `! -s fe80::/10` in ip6tables, the bindings of one
/// container port last given first.
#[test]
fn classic_ip6tables_equal_the_20_10_recording() {
    let text = std::fs::read_to_string(FILE).expect("docker-ipv6.toml");
    let text = text.replace("layout = \"v28\"", "layout = \"classic\"\nip6tables = true");
    let spec = crate::topology::parse(&text, FILE).expect("loads");
    let h = spec.docker_host("host").expect("a host").clone();
    for (suffix, step) in STEPS {
        let dump = format!("default{suffix}");
        let stage = h.at(step.unwrap_or(h.last_step()));
        let dir = "real-docker-ipv6/20.10.24";
        let six = stage.ip6tables().expect("--ip6tables").iptables_restore();
        let want = recorded_in(dir, &dump, "ip6tables-nft-save");
        assert_tables(
            &format!("20.10.24 {dump} ip6tables"),
            &want,
            &rendered(&h, &six),
        );
        let want = recorded_in(dir, &dump, "iptables-nft-save");
        let four = stage.iptables().iptables_restore();
        assert_tables(
            &format!("20.10.24 {dump} iptables"),
            &want,
            &rendered(&h, &four),
        );
    }
}
