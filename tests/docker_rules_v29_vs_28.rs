//! Layout V29 checked against the real Docker 28.5.2 wherever the two share
//! code: for every recorded 28.5.2 variant and step, the V29 rendering of
//! the same scenario equals the recording once the differences docker-rules
//! §1.4 documents between 28.x and 29.x are applied to it — and only those,
//! which are the rules that stay derived (`netrig::docker::V29_DERIVED`).

mod common;

use common::recordings::{assert_same_lines, data};
use common::recordings28::*;
use netrig::docker::{Layout, V29_DERIVED};

/// The 28.5.2 canon rewritten into what V29 programs instead
/// (each rewrite is one entry of [`V29_DERIVED`]).
fn as_v29(canon28: &str) -> String {
    let mut out = Vec::new();
    let mut table = "";
    for l in canon28.lines() {
        if let Some(t) = l.strip_prefix('*') {
            table = t;
            out.push(l.to_string());
            continue;
        }
        // No STAGE-1/STAGE-2 isolation pair in 29.x.
        if l.contains("DOCKER-ISOLATION-STAGE-2") {
            continue;
        }
        // No nat skip-DNAT RETURN rules in 29.x.
        if table == "nat" && l.starts_with("-A DOCKER -i ") && l.ends_with("-j RETURN") {
            continue;
        }
        // No routed-network STAGE-1 ACCEPT/RETURN in 29.x.
        if l.starts_with("-A DOCKER-ISOLATION-STAGE-1 -i ") && l.contains("RELATED,ESTABLISHED")
            || l.starts_with("-A DOCKER-ISOLATION-STAGE-1 -o ") && l.ends_with("-j RETURN")
        {
            continue;
        }
        // DOCKER-INTERNAL instead of STAGE-1 (jump and internal-network drops).
        out.push(l.replace("DOCKER-ISOLATION-STAGE-1", "DOCKER-INTERNAL"));
    }
    out.join("\n")
}

/// Every 28.5.2 variant and step: V29 = the recording with §1.4's 29.x changes, IPv4 and IPv6.
fn v29_equals_28_5_2_except_the_derived_rules() {
    assert_eq!(V29_DERIVED.len(), 8);
    for name in VARIANTS {
        let host = variant28_with(name, |b| b.layout(Layout::V29));
        for (dump, step) in dumps(name) {
            let want = as_v29(&data(&format!("real-docker-28/canon/{dump}.canon")));
            assert_same_lines(
                &format!("v29 vs 28.5.2 {dump} (step {step})"),
                &want,
                &canon(&host, &host.at(step).iptables()),
            );
            let want6 = as_v29(&data(&format!("real-docker-28/canon/{dump}.canon6")));
            assert_same_lines(
                &format!("v29 vs 28.5.2 {dump} ip6tables"),
                &want6,
                &canon(&host, &host.running().ip6tables().unwrap()),
            );
        }
    }
}

netrig::testing::main!(
    #[plain]
    v29_equals_28_5_2_except_the_derived_rules,
);
