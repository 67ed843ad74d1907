//! WAF's per-IP rate rule, emulated exactly: an address that sent more than `limit` requests in
//! the last `window` is blocked (403) until its count in the window falls back to the limit.
//!
//! AWS differs on purpose-blind details (see the README): it re-evaluates about every 10 s with
//! a weighted estimate and blocks with a lag usually under 30 s, and it counts requests it
//! blocks. This counts every request too, blocked ones included, and acts at once.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use wh::spec::Cidr;

/// The rule's verdict for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Passed on to the API.
    Allow,
    /// Answered 403 by WAF.
    Block,
}

/// The per-IP rate rule with its exempt networks.
#[derive(Debug)]
pub struct PerIpRule {
    limit: usize,
    window: Duration,
    exempt: Vec<Cidr>,
    seen: BTreeMap<IpAddr, VecDeque<Duration>>,
}

impl PerIpRule {
    /// `limit` requests per `window`, not applied to `exempt` sources.
    pub fn new(limit: u64, window: Duration, exempt: Vec<Cidr>) -> Self {
        PerIpRule {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            window,
            exempt,
            seen: BTreeMap::new(),
        }
    }

    /// Counts a request from `ip` at `now` and judges it.
    pub fn check(&mut self, ip: IpAddr, now: Duration) -> Verdict {
        if self.exempt.iter().any(|c| c.contains(ip)) {
            return Verdict::Allow;
        }
        let times = self.seen.entry(ip).or_default();
        while times
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= self.window)
        {
            times.pop_front();
        }
        times.push_back(now);
        if times.len() > self.limit {
            Verdict::Block
        } else {
            Verdict::Allow
        }
    }

    /// Forgets addresses with nothing left in the window (keeps memory bounded).
    pub fn prune(&mut self, now: Duration) {
        let window = self.window;
        self.seen.retain(|_, times| {
            times
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
        let mut rule = PerIpRule::new(10, Duration::from_secs(60), vec![]);
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
        let mut rule = PerIpRule::new(10, Duration::from_secs(60), vec![]);
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
        );
        assert!((0..100).all(|_| rule.check(ip("127.0.1.7"), Duration::ZERO) == Verdict::Allow));
    }
}
