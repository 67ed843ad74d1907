//! What every stack command starts from: a compiled spec resolved to one stack (its suffix
//! checked, its template parsed) in one account (the SDK configuration).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{DeployError, preflight};
use crate::pipeline::{self, Compilation};

/// A compiled spec, resolved to one stack in one account.
pub struct Target {
    /// The spec's path, as given.
    pub spec: PathBuf,
    /// The compiled spec.
    pub compilation: Compilation,
    /// The environment suffix.
    pub suffix: String,
    /// `<name>-<suffix>`.
    pub stack_name: String,
    /// The template as JSON.
    pub template: Value,
    /// The SDK configuration.
    pub sdk: aws_config::SdkConfig,
}

/// Why a spec could not be resolved to a stack.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The spec does not compile.
    #[error("{spec}: {error}; run `wh compile {spec}` for the details")]
    Compile {
        /// The spec's path.
        spec: String,
        /// What the compiler said.
        error: pipeline::CompileError,
    },
    /// The suffix is not one the spec allows.
    #[error(transparent)]
    Suffix(DeployError),
    /// The compiler wrote a template that is not JSON: a bug in wh, not in the spec.
    #[error("the compiled template is not JSON ({0}); this is a bug in wh")]
    NotJson(serde_json::Error),
}

/// Compiles `spec`, checks `suffix` (the spec's default when `None`) and loads the SDK
/// configuration with `connect`, which gets the spec's region.
pub async fn resolve(
    spec: &Path,
    suffix: Option<&str>,
    connect: impl AsyncFnOnce(&str) -> aws_config::SdkConfig,
) -> Result<Target, TargetError> {
    let compilation = pipeline::compile(spec).map_err(|error| TargetError::Compile {
        spec: spec.display().to_string(),
        error,
    })?;
    let suffix = suffix.map_or_else(|| compilation.stack.default_suffix.clone(), str::to_owned);
    preflight::check_suffix(&compilation.stack, &suffix).map_err(TargetError::Suffix)?;
    let template = serde_json::from_str(compilation.template()).map_err(TargetError::NotJson)?;
    let sdk = connect(&compilation.stack.region).await;
    Ok(Target {
        spec: spec.to_path_buf(),
        stack_name: format!("{}-{suffix}", compilation.stack.name),
        suffix,
        compilation,
        template,
        sdk,
    })
}
