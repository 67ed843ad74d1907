//! API throttle and payload limits.

use super::{Finding, Problem, finding};
use crate::spec::{Size, Spec};

/// API Gateway's account-level default steady rate, per second.
pub const ACCOUNT_API_RATE: f64 = 10_000.0;
/// API Gateway's account-level default burst.
pub const ACCOUNT_API_BURST: u32 = 5_000;
/// The largest body the webhook table can hold: DynamoDB's 400 KB item limit, less 16 KiB for
/// the stored headers, ids, status and timestamps.
pub const MAX_PAYLOAD: Size = Size::from_bytes(384 * 1024);

pub(super) fn check(spec: &Spec, out: &mut Vec<Finding>) {
    let limits = &spec.limits;
    if limits.api_rate.per_second() > ACCOUNT_API_RATE {
        out.push(finding(
            &limits.api_rate,
            limits.at,
            "limits.api_rate",
            Problem::ApiRateAboveAccount(limits.api_rate.to_string()),
        ));
    }
    if !(1..=ACCOUNT_API_BURST).contains(&*limits.api_burst) {
        out.push(finding(
            &limits.api_burst,
            limits.at,
            "limits.api_burst",
            Problem::BurstRange(*limits.api_burst),
        ));
    }
    if *limits.max_payload > MAX_PAYLOAD {
        out.push(finding(
            &limits.max_payload,
            limits.at,
            "limits.max_payload",
            Problem::PayloadTooLarge {
                value: limits.max_payload.to_string(),
                max: MAX_PAYLOAD.to_string(),
            },
        ));
    }
    if limits.max_payload.bytes() < 1024 {
        out.push(finding(
            &limits.max_payload,
            limits.at,
            "limits.max_payload",
            Problem::PayloadTooSmall(limits.max_payload.to_string()),
        ));
    }
}
