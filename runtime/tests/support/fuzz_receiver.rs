//! The receiver and signature-scheme fuzz targets' shared part: the providers, the seeds, one
//! delivery and the properties it must hold. Two engines run it: proptest inside `cargo test`
//! (`runtime/tests/fuzz.rs`, generating [`Delivery`] values) and libFuzzer
//! (`fuzz/fuzz_targets/receiver.rs` and `schemes.rs`, reading them from bytes:
//! [`Delivery::from_bytes`], [`SchemeInput::from_bytes`]).
//!
//! Properties: nothing panics; every answer is one of the documented ones with its outcome; a
//! 200 means the webhook is stored with the body as sent; a delivery whose headers were not made
//! by the scheme's signer is never accepted.

#![allow(dead_code)] // each includer uses its part

use std::path::Path;

use time::OffsetDateTime;
use time::macros::datetime;
use wh_runtime::backends::Store;
use wh_runtime::backends::memory::{MemoryQueue, MemorySecrets, MemoryStore};
use wh_runtime::headers::Headers;
use wh_runtime::receiver::{
    EventIdSource, Outcome, ProviderConfig, Receiver, ReceiverConfig, Request,
};
use wh_runtime::secret::SecretValue;
use wh_runtime::verify::{self, Encoding, Scheme, sign};

/// The receiver's clock in every case.
pub const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);
/// The receiver's payload limit (small, so the fuzzers reach it).
pub const MAX_PAYLOAD: usize = 2048;

/// Every scheme, as `specs/dev.yaml` configures its provider, with its secret.
pub fn providers() -> Vec<(&'static str, ProviderConfig, &'static str)> {
    let header = |h: &str| EventIdSource::Header(h.into());
    vec![
        (
            "stripe",
            ProviderConfig {
                scheme: Scheme::Stripe {
                    tolerance_secs: 300,
                },
                event_id: EventIdSource::JsonPointer("/id".into()),
            },
            "whsec_c3RyaXBlLWZ1eno=",
        ),
        (
            "svix",
            ProviderConfig {
                scheme: Scheme::StandardWebhooks {
                    tolerance_secs: 300,
                },
                event_id: header("webhook-id"),
            },
            "whsec_c3ZpeC1mdXp6LXNlY3JldA==",
        ),
        (
            "github",
            ProviderConfig {
                scheme: Scheme::Github,
                event_id: header("X-GitHub-Delivery"),
            },
            "github-fuzz",
        ),
        (
            "shopify",
            ProviderConfig {
                scheme: Scheme::Shopify,
                event_id: EventIdSource::Headers(vec![
                    "X-Shopify-Topic".into(),
                    "X-Shopify-Event-Id".into(),
                ]),
            },
            "shopify-fuzz",
        ),
        (
            "square",
            ProviderConfig {
                scheme: Scheme::Square {
                    notification_url: "https://hooks.example.com/webhook/square".into(),
                },
                event_id: EventIdSource::JsonPointer("/event_id".into()),
            },
            "square-fuzz",
        ),
        (
            "acme",
            ProviderConfig {
                scheme: Scheme::Hmac {
                    header: "X-Acme-Signature".into(),
                    encoding: Encoding::Base64,
                    prefix: "sha256=".into(),
                },
                event_id: EventIdSource::JsonPointer("/delivery/id".into()),
            },
            "acme-fuzz",
        ),
    ]
}

/// Bodies the fuzzers start from: the provider fixtures under `fixtures` (each file's `body`),
/// and small documents of each shape.
pub fn seeds(fixtures: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sub in ["stripe", "shopify"] {
        let mut files: Vec<_> = std::fs::read_dir(fixtures.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
            out.push(serde_json::to_vec(&doc["body"]).unwrap());
        }
    }
    for s in [
        r#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}"#,
        r#"{"type":"invoice.paid","data":{"id":"inv_1"}}"#,
        r#"{"event_id":"e1","type":"payment.updated","data":{"id":"sq_1","object":{"payment":{"status":"COMPLETED"}}}}"#,
        r#"{"delivery":{"id":"d1"},"type":"payment.succeeded"}"#,
        r#"{"delivery":{"id":7}}"#,
        "[]",
        "null",
        "{}",
        "",
    ] {
        out.push(s.as_bytes().to_vec());
    }
    out
}

/// How a delivery's headers are made.
#[derive(Clone, Debug)]
pub enum Signing {
    /// By the scheme's signer, then the event-id headers set; `mutate`: then some of them
    /// replaced or dropped (no longer signer-made).
    Signed {
        /// (header index, new value or dropped).
        mutate: Vec<(usize, Option<String>)>,
    },
    /// Not by the signer at all.
    Forged(Vec<(String, String)>),
}

