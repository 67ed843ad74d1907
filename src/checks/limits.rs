//! API throttle and payload limits.

use super::{Finding, Problem, finding};
use crate::ir::capacity::{HEADER_ALLOWANCE, MAX_ITEM_BYTES};
use crate::spec::{Size, Spec};

/// The largest body the webhook table can hold: DynamoDB's 400 KB item limit, less room for
/// the stored headers, ids, status and timestamps. (The account's API throttle and burst are
/// quotas, judged by the capacity model.)
pub const MAX_PAYLOAD: Size = Size::from_bytes(MAX_ITEM_BYTES - HEADER_ALLOWANCE);

pub(super) fn check(spec: &Spec, out: &mut Vec<Finding>) {
    let limits = &spec.limits;
    if *limits.api_burst == 0 {
        out.push(finding(
            &limits.api_burst,
            limits.at,
            "limits.api_burst",
            Problem::ZeroBurst,
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
    if limits.typical_payload.bytes() == 0 || *limits.typical_payload > *limits.max_payload {
        out.push(finding(
            &limits.typical_payload,
            limits.at,
            "limits.typical_payload",
            Problem::TypicalPayload {
                value: limits.typical_payload.to_string(),
                max: limits.max_payload.to_string(),
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
