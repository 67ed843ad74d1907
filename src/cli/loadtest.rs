//! `wh loadtest`: prove the stage throttle, the burst and the per-IP WAF limit, and that every
//! accepted webhook is processed, with goose, against `wh dev` or a deployed stack. The phases,
//! verdicts and report are the `wh-loadtest` crate's; this file reads the arguments, signs, and
//! asks the stack what became of the soak's webhooks.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use wh::emit::cloudformation::waf::BLOCK_HEADER;
use wh::pipeline;
use wh_loadtest::Signer;
use wh_loadtest::merge::{self, Merged};
use wh_loadtest::plan::{Check, Limits, Sources};
use wh_loadtest::report::Summary;
use wh_loadtest::run::{self, Measurements, Options, RunPlan};
use wh_loadtest::verdict::{Accounting, Outcome as Verdict, Target};
use wh_runtime::verify::sign;

use super::send::sample_event;
use super::{Outcome, OutputFormat, write_files};
use crate::dev;

/// Arguments of `wh loadtest`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// The spec whose limits are checked.
    #[arg(value_name = "SPEC", required = true)]
    spec: Option<PathBuf>,
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
    /// Checks to run, in this order: burst, throttle, per-ip, soak.
    #[arg(long, value_delimiter = ',', default_values_t = ["burst".to_owned(), "throttle".to_owned(), "per-ip".to_owned()])]
    checks: Vec<String>,
    /// Test a deployed stack: send from this machine's own address (no loopback sources) and
    /// judge with AWS's bands. Implied when the target is not on loopback.
    #[arg(long)]
    deployed: bool,
    /// Seconds the throttle phase measures once the bucket has drained.
    #[arg(long, default_value_t = 5)]
    throttle_secs: u64,
    /// Offered load of the throttle phase, as a multiple of the API rate (1.2 to 10).
    #[arg(long, default_value_t = 1.5)]
    load_factor: f64,
    /// Length of the soak phase (`--checks soak`), seconds.
    #[arg(long, default_value_t = 300)]
    soak_secs: u64,
    /// Rate of the soak phase, as a fraction of the API rate.
    #[arg(long, default_value_t = 0.1)]
    soak_fraction: f64,
    /// Run shard I of N (1 <= I <= N <= 256): this runner sends its share of every phase at
    /// the agreed times and writes its measurements; `wh loadtest merge` judges them.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
    /// When a sharded run starts (RFC 3339, e.g. 2026-11-30T09:00:00Z): the same for every
    /// shard, in the future, at most a day ahead.
    #[arg(long, value_name = "TIME", requires = "shard")]
    start_at: Option<String>,
    /// The address this runner's requests reach the stack from, recorded for the merge's
    /// per-IP checks (default: asked of https://checkip.amazonaws.com in a sharded run against
    /// a deployed stack).
    #[arg(long, value_name = "IP")]
    egress_address: Option<IpAddr>,
    /// Print the plan (each phase's start, length and requests, and how many runners a run
    /// from machines' own addresses needs) and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// AWS region of a deployed stack (default: the spec's).
    #[arg(long)]
    region: Option<String>,
    /// AWS profile.
    #[arg(long)]
    profile: Option<String>,
    /// AWS endpoint (an emulator).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Where reports go.
    #[arg(long, value_name = "DIR", default_value = "loadtest-report")]
    report_dir: PathBuf,
    /// How to print the verdicts.
    #[arg(long, value_enum, default_value_t)]
    output_format: OutputFormat,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Sum the shards' measurements (each DIR a shard's --report-dir, or its
    /// measurements.json) into one run's verdicts and reports.
    Merge(MergeArgs),
}

/// Arguments of `wh loadtest merge`.
#[derive(Debug, clap::Args)]
struct MergeArgs {
    /// The shards' report directories (or their measurements.json files).
    #[arg(value_name = "DIR", required = true)]
    shards: Vec<PathBuf>,
    /// Where the merged reports go.
    #[arg(long, value_name = "DIR", default_value = "loadtest-report")]
    report_dir: PathBuf,
    /// How to print the verdicts.
    #[arg(long, value_enum, default_value_t)]
    output_format: OutputFormat,
}

