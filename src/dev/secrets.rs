//! `wh dev`'s signing secrets: read from a local secrets file, or generated for the run and
//! written to it, so `wh send` (and a provider's CLI) can sign with them.
//!
//! The file is JSON, provider -> the documented secret value:
//! `{"stripe": {"current": "whsec_...", "previous": null, "previous_expires_at": null}}`.
//! Default path: `.wh/dev-secrets/<env>.json` (mode 0600).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use wh_runtime::secret::SecretValue;

/// The default secrets file of environment `env`.
pub fn default_path(env: &str) -> PathBuf {
    PathBuf::from(".wh")
        .join("dev-secrets")
        .join(format!("{env}.json"))
}

/// Reads a secrets file.
pub fn read(path: &Path) -> Result<BTreeMap<String, SecretValue>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the secrets file: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not a secrets file ({e}); write {{\"<provider>\": {{\"current\": \"<secret>\", \"previous\": null, \"previous_expires_at\": null}}}}",
            path.display()
        )
    })
}

/// A fresh secret: `whsec_` + base64 of 24 bytes from the operating system's cryptographic
/// generator (valid for every scheme). Fails only where the OS has no such generator.
pub fn generate() -> Result<String, String> {
    let mut bytes = [0_u8; 24];
    getrandom::fill(&mut bytes)
        .map_err(|e| format!("the operating system's random generator failed: {e}"))?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// The secrets for `providers`: from `path` if it exists, else generated and written there.
/// A provider missing from an existing file is an error, never a silent default.
pub fn load_or_generate(
    path: &Path,
    providers: &[String],
) -> Result<(BTreeMap<String, SecretValue>, bool), String> {
    if path.exists() {
        let secrets = read(path)?;
        let missing: Vec<&String> = providers
            .iter()
            .filter(|p| !secrets.contains_key(*p))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "{}: no secret for {}; add them, or delete the file to generate fresh ones",
                path.display(),
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        return Ok((secrets, false));
    }
    let secrets = providers
        .iter()
        .map(|p| Ok((p.clone(), SecretValue::new(generate()?))))
        .collect::<Result<BTreeMap<String, SecretValue>, String>>()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&secrets).unwrap_or_default();
    // Created 0600, never readable by others even for a moment.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let write = |mut file: std::fs::File| {
        use std::io::Write;
        file.write_all((text + "\n").as_bytes())
    };
    options
        .open(path)
        .and_then(write)
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    Ok((secrets, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_24_random_bytes_in_a_file_only_the_owner_reads() {
        let a = generate().unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(a.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(raw.len(), 24);
        assert_ne!(a, generate().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev-secrets/dev.json");
        let (made, generated) = load_or_generate(&path, &["stripe".into()]).unwrap();
        assert!(generated);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (read_back, generated) = load_or_generate(&path, &["stripe".into()]).unwrap();
        assert_eq!((read_back, generated), (made, false), "the file is reused");
    }
}
