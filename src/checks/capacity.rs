//! The capacity model's verdicts ([`crate::ir::capacity`]), placed at the spec field that moves
//! each need or limit.

use super::{Finding, Problem};
use crate::ir::capacity::{Figure, Verdict};
use crate::spec::{Pos, Spec};

pub(super) fn check(spec: &Spec, model: &[Figure]) -> Vec<Finding> {
    model
        .iter()
        .filter(|figure| figure.verdict() != Verdict::Holds)
        .map(|figure| Finding {
            at: position(spec, figure.field),
            path: figure.field.to_owned(),
            problem: Problem::Capacity(Box::new(figure.clone())),
        })
        .collect()
}

/// Where the field `path` is written (or its section, when it was left to its default).
fn position(spec: &Spec, path: &str) -> Pos {
    let l = &spec.limits;
    let c = &spec.concurrency;
    let at = |value: Pos, section: Pos| value.or(section);
    match path {
        "limits.api_rate" => at(l.api_rate.at, l.at),
        "limits.api_burst" => at(l.api_burst.at, l.at),
        "limits.max_payload" => at(l.max_payload.at, l.at),
        "limits.typical_payload" => at(l.typical_payload.at, l.at),
        "concurrency.receiver.reserved" => at(c.receiver.reserved.at, c.receiver.at),
        "concurrency.processor.reserved" => at(c.processor.reserved.at, c.processor.at),
        "concurrency.processor.batch_size" => at(c.processor.batch_size.at, c.processor.at),
        "concurrency.audit.reserved" => at(c.audit.reserved.at, c.audit.at),
        "concurrency.audit.expected_duration" => at(c.audit.expected_duration.at, c.audit.at),
        "alerts.critical_events" => spec.alerts.at,
        _ => spec.name.at,
    }
}
