//! Each signature scheme's header parsing and verification with headers nobody signed; input
//! format and property in `runtime/tests/support/fuzz_receiver.rs`.
#![no_main]

#[path = "../../runtime/tests/support/fuzz_receiver.rs"]
mod harness;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = harness::SchemeInput::from_bytes(data).check() {
        panic!("{e}");
    }
});
