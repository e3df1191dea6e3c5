//! Docker's firewall rules, every check of them a case of one table: for
//! each Docker release recorded and each daemon variant recorded of it, the
//! rules as netrig renders them (`rendered`) and as it loads them — with the
//! real `iptables-*-restore`/`nft` in a lab node, read back with the real
//! save tools (`loaded`) — compared rule for rule with what the real daemon
//! left behind, at every recorded step:
//!
//! - Docker 20.10.24, classic layout (`tests/data/real-docker`, [`v20_10`]);
//! - Docker 28.5.2, layout V28 (`tests/data/real-docker-28`, [`v28_5_2`]);
//! - layout V29 ([`v29`]), of which no daemon was recorded: each 28.5.2
//!   variant rendered by V29 against its recording with docker-rules §1.4's
//!   29.x changes applied, plus checks against docker-rules §1.2, §1.3 and
//!   §1.5 (`tests/data/docker-rules`).
//!
//! A case is named `rules::VERSION::VARIANT::CHECK` — e.g.
//! `rules::v28.5.2::lo-publish::loaded`, `rules::v29::routed::rendered_vs_v28.5.2`
//! — so `cargo test --test docker -- rules::v28.5.2::` runs one release's.
//! [`ROWS`] lists the recorded variants; [`OTHERS`] the checks that are not
//! one recorded variant's.

mod v20_10;
mod v28_5_2;
mod v29;

use netrig::Backend;
use netrig::Lab;
use netrig::docker::{DockerHost, Layout, Table};
use netrig::testing::Test;
use netrig::unique_lab_name;

use crate::common;
use crate::common::recordings::standard;
use crate::common::recordings28::VARIANTS;
use Version::{V20_10, V28_5_2};

/// A recorded Docker release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    /// Docker 20.10.24, classic layout (`tests/data/real-docker`).
    V20_10,
    /// Docker 28.5.2, layout V28 (`tests/data/real-docker-28`).
    V28_5_2,
}

impl Version {
    /// As in the cases' names.
    fn name(self) -> &'static str {
        match self {
            Version::V20_10 => "v20.10",
            Version::V28_5_2 => "v28.5.2",
        }
    }

    /// The checks made of each of its recorded variants.
    fn checks(self) -> &'static [Check] {
        match self {
            Version::V20_10 => &[Check::Rendered, Check::Loaded],
            Version::V28_5_2 => &[Check::Rendered, Check::Loaded, Check::V29Rendered],
        }
    }
}

/// What a case checks of a recorded variant.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// `rules::VERSION::VARIANT::rendered`: netrig's rendering equals the
    /// recording, rule for rule, at every recorded step. Needs nothing.
    Rendered,
    /// `rules::VERSION::VARIANT::loaded`: the rendering, loaded with the
    /// real restore tools in a lab node and read back with the save tools,
    /// equals the recording at every recorded step. Builds labs.
    Loaded,
    /// `rules::v29::VARIANT::rendered_vs_v28.5.2`: layout V29 rendering the
    /// variant's scenario equals the 28.5.2 recording with docker-rules
    /// §1.4's 29.x changes applied, every step, IPv4 and IPv6. Needs nothing.
    V29Rendered,
}

/// A recorded variant of a release: [`Version::checks`] are made of it.
struct Row {
    version: Version,
    /// The variant's name in the recordings (`tests/data/…/canon/NAME.canon`).
    variant: &'static str,
    /// What its `rendered` case asserts besides the recording, if anything.
    also: Option<fn()>,
}

const fn row(version: Version, variant: &'static str) -> Row {
    Row {
        version,
        variant,
        also: None,
    }
}

impl Row {
    const fn also(self, also: fn()) -> Row {
        Row {
            also: Some(also),
            ..self
        }
    }
}

