//! A whole `wh loadtest` run: a round-trip probe, then each chosen check's phase after the
//! bucket has refilled, measured ([`crate::measure`]), then judged.
//!
//! A run is one shard of `N` (a single run is shard 1 of 1). A single run starts each phase when
//! the previous one is done and the bucket has refilled. A sharded run starts every phase at an
//! agreed wall-clock time ([`RunPlan::schedule`]), so each runner sends its share of the same
//! phase at the same time; each writes its [`Measurements`] and `wh loadtest merge` sums them
//! ([`crate::merge`]) and judges them as one run.

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::measure::{self, PhaseMeasure};
use crate::phase::{Phase, PhaseResult, Signer, Stream, run_phase};
use crate::plan::{self, Check, Limits, Sources};
use crate::verdict::{self, Accounting, Target, Verdict};

/// Everything that decides what a run sends and how it is judged: the same in every shard of
/// a sharded run (`wh loadtest merge` refuses shards whose plans differ).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunPlan {
    /// The stack's name (`<name>-<suffix>`).
    pub stack: String,
    /// SHA-256 of the spec file the limits came from.
    pub spec_sha256: String,
    /// The stage URL.
    pub target_url: String,
    /// The checks, in run order.
    pub checks: Vec<Check>,
    /// Which bands apply.
    pub target: Target,
    /// Where requests come from.
    pub sources: Sources,
    /// The limits the stack should enforce.
    pub limits: Limits,
    /// Throttle phase: offered load as a multiple of the rate.
    pub load_factor: f64,
    /// Throttle phase: seconds measured after the bucket drained.
    pub throttle_secs: u64,
    /// Soak: length, seconds.
    pub soak_secs: u64,
    /// Soak: rate as a fraction of the API rate.
    pub soak_fraction: f64,
    /// How many shards the load is split over (1: a single run).
    pub shards: usize,
    /// The agreed start of a sharded run (RFC 3339, UTC); `None`: a single run, which starts
    /// when it is ready.
    pub start_at: Option<String>,
}

/// Everything a run needs besides the after-check.
#[derive(Clone)]
pub struct Options {
    /// What is sent and judged.
    pub plan: RunPlan,
    /// This runner's shard, 1-based.
    pub shard: usize,
    /// Scheme, host and port.
    pub host: String,
    /// Path posted to.
    pub path: String,
    /// Signs each request.
    pub signer: Signer,
    /// The per-IP rule's response header (name, value).
    pub block_header: (String, String),
    /// Where goose's reports go.
    pub report_dir: PathBuf,
}

/// A check's phase as planned, with what its verdict needs besides the measurement.
pub enum Planned {
    /// The burst.
    Burst(Vec<Stream>),
    /// With the offered rate.
    Throttle(Vec<Stream>, f64),
    /// With which stream plays which part.
    PerIp(Vec<Stream>, verdict::PerIpRoles),
    /// The soak.
    Soak(Vec<Stream>),
}

impl Planned {
    /// The phase's streams, for every shard.
    pub fn streams(&self) -> &[Stream] {
        match self {
            Planned::Burst(s)
            | Planned::Throttle(s, _)
            | Planned::PerIp(s, _)
            | Planned::Soak(s) => s,
        }
    }
}

/// One phase's place in a sharded run's schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The check.
    pub check: Check,
    /// When its schedule starts, after `--start-at`.
    pub offset: Duration,
    /// How long it sends for, as planned.
    pub length: Duration,
}

/// The probe: this many requests, one after another.
pub const PROBE_REQUESTS: u64 = 10;

/// How long before a scheduled phase its goose users are started (goose starts them at 4 a
/// millisecond, so 5,000 users take 1.25 s).
pub const LEAD: Duration = Duration::from_secs(2);

