//! Alert subscriptions and alarm thresholds.

use super::{Finding, Problem, finding};
use crate::spec::Spec;

pub(super) fn check(spec: &Spec, out: &mut Vec<Finding>) {
    let alerts = &spec.alerts;
    for email in &alerts.emails {
        if !is_email(email) {
            out.push(finding(
                email,
                alerts.at,
                "alerts.emails",
                Problem::BadEmail(email.value.clone()),
            ));
        }
    }
    for event in &alerts.critical_events {
        let ok = !event.is_empty()
            && event.len() <= 128
            && event
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:/".contains(c));
        if !ok {
            out.push(finding(
                event,
                alerts.at,
                "alerts.critical_events",
                Problem::BadEventType(event.value.clone()),
            ));
        }
    }
    let t = &alerts.thresholds;
    let section = t.at.or(alerts.at);
    if !t
        .period
        .whole_secs()
        .is_some_and(|s| s % 60 == 0 && (60..=86_400).contains(&s))
    {
        out.push(finding(
            &t.period,
            section,
            "alerts.thresholds.period",
            Problem::AlarmPeriod(t.period.to_string()),
        ));
    }
    for (path, value) in [
        ("alerts.thresholds.dlq_depth", &t.dlq_depth),
        ("alerts.thresholds.function_errors", &t.function_errors),
        (
            "alerts.thresholds.function_throttles",
            &t.function_throttles,
        ),
        ("alerts.thresholds.api_5xx", &t.api_5xx),
        ("alerts.thresholds.waf_blocked", &t.waf_blocked),
        (
            "alerts.thresholds.signature_failures",
            &t.signature_failures,
        ),
    ] {
        if **value == 0 {
            out.push(finding(value, section, path, Problem::ZeroThreshold));
        }
    }
    if t.iterator_age.as_millis() < 1_000 {
        out.push(finding(
            &t.iterator_age,
            section,
            "alerts.thresholds.iterator_age",
            Problem::ZeroThreshold,
        ));
    }
}

/// One `@`, a non-empty local part and a dotted domain: SNS confirms the rest by mail.
fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}