/// Every recorded variant.
const ROWS: &[Row] = &[
    // Docker 20.10.24.
    // Default daemon: the rules equal the recording, rule for rule.
    row(V20_10, "default"),
    // The legacy backend programs the same rules, into iptables-legacy only.
    row(V20_10, "legacy-backend").also(v20_10::legacy_backend_is_legacy_only),
    // `--userland-proxy=false`: hairpin NAT rules, no RETURN, DNAT without `! -i`.
    row(V20_10, "userland-proxy-false"),
    // `--icc=false`: docker0's intra-bridge ACCEPT becomes a DROP, at every step.
    row(V20_10, "icc-false"),
    // `--ip-masq=false`: docker0 loses its MASQUERADE and RETURN, br keeps its own.
    row(V20_10, "ip-masq-false"),
    // An `--internal` network adds a FORWARD ACCEPT and two STAGE-1 DROPs,
    // newest on top (recorded without stage dumps: the final rules).
    row(V20_10, "default-plus-internal"),
    // Docker 28.5.2 (each row also gives a V29 case, `rendered_vs_v28.5.2`).
    // Default daemon: every step equals the recording, rule for rule and in order.
    row(V28_5_2, "default"),
    // An internal network: DROPs inserted at the top of STAGE-1, no raw rule for its container.
    row(V28_5_2, "default-plus-internal"),
    // The legacy backend: the same rules, in iptables-legacy and ip6tables-legacy only.
    row(V28_5_2, "legacy-backend").also(v28_5_2::legacy_backend_is_legacy_only),
    // `--userland-proxy=false`: LOCAL masquerade per bridge, hairpin MASQUERADE, no RETURN, no `! -d ::1/128`.
    row(V28_5_2, "userland-proxy-false"),
    // `--icc=false`: docker0's DOCKER-FORWARD accept splits into a DROP within and an ACCEPT out.
    row(V28_5_2, "icc-false"),
    // `--ip-masq=false`: docker0 loses both its MASQUERADE and its nat RETURN.
    row(V28_5_2, "ip-masq-false"),
    // `--ip-forward-no-drop`: the same rules, FORWARD policy ACCEPT.
    row(V28_5_2, "ip-forward-no-drop").also(v28_5_2::ip_forward_no_drop_accepts_forward),
    // `--allow-direct-routing`: no raw table at all.
    row(V28_5_2, "allow-direct-routing"),
    // ip_forward already on before the daemon: FORWARD policy ACCEPT.
    row(V28_5_2, "forward-preset"),
    // `-p 127.0.0.1:8081:80`: DNAT to 127.0.0.1 only, plus the raw `! -i lo` drop after the endpoint drops.
    row(V28_5_2, "lo-publish"),
    // `gateway_mode_ipv4=routed`: no NAT, ICMP accept, STAGE-1 ACCEPT/RETURN at the top.
    row(V28_5_2, "routed"),
    // `gateway_mode_ipv4=nat-unprotected`: `DOCKER ! -i br -o br -j ACCEPT`, no per-port ACCEPT, no raw rule.
    row(V28_5_2, "nat-unprotected"),
    // A daemon restart: user networks' rules first, docker0's last; then `docker start` re-adds ports in start order.
    row(V28_5_2, "default-after-daemon-restart-and-container-start"),
];

/// The checks that are not one recorded variant's: name (after `rules::`),
/// whether it builds labs (it then holds `common::shared()` itself), check.
const OTHERS: &[(&str, bool, fn())] = &[
    (
        "every_layout::forward_policy_follows_ip_forward",
        false,
        forward_policy_follows_ip_forward,
    ),
    (
        "v20.10::proxies_match_recording",
        false,
        v20_10::proxies_match_recording,
    ),
    (
        "v20.10::kernel_settings_match_recording",
        false,
        v20_10::kernel_settings_match_recording,
    ),
    (
        "v20.10::standard_topology_file_matches_recording_step_by_step",
        false,
        v20_10::standard_topology_file_matches_recording_step_by_step,
    ),
    (
        "v28.5.2::render_fails_against_another_variants_recording",
        false,
        v28_5_2::v28_render_fails_against_another_variants_recording,
    ),
    (
        "v28.5.2::proxies_match_recording",
        false,
        v28_5_2::v28_proxies_match_recording,
    ),
    (
        "v28.5.2::topology_files_match_recording",
        false,
        v28_5_2::v28_topology_files_match_recording,
    ),
    (
        "v28.5.2::every_variant_is_in_the_table",
        false,
        every_variant_is_in_the_table,
    ),
    (
        "v29::default::rendered_vs_docker_rules_1_2",
        false,
        v29::v29_matches_docker_rules_1_2,
    ),
    (
        "v29::default::rendered_steps_vs_docker_rules_1_2",
        false,
        v29::v29_steps_match_docker_rules_1_2,
    ),
    (
        "v29::userland-proxy-false::rendered_vs_docker_rules_1_5",
        false,
        v29::v29_userland_proxy_false_matches_docker_rules_1_5,
    ),
    (
        "v29::icc-false::rendered_vs_docker_rules_1_5",
        false,
        v29::v29_icc_false_matches_docker_rules_1_5,
    ),
    (
        "v29::ip-masq-false::rendered_vs_docker_rules_1_5",
        false,
        v29::v29_ip_masq_false_matches_docker_rules_1_5,
    ),
    (
        "v29::internal-network::rendered_vs_docker_rules_1_5",
        false,
        v29::v29_internal_network_matches_docker_rules_1_5,
    ),
    (
        "v29::nftables-backend::rendered_vs_docker_rules_1_3",
        false,
        v29::v29_nftables_matches_docker_rules_1_3,
    ),
    (
        "v29::every-backend::loaded",
        true,
        v29::v29_loads_with_every_backend,
    ),
    (
        "malformed_rule_file_names_file_and_line",
        true,
        malformed_rule_file_names_file_and_line,
    ),
];

