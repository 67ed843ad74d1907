//! The receiver's whole request handling over the in-memory backends; input format and
//! properties in `runtime/tests/support/fuzz_receiver.rs`.
#![no_main]

#[path = "../../runtime/tests/support/fuzz_receiver.rs"]
mod harness;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static TARGET: OnceLock<harness::ReceiverTarget> = OnceLock::new();
    let target = TARGET.get_or_init(harness::ReceiverTarget::new);
    if let Err(e) = target.check(&harness::Delivery::from_bytes(data)) {
        panic!("{e}");
    }
});
