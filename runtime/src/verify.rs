//! Webhook signature schemes: verification (receiver) and signing (`wh send`, load tests).
//!
//! Verification runs over the raw request bytes, before any JSON parsing, compares in constant
//! time (`Mac::verify_slice`), and accepts any of the active secrets (rotation).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::headers::Headers;

type HmacSha256 = Hmac<Sha256>;

/// How a signature is encoded in a generic HMAC header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Hexadecimal.
    Hex,
    /// Standard base64.
    Base64,
}

/// A provider's scheme with everything verification needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `Stripe-Signature: t=<unix>,v1=<hex>` over `<t>.<body>`.
    Stripe {
        /// Accepted clock difference, seconds, either way.
        tolerance_secs: u64,
    },
    /// Standard Webhooks / Svix: `webhook-id`, `webhook-timestamp`, `webhook-signature:
    /// v1,<base64>` over `<id>.<timestamp>.<body>`, with a `whsec_<base64>` secret.
    StandardWebhooks {
        /// Accepted clock difference, seconds, either way.
        tolerance_secs: u64,
    },
    /// `X-Hub-Signature-256: sha256=<hex>` over the body.
    Github,
    /// `X-Shopify-Hmac-Sha256: <base64>` over the body.
    Shopify,
    /// `x-square-hmacsha256-signature: <base64>` over notification URL + body.
    Square {
        /// The exact URL Square posts to.
        notification_url: String,
    },
    /// Any HMAC-SHA256 of the body.
    Hmac {
        /// Header carrying the signature.
        header: String,
        /// Its encoding.
        encoding: Encoding,
        /// Text before the encoded signature.
        prefix: String,
    },
}

/// Why a delivery's signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// A header the scheme needs is absent.
    #[error("missing header {0}")]
    MissingHeader(String),
    /// A header is present but not in the scheme's format.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The signed timestamp is older than the tolerance (a replay).
    #[error("signed timestamp is {0} s old, beyond the tolerance")]
    Stale(u64),
    /// The signed timestamp is ahead of now by more than the tolerance.
    #[error("signed timestamp is {0} s in the future, beyond the tolerance")]
    Future(u64),
    /// No active secret produced the signature.
    #[error("signature does not match")]
    Mismatch,
    /// A stored secret cannot be used as a key for this scheme.
    #[error("the signing secret is not valid for this scheme: {0}")]
    BadSecret(&'static str),
}

impl VerifyError {
    /// Whether the failure is the stack's configuration, not the sender's (answered 503 so the
    /// provider retries once the secret is fixed).
    pub fn is_configuration(&self) -> bool {
        matches!(self, VerifyError::BadSecret(_))
    }
}

