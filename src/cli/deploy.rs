//! `wh deploy`: preflight, upload the build's zips, make a change set, show it, stop at the
//! replacement gate, execute it, follow the stack events, write the flat-outputs file.
//! The steps are `wh::deploy`'s; the lines shared with `wh diff` and the other stack commands
//! are in `stack.rs`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_cloudformation::types::ChangeSetType;
use serde_json::{Value, json};
use wh::deploy::broadening::Broadening;
use wh::deploy::rollback::firing_message;
use wh::deploy::stack::{self, Direct, Prepared, change_set_name};
use wh::deploy::target::Target;
use wh::deploy::{DeployError, outputs, plan, rollback};

use super::stack::{
    Operation, Printer, artifact_bucket, assemble, ctrl_c, drift, follow, preflight, report,
    rollback_triggers, show_finished, show_plan, target, widening,
};
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

impl RollbackArgs {
    /// What these options ask of the triggers.
    pub fn options(&self) -> rollback::Options {
        rollback::Options {
            monitoring_minutes: self.monitoring_time.as_secs() / 60,
            off: self.no_rollback_triggers,
            despite_alarms: self.despite_alarms,
        }
    }
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

/// Reads the stack's outputs and writes its flat-outputs file; returns them.
pub async fn write_outputs(
    t: &Target,
    out_dir: &std::path::Path,
    out: &Printer,
) -> Result<Value, Outcome> {
    let flat = outputs::flat(&t.sdk, &t.stack_name).await.map_err(|e| {
        eprintln!("{e}");
        Outcome::Failed
    })?;
    if !flat.missing.is_empty() {
        eprintln!(
            "warning: the stack has no output {}; commands that read the flat-outputs file need them",
            flat.missing.join(", ")
        );
    }
    write_files(out_dir, &[(PathBuf::from(&flat.file), flat.text.as_str())])?;
    out.say(&format!("wrote {}", out_dir.join(&flat.file).display()));
    Ok(json!({"file": out_dir.join(&flat.file), "values": flat.values}))
}

pub fn run(args: &Args) -> Outcome {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(o) => return o,
    };
    let out = Printer::new(args.output_format);
    let mut doc = serde_json::Map::new();
    let outcome = rt.block_on(deploy(args, &out, &mut doc));
    if out.json() {
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
    let widened = match widening(&cf, &t, kind == ChangeSetType::Create, out).await {
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
    match rollback_triggers(
        &t,
        args.rollback.options(),
        kind == ChangeSetType::Create,
        emulated,
        out,
    )
    .await
    {
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

/// The broadening gate: nothing widened, `--approve-broadening`, or a yes at a terminal.
fn approved(widened: &[Broadening], flag: bool, out: &Printer) -> bool {
    if widened.is_empty() {
        return true;
    }
    if flag {
        out.say("--approve-broadening: deploying the broadening changes above");
        return true;
    }
    if !out.json()
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
        let compilation = wh::pipeline::compile(&spec).unwrap();
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
