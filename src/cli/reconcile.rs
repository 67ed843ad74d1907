//! `wh reconcile SPEC PROVIDER --since 48h`: recover deliveries a provider gave up on or never
//! retried (a GitHub hook's: redelivered by GitHub; Stripe's: ingested from its events API).
//! The work is `wh::ops::reconcile`; this file picks the stack (deployed, or `wh dev` with
//! `--target`) and prints.

use serde_json::json;
use time::OffsetDateTime;
use wh::ops::reconcile::{self, ReconcileError, Stack, Summary, Verdict, github, stripe};
use wh::ops::{self, Resources};
use wh::pipeline;
use wh::spec::units::Duration;
use wh::spec::{EventId, Scheme};

use super::stack::{report, target};
use super::{Outcome, OutputFormat, StackArgs, runtime};

/// Arguments of `wh reconcile`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stack: StackArgs,
    /// The spec's provider to reconcile (a `github` or `stripe` scheme).
    #[arg(value_name = "PROVIDER")]
    provider: String,
    /// How far back to look (GitHub redelivers the past 3 days; Stripe's events API reaches
    /// back 30).
    #[arg(long, value_name = "DURATION")]
    since: Duration,
    /// GitHub: the hook, as its API path: repos/<owner>/<repo>/hooks/<id>, orgs/<org>/hooks/<id>,
    /// or app. Token: GITHUB_TOKEN.
    #[arg(long, value_name = "HOOK")]
    hook: Option<String>,
    /// Stripe: the webhook endpoint (we_...) whose event types to recover. Key: STRIPE_API_KEY.
    #[arg(long, value_name = "ID")]
    endpoint: Option<String>,
    /// List what would be recovered; request and ingest nothing.
    #[arg(long)]
    dry_run: bool,
    /// A running `wh dev` instead of the deployed stack.
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t)]
    output_format: OutputFormat,
}

pub fn run(args: &Args) -> Outcome {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(o) => return o,
    };
    rt.block_on(reconcile(args))
}

/// What to reconcile, checked before any call.
enum Job {
    Github(github::Hook),
    Stripe { endpoint: String, pointer: String },
}

fn job(args: &Args, stack: &wh::ir::Stack) -> Result<Job, String> {
    let Some(p) = stack.providers.iter().find(|p| p.name == args.provider) else {
        let known: Vec<&str> = stack.providers.iter().map(|p| p.name.as_str()).collect();
        return Err(format!(
            "no provider `{}` in {}; the spec has {}",
            args.provider,
            args.stack.spec.display(),
            known.join(", ")
        ));
    };
    match (p.scheme, &args.hook, &args.endpoint) {
        (Scheme::Github, Some(hook), None) => Ok(Job::Github(hook.parse()?)),
        (Scheme::Github, None, _) => Err(format!(
            "{} is a GitHub provider: give --hook repos/<owner>/<repo>/hooks/<id> (or orgs/<org>/hooks/<id>, or app)",
            p.name
        )),
        (Scheme::Stripe, None, Some(endpoint)) => match &p.event_id {
            EventId::JsonPointer(pointer) => Ok(Job::Stripe {
                endpoint: endpoint.clone(),
                pointer: pointer.clone(),
            }),
            other => Err(format!(
                "{}'s event id is {other:?}, not in the event body: an event read from Stripe's API has no delivery headers",
                p.name
            )),
        },
        (Scheme::Stripe, _, None) => Err(format!(
            "{} is a Stripe provider: give --endpoint we_... (the webhook endpoint whose event types to recover)",
            p.name
        )),
        (Scheme::Github, _, Some(_)) => Err("--endpoint is for Stripe providers".into()),
        (Scheme::Stripe, Some(_), _) => Err("--hook is for GitHub providers".into()),
        (other, _, _) => Err(format!(
            "{} uses the {} scheme: wh reconcile knows GitHub's deliveries API and Stripe's events API; the others' providers resend from their dashboards",
            p.name,
            other.as_str()
        )),
    }
}

