//! Emitters: read the stack model, produce files. Pure: they return contents, the CLI writes.

pub mod cloudformation;
pub mod handlers;

use std::path::PathBuf;

use crate::ir::Stack;

/// A file to write, relative to the output directory.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputFile {
    /// Path relative to `generated/`.
    pub path: PathBuf,
    /// Contents.
    pub contents: String,
}

/// What the emitters produced for one spec.
#[derive(Debug)]
pub struct Emitted {
    /// Files to write.
    pub files: Vec<OutputFile>,
    /// Scanner exceptions written into the template (each with its reason).
    pub scanner_exceptions: usize,
}

/// Everything `wh compile` writes for one spec: `<env>/template.json` and the handler crates
/// under `<env>/handlers/`, which find `runtime/` at `runtime_path` (relative to each crate).
pub fn all(
    stack: &Stack,
    env: &str,
    spec_label: &str,
    runtime_path: &str,
) -> Result<Emitted, minijinja::Error> {
    let template = cloudformation::template(stack, spec_label);
    let mut files = vec![OutputFile {
        path: PathBuf::from(env).join("template.json"),
        contents: cloudformation::render(&template),
    }];
    files.extend(handlers::handler_crates(
        stack,
        env,
        spec_label,
        runtime_path,
    )?);
    Ok(Emitted {
        scanner_exceptions: cloudformation::exceptions::count(&template),
        files,
    })
}
