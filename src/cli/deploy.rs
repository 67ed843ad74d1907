//! `wh deploy`: preflight, upload the build's zips, make a change set, show it, stop at the
//! replacement gate, execute it, follow the stack events, write the flat-outputs file.
//! `wh diff` and `wh bootstrap` share its steps.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_cloudformation::types::ChangeSetType;
use serde_json::{Value, json};
use wh::deploy::artifacts::{self, TemplateSource};
use wh::deploy::broadening::Broadening;
use wh::deploy::plan::Plan;
use wh::deploy::review::plural;
use wh::deploy::stack::{self, Deployment, Direct, Finished, Prepared, ResourceEvent};
use wh::deploy::{
    DeployError, bootstrap, broadening, drift, outputs, plan, preflight, quotas, rollback,
};
use wh::emit::cloudformation::outputs::OUTPUT_KEYS;
use wh::ir::names::Function;
use wh::pipeline::{self, Compilation};

use super::{Outcome, OutputFormat, StackArgs, runtime, write_files};

/// Arguments of `wh deploy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stack: StackArgs,
    /// The IAM role CloudFormation acts as (a service role); the caller then needs only
    /// CloudFormation, iam:PassRole on it, and the artifact bucket.
    #[arg(long, value_name = "ARN")]
    cfn_role: Option<String>,
    /// Stop after showing the change set, leaving it for review (execute it in the console or
    /// run `wh deploy` again).
    #[arg(long)]
    plan: bool,
    /// Go on even when a table, queue, key, bus, secret, log group or custom-named resource
    /// would be replaced or removed.
    #[arg(long)]
    allow_replace: bool,
    /// Go on even when resources drifted from the template (the deploy then reverts the
    /// changes made outside CloudFormation).
    #[arg(long)]
    overwrite_drift: bool,
    /// Go on even when the update widens access (an IAM grant, a resource or key policy, the
    /// WAF rules, the per-IP limit, an exempt range, the stage throttle): the changes are
    /// listed first. At a terminal, a yes does the same.
    #[arg(long)]
    approve_broadening: bool,
    /// `change-set` (review, then execute) or `direct` (CreateStack/UpdateStack, no preview).
    #[arg(long, value_enum, default_value_t)]
    method: Method,
    /// The artifact bucket (default: wh-artifacts-<account>-<region>, made by `wh bootstrap`).
    #[arg(long, value_name = "BUCKET")]
    artifact_bucket: Option<String>,
    /// Where `wh build` put the zips: <DIR>/<env>/manifest.json.
    #[arg(long, value_name = "DIR", default_value = "dist")]
    dist: PathBuf,
    /// Where the flat-outputs file goes.
    #[arg(long, value_name = "DIR", default_value = "outputs")]
    out_dir: PathBuf,
    /// Time between reads of CloudFormation's progress (50ms to 1m).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = super::poll_interval)]
    poll: Duration,
    #[command(flatten)]
    rollback: RollbackArgs,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t)]
    output_format: OutputFormat,
}

/// The rollback-trigger options `wh deploy` and `wh diff` share.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// How long CloudFormation watches the rollback-trigger alarms after an update (whole
    /// minutes, 0m to 180m); an alarm in ALARM in that time rolls the update back.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = monitoring_time)]
    monitoring_time: Duration,
    /// Deploy without rollback triggers (clears any an earlier deploy set).
    #[arg(long)]
    no_rollback_triggers: bool,
    /// Deploy even though a rollback-trigger alarm is in ALARM already, leaving that alarm out
    /// of the triggers.
    #[arg(long)]
    pub despite_alarms: bool,
}

/// `--monitoring-time`: whole minutes within CloudFormation's 0 to 180.
fn monitoring_time(text: &str) -> Result<Duration, String> {
    let d = super::duration_within(
        text,
        (0, "0m"),
        (rollback::MAX_MONITORING_MINUTES * 60_000, "180m"),
    )?;
    if d.as_secs() % 60 != 0 || d.subsec_nanos() != 0 {
        return Err(format!(
            "{text} is not whole minutes (CloudFormation counts the monitoring time in minutes)"
        ));
    }
    Ok(d)
}

/// How a deploy reaches CloudFormation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// CreateChangeSet, show it, ExecuteChangeSet.
    #[default]
    ChangeSet,
    /// CreateStack or UpdateStack at once, as `cdk deploy --method=direct`.
    Direct,
}

/// Prints for people on stdout, or, with JSON output, keeps stdout for the one document and
/// tells people on stderr.
pub struct Printer {
    json: bool,
}

impl Printer {
    /// A printer for `format`.
    pub fn new(format: OutputFormat) -> Self {
        Printer {
            json: format == OutputFormat::Json,
        }
    }