async fn reconcile(args: &Args) -> Outcome {
    if args.since.as_millis() == 0 {
        eprintln!("wh reconcile: --since must be longer than 0s (for example 48h)");
        return Outcome::Error;
    }
    let now = OffsetDateTime::now_utc();
    let since = time::Duration::try_from(std::time::Duration::from_millis(args.since.as_millis()))
        .ok()
        .and_then(|d| now.checked_sub(d))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    if let Some(base) = &args.target {
        let compilation = match pipeline::compile(&args.stack.spec) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{}: {e}", args.stack.spec.display());
                return Outcome::Failed;
            }
        };
        return run_job(
            args,
            &compilation.stack,
            &reconcile::stack::DevStack::new(base),
            since,
            now,
        )
        .await;
    }
    let t = match target(&args.stack, "wh reconcile").await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let r = Resources::of(&t.compilation.stack, &t.suffix);
    let sqs = aws_sdk_sqs::Client::new(&t.sdk);
    let queue = match ops::queue(&sqs, &r.processing_queue).await {
        Ok(q) => q,
        Err(e) => return report(e),
    };
    let stack = reconcile::stack::AwsStack::new(&t.sdk, &t.compilation.stack, &r.table, &queue.url);
    run_job(args, &t.compilation.stack, &stack, since, now).await
}

async fn run_job<S: Stack>(
    args: &Args,
    spec_stack: &wh::ir::Stack,
    stack: &S,
    since: OffsetDateTime,
    now: OffsetDateTime,
) -> Outcome {
    let job = match job(args, spec_stack) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("wh reconcile: {e}");
            return Outcome::Error;
        }
    };
    let result = match &job {
        Job::Github(hook) => match github::Client::from_env() {
            Ok(client) => {
                github::reconcile(
                    &client,
                    hook,
                    stack,
                    &args.provider,
                    since,
                    now,
                    args.dry_run,
                )
                .await
            }
            Err(e) => Err(e),
        },
        Job::Stripe { endpoint, pointer } => match stripe::Client::from_env() {
            Ok(client) => {
                stripe::reconcile(
                    &client,
                    endpoint,
                    stack,
                    &args.provider,
                    pointer,
                    since,
                    now,
                    args.dry_run,
                )
                .await
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(summary) => {
            show(args.output_format, &job, &summary);
            if summary.has_failures() {
                Outcome::Failed
            } else {
                Outcome::Ok
            }
        }
        Err(e) => {
            eprintln!("wh reconcile: {e}");
            match e {
                ReconcileError::Stack(_) | ReconcileError::Api(_) => Outcome::Failed,
                _ => Outcome::Error,
            }
        }
    }
}

fn show(format: OutputFormat, job: &Job, s: &Summary) {
    let counts = [
        ("found", s.items.len()),
        ("already_stored", s.count(&Verdict::AlreadyStored)),
        (
            if s.dry_run { "to_recover" } else { "recovered" },
            s.count(if s.dry_run {
                &Verdict::WouldRecover
            } else {
                &Verdict::Recovered
            }),
        ),
        ("too_old", s.count(&Verdict::TooOld)),
        ("failed", s.count(&Verdict::Failed(String::new()))),
    ];
    if format == OutputFormat::Json {
        let mut doc = json!({ "provider": s.provider, "since": s.since, "dry_run": s.dry_run });
        for (k, v) in counts {
            doc[k] = json!(v);
        }
        doc["items"] = json!(s.items);
        println!("{doc}");
        return;
    }
    let (source, recovered, too_old) = match job {
        Job::Github(hook) => (
            format!("GitHub hook {}", hook.path().trim_start_matches('/')),
            "redelivery requested: GitHub sends them again, signed",
            "delivered before GitHub's 3-day redelivery window: redeliver by hand if still wanted",
        ),
        Job::Stripe { endpoint, .. } => (
            format!("Stripe endpoint {endpoint}"),
            "ingested from Stripe's events API",
            "older than the 30 days Stripe's events API keeps",
        ),
    };
    println!(
        "{}: {source}, since {}{}",
        s.provider,
        s.since,
        if s.dry_run { " (dry run)" } else { "" }
    );
    for (k, v) in counts {
        let note = match k {
            "recovered" | "to_recover" if v > 0 => recovered,
            "too_old" if v > 0 => too_old,
            _ => "",
        };
        let line = format!("  {:<15} {v:>5}  {note}", k.replace('_', " "));
        println!("{}", line.trim_end());
    }
    for item in s
        .items
        .iter()
        .filter(|i| i.verdict != Verdict::AlreadyStored)
    {
        let verdict = match &item.verdict {
            Verdict::Failed(e) => format!("failed: {e}"),
            v => v.label().to_owned(),
        };
        println!("  {} {} {} {verdict}", item.at, item.id, item.event);
    }
}
