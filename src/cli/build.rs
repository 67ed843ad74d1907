//! `wh build`: compile the spec, build its handler crates for arm64, write reproducible zips
//! and a manifest of their hashes (what `wh deploy` uploads).

use std::path::{Path, PathBuf};

use serde_json::json;
use wh::build::lambda::{self, BuildError};
use wh::build::package::{Manifest, PackagedFunction, lambda_zip};
use wh::ir::names::Function;
use wh::pipeline;

use super::{Outcome, OutputFormat, write_files};

/// Arguments of `wh build`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spec (specs/prod.yaml); its handler crates are regenerated under generated/<env>/.
    #[arg(value_name = "SPEC")]
    spec: PathBuf,
    /// Build only these functions (default: all three).
    #[arg(long = "function", value_enum, value_name = "FUNCTION")]
    functions: Vec<FunctionArg>,
    /// Where zips and manifest.json go: <DIR>/<env>/.
    #[arg(long, value_name = "DIR", default_value = "dist")]
    out_dir: PathBuf,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t)]
    output_format: OutputFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum FunctionArg {
    Receiver,
    Processor,
    Audit,
}

impl From<FunctionArg> for Function {
    fn from(f: FunctionArg) -> Self {
        match f {
            FunctionArg::Receiver => Function::Receiver,
            FunctionArg::Processor => Function::Processor,
            FunctionArg::Audit => Function::Audit,
        }
    }
}

pub fn run(args: &Args) -> Outcome {
    let compilation = match pipeline::compile(&args.spec) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "{}: cannot build: {e}; run `wh compile {}` for the details",
                args.spec.display(),
                args.spec.display()
            );
            return Outcome::Failed;
        }
    };
    // The generated crates must be the workspace members Cargo builds.
    let generated: Vec<(PathBuf, &str)> = compilation
        .files
        .iter()
        .map(|f| (f.path.clone(), f.contents.as_str()))
        .collect();
    if let Err(outcome) = write_files(Path::new("generated"), &generated) {
        return outcome;
    }
    let functions: Vec<Function> = if args.functions.is_empty() {
        Function::ALL.to_vec()
    } else {
        Function::ALL
            .iter()
            .copied()
            .filter(|f| args.functions.iter().any(|a| Function::from(*a) == *f))
            .collect()
    };
    let built = match lambda::build(Path::new("."), &compilation.env, &functions) {
        Ok(b) => b,
        Err(e @ BuildError::ToolMissing(_)) => {
            eprintln!("wh build: {e}");
            return Outcome::Error;
        }
        Err(e) => {
            eprintln!("wh build: {e}");
            return Outcome::Failed;
        }
    };
    let stack = format!(
        "{}-{}",
        compilation.stack.name, compilation.stack.default_suffix
    );
    let dir = args.out_dir.join(&compilation.env);
    let mut manifest = Manifest {
        stack: stack.clone(),
        architecture: "arm64",
        runtime: "provided.al2023",
        handlers_sha256: compilation.handlers_sha256(),
        functions: Default::default(),
    };
    for (function, bootstrap) in built {
        let bytes = match std::fs::read(&bootstrap) {
            Ok(b) => b,
            Err(e) => {
                eprintln!(
                    "{}: cannot read the built bootstrap: {e}",
                    bootstrap.display()
                );
                return Outcome::Error;
            }
        };
        let zip = match lambda_zip(&bytes) {
            Ok(z) => z,
            Err(e) => {
                eprintln!("zipping {}: {e}", function.slug());
                return Outcome::Error;
            }
        };
        let entry = PackagedFunction::new(&stack, function.slug(), &zip);
        if let Err(outcome) = write_files(&dir, &[(PathBuf::from(&entry.zip), zip)]) {
            return outcome;
        }
        if args.output_format == OutputFormat::Text {
            println!(
                "{}: {} ({:.2} MB zipped, {:.2} MB bootstrap) sha256 {}",
                function.slug(),
                dir.join(&entry.zip).display(),
                entry.bytes as f64 / 1e6,
                bytes.len() as f64 / 1e6,
                entry.sha256
            );
        }
        manifest
            .functions
            .insert(function.slug().to_owned(), json!(entry));
    }
    let mut text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    text.push('\n');
    if let Err(outcome) = write_files(
        &dir,
        &[(PathBuf::from("manifest.json"), text.clone().into_bytes())],
    ) {
        return outcome;
    }
    if args.output_format == OutputFormat::Json {
        print!("{text}");
    } else {
        println!("wrote {}", dir.join("manifest.json").display());
    }
    Outcome::Ok
}
