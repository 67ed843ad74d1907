//! `wh diff`: what `wh deploy` would change, from a change set that is deleted again. It uploads
//! the build's zips and (when large) the template, as a deploy would: the objects are
//! content-addressed, so that changes nothing a stack uses.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_cloudformation::types::ChangeSetType;
use serde_json::json;
use wh::deploy::review::{Review, plural};
use wh::deploy::rollback::firing_message;
use wh::deploy::stack::{self, Prepared, change_set_name};

use super::deploy::RollbackArgs;
use super::stack::{
    Printer, artifact_bucket, assemble, drift, report, rollback_triggers, show_plan, target,
    widening,
};
use super::{Outcome, OutputFormat, StackArgs, runtime};

/// Arguments of `wh diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stack: StackArgs,
    /// The IAM role CloudFormation acts as (a service role); the caller then needs only
    /// CloudFormation, iam:PassRole on it, and the artifact bucket.
    #[arg(long, value_name = "ARN")]
    cfn_role: Option<String>,
    /// The artifact bucket (default: wh-artifacts-<account>-<region>, made by `wh bootstrap`).
    #[arg(long, value_name = "BUCKET")]
    artifact_bucket: Option<String>,
    /// Where `wh build` put the zips: <DIR>/<env>/manifest.json.
    #[arg(long, value_name = "DIR", default_value = "dist")]
    dist: PathBuf,
    /// Time between reads of CloudFormation's progress (50ms to 1m).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = super::poll_interval)]
    poll: Duration,
    #[command(flatten)]
    rollback: RollbackArgs,
    /// Also write the review as Markdown to FILE (a pull-request comment, a job summary).
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// How to print the changes.
    #[arg(long, value_enum, default_value_t)]
    output_format: OutputFormat,
}

pub fn run(args: &Args) -> Outcome {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(o) => return o,
    };
    let out = Printer::new(args.output_format);
    rt.block_on(diff(args, &out))
}

async fn diff(args: &Args, out: &Printer) -> Outcome {
    let t = match target(&args.stack, "wh diff").await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let cf = aws_sdk_cloudformation::Client::new(&t.sdk);
    let (_, kind) = match stack::deploy_state(&cf, &t.stack_name).await {
        Ok(state) => state,
        Err(e) => return report(e),
    };
    let account = match wh::deploy::preflight::account_id(&t.sdk).await {
        Ok(a) => a,
        Err(e) => return report(e),
    };
    let bucket = match artifact_bucket(&t, args.artifact_bucket.as_deref(), &account).await {
        Ok(b) => b,
        Err(o) => return o,
    };
    let (mut deployment, _) =
        match assemble(&t, &args.dist, &bucket, args.cfn_role.as_deref(), out).await {
            Ok(d) => d,
            Err(o) => return o,
        };
    // What drifted (a deploy stops on it unless --overwrite-drift).
    let drifted = if kind == ChangeSetType::Update {
        match drift(&cf, &t, args.stack.endpoint_url.is_some(), args.poll, out).await {
            Ok(d) => d,
            Err(o) => return o,
        }
    } else {
        None
    };
    // What the update widens (a deploy stops on it unless --approve-broadening).
    let widened = match widening(&cf, &t, kind == ChangeSetType::Create, out).await {
        Ok(w) => w,
        Err(e) => return report(e),
    };
    // What the deploy would send as rollback triggers, and alarms that would stop it.
    let triggers = match rollback_triggers(
        &t,
        args.rollback.options(),
        kind == ChangeSetType::Create,
        args.stack.endpoint_url.is_some(),
        out,
    )
    .await
    {
        Ok(t) => t,
        Err(o) => return o,
    };
    if let Some(t) = &triggers
        && !t.firing.is_empty()
        && !args.rollback.despite_alarms
    {
        out.say(&format!(
            "a deploy would stop: {}",
            firing_message(&t.firing)
        ));
    }
    // With drift, a drift-aware change set shows what a deploy with --overwrite-drift reverts.
    deployment.revert_drift = drifted.as_ref().is_some_and(|d| d.drifted());
    let set = change_set_name();
    let prepared = stack::create_change_set(&cf, &deployment, kind.clone(), &set, args.poll).await;
    let plan = match prepared {
        Err(e) => return report(e),
        Ok(Prepared::NoChanges) => Default::default(),
        Ok(Prepared::ChangeSet { plan, .. }) => {
            // Leave nothing behind: the change set, and for a stack that does not exist yet,
            // the empty stack CloudFormation made to hold it.
            if let Err(e) = stack::delete_change_set(&cf, &t.stack_name, &set).await {
                eprintln!("warning: {e}");
            }
            if kind == ChangeSetType::Create
                && let Err(e) = stack::delete(&cf, &t.stack_name, args.cfn_role.as_deref()).await
            {
                eprintln!("warning: {e}");
            }
            plan
        }
    };
    let mut review = Review::new(
        &t.stack_name,
        kind == ChangeSetType::Create,
        &plan,
        &t.template,
    );
    review.broadening = widened;
    review.rollback_triggers = triggers;
    review.drift = drifted;
    if let Some(path) = &args.markdown
        && let Err(e) = std::fs::write(path, review.markdown())
    {
        eprintln!("{}: cannot write: {e}", path.display());
        return Outcome::Error;
    }
    if args.output_format == OutputFormat::Json {
        println!("{}", json!(review));
        return Outcome::Ok;
    }
    if plan.is_empty() {
        out.say(&format!("{}: no changes", t.stack_name));
        return Outcome::Ok;
    }
    out.say(&format!(
        "{} ({})",
        t.stack_name,
        if review.create { "new stack" } else { "update" }
    ));
    show_plan(&plan, out);
    for b in &review.blocked {
        out.say(&format!("needs --allow-replace: {}", b.reason));
    }
    if !review.broadening.is_empty() {
        out.say(&format!(
            "needs --approve-broadening: {} broadening change{} (above)",
            review.broadening.len(),
            plural(review.broadening.len())
        ));
    }
    Outcome::Ok
}