/// This module's tests: every check of every row, then [`OTHERS`].
pub fn tests() -> Vec<Test> {
    let mut tests = Vec::new();
    for row in ROWS {
        for &check in row.version.checks() {
            tests.push(case(row, check));
        }
    }
    for &(name, lab, check) in OTHERS {
        let name = format!("rules::{name}");
        tests.push(if lab {
            Test::lab(name, check)
        } else {
            Test::plain(name, check)
        });
    }
    tests
}

/// The case checking `check` of `row`.
fn case(row: &Row, check: Check) -> Test {
    let (version, variant, also) = (row.version, row.variant, row.also);
    let name = |what: &str| format!("rules::{}::{variant}::{what}", version.name());
    match check {
        Check::Rendered => Test::plain(name("rendered"), move || {
            match version {
                V20_10 => v20_10::rendered(variant),
                V28_5_2 => v28_5_2::rendered(variant),
            }
            if let Some(also) = also {
                also();
            }
        }),
        Check::Loaded => Test::lab(name("loaded"), move || {
            let _labs = common::shared();
            match version {
                V20_10 => v20_10::loaded(variant),
                V28_5_2 => v28_5_2::loaded(variant),
            }
        }),
        Check::V29Rendered => Test::plain(
            format!("rules::v29::{variant}::rendered_vs_v28.5.2"),
            move || v29::rendered_vs_v28_5_2(variant),
        ),
    }
}

/// Every recorded 28.5.2 variant has its row, so its cases.
fn every_variant_is_in_the_table() {
    for v in VARIANTS {
        assert!(
            ROWS.iter().any(|r| r.version == V28_5_2 && r.variant == v),
            "{v} is not in the table"
        );
    }
}

/// The filter FORWARD policy is DROP only when Docker itself turned forwarding on
/// (and, from 28, not with `--ip-forward-no-drop`).
fn forward_policy_follows_ip_forward() {
    for layout in [Layout::V28, Layout::V29] {
        let no_drop = standard(
            DockerHost::builder()
                .layout(layout)
                .ip_forward_no_drop(true),
            false,
        );
        assert_eq!(
            no_drop
                .running()
                .iptables()
                .policy(Table::Filter, "FORWARD"),
            Some("ACCEPT"),
            "{layout}"
        );
        assert!(no_drop.daemon().host_forwards(), "{layout}");
    }
    for layout in Layout::ALL {
        let dropped = standard(DockerHost::builder().layout(layout), false);
        assert_eq!(
            dropped
                .running()
                .iptables()
                .policy(Table::Filter, "FORWARD"),
            Some("DROP"),
            "{layout}"
        );
        let was_on = standard(
            DockerHost::builder().layout(layout).ip_forward_was_on(true),
            false,
        );
        assert_eq!(
            was_on.running().iptables().policy(Table::Filter, "FORWARD"),
            Some("ACCEPT"),
            "{layout}"
        );
        let off = standard(
            DockerHost::builder().layout(layout).ip_forward(false),
            false,
        );
        assert_eq!(
            off.running().iptables().policy(Table::Filter, "FORWARD"),
            Some("ACCEPT"),
            "{layout}"
        );
    }
}

/// A malformed user rule file fails with the tool's message and the file and line.
fn malformed_rule_file_names_file_and_line() {
    let _labs = common::shared();
    let lab = Lab::builder(unique_lab_name("badrules"))
        .node("host")
        .up()
        .unwrap();
    let node = lab.node("host").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ipt = dir.path().join("user.rules");
    std::fs::write(
        &ipt,
        "*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -p tcp --dport 22 -j DRPO\nCOMMIT\n",
    )
    .unwrap();
    let err = Backend::IptablesNft
        .append_file(&node, &ipt)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("{}:3", ipt.display())), "{err}");
    assert!(err.contains("DRPO"), "{err}");
    let nft = dir.path().join("user.nft");
    std::fs::write(
        &nft,
        "table inet t {\n  chain c {\n    tcp dport 22 dorp\n  }\n}\n",
    )
    .unwrap();
    let err = Backend::Nftables
        .append_file(&node, &nft)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("{}:3", nft.display())), "{err}");
    // Nothing was loaded.
    assert!(
        !Backend::IptablesNft
            .save(&node)
            .unwrap()
            .contains("DOCKER-USER")
    );
    assert!(
        !Backend::Nftables
            .save(&node)
            .unwrap()
            .contains("table inet t")
    );
}
