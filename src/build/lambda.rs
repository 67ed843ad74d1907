//! Building the generated handler crates for Graviton: `cargo lambda build --arm64` (Zig as the
//! cross linker, both from PyPI) with the `lambda` profile, then zipping each `bootstrap`.
//!
//! Route chosen: cargo-lambda + ziglang, because both install from PyPI on a fresh machine and
//! Zig cross-compiles the C in aws-lc-sys (the SDK's TLS) without a cross GCC. The binaries link
//! against glibc symbol versions up to 2.30 (checked with readelf), under al2023's 2.34.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::emit::handlers::package_name;
use crate::ir::names::Function;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// cargo-lambda is not installed.
    #[error(
        "cargo-lambda was not found ({0}); install the pinned tools with tools/install.sh (a virtualenv with \
         cargo-lambda==1.9.2 and ziglang==0.17.1; it exports WH_CARGO_LAMBDA), or `pip install cargo-lambda==1.9.2 \
         ziglang==0.17.1` and put it on PATH, and `rustup target add aarch64-unknown-linux-gnu`"
    )]
    ToolMissing(String),
    /// The cargo build failed.
    #[error("cargo lambda build failed ({status}); its output is above")]
    Cargo {
        /// Its exit status.
        status: String,
    },
    /// A built file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The cargo-lambda to run: `WH_CARGO_LAMBDA`, else `cargo-lambda` on PATH.
pub fn cargo_lambda() -> Result<PathBuf, BuildError> {
    if let Some(path) = std::env::var_os("WH_CARGO_LAMBDA").map(PathBuf::from) {
        return if path.is_file() {
            Ok(path)
        } else {
            Err(BuildError::ToolMissing(format!(
                "WH_CARGO_LAMBDA={} does not exist",
                path.display()
            )))
        };
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("cargo-lambda"))
        .find(|p| p.is_file())
        .ok_or_else(|| BuildError::ToolMissing("not on PATH and WH_CARGO_LAMBDA is not set".into()))
}

/// Where Cargo puts build output.
pub fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from)
}

/// Builds `functions` of environment `env` for arm64 in `workspace`; returns each `bootstrap`.
pub fn build(
    workspace: &Path,
    env: &str,
    functions: &[Function],
) -> Result<Vec<(Function, PathBuf)>, BuildError> {
    let tool = cargo_lambda()?;
    let mut command = Command::new(&tool);
    command
        .current_dir(workspace)
        .args(["lambda", "build", "--arm64", "--profile", "lambda"]);
    for f in functions {
        command.args(["--package", &package_name(env, *f)]);
    }
    // Zig finds itself through the virtualenv's python, so its bin goes first on PATH; its cache
    // is kept beside Cargo's so warm builds stay warm.
    if let Some(bin) = tool.parent() {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let joined = std::env::join_paths(
            std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&path)),
        )
        .unwrap_or(path);
        command.env("PATH", joined);
    }
    let target = target_dir(workspace);
    if std::env::var_os("ZIG_GLOBAL_CACHE_DIR").is_none() {
        command.env("ZIG_GLOBAL_CACHE_DIR", target.join("zig-cache"));
    }
    let status = command
        .status()
        .map_err(|e| BuildError::ToolMissing(format!("{}: {e}", tool.display())))?;
    if !status.success() {
        return Err(BuildError::Cargo {
            status: status.to_string(),
        });
    }
    Ok(functions
        .iter()
        .map(|f| {
            (
                *f,
                target
                    .join("lambda")
                    .join(package_name(env, *f))
                    .join("bootstrap"),
            )
        })
        .collect())
}
