//! Retention of queued messages, logs and records.

use super::{Finding, Problem, finding};
use crate::spec::{Duration, Loc, Spec};

/// The retention periods CloudWatch Logs accepts, in days.
pub const LOG_RETENTION_DAYS: [u64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// SQS's bounds on message retention, in seconds.
const SQS_RETENTION: std::ops::RangeInclusive<u64> = 60..=1_209_600;

pub(super) fn check(spec: &Spec, out: &mut Vec<Finding>) {
    let r = &spec.retention;
    let mut queue_ok = true;
    for (path, value) in [("retention.queue", &r.queue), ("retention.dlq", &r.dlq)] {
        if !value
            .whole_secs()
            .is_some_and(|s| SQS_RETENTION.contains(&s))
        {
            out.push(finding(
                value,
                r.at,
                path,
                Problem::QueueRetentionRange(value.to_string()),
            ));
            queue_ok = false;
        }
    }
    if queue_ok && *r.dlq <= *r.queue {
        out.push(finding(
            &r.dlq,
            r.at,
            "retention.dlq",
            Problem::DlqNotLonger {
                dlq: r.dlq.to_string(),
                queue: r.queue.to_string(),
            },
        ));
    }
    if !r
        .logs
        .whole_days()
        .is_some_and(|d| LOG_RETENTION_DAYS.contains(&d))
    {
        out.push(finding(
            &r.logs,
            r.at,
            "retention.logs",
            Problem::LogRetention(r.logs.to_string()),
        ));
    }
    ttl(&r.audit_records, r.at, "retention.audit_records", out);
    ttl(&r.processed_items, r.at, "retention.processed_items", out);
}

fn ttl(value: &Loc<Duration>, section: crate::spec::Pos, path: &str, out: &mut Vec<Finding>) {
    if value.whole_days().is_none_or(|d| d == 0) {
        out.push(finding(
            value,
            section,
            path,
            Problem::TtlRange(value.to_string()),
        ));
    }
}
