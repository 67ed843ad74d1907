//! Verdicts from timed answers. They are timing-based by nature; each states its tolerance and
//! why.

use std::time::Duration;

use serde::Serialize;

use crate::Answer;

/// Answers by class, kept apart in every report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// 2xx.
    pub ok_2xx: u64,
    /// 429 (throttled).
    pub throttled_429: u64,
    /// 403 (WAF).
    pub blocked_403: u64,
    /// Other 4xx.
    pub other_4xx: u64,
    /// 5xx.
    pub server_5xx: u64,
    /// No answer (connection error, timeout).
    pub no_answer: u64,
}

/// Counts `answers` by class.
pub fn counts(answers: &[Answer]) -> Counts {
    let mut c = Counts::default();
    for a in answers {
        match a.status {
            200..=299 => c.ok_2xx += 1,
            429 => c.throttled_429 += 1,
            403 => c.blocked_403 += 1,
            400..=499 => c.other_4xx += 1,
            500..=599 => c.server_5xx += 1,
            _ => c.no_answer += 1,
        }
    }
    c
}

/// One check's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// The check.
    pub check: &'static str,
    /// Passed?
    pub pass: bool,
    /// What was measured.
    pub measured: String,
    /// What was expected, with the tolerance.
    pub expected: String,
    /// Why the tolerance is what it is.
    pub tolerance_reason: &'static str,
    /// The phase's answers by class.
    pub counts: Counts,
}

/// The stage throttle: once the burst has drained, the accepted rate is within 5 % of `rate`
/// and the excess is answered 429. `offered` is the arrival rate asked of the generator.
///
/// The bucket has drained when the first 429 comes back (a token bucket refuses nothing while
/// it holds tokens), so the accepted rate is measured from half a second after that to half a
/// second before the end: a window that does not depend on how fast the generator ramped up.
pub fn throttle(
    answers: &[Answer],
    rate: f64,
    burst: u32,
    offered: f64,
    elapsed: Duration,
) -> Verdict {
    let drained = answers
        .iter()
        .filter(|a| a.status == 429)
        .map(|a| a.at)
        .min();
    let from = drained.map_or(elapsed, |t| t + Duration::from_millis(500));
    let to = elapsed.saturating_sub(Duration::from_millis(500));
    let window = to.saturating_sub(from).as_secs_f64();
    let accepted = answers
        .iter()
        .filter(|a| (200..300).contains(&a.status) && a.at >= from && a.at < to)
        .count();
    let measured = if window > 0.0 {
        accepted as f64 / window
    } else {
        0.0
    };
    let c = counts(answers);
    let pass = window >= 1.0 && (measured - rate).abs() <= 0.05 * rate && c.throttled_429 > 0;
    Verdict {
        check: "throttle",
        pass,
        measured: format!(
            "{measured:.1} accepted/s over {window:.1} s after the burst of {burst} drained; {} answered 429",
            c.throttled_429
        ),
        expected: format!(
            "{rate:.1}/s ± 5 % with the excess answered 429 (offered {offered:.0}/s)"
        ),
        tolerance_reason: "a token bucket is exact on average; 5 % covers scheduling jitter of client and server over a window of seconds",
        counts: c,
    }
}

/// The burst: after idling, a burst of `burst` requests is accepted.
pub fn burst(answers: &[Answer], burst: u32) -> Verdict {
    let c = counts(answers);
    let needed = (f64::from(burst) * 0.95).floor() as u64;
    Verdict {
        check: "burst",
        pass: c.ok_2xx >= needed && c.server_5xx == 0,
        measured: format!("{} of {} accepted", c.ok_2xx, answers.len()),
        expected: format!("at least {needed} of a burst of {burst} (95 %)"),
        tolerance_reason: "requests that arrive after others' answers see a bucket that has refilled, never emptier; 5 % covers ones lost to the client's own start-up",
        counts: c,
    }
}

/// The per-IP rule: the source at index `noisy` is blocked (403) within `allowed` of crossing
/// `limit` requests in the window.
pub fn per_ip(
    answers: &[Answer],
    noisy: usize,
    limit: u64,
    allowed: Duration,
    allowed_reason: &'static str,
) -> Verdict {
    let c = counts(answers);
    let mut from_noisy: Vec<&Answer> = answers.iter().filter(|a| a.source == noisy).collect();
    from_noisy.sort_by_key(|a| a.sent);
    let crossing = usize::try_from(limit)
        .ok()
        .and_then(|l| from_noisy.get(l))
        .map(|a| a.sent);
    let first_block = from_noisy
        .iter()
        .filter(|a| a.status == 403)
        .map(|a| a.at)
        .min();
    let (pass, measured) = match (crossing, first_block) {
        (Some(cross), Some(block)) => {
            let delay = block.saturating_sub(cross);
            (
                delay <= allowed,
                format!(
                    "blocked {:.2} s after crossing {limit} requests",
                    delay.as_secs_f64()
                ),
            )
        }
        (Some(_), None) => (
            false,
            format!("never blocked after crossing {limit} requests"),
        ),
        (None, _) => (
            false,
            format!(
                "sent only {} requests, fewer than the limit {limit}",
                from_noisy.len()
            ),
        ),
    };
    Verdict {
        check: "per-ip",
        pass,
        measured,
        expected: format!(
            "403 within {:.1} s of crossing the limit",
            allowed.as_secs_f64()
        ),
        tolerance_reason: allowed_reason,
        counts: c,
    }
}