/// What a shard writes: its plan, its measurements and its share of the soak's after-check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurements {
    /// [`FORMAT`].
    pub format: String,
    /// What was sent and how it is judged.
    pub plan: RunPlan,
    /// Which shard this is, 1-based.
    pub shard: usize,
    /// The address the machine sends from when requests are not bound to loopback sources
    /// (`None`: unknown).
    pub egress: Option<IpAddr>,
    /// One measurement per check, in the plan's order.
    pub phases: Vec<PhaseMeasure>,
    /// What became of the webhooks this shard's soak had answered 2xx (`None`: no soak).
    pub accounting: Option<Result<Accounting, String>>,
}

/// The measurements file's format name and version.
pub const FORMAT: &str = "wh-loadtest-measurements/1";

/// Parses an RFC 3339 time.
pub fn parse_time(text: &str) -> Result<SystemTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(SystemTime::from)
        .map_err(|e| format!("`{text}` is not an RFC 3339 time (2026-11-30T09:00:00Z): {e}"))
}

/// Formats a time as RFC 3339 in UTC.
pub fn format_time(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl RunPlan {
    fn fleet(&self) -> (Sources, usize) {
        (self.sources, self.shards.max(1))
    }

    fn lag(&self) -> Duration {
        match self.target {
            Target::Dev => plan::DEV_WAF_LAG,
            Target::Deployed => plan::DEPLOYED_WAF_LAG,
        }
    }

    /// How long one request may take before it counts as unanswered.
    pub fn timeout(&self) -> Duration {
        match self.target {
            Target::Dev => Duration::from_secs(10),
            // API Gateway's longest integration timeout is 29 s.
            Target::Deployed => Duration::from_secs(30),
        }
    }

    /// Requests the per-IP phase's noisy address sent earlier in the rule's window: from a
    /// machine's own address, a single run's probe (sent just before); a sharded run waits a
    /// window before the per-IP phase ([`RunPlan::schedule`]), so nothing. Loopback probes
    /// come from an address of their own.
    fn prior(&self) -> u64 {
        match (self.sources, &self.start_at) {
            (Sources::Machine, None) => PROBE_REQUESTS,
            _ => 0,
        }
    }

    /// What `check` sends, for round trips of `rtt` (which only sizes the users).
    pub fn planned(&self, check: Check, rtt: Duration) -> Result<Planned, String> {
        let l = &self.limits;
        Ok(match check {
            Check::Burst => Planned::Burst(plan::burst(l, self.fleet(), rtt)),
            Check::Throttle => {
                let (streams, offered) = plan::throttle(
                    l,
                    self.load_factor,
                    Duration::from_secs(self.throttle_secs),
                    self.fleet(),
                    rtt,
                )?;
                Planned::Throttle(streams, offered)
            }
            Check::PerIp => {
                let (streams, roles) =
                    plan::per_ip(l, self.fleet(), self.lag(), self.prior(), rtt)?;
                Planned::PerIp(streams, roles)
            }
            Check::Soak => Planned::Soak(plan::soak(
                l,
                self.soak_fraction,
                Duration::from_secs(self.soak_secs),
                self.fleet(),
                rtt,
            )?),
        })
    }

    /// Plans every chosen check before anything is sent, so a phase the limits make too long
    /// is refused at once, not after the others ran.
    pub fn validate(&self) -> Result<(), String> {
        if self.shards == 0 || self.shards > MAX_SHARDS {
            return Err(format!(
                "{} shards: a run is split over 1 to {MAX_SHARDS}",
                self.shards
            ));
        }
        plan::refill(&self.limits)?;
        for check in &self.checks {
            self.planned(*check, Duration::from_millis(1))?;
        }
        if self.shards > 1 && self.start_at.is_none() {
            return Err("a sharded run needs --start-at, the time every shard starts".into());
        }
        if let Some(t) = &self.start_at {
            parse_time(t)?;
        }
        Ok(())
    }

    /// How long `check`'s phase sends for: its last stream's last scheduled request; a burst,
    /// which sends as fast as it can, is allowed `max(1 s, n / (2 x rate))` (slower, it could
    /// not empty the bucket and would be inconclusive anyway).
    fn length(&self, check: Check) -> Result<Duration, String> {
        let planned = self.planned(check, Duration::from_millis(1))?;
        if let Planned::Burst(_) = planned {
            let n = plan::burst_count(&self.limits) as f64;
            return Ok(Duration::from_secs_f64(
                (n / (2.0 * self.limits.rate)).max(1.0),
            ));
        }
        Ok(planned
            .streams()
            .iter()
            .map(|s| match s.rate {
                Some(r) if r > 0.0 => {
                    s.start + Duration::from_secs_f64(s.count.saturating_sub(1) as f64 / r)
                }
                _ => s.start,
            })
            .max()
            .unwrap_or_default())
    }

    /// A sharded run's timetable, from `--start-at`: before each phase the bucket refills
    /// (`burst / rate + 1 s`; before the per-IP phase from machines' own addresses also a
    /// whole window and 10 s, so no earlier phase's requests count in the rule's window);
    /// after it, its planned length and the answers' allowance (the request timeout against a
    /// deployed stack, 3 s against `wh dev`). A phase still sending when the next is due makes
    /// that one late, and `wh loadtest merge` says so.
    pub fn schedule(&self) -> Result<Vec<Slot>, String> {
        let refill = plan::refill(&self.limits)?;
        let drain = match self.target {
            Target::Dev => Duration::from_secs(3),
            Target::Deployed => self.timeout(),
        };
        let mut at = Duration::ZERO;
        let mut slots = Vec::new();
        for check in &self.checks {
            let gap = if *check == Check::PerIp && self.sources == Sources::Machine {
                refill.max(self.limits.window + Duration::from_secs(10))
            } else {
                refill
            };
            let length = self.length(*check)?;
            at += gap;
            slots.push(Slot {
                check: *check,
                offset: at,
                length,
            });
            at += length + drain;
        }
        Ok(slots)
    }
}

impl RunPlan {
    /// Requests `check`'s phase sends, all shards together.
    pub fn requests(&self, check: Check) -> Result<u64, String> {
        Ok(self
            .planned(check, Duration::from_millis(1))?
            .streams()
            .iter()
            .map(|s| s.count)
            .sum())
    }

    /// How many runners with addresses of their own a run from machines' addresses needs so
    /// that no address sends more than half the per-IP limit within any of the rule's windows
    /// (the margin the loopback plan keeps too): the most requests of the burst, throttle and
    /// soak phases in any window of the schedule (each phase's requests spread evenly over
    /// its length) over half the limit; at least 3 with the per-IP check (an address per
    /// role). The per-IP phase is left out: a window passes before it.
    pub fn runners_needed(&self) -> Result<usize, String> {
        let slots = self.schedule()?;
        let mut spans = Vec::new();
        for slot in &slots {
            if slot.check == Check::PerIp {
                continue;
            }
            let start = slot.offset.as_secs_f64();
            let requests = self.requests(slot.check)? as f64;
            // A rate phase spans its requests at its total rate (one interval longer than from
            // its first request to its last); a burst, its allowance.
            let rate: f64 = self
                .planned(slot.check, Duration::from_millis(1))?
                .streams()
                .iter()
                .filter_map(|s| s.rate)
                .sum();
            let length = if rate > 0.0 {
                requests / rate
            } else {
                slot.length.as_secs_f64()
            }
            .max(1e-3);
            spans.push((start, start + length, requests));
        }
        let window = self.limits.window.as_secs_f64();
        let in_window = |from: f64| -> f64 {
            let to = from + window;
            spans
                .iter()
                .map(|(s, e, n)| n * ((e.min(to) - s.max(from)).max(0.0) / (e - s)))
                .sum()
        };
        // The count over a sliding window is greatest when the window starts at a phase's start
        // or ends at a phase's end.
        let most = spans
            .iter()
            .flat_map(|(s, e, _)| [*s, e - window])
            .map(in_window)
            .fold(0.0, f64::max);
        let half = (self.limits.per_ip_limit as f64 / 2.0).max(1.0);
        let mut needed = (most / half).ceil() as usize;
        if self.checks.contains(&Check::PerIp) {
            needed = needed.max(3);
        }
        Ok(needed.max(1))
    }
}

/// At most 256 shards: GitHub Actions' limit of jobs in one matrix.
pub const MAX_SHARDS: usize = 256;

/// Round trips of [`PROBE_REQUESTS`] signed webhooks sent one after another; the 90th
/// percentile sizes the phases' users (Little's law). Answers other than 2xx are errors: a
/// load test against a stack that refuses one webhook at rest would measure nothing.
pub async fn probe(o: &Options) -> Result<Duration, String> {
    let mut client = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if let Some(ip) = o.plan.sources.probe(o.shard) {
        client = client.local_address(ip);
    }
    let client = client.build().map_err(|e| e.to_string())?;
    let mut rtts = Vec::new();
    for n in 0..PROBE_REQUESTS {
        let (headers, body) = (o.signer)(u64::MAX - n);
        let mut request = client.post(format!("{}{}", o.host, o.path)).body(body);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let started = Instant::now();
        let response = request
            .send()
            .await
            .map_err(|e| format!("the round-trip probe got no answer: {e}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!(
                "the round-trip probe's webhook was answered {status}: {}",
                text.chars().take(200).collect::<String>()
            ));
        }
        rtts.push(started.elapsed());
    }
    rtts.sort();
    Ok(rtts[rtts.len() * 9 / 10 - 1].max(Duration::from_millis(1)))
}