    /// A line of progress.
    pub fn say(&self, line: &str) {
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
}

/// A compiled spec, resolved to one stack in one account.
pub struct Target {
    /// The spec's path, as given.
    pub spec: PathBuf,
    /// The compiled spec.
    pub compilation: Compilation,
    /// The environment suffix.
    pub suffix: String,
    /// `<name>-<suffix>`.
    pub stack_name: String,
    /// The template as JSON.
    pub template: Value,
    /// The SDK configuration.
    pub sdk: aws_config::SdkConfig,
}

/// Compiles the spec, checks the suffix and loads the SDK configuration; `what` names the
/// command in errors.
pub async fn target(args: &StackArgs, what: &str) -> Result<Target, Outcome> {
    let compilation = pipeline::compile(&args.spec).map_err(|e| {
        eprintln!(
            "{}: {e}; run `wh compile {}` for the details",
            args.spec.display(),
            args.spec.display()
        );
        Outcome::Failed
    })?;
    let suffix = args
        .suffix
        .clone()
        .unwrap_or_else(|| compilation.stack.default_suffix.clone());
    if let Err(e) = preflight::check_suffix(&compilation.stack, &suffix) {
        eprintln!("{what}: {e}");
        return Err(Outcome::Failed);
    }
    let template = serde_json::from_str(compilation.template()).map_err(|e| {
        eprintln!("{what}: the compiled template is not JSON ({e}); this is a bug in wh");
        Outcome::Error
    })?;
    let sdk = args.sdk(&compilation.stack.region).await;
    Ok(Target {
        spec: args.spec.clone(),
        stack_name: format!("{}-{suffix}", compilation.stack.name),
        suffix,
        compilation,
        template,
        sdk,
    })
}

/// The preflight: credentials, the account's Lambda concurrency, then the quotas behind the
/// capacity model. Against an emulator (`--endpoint-url`) a reading that fails is a warning,
/// not a stop: emulators implement neither GetAccountSettings nor Service Quotas' answers.
pub async fn preflight(
    t: &Target,
    emulated: bool,
    out: &Printer,
) -> Result<(String, Value), Outcome> {
    let account = preflight::account_id(&t.sdk).await.map_err(|e| {
        eprintln!("preflight: {e}");
        Outcome::Failed
    })?;
    let region = t.sdk.region().map(|r| r.to_string()).unwrap_or_default();
    out.say(&format!(
        "account {account}, region {region}, stack {}",
        t.stack_name
    ));
    let reserved: u32 = t
        .compilation
        .stack
        .functions
        .iter()
        .map(|f| f.reserved)
        .sum();
    let mut report = json!({"account": account, "reserved": reserved});
    match preflight::concurrency(&t.sdk, &t.compilation.stack, &t.suffix).await {
        Ok(c) => match preflight::check_concurrency(reserved, c) {
            Ok(left) => {
                out.say(&format!(
                    "Lambda concurrency: the spec reserves {reserved}; {} unreserved in the account, {left} left after this deploy",
                    c.unreserved + c.already_reserved
                ));
                report["unreserved"] = c.unreserved.into();
                report["headroom"] = left.into();
            }
            Err(e) => {
                eprintln!("preflight: {e}");
                return Err(Outcome::Failed);
            }
        },
        Err(e) if emulated => {
            eprintln!(
                "warning: the Lambda concurrency preflight was skipped against the emulator: {e}"
            );
            report["concurrency_checked"] = false.into();
        }
        Err(e) => {
            eprintln!("preflight: {e}");
            return Err(Outcome::Failed);
        }
    }
    match quotas::read(&t.sdk, &t.compilation.capacity).await {
        Ok(readings) => {
            if let Err(e) = quotas::check(&readings) {
                eprintln!("preflight: {e}");
                return Err(Outcome::Failed);
            }
            out.say(&format!(
                "quotas: {} of the capacity model read from Service Quotas; each holds its need",
                readings.len()
            ));
            report["quotas"] = readings
                .iter()
                .map(|r| json!({"service": r.figure.service, "what": r.figure.what, "need": r.figure.need, "value": r.value, "applied": r.applied}))
                .collect::<Vec<_>>()
                .into();
        }
        Err(e) if emulated => {
            eprintln!("warning: the quota preflight was skipped against the emulator: {e}");
            report["quotas_checked"] = false.into();
        }
        Err(e) => {
            eprintln!(
                "preflight: {e}; reading quotas needs servicequotas:GetServiceQuota and servicequotas:GetAWSDefaultServiceQuota"
            );
            return Err(Outcome::Failed);
        }
    }
    Ok((account, report))
}

/// The artifact bucket: given, or the one `wh bootstrap` made for this account and region.
pub async fn artifact_bucket(
    t: &Target,
    given: Option<&str>,
    account: &str,
) -> Result<String, Outcome> {
    if let Some(b) = given {
        return Ok(b.to_owned());
    }
    let region = t.sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let bucket = bootstrap::bucket_name(account, &region);
    match bootstrap::bucket_exists(&aws_sdk_s3::Client::new(&t.sdk), &bucket).await {
        Ok(true) => Ok(bucket),
        Ok(false) => {
            eprintln!(
                "no artifact bucket {bucket}: run `wh bootstrap {}` once for this account and region, or pass --artifact-bucket",
                t.spec.display()
            );
            Err(Outcome::Failed)
        }
        Err(e) => Err(report(e)),
    }
}

/// Reads the build, uploads what is new, and puts the deployment together.
pub async fn assemble(
    t: &Target,
    dist: &std::path::Path,
    bucket: &str,
    role_arn: Option<&str>,
    out: &Printer,
) -> Result<(Deployment, Value), Outcome> {
    let built = artifacts::read(
        dist,
        &t.compilation.env,
        &t.spec,
        &t.compilation.handlers_sha256(),
    )
    .map_err(|e| {
        eprintln!("{e}");
        Outcome::Failed
    })?;
    let s3 = aws_sdk_s3::Client::new(&t.sdk);
    let uploads = artifacts::upload(&s3, bucket, &built)
        .await
        .map_err(report)?;
    for (a, u) in built.iter().zip(&uploads) {
        out.say(&format!(
            "{}: s3://{bucket}/{} ({:.2} MB, {})",
            a.function.slug(),
            u.key,
            u.bytes as f64 / 1e6,
            if u.uploaded {
                "uploaded"
            } else {
                "already there"
            }
        ));
    }
    let region = t.sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let body = t.compilation.template();
    let template = artifacts::template_source(&s3, bucket, &region, &t.stack_name, body)
        .await
        .map_err(report)?;
    let key = |f: Function| {
        built
            .iter()
            .find(|a| a.function == f)
            .map(|a| a.entry.s3_key.clone())
            .unwrap_or_default()
    };
    let deployment = Deployment {
        stack: t.stack_name.clone(),
        template: template.clone(),
        parameters: vec![
            ("EnvironmentSuffix".into(), t.suffix.clone()),
            ("ArtifactBucket".into(), bucket.to_owned()),
            ("ReceiverCodeKey".into(), key(Function::Receiver)),
            ("ProcessorCodeKey".into(), key(Function::Processor)),
            ("AuditCodeKey".into(), key(Function::Audit)),
        ],
        tags: vec![
            ("wh:spec".into(), t.compilation.env.clone()),
            ("wh:suffix".into(), t.suffix.clone()),
        ],
        role_arn: role_arn.map(str::to_owned),
        rollback: None,
        revert_drift: false,
    };
    let template_json = match &template {
        TemplateSource::Body(_) => json!("inline"),
        TemplateSource::Url(u) => json!(u),
    };
    Ok((
        deployment,
        json!({"uploads": uploads, "template": template_json}),
    ))
}

/// Reports a deploy error, as a failed step.
pub fn report(e: DeployError) -> Outcome {
    eprintln!("{e}");
    Outcome::Failed
}

/// A change set name unique enough per stack: `wh-<unix seconds>`.
pub fn change_set_name() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("wh-{secs}")
}

