//! A `wh dev` process on a free loopback port, stopped on drop; shared by tests/dev.rs and the
//! dev pipeline benchmark.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `wh dev`.
pub struct DevProcess {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:<port>`, from its first line.
    pub url: String,
    /// Its working directory (spec, secrets, `.wh/`).
    pub dir: tempfile::TempDir,
}

impl DevProcess {
    /// Runs `wh dev spec.yaml --port 0 --quiet <args>` in `dir`, with `spec` written there.
    pub fn start_in(dir: tempfile::TempDir, spec: &str, args: &[&str]) -> DevProcess {
        std::fs::write(dir.path().join("spec.yaml"), spec).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_wh"))
            .current_dir(dir.path())
            .args(["dev", "spec.yaml", "--port", "0", "--quiet"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .trim()
            .strip_prefix("wh dev: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        DevProcess { child, url, dir }
    }

    /// Sends Ctrl-C; returns the exit code and what it printed after the first line.
    pub fn interrupt(&mut self) -> (Option<i32>, String) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let mut rest = String::new();
        if let Some(out) = self.child.stdout.as_mut() {
            let _ = std::io::Read::read_to_string(out, &mut rest);
        }
        (self.child.wait().ok().and_then(|s| s.code()), rest)
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
