//! What the stack commands share at the CLI edge: resolving the target with its errors shown,
//! the printer (people on stdout, or stderr beside a JSON document), the preflight's and the
//! pre-deploy checks' lines, and following a stack operation with a progress display. The steps
//! themselves live in `wh::deploy`.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use wh::deploy::artifacts::{self, Assembled, TemplateSource};
use wh::deploy::broadening::{self, Broadening};
use wh::deploy::plan::Plan;
use wh::deploy::preflight::{self, Checked};
use wh::deploy::review::plural;
use wh::deploy::rollback::{self, Planned};
use wh::deploy::stack::{self, Finished, ResourceEvent};
use wh::deploy::target::{self, Target, TargetError};
use wh::deploy::{DeployError, bootstrap, drift};

use super::{Outcome, OutputFormat, StackArgs};

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

    /// Whether stdout carries the one JSON document.
    pub fn json(&self) -> bool {
        self.json
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

/// Compiles the spec, checks the suffix and loads the SDK configuration; `what` names the
/// command in errors.
pub async fn target(args: &StackArgs, what: &str) -> Result<Target, Outcome> {
    target::resolve(&args.spec, args.suffix.as_deref(), async |region| {
        args.sdk(region).await
    })
    .await
    .map_err(|e| match e {
        TargetError::Compile { .. } => {
            eprintln!("{e}");
            Outcome::Failed
        }
        TargetError::Suffix(_) => {
            eprintln!("{what}: {e}");
            Outcome::Failed
        }
        TargetError::NotJson(_) => {
            eprintln!("{what}: {e}");
            Outcome::Error
        }
    })
}

/// The preflight, shown: credentials, the account's Lambda concurrency, then the quotas behind
/// the capacity model (`wh::deploy::preflight`); the account and the JSON report.
pub async fn preflight(
    t: &Target,
    emulated: bool,
    out: &Printer,
) -> Result<(String, Value), Outcome> {
    let failed = |e: DeployError| {
        eprintln!("preflight: {e}");
        Outcome::Failed
    };
    let account = preflight::account_id(&t.sdk).await.map_err(failed)?;
    let region = t.sdk.region().map(|r| r.to_string()).unwrap_or_default();
    out.say(&format!(
        "account {account}, region {region}, stack {}",
        t.stack_name
    ));
    let stack = &t.compilation.stack;
    let reserved = preflight::reserved(stack);
    let mut report = json!({"account": account, "reserved": reserved});
    match preflight::lambda_headroom(&t.sdk, stack, &t.suffix, emulated)
        .await
        .map_err(failed)?
    {
        Checked::Held((c, left)) => {
            out.say(&format!(
                "Lambda concurrency: the spec reserves {reserved}; {} unreserved in the account, {left} left after this deploy",
                c.unreserved + c.already_reserved
            ));
            report["unreserved"] = c.unreserved.into();
            report["headroom"] = left.into();
        }
        Checked::Skipped(e) => {
            eprintln!(
                "warning: the Lambda concurrency preflight was skipped against the emulator: {e}"
            );
            report["concurrency_checked"] = false.into();
        }
    }
    match preflight::quota_readings(&t.sdk, &t.compilation.capacity, emulated)
        .await
        .map_err(failed)?
    {
        Checked::Held(readings) => {
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
        Checked::Skipped(e) => {
            eprintln!("warning: the quota preflight was skipped against the emulator: {e}");
            report["quotas_checked"] = false.into();
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
    bootstrap::artifact_bucket(&t.sdk, &t.spec, given, account)
        .await
        .map_err(report)
}

/// Reads the build, uploads what is new and puts the deployment together, showing each upload;
/// the deployment and the JSON report.
pub async fn assemble(
    t: &Target,
    dist: &Path,
    bucket: &str,
    role_arn: Option<&str>,
    out: &Printer,
) -> Result<(stack::Deployment, Value), Outcome> {
    let Assembled {
        deployment,
        uploads,
        template,
    } = artifacts::assemble(t, dist, bucket, role_arn)
        .await
        .map_err(report)?;
    for (function, u) in &uploads {
        out.say(&format!(
            "{}: s3://{bucket}/{} ({:.2} MB, {})",
            function.slug(),
            u.key,
            u.bytes as f64 / 1e6,
            if u.uploaded {
                "uploaded"
            } else {
                "already there"
            }
        ));
    }
    let template_json = match &template {
        TemplateSource::Body(_) => json!("inline"),
        TemplateSource::Url(u) => json!(u),
    };
    let uploads: Vec<_> = uploads.into_iter().map(|(_, u)| u).collect();
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
                 to every resource type of the stack (docs/deploy.md, \"Deploying for real\")"
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
    create: bool,
    out: &Printer,
) -> Result<Vec<Broadening>, DeployError> {
    if create {
        return Ok(Vec::new());
    }
    let found = broadening::against_deployed(cf, &t.stack_name, &t.template).await?;
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

/// The rollback triggers for this deploy, shown (`wh::deploy::rollback` says which alarms and
/// why). `None`: the alarms could not be read against an emulator (moto), so the stack's
/// triggers are left as they are.
pub async fn rollback_triggers(
    t: &Target,
    options: rollback::Options,
    create: bool,
    emulated: bool,
    out: &Printer,
) -> Result<Option<rollback::Triggers>, Outcome> {
    let planned = rollback::plan(
        &t.sdk,
        &t.compilation.stack,
        &t.suffix,
        options,
        create,
        emulated,
    )
    .await
    .map_err(report)?;
    match planned {
        Planned::Off(none) => {
            out.say("rollback triggers: none (--no-rollback-triggers)");
            Ok(Some(none))
        }
        Planned::FirstDeploy(none) => {
            out.say(
                "rollback triggers: none on the first deploy (the stack's alarms do not exist yet)",
            );
            Ok(Some(none))
        }
        Planned::Skipped(e) => {
            eprintln!("warning: rollback triggers were not set against the emulator: {e}");
            Ok(None)
        }
        Planned::Set(triggers) => {
            out.say(&format!(
                "rollback triggers: {} alarm{}, watched for {} min after the update",
                triggers.arns.len(),
                plural(triggers.arns.len()),
                options.monitoring_minutes
            ));
            for (name, why) in &triggers.left_out {
                out.say(&format!("  left out: {name}: {why}"));
            }
            Ok(Some(triggers))
        }
    }
}