/// The `q` quantile of answer latencies (answer time minus send time).
pub fn latency_quantile(answers: &[Answer], q: f64) -> Option<Duration> {
    let mut l: Vec<Duration> = answers
        .iter()
        .filter(|a| a.status != 0)
        .map(|a| a.at.saturating_sub(a.sent))
        .collect();
    l.sort();
    let i = ((l.len() as f64 * q).ceil() as usize).saturating_sub(1);
    l.get(i.min(l.len().saturating_sub(1))).copied()
}

/// The soak: no 5xx, a p99 in the second half no worse than twice the first half's plus 5 ms,
/// and afterwards (`drained`) no webhook left unprocessed and nothing in the DLQ.
pub fn soak(answers: &[Answer], elapsed: Duration, drained: Result<(), String>) -> Verdict {
    let c = counts(answers);
    let half = elapsed / 2;
    let (first, second): (Vec<Answer>, Vec<Answer>) = answers.iter().partition(|a| a.sent < half);
    let p99 = |a: &[Answer]| latency_quantile(a, 0.99).unwrap_or_default();
    let (p1, p2) = (p99(&first), p99(&second));
    let stable = p2 <= p1 * 2 + Duration::from_millis(5);
    let pass = c.server_5xx == 0 && c.no_answer == 0 && c.ok_2xx > 0 && stable && drained.is_ok();
    Verdict {
        check: "soak",
        pass,
        measured: format!(
            "p99 {:.1} ms then {:.1} ms; {} 5xx; {}",
            p1.as_secs_f64() * 1e3,
            p2.as_secs_f64() * 1e3,
            c.server_5xx,
            drained
                .err()
                .unwrap_or_else(|| "every accepted webhook processed, DLQ empty".into())
        ),
        expected: "no 5xx, second-half p99 <= 2 x first-half p99 + 5 ms, all processed, DLQ empty"
            .into(),
        tolerance_reason: "latency drifts with the machine's other work; doubling plus 5 ms flags growth (a leak, a backlog), not noise",
        counts: c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(at_ms: u64, status: u16, source: usize) -> Answer {
        Answer {
            at: Duration::from_millis(at_ms),
            sent: Duration::from_millis(at_ms),
            status,
            source,
        }
    }

    #[test]
    fn throttle_passes_at_the_rate_and_fails_without_429s() {
        // 100/s accepted for 10 s, 50/s refused.
        let mut answers: Vec<Answer> = (0..1000).map(|i| answer(i * 10, 200, 0)).collect();
        answers.extend((0..500).map(|i| answer(i * 20, 429, 0)));
        assert!(throttle(&answers, 100.0, 10, 150.0, Duration::from_secs(10)).pass);
        let unthrottled: Vec<Answer> = (0..1500)
            .map(|i| answer(i * 10 / 15 * 10 / 10, 200, 0))
            .collect();
        assert!(!throttle(&unthrottled, 100.0, 10, 150.0, Duration::from_secs(10)).pass);
    }

    #[test]
    fn per_ip_measures_from_the_crossing() {
        let mut answers: Vec<Answer> = (0..10).map(|i| answer(i * 100, 200, 0)).collect();
        answers.push(answer(1_050, 403, 0));
        let v = per_ip(&answers, 0, 10, Duration::from_secs(1), "");
        assert!(v.pass, "{}", v.measured);
        let v = per_ip(&answers[..10], 0, 10, Duration::from_secs(1), "");
        assert!(!v.pass);
    }

    #[test]
    fn soak_flags_5xx_growth_and_leftovers() {
        let steady: Vec<Answer> = (0..100)
            .map(|i| Answer {
                at: Duration::from_millis(i * 100 + 2),
                sent: Duration::from_millis(i * 100),
                status: 200,
                source: 0,
            })
            .collect();
        assert!(soak(&steady, Duration::from_secs(10), Ok(())).pass);
        assert!(!soak(&steady, Duration::from_secs(10), Err("3 in the DLQ".into())).pass);
        let mut slowing = steady.clone();
        for a in slowing.iter_mut().skip(50) {
            a.at = a.sent + Duration::from_millis(50);
        }
        assert!(!soak(&slowing, Duration::from_secs(10), Ok(())).pass);
        let mut failing = steady;
        failing[3].status = 502;
        assert!(!soak(&failing, Duration::from_secs(10), Ok(())).pass);
    }

    #[test]
    fn counts_keep_classes_apart() {
        let c = counts(&[
            answer(0, 200, 0),
            answer(0, 429, 0),
            answer(0, 403, 0),
            answer(0, 401, 0),
            answer(0, 503, 0),
            answer(0, 0, 0),
        ]);
        assert_eq!(
            c,
            Counts {
                ok_2xx: 1,
                throttled_429: 1,
                blocked_403: 1,
                other_4xx: 1,
                server_5xx: 1,
                no_answer: 1
            }
        );
    }
}
