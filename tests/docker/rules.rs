//! Docker's firewall rules: every case comparing netrig's rendering with the
//! real daemons' recordings (rendered, and loaded with the real tools) is a
//! unit test of the crate, `docker::fidelity::rules` (`cargo test --lib
//! rules::`), since it reads the model's rules step by step. What stays here
//! uses the public API only.

use netrig::Backend;
use netrig::Lab;
use netrig::testing::Test;
use netrig::unique_lab_name;

use crate::common;

/// This module's tests.
pub fn tests() -> Vec<Test> {
    vec![Test::lab(
        "rules::malformed_rule_file_names_file_and_line",
        malformed_rule_file_names_file_and_line,
    )]
}

/// A malformed user rule file fails with the tool's message and the file and
/// line, at `up` (the lab is not brought up half-built); malformed rules
/// loaded into a running node fail with the line and leave nothing loaded.
fn malformed_rule_file_names_file_and_line() {
    let _labs = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let ipt = dir.path().join("user.rules");
    let bad_ipt =
        "*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -p tcp --dport 22 -j DRPO\nCOMMIT\n";
    std::fs::write(&ipt, bad_ipt).unwrap();
    let nft = dir.path().join("user.nft");
    let bad_nft = "table inet t {\n  chain c {\n    tcp dport 22 dorp\n  }\n}\n";
    std::fs::write(&nft, bad_nft).unwrap();
    for (file, word) in [(&ipt, "DRPO"), (&nft, "dorp")] {
        let err = Lab::builder(unique_lab_name("badrules"))
            .node("host")
            .rules_file("host", file)
            .up()
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("{}:3", file.display())), "{err}");
        assert!(err.contains(word), "{err}");
    }
    let lab = Lab::builder(unique_lab_name("badrules"))
        .node("host")
        .up()
        .unwrap();
    let node = lab.node("host").unwrap();
    for (backend, text, word) in [
        (Backend::IptablesNft, bad_ipt, "DRPO"),
        (Backend::Nftables, bad_nft, "dorp"),
    ] {
        let err = node.load_rules(backend, text).unwrap_err().to_string();
        assert!(err.contains("line 3") || err.contains(":3"), "{err}");
        assert!(err.contains(word), "{err}");
    }
    // Nothing was loaded.
    assert!(
        !node
            .rules(Backend::IptablesNft)
            .unwrap()
            .contains("DOCKER-USER")
    );
    assert!(
        !node
            .rules(Backend::Nftables)
            .unwrap()
            .contains("table inet t")
    );
}
