//! The whole compile, spec file to output files, with no I/O beyond reading the spec.

use std::path::Path;

use crate::checks::{self, Finding};
use crate::emit::{self, OutputFile};
use crate::ir::{self, Stack};
use crate::spec::{self, LoadError};

/// A compiled spec.
#[derive(Debug)]
pub struct Compilation {
    /// The environment name: the spec file's stem (`prod` for `specs/prod.yaml`).
    pub env: String,
    /// The stack model.
    pub stack: Stack,
    /// The files to write under `generated/`.
    pub files: Vec<OutputFile>,
    /// Scanner exceptions written into the template.
    pub scanner_exceptions: usize,
    /// What the checks warned of (quotas to raise, work that would lag); the spec compiled.
    pub warnings: Vec<Finding>,
    /// The capacity model of the stack ([`ir::capacity::model`]).
    pub capacity: Vec<ir::capacity::Figure>,
}

impl Compilation {
    /// The CloudFormation template's text (`<env>/template.json`).
    pub fn template(&self) -> &str {
        self.files
            .iter()
            .find(|f| f.path.ends_with("template.json"))
            .map_or("", |f| f.contents.as_str())
    }

    /// SHA-256 of the generated handler crates (every file under `handlers/`, by path): what
    /// `wh build` records in the manifest and `wh deploy` compares, so zips built from another
    /// version of the spec are never shipped with this template.
    pub fn handlers_sha256(&self) -> String {
        let mut files: Vec<&OutputFile> = self
            .files
            .iter()
            .filter(|f| f.path.components().any(|c| c.as_os_str() == "handlers"))
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut bytes = Vec::new();
        for f in files {
            bytes.extend_from_slice(f.path.to_string_lossy().as_bytes());
            bytes.push(0);
            bytes.extend_from_slice(f.contents.as_bytes());
            bytes.push(0);
        }
        crate::build::package::sha256_hex(&bytes)
    }
}

/// Why a spec did not compile.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The file could not be read or parsed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A handler template failed to render (a bug in wh).
    #[error("rendering the handler crates: {0}")]
    Codegen(#[from] minijinja::Error),
    /// The spec broke one or more rules.
    #[error("{} problem(s) in the spec", .0.len())]
    Checks(Vec<Finding>),
}

/// Reads, checks, lowers and emits the spec at `path`, with handler crates in the repository
/// layout.
pub fn compile(path: &Path) -> Result<Compilation, CompileError> {
    compile_with(path, crate::emit::handlers::DEFAULT_RUNTIME_PATH)
}

/// [`compile`], with handler crates finding `runtime/` at `runtime_path`.
pub fn compile_with(path: &Path, runtime_path: &str) -> Result<Compilation, CompileError> {
    compile_spec(path, &spec::load(path)?, runtime_path)
}

/// [`compile`] of spec text held in memory, as if read from `path` (tests, fuzzing).
pub fn compile_source(path: &Path, text: &str) -> Result<Compilation, CompileError> {
    compile_spec(
        path,
        &spec::parse(path, text)?,
        crate::emit::handlers::DEFAULT_RUNTIME_PATH,
    )
}

/// Checks, lowers and emits a loaded spec.
fn compile_spec(
    path: &Path,
    spec: &spec::Spec,
    runtime_path: &str,
) -> Result<Compilation, CompileError> {
    let findings = checks::check(spec);
    if !findings.is_empty() {
        return Err(CompileError::Checks(findings));
    }
    let stack = ir::lower(spec);
    let capacity = ir::capacity::model(&stack);
    let (warnings, errors): (Vec<Finding>, Vec<Finding>) = checks::capacity(spec, &capacity)
        .into_iter()
        .partition(Finding::is_warning);
    if !errors.is_empty() {
        return Err(CompileError::Checks(errors));
    }
    let env = env_name(path);
    let label = path
        .file_name()
        .map_or_else(|| env.clone(), |n| n.to_string_lossy().into_owned());
    let emitted = emit::all(&stack, &env, &label, runtime_path)?;
    Ok(Compilation {
        env,
        stack,
        files: emitted.files,
        scanner_exceptions: emitted.scanner_exceptions,
        warnings,
        capacity,
    })
}

/// `specs/prod.yaml` -> `prod`.
pub fn env_name(path: &Path) -> String {
    path.file_stem().map_or_else(
        || "default".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    )
}