/// Checks `body` and `headers` against any of `secrets` at unix time `now`.
pub fn verify(
    scheme: &Scheme,
    headers: &Headers,
    body: &[u8],
    secrets: &[String],
    now: i64,
) -> Result<(), VerifyError> {
    match scheme {
        Scheme::Stripe { tolerance_secs } => {
            let header = required(headers, "stripe-signature")?;
            let mut timestamp = None;
            let mut signatures = Vec::new();
            for part in header.split(',') {
                match part.trim().split_once('=') {
                    Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
                    Some(("v1", sig)) => signatures.push(
                        hex::decode(sig)
                            .map_err(|_| VerifyError::Malformed("Stripe-Signature v1"))?,
                    ),
                    _ => {}
                }
            }
            let timestamp =
                timestamp.ok_or(VerifyError::Malformed("Stripe-Signature timestamp"))?;
            if signatures.is_empty() {
                return Err(VerifyError::Malformed("Stripe-Signature: no v1 signature"));
            }
            within_tolerance(timestamp, now, *tolerance_secs)?;
            let t = timestamp.to_string();
            let signed = [t.as_bytes(), b".", body];
            any_matches(
                secrets.iter().map(|s| s.as_bytes().to_vec()),
                &signed,
                &signatures,
            )
        }
        Scheme::StandardWebhooks { tolerance_secs } => {
            let id = standard_webhooks_id(headers)
                .ok_or_else(|| VerifyError::MissingHeader(STANDARD_WEBHOOKS_ID[0].to_owned()))?;
            let ts = required_any(headers, &["webhook-timestamp", "svix-timestamp"])?;
            let header = required_any(headers, &["webhook-signature", "svix-signature"])?;
            let timestamp: i64 = ts
                .trim()
                .parse()
                .map_err(|_| VerifyError::Malformed("webhook-timestamp"))?;
            within_tolerance(timestamp, now, *tolerance_secs)?;
            let signatures: Vec<Vec<u8>> = header
                .split(' ')
                .filter_map(|s| s.strip_prefix("v1,"))
                .filter_map(|s| B64.decode(s).ok())
                .collect();
            if signatures.is_empty() {
                return Err(VerifyError::Malformed("webhook-signature: no v1 signature"));
            }
            let keys = secrets
                .iter()
                .map(|s| standard_webhooks_key(s))
                .collect::<Result<Vec<_>, _>>()?;
            let signed = [id.as_bytes(), b".", ts.trim().as_bytes(), b".", body];
            any_matches(keys.into_iter(), &signed, &signatures)
        }
        Scheme::Github => {
            let header = required(headers, "x-hub-signature-256")?;
            let hex_sig = header
                .strip_prefix("sha256=")
                .ok_or(VerifyError::Malformed("X-Hub-Signature-256"))?;
            let sig =
                hex::decode(hex_sig).map_err(|_| VerifyError::Malformed("X-Hub-Signature-256"))?;
            any_matches(
                secrets.iter().map(|s| s.as_bytes().to_vec()),
                &[body],
                &[sig],
            )
        }
        Scheme::Shopify => {
            let sig = B64
                .decode(required(headers, "x-shopify-hmac-sha256")?.trim())
                .map_err(|_| VerifyError::Malformed("X-Shopify-Hmac-Sha256"))?;
            any_matches(
                secrets.iter().map(|s| s.as_bytes().to_vec()),
                &[body],
                &[sig],
            )
        }
        Scheme::Square { notification_url } => {
            let sig = B64
                .decode(required(headers, "x-square-hmacsha256-signature")?.trim())
                .map_err(|_| VerifyError::Malformed("x-square-hmacsha256-signature"))?;
            any_matches(
                secrets.iter().map(|s| s.as_bytes().to_vec()),
                &[notification_url.as_bytes(), body],
                &[sig],
            )
        }
        Scheme::Hmac {
            header,
            encoding,
            prefix,
        } => {
            let value = required(headers, header)?;
            let encoded = value
                .trim()
                .strip_prefix(prefix.as_str())
                .ok_or(VerifyError::Malformed("signature prefix"))?;
            let sig = match encoding {
                Encoding::Hex => {
                    hex::decode(encoded).map_err(|_| VerifyError::Malformed("hex signature"))?
                }
                Encoding::Base64 => B64
                    .decode(encoded)
                    .map_err(|_| VerifyError::Malformed("base64 signature"))?,
            };
            any_matches(
                secrets.iter().map(|s| s.as_bytes().to_vec()),
                &[body],
                &[sig],
            )
        }
    }
}

