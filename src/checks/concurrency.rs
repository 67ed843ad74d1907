//! Lambda concurrency, capacity and sizing.

use super::{Finding, Problem, finding};
use crate::ir::derive::{
    MAX_MAX_RECEIVE_COUNT, MIN_MAX_RECEIVE_COUNT, MIN_SQS_SOURCE_CONCURRENCY, MIN_UNRESERVED,
    receiver_concurrency_needed, unreserved_left,
};
use crate::spec::{Duration, Loc, Pos, Size, Spec};

/// API Gateway's integration timeout: a receiver slower than this is cut off with a 504.
const API_INTEGRATION_TIMEOUT: &str = "29s";
// The processing queue's visibility timeout (6 x timeout + window) needs no check of its own:
// with timeout <= 15m and window <= 5m it stays far below SQS's 12h maximum.

pub(super) fn check(spec: &Spec, out: &mut Vec<Finding>) {
    let c = &spec.concurrency;
    let (r, p, a) = (&c.receiver, &c.processor, &c.audit);

    let reserved = [*r.reserved, *p.reserved, *a.reserved];
    let left = unreserved_left(*c.account_limit, &reserved);
    if *c.account_limit <= MIN_UNRESERVED {
        out.push(finding(
            &c.account_limit,
            c.at,
            "concurrency.account_limit",
            Problem::NoReservableConcurrency(*c.account_limit),
        ));
    } else if left < i64::from(MIN_UNRESERVED) {
        out.push(finding(
            &c.account_limit,
            c.at,
            "concurrency",
            Problem::UnreservedBelowMinimum {
                total: reserved.iter().map(|x| u64::from(*x)).sum(),
                receiver: reserved[0],
                processor: reserved[1],
                audit: reserved[2],
                account: *c.account_limit,
                left,
                allowed: i64::from(*c.account_limit) - i64::from(MIN_UNRESERVED),
            },
        ));
    }
    for (path, value) in [
        ("concurrency.receiver.reserved", &r.reserved),
        ("concurrency.processor.reserved", &p.reserved),
        ("concurrency.audit.reserved", &a.reserved),
    ] {
        if **value == 0 {
            out.push(finding(value, c.at, path, Problem::ZeroReserved));
        }
    }

    let needed = receiver_concurrency_needed(*spec.limits.api_rate, *r.expected_duration);
    if *r.reserved > 0 && needed > u64::from(*r.reserved) {
        out.push(finding(
            &r.reserved,
            r.at,
            "concurrency.receiver.reserved",
            Problem::ReceiverUnderCapacity {
                needed,
                reserved: *r.reserved,
                rate: spec.limits.api_rate.to_string(),
                duration: r.expected_duration.to_string(),
            },
        ));
    }
    if (1..MIN_SQS_SOURCE_CONCURRENCY).contains(&*p.reserved) {
        out.push(finding(
            &p.reserved,
            p.at,
            "concurrency.processor.reserved",
            Problem::ProcessorBelowEventSource {
                reserved: *p.reserved,
            },
        ));
    }

    memory(&r.memory, r.at, "concurrency.receiver.memory", out);
    memory(&p.memory, p.at, "concurrency.processor.memory", out);
    memory(&a.memory, a.at, "concurrency.audit.memory", out);
    timeout(
        &r.timeout,
        r.at,
        "concurrency.receiver.timeout",
        API_INTEGRATION_TIMEOUT,
        " (API Gateway cuts the integration off at 29s)",
        out,
    );
    timeout(
        &p.timeout,
        p.at,
        "concurrency.processor.timeout",
        "15m",
        "",
        out,
    );
    timeout(
        &a.timeout,
        a.at,
        "concurrency.audit.timeout",
        "15m",
        "",
        out,
    );

    let window = *p.batching_window;
    if window.whole_secs().is_none_or(|s| s > 300) {
        out.push(finding(
            &p.batching_window,
            p.at,
            "concurrency.processor.batching_window",
            Problem::BatchingWindow(window.to_string()),
        ));
    }
    // SQS event sources take up to 10 per batch unless a batching window of at least 1s gathers more.
    let (max_batch, why) = if window.as_millis() >= 1_000 {
        (10_000, " (SQS event sources with a batching window)")
    } else {
        (
            10,
            " (SQS event sources without a batching window; set one of at least 1s for more)",
        )
    };
    if !(1..=max_batch).contains(&*p.batch_size) {
        out.push(finding(
            &p.batch_size,
            p.at,
            "concurrency.processor.batch_size",
            Problem::BatchSize {
                value: *p.batch_size,
                min: 1,
                max: max_batch,
                why,
            },
        ));
    }
    if !(MIN_MAX_RECEIVE_COUNT..=MAX_MAX_RECEIVE_COUNT).contains(&*p.max_receive_count) {
        out.push(finding(
            &p.max_receive_count,
            p.at,
            "concurrency.processor.max_receive_count",
            Problem::MaxReceiveCount(*p.max_receive_count),
        ));
    }
    if !(1..=10_000).contains(&*a.batch_size) {
        out.push(finding(
            &a.batch_size,
            a.at,
            "concurrency.audit.batch_size",
            Problem::BatchSize {
                value: *a.batch_size,
                min: 1,
                max: 10_000,
                why: " (DynamoDB stream event sources)",
            },
        ));
    }
    if *a.max_retries > 10_000 {
        out.push(finding(
            &a.max_retries,
            a.at,
            "concurrency.audit.max_retries",
            Problem::RetriesRange(*a.max_retries),
        ));
    }
}

fn memory(value: &Loc<Size>, section: Pos, path: &str, out: &mut Vec<Finding>) {
    if !value
        .whole_mib()
        .is_some_and(|mib| (128..=10_240).contains(&mib))
    {
        out.push(finding(
            value,
            section,
            path,
            Problem::MemoryRange(value.to_string()),
        ));
    }
}

fn timeout(
    value: &Loc<Duration>,
    section: Pos,
    path: &str,
    max: &'static str,
    why: &'static str,
    out: &mut Vec<Finding>,
) {
    let max_secs = max.parse::<Duration>().map_or(0, |d| d.as_millis() / 1_000);
    if !value
        .whole_secs()
        .is_some_and(|s| (1..=max_secs).contains(&s))
    {
        out.push(finding(
            value,
            section,
            path,
            Problem::TimeoutRange {
                value: value.to_string(),
                min: "1s",
                max,
                why,
            },
        ));
    }
}
