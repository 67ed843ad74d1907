//! Signing secrets: the value to store for `wh secrets put` and `wh secrets rotate` (pure), and
//! reading and writing it in Secrets Manager.

use time::OffsetDateTime;
use wh_runtime::secret::SecretValue;
use wh_runtime::verify::{Scheme, sign};

use crate::deploy::{DeployError, aws_error, error_code};

/// What the command does with the new secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Replace everything: the new secret only.
    Put,
    /// The new secret becomes current; the current one stays valid until `now + overlap`.
    Rotate {
        /// How long the previous secret keeps being accepted.
        overlap: std::time::Duration,
    },
}

/// Reads a secret as typed or piped: one line, its trailing newline dropped. A secret must be
/// usable by the provider's scheme (a Standard Webhooks secret is `whsec_` + base64).
pub fn parse_input(text: &str, scheme: &Scheme) -> Result<String, String> {
    let secret = text.strip_suffix('\n').unwrap_or(text);
    let secret = secret.strip_suffix('\r').unwrap_or(secret);
    if secret.is_empty() {
        return Err("the secret is empty".into());
    }
    if secret.chars().any(char::is_whitespace) {
        return Err(
            "the secret has whitespace or more than one line; give exactly the secret".into(),
        );
    }
    sign(scheme, secret, b"{}", 0, "msg_wh_check")
        .map_err(|e| format!("the provider's scheme cannot sign with it: {e}"))?;
    Ok(secret.to_owned())
}

/// The value to store, from what is stored now.
pub fn next_value(
    change: Change,
    stored: Option<&SecretValue>,
    secret: String,
    now: OffsetDateTime,
) -> Result<SecretValue, String> {
    match change {
        Change::Put => Ok(SecretValue::new(secret)),
        Change::Rotate { overlap } => {
            let Some(current) = stored.and_then(|s| s.current.as_deref()) else {
                return Err("there is no current secret to keep during the overlap; use `wh secrets put` first".into());
            };
            if current == secret {
                return Err("the new secret is the current one".into());
            }
            let until = time::Duration::try_from(overlap)
                .ok()
                .and_then(|d| now.checked_add(d))
                .filter(|t| t.year() <= 9999)
                .ok_or_else(|| "--overlap reaches past the year 9999".to_owned())?;
            Ok(stored.cloned().unwrap_or_default().rotated(secret, until))
        }
    }
}

/// The stored value, or `None` when the secret holds something else (the stack's placeholder
/// before the first `put`, or a foreign format).
pub async fn read(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<Option<SecretValue>, DeployError> {
    match sm.get_secret_value().secret_id(id).send().await {
        Ok(out) => Ok(out.secret_string().and_then(|s| SecretValue::parse(s).ok())),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => {
            Err(DeployError::Preflight(format!(
                "there is no secret {id}: deploy the stack first (`wh deploy`)"
            )))
        }
        Err(e) => Err(aws_error(
            &format!("Secrets Manager GetSecretValue {id}"),
            e,
        )),
    }
}

/// Stores `value` as the secret's new version.
pub async fn write(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
    value: &SecretValue,
) -> Result<(), DeployError> {
    sm.put_secret_value()
        .secret_id(id)
        .secret_string(value.to_json())
        .send()
        .await
        .map_err(|e| aws_error(&format!("Secrets Manager PutSecretValue {id}"), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRIPE: Scheme = Scheme::Stripe {
        tolerance_secs: 300,
    };

    #[test]
    fn input_is_one_line_the_scheme_can_use() {
        assert_eq!(parse_input("whsec_abc\n", &STRIPE).unwrap(), "whsec_abc");
        assert!(parse_input("\n", &STRIPE).unwrap_err().contains("empty"));
        assert!(
            parse_input("a b", &STRIPE)
                .unwrap_err()
                .contains("whitespace")
        );
        let standard = Scheme::StandardWebhooks {
            tolerance_secs: 300,
        };
        assert!(
            parse_input("whsec_not base64", &standard).is_err()
                && parse_input("whsec_%%%", &standard)
                    .unwrap_err()
                    .contains("cannot sign")
        );
    }

    #[test]
    fn rotation_keeps_the_current_secret_for_the_overlap() {
        let now = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
        let stored = SecretValue::new("old");
        let overlap = std::time::Duration::from_secs(86_400);
        let next =
            next_value(Change::Rotate { overlap }, Some(&stored), "new".into(), now).unwrap();
        assert_eq!(next.current.as_deref(), Some("new"));
        assert_eq!(next.previous.as_deref(), Some("old"));
        assert_eq!(
            next.previous_expires_at.as_deref(),
            Some("2026-11-19T11:06:40Z")
        );
        assert_eq!(next.active(now).unwrap(), ["new", "old"]);

        let forever = Change::Rotate {
            overlap: std::time::Duration::from_secs(u64::MAX / 4),
        };
        let e = next_value(forever, Some(&stored), "new".into(), now).unwrap_err();
        assert!(e.contains("past the year 9999"), "{e}");
        let e = next_value(Change::Rotate { overlap }, None, "new".into(), now).unwrap_err();
        assert!(e.contains("wh secrets put"), "{e}");
        let e =
            next_value(Change::Rotate { overlap }, Some(&stored), "old".into(), now).unwrap_err();
        assert!(e.contains("is the current one"), "{e}");
        assert_eq!(
            next_value(Change::Put, Some(&next), "x".into(), now).unwrap(),
            SecretValue::new("x")
        );
    }
}
