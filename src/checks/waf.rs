//! The WAF per-IP rate rule: a limit per evaluation window, never per second.

use super::{Finding, Problem, finding};
use crate::ir::derive::{WEB_ACL_CAPACITY, waf_limit, web_acl_capacity};
use crate::spec::Spec;

/// The evaluation windows AWS WAF offers, in seconds.
pub const WAF_WINDOWS: [u64; 4] = [60, 120, 300, 600];
/// AWS WAF's smallest rate-based limit.
pub const WAF_MIN_LIMIT: u64 = 10;
/// AWS WAF's largest rate-based limit.
pub const WAF_MAX_LIMIT: u64 = 2_000_000_000;

pub(super) fn check(spec: &Spec, out: &mut Vec<Finding>) {
    let limits = &spec.limits;
    let window = *limits.per_ip_window;
    let rate = *limits.per_ip_rate;
    if !window
        .whole_secs()
        .is_some_and(|s| WAF_WINDOWS.contains(&s))
    {
        out.push(finding(
            &limits.per_ip_window,
            limits.at,
            "limits.per_ip_window",
            Problem::WafWindow(window.to_string()),
        ));
    } else {
        match waf_limit(rate, window) {
            None => out.push(finding(
                &limits.per_ip_rate,
                limits.at,
                "limits.per_ip_rate",
                Problem::WafLimitNotWhole {
                    rate: rate.to_string(),
                    window: window.to_string(),
                },
            )),
            Some(limit) if !(WAF_MIN_LIMIT..=WAF_MAX_LIMIT).contains(&limit) => out.push(finding(
                &limits.per_ip_rate,
                limits.at,
                "limits.per_ip_rate",
                Problem::WafLimitRange {
                    rate: rate.to_string(),
                    window: window.to_string(),
                    limit,
                },
            )),
            Some(_) => {}
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for group in &spec.waf.managed_rules {
        if !seen.insert(group.value) {
            out.push(finding(
                group,
                spec.waf.at,
                "waf.managed_rules",
                Problem::DuplicateManagedRules(group.as_str()),
            ));
        }
    }
    let sets = [
        limits.exempt_cidrs.iter().any(|c| c.addr.is_ipv4()),
        limits.exempt_cidrs.iter().any(|c| c.addr.is_ipv6()),
    ];
    let managed: Vec<_> = spec.waf.managed_rules.iter().map(|m| m.value).collect();
    let capacity = web_acl_capacity(sets.iter().filter(|s| **s).count(), &managed);
    if capacity > WEB_ACL_CAPACITY {
        out.push(Finding {
            at: spec.waf.at.or(limits.at),
            path: "waf.managed_rules".into(),
            problem: Problem::WafCapacity(capacity),
        });
    }
    if rate.per_second() > limits.api_rate.per_second() {
        out.push(finding(
            &limits.per_ip_rate,
            limits.at,
            "limits.per_ip_rate",
            Problem::PerIpAboveApi {
                per_ip: rate.to_string(),
                api: limits.api_rate.to_string(),
            },
        ));
    }
}
