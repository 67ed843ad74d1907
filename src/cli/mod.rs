//! The command line: one file per subcommand; this file holds what they share.
//!
//! Exit codes: 0 success, 1 a check or verdict failed (including a spec that is rejected), 2 a
//! usage or I/O error.

mod build;
mod compile;
mod dev;
mod loadtest;
mod outputs;
mod schema;
mod send;
mod status;

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
    /// Build the spec's handlers for arm64 Lambda: reproducible zips and a manifest of hashes.
    Build(build::Args),
    /// Serve the spec's stack on loopback, with API Gateway throttling and WAF per-IP blocking.
    Dev(dev::Args),
    /// Post signed sample events of a provider to a running stack.
    Send(send::Args),
    /// Prove the stage throttle, the burst and the per-IP WAF limit with a goose load test.
    Loadtest(loadtest::Args),
    /// Print a deployed stack's outputs and write outputs/<StackName>.json.
    Outputs(outputs::Args),
    /// Show a stack's health (a running `wh dev` with --target).
    Status(status::Args),
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
        Command::Build(args) => build::run(&args),
        Command::Dev(args) => dev::run(&args),
        Command::Send(args) => send::run(&args),
        Command::Loadtest(args) => loadtest::run(&args),
        Command::Outputs(args) => outputs::run(&args),
        Command::Status(args) => status::run(&args),
    }
    .into()
}

/// Writes `files` (paths relative to `dir`), creating directories; reports the first failure.
/// A file whose contents are unchanged is not touched, so Cargo does not rebuild a generated
/// crate that did not change; returns the paths actually written.
pub fn write_files<C: AsRef<[u8]>>(
    dir: &std::path::Path,
    files: &[(std::path::PathBuf, C)],
) -> Result<Vec<std::path::PathBuf>, Outcome> {
    let mut written = Vec::new();
    for (relative, contents) in files {
        let path = dir.join(relative);
        if std::fs::read(&path).is_ok_and(|existing| existing == contents.as_ref()) {
            continue;
        }
        let result = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, contents));
        if let Err(e) = result {
            eprintln!("{}: cannot write: {e}", path.display());
            return Err(Outcome::Error);
        }
        written.push(path);
    }
    Ok(written)
}
