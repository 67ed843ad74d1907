//! `wh reconcile`: find deliveries a provider gave up on (or never retried) and recover them,
//! from the provider's own record of what it sent and the stack's record of what it stored.
//!
//! - GitHub ([`github`]): never redelivers on its own and redelivers on request only
//!   deliveries of the past 3 days; each delivery the stack has not stored (or that was never
//!   answered 2xx) is redelivered by GitHub, so it arrives through the normal signed path.
//! - Stripe ([`stripe`]): retries for up to 3 days, and its events API reaches back 30 days;
//!   each event of a type the endpoint receives that the stack has not stored is ingested from
//!   the API response through the receiver's own logic (dedup, store, enqueue), without a
//!   signature (the event came from Stripe's API over TLS with the account's key), which is
//!   recorded on the stored webhook (`fetched_from`).
//!
//! The stack is read and written through [`Stack`]: a deployed one through the AWS APIs, or
//! `wh dev` through its operations endpoints ([`stack`]).

pub mod github;
pub mod stack;
pub mod stripe;

use std::future::Future;

use serde::Serialize;
use time::OffsetDateTime;

/// Why a reconciliation could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The provider's API token is not in the environment.
    #[error(
        "{var} is not set: export the provider's API token ({what}); it is read from the environment only, never from a flag"
    )]
    MissingToken {
        /// The variable.
        var: &'static str,
        /// What kind of token it must be.
        what: &'static str,
    },
    /// The provider refused the token.
    #[error("{provider} refused the token in {var} (HTTP {status}: {message}); {hint}")]
    BadToken {
        /// The provider.
        provider: &'static str,
        /// The variable the token came from.
        var: &'static str,
        /// The HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
        /// What the token needs.
        hint: &'static str,
    },
    /// A base URL override that is not a loopback URL.
    #[error(
        "{var}={value}: the API base URL may be overridden only for tests and emulators on this machine: give http://127.0.0.1:<port> (or another 127.0.0.0/8 address, or localhost)"
    )]
    BaseUrl {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// A provider API call failed.
    #[error("{0}")]
    Api(String),
    /// Reading or writing the stack failed.
    #[error("the stack: {0}")]
    Stack(String),
}

/// What happened to one delivery (GitHub) or event (Stripe).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "error")]
pub enum Verdict {
    /// The stack has it (and, for GitHub, answered one of its deliveries 2xx).
    AlreadyStored,
    /// Recovered: redelivery requested (GitHub) or ingested (Stripe).
    Recovered,
    /// `--dry-run`: would be recovered.
    WouldRecover,
    /// Older than the provider lets us recover: reported, not requested.
    TooOld,
    /// The recovery was tried and failed.
    Failed(String),
}

impl Verdict {
    /// How it is printed: the JSON name, spaced (`already stored`).
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::AlreadyStored => "already stored",
            Verdict::Recovered => "recovered",
            Verdict::WouldRecover => "would recover",
            Verdict::TooOld => "too old",
            Verdict::Failed(_) => "failed",
        }
    }
}

/// One delivery or event and its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    /// GitHub's delivery GUID (`X-GitHub-Delivery`) or Stripe's event id.
    pub id: String,
    /// The event type.
    pub event: String,
    /// When the provider last delivered it (GitHub) or created it (Stripe), RFC 3339.
    pub at: String,
    /// What happened.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// The result for one provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The provider's URL name in the spec.
    pub provider: String,
    /// The start of the window, RFC 3339.
    pub since: String,
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Deliveries or events in the window (that the endpoint receives), by verdict below.
    pub items: Vec<Item>,
}

impl Summary {
    /// How many items have a verdict like `v` (for `Failed`, any failure).
    pub fn count(&self, v: &Verdict) -> usize {
        self.items
            .iter()
            .filter(|i| std::mem::discriminant(&i.verdict) == std::mem::discriminant(v))
            .count()
    }

    /// Whether any recovery failed.
    pub fn has_failures(&self) -> bool {
        self.count(&Verdict::Failed(String::new())) > 0
    }
}

/// The stack being reconciled: what it stored, and the receiver's ingest path.
pub trait Stack: Send + Sync {
    /// For each webhook id, whether the stack has it stored.
    fn stored(&self, ids: &[String]) -> impl Future<Output = Result<Vec<bool>, String>> + Send;
    /// Runs a provider's event through the receiver without a signature (dedup, store,
    /// enqueue), recording `fetched_from` on the webhook.
    fn ingest(
        &self,
        provider: &str,
        body: &[u8],
        fetched_from: &str,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// The token in the environment variable `var` (never a flag: shell history, `ps`); `what`
/// says what kind of token it must be when it is missing.
pub fn token(var: &'static str, what: &'static str) -> Result<String, ReconcileError> {
    std::env::var(var)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or(ReconcileError::MissingToken { var, what })
}

/// The API base URL: `default`, or the loopback URL in the environment variable `var` (for
/// tests and emulators only: an override elsewhere would send the token to another host).
pub fn api_base(var: &'static str, default: &str) -> Result<String, ReconcileError> {
    api_base_from(var, std::env::var(var).ok(), default)
}

/// [`api_base`] with the variable's value given.
fn api_base_from(
    var: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<String, ReconcileError> {
    let Some(value) = value else {
        return Ok(default.to_owned());
    };
    let refused = || ReconcileError::BaseUrl {
        var,
        value: value.clone(),
    };
    let rest = value.strip_prefix("http://").ok_or_else(refused)?;
    let host_port = rest.split('/').next().unwrap_or("");
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    let loopback = host == "localhost"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(refused());
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// `t` as RFC 3339.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The provider's message in an error body (`{"message": ...}` for GitHub,
/// `{"error": {"message": ...}}` for Stripe), else the body itself, shortened.
fn error_message(body: &str) -> String {
    let doc: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    doc.pointer("/error/message")
        .or_else(|| doc.get("message"))
        .and_then(serde_json::Value::as_str)
        .map_or_else(|| body.chars().take(200).collect(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_bases_may_replace_the_providers_api() {
        let check = |value: &str| {
            api_base_from(
                "WH_X_API_URL",
                Some(value.into()),
                "https://api.example.com",
            )
        };
        assert_eq!(check("http://127.0.0.1:9/").unwrap(), "http://127.0.0.1:9");
        assert_eq!(
            check("http://localhost:8080").unwrap(),
            "http://localhost:8080"
        );
        assert_eq!(
            check("http://127.8.0.1:1/v1").unwrap(),
            "http://127.8.0.1:1/v1"
        );
        for bad in [
            "https://api.github.com",
            "http://10.0.0.1:80",
            "http://evil.example:80",
            "http://127.0.0.1.evil.example",
        ] {
            assert!(
                matches!(check(bad), Err(ReconcileError::BaseUrl { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            api_base_from("WH_X_API_URL", None, "https://api.example.com").unwrap(),
            "https://api.example.com"
        );
    }

    #[test]
    fn provider_error_messages_are_found_in_either_shape() {
        assert_eq!(
            error_message(r#"{"message":"Bad credentials","documentation_url":"x"}"#),
            "Bad credentials"
        );
        assert_eq!(
            error_message(
                r#"{"error":{"message":"Invalid API Key provided: sk_test_****1234","type":"invalid_request_error"}}"#
            ),
            "Invalid API Key provided: sk_test_****1234"
        );
        assert_eq!(error_message("plain"), "plain");
    }
}
