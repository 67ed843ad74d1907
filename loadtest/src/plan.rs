//! What each check sends, from the spec's limits: streams, rates, counts, users and source
//! addresses. Pure, so the sizes are tested without a server.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::phase::Stream;
use crate::verdict::PerIpRoles;

/// The limits a stack enforces, as the spec states them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Stage throttle rate, requests per second.
    pub rate: f64,
    /// Stage throttle burst (the bucket).
    pub burst: u32,
    /// Per-IP rate, requests per second (the rule's limit over its window).
    pub per_ip_rate: f64,
    /// The per-IP rule's limit: requests per window.
    pub per_ip_limit: u64,
    /// The per-IP rule's evaluation window.
    pub window: Duration,
}

/// The longest phase (and the longest wait for the bucket to refill) `wh loadtest` runs: 30
/// minutes, enough for 1.5 of WAF's longest window (10 minutes) plus the lag allowance.
pub const MAX_PHASE: Duration = Duration::from_secs(30 * 60);

/// The longest soak: 6 hours.
pub const MAX_SOAK: Duration = Duration::from_secs(6 * 3600);

/// How long a deployed WAF may take from crossing the limit to blocking: AWS re-evaluates
/// about every 10 s and documents a delay "usually ... below 30 seconds".
pub const DEPLOYED_WAF_LAG: Duration = Duration::from_secs(40);

/// The same for `wh dev`'s exact WAF: it judges every request at once; 1 s covers the
/// client's own pipelining.
pub const DEV_WAF_LAG: Duration = Duration::from_secs(1);

/// The checks `wh loadtest` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The bucket after idling.
    Burst,
    /// The steady rate under open arrivals above it.
    Throttle,
    /// The per-IP WAF rule.
    PerIp,
    /// A long run below every limit, with end-to-end accounting.
    Soak,
}

impl Check {
    /// Every check, in the order they run.
    pub const ALL: [Check; 4] = [Check::Burst, Check::Throttle, Check::PerIp, Check::Soak];

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Check::Burst => "burst",
            Check::Throttle => "throttle",
            Check::PerIp => "per-ip",
            Check::Soak => "soak",
        }
    }
}

impl FromStr for Check {
    type Err = String;

    fn from_str(s: &str) -> Result<Check, String> {
        Check::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                format!(
                    "`{s}` is not a check; the checks are {}",
                    Check::ALL.map(Check::name).join(", ")
                )
            })
    }
}

/// Where requests come from: loopback addresses of the load test's own (one block per
/// check, so no address carries one check's count into the next check's per-IP window), or
/// the operating system's choice (a deployed stack).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sources {
    /// `127.<block>.x.y`, one address per stream.
    Loopback,
    /// Whatever address the machine sends from; one stream.
    Machine,
}

impl Sources {
    /// The `i`th loopback address of `check`'s block.
    pub fn loopback(check: Check, i: usize) -> IpAddr {
        let block = match check {
            Check::Throttle => 1,
            Check::Burst => 2,
            Check::Soak => 3,
            Check::PerIp => 4,
        };
        IpAddr::from([
            127,
            block,
            u8::try_from(1 + i / 250).unwrap_or(255),
            u8::try_from(1 + i % 250).unwrap_or(1),
        ])
    }

    /// The address shard `shard`'s round-trip probe sends from (`None`: the machine's):
    /// `127.9.x.y`, one per shard, outside every check's block.
    pub fn probe(self, shard: usize) -> Option<IpAddr> {
        match self {
            Sources::Loopback => Some(IpAddr::from([
                127,
                9,
                u8::try_from(shard / 250).unwrap_or(255),
                u8::try_from(1 + shard % 250).unwrap_or(1),
            ])),
            Sources::Machine => None,
        }
    }
}

/// The shard (1-based) that sends stream `id` of a phase split over `shards`: streams are
/// dealt round-robin, so every shard gets its share of every phase.
pub fn shard_of(id: usize, shards: usize) -> usize {
    id % shards.max(1) + 1
}

/// Goose users a stream needs to keep `rate` requests a second in flight when each takes
/// `rtt` (Little's law), with 4 x headroom for latency that grows under load, and 2 spare.
pub fn users_for(rate: f64, rtt: Duration) -> usize {
    ((rate * rtt.as_secs_f64() * 4.0).ceil() as usize + 2).min(5000)
}

fn secs(d: f64) -> Duration {
    Duration::from_secs_f64(d.max(0.0))
}

