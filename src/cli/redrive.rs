//! `wh redrive SPEC`: move the dead-letter queue's messages back to the processing queue (an
//! SQS message move task), with a count first and `--dry-run`; against `wh dev` with `--target`.

use std::time::Duration;

use serde_json::{Value, json};
use wh::ops::{self, Resources, redrive};

use super::stack::{report, target};
use super::{Outcome, OutputFormat, StackArgs, confirm, runtime};

/// Arguments of `wh redrive`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stack: StackArgs,
    /// Count the messages, move nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
    /// A running `wh dev` instead of the deployed stack.
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// Time between reads of the move task's progress (50ms to 1m).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = super::poll_interval)]
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
    rt.block_on(redrive_all(args))
}

fn done(args: &Args, doc: Value, line: &str) -> Outcome {
    if args.output_format == OutputFormat::Json {
        println!("{doc}");
    } else {
        println!("{line}");
    }
    Outcome::Ok
}

/// Whether to move `waiting` messages: not on `--dry-run` or an empty DLQ (reported), nor
/// without a yes; `Err` holds the outcome to end with.
fn go_ahead(args: &Args, waiting: u64) -> Result<(), Outcome> {
    if args.dry_run || waiting == 0 {
        return Err(done(
            args,
            json!({"dlq": waiting, "moved": 0, "dry_run": args.dry_run}),
            if waiting == 0 {
                "nothing to redrive"
            } else {
                "dry run: nothing moved"
            },
        ));
    }
    if !args.yes
        && !confirm(&format!(
            "Move {waiting} message(s) back to the processing queue?"
        ))
    {
        eprintln!("nothing moved");
        return Err(Outcome::Failed);
    }
    Ok(())
}

async fn redrive_all(args: &Args) -> Outcome {
    if let Some(url) = &args.target {
        return dev(args, url).await;
    }
    let t = match target(&args.stack, "wh redrive").await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let r = Resources::of(&t.compilation.stack, &t.suffix);
    let sqs = aws_sdk_sqs::Client::new(&t.sdk);
    let (dlq, processing) = match (
        ops::queue(&sqs, &r.dead_letter_queue).await,
        ops::queue(&sqs, &r.processing_queue).await,
    ) {
        (Ok(d), Ok(p)) => (d, p),
        (Err(e), _) | (_, Err(e)) => return report(e),
    };
    let waiting = match wh::ops::health::queue_depths(&sqs, &dlq.url).await {
        Ok((visible, in_flight)) => visible + in_flight,
        Err(e) => return report(e),
    };
    eprintln!(
        "{}: about {waiting} message(s) in {}; a redrive moves them to {}",
        r.stack, r.dead_letter_queue, r.processing_queue
    );
    if let Err(stop) = go_ahead(args, waiting) {
        return stop;
    }
    if let Err(e) = redrive::start(&sqs, &dlq, &processing).await {
        return report(e);
    }
    let ended = redrive::follow(&sqs, &dlq, args.poll, &mut |n| eprintln!("  moved {n}")).await;
    match ended {
        Ok(m) if m.status == "COMPLETED" => done(
            args,
            json!({"dlq": waiting, "moved": m.moved, "status": m.status}),
            &format!(
                "moved {} message(s) back to {}",
                m.moved, r.processing_queue
            ),
        ),
        Ok(m) => {
            eprintln!(
                "the move task ended {} after {} message(s): {}",
                m.status,
                m.moved,
                m.failure.as_deref().unwrap_or("no reason given")
            );
            Outcome::Failed
        }
        Err(e) => report(e),
    }
}

async fn dev(args: &Args, url: &str) -> Outcome {
    let base = url.trim_end_matches('/');
    let call = |dry_run: bool| async move {
        let r = reqwest::Client::new()
            .post(format!("{base}/_wh/redrive?dry_run={dry_run}"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        r.json::<Value>().await.map_err(|e| e.to_string())
    };
    let counted = match call(true).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("wh redrive: {base}: {e}");
            return Outcome::Error;
        }
    };
    let waiting = counted["dlq"].as_u64().unwrap_or(0);
    eprintln!("wh dev at {base}: {waiting} message(s) in the DLQ");
    if let Err(stop) = go_ahead(args, waiting) {
        return stop;
    }
    match call(false).await {
        Ok(v) => {
            let moved = v["moved"].as_u64().unwrap_or(0);
            done(
                args,
                json!({"dlq": waiting, "moved": moved}),
                &format!("moved {moved} message(s) back to the processing queue"),
            )
        }
        Err(e) => {
            eprintln!("wh redrive: {base}: {e}");
            Outcome::Error
        }
    }
}
