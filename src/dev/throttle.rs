//! API Gateway's stage throttle as AWS documents it: a token bucket holding at most `burst`
//! tokens, refilled at `rate` per second; a request takes a token or is answered 429.

use std::time::Duration;

/// A token bucket. Time is passed in, so the arithmetic is testable and exact.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate_per_sec: f64,
    burst: f64,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket at time `now` (time since any fixed origin).
    pub fn new(rate_per_sec: f64, burst: u32, now: Duration) -> Self {
        TokenBucket {
            rate_per_sec,
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: now,
        }
    }

    /// Takes a token at `now`; false means throttled.
    pub fn take(&mut self, now: Duration) -> bool {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate_per_sec).min(self.burst);
        // Refills are summed in floating point; a token that is 1e-9 short is a whole one.
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_full_bucket_lets_the_burst_through_then_the_rate() {
        let mut b = TokenBucket::new(100.0, 20, ms(0));
        let burst = (0..50).filter(|_| b.take(ms(0))).count();
        assert_eq!(burst, 20, "the burst, all at once");
        // Over the next second, 100 tokens arrive: one every 10 ms.
        let steady = (1..=1000).filter(|t| b.take(ms(*t))).count();
        assert_eq!(steady, 100);
    }

    #[test]
    fn idle_time_refills_up_to_the_burst_only() {
        let mut b = TokenBucket::new(10.0, 5, ms(0));
        for _ in 0..5 {
            assert!(b.take(ms(0)));
        }
        assert!(!b.take(ms(0)));
        let after_idle = (0..20).filter(|_| b.take(ms(60_000))).count();
        assert_eq!(after_idle, 5);
    }
}
