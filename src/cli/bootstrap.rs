//! `wh bootstrap`: once per account and region, the stack `wh-bootstrap` with the artifact
//! bucket `wh deploy` uploads to and API Gateway's account-level CloudWatch Logs role.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use wh::deploy::artifacts::TemplateSource;
use wh::deploy::bootstrap;
use wh::deploy::stack::{self, Deployment, Prepared, change_set_name};
use wh::emit::cloudformation::render;

use super::stack::{Operation, Printer, ctrl_c, follow, report, show_finished, show_plan};
use super::{Outcome, OutputFormat, runtime};

/// Deploys the bootstrap template for `step` through a change set; `Ok(true)` when something
/// changed.
async fn deploy_step(
    cf: &aws_sdk_cloudformation::Client,
    step: &bootstrap::ApiLogging,
    poll: Duration,
    out: &Printer,
) -> Result<bool, Outcome> {
    let (_, kind) = stack::deploy_state(cf, bootstrap::STACK_NAME)
        .await
        .map_err(report)?;
    let deployment = Deployment {
        stack: bootstrap::STACK_NAME.into(),
        template: TemplateSource::Body(render(&bootstrap::template(step))),
        parameters: vec![],
        tags: vec![("wh:bootstrap".into(), env!("CARGO_PKG_VERSION").into())],
        role_arn: None,
        rollback: None,
        revert_drift: false,
    };
    let set = change_set_name();
    match stack::create_change_set(cf, &deployment, kind, &set, poll)
        .await
        .map_err(report)?
    {
        Prepared::NoChanges => Ok(false),
        Prepared::ChangeSet { plan, .. } => {
            show_plan(&plan, out);
            let after = stack::newest_event(cf, bootstrap::STACK_NAME)
                .await
                .map_err(report)?;
            stack::execute_change_set(cf, bootstrap::STACK_NAME, &set)
                .await
                .map_err(report)?;
            let op = Operation {
                stack: bootstrap::STACK_NAME,
                after: after.as_deref(),
                success: &["CREATE_COMPLETE", "UPDATE_COMPLETE"],
                expected: Some(plan.changes.len()),
            };
            let finished = follow(cf, op, poll, out, ctrl_c()).await?;
            if show_finished(&finished, bootstrap::STACK_NAME, out) {
                Ok(true)
            } else {
                Err(Outcome::Failed)
            }
        }
    }
}

/// Arguments of `wh bootstrap`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A spec (its region is the default region).
    #[arg(value_name = "SPEC")]
    spec: PathBuf,
    /// AWS region (default: the spec's).
    #[arg(long)]
    region: Option<String>,
    /// AWS profile.
    #[arg(long)]
    profile: Option<String>,
    /// AWS endpoint (an emulator such as moto).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Time between reads of CloudFormation's progress (50ms to 1m).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = super::poll_interval)]
    poll: Duration,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t)]
    output_format: OutputFormat,
}

pub fn run(args: &Args) -> Outcome {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(o) => return o,
    };
    let out = Printer::new(args.output_format);
    rt.block_on(run_async(args, &out))
}

async fn run_async(args: &Args, out: &Printer) -> Outcome {
    let compilation = match wh::pipeline::compile(&args.spec) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", args.spec.display());
            return Outcome::Failed;
        }
    };
    let sdk = wh::deploy::sdk_config(
        args.region.as_deref(),
        &compilation.stack.region,
        args.profile.as_deref(),
        args.endpoint_url.as_deref(),
    )
    .await;
    let account = match wh::deploy::preflight::account_id(&sdk).await {
        Ok(a) => a,
        Err(e) => return report(e),
    };
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    out.say(&format!(
        "bootstrapping account {account} in {region}: stack {}",
        bootstrap::STACK_NAME
    ));
    let poll = args.poll;
    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    let our_role = match bootstrap::our_role_name(&cf).await {
        Ok(r) => r,
        Err(e) => return report(e),
    };
    let account_role = match bootstrap::account_logging_role(&sdk).await {
        Ok(r) => r,
        Err(e) => return report(e),
    };
    let steps = bootstrap::logging_steps(account_role.as_deref(), our_role.as_deref());
    if let [bootstrap::ApiLogging::Existing(role)] = steps.as_slice() {
        out.say(&format!(
            "API Gateway already logs to CloudWatch with {role}: left as it is (the setting is one per account and region)"
        ));
    }
    let mut changed = false;
    for (i, step) in steps.iter().enumerate() {
        if steps.len() > 1 {
            out.say(&format!(
                "step {} of {}: {}",
                i + 1,
                steps.len(),
                match step {
                    bootstrap::ApiLogging::RoleOnly =>
                        "the bucket and API Gateway's logging role (the role propagates in IAM before it is used)",
                    _ => "API Gateway's account setting, pointed at the role",
                }
            ));
        }
        match deploy_step(&cf, step, poll, out).await {
            Ok(c) => changed |= c,
            Err(o) => return o,
        }
    }
    if !changed {
        out.say("no changes: already bootstrapped");
    }
    let bucket = bootstrap::bucket_name(&account, &region);
    match bootstrap::bucket_exists(&aws_sdk_s3::Client::new(&sdk), &bucket).await {
        Ok(true) => {}
        Ok(false) => {
            eprintln!(
                "{}: the stack is complete but bucket {bucket} does not exist",
                bootstrap::STACK_NAME
            );
            return Outcome::Failed;
        }
        Err(e) => return report(e),
    }
    if args.output_format == OutputFormat::Json {
        println!(
            "{}",
            json!({"stack": bootstrap::STACK_NAME, "account": account, "region": region, "bucket": bucket})
        );
    } else {
        out.say(&format!("artifact bucket: {bucket}"));
    }
    Outcome::Ok
}
