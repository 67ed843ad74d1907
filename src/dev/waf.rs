//! WAF's per-IP rate rule on loopback, in one of two modes.
//!
//! - **exact** (the default): an address that sent more than `limit` requests in the last
//!   `window` is blocked (403) until its count in the window falls back to the limit; judged
//!   at every request.
//! - **aws**: as AWS WAF behaves in front of a deployed stack. WAF "checks the rate
//!   frequently" and "looks back at the number of requests that came in during the configured
//!   evaluation window", with a delay before it acts "usually ... below 30 seconds"
//!   (<https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based-caveats.html>).
//!   Here: every [`AWS_EVERY`] the count of each address over the window is compared with the
//!   limit, and the decision (block or lift) takes effect [`AWS_LAG`] later. So a block comes
//!   5 to 15 s after the crossing, within the 40 s the load test allows a deployed stack.
//!
//! Both count every request, blocked ones included, as AWS does.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use wh::spec::Cidr;

/// How often the aws mode re-evaluates.
pub const AWS_EVERY: Duration = Duration::from_secs(10);

/// How long after an evaluation its decision takes effect in the aws mode.
pub const AWS_LAG: Duration = Duration::from_secs(5);

/// The rule's verdict for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Passed on to the API.
    Allow,
    /// Answered 403 by WAF.
    Block,
}

/// How the rule decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// At every request, exactly.
    Exact,
    /// Every 10 s over the window, acting 5 s later (AWS-like).
    Aws,
}

#[derive(Debug, Default)]
struct Address {
    times: VecDeque<Duration>,
    blocked: bool,
    /// Decisions not yet in effect: (from when, blocked).
    pending: VecDeque<(Duration, bool)>,
}

/// The per-IP rate rule with its exempt networks.
#[derive(Debug)]
pub struct PerIpRule {
    limit: usize,
    window: Duration,
    exempt: Vec<Cidr>,
    mode: Mode,
    next_evaluation: Duration,
    seen: BTreeMap<IpAddr, Address>,
}

impl PerIpRule {
    /// `limit` requests per `window`, not applied to `exempt` sources.
    pub fn new(limit: u64, window: Duration, exempt: Vec<Cidr>, mode: Mode) -> Self {
        PerIpRule {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            window,
            exempt,
            mode,
            next_evaluation: AWS_EVERY,
            seen: BTreeMap::new(),
        }
    }

    /// Counts a request from `ip` at `now` and judges it.
    pub fn check(&mut self, ip: IpAddr, now: Duration) -> Verdict {
        if self.exempt.iter().any(|c| c.contains(ip)) {
            return Verdict::Allow;
        }
        if self.mode == Mode::Aws {
            while self.next_evaluation <= now {
                self.evaluate(self.next_evaluation);
                self.next_evaluation += AWS_EVERY;
            }
        }
        let window = self.window;
        let a = self.seen.entry(ip).or_default();
        a.times.push_back(now);
        match self.mode {
            Mode::Exact => {
                while a
                    .times
                    .front()
                    .is_some_and(|t| now.saturating_sub(*t) >= window)
                {
                    a.times.pop_front();
                }
                if a.times.len() > self.limit {
                    Verdict::Block
                } else {
                    Verdict::Allow
                }
            }
            Mode::Aws => {
                while let Some(&(from, blocked)) = a.pending.front()
                    && from <= now
                {
                    a.blocked = blocked;
                    a.pending.pop_front();
                }
                if a.blocked {
                    Verdict::Block
                } else {
                    Verdict::Allow
                }
            }
        }
    }

    /// The aws mode's evaluation at `t`: each address's count over `(t - window, t]`.
    fn evaluate(&mut self, t: Duration) {
        for a in self.seen.values_mut() {
            while a
                .times
                .front()
                .is_some_and(|x| t.saturating_sub(*x) >= self.window)
            {
                a.times.pop_front();
            }
            let count = a.times.iter().take_while(|x| **x <= t).count();
            let over = count > self.limit;
            let last = a.pending.back().map_or(a.blocked, |(_, b)| *b);
            if over != last {
                a.pending.push_back((t + AWS_LAG, over));
            }
        }
    }

    /// Forgets addresses with nothing left in the window and nothing pending (keeps memory
    /// bounded).
    pub fn prune(&mut self, now: Duration) {
        let window = self.window;
        self.seen.retain(|_, a| {
            a.blocked
                || !a.pending.is_empty()
                || a.times
                    .back()
                    .is_some_and(|t| now.saturating_sub(*t) < window)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_over_the_limit_is_blocked_while_others_are_served() {
        let mut rule = PerIpRule::new(10, Duration::from_secs(60), vec![], Mode::Exact);
        let t = Duration::from_secs(1);
        let verdicts: Vec<Verdict> = (0..12).map(|_| rule.check(ip("127.0.0.9"), t)).collect();
        assert_eq!(
            verdicts.iter().filter(|v| **v == Verdict::Allow).count(),
            10
        );
        assert_eq!(verdicts[10], Verdict::Block);
        assert_eq!(rule.check(ip("127.0.0.10"), t), Verdict::Allow);
    }

    #[test]
    fn the_block_lifts_when_the_window_slides_past() {
        let mut rule = PerIpRule::new(10, Duration::from_secs(60), vec![], Mode::Exact);
        for _ in 0..11 {
            rule.check(ip("10.0.0.1"), Duration::from_secs(0));
        }
        assert_eq!(
            rule.check(ip("10.0.0.1"), Duration::from_secs(59)),
            Verdict::Block
        );
        assert_eq!(
            rule.check(ip("10.0.0.1"), Duration::from_secs(60)),
            Verdict::Allow,
            "the first 11 left the window"
        );
    }

    #[test]
    fn exempt_networks_are_never_counted() {
        let mut rule = PerIpRule::new(
            10,
            Duration::from_secs(60),
            vec!["127.0.1.0/24".parse().unwrap()],
            Mode::Aws,
        );
        assert!(
            (0..100)
                .all(|_| rule.check(ip("127.0.1.7"), Duration::from_secs(30)) == Verdict::Allow)
        );
    }

    #[test]
    fn the_aws_mode_blocks_at_the_next_evaluation_plus_the_lag_and_lifts_the_same_way() {
        let mut rule = PerIpRule::new(10, Duration::from_secs(60), vec![], Mode::Aws);
        let a = ip("127.0.0.5");
        // 11 requests by 1 s: over the limit, but nothing happens until the evaluation at
        // 10 s, and its block only from 15 s.
        for _ in 0..11 {
            assert_eq!(rule.check(a, Duration::from_secs(1)), Verdict::Allow);
        }
        assert_eq!(rule.check(a, Duration::from_millis(14_999)), Verdict::Allow);
        assert_eq!(rule.check(a, Duration::from_secs(15)), Verdict::Block);
        assert_eq!(
            rule.check(ip("127.0.0.6"), Duration::from_secs(15)),
            Verdict::Allow
        );
        // At 70 s the 1 s requests have left the window (2 later ones remain): lifted at 75 s.
        assert_eq!(rule.check(a, Duration::from_secs(74)), Verdict::Block);
        assert_eq!(rule.check(a, Duration::from_secs(75)), Verdict::Allow);
    }
}
