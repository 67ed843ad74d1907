//! The command line: one file per subcommand; this file holds what they share.
//!
//! Exit codes: 0 success, 1 a check or verdict failed (including a spec that is rejected), 2 a
//! usage or I/O error.

mod bootstrap;
mod build;
mod compile;
mod deploy;
mod destroy;
mod dev;
mod diff;
mod loadtest;
mod outputs;
mod reconcile;
mod redrive;
mod reenqueue;
mod replay;
mod schema;
mod secrets;
mod send;
mod stack;
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
    /// Prepare an AWS account and region once: artifact bucket, API Gateway logging role.
    Bootstrap(bootstrap::Args),
    /// Deploy the spec's stack with a CloudFormation change set; write its outputs.
    Deploy(deploy::Args),
    /// Show what `wh deploy` would change, without changing anything.
    Diff(diff::Args),
    /// Delete a deployed stack.
    Destroy(destroy::Args),
    /// Print a deployed stack's outputs and write outputs/<StackName>.json.
    Outputs(outputs::Args),
    /// Show a deployed stack's health (a running `wh dev` with --target).
    Status(status::Args),
    /// Set or rotate a provider's signing secret (read from stdin or a file, never echoed).
    Secrets(secrets::Args),
    /// Move the dead-letter queue's messages back to the processing queue.
    Redrive(redrive::Args),
    /// Enqueue stuck webhooks: never enqueued, or whose message SQS deleted.
    Reenqueue(reenqueue::Args),
    /// Publish processed events of a time range to the bus again.
    Replay(replay::Args),
    /// Recover deliveries a provider gave up on: GitHub redeliveries, Stripe's events API.
    Reconcile(reconcile::Args),
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
#[derive(Clone, Copy)]
pub enum Outcome {
    /// Success.
    Ok,
    /// A check or verdict failed.
    Failed,
    /// A usage or I/O error, already reported.
    Error,
    /// Stopped by Ctrl-C (exit 130, as a shell reports SIGINT).
    Interrupted,
    /// A load test could not decide (exit 3), reasons reported.
    Inconclusive,
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Ok => ExitCode::SUCCESS,
            Outcome::Failed => ExitCode::from(1),
            Outcome::Error => ExitCode::from(2),
            Outcome::Interrupted => ExitCode::from(130),
            Outcome::Inconclusive => ExitCode::from(3),
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
        Command::Bootstrap(args) => bootstrap::run(&args),
        Command::Deploy(args) => deploy::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Destroy(args) => destroy::run(&args),
        Command::Outputs(args) => outputs::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Secrets(args) => secrets::run(&args),
        Command::Redrive(args) => redrive::run(&args),
        Command::Reenqueue(args) => reenqueue::run(&args),
        Command::Reconcile(args) => reconcile::run(&args),
        Command::Replay(args) => replay::run(&args),
    }
    .into()
}

/// Which deployed stack a command works on, and how AWS is reached: the options every command
/// that talks to AWS shares.
#[derive(Debug, clap::Args)]
pub struct StackArgs {
    /// The spec of the stack.
    #[arg(value_name = "SPEC")]
    pub spec: std::path::PathBuf,
    /// Environment suffix (default: the spec's own; other suffixes, such as pr-42, only for an
    /// `ephemeral` spec).
    #[arg(long)]
    pub suffix: Option<String>,
    /// AWS region (default: the spec's).
    #[arg(long)]
    pub region: Option<String>,
    /// AWS profile (default: aws-config's chain: environment, AWS_PROFILE, instance role).
    #[arg(long)]
    pub profile: Option<String>,
    /// AWS endpoint (an emulator such as moto).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

impl StackArgs {
    /// The SDK configuration these options give, for a spec in `spec_region`.
    pub async fn sdk(&self, spec_region: &str) -> aws_config::SdkConfig {
        wh::deploy::sdk_config(
            self.region.as_deref(),
            spec_region,
            self.profile.as_deref(),
            self.endpoint_url.as_deref(),
        )
        .await
    }
}

/// `--poll`: a duration from 50ms to 1m (`5s`, `500ms`), between two reads of an AWS
/// operation's progress.
pub fn poll_interval(text: &str) -> Result<std::time::Duration, String> {
    duration_within(text, (50, "50ms"), (60_000, "1m"))
}

/// A duration option (`50ms`, `2s`, `1m`) within `[min, max]`, each given in milliseconds
/// and as written in the error.
pub fn duration_within(
    text: &str,
    (min, min_text): (u64, &str),
    (max, max_text): (u64, &str),
) -> Result<std::time::Duration, String> {
    let d = text
        .parse::<wh::spec::units::Duration>()
        .map_err(|e| e.to_string())?;
    if !(min..=max).contains(&d.as_millis()) {
        return Err(format!("{text} is outside {min_text} to {max_text}"));
    }
    Ok(std::time::Duration::from_millis(d.as_millis()))
}

/// A runtime for a command's AWS calls.
pub fn runtime() -> Result<tokio::runtime::Runtime, Outcome> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("wh: cannot start the async runtime: {e}");
            Outcome::Error
        })
}

/// Asks `question` on the terminal; true only for an explicit yes. Without a terminal it says
/// to pass `--yes` and answers no, so a script never hangs on a prompt.
pub fn confirm(question: &str) -> bool {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        eprintln!("{question} (not a terminal: pass --yes to confirm)");
        return false;
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
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
