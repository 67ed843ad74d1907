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
    // serde_path_to_error tracks the field path the parser was in when it stopped.
    let mut field = String::new();
    serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize::<_, Spec>(de).map_err(|e| {
            field = e.path().to_string();
            e.into_inner()
        })
    })
    .map_err(|e| {
        let at = e
            .location()
            .map(|l| Pos {
                line: l.line(),
                column: l.column(),
            })
            .unwrap_or(Pos { line: 1, column: 1 });
        let message = first_line(&e.to_string());
        let field = field_path(&field, text, at);
        let message = if field.is_empty() {
            message
        } else {
            format!("{field}: {message}")
        };
        LoadError::Invalid {
            path: path.to_owned(),
            at,
            message,
        }
    })
}

/// The spec path of a parse error, from serde_path_to_error's path: positions wrap values in a
/// `value` field, which is dropped, and a map key it could not see (`?`: a provider name, kept
/// with its position) is read back from the block-style YAML under the parent key.
fn field_path(raw: &str, text: &str, at: Pos) -> String {
    let mut segments: Vec<String> = raw
        .split('.')
        .filter(|s| !s.is_empty() && *s != "value")
        .map(str::to_owned)
        .collect();
    if let Some(i) = segments.iter().position(|s| s == "?")
        && let Some(key) = i
            .checked_sub(1)
            .and_then(|p| child_key_before(text, &segments[p], at))
    {
        segments[i] = key;
    }
    segments.join(".")
}

/// The last key of the top-level mapping `parent` that opens before line `at`.
fn child_key_before(text: &str, parent: &str, at: Pos) -> Option<String> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let meaningful = |l: &&&str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    let lines: Vec<&str> = text.lines().take(usize::try_from(at.line).ok()?).collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == format!("{parent}:"))?;
    let child_indent = lines[start + 1..]
        .iter()
        .find(meaningful)
        .map(|l| indent(l))
        .filter(|i| *i > 0)?;
    lines[start + 1..]
        .iter()
        .filter(meaningful)
        .take_while(|l| indent(l) >= child_indent)
        .filter(|l| indent(l) == child_indent)
        .last()
        .and_then(|l| l.trim().split_once(':'))
        .map(|(key, _)| key.trim().to_owned())
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