/// `I/N` with 1 <= I <= N <= 256.
fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let usage = || {
        format!(
            "`{text}` is not a shard: give I/N with 1 <= I <= N <= {}",
            run::MAX_SHARDS
        )
    };
    let (i, n) = text.split_once('/').ok_or_else(usage)?;
    let (i, n) = (
        i.trim().parse::<usize>().map_err(|_| usage())?,
        n.trim().parse::<usize>().map_err(|_| usage())?,
    );
    if i == 0 || i > n || n > run::MAX_SHARDS {
        return Err(usage());
    }
    Ok((i, n))
}

/// The checks named, each once, in run order; an unknown name is a usage error.
fn checks(names: &[String]) -> Result<Vec<Check>, String> {
    let mut out = names
        .iter()
        .map(|n| n.trim().parse::<Check>())
        .collect::<Result<Vec<_>, _>>()?;
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err("--checks names no check".into());
    }
    Ok(out)
}

/// The longest `--start-at` may be ahead: a day (a later time is a typo, not a plan).
const MAX_START_AHEAD: Duration = Duration::from_secs(24 * 3600);

/// `--start-at`, which must be ahead of now and at most [`MAX_START_AHEAD`] ahead.
fn start_at(text: &str) -> Result<String, String> {
    let at = run::parse_time(text).map_err(|e| format!("--start-at: {e}"))?;
    match at.duration_since(SystemTime::now()) {
        Err(past) => Err(format!(
            "--start-at {text} is {:.0} s in the past: give a time every shard can reach (a few minutes ahead)",
            past.duration().as_secs_f64()
        )),
        Ok(ahead) if ahead > MAX_START_AHEAD => {
            Err(format!("--start-at {text} is more than a day ahead"))
        }
        Ok(_) => Ok(run::format_time(at)),
    }
}

