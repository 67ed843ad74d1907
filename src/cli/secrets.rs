//! `wh secrets put|rotate SPEC PROVIDER`: write a provider's signing secret in the documented
//! format (`{"current", "previous", "previous_expires_at"}`), read from a file or stdin (hidden
//! on a terminal), never from an argument and never echoed. Rotation keeps the current secret
//! valid for `--overlap`, so no delivery is rejected while the provider switches.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use serde_json::json;
use time::OffsetDateTime;
use wh::ops::secrets::{Change, next_value, parse_input};
use wh::ops::{self, Resources};
use wh::spec::units::Duration;
use wh_runtime::secret::SecretValue;

use super::stack::{report, target};
use super::{Outcome, OutputFormat, StackArgs, confirm, runtime};

/// Arguments of `wh secrets`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Set the secret: the new one only (first setup, or after a leak: receivers refuse the old
    /// one within a minute, their secret cache's lifetime).
    Put(Common),
    /// Make the new secret current and keep accepting the current one for --overlap.
    Rotate {
        #[command(flatten)]
        common: Common,
        /// How long the outgoing secret stays valid (the provider's switch-over time).
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        overlap: Duration,
    },
}

#[derive(Debug, clap::Args)]
struct Common {
    #[command(flatten)]
    stack: StackArgs,
    /// The provider, as named in the spec.
    #[arg(value_name = "PROVIDER")]
    provider: String,
    /// Read the secret from this file (default: stdin; hidden when typed at a terminal).
    #[arg(long, value_name = "FILE")]
    from_file: Option<PathBuf>,
    /// A running `wh dev` instead of the deployed stack.
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t)]
    output_format: OutputFormat,
}

pub fn run(args: &Args) -> Outcome {
    let (common, change) = match &args.action {
        Action::Put(c) => (c, Change::Put),
        Action::Rotate { common, overlap } => (
            common,
            Change::Rotate {
                overlap: std::time::Duration::from_millis(overlap.as_millis()),
            },
        ),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(o) => return o,
    };
    rt.block_on(secrets(common, change))
}

fn read_secret(c: &Common) -> Result<String, String> {
    if let Some(path) = &c.from_file {
        return std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()));
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("signing secret of {} (hidden): ", c.provider))
            .map_err(|e| format!("reading the secret: {e}"));
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("reading the secret from stdin: {e}"))?;
    Ok(text)
}

async fn secrets(c: &Common, change: Change) -> Outcome {
    let compilation = match wh::pipeline::compile(&c.stack.spec) {
        Ok(comp) => comp,
        Err(e) => {
            eprintln!("{}: {e}", c.stack.spec.display());
            return Outcome::Failed;
        }
    };
    let Some(provider) = compilation
        .stack
        .providers
        .iter()
        .find(|p| p.name == c.provider)
    else {
        let names: Vec<&str> = compilation
            .stack
            .providers
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        eprintln!(
            "wh secrets: the spec has no provider `{}`; it has {}",
            c.provider,
            names.join(", ")
        );
        return Outcome::Failed;
    };
    let scheme = wh::ir::handlers::runtime_scheme(provider, String::new());
    let secret = match read_secret(c).and_then(|t| parse_input(&t, &scheme)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wh secrets: {e}");
            return Outcome::Failed;
        }
    };
    let now = OffsetDateTime::now_utc();

    // Where the secret lives, and what is stored now.
    let (place, stored) = if let Some(url) = &c.target {
        let url = format!("{}/_wh/secrets/{}", url.trim_end_matches('/'), c.provider);
        let stored = match reqwest::get(&url).await {
            Ok(r) if r.status().is_success() => r.json::<SecretValue>().await.ok(),
            Ok(r) => {
                eprintln!("wh secrets: {url}: HTTP {}", r.status());
                return Outcome::Failed;
            }
            Err(e) => {
                eprintln!("wh secrets: {url}: {e}");
                return Outcome::Error;
            }
        };
        (Place::Dev(url), stored)
    } else {
        let t = match target(&c.stack, "wh secrets").await {
            Ok(t) => t,
            Err(o) => return o,
        };
        let id = Resources::of(&t.compilation.stack, &t.suffix).secrets[&c.provider].clone();
        let sm = aws_sdk_secretsmanager::Client::new(&t.sdk);
        let stored = match ops::secrets::read(&sm, &id).await {
            Ok(s) => s,
            Err(e) => return report(e),
        };
        (Place::Aws(sm, id), stored)
    };
    let value = match next_value(change, stored.as_ref(), secret, now) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("wh secrets: {e}");
            return Outcome::Failed;
        }
    };
    let what = match (&value.previous, &value.previous_expires_at) {
        (Some(_), Some(until)) => format!(
            "make the new secret current for {} and keep accepting the current one until {until}",
            c.provider
        ),
        _ if stored.as_ref().and_then(|s| s.current.as_ref()).is_some() => format!(
            "replace the secret of {}: deliveries signed with the current one are refused {}",
            c.provider,
            match place {
                Place::Aws(..) =>
                    "by every receiver within a minute (each caches the secret for 60 s)",
                Place::Dev(_) => "from now on",
            }
        ),
        _ => format!("set the secret of {}", c.provider),
    };
    eprintln!("wh secrets will {what} in {}.", place.name());
    if !c.yes && !confirm("Go on?") {
        eprintln!("nothing changed");
        return Outcome::Failed;
    }
    let written = match &place {
        Place::Aws(sm, id) => ops::secrets::write(sm, id, &value)
            .await
            .map_err(|e| e.to_string()),
        Place::Dev(url) => match reqwest::Client::new().put(url).json(&value).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("{url}: HTTP {}", r.status())),
            Err(e) => Err(format!("{url}: {e}")),
        },
    };
    if let Err(e) = written {
        eprintln!("wh secrets: {e}");
        return Outcome::Failed;
    }
    if c.output_format == OutputFormat::Json {
        println!(
            "{}",
            json!({"provider": c.provider, "secret": place.name(), "previous_expires_at": value.previous_expires_at})
        );
    } else {
        println!("{}: done ({})", c.provider, place.name());
    }
    Outcome::Ok
}

enum Place {
    Aws(aws_sdk_secretsmanager::Client, String),
    Dev(String),
}

impl Place {
    fn name(&self) -> String {
        match self {
            Place::Aws(_, id) => format!("Secrets Manager secret {id}"),
            Place::Dev(url) => format!("wh dev at {url}"),
        }
    }
}