impl Options {
    fn phase(
        &self,
        check: Check,
        streams: Vec<Stream>,
        collect_ids: bool,
        start: Option<Instant>,
    ) -> Phase {
        Phase {
            name: check.name().into(),
            host: self.host.clone(),
            path: self.path.clone(),
            streams,
            timeout: self.plan.timeout(),
            report_files: ["html", "json", "md"]
                .map(|ext| self.report_dir.join(format!("{}.{ext}", check.name())))
                .to_vec(),
            signer: self.signer.clone(),
            block_header: Some(self.block_header.clone()),
            collect_ids,
            start,
        }
    }
}

/// Runs this shard's share of every check and measures it; `after_check` is handed the ids
/// the soak had answered 2xx and says what became of them. `egress` is recorded as the
/// machine's address.
pub async fn measure<F, Fut>(
    o: &Options,
    egress: Option<IpAddr>,
    after_check: F,
) -> Result<Measurements, String>
where
    F: FnOnce(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Accounting, String>>,
{
    let p = &o.plan;
    p.validate()?;
    if o.shard == 0 || o.shard > p.shards {
        return Err(format!(
            "shard {} of {}: shards count from 1",
            o.shard, p.shards
        ));
    }
    let schedule = match &p.start_at {
        Some(_) => Some(p.schedule()?),
        None => None,
    };
    let rtt = probe(o).await?;
    // The agreed start on this machine's monotonic clock.
    let anchor = match &p.start_at {
        Some(t) => {
            let start = parse_time(t)?;
            let now = SystemTime::now();
            Some(match start.duration_since(now) {
                Ok(ahead) => Instant::now() + ahead,
                Err(past) => Instant::now()
                    .checked_sub(past.duration())
                    .unwrap_or_else(Instant::now),
            })
        }
        None => None,
    };
    let refill = plan::refill(&p.limits)?;
    let mut phases = Vec::new();
    let mut accounting = None;
    let mut after_check = Some(after_check);
    for (k, check) in p.checks.iter().enumerate() {
        let planned = p.planned(*check, rtt)?;
        let mine: Vec<Stream> = planned
            .streams()
            .iter()
            .filter(|s| plan::shard_of(s.id, p.shards) == o.shard)
            .cloned()
            .collect();
        let start = match (anchor, &schedule) {
            (Some(anchor), Some(slots)) => {
                let t0 = anchor + slots[k].offset;
                tokio::time::sleep_until(t0.checked_sub(LEAD).unwrap_or(t0).into()).await;
                Some(t0)
            }
            _ => {
                tokio::time::sleep(refill).await;
                None
            }
        };
        let collect = *check == Check::Soak;
        let result = if mine.is_empty() {
            PhaseResult::default()
        } else {
            run_phase(&o.phase(*check, mine.clone(), collect, start)).await?
        };
        let slot = measure::slot_for(p.length(*check)?);
        let mut m = PhaseMeasure::of(*check, &result.answers, &mine, slot);
        m.users = result.users;
        m.start_late_us = u64::try_from(result.start_late.as_micros()).unwrap_or(u64::MAX);
        if collect && let Some(f) = after_check.take() {
            accounting = Some(f(result.webhook_ids).await);
        }
        phases.push(m);
    }
    Ok(Measurements {
        format: FORMAT.to_owned(),
        plan: p.clone(),
        shard: o.shard,
        egress,
        phases,
        accounting,
    })
}

/// The verdicts of a run's measurements (one shard's of one, or the merged sum). `roles_apart`
/// says, for a per-IP phase from machines' own addresses, whether shard `a`'s and shard `b`'s
/// addresses are known and different (the per-IP parts need an address per role).
pub fn judge(
    p: &RunPlan,
    phases: &[PhaseMeasure],
    accounting: Option<Result<Accounting, String>>,
    roles_apart: impl Fn(usize, usize) -> Result<(), String>,
) -> Result<Vec<Verdict>, String> {
    let l = &p.limits;
    let mut accounting = accounting;
    let mut verdicts = Vec::new();
    for (check, m) in p.checks.iter().zip(phases) {
        let verdict = match p.planned(*check, Duration::from_millis(1))? {
            Planned::Burst(_) => verdict::burst(m, l.burst, l.rate, p.target),
            Planned::Throttle(_, offered) => {
                verdict::throttle(m, l.rate, l.burst, offered, p.target)
            }
            Planned::PerIp(_, mut roles) => {
                if p.sources == Sources::Machine {
                    let noisy = plan::shard_of(roles.noisy, p.shards);
                    if let Ok(steady) = roles.steady {
                        let shard = plan::shard_of(steady, p.shards);
                        if let Err(why) = roles_apart(noisy, shard) {
                            roles.steady = Err(why);
                        }
                    }
                    if let Ok(bystander) = roles.bystander {
                        let shard = plan::shard_of(bystander, p.shards);
                        let apart = roles_apart(noisy, shard).and_then(|()| match roles.steady {
                            Ok(steady) => roles_apart(plan::shard_of(steady, p.shards), shard),
                            Err(_) => Ok(()),
                        });
                        if let Err(why) = apart {
                            roles.bystander = Err(why);
                        }
                    }
                }
                verdict::per_ip(m, &roles, p.target)
            }
            Planned::Soak(_) => verdict::soak(
                m,
                Duration::from_secs(p.soak_secs),
                accounting
                    .take()
                    .unwrap_or_else(|| Err("no after-check was recorded".into())),
                p.target,
            ),
        };
        verdicts.push(verdict);
    }
    Ok(verdicts)
}

/// Polls `read` every `every` until nothing is left on its way (at most `limit`), and returns
/// the last reading: the soak's after-check waits for the queue to drain before judging.
pub async fn settle<F, Fut>(
    mut read: F,
    limit: Duration,
    every: Duration,
) -> Result<Accounting, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Accounting, String>>,
{
    let started = Instant::now();
    loop {
        let acc = read().await?;
        if acc.settled() || started.elapsed() > limit {
            return Ok(acc);
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prod(checks: Vec<Check>, sources: Sources, shards: usize) -> RunPlan {
        RunPlan {
            stack: "payments-prod".into(),
            spec_sha256: "0".into(),
            target_url: "https://example.invalid/live".into(),
            checks,
            target: Target::Deployed,
            sources,
            limits: Limits {
                rate: 1000.0,
                burst: 2000,
                per_ip_rate: 10.0,
                per_ip_limit: 600,
                window: Duration::from_secs(60),
            },
            load_factor: 1.5,
            throttle_secs: 5,
            soak_secs: 300,
            soak_fraction: 0.1,
            shards,
            start_at: Some("2026-11-30T09:00:00Z".into()),
        }
    }

    #[test]
    fn the_prod_schedule_refills_before_each_phase_and_waits_a_window_before_per_ip() {
        let p = prod(
            vec![Check::Burst, Check::Throttle, Check::PerIp],
            Sources::Machine,
            150,
        );
        let s = p.schedule().unwrap();
        // Refill: 2000 / 1000 + 1 = 3 s. Burst: 5000 requests allowed 5000 / 2000 = 2.5 s, then
        // 30 s of answers. Throttle: 10 s at 1500/s (its last request at 10 s less one
        // interval), 30 s of answers; then a window of 60 s and 10 s before the per-IP phase.
        assert_eq!(s[0].offset, Duration::from_secs(3));
        assert_eq!(s[0].length, Duration::from_millis(2500));
        assert_eq!(
            s[1].offset,
            Duration::from_millis(3000 + 2500 + 30_000 + 3000)
        );
        let throttle_end = s[1].offset + s[1].length + Duration::from_secs(30);
        assert_eq!(s[2].offset, throttle_end + Duration::from_secs(70));
        assert!(
            s[1].length > Duration::from_millis(9990) && s[1].length <= Duration::from_secs(10)
        );
    }

    #[test]
    fn the_prod_spec_needs_67_runners_for_burst_and_throttle_through_the_waf() {
        // Burst 5,000 and throttle 15,000 fall in one 60 s window (3 s to 48.5 s): 20,000
        // requests, at most 300 (half of 600) an address: 67 runners.
        let p = prod(vec![Check::Burst, Check::Throttle], Sources::Machine, 50);
        assert_eq!(p.requests(Check::Burst).unwrap(), 5000);
        assert_eq!(p.requests(Check::Throttle).unwrap(), 15_000);
        assert_eq!(p.runners_needed().unwrap(), 67);
        // The throttle alone: 15,000 / 300 = 50. The soak alone: 100/s, 6,000 a window: 20.
        let p = prod(vec![Check::Throttle], Sources::Machine, 50);
        assert_eq!(p.runners_needed().unwrap(), 50);
        let p = prod(vec![Check::Soak], Sources::Machine, 20);
        assert_eq!(p.runners_needed().unwrap(), 20);
        // The per-IP check alone: an address per role.
        let p = prod(vec![Check::PerIp], Sources::Machine, 3);
        assert_eq!(p.runners_needed().unwrap(), 3);
    }

    #[test]
    fn sharded_runs_need_a_start_and_at_most_256_shards() {
        let mut p = prod(vec![Check::Burst], Sources::Machine, 2);
        p.start_at = None;
        assert!(p.validate().unwrap_err().contains("--start-at"));
        let p = prod(vec![Check::Burst], Sources::Machine, 257);
        assert!(p.validate().unwrap_err().contains("1 to 256"));
        let mut p = prod(vec![Check::Burst], Sources::Machine, 2);
        p.start_at = Some("tomorrow".into());
        assert!(p.validate().unwrap_err().contains("RFC 3339"));
    }

    #[test]
    fn every_shard_gets_its_share_of_every_phase() {
        let p = prod(
            vec![Check::Burst, Check::Throttle, Check::Soak],
            Sources::Machine,
            4,
        );
        for check in [Check::Burst, Check::Throttle, Check::Soak] {
            let planned = p.planned(check, Duration::from_millis(80)).unwrap();
            let streams = planned.streams();
            for shard in 1..=4 {
                assert_eq!(
                    streams
                        .iter()
                        .filter(|s| plan::shard_of(s.id, 4) == shard)
                        .count(),
                    1,
                    "{check:?} shard {shard}"
                );
            }
        }
        // From machines' own addresses the roles of the per-IP phase go to shards 1, 2, 3.
        let p = prod(vec![Check::PerIp], Sources::Machine, 4);
        let Planned::PerIp(streams, roles) = p.planned(Check::PerIp, Duration::ZERO).unwrap()
        else {
            panic!("not a per-IP plan")
        };
        assert_eq!(streams.len(), 3);
        assert_eq!((roles.steady, roles.bystander), (Ok(1), Ok(2)));
        assert_eq!(roles.noisy_prior, 0, "a window passes before the phase");
    }
}