pub fn run(args: &Args) -> Outcome {
    if let Some(Sub::Merge(m)) = &args.command {
        return merge_shards(m);
    }
    let Some(spec) = &args.spec else {
        eprintln!("wh loadtest: give a SPEC, or `merge DIR...`");
        return Outcome::Error;
    };
    let checks = match checks(&args.checks) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wh loadtest: {e}");
            return Outcome::Error;
        }
    };
    let (shard, shards) = args.shard.unwrap_or((1, 1));
    let start = match (&args.start_at, shards) {
        (Some(t), _) => match start_at(t) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("wh loadtest: {e}");
                return Outcome::Error;
            }
        },
        (None, 1) => None,
        // A dry run's offsets count from whenever the run starts.
        (None, _) if args.dry_run => {
            Some(run::format_time(SystemTime::now() + MAX_START_AHEAD / 24))
        }
        (None, _) => {
            eprintln!(
                "wh loadtest: --shard {shard}/{shards} needs --start-at, the time every shard starts"
            );
            return Outcome::Error;
        }
    };
    let compilation = match pipeline::compile(spec) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", spec.display());
            return Outcome::Failed;
        }
    };
    let spec_sha256 = match std::fs::read(spec) {
        Ok(bytes) => wh::build::package::sha256_hex(&bytes),
        Err(e) => {
            eprintln!("{}: {e}", spec.display());
            return Outcome::Error;
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
    let loopback_target = url
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .filter(IpAddr::is_loopback);
    let (target_kind, sources) = if args.deployed || loopback_target.is_none() {
        (Target::Deployed, Sources::Machine)
    } else {
        (Target::Dev, Sources::Loopback)
    };
    let plan = RunPlan {
        stack: stack_name.clone(),
        spec_sha256,
        target_url: target.clone(),
        checks,
        target: target_kind,
        sources,
        limits: Limits {
            rate: stack.api.rate.per_second(),
            burst: stack.api.burst,
            per_ip_rate: stack.waf.rate.per_second(),
            per_ip_limit: stack.waf.limit,
            window: Duration::from_secs(stack.waf.window_secs),
        },
        load_factor: args.load_factor,
        throttle_secs: args.throttle_secs,
        soak_secs: args.soak_secs,
        soak_fraction: args.soak_fraction,
        shards,
        start_at: start,
    };
    if let Err(e) = plan.validate() {
        eprintln!("wh loadtest: {e}");
        return Outcome::Error;
    }
    if args.dry_run {
        return print_plan(&plan);
    }
    let provider = match &args.provider {
        Some(p) => stack.providers.iter().find(|x| &x.name == p),
        None => stack.providers.first(),
    };
    let Some(provider) = provider.cloned() else {
        eprintln!("wh loadtest: no such provider in {}", spec.display());
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
    let scheme = wh::ir::handlers::runtime_scheme(&provider, format!("{host}{path}"));
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
    let options = Options {
        plan,
        shard,
        host: host.clone(),
        path,
        signer,
        block_header: (BLOCK_HEADER.0.to_owned(), BLOCK_HEADER.1.to_owned()),
        report_dir: args.report_dir.clone(),
    };
    if let Err(e) = std::fs::create_dir_all(&args.report_dir) {
        eprintln!("wh loadtest: {}: {e}", args.report_dir.display());
        return Outcome::Error;
    }
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
    let (region, name) = (stack.region.clone(), stack_name.clone());
    let egress = match (sources, args.egress_address, loopback_target) {
        (Sources::Loopback, _, _) => None,
        (Sources::Machine, Some(ip), _) => Some(ip),
        // A loopback target is reached from the loopback address the socket binds to by
        // default, 127.0.0.1.
        (Sources::Machine, None, Some(_)) => Some(IpAddr::from([127, 0, 0, 1])),
        (Sources::Machine, None, None) if shards > 1 => runtime.block_on(egress_address()),
        (Sources::Machine, None, None) => None,
    };
    let quiet = StdoutToStderr::new();
    let measured = runtime.block_on(run::measure(&options, egress, |ids| async move {
        // wh dev answers for its own webhooks; a deployed stack's table and DLQ are read
        // through the AWS APIs.
        if loopback_target.is_some() && dev_ops_available(&host).await {
            dev_accounting(&host, &ids).await
        } else {
            deployed_accounting(args, &name, &region, &ids).await
        }
    }));
    drop(quiet);
    let measured = match measured {
        Ok(m) => m,
        Err(e) => {
            eprintln!("wh loadtest: {e}");
            return Outcome::Error;
        }
    };
    let file = PathBuf::from("measurements.json");
    if let Err(outcome) = write_files(
        &args.report_dir,
        &[(
            file.clone(),
            serde_json::to_string(&measured).unwrap_or_default(),
        )],
    ) {
        return outcome;
    }
    if shards > 1 {
        println!(
            "shard {shard}/{shards}: measured {} phases into {}; judge all {shards} with `wh loadtest merge DIR...`",
            measured.phases.len(),
            args.report_dir.join(file).display()
        );
        return Outcome::Ok;
    }
    let merged = match merge::merge(vec![(
        args.report_dir.join(&file).display().to_string(),
        measured,
    )]) {
        Ok(m) => m,
        Err(errors) => {
            for e in errors {
                eprintln!("wh loadtest: {e}");
            }
            return Outcome::Error;
        }
    };
    report(&merged, &args.report_dir, args.output_format)
}

/// `--dry-run`: the timetable, the requests and the runners needed.
fn print_plan(plan: &RunPlan) -> Outcome {
    let (slots, needed) = match (plan.schedule(), plan.runners_needed()) {
        (Ok(s), Ok(n)) => (s, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("wh loadtest: {e}");
            return Outcome::Error;
        }
    };
    println!(
        "wh loadtest plan: {} ({}), {} shard{}\n\n| phase | starts after --start-at | sends for | requests | per shard |\n| --- | --- | --- | --- | --- |",
        plan.stack,
        match plan.sources {
            Sources::Loopback => "loopback sources",
            Sources::Machine => "the runners' own addresses",
        },
        plan.shards,
        if plan.shards == 1 { "" } else { "s" }
    );
    for slot in &slots {
        let requests = plan.requests(slot.check).unwrap_or_default();
        println!(
            "| {} | {:.1} s | {:.1} s | {requests} | {} |",
            slot.check.name(),
            slot.offset.as_secs_f64(),
            slot.length.as_secs_f64(),
            requests.div_ceil(plan.shards as u64)
        );
    }
    if plan.sources == Sources::Machine {
        println!(
            "\nRunners with addresses of their own needed: {needed} (no address above half the per-IP limit, {} of {} per {} s, in any window{})",
            plan.limits.per_ip_limit / 2,
            plan.limits.per_ip_limit,
            plan.limits.window.as_secs(),
            if plan.checks.contains(&Check::PerIp) {
                "; the per-IP check needs 3, one per role"
            } else {
                ""
            }
        );
        if plan.shards < needed {
            println!(
                "With {} shard{}, the per-IP rule blocks part of the load unless the runners' addresses are in the spec's exempt_cidrs.",
                plan.shards,
                if plan.shards == 1 { "" } else { "s" }
            );
        }
    }
    Outcome::Ok
}

/// `wh loadtest merge`: reads, checks and sums the shards, then reports as a single run.
fn merge_shards(args: &MergeArgs) -> Outcome {
    let mut shards = Vec::new();
    let mut unreadable = false;
    for path in &args.shards {
        let file = if path.is_dir() {
            path.join("measurements.json")
        } else {
            path.clone()
        };
        match read_measurements(&file) {
            Ok(m) => shards.push((file.display().to_string(), m)),
            Err(e) => {
                eprintln!("wh loadtest merge: {e}");
                unreadable = true;
            }
        }
    }
    if unreadable {
        return Outcome::Error;
    }
    match merge::merge(shards) {
        Ok(merged) => report(&merged, &args.report_dir, args.output_format),
        Err(errors) => {
            for e in errors {
                eprintln!("wh loadtest merge: {e}");
            }
            Outcome::Error
        }
    }
}

fn read_measurements(file: &Path) -> Result<Measurements, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not a shard's measurements ({}): {e}",
            file.display(),
            run::FORMAT
        )
    })
}

