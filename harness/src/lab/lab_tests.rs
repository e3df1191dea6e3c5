//! Lab handles' internals that netrig's own code uses and users do not see.

use crate::{Endpoint, Lab, unique_lab_name};

/// An unknown interface's error names it and the interfaces the node has
/// (split from the integration test `bad_inputs_give_clear_errors` when
/// `Node::interface` became crate-private).
#[test]
fn unknown_interface_names_the_interfaces() {
    if !crate::privilege::should_run("unknown_interface_names_the_interfaces").unwrap() {
        return;
    }
    let lab = Lab::builder(unique_lab_name("bad"))
        .node("a")
        .node("b")
        .link(
            Endpoint::new("a", "eth0").addr("10.0.0.1/24"),
            Endpoint::new("b", "eth0").addr("10.0.0.2/24"),
        )
        .up()
        .unwrap();
    let msg = lab
        .node("a")
        .unwrap()
        .interface("eth7")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("eth7") && msg.contains("eth0"), "{msg}");
}
