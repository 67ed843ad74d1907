//! One Secrets Manager secret per provider that does not bring its own.
//!
//! The value is a placeholder in the documented secret format with no key in it: the template
//! never carries a secret, and the receiver answers a retryable 503 until `wh secrets put`
//! fills it.

use serde_json::{Value, json};

use super::{Template, att, ids, r, sub};
use crate::ir::{ProviderModel, SecretSource};

/// The secret value a new secret starts with: the documented format, nothing filled in.
pub const PLACEHOLDER: &str = r#"{"current":null,"previous":null,"previous_expires_at":null}"#;

pub(super) fn emit(t: &mut Template) {
    for p in t.stack.providers.clone() {
        if p.secret == SecretSource::Create {
            let secret = t.stateful(
                "AWS::SecretsManager::Secret",
                json!({
                    "Name": sub(t.names.secret(&p.name)),
                    "Description": format!("Signing secret of the {} provider ({} scheme); set it with wh secrets put {}", p.name, p.scheme.as_str(), p.name),
                    "KmsKeyId": att(ids::KEY, "Arn"),
                    "SecretString": PLACEHOLDER,
                }),
            );
            t.add(logical_id(&p), secret);
        }
    }
}

/// The secret's logical id.
pub fn logical_id(p: &ProviderModel) -> String {
    format!("{}Secret", p.title())
}

/// The secret's ARN: a reference to the stack's secret, or the spec's existing ARN.
pub fn secret_arn(p: &ProviderModel) -> Value {
    match &p.secret {
        SecretSource::Create => r(&logical_id(p)),
        SecretSource::Existing(arn) => Value::String(arn.clone()),
    }
}