/// Judges `merged`, writes summary.json, summary.md and summary.html under `dir`, prints the
/// summary, and says how the run ended.
fn report(merged: &Merged, dir: &Path, format: OutputFormat) -> Outcome {
    let p = &merged.plan;
    let verdicts = match run::judge(p, &merged.phases, merged.accounting.clone(), |a, b| {
        merged.apart(a, b)
    }) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("wh loadtest: {e}");
            return Outcome::Error;
        }
    };
    let mode = match (p.target, p.shards) {
        (Target::Dev, _) => "wh dev: exact bands, loopback sources",
        (Target::Deployed, 1) => "deployed: AWS bands, this machine's address",
        (Target::Deployed, _) => "deployed: AWS bands, the runners' own addresses",
    };
    let summary = Summary {
        stack: &p.stack,
        target: &p.target_url,
        mode,
        merged,
        verdicts: &verdicts,
    };
    let json = summary.json();
    let markdown = summary.markdown();
    let files = [
        (
            PathBuf::from("summary.json"),
            serde_json::to_string_pretty(&json).unwrap_or_default(),
        ),
        (PathBuf::from("summary.md"), markdown.clone()),
        (PathBuf::from("summary.html"), summary.html()),
    ];
    if let Err(outcome) = write_files(dir, &files) {
        return outcome;
    }
    if format == OutputFormat::Json {
        println!("{json}");
    } else {
        print!("{markdown}");
    }
    match Verdict::worst(verdicts.iter().map(|v| v.outcome)) {
        Verdict::Pass | Verdict::NotRun => Outcome::Ok,
        Verdict::Fail => Outcome::Failed,
        Verdict::Inconclusive => Outcome::Inconclusive,
    }
}

/// Where a runner asks its own public address: AWS's checkip service, which answers with the
/// caller's address as plain text. `WH_CHECKIP_URL` points elsewhere (a test's loopback
/// server).
const CHECKIP: &str = "https://checkip.amazonaws.com";

