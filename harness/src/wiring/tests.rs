//! The wiring's own checks, below what the public builder can express.

use super::{Wiring, plan};
use crate::Error;

/// An extra address on an interface the node lacks is refused by the plan
/// (before anything is built), naming the field, the interface and the lab
/// (moved from tests/harness/core.rs `bad_inputs_give_clear_errors`: the
/// public builder no longer adds bare addresses).
#[test]
fn an_address_on_an_unknown_interface_is_refused() {
    let w = Wiring::new("bad")
        .node("a")
        .address("a", "eth9", "10.0.0.1/24");
    match plan(&w) {
        Err(Error::Invalid {
            field,
            message,
            subject,
        }) => {
            assert_eq!(field, "interface", "wrong field in error: {message}");
            assert!(
                message.contains("no interface named \"eth9\""),
                "message {message:?} lacks the interface"
            );
            assert!(subject.lab.is_some(), "error names no lab");
        }
        Err(other) => panic!("expected an invalid-interface error, got: {other}"),
        Ok(_) => panic!("a bad spec was accepted (expected error on interface)"),
    }
}
