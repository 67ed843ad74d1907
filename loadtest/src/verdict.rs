//! Verdicts from timed answers. Each is two-sided (a limit too high fails as surely as one too
//! low), states its tolerance, and may be **inconclusive** when the measurement cannot decide
//! (the generator fell behind, or a deployed stack's documented slack covers the difference).
//!
//! The bands: against `wh dev` a tight one, against a deployed stack a pass band and a wider
//! fail band with inconclusive between them, because AWS does not enforce exactly. API
//! Gateway: "Both throttles and quotas are applied on a best-effort basis and should be thought
//! of as targets rather than guaranteed request ceilings"
//! (<https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html>).
//! WAF: "AWS WAF will apply rate limiting near the limit that you set, but does not guarantee
//! an exact limit match", and it can take "up to several minutes" to act, "usually ... below
//! 30 seconds"
//! (<https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based-caveats.html>).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Answer;
use crate::measure::{Mark, PhaseMeasure, StreamMeasure, TICK};

/// A check's or a part's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The stack did what the spec says, within the stated band.
    Pass,
    /// It did not.
    Fail,
    /// The measurement cannot decide (reason given).
    Inconclusive,
    /// Not run here (reason given): never counted as a pass.
    #[serde(rename = "not run")]
    NotRun,
}

impl Outcome {
    /// The worst of `parts`: a failure over an inconclusive part over a pass.
    pub fn worst(parts: impl IntoIterator<Item = Outcome>) -> Outcome {
        let mut out = Outcome::Pass;
        for p in parts {
            out = match (out, p) {
                (Outcome::Fail, _) | (_, Outcome::Fail) => Outcome::Fail,
                (Outcome::Inconclusive, _) | (_, Outcome::Inconclusive) => Outcome::Inconclusive,
                _ => Outcome::Pass,
            };
        }
        out
    }

    /// As the report shows it.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Inconclusive => "INCONCLUSIVE",
            Outcome::NotRun => "NOT RUN",
        }
    }
}

/// What is tested: which bands apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// `wh dev`: exact emulation, tight bands.
    Dev,
    /// A deployed stack: AWS's documented slack, wider bands with inconclusive between.
    Deployed,
}

/// A relative band around an expected value: within `pass` passes, beyond `fail` fails,
/// between is inconclusive (`pass == fail` leaves no room for that).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Band {
    /// Largest relative error that passes.
    pub pass: f64,
    /// Relative error beyond which it fails.
    pub fail: f64,
}

impl Band {
    /// Passes within `error`, fails beyond: no inconclusive room.
    const fn exact(error: f64) -> Band {
        Band {
            pass: error,
            fail: error,
        }
    }

    /// Passes within `pass`, fails beyond `fail`, inconclusive between.
    const fn widening(pass: f64, fail: f64) -> Band {
        Band { pass, fail }
    }

    /// The throttle's accepted rate: ±5 % on `wh dev` (a token bucket is exact on average; 5 %
    /// covers scheduling jitter); on AWS ±15 % passes and beyond ±30 % fails ("best effort").
    pub fn throttle(target: Target) -> Band {
        match target {
            Target::Dev => Band::exact(0.05),
            Target::Deployed => Band::widening(0.15, 0.30),
        }
    }

    /// The burst's accepted count: ±10 % on `wh dev` (client send times stand in for server
    /// arrival times); on AWS ±20 % passes and beyond ±40 % fails.
    pub fn burst(target: Target) -> Band {
        match target {
            Target::Dev => Band::exact(0.10),
            Target::Deployed => Band::widening(0.20, 0.40),
        }
    }

    /// Judges `measured` against `expected`.
    pub fn judge(self, measured: f64, expected: f64) -> Outcome {
        self.judge_between(measured, expected, expected)
    }

    /// Judges `measured` against an expected interval `[low, high]` (what the measurement
    /// cannot pin closer): inside is no error, outside the error is relative to the nearer end.
    pub fn judge_between(self, measured: f64, low: f64, high: f64) -> Outcome {
        let error = if low <= 0.0 {
            f64::INFINITY
        } else if measured < low {
            (low - measured) / low
        } else if measured > high {
            (measured - high) / high
        } else {
            0.0
        };
        if error <= self.pass {
            Outcome::Pass
        } else if error > self.fail {
            Outcome::Fail
        } else {
            Outcome::Inconclusive
        }
    }

    fn describe(self) -> String {
        if self.pass == self.fail {
            format!("±{:.0} %", self.pass * 100.0)
        } else {
            format!(
                "±{:.0} % passes, beyond ±{:.0} % fails, inconclusive between",
                self.pass * 100.0,
                self.fail * 100.0
            )
        }
    }
}

/// Requests by answer class, kept apart in every report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// 2xx.
    pub ok_2xx: u64,
    /// 429 (throttled).
    pub throttled_429: u64,
    /// 403 carrying the per-IP rule's header.
    pub blocked_403: u64,
    /// Other 4xx (a 403 without the rule's header among them).
    pub other_4xx: u64,
    /// 5xx.
    pub server_5xx: u64,
    /// No answer (connection error, timeout).
    pub no_answer: u64,
}

impl Counts {
    /// Requests counted.
    pub fn total(&self) -> u64 {
        self.ok_2xx
            + self.throttled_429
            + self.blocked_403
            + self.other_4xx
            + self.server_5xx
            + self.no_answer
    }

    /// Neither accepted, throttled nor blocked by the rule: 5xx, timeouts, other 4xx.
    pub fn unexpected(&self) -> u64 {
        self.other_4xx + self.server_5xx + self.no_answer
    }