/// The headers a provider would send for `body`, signed with `secret` at unix time `now`.
/// `id` is the Standard Webhooks message id (ignored by other schemes).
pub fn sign(
    scheme: &Scheme,
    secret: &str,
    body: &[u8],
    now: i64,
    id: &str,
) -> Result<Vec<(String, String)>, VerifyError> {
    let mac = |key: &[u8], parts: &[&[u8]]| {
        let mut m =
            HmacSha256::new_from_slice(key).map_err(|_| VerifyError::BadSecret("HMAC key"))?;
        for p in parts {
            m.update(p);
        }
        Ok::<Vec<u8>, VerifyError>(m.finalize().into_bytes().to_vec())
    };
    Ok(match scheme {
        Scheme::Stripe { .. } => {
            let sig = mac(secret.as_bytes(), &[now.to_string().as_bytes(), b".", body])?;
            vec![(
                "Stripe-Signature".into(),
                format!("t={now},v1={}", hex::encode(sig)),
            )]
        }
        Scheme::StandardWebhooks { .. } => {
            let key = standard_webhooks_key(secret)?;
            let sig = mac(
                &key,
                &[id.as_bytes(), b".", now.to_string().as_bytes(), b".", body],
            )?;
            vec![
                ("webhook-id".into(), id.to_owned()),
                ("webhook-timestamp".into(), now.to_string()),
                (
                    "webhook-signature".into(),
                    format!("v1,{}", B64.encode(sig)),
                ),
            ]
        }
        Scheme::Github => {
            let sig = mac(secret.as_bytes(), &[body])?;
            vec![(
                "X-Hub-Signature-256".into(),
                format!("sha256={}", hex::encode(sig)),
            )]
        }
        Scheme::Shopify => vec![(
            "X-Shopify-Hmac-Sha256".into(),
            B64.encode(mac(secret.as_bytes(), &[body])?),
        )],
        Scheme::Square { notification_url } => vec![(
            "x-square-hmacsha256-signature".into(),
            B64.encode(mac(
                secret.as_bytes(),
                &[notification_url.as_bytes(), body],
            )?),
        )],
        Scheme::Hmac {
            header,
            encoding,
            prefix,
        } => {
            let sig = mac(secret.as_bytes(), &[body])?;
            let encoded = match encoding {
                Encoding::Hex => hex::encode(sig),
                Encoding::Base64 => B64.encode(sig),
            };
            vec![(header.clone(), format!("{prefix}{encoded}"))]
        }
    })
}

/// A Standard Webhooks secret is `whsec_` + base64 of the key bytes.
fn standard_webhooks_key(secret: &str) -> Result<Vec<u8>, VerifyError> {
    B64.decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| {
            VerifyError::BadSecret("a Standard Webhooks secret is whsec_ followed by base64")
        })
}

fn required<'h>(headers: &'h Headers, name: &str) -> Result<&'h str, VerifyError> {
    headers
        .get(name)
        .ok_or_else(|| VerifyError::MissingHeader(name.to_owned()))
}

/// The message-id headers of Standard Webhooks, in the order they are read: the standard's own,
/// then Svix's, which Svix sends by default ("svix-id", "svix-timestamp", "svix-signature";
/// <https://docs.svix.com/receiving/verifying-payloads/how-manual>).
pub const STANDARD_WEBHOOKS_ID: [&str; 2] = ["webhook-id", "svix-id"];

/// The message id a Standard Webhooks signature covers: the same header verification reads, so
/// the event id stored is the one that was signed, whichever family the sender used.
pub fn standard_webhooks_id(headers: &Headers) -> Option<&str> {
    STANDARD_WEBHOOKS_ID.iter().find_map(|n| headers.get(n))
}

fn required_any<'h>(headers: &'h Headers, names: &[&str]) -> Result<&'h str, VerifyError> {
    names
        .iter()
        .find_map(|n| headers.get(n))
        .ok_or_else(|| VerifyError::MissingHeader(names[0].to_owned()))
}

fn within_tolerance(timestamp: i64, now: i64, tolerance_secs: u64) -> Result<(), VerifyError> {
    let age = now.saturating_sub(timestamp);
    let tolerance = i64::try_from(tolerance_secs).unwrap_or(i64::MAX);
    if age > tolerance {
        Err(VerifyError::Stale(age.unsigned_abs()))
    } else if age < -tolerance {
        // Not `-age > tolerance`: `age` saturates at i64::MIN, whose negation overflows (found
        // by runtime/tests/fuzz.rs).
        Err(VerifyError::Future(age.unsigned_abs()))
    } else {
        Ok(())
    }
}

