//! `wh reenqueue SPEC --older-than 15m`: enqueue stuck webhooks: RECEIVED past the age (the
//! enqueue failed and the provider stopped retrying), and ENQUEUED or FAILED ones whose message
//! SQS has deleted (last enqueued longer ago than the longer queue retention: throttled receives
//! that went to the DLQ and expired there, failures nobody redrove in time). Those whose message
//! may still exist are left to the queue and `wh redrive`; running it twice does no harm. The
//! work is `wh_runtime::ops::reenqueue`, the same code `wh dev` runs.

use serde_json::{Value, json};
use time::OffsetDateTime;
use wh::ops::{self, Resources};
use wh::spec::units::Duration;
use wh_runtime::backends::aws::{DynamoStore, SqsQueue};
use wh_runtime::ops::{self as ops_rt, Report};

use super::stack::{report, target};
use super::{Outcome, OutputFormat, StackArgs, confirm, runtime};

/// Arguments of `wh reenqueue`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stack: StackArgs,
    /// Only webhooks RECEIVED longer ago than this (the receiver enqueues within seconds).
    #[arg(long, value_name = "DURATION", default_value = "15m")]
    older_than: Duration,
    /// ENQUEUED or FAILED webhooks last enqueued longer ago than this have no message left
    /// (default: the spec's longer queue retention, after which SQS has deleted it for sure).
    /// A shorter time (after purging the DLQ, say) may send a message twice: the processor
    /// processes it once.
    #[arg(long, value_name = "DURATION")]
    lost_after: Option<Duration>,
    /// List them, enqueue nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
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
    rt.block_on(reenqueue(args))
}

/// Prints the result of a recovery operation; shared with `wh replay`.
pub fn show(format: OutputFormat, what: &str, r: &Report, dry_run: bool) -> Outcome {
    if format == OutputFormat::Json {
        println!(
            "{}",
            json!({"found": r.found, "done": r.done, "skipped": r.skipped, "dry_run": dry_run})
        );
        return Outcome::Ok;
    }
    if dry_run {
        println!("dry run: {} webhook(s) would be {what}", r.found.len());
    } else {
        println!("{} webhook(s) {what}", r.done);
    }
    for (id, why) in &r.skipped {
        println!("  skipped {id}: {why}");
    }
    Outcome::Ok
}

/// Lists what an operation matched, for the confirmation.
pub fn preview(r: &Report, what: &str) {
    eprintln!("{} webhook(s) to be {what}:", r.found.len());
    for id in r.found.iter().take(10) {
        eprintln!("  {id}");
    }
    if r.found.len() > 10 {
        eprintln!("  ... and {} more", r.found.len() - 10);
    }
}

/// How a recovery operation is run: list with a dry run; stop there on `--dry-run` or when
/// nothing matched; else show what matched, ask unless `--yes`, and do it. Shared with
/// `wh replay`, against a deployed stack and against `wh dev` alike.
pub struct Steps<'a> {
    /// `wh reenqueue`.
    pub command: &'a str,
    /// What is done to each webhook ("enqueued").
    pub what: &'a str,
    /// Said when the user does not confirm.
    pub declined: &'a str,
    /// `--output-format`.
    pub format: OutputFormat,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--yes`.
    pub yes: bool,
    /// The outcome when the operation itself fails.
    pub failure: Outcome,
}

/// Runs an operation by [`Steps`]; `run(true)` lists, `run(false)` acts.
pub async fn list_then_run<F, Fut, E>(s: Steps<'_>, run: F) -> Outcome
where
    F: Fn(bool) -> Fut,
    Fut: std::future::Future<Output = Result<Report, E>>,
    E: std::fmt::Display,
{
    let listed = match run(true).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: {e}", s.command);
            return s.failure;
        }
    };
    if s.dry_run || listed.found.is_empty() {
        return show(s.format, s.what, &listed, true);
    }
    preview(&listed, s.what);
    if !s.yes && !confirm("Go on?") {
        eprintln!("{}", s.declined);
        return Outcome::Failed;
    }
    match run(false).await {
        Ok(r) => show(s.format, s.what, &r, false),
        Err(e) => {
            eprintln!("{}: {e}", s.command);
            s.failure
        }
    }
}

/// Calls a `wh dev` operation endpoint (`reenqueue?older_than_secs=60`), as a listing only
/// when `dry_run`.
pub async fn dev_call(base: &str, path_and_query: &str, dry_run: bool) -> Result<Report, String> {
    let listing = if dry_run { "&dry_run=true" } else { "" };
    let url = format!(
        "{}/_wh/{path_and_query}{listing}",
        base.trim_end_matches('/')
    );
    let r = reqwest::Client::new()
        .post(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = r.status();
    let body: Value = r.json().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{url}: HTTP {status}: {}", body["message"]));
    }
    serde_json::from_value(body).map_err(|e| format!("{url}: {e}"))
}

async fn reenqueue(args: &Args) -> Outcome {
    let steps = |failure| Steps {
        command: "wh reenqueue",
        what: "enqueued",
        declined: "nothing enqueued",
        format: args.output_format,
        dry_run: args.dry_run,
        yes: args.yes,
        failure,
    };
    if let Some(base) = &args.target {
        let mut query = format!("reenqueue?older_than_secs={}", args.older_than.secs_ceil());
        if let Some(lost) = &args.lost_after {
            query += &format!("&lost_after_secs={}", lost.secs_ceil());
        }
        return list_then_run(steps(Outcome::Error), |dry_run| {
            dev_call(base, &query, dry_run)
        })
        .await;
    }
    let t = match target(&args.stack, "wh reenqueue").await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let r = Resources::of(&t.compilation.stack, &t.suffix);
    let sqs = aws_sdk_sqs::Client::new(&t.sdk);
    let queue = match ops::queue(&sqs, &r.processing_queue).await {
        Ok(q) => SqsQueue::new(&t.sdk, q.url),
        Err(e) => return report(e),
    };
    let store = DynamoStore::new(&t.sdk, &r.table);
    let queues = &t.compilation.stack.queues;
    let lost_after = args.lost_after.as_ref().map_or_else(
        || ops_rt::message_lifetime(queues.retention_secs, queues.dlq_retention_secs),
        |d| std::time::Duration::from_millis(d.as_millis()),
    );
    let stuck = ops_rt::Stuck::at(
        OffsetDateTime::now_utc(),
        std::time::Duration::from_millis(args.older_than.as_millis()),
        lost_after,
    );
    list_then_run(steps(Outcome::Failed), |dry_run| {
        ops_rt::reenqueue(&store, &store, &queue, &stuck, dry_run)
    })
    .await
}