    /// The classes, in the order of a measurement's rows ([`Counts::row`]).
    pub const CLASSES: [&'static str; 6] =
        ["2xx", "429", "per-IP 403", "other 4xx", "5xx", "no answer"];

    /// The class of `a`'s answer, as an index into [`Counts::CLASSES`].
    pub fn class_of(a: &Answer) -> usize {
        match a.status {
            200..=299 => 0,
            429 => 1,
            403 if a.rule_block => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        }
    }

    /// Counts one answer.
    pub fn add(&mut self, a: &Answer) {
        let mut row = self.row();
        row[Counts::class_of(a)] += 1;
        *self = Counts::from_row(row);
    }

    /// The counts in the order of [`Counts::CLASSES`].
    pub fn row(&self) -> [u64; 6] {
        [
            self.ok_2xx,
            self.throttled_429,
            self.blocked_403,
            self.other_4xx,
            self.server_5xx,
            self.no_answer,
        ]
    }

    /// Counts from a row in the order of [`Counts::CLASSES`].
    pub fn from_row(r: [u64; 6]) -> Counts {
        Counts {
            ok_2xx: r[0],
            throttled_429: r[1],
            blocked_403: r[2],
            other_4xx: r[3],
            server_5xx: r[4],
            no_answer: r[5],
        }
    }

    /// Adds `other`.
    pub fn merge(&mut self, other: &Counts) {
        let (mut a, b) = (self.row(), other.row());
        for (x, y) in a.iter_mut().zip(b) {
            *x += y;
        }
        *self = Counts::from_row(a);
    }
}

/// Counts `answers` by class.
pub fn counts<'a>(answers: impl IntoIterator<Item = &'a Answer>) -> Counts {
    let mut c = Counts::default();
    for a in answers {
        c.add(a);
    }
    c
}

/// One part of a check.
#[derive(Clone, Debug, Serialize)]
pub struct Part {
    /// What it checks.
    pub name: &'static str,
    /// Its result.
    pub outcome: Outcome,
    /// What was measured.
    pub measured: String,
    /// What was expected.
    pub expected: String,
}

/// One check's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// The check.
    pub check: &'static str,
    /// The worst of its parts.
    pub outcome: Outcome,
    /// `outcome == pass`, for scripts that only ask that.
    pub pass: bool,
    /// The parts, each with what it measured and expected.
    pub parts: Vec<Part>,
    /// The band the parts were judged with.
    pub tolerance: String,
    /// Why the tolerance is what it is.
    pub tolerance_reason: String,
    /// The phase's requests by answer class.
    pub counts: Counts,
    /// Generator figures: requests sent late, the worst lateness, users.
    pub generator: String,
}

impl Verdict {
    fn new(
        check: &'static str,
        parts: Vec<Part>,
        tolerance: String,
        tolerance_reason: &str,
        counts: Counts,
        m: &PhaseMeasure,
    ) -> Verdict {
        let outcome = Outcome::worst(parts.iter().map(|p| p.outcome));
        Verdict {
            check,
            outcome,
            pass: outcome == Outcome::Pass,
            parts,
            tolerance,
            tolerance_reason: tolerance_reason.to_owned(),
            counts,
            generator: generator(m),
        }
    }

    /// A check that could not run at all (reason given), reported as inconclusive.
    pub fn not_measured(check: &'static str, reason: String) -> Verdict {
        Verdict::new(
            check,
            vec![Part {
                name: "measurement",
                outcome: Outcome::Inconclusive,
                measured: reason,
                expected: "a phase that can decide".into(),
            }],
            String::new(),
            "",
            Counts::default(),
            &PhaseMeasure::default(),
        )
    }
}

/// How far the generator kept to its schedule.
fn generator(m: &PhaseMeasure) -> String {
    if m.total() == 0 {
        return "no requests".into();
    }
    format!(
        "{} requests, {} sent more than 20 ms late (worst {:.0} ms), {} users{}",
        m.total(),
        m.late_20ms,
        m.worst_late_us as f64 / 1e3,
        m.users,
        if m.start_late_us > 0 {
            format!(
                "; the last user was ready {:.0} ms after the scheduled start",
                m.start_late_us as f64 / 1e3
            )
        } else {
            String::new()
        }
    )
}

fn part(name: &'static str, outcome: Outcome, measured: String, expected: String) -> Part {
    Part {
        name,
        outcome,
        measured,
        expected,
    }
}

/// Share of requests that may be answered otherwise than accepted, throttled or blocked
/// (5xx, timeouts, other 4xx) before a check fails: 1 %.
pub const UNEXPECTED_ALLOWANCE: f64 = 0.01;

fn unexpected_part(c: &Counts) -> Part {
    let allowed = (c.total() as f64 * UNEXPECTED_ALLOWANCE).floor() as u64;
    part(
        "other answers",
        if c.unexpected() <= allowed {
            Outcome::Pass
        } else {
            Outcome::Fail
        },
        format!(
            "{} 5xx, {} no answer, {} other 4xx",
            c.server_5xx, c.no_answer, c.other_4xx
        ),
        format!("at most {allowed} (1 % of {})", c.total()),
    )
}

/// How long after the bucket drains the accepted rate starts being measured.
const SETTLE: Duration = Duration::from_millis(500);