/// Whether any key's MAC over `parts` equals any of `signatures`, each compared in constant time.
fn any_matches(
    keys: impl Iterator<Item = Vec<u8>>,
    parts: &[&[u8]],
    signatures: &[Vec<u8>],
) -> Result<(), VerifyError> {
    for key in keys {
        let mut mac =
            HmacSha256::new_from_slice(&key).map_err(|_| VerifyError::BadSecret("HMAC key"))?;
        for p in parts {
            mac.update(p);
        }
        if signatures
            .iter()
            .any(|sig| mac.clone().verify_slice(sig).is_ok())
        {
            return Ok(());
        }
    }
    Err(VerifyError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn github_published_example() {
        // docs.github.com, "Validating webhook deliveries": test values.
        let h = headers(&[(
            "X-Hub-Signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )]);
        let secret = vec!["It's a Secret to Everybody".to_owned()];
        assert_eq!(
            verify(&Scheme::Github, &h, b"Hello, World!", &secret, 0),
            Ok(())
        );
        assert_eq!(
            verify(&Scheme::Github, &h, b"Hello, World?", &secret, 0),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn standard_webhooks_published_example() {
        // The Standard Webhooks specification's (and Svix's) example values.
        let h = headers(&[
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ]);
        let secret = vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()];
        let scheme = Scheme::StandardWebhooks {
            tolerance_secs: 300,
        };
        assert_eq!(
            verify(
                &scheme,
                &h,
                br#"{"test": 2432232314}"#,
                &secret,
                1_614_265_330
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                &scheme,
                &h,
                br#"{"test": 2432232315}"#,
                &secret,
                1_614_265_330
            ),
            Err(VerifyError::Mismatch)
        );
        let signed = sign(
            &scheme,
            &secret[0],
            br#"{"test": 2432232314}"#,
            1_614_265_330,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
        )
        .unwrap();
        assert_eq!(
            signed[2].1,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    fn schemes() -> Vec<Scheme> {
        vec![
            Scheme::Stripe {
                tolerance_secs: 300,
            },
            Scheme::StandardWebhooks {
                tolerance_secs: 300,
            },
            Scheme::Github,
            Scheme::Shopify,
            Scheme::Square {
                notification_url: "https://hooks.example.com/webhook/square".into(),
            },
            Scheme::Hmac {
                header: "X-Acme-Signature".into(),
                encoding: Encoding::Hex,
                prefix: "sha256=".into(),
            },
            Scheme::Hmac {
                header: "X-Acme-Signature".into(),
                encoding: Encoding::Base64,
                prefix: String::new(),
            },
        ]
    }

    const SECRET: &str = "whsec_c2VjcmV0LWtleS1ieXRlcw==";
    const NOW: i64 = 1_800_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    fn signed(scheme: &Scheme, secret: &str, body: &[u8], at: i64) -> Headers {
        sign(scheme, secret, body, at, "msg_1")
            .unwrap()
            .into_iter()
            .collect()
    }

    #[test]
    fn every_scheme_accepts_its_own_signature_and_refuses_tampering() {
        for scheme in schemes() {
            let h = signed(&scheme, SECRET, BODY, NOW);
            let secrets = vec![SECRET.to_owned()];
            assert_eq!(
                verify(&scheme, &h, BODY, &secrets, NOW),
                Ok(()),
                "{scheme:?}"
            );
            let tampered = br#"{"id":"evt_1","type":"payment_intent.succeeded "}"#;
            assert_eq!(
                verify(&scheme, &h, tampered, &secrets, NOW),
                Err(VerifyError::Mismatch),
                "{scheme:?}"
            );
            let wrong = vec!["whsec_d3Jvbmcta2V5".to_owned()];
            assert_eq!(
                verify(&scheme, &h, BODY, &wrong, NOW),
                Err(VerifyError::Mismatch),
                "{scheme:?}"
            );
            assert!(
                matches!(
                    verify(&scheme, &Headers::default(), BODY, &secrets, NOW),
                    Err(VerifyError::MissingHeader(_))
                ),
                "{scheme:?}"
            );
        }
    }

    #[test]
    fn rotation_accepts_either_active_secret() {
        for scheme in schemes() {
            let h = signed(&scheme, SECRET, BODY, NOW);
            let rotating = vec!["whsec_bmV3LWtleQ==".to_owned(), SECRET.to_owned()];
            assert_eq!(
                verify(&scheme, &h, BODY, &rotating, NOW),
                Ok(()),
                "{scheme:?}"
            );
        }
    }

    #[test]
    fn timestamps_at_the_ends_of_i64_are_refused_without_overflow() {
        // Found by the fuzzer: a timestamp far in the future of a clock far in the past made
        // the age i64::MIN, and its negation panicked.
        assert!(matches!(
            within_tolerance(i64::MAX, i64::MIN, 300),
            Err(VerifyError::Future(_))
        ));
        assert!(matches!(
            within_tolerance(i64::MIN, i64::MAX, 300),
            Err(VerifyError::Stale(_))
        ));
        assert!(within_tolerance(0, 0, u64::MAX).is_ok());
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_refused_both_ways() {
        for scheme in [
            Scheme::Stripe {
                tolerance_secs: 300,
            },
            Scheme::StandardWebhooks {
                tolerance_secs: 300,
            },
        ] {
            let secrets = vec![SECRET.to_owned()];
            let old = signed(&scheme, SECRET, BODY, NOW - 301);
            assert_eq!(
                verify(&scheme, &old, BODY, &secrets, NOW),
                Err(VerifyError::Stale(301))
            );
            let future = signed(&scheme, SECRET, BODY, NOW + 301);
            assert_eq!(
                verify(&scheme, &future, BODY, &secrets, NOW),
                Err(VerifyError::Future(301))
            );
            let edge = signed(&scheme, SECRET, BODY, NOW - 300);
            assert_eq!(verify(&scheme, &edge, BODY, &secrets, NOW), Ok(()));
        }
    }

    #[test]
    fn stripe_accepts_any_v1_and_ignores_v0() {
        let scheme = Scheme::Stripe {
            tolerance_secs: 300,
        };
        let signed_headers = signed(&scheme, SECRET, BODY, NOW);
        let good = signed_headers.get("stripe-signature").unwrap();
        let sig = good.split("v1=").nth(1).unwrap();
        let h = headers(&[(
            "Stripe-Signature",
            &format!("t={NOW},v1={},v1={sig},v0=abc", "00".repeat(32)),
        )]);
        assert_eq!(verify(&scheme, &h, BODY, &[SECRET.to_owned()], NOW), Ok(()));
        let h = headers(&[("Stripe-Signature", &format!("t={NOW},v0={sig}"))]);
        assert!(matches!(
            verify(&scheme, &h, BODY, &[SECRET.to_owned()], NOW),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn svix_header_names_are_accepted() {
        let scheme = Scheme::StandardWebhooks {
            tolerance_secs: 300,
        };
        let h: Headers = sign(&scheme, SECRET, BODY, NOW, "msg_1")
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.replace("webhook-", "svix-"), v))
            .collect();
        assert_eq!(verify(&scheme, &h, BODY, &[SECRET.to_owned()], NOW), Ok(()));
    }

    #[test]
    fn a_standard_webhooks_secret_that_is_not_base64_is_a_configuration_error() {
        let scheme = Scheme::StandardWebhooks {
            tolerance_secs: 300,
        };
        let h = signed(&scheme, SECRET, BODY, NOW);
        let err = verify(&scheme, &h, BODY, &["whsec_not base64!".to_owned()], NOW).unwrap_err();
        assert!(err.is_configuration());
    }
}
