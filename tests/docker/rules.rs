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
