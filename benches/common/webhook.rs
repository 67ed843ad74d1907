#![allow(dead_code)]
//! The signed webhook the benchmarks send: a Stripe-style `payment_intent.succeeded` event of
//! about 2 KB, numbered `i`, signed with `secret` at `now` as Stripe signs.

use wh_runtime::verify::{Scheme, sign};

/// Headers and body of webhook `i`.
pub fn stripe(secret: &str, i: u64, now: i64) -> (Vec<(String, String)>, Vec<u8>) {
    let pad = "x".repeat(1_800);
    let body = format!(r#"{{"id":"evt_{i}","type":"payment_intent.succeeded","data":{{"object":{{"id":"pi_{i}","amount":1299,"currency":"eur","description":"{pad}"}}}}}}"#).into_bytes();
    let headers = sign(
        &Scheme::Stripe {
            tolerance_secs: 300,
        },
        secret,
        &body,
        now,
        "",
    )
    .unwrap_or_default();
    (headers, body)
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