/// Shows a plan: the one-line count first, then each change.
pub fn show_plan(plan: &Plan, out: &Printer) {
    for line in plan.render().lines() {
        out.say(line);
    }
}

/// A stack operation to follow.
pub struct Operation<'a> {
    /// The stack's name or id.
    pub stack: &'a str,
    /// The newest event before it began.
    pub after: Option<&'a str>,
    /// The statuses that count as success.
    pub success: &'a [&'a str],
    /// The number of resource changes, when known (the progress bar's length).
    pub expected: Option<usize>,
}

/// Resolves on Ctrl-C; never, if the signal cannot be watched (rather than at once).
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Follows a stack operation to its end with a progress display, stopping (not cancelling)
/// when `stop` resolves (Ctrl-C: [`ctrl_c`]).
pub async fn follow(
    cf: &aws_sdk_cloudformation::Client,
    op: Operation<'_>,
    poll: Duration,
    out: &Printer,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Finished, Outcome> {
    let Operation {
        stack,
        after,
        success,
        expected,
    } = op;
    let bar = match expected {
        Some(n) => indicatif::ProgressBar::new(n as u64),
        None => indicatif::ProgressBar::new_spinner(),
    };
    if out.json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut on_event = |e: &ResourceEvent| {
        let reason = e
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        let line = format!(
            "{} {:<22} {} {}{reason}",
            e.time, e.status, e.logical_id, e.resource_type
        );
        if bar.is_hidden() {
            out.say(&line);
        } else {
            bar.println(line);
        }
        if e.resource_type != "AWS::CloudFormation::Stack" && e.status.ends_with("_COMPLETE") {
            bar.inc(1);
        }
        bar.set_message(format!("{} {}", e.logical_id, e.status));
    };
    let watching = stack::watch(cf, stack, after, success, poll, &mut on_event);
    let result = tokio::select! {
        r = watching => r,
        () = stop => {
            bar.finish_and_clear();
            eprintln!(
                "stopped watching {stack}; CloudFormation goes on with the operation (Ctrl-C does not cancel it). \
                 Follow it with `aws cloudformation describe-stacks --stack-name {stack}` or in the console."
            );
            return Err(Outcome::Interrupted);
        }
    };
    bar.finish_and_clear();
    result.map_err(report)
}

/// Prints how a stack operation ended; true when it succeeded.
pub fn show_finished(f: &Finished, stack: &str, out: &Printer) -> bool {
    if f.succeeded {
        out.say(&format!("{stack}: {}", f.status));
        return true;
    }
    eprintln!("{stack}: {}", f.status);
    if let Some(r) = &f.reason {
        eprintln!("  {r}");
    }
    for e in &f.failures {
        eprintln!(
            "  {} ({}) {}: {}",
            e.logical_id,
            e.resource_type,
            e.status,
            e.reason.as_deref().unwrap_or("no reason given")
        );
    }
    false
}

/// Reads the stack's outputs and writes its flat-outputs file; returns them.
pub async fn write_outputs(
    t: &Target,
    out_dir: &std::path::Path,
    out: &Printer,
) -> Result<Value, Outcome> {
    let values = outputs::fetch(&t.sdk, &t.stack_name).await.map_err(|e| {
        eprintln!("{e}");
        Outcome::Failed
    })?;
    let missing: Vec<&str> = OUTPUT_KEYS
        .iter()
        .copied()
        // The custom-domain outputs exist only when the spec has a domain.
        .filter(|k| !values.contains_key(*k) && !k.starts_with("CustomDomain"))
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "warning: the stack has no output {}; commands that read the flat-outputs file need them",
            missing.join(", ")
        );
    }
    let text = outputs::render(&t.stack_name, &values);
    let file = format!("{}.json", t.stack_name);
    write_files(out_dir, &[(PathBuf::from(&file), text.as_str())])?;
    out.say(&format!("wrote {}", out_dir.join(&file).display()));
    Ok(json!({"file": out_dir.join(&file), "values": values}))
}