/// This machine's public address, or `None` (with a warning) when it cannot be told: the merge
/// then reports the per-IP parts that need it as not run.
async fn egress_address() -> Option<IpAddr> {
    let url = std::env::var("WH_CHECKIP_URL").unwrap_or_else(|_| CHECKIP.to_owned());
    let answer = async {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?
            .get(&url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match answer.map(|t| t.trim().parse::<IpAddr>()) {
        Ok(Ok(ip)) => Some(ip),
        Ok(Err(e)) => {
            eprintln!("wh loadtest: {url} did not answer an address ({e}); give --egress-address");
            None
        }
        Err(e) => {
            eprintln!(
                "wh loadtest: cannot ask {url} for this runner's address ({e}); give --egress-address"
            );
            None
        }
    }
}

/// Points stdout at stderr until dropped: goose prints progress ("N users launched.") on
/// stdout whatever its quiet settings, and stdout is the report's (a script parses
/// `--output-format json` as it is). Nothing is redirected where the descriptors cannot be
/// duplicated.
struct StdoutToStderr(Option<std::os::fd::OwnedFd>);

impl StdoutToStderr {
    fn new() -> Self {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let saved = rustix::io::dup(rustix::stdio::stdout()).ok();
        if saved.is_some() && rustix::stdio::dup2_stdout(rustix::stdio::stderr()).is_err() {
            return StdoutToStderr(None);
        }
        StdoutToStderr(saved)
    }
}

impl Drop for StdoutToStderr {
    fn drop(&mut self) {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        if let Some(saved) = self.0.take() {
            let _ = rustix::stdio::dup2_stdout(&saved);
        }
    }
}

/// Whether `host` is a `wh dev` (it answers `/_wh/status`).
async fn dev_ops_available(host: &str) -> bool {
    reqwest::get(format!("{host}/_wh/status"))
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// How long the after-check waits for the stack to finish what the soak sent.
const SETTLE_DEV: Duration = Duration::from_secs(60);
const SETTLE_DEPLOYED: Duration = Duration::from_secs(180);

/// The soak's after-check on `wh dev`: every id's status through `/_wh/webhooks` (1,000 a
/// request), the DLQ's depth through `/_wh/status`; every field read is required.
async fn dev_accounting(host: &str, ids: &[String]) -> Result<Accounting, String> {
    let client = reqwest::Client::new();
    let read = || async {
        let mut statuses = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            let answer = json_of(client.post(format!("{host}/_wh/webhooks")).json(chunk)).await?;
            let list = answer["statuses"]
                .as_array()
                .filter(|l| l.len() == chunk.len())
                .ok_or_else(|| {
                    format!("/_wh/webhooks answered without one status per id: {answer}")
                })?;
            statuses.extend(list.iter().map(|s| s.as_str().map(str::to_owned)));
        }
        let status = json_of(client.get(format!("{host}/_wh/status"))).await?;
        let dlq = status["dlq_depth"]
            .as_u64()
            .ok_or_else(|| format!("/_wh/status has no dlq_depth: {status}"))?;
        Ok(Accounting::tally(ids, &statuses, dlq))
    };
    run::settle(read, SETTLE_DEV, Duration::from_millis(200)).await
}

/// Sends `request` and reads its answer as JSON.
async fn json_of(request: reqwest::RequestBuilder) -> Result<serde_json::Value, String> {
    request
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}

/// The same for a deployed stack: the table by key (BatchGetItem) and the DLQ's depth, found
/// through its flat-outputs file.
async fn deployed_accounting(
    args: &Args,
    stack: &str,
    spec_region: &str,
    ids: &[String],
) -> Result<Accounting, String> {
    let outputs = flat_outputs(
        args,
        stack,
        "the soak's after-check reads the stack's table and DLQ from it",
    )?;
    let outputs = wh::ops::stack_state::StackOutputs::from_json(&outputs)?;
    let sdk = wh::deploy::sdk_config(
        args.region.as_deref(),
        spec_region,
        args.profile.as_deref(),
        args.endpoint_url.as_deref(),
    )
    .await;
    let read = || async {
        let statuses =
            wh::ops::stack_state::webhook_statuses(&sdk, &outputs.webhook_table, ids).await?;
        let dlq = wh::ops::stack_state::dlq_depth(&sdk, &outputs).await?;
        Ok(Accounting::tally(ids, &statuses, dlq))
    };
    run::settle(read, SETTLE_DEPLOYED, Duration::from_secs(2)).await
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
