//! A whole `wh loadtest` run: a round-trip probe, then each chosen check's phase after the
//! bucket has refilled, and its verdict.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::phase::{Phase, Signer, Stream, run_phase};
use crate::plan::{self, Check, Limits, Sources};
use crate::verdict::{self, Accounting, Target, Verdict};

/// Everything a run needs besides the after-check.
#[derive(Clone)]
pub struct Options {
    /// The checks, in the order given (each at most once).
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
    /// Soak: length and rate (fraction of the API rate).
    pub soak_secs: u64,
    /// Soak: rate as a fraction of the API rate.
    pub soak_fraction: f64,
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

/// A check's phase as planned, with what its verdict needs besides the answers.
enum Planned {
    Burst(Vec<Stream>),
    /// With the offered rate.
    Throttle(Vec<Stream>, f64),
    /// With which stream plays which part.
    PerIp(Vec<Stream>, verdict::PerIpRoles),
    Soak(Vec<Stream>),
}

/// The probe: this many requests, one after another.
pub const PROBE_REQUESTS: u64 = 10;

/// Round trips of [`PROBE_REQUESTS`] signed webhooks sent one after another; the 90th
/// percentile sizes the phases' users (Little's law). Answers other than 2xx are errors: a
/// load test against a stack that refuses one webhook at rest would measure nothing.
pub async fn probe(o: &Options) -> Result<Duration, String> {
    let mut client = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if let Some(ip) = o.sources.probe() {
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
    fn phase(&self, check: Check, streams: Vec<Stream>, collect_ids: bool) -> Phase {
        Phase {
            name: check.name().into(),
            host: self.host.clone(),
            path: self.path.clone(),
            streams,
            timeout: match self.target {
                Target::Dev => Duration::from_secs(10),
                // API Gateway's longest integration timeout is 29 s.
                Target::Deployed => Duration::from_secs(30),
            },
            report_files: ["html", "json", "md"]
                .map(|ext| self.report_dir.join(format!("{}.{ext}", check.name())))
                .to_vec(),
            signer: self.signer.clone(),
            block_header: Some(self.block_header.clone()),
            collect_ids,
        }
    }

    /// Plans every chosen check before anything is sent, so a phase the limits make too long
    /// is refused at once, not after the others ran.
    pub fn validate(&self) -> Result<(), String> {
        plan::refill(&self.limits)?;
        for check in &self.checks {
            self.plan(*check, Duration::from_millis(1))?;
        }
        Ok(())
    }

    /// What `check` sends, for round trips of `rtt`.
    fn plan(&self, check: Check, rtt: Duration) -> Result<Planned, String> {
        let l = &self.limits;
        Ok(match check {
            Check::Burst => Planned::Burst(plan::burst(l, self.sources, rtt)),
            Check::Throttle => {
                let (streams, offered) = plan::throttle(
                    l,
                    self.load_factor,
                    Duration::from_secs(self.throttle_secs),
                    self.sources,
                    rtt,
                )?;
                Planned::Throttle(streams, offered)
            }
            Check::PerIp => {
                // From the machine's own address the probe's requests are in the rule's
                // window too.
                let prior = match self.sources {
                    Sources::Loopback => 0,
                    Sources::Machine => PROBE_REQUESTS,
                };
                let (streams, roles) = plan::per_ip(l, self.sources, self.lag(), prior, rtt)?;
                Planned::PerIp(streams, roles)
            }
            Check::Soak => Planned::Soak(plan::soak(
                l,
                self.soak_fraction,
                Duration::from_secs(self.soak_secs),
                self.sources,
                rtt,
            )?),
        })
    }

    fn lag(&self) -> Duration {
        match self.target {
            Target::Dev => plan::DEV_WAF_LAG,
            Target::Deployed => plan::DEPLOYED_WAF_LAG,
        }
    }
}

/// Runs the checks; `after_check` is handed the ids the soak had answered 2xx and says what
/// became of them.
pub async fn run<F, Fut>(o: &Options, after_check: F) -> Result<Vec<Verdict>, String>
where
    F: FnOnce(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Accounting, String>>,
{
    o.validate()?;
    let rtt = probe(o).await?;
    let refill = plan::refill(&o.limits)?;
    let l = &o.limits;
    let mut verdicts = Vec::new();
    let mut after_check = Some(after_check);
    for check in &o.checks {
        tokio::time::sleep(refill).await;
        let verdict = match o.plan(*check, rtt)? {
            Planned::Burst(streams) => {
                let r = run_phase(&o.phase(*check, streams, false)).await?;
                verdict::burst(&r.answers, l.burst, l.rate, o.target)
            }
            Planned::Throttle(streams, offered) => {
                let r = run_phase(&o.phase(*check, streams, false)).await?;
                verdict::throttle(&r.answers, l.rate, l.burst, offered, o.target)
            }
            Planned::PerIp(streams, roles) => {
                let r = run_phase(&o.phase(*check, streams, false)).await?;
                verdict::per_ip(&r.answers, &roles, o.target)
            }
            Planned::Soak(streams) => {
                let r = run_phase(&o.phase(*check, streams, true)).await?;
                let accounting = match after_check.take() {
                    Some(f) => f(r.webhook_ids).await,
                    None => Err("the soak ran twice".into()),
                };
                verdict::soak(&r.answers, r.elapsed, accounting, o.target)
            }
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
