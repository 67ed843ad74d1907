//! Values the stack derives from the spec rather than letting anyone type them.
//!
//! Each function is the single place its rule lives; the checks judge the results and the
//! summary of `wh compile` prints them with [`Derived::rule`].

use crate::spec::{Duration, Rate};

/// AWS's floor on unreserved concurrency: "decreases account's UnreservedConcurrentExecution
/// below its minimum value of [100]".
pub const MIN_UNRESERVED: u32 = 100;

/// The smallest `maxReceiveCount` AWS advises for a queue behind a Lambda function: "Set the
/// maxReceiveCount on the queue's redrive policy to at least 5 to avoid sending messages to
/// the dead letter queue due to throttling"
/// (<https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html>). A whole-batch failure (a
/// timeout, an init error) spends one receive of every message in the batch, too.
pub const MIN_MAX_RECEIVE_COUNT: u32 = 5;

/// SQS's largest `maxReceiveCount`.
pub const MAX_MAX_RECEIVE_COUNT: u32 = 1_000;

/// The smallest `MaximumConcurrency` an SQS event source accepts.
pub const MIN_SQS_SOURCE_CONCURRENCY: u32 = 2;

/// WAF's per-window request limit for a per-IP `rate` over `window`: `rate x window`, when
/// that is a whole number. (600 with the default 300 s window is 2 req/s, not 10.)
pub fn waf_limit(rate: Rate, window: Duration) -> Option<u64> {
    rate.in_window(window)
}

/// The processing queue's visibility timeout: AWS's advice for Lambda event sources is at
/// least six times the function timeout, plus the batching window.
pub fn visibility_timeout(processor_timeout: Duration, batching_window: Duration) -> Duration {
    Duration::from_secs(6 * processor_timeout.secs_ceil() + batching_window.secs_ceil())
}

/// The SQS event source's `MaximumConcurrency`: the processor's reserved concurrency, so the
/// poller never invokes into throttles (which burn receives and push good messages to the DLQ),
/// but at least the event source's minimum of 2.
pub fn event_source_max_concurrency(processor_reserved: u32) -> u32 {
    processor_reserved.max(MIN_SQS_SOURCE_CONCURRENCY)
}

/// Receiver instances busy at once at the full API rate (Little's law: L = lambda x W),
/// rounded up.
pub fn receiver_concurrency_needed(api_rate: Rate, expected_duration: Duration) -> u64 {
    let busy = u128::from(api_rate.count) * u128::from(expected_duration.as_millis());
    let per = u128::from(api_rate.per.as_millis());
    u64::try_from(busy.div_ceil(per)).unwrap_or(u64::MAX)
}

/// Unreserved concurrency the account keeps after this stack's reservations (may be negative).
pub fn unreserved_left(account_limit: u32, reserved: &[u32]) -> i64 {
    i64::from(account_limit) - reserved.iter().map(|r| i64::from(*r)).sum::<i64>()
}

/// The web ACL capacity AWS allows without extra charge (WCU).
pub const WEB_ACL_CAPACITY: u32 = 1_500;

/// Web ACL capacity units: the rate-based rule costs 2 plus its scope-down (1 per IP set
/// referenced; the NOT and OR around them cost nothing), plus each managed group's published
/// cost.
pub fn web_acl_capacity(exempt_ip_sets: usize, managed: &[crate::spec::ManagedRules]) -> u32 {
    let rate_rule = 2 + u32::try_from(exempt_ip_sets).unwrap_or(u32::MAX);
    managed
        .iter()
        .fold(rate_rule, |sum, group| sum.saturating_add(group.capacity()))
}

/// A derived value as `wh compile` reports it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Derived {
    /// What the value is.
    pub what: &'static str,
    /// The value, with its unit.
    pub value: String,
    /// The rule that produced it.
    pub rule: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(s: &str) -> Rate {
        s.parse().unwrap()
    }

    #[test]
    fn waf_limit_is_rate_times_window() {
        assert_eq!(waf_limit(rate("10/s"), Duration::from_secs(60)), Some(600));
        // The seed's mistake: 600 over the default 300 s window is 2 req/s.
        assert_eq!(waf_limit(rate("2/s"), Duration::from_secs(300)), Some(600));
        assert_eq!(
            waf_limit(rate("10/s"), Duration::from_secs(300)),
            Some(3_000)
        );
    }

    #[test]
    fn visibility_is_six_timeouts_plus_window() {
        let v = visibility_timeout(Duration::from_secs(30), Duration::from_secs(5));
        assert_eq!(v, Duration::from_secs(185));
        let v = visibility_timeout(Duration::from_millis(1_500), Duration::from_millis(0));
        assert_eq!(v, Duration::from_secs(12));
    }

    #[test]
    fn littles_law_rounds_up() {
        assert_eq!(
            receiver_concurrency_needed(rate("1000/s"), Duration::from_millis(50)),
            50
        );
        assert_eq!(
            receiver_concurrency_needed(rate("1000/s"), Duration::from_millis(51)),
            51
        );
        assert_eq!(
            receiver_concurrency_needed(rate("10/m"), Duration::from_secs(7)),
            2
        );
    }

    #[test]
    fn event_source_concurrency_has_a_floor_of_two() {
        assert_eq!(event_source_max_concurrency(1), 2);
        assert_eq!(event_source_max_concurrency(20), 20);
    }

    #[test]
    fn web_acl_capacity_adds_the_rules_up() {
        use crate::spec::ManagedRules::{Common, KnownBadInputs};
        assert_eq!(web_acl_capacity(0, &[]), 2);
        assert_eq!(web_acl_capacity(1, &[Common, KnownBadInputs]), 903);
        assert_eq!(web_acl_capacity(2, &[Common, KnownBadInputs]), 904);
        assert!(web_acl_capacity(2, &[Common, Common, KnownBadInputs]) > WEB_ACL_CAPACITY);
    }

    #[test]
    fn unreserved_can_go_negative() {
        assert_eq!(unreserved_left(1000, &[100, 50, 20]), 830);
        assert_eq!(unreserved_left(10, &[10, 5]), -5);
    }
}