pub fn run(args: &Args) -> Outcome {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(o) => return o,
    };
    let out = Printer::new(args.output_format);
    let mut doc = serde_json::Map::new();
    let outcome = rt.block_on(deploy(args, &out, &mut doc));
    if out.json {
        doc.insert("ok".into(), json!(matches!(outcome, Outcome::Ok)));
        println!("{}", Value::Object(doc));
    }
    outcome
}

async fn deploy(args: &Args, out: &Printer, doc: &mut serde_json::Map<String, Value>) -> Outcome {
    let poll = args.poll;
    let t = match target(&args.stack, "wh deploy").await {
        Ok(t) => t,
        Err(o) => return o,
    };
    doc.insert("stack".into(), json!(t.stack_name));
    doc.insert("suffix".into(), json!(t.suffix));
    let emulated = args.stack.endpoint_url.is_some();
    let account = match preflight(&t, emulated, out).await {
        Ok((account, p)) => {
            doc.insert("preflight".into(), p);
            account
        }
        Err(o) => return o,
    };
    let cf = aws_sdk_cloudformation::Client::new(&t.sdk);
    let (existing, kind) = match stack::deploy_state(&cf, &t.stack_name).await {
        Ok(state) => state,
        Err(e) => return report(e),
    };
    let mut revert_drift = false;
    if kind == ChangeSetType::Update {
        match drift(&cf, &t, emulated, poll, out).await {
            Ok(Some(d)) => {
                doc.insert("drift".into(), json!(d));
                if d.drifted() && !args.overwrite_drift {
                    eprintln!(
                        "stopped: {} has changes made outside CloudFormation, which this deploy would revert. \
                         Put them into the spec, or pass --overwrite-drift to revert them.",
                        t.stack_name
                    );
                    doc.insert("result".into(), json!("drifted"));
                    return Outcome::Failed;
                }
                if d.drifted() {
                    out.say(
                        "--overwrite-drift: this deploy reverts the changes above \
                         (a drift-aware change set: the plan marks each resource it reverts)",
                    );
                    revert_drift = true;
                }
            }
            Ok(None) => {}
            Err(o) => return o,
        }
    }
    let widened = match widening(&cf, &t, &kind, out).await {
        Ok(w) => w,
        Err(e) if args.approve_broadening => {
            eprintln!("warning: {e}; going on (--approve-broadening)");
            Vec::new()
        }
        Err(e) => return report(e),
    };
    doc.insert("broadening".into(), json!(widened));
    let bucket = match artifact_bucket(&t, args.artifact_bucket.as_deref(), &account).await {
        Ok(b) => b,
        Err(o) => return o,
    };
    let (mut deployment, shipped) =
        match assemble(&t, &args.dist, &bucket, args.cfn_role.as_deref(), out).await {
            Ok(d) => d,
            Err(o) => return o,
        };
    doc.insert("artifacts".into(), shipped);
    deployment.revert_drift = revert_drift;
    match rollback_triggers(&t, &args.rollback, &kind, emulated, out).await {
        Ok(Some(triggers)) => {
            doc.insert("rollback_triggers".into(), json!(triggers));
            if !triggers.firing.is_empty() && !args.rollback.despite_alarms {
                eprintln!("stopped: {}", firing_message(&triggers.firing));
                doc.insert("result".into(), json!("alarms-firing"));
                return Outcome::Failed;
            }
            deployment.rollback = Some(triggers.configuration());
        }
        Ok(None) => {}
        Err(o) => return o,
    }

    // `--allow-replace` lifts the stack policy for this update only (restored below).
    let relax = args.allow_replace && kind == ChangeSetType::Update;
    let (expected, after) = match args.method {
        Method::ChangeSet => {
            let set = change_set_name();
            let prepared =
                match stack::create_change_set(&cf, &deployment, kind.clone(), &set, poll).await {
                    Ok(p) => p,
                    Err(e) => return report(e),
                };
            let plan = match prepared {
                Prepared::NoChanges => {
                    out.say("no changes");
                    doc.insert("result".into(), json!("no-changes"));
                    if protect(&cf, &t.stack_name, out).await.is_err()
                        || guard_deletion(&cf, &t, emulated, out).await.is_err()
                    {
                        return Outcome::Failed;
                    }
                    return finish_outputs(&t, args, out, doc).await;
                }
                Prepared::ChangeSet { plan, .. } => plan,
            };
            show_plan(&plan, out);
            doc.insert("summary".into(), json!(plan.counts()));
            doc.insert("changes".into(), json!(plan.changes));
            doc.insert("change_set".into(), json!(set));
            let blocked = plan.blocked(&t.template);
            if !blocked.is_empty() && !args.allow_replace {
                eprintln!("stopped: this change set would lose state or cannot be applied:");
                for b in &blocked {
                    eprintln!("  {}", b.reason);
                }
                eprintln!(
                    "Nothing was changed. Re-run with --allow-replace if that is intended (and the data is safe)."
                );
                let _ = stack::delete_change_set(&cf, &t.stack_name, &set).await;
                if kind == ChangeSetType::Create {
                    let _ = stack::delete(&cf, &t.stack_name, args.cfn_role.as_deref()).await;
                }
                doc.insert("result".into(), json!("blocked"));
                doc.insert("blocked".into(), json!(blocked));
                return Outcome::Failed;
            }
            if args.plan {
                out.say(&format!(
                    "change set {set} of {} left for review; nothing was executed",
                    t.stack_name
                ));
                doc.insert("result".into(), json!("planned"));
                return Outcome::Ok;
            }
            if !approved(&widened, args.approve_broadening, out) {
                let _ = stack::delete_change_set(&cf, &t.stack_name, &set).await;
                doc.insert("result".into(), json!("broadening"));
                return Outcome::Failed;
            }
            let started = begin(
                &cf,
                &t.stack_name,
                relax,
                out,
                stack::execute_change_set(&cf, &t.stack_name, &set),
            );
            let after = match started.await {
                Ok((after, ())) => after,
                Err(o) => return o,
            };
            out.say(&format!("executing change set {set}"));
            (Some(plan.changes.len()), after)
        }
        Method::Direct => {
            if args.plan {
                eprintln!(
                    "wh deploy: --plan needs a change set; it cannot be used with --method direct"
                );
                return Outcome::Error;
            }
            let create = kind == ChangeSetType::Create && existing.is_none();
            if !create && !args.allow_replace {
                eprintln!(
                    "wh deploy: --method direct updates without a preview, so the replacement gate cannot check it; \
                     pass --allow-replace to update {} directly, or use the default change-set method",
                    t.stack_name
                );
                return Outcome::Failed;
            }
            if !approved(&widened, args.approve_broadening, out) {
                doc.insert("result".into(), json!("broadening"));
                return Outcome::Failed;
            }
            let started = begin(
                &cf,
                &t.stack_name,
                relax,
                out,
                stack::direct(&cf, &deployment, create),
            );
            let after = match started.await {
                Ok((after, Direct::Started)) => after,
                Ok((_, Direct::NoChanges)) => {
                    out.say("no changes");
                    doc.insert("result".into(), json!("no-changes"));
                    if protect(&cf, &t.stack_name, out).await.is_err()
                        || guard_deletion(&cf, &t, emulated, out).await.is_err()
                    {
                        return Outcome::Failed;
                    }
                    return finish_outputs(&t, args, out, doc).await;
                }
                Err(o) => return o,
            };
            out.say(&format!(
                "{} {} directly",
                if create { "creating" } else { "updating" },
                t.stack_name
            ));
            (None, after)
        }
    };
    let op = Operation {
        stack: &t.stack_name,
        after: after.as_deref(),
        success: &["CREATE_COMPLETE", "UPDATE_COMPLETE"],
        expected,
    };
    let finished = match follow(&cf, op, poll, out, ctrl_c()).await {
        Ok(f) => f,
        Err(o) => {
            if relax {
                eprintln!(
                    "the stack policy allows replacing stateful resources until the next `wh deploy` of {} restores it",
                    t.stack_name
                );
            }
            return o;
        }
    };
    doc.insert("status".into(), json!(finished.status));
    if (finished.succeeded || relax) && protect(&cf, &t.stack_name, out).await.is_err() {
        return Outcome::Failed;
    }
    if !show_finished(&finished, &t.stack_name, out) {
        doc.insert("result".into(), json!("failed"));
        doc.insert("failures".into(), json!(finished.failures));
        return Outcome::Failed;
    }
    if guard_deletion(&cf, &t, emulated, out).await.is_err() {
        return Outcome::Failed;
    }
    doc.insert("result".into(), json!("deployed"));
    finish_outputs(&t, args, out, doc).await
}