/// One delivery: a provider (an index into [`providers`], or `None` for an unknown name), a
/// body, how its headers are made, and the signing time's distance from [`NOW`].
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The provider, or `None`: `zz<unknown>`.
    pub provider: Option<usize>,
    /// The unknown provider's name suffix.
    pub unknown: String,
    /// The body.
    pub body: Vec<u8>,
    /// The headers.
    pub signing: Signing,
    /// Seconds between [`NOW`] and the signature's time.
    pub skew: i64,
}

/// Lines `name: value` as headers.
fn header_lines(text: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

impl Delivery {
    /// libFuzzer's input: the body, then optionally a byte 0xFF and a trailer: provider
    /// (modulo providers + 1; the last is an unknown name), mode (modulo 3: signed, signed then
    /// altered, forged), skew (two bytes, big-endian, modulo ±400 s), then for "altered" pairs
    /// of (header index, value line; an empty line drops the header) and for "forged" header
    /// lines `name: value`. Without a trailer: Stripe, signed now, so a fixture's body alone is a
    /// seed that reaches past the signature.
    pub fn from_bytes(data: &[u8]) -> Delivery {
        let (body, trailer) = match data.iter().position(|&b| b == 0xFF) {
            Some(at) => (&data[..at], &data[at + 1..]),
            None => (data, &[][..]),
        };
        let byte = |i: usize| trailer.get(i).copied().unwrap_or(0);
        let n = providers().len();
        let which = usize::from(byte(0)) % (n + 1);
        let skew = i64::from(i16::from_be_bytes([byte(2), byte(3)])) % 401;
        let rest = trailer.get(4..).unwrap_or(&[]);
        let signing = match byte(1) % 3 {
            0 => Signing::Signed { mutate: vec![] },
            1 => Signing::Signed {
                mutate: rest
                    .split(|&b| b == b'\n')
                    .collect::<Vec<_>>()
                    .chunks(2)
                    .map(|pair| {
                        let at = usize::from(pair[0].first().copied().unwrap_or(0));
                        let value = pair.get(1).filter(|v| !v.is_empty());
                        (at, value.map(|v| String::from_utf8_lossy(v).into_owned()))
                    })
                    .collect(),
            },
            _ => Signing::Forged(header_lines(rest)),
        };
        Delivery {
            provider: (which < n).then_some(which),
            unknown: String::from_utf8_lossy(rest.get(..rest.len().min(8)).unwrap_or(&[]))
                .chars()
                .filter(char::is_ascii_lowercase)
                .collect(),
            body: body.to_vec(),
            signing,
            skew,
        }
    }
}

/// The receiver over in-memory backends, with every provider's secret set.
pub struct ReceiverTarget {
    rt: tokio::runtime::Runtime,
    all: Vec<(&'static str, ProviderConfig, &'static str)>,
    receiver: Receiver<MemoryStore, MemoryQueue, MemorySecrets>,
}

impl ReceiverTarget {
    /// A receiver with every provider of [`providers`].
    pub fn new() -> ReceiverTarget {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let all = providers();
        let secrets = MemorySecrets::default();
        for (name, _, secret) in &all {
            secrets.set(name, SecretValue::new(*secret));
        }
        let receiver = Receiver::new(
            ReceiverConfig {
                providers: all
                    .iter()
                    .map(|(n, c, _)| ((*n).to_owned(), c.clone()))
                    .collect(),
                max_payload: MAX_PAYLOAD,
            },
            MemoryStore::default(),
            MemoryQueue::default(),
            secrets,
        );
        ReceiverTarget { rt, all, receiver }
    }

    /// Sends `d` and checks the answer against the properties; the error says which failed.
    pub fn check(&self, d: &Delivery) -> Result<(), String> {
        let (provider, signed_by) = match d.provider {
            Some(i) => (self.all[i].0.to_owned(), Some(&self.all[i])),
            None => (format!("zz{}", d.unknown), None),
        };
        let ts = NOW.unix_timestamp() + d.skew;
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut signer_made = false;
        match (&d.signing, signed_by) {
            (Signing::Signed { mutate }, Some((_, config, secret))) => {
                let signed = sign(&config.scheme, secret, &d.body, ts, "msg_fuzz").unwrap();
                headers = signed.clone();
                headers.extend([
                    ("X-GitHub-Delivery".to_owned(), "gh-1".to_owned()),
                    ("X-Shopify-Topic".to_owned(), "orders/paid".to_owned()),
                    ("X-Shopify-Event-Id".to_owned(), "sh-1".to_owned()),
                ]);
                for (at, value) in mutate {
                    if headers.is_empty() {
                        break;
                    }
                    let at = at % headers.len();
                    match value {
                        Some(v) => headers[at].1 = v.clone(),
                        None => {
                            headers.remove(at);
                        }
                    }
                }
                // Still the signer's if every header it made is there unchanged.
                signer_made = signed.iter().all(|h| headers.contains(h));
            }
            (Signing::Forged(h), _) => headers = h.clone(),
            (Signing::Signed { .. }, None) => {}
        }
        let request = Request {
            provider,
            headers: headers.iter().cloned().collect::<Headers>(),
            body: d.body.clone(),
            trace_header: None,
        };
        let response = self.rt.block_on(self.receiver.handle(request, NOW));
        let expected: &[Outcome] = match response.status {
            200 => &[Outcome::Accepted, Outcome::Duplicate],
            400 => &[Outcome::BadRequest],
            401 => &[Outcome::SignatureFailure],
            404 => &[Outcome::UnknownProvider],
            413 => &[Outcome::TooLarge],
            503 => &[Outcome::SecretUnavailable, Outcome::BackendFailure],
            other => return Err(format!("undocumented status {other}")),
        };
        let fail = |what: String| Err(format!("{what} (headers {headers:?})"));
        if !expected.contains(&response.outcome) {
            return fail(format!("{} with {:?}", response.status, response.outcome));
        }
        if !response.body.is_object() {
            return fail(format!("not a JSON object: {}", response.body));
        }
        if signed_by.is_none() && response.status != 404 {
            return fail(format!("unknown provider answered {}", response.status));
        }
        if signed_by.is_some() && d.body.len() > MAX_PAYLOAD && response.status != 413 {
            return fail(format!("an oversized body answered {}", response.status));
        }
        if response.status == 200 {
            if !signer_made {
                return fail("accepted headers the signer did not make".into());
            }
            let id = response.webhook_id.clone().unwrap_or_default();
            let stored = self
                .rt
                .block_on(self.receiver.backends().0.get(&id))
                .map_err(|e| format!("reading {id}: {e}"))?;
            let Some(stored) = stored else {
                return fail(format!("a 200 was not stored: {id}"));
            };
            // A duplicate keeps the first delivery's body (ids repeat across cases).
            if response.outcome == Outcome::Accepted && stored.body.as_bytes() != &d.body[..] {
                return fail("stored a different body".into());
            }
        }
        Ok(())
    }

    /// Whether a signed `body` from the first provider (Stripe) is accepted.
    pub fn accepts_signed(&self, body: &[u8]) -> bool {
        let (name, config, secret) = &self.all[0];
        let headers = sign(&config.scheme, secret, body, NOW.unix_timestamp(), "").unwrap();
        let r = self.rt.block_on(self.receiver.handle(
            Request {
                provider: (*name).into(),
                headers: headers.into_iter().collect(),
                body: body.to_vec(),
                trace_header: None,
            },
            NOW,
        ));
        r.status == 200
    }
}

/// One call of a scheme's `verify` with headers nobody signed.
#[derive(Clone, Debug)]
pub struct SchemeInput {
    /// An index into [`providers`].
    pub scheme: usize,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The verifier's clock, Unix seconds.
    pub now: i64,
}

impl SchemeInput {
    /// libFuzzer's input: a scheme byte (modulo the providers), the clock (8 bytes,
    /// little-endian), header lines `name: value` up to a NUL byte, then the body.
    pub fn from_bytes(data: &[u8]) -> SchemeInput {
        let scheme = usize::from(data.first().copied().unwrap_or(0)) % providers().len();
        let mut clock = [0u8; 8];
        for (i, b) in data.iter().skip(1).take(8).enumerate() {
            clock[i] = *b;
        }
        let rest = data.get(9..).unwrap_or(&[]);
        let (headers, body) = match rest.iter().position(|&b| b == 0) {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &[][..]),
        };
        SchemeInput {
            scheme,
            headers: header_lines(headers),
            body: body.to_vec(),
            now: i64::from_le_bytes(clock),
        }
    }

    /// The scheme must refuse it (only its signer can make a valid signature).
    pub fn check(&self) -> Result<(), String> {
        let (_, config, secret) = &providers()[self.scheme];
        let headers: Headers = self.headers.iter().cloned().collect();
        let keys = vec![(*secret).to_owned()];
        match verify::verify(&config.scheme, &headers, &self.body, &keys, self.now) {
            Ok(_) => Err(format!("{:?} accepted {:?}", config.scheme, self.headers)),
            Err(_) => Ok(()),
        }
    }
}
