//! The command line: one file per subcommand; this file holds what they share.
//!
//! Exit codes: 0 success, 1 a check or verdict failed (including a spec that is rejected), 2 a
//! usage or I/O error.

mod compile;
mod schema;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Compile a payment-webhook spec into an AWS stack, and prove the stack holds its limits.
#[derive(Debug, Parser)]
#[command(name = "wh", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check specs and write their CloudFormation templates under generated/<env>/.
    Compile(compile::Args),
    /// Print the spec's JSON Schema, or check or write specs/schema.json.
    Schema(schema::Args),
}

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    #[default]
    Text,
    /// One JSON document on stdout, for scripts.
    Json,
}

/// What a command ends with.
pub enum Outcome {
    /// Success.
    Ok,
    /// A check or verdict failed.
    Failed,
    /// A usage or I/O error, already reported.
    Error,
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Ok => ExitCode::SUCCESS,
            Outcome::Failed => ExitCode::from(1),
            Outcome::Error => ExitCode::from(2),
        }
    }
}

/// Parses the command line and runs the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Compile(args) => compile::run(&args),
        Command::Schema(args) => schema::run(&args),
    }
    .into()
}