/// Starts a stack operation: notes the newest event (the watch reports only what comes after
/// it), lifts the stack policy when `relax` (`--allow-replace` on an update), then `start`s.
/// A start that fails puts the protecting policy back at once.
async fn begin<T>(
    cf: &aws_sdk_cloudformation::Client,
    stack: &str,
    relax: bool,
    out: &Printer,
    start: impl std::future::Future<Output = Result<T, DeployError>>,
) -> Result<(Option<String>, T), Outcome> {
    let after = stack::newest_event(cf, stack).await.map_err(report)?;
    if relax {
        stack::set_policy(cf, stack, &plan::permissive_policy())
            .await
            .map_err(report)?;
    }
    match start.await {
        Ok(started) => Ok((after, started)),
        Err(e) => {
            let outcome = report(e);
            if relax {
                let _ = protect(cf, stack, out).await;
            }
            Err(outcome)
        }
    }
}

/// Sets the protecting stack policy (every deploy, so it also comes back after
/// `--allow-replace` and reaches stacks made before wh set it).
async fn protect(
    cf: &aws_sdk_cloudformation::Client,
    stack: &str,
    out: &Printer,
) -> Result<(), ()> {
    match stack::set_policy(cf, stack, &plan::protecting_policy()).await {
        Ok(()) => {
            out.say("stack policy: stateful resources cannot be replaced or deleted by an update");
            Ok(())
        }
        Err(e) => {
            eprintln!(
                "the stack policy that keeps stateful resources from replacement could not be set: {e}"
            );
            Err(())
        }
    }
}

