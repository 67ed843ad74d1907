//! Emitters: read the stack model, produce files. Pure: they return contents, the CLI writes.

pub mod cloudformation;

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

/// Everything `wh compile` writes for one spec: `<env>/template.json`.
pub fn all(stack: &Stack, env: &str, spec_label: &str) -> Vec<OutputFile> {
    let template = cloudformation::template(stack, spec_label);
    vec![OutputFile {
        path: PathBuf::from(env).join("template.json"),
        contents: cloudformation::render(&template),
    }]
}
