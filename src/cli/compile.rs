//! `wh compile`: specs in, checked templates out, with a summary of what was derived.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::json;
use wh::pipeline::{self, Compilation, CompileError};
use wh::spec::LoadError;

use super::{Outcome, OutputFormat, write_files};

/// Arguments of `wh compile`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Spec files (specs/prod.yaml); each writes generated/<file stem>/.
    #[arg(required = true, value_name = "SPEC")]
    specs: Vec<PathBuf>,
    /// Where generated files go.
    #[arg(long, value_name = "DIR", default_value = "generated")]
    out_dir: PathBuf,
    /// Path from each generated handler crate to the `runtime/` crate.
    #[arg(long, value_name = "PATH", default_value = wh::emit::handlers::DEFAULT_RUNTIME_PATH)]
    runtime_path: String,
    /// Write nothing; fail if generated files are missing, stale or out of date.
    #[arg(long)]
    check: bool,
    /// Print nothing on success.
    #[arg(long, short)]
    quiet: bool,
    /// How to print the summary and errors.
    #[arg(long, value_enum, default_value_t)]
    output_format: OutputFormat,
}

pub fn run(args: &Args) -> Outcome {
    let mut outcome = Outcome::Ok;
    let mut reports = Vec::new();
    for spec in &args.specs {
        let (result, report) = compile_one(args, spec);
        reports.push(report);
        match result {
            Outcome::Ok => {}
            Outcome::Failed if matches!(outcome, Outcome::Ok) => outcome = Outcome::Failed,
            Outcome::Failed => {}
            Outcome::Error | Outcome::Interrupted | Outcome::Inconclusive => {
                outcome = Outcome::Error
            }
        }
    }
    if args.output_format == OutputFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "specs": reports })).unwrap_or_default()
        );
    }
    outcome
}

fn compile_one(args: &Args, spec: &Path) -> (Outcome, serde_json::Value) {
    let text = args.output_format == OutputFormat::Text;
    let compilation = match pipeline::compile_with(spec, &args.runtime_path) {
        Ok(c) => c,
        Err(CompileError::Load(e)) => {
            let io = matches!(e, LoadError::Read { .. });
            if text {
                eprintln!("{e}");
            }
            let report =
                json!({ "spec": spec, "ok": false, "errors": [{ "message": e.to_string() }] });
            return (if io { Outcome::Error } else { Outcome::Failed }, report);
        }
        Err(e @ CompileError::Codegen(_)) => {
            eprintln!("{}: {e}", spec.display());
            return (
                Outcome::Error,
                json!({ "spec": spec, "ok": false, "errors": [{ "message": e.to_string() }] }),
            );
        }
        Err(CompileError::Checks(findings)) => {
            if text {
                for f in &findings {
                    eprintln!("{}", f.display(spec));
                }
                eprintln!(
                    "{}: {} problem(s); nothing written",
                    spec.display(),
                    findings.len()
                );
            }
            let errors: Vec<_> = findings
                .iter()
                .map(|f| json!({ "line": f.at.line, "column": f.at.column, "path": f.path, "message": f.problem.to_string() }))
                .collect();
            return (
                Outcome::Failed,
                json!({ "spec": spec, "ok": false, "errors": errors }),
            );
        }
    };

    if text {
        for w in &compilation.warnings {
            eprintln!("{}", w.display(spec));
        }
    }
    let (outcome, files) = if args.check {
        check(args, &compilation)
    } else {
        write(args, &compilation)
    };
    if text && !args.quiet {
        print_summary(spec, &compilation, &files, args.check);
    }
    let derived = compilation.stack.derived();
    let capacity: Vec<_> = compilation
        .capacity
        .iter()
        .map(|f| json!({ "verdict": f.verdict(), "headroom": (f.headroom() * 100.0).round() / 100.0, "figure": f }))
        .collect();
    let warnings: Vec<_> = compilation
        .warnings
        .iter()
        .map(|f| json!({ "line": f.at.line, "column": f.at.column, "path": f.path, "message": f.problem.to_string() }))
        .collect();
    let report = json!({
        "spec": spec,
        "ok": matches!(outcome, Outcome::Ok),
        "stack": format!("{}-{}", compilation.stack.name, compilation.stack.default_suffix),
        "files": files,
        "derived": derived,
        "capacity": capacity,
        "warnings": warnings,
        "security": {
            "scanner_exceptions": compilation.scanner_exceptions,
            "waf_managed_rules": compilation.stack.waf.managed.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        },
    });
    (outcome, report)
}

