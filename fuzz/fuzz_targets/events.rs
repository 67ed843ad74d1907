//! The Lambda glue's API Gateway, SQS and stream event decoding and the audit logger's
//! stream-image decoding: every decoder on each JSON input; properties in
//! `runtime/tests/support/fuzz_events.rs`.
#![no_main]

#[path = "../../runtime/tests/support/fuzz_events.rs"]
mod harness;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for check in [harness::check_api, harness::check_sqs, harness::check_stream] {
        if let Err(e) = check(&v) {
            panic!("{e}");
        }
    }
});