fn check_length(what: &str, length: Duration, hint: &str) -> Result<(), String> {
    if length > MAX_PHASE {
        Err(format!(
            "{what} would take {:.0} s, over wh loadtest's maximum of {} s; {hint}",
            length.as_secs_f64(),
            MAX_PHASE.as_secs()
        ))
    } else {
        Ok(())
    }
}

/// How long to idle before a phase so the bucket is full again: `burst / rate` and a second.
pub fn refill(l: &Limits) -> Result<Duration, String> {
    let wait = secs(f64::from(l.burst) / l.rate + 1.0);
    check_length(
        &format!("refilling the bucket of {} at {:.3}/s", l.burst, l.rate),
        wait,
        "test a copy of the spec with scaled limits",
    )?;
    Ok(wait)
}

/// Splits `total` requests a second over `n` loopback sources of `check` (or one machine
/// stream), staggered so their union is evenly spaced.
fn spread(
    check: Check,
    (sources, shards): (Sources, usize),
    n: usize,
    rate: f64,
    length: Duration,
    users: usize,
) -> Vec<Stream> {
    let n = match sources {
        Sources::Loopback => n.max(shards).max(1),
        Sources::Machine => shards.max(1),
    };
    let each = rate / n as f64;
    (0..n)
        .map(|i| Stream {
            id: i,
            mark: None,
            source: match sources {
                Sources::Loopback => Some(Sources::loopback(check, i)),
                Sources::Machine => None,
            },
            rate: Some(each),
            start: secs(i as f64 / rate),
            count: (each * length.as_secs_f64()).ceil() as u64,
            users: users.div_ceil(n).max(2),
            stop_after_block: None,
        })
        .collect()
}

/// Sources needed so that none sends more than half the per-IP limit in `count` requests.
fn sources_for(l: &Limits, count: f64) -> usize {
    (count / (l.per_ip_limit as f64 / 2.0).max(1.0)).ceil() as usize
}

/// The burst: `max(2.5 x burst, burst + 100)` requests at once, as fast as the users can send:
/// more than a bucket 30 % too big takes with its refill, few enough that the refill while
/// they arrive stays small beside the bucket.
pub fn burst(l: &Limits, (sources, shards): (Sources, usize), rtt: Duration) -> Vec<Stream> {
    let n = burst_count(l);
    let users = (n as usize).min(users_for(l.rate, rtt).max(256));
    let k = match sources {
        Sources::Loopback => sources_for(l, n as f64).max(shards).max(1),
        Sources::Machine => shards.max(1),
    };
    (0..k)
        .map(|i| Stream {
            id: i,
            mark: None,
            source: match sources {
                Sources::Loopback => Some(Sources::loopback(Check::Burst, i)),
                Sources::Machine => None,
            },
            rate: None,
            start: Duration::ZERO,
            count: n / k as u64 + u64::from((i as u64) < n % k as u64),
            users: users.div_ceil(k).max(1),
            stop_after_block: None,
        })
        .collect()
}

/// Requests the burst sends: `max(2.5 x burst, burst + 100)`.
pub fn burst_count(l: &Limits) -> u64 {
    (u64::from(l.burst) * 5 / 2).max(u64::from(l.burst) + 100)
}

/// The throttle: open arrivals at `load_factor x rate` for the time the bucket takes to drain
/// (`burst / (offered - rate)`) plus a second plus `measure` seconds at the steady rate.
pub fn throttle(
    l: &Limits,
    load_factor: f64,
    measure: Duration,
    fleet: (Sources, usize),
    rtt: Duration,
) -> Result<(Vec<Stream>, f64), String> {
    if !(1.2..=10.0).contains(&load_factor) {
        return Err(format!(
            "--load-factor {load_factor} is outside 1.2 to 10: below 1.2 the bucket drains too slowly to measure the rate"
        ));
    }
    let offered = l.rate * load_factor;
    let length = secs(f64::from(l.burst) / (offered - l.rate) + 1.0) + measure;
    check_length(
        &format!(
            "the throttle phase (bucket of {} drained at {offered:.1}/s offered, then {} s measured)",
            l.burst,
            measure.as_secs()
        ),
        length,
        "raise --load-factor, shorten --throttle-secs, or test a copy of the spec with scaled limits",
    )?;
    let n = sources_for(l, offered * length.as_secs_f64());
    Ok((
        spread(
            Check::Throttle,
            fleet,
            n,
            offered,
            length,
            users_for(offered, rtt),
        ),
        offered,
    ))
}

