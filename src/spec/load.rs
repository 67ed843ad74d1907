//! Reading a spec file: YAML text to [`Spec`], with every error placed at `file:line:column`.

use std::path::{Path, PathBuf};

use super::{Pos, Spec};

/// Why a spec file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: cannot read the spec: {source}", path.display())]
    Read {
        /// The spec's path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid YAML, or does not fit the spec's shape.
    #[error("{}:{at}: error: {message}", path.display())]
    Invalid {
        /// The spec's path.
        path: PathBuf,
        /// Where the parser stopped.
        at: Pos,
        /// The parser's explanation.
        message: String,
    },
}

/// Reads and parses the spec at `path`.
pub fn load(path: &Path) -> Result<Spec, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Parses spec text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<Spec, LoadError> {
    // A file of only comments is an empty document; say what is missing instead of "EOF".
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(LoadError::Invalid {
            path: path.to_owned(),
            at: Pos { line: 1, column: 1 },
            message: "the spec is empty; it needs at least name, suffix, region, lifecycle, \
                      providers, limits and concurrency (see specs/prod.yaml)"
                .into(),
        });
    }
    serde_saphyr::from_str::<Spec>(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| Pos {
                line: l.line(),
                column: l.column(),
            })
            .unwrap_or(Pos { line: 1, column: 1 });
        LoadError::Invalid {
            path: path.to_owned(),
            at,
            message: first_line(&e.to_string()),
        }
    })
}

/// serde-saphyr renders `error: line L column C: message` and a source snippet; the position is
/// ours to print, in the `file:line:column` form editors jump to, so only the message is kept.
fn first_line(rendered: &str) -> String {
    let line = rendered.lines().next().unwrap_or(rendered).trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    let without_position = line
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
        .filter(|(position, _)| position.contains(" column "))
        .map(|(_, message)| message);
    without_position.unwrap_or(line).to_owned()
}
