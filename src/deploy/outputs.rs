//! A stack's outputs as the flat-outputs file `{"<StackName>": {"<OutputKey>": "<value>"}}` (what
//! `cdk deploy --outputs-file` writes), at `outputs/<StackName>.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The flat-outputs file of `stack` under `dir`.
pub fn path(dir: &Path, stack: &str) -> PathBuf {
    dir.join(format!("{stack}.json"))
}

/// The file's contents for `outputs`.
pub fn render(stack: &str, outputs: &BTreeMap<String, String>) -> String {
    let mut doc = serde_json::Map::new();
    doc.insert(
        stack.to_owned(),
        serde_json::to_value(outputs).unwrap_or_default(),
    );
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// Reads `stack`'s outputs from the flat-outputs file at `path`; `hint` says what to do when it
/// cannot be read.
pub fn read(path: &Path, stack: &str, hint: &str) -> Result<serde_json::Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}; {hint}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    match doc.get(stack) {
        Some(outputs) => Ok(outputs.clone()),
        None => Err(format!(
            "{}: no outputs of {stack}; the file is {{\"<StackName>\": {{\"<OutputKey>\": ...}}}}",
            path.display()
        )),
    }
}

/// Reads a deployed stack's outputs (DescribeStacks).
pub async fn fetch(
    sdk: &aws_config::SdkConfig,
    stack: &str,
) -> Result<BTreeMap<String, String>, String> {
    let out = aws_sdk_cloudformation::Client::new(sdk)
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            // A service error's own message ("Stack with id X does not exist") says it all.
            use aws_sdk_cloudformation::error::ProvideErrorMetadata;
            match e.as_service_error().and_then(|s| s.message()) {
                Some(message) => format!("DescribeStacks {stack}: {message}"),
                None => format!(
                    "DescribeStacks {stack}: {}",
                    aws_sdk_cloudformation::error::DisplayErrorContext(e)
                ),
            }
        })?;
    let found = out
        .stacks()
        .first()
        .ok_or_else(|| format!("no stack named {stack}"))?;
    Ok(found
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect())
}

/// A stack's flat-outputs file, read from the deployed stack.
#[derive(Debug)]
pub struct Flat {
    /// Each output's value.
    pub values: BTreeMap<String, String>,
    /// Outputs wh's template declares that the stack lacks (the custom-domain ones are
    /// expected only with a domain, so never listed).
    pub missing: Vec<&'static str>,
    /// The file's name, `<stack>.json`.
    pub file: String,
    /// Its contents.
    pub text: String,
}

/// Reads `stack`'s outputs and renders its flat-outputs file.
pub async fn flat(sdk: &aws_config::SdkConfig, stack: &str) -> Result<Flat, String> {
    let values = fetch(sdk, stack).await?;
    let missing = crate::emit::cloudformation::outputs::OUTPUT_KEYS
        .iter()
        .copied()
        .filter(|k| !values.contains_key(*k) && !k.starts_with("CustomDomain"))
        .collect();
    Ok(Flat {
        text: render(stack, &values),
        file: format!("{stack}.json"),
        missing,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_keyed_by_stack_like_cdks() {
        let outputs = BTreeMap::from([("ApiUrl".to_owned(), "https://x/live/".to_owned())]);
        let text = render("payments-prod", &outputs);
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["payments-prod"]["ApiUrl"], "https://x/live/");
        assert!(text.ends_with('\n'));
        assert_eq!(
            path(Path::new("outputs"), "payments-prod"),
            PathBuf::from("outputs/payments-prod.json")
        );
    }
}
