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

/// A fresh secret: `whsec_` + base64 of 24 random bytes (valid for every scheme).
pub fn generate() -> String {
    let bytes: Vec<u8> = (0..24).map(|_| fastrand::u8(..)).collect();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
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
    let secrets: BTreeMap<String, SecretValue> = providers
        .iter()
        .map(|p| (p.clone(), SecretValue::new(generate())))
        .collect();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&secrets).unwrap_or_default();
    std::fs::write(path, text + "\n")
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok((secrets, true))
}
