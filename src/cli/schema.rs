//! `wh schema`: the spec's JSON Schema, for editors.

use std::path::PathBuf;

use super::Outcome;

/// Arguments of `wh schema`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fail if FILE differs from the schema (CI keeps specs/schema.json up to date).
    #[arg(long, conflicts_with = "write")]
    check: bool,
    /// Write the schema to FILE instead of printing it.
    #[arg(long)]
    write: bool,
    /// The committed schema file.
    #[arg(long, value_name = "FILE", default_value = "specs/schema.json")]
    file: PathBuf,
}

/// The schema as committed: pretty JSON with a trailing newline.
pub fn rendered() -> String {
    let mut text = serde_json::to_string_pretty(&wh::spec::json_schema()).unwrap_or_default();
    text.push('\n');
    text
}

pub fn run(args: &Args) -> Outcome {
    let schema = rendered();
    if args.check {
        return match std::fs::read_to_string(&args.file) {
            Ok(existing) if existing == schema => Outcome::Ok,
            Ok(_) => {
                eprintln!(
                    "{} is out of date; run `wh schema --write`",
                    args.file.display()
                );
                Outcome::Failed
            }
            Err(e) => {
                eprintln!(
                    "{}: cannot read: {e}; run `wh schema --write`",
                    args.file.display()
                );
                Outcome::Failed
            }
        };
    }
    if args.write {
        return match std::fs::write(&args.file, schema) {
            Ok(()) => Outcome::Ok,
            Err(e) => {
                eprintln!("{}: cannot write: {e}", args.file.display());
                Outcome::Error
            }
        };
    }
    print!("{schema}");
    Outcome::Ok
}
