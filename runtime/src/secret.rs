//! The signing-secret value format, shared by the receiver, `wh secrets` and `wh dev`:
//!
//! ```json
//! {"current": "whsec_...", "previous": "whsec_...", "previous_expires_at": "2026-12-01T00:00:00Z"}
//! ```
//!
//! `current` is null until the secret is filled (the receiver answers a retryable 503 then).
//! During a rotation `previous` stays valid until `previous_expires_at`; after that the receiver
//! ignores it, so nothing has to run later to remove it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A provider's signing secrets, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    /// The secret providers sign with now; null until filled.
    pub current: Option<String>,
    /// The secret being rotated out.
    #[serde(default)]
    pub previous: Option<String>,
    /// When `previous` stops being accepted (RFC 3339).
    #[serde(default)]
    pub previous_expires_at: Option<String>,
}

/// Why a stored secret cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// The secret exists but `current` is not set yet.
    #[error("the signing secret is not set yet; set it with `wh secrets put`")]
    NotFilled,
    /// The value is not in the documented format.
    #[error("the signing secret is not in wh's format ({0}); rewrite it with `wh secrets put`")]
    Malformed(String),
}

impl SecretValue {
    /// Parses a stored value.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        serde_json::from_str(text).map_err(|e| SecretError::Malformed(e.to_string()))
    }

    /// A value with only a current secret.
    pub fn new(current: impl Into<String>) -> Self {
        SecretValue {
            current: Some(current.into()),
            previous: None,
            previous_expires_at: None,
        }
    }

    /// The value after rotating to `next`, keeping the current secret valid until `until`.
    pub fn rotated(&self, next: impl Into<String>, until: OffsetDateTime) -> Self {
        SecretValue {
            current: Some(next.into()),
            previous: self.current.clone(),
            previous_expires_at: until.format(&Rfc3339).ok(),
        }
    }

    /// The secrets accepted at `now`: the current one, and the previous one until it expires.
    pub fn active(&self, now: OffsetDateTime) -> Result<Vec<String>, SecretError> {
        let current = self
            .current
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or(SecretError::NotFilled)?;
        let mut keys = vec![current];
        if let Some(previous) = self.previous.clone().filter(|p| !p.is_empty()) {
            let expires = match &self.previous_expires_at {
                Some(at) => OffsetDateTime::parse(at, &Rfc3339)
                    .map_err(|e| SecretError::Malformed(format!("previous_expires_at: {e}")))?,
                // A previous secret without an expiry would be accepted forever: refuse it.
                None => {
                    return Err(SecretError::Malformed(
                        "previous without previous_expires_at".into(),
                    ));
                }
            };
            if now < expires {
                keys.push(previous);
            }
        }
        Ok(keys)
    }

    /// Whether the value can be used at all (filled, and a previous secret has an expiry),
    /// whatever the time.
    pub fn usable(&self) -> Result<(), SecretError> {
        // At the epoch every previous secret is still within its expiry, so only the format
        // decides.
        self.active(OffsetDateTime::UNIX_EPOCH).map(drop)
    }

    /// The JSON text stored in the secret.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_placeholder_the_template_writes_is_not_filled() {
        let v =
            SecretValue::parse(r#"{"current":null,"previous":null,"previous_expires_at":null}"#)
                .unwrap();
        assert_eq!(
            v.active(OffsetDateTime::UNIX_EPOCH),
            Err(SecretError::NotFilled)
        );
    }

    #[test]
    fn the_previous_secret_is_accepted_until_it_expires() {
        let v = SecretValue::new("old").rotated("new", datetime!(2026-12-01 00:00 UTC));
        assert_eq!(
            v.active(datetime!(2026-11-30 23:59 UTC)).unwrap(),
            ["new", "old"]
        );
        assert_eq!(v.active(datetime!(2026-12-01 00:00 UTC)).unwrap(), ["new"]);
    }

    #[test]
    fn malformed_values_are_named() {
        assert!(matches!(
            SecretValue::parse("whsec_plain"),
            Err(SecretError::Malformed(_))
        ));
        let v = SecretValue {
            current: Some("a".into()),
            previous: Some("b".into()),
            previous_expires_at: None,
        };
        assert!(matches!(
            v.active(OffsetDateTime::UNIX_EPOCH),
            Err(SecretError::Malformed(_))
        ));
    }
}