/// Drift detection on an existing stack (`drift.rs`), shown: `None` when it could not run
/// against an emulator (moto does not implement it), a failure otherwise.
pub async fn drift(
    cf: &aws_sdk_cloudformation::Client,
    t: &Target,
    emulated: bool,
    poll: Duration,
    out: &Printer,
) -> Result<Option<drift::Drift>, Outcome> {
    match drift::detect(cf, &t.stack_name, poll).await {
        Ok(d) => {
            if d.drifted() {
                out.say(&format!("drift: {}", d.status));
            } else {
                out.say("drift: none (every checked resource matches the template)");
            }
            for line in d.render() {
                out.say(&format!("  {line}"));
            }
            Ok(Some(d))
        }
        Err(e) if emulated => {
            eprintln!("warning: drift was not checked against the emulator: {e}");
            Ok(None)
        }
        Err(e) => {
            eprintln!(
                "{e}; drift detection needs cloudformation:DetectStackDrift, \
                 DescribeStackDriftDetectionStatus and DescribeStackResourceDrifts, and read access \
                 to every resource type of the stack (README, \"Deploying for real\")"
            );
            Err(Outcome::Failed)
        }
    }
}

/// What this update widens (`broadening.rs`: the deployed template against the compiled one),
/// listed apart from the plan; nothing on a first deploy, which has nothing to widen.
pub async fn widening(
    cf: &aws_sdk_cloudformation::Client,
    t: &Target,
    kind: &ChangeSetType,
    out: &Printer,
) -> Result<Vec<Broadening>, DeployError> {
    if *kind != ChangeSetType::Update {
        return Ok(Vec::new());
    }
    let deployed = stack::deployed_template(cf, &t.stack_name).await?;
    let found = broadening::compare(&deployed, &t.template);
    if found.is_empty() {
        out.say("broadening: none (this update widens no access)");
    } else {
        let n = found.len();
        out.say(&format!(
            "broadening: {n} change{} widen{} access:",
            plural(n),
            if n == 1 { "s" } else { "" }
        ));
        for b in &found {
            out.say(&format!("  ! {}", b.render()));
        }
    }
    Ok(found)
}

/// The broadening gate: nothing widened, `--approve-broadening`, or a yes at a terminal.
fn approved(widened: &[Broadening], flag: bool, out: &Printer) -> bool {
    if widened.is_empty() {
        return true;
    }
    if flag {
        out.say("--approve-broadening: deploying the broadening changes above");
        return true;
    }
    if !out.json
        && std::io::stdin().is_terminal()
        && super::confirm("Deploy the broadening changes above?")
    {
        return true;
    }
    eprintln!(
        "stopped: this update widens access (the broadening changes above). Nothing was changed. \
         Review them and re-run with --approve-broadening (in CI, from a job that needs an approval)."
    );
    false
}

/// Why a deploy stops when rollback-trigger alarms are firing, and the way on.
pub fn firing_message(firing: &[String]) -> String {
    let many = firing.len() > 1;
    format!(
        "rollback trigger{} {} {} in ALARM already, so the update would roll back at once. \
         Fix what {} first, or pass --despite-alarms to deploy with {} left out of the triggers.",
        if many { "s" } else { "" },
        firing.join(", "),
        if many { "are" } else { "is" },
        if many { "they measure" } else { "it measures" },
        if many { "them" } else { "it" },
    )
}

/// The rollback triggers for this deploy (`rollback.rs` says which alarms and why): none on a
/// first deploy (the alarms come with the stack) or with `--no-rollback-triggers`; on an
/// update, the trigger alarms that exist. Alarms already in ALARM are listed in `firing` (a
/// deploy stops on them unless `--despite-alarms` left them out). `None`: the alarms could not
/// be read against an emulator (moto), so the stack's triggers are left as they are.
pub async fn rollback_triggers(
    t: &Target,
    args: &RollbackArgs,
    kind: &ChangeSetType,
    emulated: bool,
    out: &Printer,
) -> Result<Option<rollback::Triggers>, Outcome> {
    let minutes = args.monitoring_time.as_secs() / 60;
    let none = rollback::Triggers {
        monitoring_minutes: minutes,
        ..rollback::Triggers::default()
    };
    if args.no_rollback_triggers {
        out.say("rollback triggers: none (--no-rollback-triggers)");
        return Ok(Some(none));
    }
    if *kind == ChangeSetType::Create {
        out.say(
            "rollback triggers: none on the first deploy (the stack's alarms do not exist yet)",
        );
        return Ok(Some(none));
    }
    let wanted = rollback::trigger_names(&t.compilation.stack, &t.suffix);
    let found = match rollback::read(&t.sdk, &wanted).await {
        Ok(f) => f,
        Err(e) if emulated => {
            eprintln!("warning: rollback triggers were not set against the emulator: {e}");
            return Ok(None);
        }
        Err(e) => {
            eprintln!("{e}; the rollback triggers need cloudwatch:DescribeAlarms");
            return Err(Outcome::Failed);
        }
    };
    let triggers = rollback::decide(&wanted, &found, minutes, args.despite_alarms);
    out.say(&format!(
        "rollback triggers: {} alarm{}, watched for {minutes} min after the update",
        triggers.arns.len(),
        if triggers.arns.len() == 1 { "" } else { "s" }
    ));
    for (name, why) in &triggers.left_out {
        out.say(&format!("  left out: {name}: {why}"));
    }
    Ok(Some(triggers))
}

