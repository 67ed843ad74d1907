//! `wh loadtest`: prove the stage throttle, the burst and the per-IP WAF limit, with goose,
//! against `wh dev` or a deployed stack. Every phase is bounded in time and request count.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wh::pipeline;
use wh::stack_state::Leftovers;
use wh_loadtest::verdict::{self, Verdict};
use wh_loadtest::{Phase, Signer, run_phase};
use wh_runtime::verify::sign;

use super::send::sample_event;
use super::{Outcome, OutputFormat, write_files};
use crate::dev;

/// Arguments of `wh loadtest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spec whose limits are checked.
    #[arg(value_name = "SPEC")]
    spec: PathBuf,
    /// The stage URL (http://127.0.0.1:8787/live for `wh dev`); default: `ApiUrl` from the
    /// flat-outputs file.
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// Flat-outputs file (default outputs/<name>-<suffix>.json, as `wh deploy` writes it).
    #[arg(long, value_name = "FILE")]
    outputs: Option<PathBuf>,
    /// Provider whose signed webhooks are sent (default: the spec's first).
    #[arg(long)]
    provider: Option<String>,
    /// Signing secrets file (default .wh/dev-secrets/<env>.json).
    #[arg(long, value_name = "FILE")]
    secrets_file: Option<PathBuf>,
    /// Checks to run.
    #[arg(long, value_delimiter = ',', default_values_t = ["burst".to_owned(), "throttle".to_owned(), "per-ip".to_owned()])]
    checks: Vec<String>,
    /// Length of the throttle phase, seconds.
    #[arg(long, default_value_t = 10)]
    throttle_secs: u64,
    /// Offered load of the throttle phase, as a multiple of the API rate.
    #[arg(long, default_value_t = 1.5)]
    load_factor: f64,
    /// Length of the soak phase (`--checks soak`), seconds.
    #[arg(long, default_value_t = 300)]
    soak_secs: u64,
    /// Rate of the soak phase, as a fraction of the API rate.
    #[arg(long, default_value_t = 0.1)]
    soak_fraction: f64,
    /// AWS region of a deployed stack (default: the spec's).
    #[arg(long)]
    region: Option<String>,
    /// AWS profile.
    #[arg(long)]
    profile: Option<String>,
    /// AWS endpoint (an emulator).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Source addresses the throttle phase spreads over (127.0.0.x on loopback).
    #[arg(long, default_value_t = 32)]
    sources: usize,
    /// Where reports go.
    #[arg(long, value_name = "DIR", default_value = "loadtest-report")]
    report_dir: PathBuf,
    /// How to print the verdicts.
    #[arg(long, value_enum, default_value_t)]
    output_format: OutputFormat,
}

