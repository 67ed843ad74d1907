//! `wh outputs`: print a deployed stack's outputs and write its flat-outputs file.

use std::path::PathBuf;

use wh::deploy::outputs;
use wh::ir::names::is_valid_suffix;
use wh::pipeline;

use super::{Outcome, OutputFormat, StackArgs, write_files};

/// Arguments of `wh outputs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stack: StackArgs,
    /// Where flat-outputs files go.
    #[arg(long, value_name = "DIR", default_value = "outputs")]
    out_dir: PathBuf,
    /// How to print them.
    #[arg(long, value_enum, default_value_t)]
    output_format: OutputFormat,
}

pub fn run(args: &Args) -> Outcome {
    let compilation = match pipeline::compile(&args.stack.spec) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", args.stack.spec.display());
            return Outcome::Failed;
        }
    };
    let stack = &compilation.stack;
    let suffix = args
        .stack
        .suffix
        .clone()
        .unwrap_or_else(|| stack.default_suffix.clone());
    if !is_valid_suffix(&suffix) {
        eprintln!(
            "wh outputs: `{suffix}` is not a valid environment suffix (1 to 20 lowercase letters, digits and inner hyphens)"
        );
        return Outcome::Error;
    }
    let name = format!("{}-{suffix}", stack.name);
    let fetched = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(async {
                let sdk = args.stack.sdk(&stack.region).await;
                outputs::fetch(&sdk, &name).await
            })
        });
    let values = match fetched {
        Ok(v) => v,
        Err(e) => {
            eprintln!("wh outputs: {e}");
            return Outcome::Failed;
        }
    };
    let text = outputs::render(&name, &values);
    let file = outputs::path(&args.out_dir, &name);
    if let Err(outcome) = write_files(
        &args.out_dir,
        &[(PathBuf::from(format!("{name}.json")), text.as_str())],
    ) {
        return outcome;
    }
    if args.output_format == OutputFormat::Json {
        print!("{text}");
    } else {
        for (k, v) in &values {
            println!("{k} = {v}");
        }
        println!("wrote {}", file.display());
    }
    Outcome::Ok
}