/// The stage throttle under open arrivals at `offered`/s: once the bucket has drained (the
/// first 429: a token bucket refuses nothing while it holds tokens), the accepted rate is
/// within the band of `rate`, at least 95 % of what was not accepted was answered 429, and
/// at most 1 % of all requests got another answer.
pub fn throttle(m: &PhaseMeasure, rate: f64, burst: u32, offered: f64, target: Target) -> Verdict {
    let band = Band::throttle(target);
    let c = m.counts;
    let us = |v: Option<u64>| Duration::from_micros(v.unwrap_or_default());
    let last = us(m.last_scheduled_us);
    let first = us(m.first_scheduled_us);
    let span = last.saturating_sub(first).as_secs_f64().max(1e-9);
    let offered_all = c.total() as f64 / span;
    let drained = m.first_429_sent_us.map(Duration::from_micros);
    let mut parts = Vec::new();
    let expected = format!("{rate:.1}/s ({})", band.describe());
    match drained {
        None => {
            let (outcome, why) = if offered_all >= rate * 1.1 {
                (Outcome::Fail, "the stage throttle never refused")
            } else {
                (
                    Outcome::Inconclusive,
                    "the generator did not offer more than the rate",
                )
            };
            parts.push(part(
                "accepted rate",
                outcome,
                format!(
                    "no 429 in {span:.1} s at {offered_all:.0}/s offered ({} accepted): {why}",
                    c.ok_2xx
                ),
                expected,
            ));
        }
        Some(drained) => {
            // The window: whole ticks from SETTLE after the drain up to the last scheduled
            // start.
            let tick = TICK.as_micros() as u64;
            let from_tick = ((drained + SETTLE).as_micros() as u64).div_ceil(tick);
            let to_tick = (last.as_micros() as u64) / tick;
            let window = (to_tick.saturating_sub(from_tick) * tick) as f64 / 1e6;
            let w = m.counts_between(from_tick, to_tick);
            if window < 1.0 {
                parts.push(part(
                    "accepted rate",
                    if offered_all >= rate * 1.1 { Outcome::Fail } else { Outcome::Inconclusive },
                    format!(
                        "the bucket of {burst} drained only {:.1} s into a {span:.1} s phase at {offered_all:.0}/s offered: more was accepted than rate and burst allow",
                        drained.as_secs_f64()
                    ),
                    format!("drained after about {:.1} s", f64::from(burst) / (offered - rate).max(1e-9)),
                ));
            } else {
                let offered_w = w.total() as f64 / window;
                let accepted = w.ok_2xx as f64 / window;
                let outcome = if offered_w < rate * 1.1 {
                    Outcome::Inconclusive
                } else {
                    band.judge(accepted, rate)
                };
                parts.push(part(
                    "accepted rate",
                    outcome,
                    format!(
                        "{accepted:.1} accepted/s over {window:.1} s after the bucket drained at {:.1} s ({offered_w:.0}/s offered{})",
                        drained.as_secs_f64(),
                        if offered_w < rate * 1.1 { ": the generator fell behind, not above the rate" } else { "" }
                    ),
                    expected,
                ));
                let refused = w.total() - w.ok_2xx;
                let share = if refused == 0 {
                    1.0
                } else {
                    w.throttled_429 as f64 / refused as f64
                };
                parts.push(part(
                    "excess answered 429",
                    if share >= 0.95 {
                        Outcome::Pass
                    } else {
                        Outcome::Fail
                    },
                    format!(
                        "{} of {refused} not accepted were 429 ({:.1} %)",
                        w.throttled_429,
                        share * 100.0
                    ),
                    "at least 95 %".into(),
                ));
            }
        }
    }
    parts.push(unexpected_part(&c));
    Verdict::new(
        "throttle",
        parts,
        band.describe(),
        match target {
            Target::Dev => {
                "wh dev's token bucket is exact; 5 % covers the client's and server's scheduling jitter over a window of seconds"
            }
            Target::Deployed => {
                "API Gateway applies throttles \"on a best-effort basis\" as \"targets rather than guaranteed request ceilings\""
            }
        },
        c,
        m,
    )
}

/// The burst: its requests went out as fast as the generator could after the bucket had refilled.
/// A token bucket then accepts `burst` plus what refilled while they arrived: `rate` x the time
/// from the first arrival at the bucket to the last. A request reaches the bucket between its
/// send and its answer, so each end is taken at the midpoint of the two (a server that queues
/// requests answers late, and a send-time span alone would undercount the refill); the count
/// accepted must be within the band of `burst + rate x` that span.
pub fn burst(m: &PhaseMeasure, burst: u32, rate: f64, target: Target) -> Verdict {
    let band = Band::burst(target);
    let c = m.counts;
    let us = |v: Option<u64>| Duration::from_micros(v.unwrap_or_default());
    let first = us(m.first_mid_us);
    let last = us(m.last_mid_us);
    let last_answer = us(m.last_at_us);
    let first_sent = us(m.first_sent_us);
    let span = last.saturating_sub(first).as_secs_f64();
    let expected = f64::from(burst) + rate * span;
    // The most the bucket could have refilled: from the first send to the last answer.
    let high = f64::from(burst) + rate * last_answer.saturating_sub(first_sent).as_secs_f64();
    let sent = c.total() as f64;
    let outcome = if sent < high * 1.1 {
        Outcome::Inconclusive
    } else {
        band.judge(c.ok_2xx as f64, expected)
    };
    let parts = vec![
        part(
            "accepted",
            outcome,
            format!(
                "{} of {} accepted, arriving over about {:.0} ms (last answer {:.0} ms after the first send){}",
                c.ok_2xx,
                c.total(),
                span * 1e3,
                last_answer.saturating_sub(first_sent).as_secs_f64() * 1e3,
                if sent < high * 1.1 {
                    ": too slowly to empty the bucket"
                } else {
                    ""
                }
            ),
            format!(
                "{expected:.0} = burst {burst} + {rate:.0}/s x {span:.3} s ({})",
                band.describe()
            ),
        ),
        unexpected_part(&c),
    ];
    Verdict::new(
        "burst",
        parts,
        band.describe(),
        match target {
            Target::Dev => {
                "the requests' send times stand in for their arrival times at the bucket; 10 % covers that and the client's start-up"
            }
            Target::Deployed => {
                "API Gateway's burst is \"the target maximum number of concurrent request submissions\", applied on a best-effort basis"
            }
        },
        c,
        m,
    )
}

