//! `wh replay SPEC --from T [--to T] [--provider P]`: publish again, to the bus, the events of
//! webhooks already processed in a time range, for a consumer that was broken. The events are
//! the ones first published (same webhook id), so idempotent consumers can tell. The work is
//! `wh_runtime::ops::replay`, the same code `wh dev` runs.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wh::ops::Resources;
use wh_runtime::backends::aws::{DynamoStore, EventBridgeBus};

use super::reenqueue::{Steps, dev_call, list_then_run};
use super::stack::target;
use super::{Outcome, OutputFormat, StackArgs, runtime};

/// Arguments of `wh replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stack: StackArgs,
    /// Start of the range: webhooks received at or after it (RFC 3339, e.g. 2026-11-23T08:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = rfc3339)]
    from: OffsetDateTime,
    /// End of the range (default: now).
    #[arg(long, value_name = "TIME", value_parser = rfc3339)]
    to: Option<OffsetDateTime>,
    /// Only this provider's events.
    #[arg(long, value_name = "PROVIDER")]
    provider: Option<String>,
    /// List them, publish nothing.
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

/// An RFC 3339 time, in UTC: the index holds UTC times and compares them as text.
fn rfc3339(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("{e}; give an RFC 3339 time such as 2026-11-23T08:00:00Z"))?
        .checked_to_offset(time::UtcOffset::UTC)
        .filter(|t| (1..=9999).contains(&t.year()))
        .ok_or_else(|| format!("{s} is outside the years 1 to 9999 in UTC"))
}

pub fn run(args: &Args) -> Outcome {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(o) => return o,
    };
    rt.block_on(replay(args))
}

async fn replay(args: &Args) -> Outcome {
    let to = args.to.unwrap_or_else(OffsetDateTime::now_utc);
    if args.from >= to {
        eprintln!("wh replay: --from must be before --to");
        return Outcome::Error;
    }
    let text = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let (from, to) = (text(args.from), text(to));
    let compilation = match wh::pipeline::compile(&args.stack.spec) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", args.stack.spec.display());
            return Outcome::Failed;
        }
    };
    if let Some(p) = &args.provider
        && !compilation.stack.providers.iter().any(|q| &q.name == p)
    {
        eprintln!("wh replay: the spec has no provider `{p}`");
        return Outcome::Failed;
    }
    eprintln!("events of webhooks processed and received from {from} to {to}");
    let steps = |failure| Steps {
        command: "wh replay",
        what: "published again",
        declined: "nothing published",
        format: args.output_format,
        dry_run: args.dry_run,
        yes: args.yes,
        failure,
    };
    if let Some(base) = &args.target {
        // UTC times end in `Z`: nothing in them needs escaping in a query.
        let mut query = format!("replay?from={from}&to={to}");
        if let Some(p) = &args.provider {
            query += &format!("&provider={p}");
        }
        return list_then_run(steps(Outcome::Error), |dry_run| {
            dev_call(base, &query, dry_run)
        })
        .await;
    }
    let t = match target(&args.stack, "wh replay").await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let r = Resources::of(&t.compilation.stack, &t.suffix);
    let store = DynamoStore::new(&t.sdk, &r.table);
    let bus = EventBridgeBus::new(&t.sdk, &r.bus);
    let families: BTreeMap<_, _> = t
        .compilation
        .stack
        .providers
        .iter()
        .map(|p| (p.name.clone(), wh::ir::handlers::family(p.scheme)))
        .collect();
    list_then_run(steps(Outcome::Failed), |dry_run| {
        wh_runtime::ops::replay(
            &store,
            &store,
            &bus,
            &families,
            (&from, &to),
            args.provider.as_deref(),
            dry_run,
        )
    })
    .await
}
