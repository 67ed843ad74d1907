//! The spec loader and checks over any text; the property is in `tests/common/fuzz_spec.rs`.
#![no_main]

#[path = "../../tests/common/fuzz_spec.rs"]
mod harness;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The loader reads files as UTF-8 text; other bytes never reach it.
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(e) = harness::check_spec(text)
    {
        panic!("{e}");
    }
});