/// The per-IP rule's phase: which stream plays which part, and what the rule is.
#[derive(Clone, Debug)]
pub struct PerIpRoles {
    /// (a) the source sending above the per-IP rate.
    pub noisy: usize,
    /// Requests the noisy address sent earlier within the window (the rule counts them too).
    pub noisy_prior: u64,
    /// (b) the source at 0.8 x the per-IP rate for 1.5 windows (`None`: not run, reason).
    pub steady: Result<usize, String>,
    /// (c) a source that must stay served throughout (`None`: not run, reason).
    pub bystander: Result<usize, String>,
    /// The rule's limit: requests per window.
    pub limit: u64,
    /// The evaluation window.
    pub window: Duration,
    /// Longest allowed time from crossing the limit to the first block.
    pub lag: Duration,
}

impl PerIpRoles {
    /// The noisy source's request that crosses the limit (0-based): number `limit`, less what
    /// the address sent earlier in the window.
    pub fn crossing_seq(&self) -> u64 {
        self.limit.saturating_sub(self.noisy_prior)
    }
}

/// How much earlier than the limit a deployed WAF may block before it fails: AWS estimates
/// the rate ("does not guarantee an exact limit match"); a block within 20 % under the limit is
/// inconclusive, one earlier fails. `wh dev` counts exactly: any earlier block fails.
pub const DEPLOYED_EARLY_SLACK: f64 = 0.2;

/// The per-IP rule: (a) the noisy source is first blocked no earlier than the request that
/// crosses the limit and no later than the lag allowance after it; (b) the steady source is
/// never blocked (a longer window or a lower limit would block it); (c) the bystander stays
/// served. Only 403s with the rule's header count as blocks.
pub fn per_ip(m: &PhaseMeasure, roles: &PerIpRoles, target: Target) -> Verdict {
    let c = m.counts;
    let empty = StreamMeasure::default();
    let of = |stream: usize| m.stream(stream).unwrap_or(&empty);
    let at = |mark: &Mark| Duration::from_micros(mark.sent_us);
    let limit = roles.limit;
    let noisy = of(roles.noisy);
    // The request that crosses the limit: number `limit` counting from 0, less what the
    // address sent earlier in the window (the plan marks it).
    let crossing_seq = roles.crossing_seq();
    let crossing = noisy.mark.filter(|k| k.seq == crossing_seq).map(|k| at(&k));
    let first_block = noisy.first_block;
    let expected_a = format!(
        "first blocked at request {} or later (the limit is {limit} per {} s), within {:.0} s of crossing",
        crossing_seq + 1,
        roles.window.as_secs(),
        roles.lag.as_secs_f64()
    );
    let a = match (crossing, first_block) {
        (_, Some(b)) if b.seq < crossing_seq => {
            let earliest = (crossing_seq as f64 * (1.0 - DEPLOYED_EARLY_SLACK)).floor() as u64;
            let outcome = if target == Target::Deployed && b.seq >= earliest {
                Outcome::Inconclusive
            } else {
                Outcome::Fail
            };
            part(
                "(a) blocked at the limit",
                outcome,
                format!("blocked at request {}, the limit is {limit}", b.seq + 1),
                expected_a,
            )
        }
        (Some(cross), Some(b)) => {
            let delay = at(&b).saturating_sub(cross);
            part(
                "(a) blocked at the limit",
                if delay <= roles.lag {
                    Outcome::Pass
                } else {
                    Outcome::Fail
                },
                format!(
                    "first blocked at request {}, {:.1} s after crossing the limit",
                    b.seq + 1,
                    delay.as_secs_f64()
                ),
                expected_a,
            )
        }
        (Some(cross), None) => {
            let last = noisy.last.map(|k| at(&k)).unwrap_or_default();
            part(
                "(a) blocked at the limit",
                Outcome::Fail,
                format!(
                    "never blocked: {} requests, {:.1} s past the crossing",
                    noisy.sent,
                    last.saturating_sub(cross).as_secs_f64()
                ),
                expected_a,
            )
        }
        (None, _) => part(
            "(a) blocked at the limit",
            Outcome::Inconclusive,
            format!("sent only {} requests, not past the limit", noisy.sent),
            expected_a,
        ),
    };
    let not_run = |name: &'static str, why: &str, expected: String| {
        part(name, Outcome::NotRun, why.to_owned(), expected)
    };
    let b_expected = format!(
        "never blocked at 0.8 x the per-IP rate for at least 1.5 windows ({} s)",
        roles.window.as_secs_f64() * 1.5
    );
    let b = match &roles.steady {
        Err(why) => not_run("(b) served below the rate", why, b_expected),
        Ok(stream) => {
            let steady = of(*stream);
            let start = steady.first.map(|k| at(&k)).unwrap_or_default();
            let span = steady
                .last
                .map(|k| at(&k).saturating_sub(start))
                .unwrap_or_default();
            let count = steady.sent;
            match steady.first_block {
                Some(blocked) => part(
                    "(b) served below the rate",
                    Outcome::Fail,
                    format!(
                        "blocked at request {} after {:.1} s: the rule counts over a longer window or to a lower limit",
                        blocked.seq + 1,
                        at(&blocked).saturating_sub(start).as_secs_f64()
                    ),
                    b_expected,
                ),
                None if span
                    < roles
                        .window
                        .mul_f64(1.5)
                        .saturating_sub(Duration::from_secs(1)) =>
                {
                    part(
                        "(b) served below the rate",
                        Outcome::Inconclusive,
                        format!("{count} requests over only {:.1} s", span.as_secs_f64()),
                        b_expected,
                    )
                }
                None => part(
                    "(b) served below the rate",
                    Outcome::Pass,
                    format!(
                        "{count} requests over {:.1} s, none blocked",
                        span.as_secs_f64()
                    ),
                    b_expected,
                ),
            }
        }
    };
    let c_expected = "every request accepted while the noisy source is blocked".to_owned();
    let bystander = match &roles.bystander {
        Err(why) => not_run("(c) others served", why, c_expected),
        Ok(stream) => {
            let other = of(*stream);
            part(
                "(c) others served",
                if other.refused == 0 && other.sent > 0 {
                    Outcome::Pass
                } else {
                    Outcome::Fail
                },
                match other.first_refused {
                    None => format!("{} of {} accepted", other.sent, other.sent),
                    Some(r) => format!(
                        "{} of {} refused, the first with {} at {:.1} s",
                        other.refused,
                        other.sent,
                        r.status,
                        r.sent_us as f64 / 1e6
                    ),
                },
                c_expected,
            )
        }
    };
    Verdict::new(
        "per-ip",
        vec![a, b, bystander],
        match target {
            Target::Dev => format!(
                "exact limit; block within {:.0} s of crossing",
                roles.lag.as_secs_f64()
            ),
            Target::Deployed => format!(
                "a block up to {:.0} % before the limit is inconclusive, earlier fails; block within {:.0} s of crossing",
                DEPLOYED_EARLY_SLACK * 100.0,
                roles.lag.as_secs_f64()
            ),
        },
        match target {
            Target::Dev => {
                "wh dev counts every request and judges at once (its aws WAF mode re-evaluates every 10 s and acts after a lag)"
            }
            Target::Deployed => {
                "AWS WAF estimates the rate, \"does not guarantee an exact limit match\", and acts with a delay \"usually ... below 30 seconds\"; 40 s allows the 10 s re-evaluation on top"
            }
        },
        c,
        m,
    )
}

