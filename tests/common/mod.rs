//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod commands;
pub mod dev_process;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A small valid spec whose line numbers the check tests rely on.
pub const BASE: &str = "\
name: shop
suffix: test
region: eu-west-1
lifecycle: ephemeral
providers:
  stripe:
    scheme: stripe
limits:
  api_rate: 100/s
  api_burst: 200
  per_ip_rate: 5/s
  per_ip_window: 1m
  max_payload: 64KiB
concurrency:
  receiver:
    reserved: 10
    expected_duration: 50ms
  processor:
    reserved: 2
    batch_size: 10
    batching_window: 0s
  audit:
    reserved: 2
";

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real `wh` binary.
pub fn wh() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wh"));
    cmd.current_dir(repo());
    cmd
}

/// Runs `cmd` with `stdin` written to it (a secret, say) and returns its output.
pub fn run_with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wh runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("stdin takes the input");
    child.wait_with_output().expect("wh finishes")
}

/// Runs `wh` with `args` and returns its output.
pub fn run(args: &[&str]) -> Output {
    wh().args(args).output().expect("wh runs")
}

/// `BASE` with whole lines replaced: each `(old, new)` must match one line exactly.
pub fn edit(edits: &[(&str, &str)]) -> String {
    let mut lines: Vec<String> = BASE.lines().map(str::to_owned).collect();
    for (old, new) in edits {
        let i = lines
            .iter()
            .position(|l| l == old)
            .unwrap_or_else(|| panic!("no line {old:?} in BASE"));
        lines[i] = (*new).to_owned();
    }
    lines.join("\n") + "\n"
}

/// Writes `text` as `<dir>/<name>` and returns the path.
pub fn write_spec(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Compiles spec text through the library; Ok(template) or Err(rendered errors, one a line).
pub fn compile_text(text: &str) -> Result<Value, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "spec.yaml", text);
    match wh::pipeline::compile(&path) {
        Ok(c) => Ok(serde_json::from_str(&c.files[0].contents).unwrap()),
        Err(wh::pipeline::CompileError::Checks(findings)) => Err(findings
            .iter()
            .map(|f| f.display(Path::new("spec.yaml")).to_string())
            .collect::<Vec<_>>()
            .join("\n")),
        Err(wh::pipeline::CompileError::Load(e)) => Err(e
            .to_string()
            .replace(&path.display().to_string(), "spec.yaml")),
        Err(e @ wh::pipeline::CompileError::Codegen(_)) => panic!("{e}"),
    }
}

/// The warnings of a spec that must compile, one a line.
pub fn warnings(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path(), "spec.yaml", text);
    match wh::pipeline::compile(&path) {
        Ok(c) => c
            .warnings
            .iter()
            .map(|f| f.display(Path::new("spec.yaml")).to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => panic!("spec did not compile: {e}\n{}", errors(text)),
    }
}

/// The errors of a spec that must fail.
pub fn errors(text: &str) -> String {
    match compile_text(text) {
        Ok(_) => panic!("spec compiled, expected errors:\n{text}"),
        Err(e) => e,
    }
}

/// The template compiled from a repository spec (`prod`, `dev`).
pub fn repo_template(env: &str) -> Value {
    let c = wh::pipeline::compile(&repo().join(format!("specs/{env}.yaml")))
        .expect("repo spec compiles");
    serde_json::from_str(&c.files[0].contents).unwrap()
}

/// A pinned tool installed by `tools/install.sh`; `scripts/test` exports its path.
pub fn tool(var: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{var} is not set: run the tests with scripts/test, which installs the pinned tools")
    });
    assert!(
        path.exists(),
        "{var}={} does not exist: run tools/install.sh",
        path.display()
    );
    path
}

/// Resources of `template` with type `ty`, as (logical id, resource).
pub fn resources<'a>(template: &'a Value, ty: &str) -> Vec<(&'a String, &'a Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .collect()
}

/// The one resource with logical id `id`.
pub fn resource<'a>(template: &'a Value, id: &str) -> &'a Value {
    let r = &template["Resources"][id];
    assert!(!r.is_null(), "no resource {id}");
    r
}