pub fn run(args: &Args) -> Outcome {
    let compilation = match pipeline::compile(&args.spec) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", args.spec.display());
            return Outcome::Failed;
        }
    };
    let stack = &compilation.stack;
    let stack_name = format!("{}-{}", stack.name, stack.default_suffix);
    let target = match args
        .target
        .clone()
        .map_or_else(|| target_from_outputs(args, &stack_name), Ok)
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("wh loadtest: {e}");
            return Outcome::Error;
        }
    };
    let Ok(url) = reqwest::Url::parse(target.trim_end_matches('/')) else {
        eprintln!("wh loadtest: `{target}` is not a URL");
        return Outcome::Error;
    };
    let provider = match &args.provider {
        Some(p) => stack.providers.iter().find(|x| &x.name == p),
        None => stack.providers.first(),
    };
    let Some(provider) = provider.cloned() else {
        eprintln!("wh loadtest: no such provider in {}", args.spec.display());
        return Outcome::Error;
    };
    let secrets_path = args
        .secrets_file
        .clone()
        .unwrap_or_else(|| dev::secrets::default_path(&compilation.env));
    let secret = match dev::secrets::read(&secrets_path)
        .map(|all| all.get(&provider.name).and_then(|v| v.current.clone()))
    {
        Ok(Some(s)) => s,
        Ok(None) => {
            eprintln!(
                "wh loadtest: {} has no current secret for {}",
                secrets_path.display(),
                provider.name
            );
            return Outcome::Error;
        }
        Err(e) => {
            eprintln!("wh loadtest: {e}");
            return Outcome::Error;
        }
    };
    let host = format!(
        "{}://{}",
        url.scheme(),
        url.host_str().unwrap_or("127.0.0.1")
    ) + &url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = format!(
        "{}/webhook/{}",
        url.path().trim_end_matches('/'),
        provider.name
    );
    let loopback = url
        .host_str()
        .and_then(|h| h.parse::<IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback());
    let scheme = dev::runtime_scheme(&provider, format!("{host}{path}"));
    // Sign one request up front: a secret unusable for the scheme is an error now, not a run of
    // 401s.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (_, probe, probe_id) = sample_event(&provider, None, now);
    if let Err(e) = sign(&scheme, &secret, &probe, now, &probe_id) {
        eprintln!(
            "wh loadtest: cannot sign with the secret in {}: {e}",
            secrets_path.display()
        );
        return Outcome::Error;
    }
    let signer: Signer = Arc::new(move |_| {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let (mut headers, body, id) = sample_event(&provider, None, now);
        headers.extend(sign(&scheme, &secret, &body, now, &id).unwrap_or_default());
        (headers, body)
    });

    let rate = stack.api.rate.per_second();
    let burst = stack.api.burst;
    let refill = Duration::from_secs_f64(f64::from(burst) / rate + 1.0);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wh loadtest: {e}");
            return Outcome::Error;
        }
    };
    let base = Phase {
        name: String::new(),
        host,
        path,
        users: 1,
        sources: Vec::new(),
        rate: 1,
        duration: Duration::from_secs(1),
        max_requests: 0,
        report_files: Vec::new(),
        signer,
    };
    // Each phase draws its loopback sources from its own 127.<phase>.x.y block, so no address
    // carries one phase's count into the next phase's per-IP window.
    let loop_ip = |block: u8, i: usize| {
        IpAddr::from([
            127,
            block,
            u8::try_from(1 + i / 250).unwrap_or(255),
            u8::try_from(1 + i % 250).unwrap_or(1),
        ])
    };
    let reports = |name: &str| {
        ["html", "json", "md"]
            .map(|ext| args.report_dir.join(format!("{name}.{ext}")))
            .to_vec()
    };
    if let Err(e) = std::fs::create_dir_all(&args.report_dir) {
        eprintln!("wh loadtest: {}: {e}", args.report_dir.display());
        return Outcome::Error;
    }
    let mut verdicts: Vec<Verdict> = Vec::new();
    let result = runtime.block_on(async {
        if args.checks.iter().any(|c| c == "burst") {
            tokio::time::sleep(refill).await;
            let phase = Phase {
                name: "burst".into(),
                users: usize::try_from(burst).unwrap_or(1).min(64),
                sources: if loopback { (0..32).map(|i| loop_ip(2, i)).collect() } else { Vec::new() },
                rate: usize::try_from(burst).unwrap_or(1).saturating_mul(20),
                duration: Duration::from_secs(2),
                max_requests: u64::from(burst),
                report_files: reports("burst"),
                ..base.clone()
            };
            let r = run_phase(&phase).await?;
            verdicts.push(verdict::burst(&r.answers, burst));
        }
        if args.checks.iter().any(|c| c == "throttle") {
            tokio::time::sleep(refill).await;
            let offered = rate * args.load_factor;
            // Enough addresses that none reaches half the per-IP limit within the phase.
            let per_source = (stack.waf.limit as f64 / 2.0).max(1.0);
            let needed = (offered * args.throttle_secs.max(3) as f64 / per_source).ceil() as usize;
            let sources = args.sources.max(needed).max(1);
            let phase = Phase {
                name: "throttle".into(),
                // One user per address at least: user i sends from address i.
                users: sources.max(64),
                sources: if loopback { (0..sources).map(|i| loop_ip(1, i)).collect() } else { Vec::new() },
                rate: offered.ceil() as usize,
                duration: Duration::from_secs(args.throttle_secs.max(3)),
                max_requests: (offered * args.throttle_secs.max(3) as f64 * 1.2) as u64,
                report_files: reports("throttle"),
                ..base.clone()
            };
            let r = run_phase(&phase).await?;
            verdicts.push(verdict::throttle(&r.answers, rate, burst, offered, r.elapsed));
        }
        if args.checks.iter().any(|c| c == "per-ip") {
            tokio::time::sleep(refill).await;
            let limit = stack.waf.limit;
            // Cross the limit in about 5 s, at least twice the per-IP rate, within the API rate.
            let send_rate = (limit as f64 / 5.0).max(2.0 * stack.waf.rate.per_second()).min(rate * 0.8).max(1.0);
            let secs = (limit as f64 / send_rate + 3.0).ceil() as u64;
            let (allowed, reason) = if loopback {
                (Duration::from_secs(1), "wh dev applies the window exactly; 1 s covers the client's own pipelining")
            } else {
                (Duration::from_secs(40), "AWS WAF re-evaluates about every 10 s and blocks with a lag usually under 30 s")
            };
            let noisy = loop_ip(4, 0);
            let phase = Phase {
                name: "per-ip".into(),
                users: 4,
                sources: if loopback { vec![noisy] } else { Vec::new() },
                rate: send_rate.ceil() as usize,
                duration: Duration::from_secs(secs),
                max_requests: limit + (send_rate * 3.0) as u64,
                report_files: reports("per-ip"),
                ..base.clone()
            };
            let r = run_phase(&phase).await?;
            let mut v = verdict::per_ip(&r.answers, 0, limit, allowed, reason);
            // Others keep being served while the noisy address is blocked.
            if loopback {
                let other = reqwest::Client::builder().local_address(loop_ip(4, 1)).build().map_err(|e| e.to_string())?;
                let (headers, body) = (base.signer)(u64::MAX);
                let mut request = other.post(format!("{}{}", base.host, base.path)).body(body);
                for (k, val) in headers {
                    request = request.header(k, val);
                }
                let status = request.send().await.map(|r| r.status().as_u16()).unwrap_or(0);
                v.pass &= (200..300).contains(&status);
                v.measured.push_str(&format!("; another address was answered {status}"));
            }
            verdicts.push(v);
        }
        if args.checks.iter().any(|c| c == "soak") {
            tokio::time::sleep(refill).await;
            let soak_rate = (rate * args.soak_fraction).max(1.0);
            let per_window = soak_rate * stack.waf.window_secs as f64;
            let sources = ((per_window / (stack.waf.limit as f64 / 2.0).max(1.0)).ceil() as usize).max(8);
            let phase = Phase {
                name: "soak".into(),
                users: sources,
                sources: (0..sources).map(|i| loop_ip(3, i)).collect(),
                rate: soak_rate.ceil() as usize,
                duration: Duration::from_secs(args.soak_secs.max(2)),
                max_requests: (soak_rate * args.soak_secs.max(2) as f64 * 1.2) as u64,
                report_files: reports("soak"),
                ..base.clone()
            };
            let r = run_phase(&phase).await?;
            let drained = if loopback { drained(&base.host).await } else { deployed_drained(args, &stack_name, &stack.region).await };
            verdicts.push(verdict::soak(&r.answers, r.elapsed, drained));
        }
        Ok::<(), String>(())
    });
    if let Err(e) = result {
        eprintln!("wh loadtest: {e}");
        return Outcome::Error;
    }
    let summary = json!({ "stack": stack_name, "target": target, "verdicts": verdicts });
    let markdown = markdown(&stack_name, &target, &verdicts);
    let files = [
        (
            PathBuf::from("summary.json"),
            serde_json::to_string_pretty(&summary).unwrap_or_default(),
        ),
        (PathBuf::from("summary.md"), markdown.clone()),
    ];
    if let Err(outcome) = write_files(&args.report_dir, &files) {
        return outcome;
    }
    if args.output_format == OutputFormat::Json {
        println!("{summary}");
    } else {
        print!("{markdown}");
    }
    if verdicts.iter().all(|v| v.pass) {
        Outcome::Ok
    } else {
        Outcome::Failed
    }
}