/// What became of the webhooks the soak had answered 2xx.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounting {
    /// Distinct ids answered 2xx.
    pub accepted: usize,
    /// Of those, how many are in each status (`missing`: not in the table at all).
    pub by_status: BTreeMap<String, usize>,
    /// The first few ids not found `PROCESSED`, with what was found.
    pub not_processed: Vec<(String, String)>,
    /// Messages left in the dead-letter queue.
    pub dlq: u64,
}

impl Accounting {
    /// Tallies each id's status (`None`: not found) and the DLQ's depth; duplicate ids (a
    /// redelivery answered 2xx twice) count once. Keeps the first 5 ids not processed.
    pub fn tally(ids: &[String], statuses: &[Option<String>], dlq: u64) -> Accounting {
        let mut seen = std::collections::HashSet::new();
        let mut acc = Accounting {
            dlq,
            ..Accounting::default()
        };
        for (id, status) in ids.iter().zip(statuses) {
            if !seen.insert(id) {
                continue;
            }
            acc.accepted += 1;
            let status = status.clone().unwrap_or_else(|| "missing".into());
            if status != "PROCESSED" && acc.not_processed.len() < 5 {
                acc.not_processed.push((id.clone(), status.clone()));
            }
            *acc.by_status.entry(status).or_default() += 1;
        }
        acc
    }

    /// Adds another shard's tally of its own ids; the DLQ is the stack's, read by each shard,
    /// so its deepest reading is kept. Keeps the first 5 ids not processed.
    pub fn merge(&mut self, other: &Accounting) {
        self.accepted += other.accepted;
        for (status, n) in &other.by_status {
            *self.by_status.entry(status.clone()).or_default() += n;
        }
        let room = 5usize.saturating_sub(self.not_processed.len());
        self.not_processed
            .extend(other.not_processed.iter().take(room).cloned());
        self.dlq = self.dlq.max(other.dlq);
    }

    /// Nothing left on its way: no id still `RECEIVED` or `ENQUEUED`.
    pub fn settled(&self) -> bool {
        !self.by_status.contains_key("RECEIVED") && !self.by_status.contains_key("ENQUEUED")
    }
}

/// Answers per half of a soak from which its latency check compares 99th percentiles (below,
/// 90th).
pub const P99_MIN_ANSWERS: usize = 1000;

