//! `wh destroy`: delete a deployed stack and follow it to the end. A `retain` spec's stack, or
//! any stack with termination protection, is refused unless `--force`, which lifts the
//! protection and says so (and even then a retain spec's tables, queues, key, secrets and logs
//! stay).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use wh::deploy::{outputs, stack};

use super::stack::{Operation, Printer, ctrl_c, follow, report, show_finished, target};
use super::{Outcome, OutputFormat, StackArgs, confirm, runtime};

/// Arguments of `wh destroy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stack: StackArgs,
    /// The IAM role CloudFormation acts as (a service role); the caller then needs only
    /// CloudFormation, iam:PassRole on it, and the artifact bucket.
    #[arg(long, value_name = "ARN")]
    cfn_role: Option<String>,
    /// Delete a stack of a `retain` spec (its retained resources stay behind), lifting its
    /// termination protection.
    #[arg(long)]
    force: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
    /// Where the flat-outputs file is (it is removed with the stack).
    #[arg(long, value_name = "DIR", default_value = "outputs")]
    out_dir: PathBuf,
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
    rt.block_on(destroy(args, &out))
}

async fn destroy(args: &Args, out: &Printer) -> Outcome {
    let t = match target(&args.stack, "wh destroy").await {
        Ok(t) => t,
        Err(o) => return o,
    };
    if t.compilation.stack.retains() && !args.force {
        eprintln!(
            "wh destroy: {} comes from a spec with `lifecycle: retain`; pass --force to delete it \
             (its tables, queues, key, secrets and log groups are retained and stay in the account)",
            t.stack_name
        );
        return Outcome::Failed;
    }
    let cf = aws_sdk_cloudformation::Client::new(&t.sdk);
    let info = match stack::describe(&cf, &t.stack_name).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            eprintln!("wh destroy: there is no stack {}", t.stack_name);
            return Outcome::Failed;
        }
        Err(e) => return report(e),
    };
    if info.termination_protection && !args.force {
        eprintln!(
            "wh destroy: {} has termination protection; pass --force to lift it and delete the stack",
            t.stack_name
        );
        return Outcome::Failed;
    }
    if !args.yes && !confirm(&format!("Delete stack {} ({})?", t.stack_name, info.status)) {
        eprintln!("nothing deleted");
        return Outcome::Failed;
    }
    if info.termination_protection {
        if let Err(e) = stack::set_termination_protection(&cf, &t.stack_name, false).await {
            return report(e);
        }
        out.say(&format!(
            "termination protection of {} lifted (--force)",
            t.stack_name
        ));
    }
    let after = match stack::newest_event(&cf, &info.id).await {
        Ok(a) => a,
        Err(e) => return report(e),
    };
    if let Err(e) = stack::delete(&cf, &t.stack_name, args.cfn_role.as_deref()).await {
        // The request may have gone through even though the answer did not: look before failing.
        match stack::describe(&cf, &info.id).await {
            Ok(None) => {}
            Ok(Some(i)) if i.status.starts_with("DELETE_") => {}
            _ => return report(e),
        }
    }
    let op = Operation {
        stack: &info.id,
        after: after.as_deref(),
        success: &["DELETE_COMPLETE"],
        expected: None,
    };
    let finished = match follow(&cf, op, args.poll, out, ctrl_c()).await {
        Ok(f) => f,
        Err(o) => return o,
    };
    let ok = show_finished(&finished, &t.stack_name, out);
    if ok {
        let file = outputs::path(&args.out_dir, &t.stack_name);
        if std::fs::remove_file(&file).is_ok() {
            out.say(&format!("removed {}", file.display()));
        }
    }
    if args.output_format == OutputFormat::Json {
        println!(
            "{}",
            json!({"stack": t.stack_name, "status": finished.status, "ok": ok, "failures": finished.failures})
        );
    }
    if ok { Outcome::Ok } else { Outcome::Failed }
}