/// Writes every changed file; returns the paths written (unchanged files are left alone).
fn write(args: &Args, c: &Compilation) -> (Outcome, Vec<String>) {
    let files: Vec<(PathBuf, &str)> = c
        .files
        .iter()
        .map(|f| (f.path.clone(), f.contents.as_str()))
        .collect();
    match write_files(&args.out_dir, &files) {
        Ok(written) => (
            Outcome::Ok,
            written.iter().map(|p| p.display().to_string()).collect(),
        ),
        Err(outcome) => (outcome, Vec::new()),
    }
}

/// Compares generated files with what is on disk; returns the paths that differ.
fn check(args: &Args, c: &Compilation) -> (Outcome, Vec<String>) {
    let mut stale = Vec::new();
    let expected: BTreeSet<PathBuf> = c.files.iter().map(|f| args.out_dir.join(&f.path)).collect();
    for file in &c.files {
        let path = args.out_dir.join(&file.path);
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == file.contents => {}
            Ok(_) => stale.push(format!("{} is out of date", path.display())),
            Err(_) => stale.push(format!("{} is missing", path.display())),
        }
    }
    for extra in files_under(&args.out_dir.join(&c.env)) {
        if !expected.contains(&extra) {
            stale.push(format!(
                "{} is not generated by this spec any more",
                extra.display()
            ));
        }
    }
    for line in &stale {
        eprintln!("{line}");
    }
    if stale.is_empty() {
        (Outcome::Ok, Vec::new())
    } else {
        eprintln!("generated/ is out of date: run `wh compile` and commit the result");
        (Outcome::Failed, stale)
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn print_summary(spec: &Path, c: &Compilation, files: &[String], checked: bool) {
    let stack = &c.stack;
    if checked {
        if files.is_empty() {
            println!("{}: generated/{}/ is up to date", spec.display(), c.env);
        }
        return;
    }
    println!(
        "{}: stack {}-{} ({} lifecycle)",
        spec.display(),
        stack.name,
        stack.default_suffix,
        if stack.retains() {
            "retain"
        } else {
            "ephemeral"
        }
    );
    for file in files {
        println!("  wrote {file}");
    }
    let unchanged = c.files.len().saturating_sub(files.len());
    if unchanged > 0 {
        println!("  {unchanged} file(s) already up to date");
    }
    for d in stack.derived() {
        println!("  {}: {}  [{}]", d.what, d.value, d.rule);
    }
    println!(
        "  capacity at {} (need of limit, headroom; docs/checks.md \"Capacity\"):",
        stack.api.rate
    );
    for f in &c.capacity {
        println!("    {}", capacity_line(f));
    }
    println!("  {}", security_line(c));
}

/// One figure of the capacity model: `service what: need of limit unit (headroom) [bound]`.
fn capacity_line(f: &wh::ir::capacity::Figure) -> String {
    use wh::ir::capacity::{Bound, Verdict};
    let bound = match &f.bound {
        Bound::Hard { .. } => "AWS limit".to_owned(),
        Bound::Quota(q) => format!(
            "default quota {}/{}",
            q.service_code,
            q.quota_code.unwrap_or("-")
        ),
        Bound::Setting { .. } => "this stack".to_owned(),
        Bound::Assumed { .. } => "estimate".to_owned(),
    };
    let mark = match f.verdict() {
        Verdict::Holds => "",
        Verdict::Warning => "  WARNING",
        Verdict::Error => "  ERROR",
    };
    format!(
        "{} {}: {} of {} {} ({:.1}x) [{bound}]{mark}",
        f.service,
        f.what,
        f.need,
        f.limit,
        f.unit,
        f.headroom()
    )
}

/// The security posture in one line.
fn security_line(c: &Compilation) -> String {
    let managed: Vec<&str> = c.stack.waf.managed.iter().map(|m| m.as_str()).collect();
    format!(
        "security: KMS, TLS-only policies and failure queues everywhere; {} written scanner exceptions (docs/template.md); WAF managed rules: {}",
        c.scanner_exceptions,
        if managed.is_empty() {
            "off".to_owned()
        } else {
            managed.join(", ")
        }
    )
}