/// The soak: no answer but 2xx (the soak runs below every limit, so a 401, 403, 429, 5xx or
/// timeout means something is wrong), scheduled-start p99 (p90 for short soaks, see
/// [`P99_MIN_ANSWERS`]) in the second half no worse than
/// twice the first half's plus `slack`, and afterwards every webhook answered 2xx found
/// `PROCESSED` and the DLQ empty.
pub fn soak(
    m: &PhaseMeasure,
    length: Duration,
    accounting: Result<Accounting, String>,
    target: Target,
) -> Verdict {
    let c = m.counts;
    let slack = match target {
        Target::Dev => Duration::from_millis(5),
        Target::Deployed => Duration::from_millis(50),
    };
    // The halves: latency slots by scheduled time, cut at the slot nearest half the planned
    // length.
    let slot = m.slot_ms.max(1) as f64 / 1e3;
    let half = (length.as_secs_f64() / 2.0 / slot).round() as u64;
    // The 99th percentile of a few hundred answers is their slowest one or two, one hiccup of
    // the machine; below 1,000 answers a half the 90th is compared instead.
    let q = if c.total() >= 2 * P99_MIN_ANSWERS as u64 {
        0.99
    } else {
        0.90
    };
    let (p1, p2) = (
        m.latency_between(0, half).quantile(q).unwrap_or_default(),
        m.latency_between(half, u64::MAX)
            .quantile(q)
            .unwrap_or_default(),
    );
    let q_name = if q == 0.99 { "p99" } else { "p90" };
    let mut parts = vec![
        part(
            "every answer 2xx",
            if c.ok_2xx == c.total() && c.total() > 0 {
                Outcome::Pass
            } else {
                Outcome::Fail
            },
            format!(
                "{} of {}: {} 429, {} per-IP 403, {} other 4xx, {} 5xx, {} no answer",
                c.ok_2xx,
                c.total(),
                c.throttled_429,
                c.blocked_403,
                c.other_4xx,
                c.server_5xx,
                c.no_answer
            ),
            "all accepted (the soak runs below every limit)".into(),
        ),
        part(
            "latency stable",
            if p2 <= p1 * 2 + slack {
                Outcome::Pass
            } else {
                Outcome::Fail
            },
            format!(
                "{q_name} from the scheduled start {:.1} ms, then {:.1} ms",
                p1.as_secs_f64() * 1e3,
                p2.as_secs_f64() * 1e3
            ),
            format!("second half <= 2 x first half + {} ms", slack.as_millis()),
        ),
    ];
    parts.push(match accounting {
        Err(e) => part(
            "every accepted webhook processed",
            Outcome::Fail,
            format!("could not be read: {e}"),
            "every id answered 2xx found PROCESSED, DLQ empty".into(),
        ),
        Ok(acc) => {
            let processed = acc.by_status.get("PROCESSED").copied().unwrap_or(0);
            let ok = processed == acc.accepted && acc.dlq == 0 && acc.accepted > 0;
            let statuses = acc
                .by_status
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ");
            let missing = acc
                .not_processed
                .iter()
                .map(|(id, s)| format!("{id} ({s})"))
                .collect::<Vec<_>>()
                .join(", ");
            part(
                "every accepted webhook processed",
                if ok { Outcome::Pass } else { Outcome::Fail },
                format!(
                    "{processed} of {} ids answered 2xx found PROCESSED ({statuses}); {} in the DLQ{}",
                    acc.accepted,
                    acc.dlq,
                    if missing.is_empty() { String::new() } else { format!("; not processed: {missing}") }
                ),
                "every id answered 2xx found PROCESSED, DLQ empty".into(),
            )
        }
    });
    Verdict::new(
        "soak",
        parts,
        format!("latency growth: 2 x + {} ms", slack.as_millis()),
        "latency drifts with the machine's other work; doubling plus a slack flags growth (a leak, a backlog), not noise",
        c,
        m,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::Stream;

    /// Measures synthetic answers as the run does; stream 0 marks the per-IP crossing of
    /// [`roles`] (request 100).
    fn m(answers: &[Answer]) -> PhaseMeasure {
        let n = answers.iter().map(|a| a.stream + 1).max().unwrap_or(0);
        let streams: Vec<Stream> = (0..n)
            .map(|i| Stream {
                id: i,
                source: None,
                rate: None,
                start: Duration::ZERO,
                count: answers.iter().filter(|a| a.stream == i).count() as u64,
                users: 1,
                stop_after_block: None,
                mark: (i == 0).then_some(100),
            })
            .collect();
        PhaseMeasure::of(
            crate::plan::Check::Throttle,
            answers,
            &streams,
            Duration::from_secs(1),
        )
    }

    fn answer(stream: usize, seq: u64, ms: u64, status: u16) -> Answer {
        let t = Duration::from_millis(ms);
        Answer {
            stream,
            seq,
            scheduled: t,
            sent: t,
            at: t + Duration::from_millis(2),
            status,
            rule_block: status == 403,
        }
    }

    /// `n` requests, the `i`th arriving at `at(i)` seconds, answered as a token bucket of
    /// `rate` and `burst` answers (the server model the tests vary).
    fn served_by_bucket(rate: f64, burst: f64, n: u64, at: impl Fn(u64) -> f64) -> Vec<Answer> {
        let mut tokens = burst;
        let mut last = 0.0;
        (0..n)
            .map(|i| {
                let t = at(i);
                tokens = (tokens + (t - last) * rate).min(burst);
                last = t;
                let status = if tokens >= 1.0 {
                    tokens -= 1.0;
                    200
                } else {
                    429
                };
                answer(0, i, (t * 1000.0) as u64, status)
            })
            .collect()
    }

    /// Open arrivals at `offered`/s for `secs`.
    fn bucket(rate: f64, burst: f64, offered: f64, secs: f64) -> Vec<Answer> {
        served_by_bucket(rate, burst, (offered * secs) as u64, |i| i as f64 / offered)
    }

    #[test]
    fn throttle_passes_the_right_rate_and_fails_25_percent_either_way() {
        let right = bucket(100.0, 50.0, 150.0, 6.0);
        let v = throttle(&m(&right), 100.0, 50, 150.0, Target::Dev);
        assert_eq!(v.outcome, Outcome::Pass, "{:?}", v.parts);
        for wrong in [125.0, 75.0] {
            let v = throttle(
                &m(&bucket(wrong, 50.0, 150.0, 6.0)),
                100.0,
                50,
                150.0,
                Target::Dev,
            );
            assert_eq!(v.outcome, Outcome::Fail, "rate {wrong}: {:?}", v.parts);
        }
        // No throttle at all.
        let open: Vec<Answer> = (0..900)
            .map(|i| answer(0, i, i * 1000 / 150, 200))
            .collect();
        assert_eq!(
            throttle(&m(&open), 100.0, 50, 150.0, Target::Dev).outcome,
            Outcome::Fail
        );
    }

    #[test]
    fn throttle_fails_when_the_excess_is_not_answered_429() {
        let mut v = bucket(100.0, 50.0, 150.0, 6.0);
        // Half the refusals come back as 503 instead.
        for (i, a) in v.iter_mut().filter(|a| a.status == 429).enumerate() {
            if i % 2 == 0 {
                a.status = 503;
            }
        }
        let v = throttle(&m(&v), 100.0, 50, 150.0, Target::Dev);
        assert_eq!(v.outcome, Outcome::Fail);
        assert!(
            v.parts
                .iter()
                .any(|p| p.name == "excess answered 429" && p.outcome == Outcome::Fail)
        );
    }

    #[test]
    fn a_deployed_throttle_20_percent_off_is_inconclusive_and_40_percent_off_fails() {
        let v = throttle(
            &m(&bucket(120.0, 50.0, 180.0, 6.0)),
            100.0,
            50,
            180.0,
            Target::Deployed,
        );
        assert_eq!(v.outcome, Outcome::Inconclusive, "{:?}", v.parts);
        let v = throttle(
            &m(&bucket(140.0, 50.0, 180.0, 6.0)),
            100.0,
            50,
            180.0,
            Target::Deployed,
        );
        assert_eq!(v.outcome, Outcome::Fail, "{:?}", v.parts);
    }

    #[test]
    fn a_generator_that_falls_behind_is_inconclusive_not_a_pass() {
        // Offered only 105/s: the bucket drains late and the rate cannot be told apart.
        let v = throttle(
            &m(&bucket(100.0, 5.0, 105.0, 6.0)),
            100.0,
            5,
            150.0,
            Target::Dev,
        );
        assert_eq!(v.outcome, Outcome::Inconclusive, "{:?}", v.parts);
    }

    /// `n` requests sent over `span_ms` against a bucket of `burst` refilled at `rate`.
    fn burst_run(burst: f64, rate: f64, n: u64, span_ms: u64) -> Vec<Answer> {
        served_by_bucket(rate, burst, n, |i| (i * span_ms) as f64 / n as f64 / 1000.0)
    }

    #[test]
    fn burst_passes_the_right_bucket_and_fails_30_percent_either_way() {
        let v = burst(
            &m(&burst_run(200.0, 100.0, 600, 300)),
            200,
            100.0,
            Target::Dev,
        );
        assert_eq!(v.outcome, Outcome::Pass, "{:?}", v.parts);
        for wrong in [260.0, 140.0] {
            let v = burst(
                &m(&burst_run(wrong, 100.0, 600, 300)),
                200,
                100.0,
                Target::Dev,
            );
            assert_eq!(v.outcome, Outcome::Fail, "burst {wrong}: {:?}", v.parts);
        }
        // Unthrottled: everything accepted.
        let all: Vec<Answer> = (0..600).map(|i| answer(0, i, i / 2, 200)).collect();
        assert_eq!(
            burst(&m(&all), 200, 100.0, Target::Dev).outcome,
            Outcome::Fail
        );
        // Too slow to empty the bucket: cannot tell.
        let slow = burst_run(200.0, 100.0, 250, 1000);
        assert_eq!(
            burst(&m(&slow), 200, 100.0, Target::Dev).outcome,
            Outcome::Inconclusive
        );
    }

    fn roles() -> PerIpRoles {
        PerIpRoles {
            noisy: 0,
            noisy_prior: 0,
            steady: Ok(1),
            bystander: Ok(2),
            limit: 100,
            window: Duration::from_secs(60),
            lag: Duration::from_secs(1),
        }
    }

    /// The noisy source: 10/s, first blocked at request `block_at` (1-based).
    fn noisy(block_at: Option<u64>) -> Vec<Answer> {
        (0..150)
            .map(|i| {
                let blocked = block_at.is_some_and(|b| i + 1 >= b);
                answer(0, i, i * 100, if blocked { 403 } else { 200 })
            })
            .collect()
    }

    fn served(stream: usize, n: u64, every_ms: u64) -> Vec<Answer> {
        (0..n)
            .map(|i| answer(stream, i, i * every_ms, 200))
            .collect()
    }

    fn with_others(mut a: Vec<Answer>) -> Vec<Answer> {
        a.extend(served(1, 100, 900));
        a.extend(served(2, 40, 2000));
        a
    }

    #[test]
    fn per_ip_passes_a_block_right_after_the_limit() {
        let v = per_ip(&m(&with_others(noisy(Some(101)))), &roles(), Target::Dev);
        assert_eq!(v.outcome, Outcome::Pass, "{:?}", v.parts);
    }

    #[test]
    fn per_ip_fails_an_early_block_a_late_one_and_none() {
        let v = per_ip(&m(&with_others(noisy(Some(60)))), &roles(), Target::Dev);
        assert_eq!(v.outcome, Outcome::Fail);
        assert!(
            v.parts[0]
                .measured
                .contains("blocked at request 60, the limit is 100"),
            "{}",
            v.parts[0].measured
        );
        // Blocked 3 s after crossing (30 requests at 10/s), 1 s allowed.
        assert_eq!(
            per_ip(&m(&with_others(noisy(Some(131)))), &roles(), Target::Dev).outcome,
            Outcome::Fail
        );
        assert_eq!(
            per_ip(&m(&with_others(noisy(None))), &roles(), Target::Dev).outcome,
            Outcome::Fail
        );
        // A 403 without the rule's header is not the rule's block.
        let mut other_403 = noisy(Some(101));
        for a in &mut other_403 {
            a.rule_block = false;
        }
        assert_eq!(
            per_ip(&m(&with_others(other_403)), &roles(), Target::Dev).outcome,
            Outcome::Fail
        );
    }

    #[test]
    fn per_ip_deployed_tolerates_a_slightly_early_block_as_inconclusive_only() {
        let r = PerIpRoles {
            steady: Err("one runner".into()),
            bystander: Err("one runner".into()),
            ..roles()
        };
        assert_eq!(
            per_ip(&m(&noisy(Some(95))), &r, Target::Deployed).outcome,
            Outcome::Inconclusive
        );
        assert_eq!(
            per_ip(&m(&noisy(Some(60))), &r, Target::Deployed).outcome,
            Outcome::Fail
        );
        let v = per_ip(&m(&noisy(Some(101))), &r, Target::Deployed);
        assert_eq!(
            v.outcome,
            Outcome::Pass,
            "parts not run never fail: {:?}",
            v.parts
        );
        assert_eq!(v.parts[1].outcome, Outcome::NotRun);
    }

    #[test]
    fn per_ip_fails_when_the_steady_source_is_blocked_or_a_bystander_refused() {
        let mut a = noisy(Some(101));
        let mut steady = served(1, 100, 900);
        steady[80].status = 403;
        steady[80].rule_block = true;
        a.extend(steady);
        a.extend(served(2, 40, 2000));
        let v = per_ip(&m(&a), &roles(), Target::Dev);
        assert_eq!(v.parts[1].outcome, Outcome::Fail);
        let mut a = noisy(Some(101));
        a.extend(served(1, 100, 900));
        let mut third = served(2, 40, 2000);
        third[30].status = 403;
        a.extend(third);
        assert_eq!(
            per_ip(&m(&a), &roles(), Target::Dev).parts[2].outcome,
            Outcome::Fail
        );
    }

    fn accounting(processed: usize, accepted: usize, dlq: u64) -> Accounting {
        let mut by_status = BTreeMap::from([("PROCESSED".to_owned(), processed)]);
        if accepted > processed {
            by_status.insert("missing".into(), accepted - processed);
        }
        Accounting {
            accepted,
            by_status,
            not_processed: Vec::new(),
            dlq,
        }
    }

    #[test]
    fn soak_fails_on_a_lost_webhook_a_refusal_growth_or_the_dlq() {
        let steady = served(0, 100, 100);
        let elapsed = Duration::from_secs(10);
        assert_eq!(
            soak(
                &m(&steady),
                elapsed,
                Ok(accounting(100, 100, 0)),
                Target::Dev
            )
            .outcome,
            Outcome::Pass
        );
        assert_eq!(
            soak(
                &m(&steady),
                elapsed,
                Ok(accounting(99, 100, 0)),
                Target::Dev
            )
            .outcome,
            Outcome::Fail
        );
        assert_eq!(
            soak(
                &m(&steady),
                elapsed,
                Ok(accounting(100, 100, 3)),
                Target::Dev
            )
            .outcome,
            Outcome::Fail
        );
        assert_eq!(
            soak(
                &m(&steady),
                elapsed,
                Err("renamed field".into()),
                Target::Dev
            )
            .outcome,
            Outcome::Fail
        );
        // One hiccup in a short soak is not growth.
        let mut hiccup = steady.clone();
        hiccup[80].at = hiccup[80].scheduled + Duration::from_millis(30);
        assert_eq!(
            soak(
                &m(&hiccup),
                elapsed,
                Ok(accounting(100, 100, 0)),
                Target::Dev
            )
            .outcome,
            Outcome::Pass
        );
        let mut slowing = steady.clone();
        for a in slowing.iter_mut().skip(50) {
            a.at = a.scheduled + Duration::from_millis(50);
        }
        assert_eq!(
            soak(
                &m(&slowing),
                elapsed,
                Ok(accounting(100, 100, 0)),
                Target::Dev
            )
            .outcome,
            Outcome::Fail
        );
        for status in [401, 403, 429, 502, 0] {
            let mut refused = steady.clone();
            refused[3].status = status;
            assert_eq!(
                soak(
                    &m(&refused),
                    elapsed,
                    Ok(accounting(99, 99, 0)),
                    Target::Dev
                )
                .outcome,
                Outcome::Fail,
                "{status}"
            );
        }
    }

    #[test]
    fn the_tally_counts_each_id_once_and_names_the_missing() {
        let ids: Vec<String> = ["a", "b", "a", "c"].map(String::from).to_vec();
        let statuses = [
            Some("PROCESSED".to_owned()),
            None,
            Some("PROCESSED".to_owned()),
            Some("ENQUEUED".to_owned()),
        ];
        let acc = Accounting::tally(&ids, &statuses, 0);
        assert_eq!(acc.accepted, 3);
        assert_eq!(acc.by_status["PROCESSED"], 1);
        assert_eq!(acc.by_status["missing"], 1);
        assert_eq!(
            acc.not_processed,
            vec![
                ("b".to_owned(), "missing".to_owned()),
                ("c".to_owned(), "ENQUEUED".to_owned())
            ]
        );
        assert!(!acc.settled());
    }

    #[test]
    fn counts_keep_classes_apart() {
        let mut other_403 = answer(0, 0, 0, 403);
        other_403.rule_block = false;
        let c = counts(&[
            answer(0, 0, 0, 200),
            answer(0, 0, 0, 429),
            answer(0, 0, 0, 403),
            other_403,
            answer(0, 0, 0, 503),
            answer(0, 0, 0, 0),
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

    #[test]
    fn outcomes_combine_worst_first() {
        use Outcome::*;
        assert_eq!(Outcome::worst([Pass, NotRun, Pass]), Pass);
        assert_eq!(Outcome::worst([Pass, Inconclusive]), Inconclusive);
        assert_eq!(Outcome::worst([Inconclusive, Fail, Pass]), Fail);
    }
}