/// The per-IP phase: (a) a noisy source at 1.25 x the per-IP rate until the lag allowance
/// after it crosses the limit (stopping 2 s after its first block); (b) a steady source at
/// 0.8 x the per-IP rate for 1.5 windows; (c) a bystander at 0.25 x. Each role needs an address
/// of its own: on loopback each has one; from machines' own addresses role `i` is shard
/// `i + 1`'s, so one runner plays only (a), two play (a) and (b), three all three.
pub fn per_ip(
    l: &Limits,
    (sources, shards): (Sources, usize),
    lag: Duration,
    prior: u64,
    rtt: Duration,
) -> Result<(Vec<Stream>, PerIpRoles), String> {
    let r = l.per_ip_rate;
    let noisy_rate = 1.25 * r;
    let roles = match sources {
        Sources::Loopback => 3,
        Sources::Machine => shards.clamp(1, 3),
    };
    let parts = [1.25, 0.8, 0.25][..roles].iter().sum::<f64>();
    if parts * r > 0.9 * l.rate {
        return Err(format!(
            "the per-IP rate {r}/s is too close to the API rate {}/s to test: the per-IP phase sends {:.2} x the per-IP rate and must stay under 0.9 x the API rate",
            l.rate, parts
        ));
    }
    let crossing_seq = l.per_ip_limit.saturating_sub(prior);
    let crossing = secs(crossing_seq as f64 / noisy_rate);
    let noisy_length = crossing + lag + Duration::from_secs(3);
    let steady_length = l.window.mul_f64(1.5);
    let length = noisy_length.max(if roles > 1 {
        steady_length
    } else {
        Duration::ZERO
    });
    check_length(
        &format!(
            "the per-IP phase ({} requests per {} s)",
            l.per_ip_limit,
            l.window.as_secs()
        ),
        length,
        "test a copy of the spec with scaled limits",
    )?;
    let stream = |i: usize, rate: f64, length: Duration| Stream {
        id: i,
        source: match sources {
            Sources::Loopback => Some(Sources::loopback(Check::PerIp, i)),
            Sources::Machine => None,
        },
        rate: Some(rate),
        start: Duration::ZERO,
        count: (rate * length.as_secs_f64()).ceil() as u64 + 1,
        users: users_for(rate, rtt),
        stop_after_block: None,
        mark: None,
    };
    let mut streams = vec![Stream {
        stop_after_block: Some(Duration::from_secs(2)),
        mark: Some(crossing_seq),
        ..stream(0, noisy_rate, noisy_length)
    }];
    let lacking = |n: usize| {
        Err(format!(
            "needs a source address of its own, and this run has {n} runner{}: shard it over 3 (docs/loadtest.md, \"Load from many machines\")",
            if n == 1 { "" } else { "s" }
        ))
    };
    let steady = if roles > 1 {
        streams.push(stream(1, 0.8 * r, steady_length));
        Ok(1)
    } else {
        lacking(shards)
    };
    let bystander = if roles > 2 {
        streams.push(stream(2, 0.25 * r, length));
        Ok(2)
    } else {
        lacking(shards)
    };
    Ok((
        streams,
        PerIpRoles {
            noisy: 0,
            noisy_prior: prior,
            steady,
            bystander,
            limit: l.per_ip_limit,
            window: l.window,
            lag,
        },
    ))
}

