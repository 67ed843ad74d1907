//! `wh loadtest`: prove the stage throttle, the burst and the per-IP WAF limit, and that every
//! accepted webhook is processed, with goose, against `wh dev` or a deployed stack. The phases,
//! verdicts and report are the `wh-loadtest` crate's; this file reads the arguments, signs, and
//! asks the stack what became of the soak's webhooks.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wh::emit::cloudformation::waf::BLOCK_HEADER;
use wh::pipeline;
use wh_loadtest::plan::{Check, Limits, Sources};
use wh_loadtest::run::{self, Options};
use wh_loadtest::verdict::{Accounting, Outcome as Verdict, Target};
use wh_loadtest::{Signer, report};
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

pub fn run(args: &Args) -> Outcome {
    let checks = match checks(&args.checks) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wh loadtest: {e}");
            return Outcome::Error;
        }
    };
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
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback());
    let (target_kind, sources) = if args.deployed || !loopback {
        (Target::Deployed, Sources::Machine)
    } else {
        (Target::Dev, Sources::Loopback)
    };
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
        host: host.clone(),
        path,
        signer,
        block_header: (BLOCK_HEADER.0.to_owned(), BLOCK_HEADER.1.to_owned()),
        report_dir: args.report_dir.clone(),
    };
    if let Err(e) = options.validate() {
        eprintln!("wh loadtest: {e}");
        return Outcome::Error;
    }
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
    let quiet = StdoutToStderr::new();
    let verdicts = runtime.block_on(run::run(&options, |ids| async move {
        // wh dev answers for its own webhooks; a deployed stack's table and DLQ are read
        // through the AWS APIs.
        if loopback && dev_ops_available(&host).await {
            dev_accounting(&host, &ids).await
        } else {
            deployed_accounting(args, &name, &region, &ids).await
        }
    }));
    drop(quiet);
    let verdicts = match verdicts {
        Ok(v) => v,
        Err(e) => {
            eprintln!("wh loadtest: {e}");
            return Outcome::Error;
        }
    };
    let mode = match target_kind {
        Target::Dev => "wh dev: exact bands, loopback sources",
        Target::Deployed => "deployed: AWS bands, this machine's address",
    };
    let summary = json!({
        "stack": stack_name,
        "target": target,
        "mode": target_kind,
        "verdicts": verdicts,
    });
    let markdown = report::markdown(&stack_name, &target, mode, &verdicts);
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
    match Verdict::worst(verdicts.iter().map(|v| v.outcome)) {
        Verdict::Pass | Verdict::NotRun => Outcome::Ok,
        Verdict::Fail => Outcome::Failed,
        Verdict::Inconclusive => Outcome::Inconclusive,
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
    let outputs = wh::stack_state::StackOutputs::from_json(&outputs)?;
    let sdk = wh::deploy::sdk_config(
        args.region.as_deref(),
        spec_region,
        args.profile.as_deref(),
        args.endpoint_url.as_deref(),
    )
    .await;
    let read = || async {
        let statuses = wh::stack_state::webhook_statuses(&sdk, &outputs.webhook_table, ids).await?;
        let dlq = wh::stack_state::dlq_depth(&sdk, &outputs).await?;
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