/// Turns termination protection on for a `retain` spec's stack, on every deploy (so stacks
/// made before wh set it get it too): its data outlives the stack, and a stray DeleteStack
/// (console, script) should need a deliberate step, `wh destroy --force`. Against an emulator
/// a failure is a warning (moto does not implement UpdateTerminationProtection).
async fn guard_deletion(
    cf: &aws_sdk_cloudformation::Client,
    t: &Target,
    emulated: bool,
    out: &Printer,
) -> Result<(), ()> {
    if !t.compilation.stack.retains() {
        return Ok(());
    }
    let on = "termination protection: on (a `retain` spec's stack is deleted only by `wh destroy --force`)";
    if let Ok(Some(info)) = stack::describe(cf, &t.stack_name).await
        && info.termination_protection
    {
        out.say(on);
        return Ok(());
    }
    match stack::set_termination_protection(cf, &t.stack_name, true).await {
        Ok(()) => {
            out.say(on);
            Ok(())
        }
        Err(e) if emulated => {
            eprintln!("warning: termination protection was not set against the emulator: {e}");
            Ok(())
        }
        Err(e) => {
            eprintln!(
                "termination protection could not be turned on: {e}; the deploy itself succeeded \
                 (needs cloudformation:UpdateTerminationProtection)"
            );
            Err(())
        }
    }
}