/// Polls `read` every `every` until nothing is queued or unprocessed (at most `limit`); Ok when
/// then the DLQ is empty too.
async fn wait_drained<F, Fut>(mut read: F, limit: Duration, every: Duration) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Leftovers, String>>,
{
    let started = std::time::Instant::now();
    loop {
        let left = read().await?;
        let settled = left.queued == 0 && left.unprocessed == 0;
        if settled || started.elapsed() > limit {
            return if settled && left.dlq == 0 {
                Ok(())
            } else {
                Err(format!(
                    "{} not processed, {} queued, {} FAILED in the DLQ",
                    left.unprocessed, left.queued, left.dlq
                ))
            };
        }
        tokio::time::sleep(every).await;
    }
}

/// The soak's after-check on `wh dev`, through `/_wh/status`.
async fn drained(host: &str) -> Result<(), String> {
    let client = reqwest::Client::new();
    let read = || async {
        let s: serde_json::Value = client
            .get(format!("{host}/_wh/status"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
        Ok(Leftovers {
            queued: n(&s["queue"]["queued"]),
            dlq: n(&s["dlq_depth"]),
            unprocessed: n(&s["webhooks"]["RECEIVED"]) + n(&s["webhooks"]["ENQUEUED"]),
        })
    };
    wait_drained(read, Duration::from_secs(60), Duration::from_millis(200)).await
}

/// The same after-check for a deployed stack, through its flat-outputs file and the AWS APIs.
async fn deployed_drained(args: &Args, stack: &str, spec_region: &str) -> Result<(), String> {
    let outputs = flat_outputs(
        args,
        stack,
        "the soak's after-check reads the stack's queues and table from it",
    )?;
    let outputs = wh::stack_state::StackOutputs::from_json(&outputs)?;
    let sdk = wh::deploy::sdk_config(
        args.region.as_deref(),
        spec_region,
        args.profile.as_deref(),
        args.endpoint_url.as_deref(),
    )
    .await;
    wait_drained(
        || wh::stack_state::leftovers(&sdk, &outputs),
        Duration::from_secs(120),
        Duration::from_secs(2),
    )
    .await
}

/// The stack's outputs from `--outputs` or its default flat-outputs file.
fn flat_outputs(args: &Args, stack: &str, hint: &str) -> Result<serde_json::Value, String> {
    let path = args
        .outputs
        .clone()
        .unwrap_or_else(|| wh::deploy::outputs::path(std::path::Path::new("outputs"), stack));
    wh::deploy::outputs::read(&path, stack, hint)
}

fn target_from_outputs(args: &Args, stack: &str) -> Result<String, String> {
    let outputs = flat_outputs(
        args,
        stack,
        "give --target URL or the stack's flat-outputs file",
    )?;
    outputs["ApiUrl"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("the flat-outputs file of {stack} has no ApiUrl"))
}

/// The self-contained summary: Markdown, no external assets.
fn markdown(stack: &str, target: &str, verdicts: &[Verdict]) -> String {
    let mut out = format!(
        "# wh loadtest: {stack}\n\nTarget: {target}\n\n| check | verdict | measured | expected | 2xx | 429 | 403 | other 4xx | 5xx | no answer |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    );
    for v in verdicts {
        let c = v.counts;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            v.check,
            if v.pass { "PASS" } else { "FAIL" },
            v.measured,
            v.expected,
            c.ok_2xx,
            c.throttled_429,
            c.blocked_403,
            c.other_4xx,
            c.server_5xx,
            c.no_answer
        ));
    }
    out.push_str("\nTolerances:\n");
    for v in verdicts {
        out.push_str(&format!("- {}: {}\n", v.check, v.tolerance_reason));
    }
    out
}
