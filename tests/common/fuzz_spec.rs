//! The spec fuzz target's shared part: what compiling any spec text must do. Run by proptest
//! inside `cargo test` (`tests/fuzz_spec.rs`, edits of the shipped specs) and by libFuzzer
//! (`fuzz/fuzz_targets/spec.rs`, any bytes as text).

use std::path::Path;

use wh::pipeline::{CompileError, compile_source};

/// Compiles `text`: it must compile to a template that is JSON, or be refused with a place
/// (line and column from 1) and a message; never panic, never another kind of error.
pub fn check_spec(text: &str) -> Result<(), String> {
    match compile_source(Path::new("specs/fuzzed.yaml"), text) {
        Ok(c) => serde_json::from_str::<serde_json::Value>(c.template())
            .map(|_| ())
            .map_err(|e| format!("the template is not JSON: {e}")),
        Err(CompileError::Load(wh::spec::LoadError::Invalid { at, message, .. })) => {
            if at.line < 1 || at.column < 1 {
                return Err(format!("{at:?}: {message}: no place"));
            }
            if message.is_empty() {
                return Err(format!("{at:?}: no message"));
            }
            Ok(())
        }
        Err(CompileError::Checks(findings)) => {
            if findings.is_empty() {
                return Err("refused without a finding".into());
            }
            match findings.iter().find(|f| f.at.line < 1 || f.at.column < 1) {
                Some(f) => Err(format!("{}: {} has no place", f.path, f.problem)),
                None => Ok(()),
            }
        }
        Err(other) => Err(format!("unexpected error {other}")),
    }
}