async fn finish_outputs(
    t: &Target,
    args: &Args,
    out: &Printer,
    doc: &mut serde_json::Map<String, Value>,
) -> Outcome {
    match write_outputs(t, &args.out_dir, out).await {
        Ok(o) => {
            doc.insert("outputs".into(), o);
            Outcome::Ok
        }
        Err(o) => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;

    const NS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

    /// A CloudFormation client answered by `bodies`, in order.
    fn replayed(bodies: Vec<String>) -> (aws_sdk_cloudformation::Client, StaticReplayClient) {
        replayed_with(bodies.into_iter().map(|b| (200, b)).collect())
    }

    /// The same with each answer's status.
    fn replayed_with(
        answers: Vec<(u16, String)>,
    ) -> (aws_sdk_cloudformation::Client, StaticReplayClient) {
        let events = answers
            .into_iter()
            .map(|(status, body)| {
                ReplayEvent::new(
                    http::Request::builder()
                        .uri("https://replay.invalid/")
                        .body(SdkBody::empty())
                        .unwrap(),
                    http::Response::builder()
                        .status(status)
                        .header("content-type", "text/xml")
                        .body(SdkBody::from(body))
                        .unwrap(),
                )
            })
            .collect();
        let replay = StaticReplayClient::new(events);
        let config = aws_sdk_cloudformation::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_cloudformation::config::Credentials::new(
                "AKID", "secret", None, None, "replay",
            ))
            .http_client(replay.clone())
            .build();
        (aws_sdk_cloudformation::Client::from_conf(config), replay)
    }

    fn no_events() -> String {
        format!(
            "<DescribeStackEventsResponse xmlns=\"{NS}\"><DescribeStackEventsResult><StackEvents/>\
             </DescribeStackEventsResult></DescribeStackEventsResponse>"
        )
    }

    /// A stack that stays UPDATE_IN_PROGRESS for as long as anyone asks.
    fn busy_stack() -> (aws_sdk_cloudformation::Client, StaticReplayClient) {
        let in_progress = format!(
            "<DescribeStacksResponse xmlns=\"{NS}\"><DescribeStacksResult><Stacks><member>\
             <StackName>shop-test</StackName><StackId>arn:aws:cloudformation:eu-west-1:123456789012:stack/shop-test/1</StackId>\
             <CreationTime>2026-11-23T10:00:00Z</CreationTime><StackStatus>UPDATE_IN_PROGRESS</StackStatus>\
             </member></Stacks></DescribeStacksResult></DescribeStacksResponse>"
        );
        replayed(
            (0..500)
                .flat_map(|_| [in_progress.clone(), no_events()])
                .collect(),
        )
    }

    #[tokio::test]
    async fn a_start_that_fails_puts_the_protecting_policy_back() {
        let set_policy = format!("<SetStackPolicyResponse xmlns=\"{NS}\"/>");
        let (cf, replay) = replayed(vec![no_events(), set_policy.clone(), set_policy]);
        let out = Printer::new(OutputFormat::Json);
        let failing = async { Err::<(), _>(DeployError::ChangeSet("refused".into())) };
        let result = begin(&cf, "shop-test", true, &out, failing).await;
        assert!(matches!(result, Err(Outcome::Failed)));
        let bodies: Vec<String> = replay
            .actual_requests()
            .map(|r| String::from_utf8_lossy(r.body().bytes().unwrap()).into_owned())
            .collect();
        assert_eq!(bodies.len(), 3, "{bodies:?}");
        // Lifted (no Deny) for the update, then the Deny back when it could not start.
        assert!(bodies[1].contains("Action=SetStackPolicy") && !bodies[1].contains("Deny"));
        assert!(bodies[2].contains("Action=SetStackPolicy") && bodies[2].contains("Deny"));
    }

    /// The compiled spec `specs/<env>.yaml` as a deploy target.
    fn target_of(env: &str) -> Target {
        let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("specs/{env}.yaml"));
        let compilation = pipeline::compile(&spec).unwrap();
        let suffix = compilation.stack.default_suffix.clone();
        Target {
            stack_name: format!("{}-{suffix}", compilation.stack.name),
            template: serde_json::from_str(compilation.template()).unwrap(),
            spec,
            compilation,
            suffix,
            sdk: aws_config::SdkConfig::builder().build(),
        }
    }

    fn stack_with_protection(on: bool) -> String {
        format!(
            "<DescribeStacksResponse xmlns=\"{NS}\"><DescribeStacksResult><Stacks><member>\
             <StackName>payments-prod</StackName><StackId>arn:aws:cloudformation:eu-west-1:123456789012:stack/payments-prod/1</StackId>\
             <CreationTime>2026-11-23T10:00:00Z</CreationTime><StackStatus>UPDATE_COMPLETE</StackStatus>\
             <EnableTerminationProtection>{on}</EnableTerminationProtection>\
             </member></Stacks></DescribeStacksResult></DescribeStacksResponse>"
        )
    }

    fn request_bodies(replay: &StaticReplayClient) -> Vec<String> {
        replay
            .actual_requests()
            .map(|r| String::from_utf8_lossy(r.body().bytes().unwrap()).into_owned())
            .collect()
    }

    #[tokio::test]
    async fn a_retain_stack_gets_termination_protection_and_an_ephemeral_one_does_not() {
        let prod = target_of("prod");
        assert!(prod.compilation.stack.retains());
        let out = Printer::new(OutputFormat::Json);
        let updated = format!(
            "<UpdateTerminationProtectionResponse xmlns=\"{NS}\"><UpdateTerminationProtectionResult><StackId>arn</StackId></UpdateTerminationProtectionResult></UpdateTerminationProtectionResponse>"
        );
        let (cf, replay) = replayed(vec![stack_with_protection(false), updated]);
        assert!(guard_deletion(&cf, &prod, false, &out).await.is_ok());
        let bodies = request_bodies(&replay);
        assert_eq!(bodies.len(), 2, "{bodies:?}");
        assert!(
            bodies[1].contains("Action=UpdateTerminationProtection")
                && bodies[1].contains("EnableTerminationProtection=true"),
            "{}",
            bodies[1]
        );
        // Already protected: nothing to change.
        let (cf, replay) = replayed(vec![stack_with_protection(true)]);
        assert!(guard_deletion(&cf, &prod, false, &out).await.is_ok());
        assert_eq!(request_bodies(&replay).len(), 1);
        // An ephemeral spec's stack is left as it is, without asking.
        let dev = target_of("dev");
        assert!(!dev.compilation.stack.retains());
        let (cf, replay) = replayed(vec![]);
        assert!(guard_deletion(&cf, &dev, false, &out).await.is_ok());
        assert_eq!(request_bodies(&replay).len(), 0);
    }

    #[tokio::test]
    async fn a_refused_protection_fails_the_deploy_on_aws_and_warns_on_an_emulator() {
        let prod = target_of("prod");
        let out = Printer::new(OutputFormat::Json);
        let denied = format!(
            "<ErrorResponse xmlns=\"{NS}\"><Error><Type>Sender</Type><Code>AccessDenied</Code>\
             <Message>not authorized to perform: cloudformation:UpdateTerminationProtection</Message></Error></ErrorResponse>"
        );
        for (emulated, ok) in [(false, false), (true, true)] {
            let (cf, _) = replayed_with(vec![
                (200, stack_with_protection(false)),
                (403, denied.clone()),
            ]);
            assert_eq!(
                guard_deletion(&cf, &prod, emulated, &out).await.is_ok(),
                ok,
                "emulated {emulated}"
            );
        }
    }

    #[tokio::test]
    async fn a_stop_ends_the_watch_not_the_operation() {
        let (cf, replay) = busy_stack();
        let op = Operation {
            stack: "shop-test",
            after: None,
            success: &["UPDATE_COMPLETE"],
            expected: Some(3),
        };
        let out = Printer::new(OutputFormat::Json);
        let stop = tokio::time::sleep(Duration::from_millis(100));
        let result = follow(&cf, op, Duration::from_millis(10), &out, stop).await;
        assert!(matches!(result, Err(Outcome::Interrupted)));
        // It was watching (asked at least once) and stopped while the stack was still in
        // progress, long before the recorded answers ran out.
        let asked = replay.actual_requests().count();
        assert!((1..1000).contains(&asked), "{asked}");
    }
}