/// The soak: `fraction x rate` for `length`, spread so no source sends more than half the
/// per-IP rate.
pub fn soak(
    l: &Limits,
    fraction: f64,
    length: Duration,
    fleet: (Sources, usize),
    rtt: Duration,
) -> Result<Vec<Stream>, String> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(format!(
            "--soak-fraction {fraction} is not between 0 and 1: the soak runs below the throttle"
        ));
    }
    if length > MAX_SOAK || length < Duration::from_secs(2) {
        return Err(format!(
            "--soak-secs {} is outside 2 to {}",
            length.as_secs(),
            MAX_SOAK.as_secs()
        ));
    }
    let rate = (l.rate * fraction).max(0.1);
    let n = (rate / (l.per_ip_rate / 2.0)).ceil() as usize;
    Ok(spread(
        Check::Soak,
        fleet,
        n,
        rate,
        length,
        users_for(rate, rtt),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prod spec: 1000/s, burst 2000, 10/s per IP over 60 s (600).
    const PROD: Limits = Limits {
        rate: 1000.0,
        burst: 2000,
        per_ip_rate: 10.0,
        per_ip_limit: 600,
        window: Duration::from_secs(60),
    };

    fn total(streams: &[Stream]) -> u64 {
        streams.iter().map(|s| s.count).sum()
    }

    #[test]
    fn unknown_checks_are_refused_with_the_list() {
        assert_eq!("per-ip".parse::<Check>(), Ok(Check::PerIp));
        let e = "throtle".parse::<Check>().unwrap_err();
        assert!(e.contains("burst, throttle, per-ip, soak"), "{e}");
    }

    #[test]
    fn the_prod_throttle_drains_in_4_s_and_no_source_nears_the_per_ip_limit() {
        let (streams, offered) = throttle(
            &PROD,
            1.5,
            Duration::from_secs(5),
            (Sources::Loopback, 1),
            Duration::from_millis(2),
        )
        .unwrap();
        assert_eq!(offered, 1500.0);
        // 2000 / (1500 - 1000) = 4 s, + 1 s, + 5 s measured: 10 s at 1500/s.
        assert!((15_000..=15_000 + streams.len() as u64).contains(&total(&streams)));
        assert!(
            streams.iter().all(|s| s.count <= 300),
            "each under half of 600"
        );
        // 80 ms round trips at 1500/s: 120 in flight, 4 x headroom.
        let (deployed, _) = throttle(
            &PROD,
            1.5,
            Duration::from_secs(5),
            (Sources::Machine, 1),
            Duration::from_millis(80),
        )
        .unwrap();
        assert_eq!(deployed.len(), 1);
        assert_eq!(deployed[0].source, None);
        assert!(deployed[0].users >= 480);
    }

    #[test]
    fn phases_longer_than_the_maximum_are_refused() {
        let slow = Limits {
            rate: 1.0 / 60.0,
            burst: 5000,
            ..PROD
        };
        let e = refill(&slow).unwrap_err();
        assert!(e.contains("maximum of 1800 s"), "{e}");
        assert!(
            throttle(
                &slow,
                1.5,
                Duration::from_secs(5),
                (Sources::Loopback, 1),
                Duration::ZERO
            )
            .is_err()
        );
        assert!(
            throttle(
                &PROD,
                1.0,
                Duration::from_secs(5),
                (Sources::Loopback, 1),
                Duration::ZERO
            )
            .is_err()
        );
    }

    #[test]
    fn the_per_ip_phase_crosses_the_limit_and_runs_one_and_a_half_windows() {
        let (streams, roles) = per_ip(
            &PROD,
            (Sources::Loopback, 1),
            DEV_WAF_LAG,
            0,
            Duration::from_millis(2),
        )
        .unwrap();
        assert_eq!(streams.len(), 3);
        // (a) 12.5/s: past 600 after 48 s, sent until 48 + 1 + 3 s.
        assert_eq!(streams[0].rate, Some(12.5));
        assert_eq!(streams[0].count, 651, "12.5/s x 52 s, and one");
        // (b) 8/s for 90 s: 480 in any 60 s, under 600; 720 over 5 minutes, over 600.
        assert_eq!(streams[1].rate, Some(8.0));
        assert_eq!(streams[1].count, 721);
        assert_eq!(roles.limit, 600);
        let (one, roles) = per_ip(
            &PROD,
            (Sources::Machine, 1),
            DEPLOYED_WAF_LAG,
            10,
            Duration::from_millis(80),
        )
        .unwrap();
        assert_eq!(one.len(), 1);
        assert!(roles.steady.is_err() && roles.bystander.is_err());
        assert_eq!(roles.noisy_prior, 10);
    }

    #[test]
    fn a_per_ip_rate_near_the_api_rate_cannot_be_tested() {
        let close = Limits {
            per_ip_rate: 500.0,
            per_ip_limit: 30_000,
            ..PROD
        };
        assert!(
            per_ip(
                &close,
                (Sources::Loopback, 1),
                DEV_WAF_LAG,
                0,
                Duration::ZERO
            )
            .is_err()
        );
    }

    #[test]
    fn the_burst_sends_two_and_a_half_buckets_and_the_soak_stays_under_the_per_ip_rate() {
        let b = burst(&PROD, (Sources::Loopback, 1), Duration::from_millis(2));
        assert_eq!(total(&b), 5000);
        assert!(b.iter().all(|s| s.count <= 300 && s.rate.is_none()));
        let s = soak(
            &PROD,
            0.1,
            Duration::from_secs(60),
            (Sources::Loopback, 1),
            Duration::from_millis(2),
        )
        .unwrap();
        assert!(s.iter().all(|s| s.rate.unwrap() <= 5.0));
        assert!((6000..6000 + s.len() as u64).contains(&total(&s)));
        assert!(
            soak(
                &PROD,
                1.5,
                Duration::from_secs(60),
                (Sources::Loopback, 1),
                Duration::ZERO
            )
            .is_err()
        );
    }
}
