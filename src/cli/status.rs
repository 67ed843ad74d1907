//! `wh status`: one screen of a stack's health: the deployed stack's (the table's status
//! index, the queues, alarms in ALARM, the last hour's metrics; `wh::ops::health`), or a
//! running `wh dev`'s with `--target URL` (`/_wh/status`).

use serde_json::Value;

use super::{Outcome, OutputFormat};

/// Arguments of `wh status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stack: super::StackArgs,
    /// A running `wh dev` (http://127.0.0.1:8787).
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// How to print it.
    #[arg(long, value_enum, default_value_t)]
    output_format: OutputFormat,
}

pub fn run(args: &Args) -> Outcome {
    if let Err(e) = wh::pipeline::compile(&args.stack.spec) {
        eprintln!("{}: {e}", args.stack.spec.display());
        return Outcome::Failed;
    }
    let Some(target) = &args.target else {
        return deployed(args);
    };
    let url = format!("{}/_wh/status", target.trim_end_matches('/'));
    let fetched = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(async {
                let response = reqwest::get(&url).await.map_err(|e| e.to_string())?;
                response.json::<Value>().await.map_err(|e| e.to_string())
            })
        });
    let status = match fetched {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wh status: {url}: {e}");
            return Outcome::Error;
        }
    };
    if args.output_format == OutputFormat::Json {
        println!("{status}");
        return Outcome::Ok;
    }
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let w = &status["webhooks"];
    println!(
        "{} (wh dev at {target})",
        status["stack"].as_str().unwrap_or("?")
    );
    println!(
        "  webhooks:  {} RECEIVED, {} ENQUEUED, {} PROCESSED, {} FAILED",
        n(&w["RECEIVED"]),
        n(&w["ENQUEUED"]),
        n(&w["PROCESSED"]),
        n(&w["FAILED"])
    );
    println!(
        "  queue:     {} queued ({} in flight), DLQ {}",
        n(&status["queue"]["queued"]),
        n(&status["queue"]["in_flight"]),
        n(&status["dlq_depth"])
    );
    println!(
        "  published: {} events, {} alerts; {} audit records",
        n(&status["events_published"]),
        n(&status["alerts_published"]),
        n(&status["audit_records"])
    );
    println!(
        "  gateway:   {} throttled (429), {} blocked by WAF (403)",
        n(&status["throttled"]),
        n(&status["blocked"])
    );
    Outcome::Ok
}

fn deployed(args: &Args) -> Outcome {
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(o) => return o,
    };
    rt.block_on(async {
        let t = match super::stack::target(&args.stack, "wh status").await {
            Ok(t) => t,
            Err(o) => return o,
        };
        let r = wh::ops::Resources::of(&t.compilation.stack, &t.suffix);
        match wh::ops::health::read(&t.sdk, &r, time::OffsetDateTime::now_utc()).await {
            Ok(h) => {
                if args.output_format == OutputFormat::Json {
                    println!("{}", serde_json::json!(h));
                } else {
                    print!("{}", wh::ops::health::render(&h));
                }
                // A partial screen is shown, but a script must not take it for a full one.
                if h.unavailable.is_empty() {
                    Outcome::Ok
                } else {
                    for what in &h.unavailable {
                        eprintln!("wh status: could not read {what}");
                    }
                    Outcome::Failed
                }
            }
            Err(e) => super::stack::report(e),
        }
    })
}
