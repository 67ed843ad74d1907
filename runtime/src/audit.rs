//! The audit logger: DynamoDB stream records -> audit records ([`AuditRecord`], defined in
//! `model` so the backends use it without importing this module) with plain JSON values,
//! persisted (never just printed) to the audit table with the spec's retention.
//!
//! A record holds what changed, never a copy of the body: an INSERT keeps the new item, a
//! REMOVE the old one, a MODIFY the old and new values of the changed attributes only; the
//! body stands as its SHA-256 and length. Copying both whole images would make the record of a
//! status change of a webhook over about 195 KB larger than DynamoDB's 400 KB item ("The
//! maximum item size in DynamoDB is 400 KB",
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html>): its
//! write would fail for good and the batch end in the failure queue. The body itself is in the
//! webhook table; its digest proves which body an audit trail is about. The item at any time is
//! the INSERT's image with every later MODIFY's `new` values laid over it.
//!
//! Attribute values are decoded by [`plain_value`] into JSON: S, N, B, BOOL, NULL, M, L, SS, NS
//! and BS all come out as plain values, nested ones too, binary as base64 (the way DynamoDB's
//! own JSON writes it).

use std::collections::{BTreeSet, HashMap};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_dynamo::AttributeValue;
use serde_json::{Map, Number, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::backends::AuditSink;
use crate::model::AuditRecord;

/// Why an attribute value has no plain JSON form.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A number attribute that is no number (DynamoDB never stores one; a hand-made event may).
    #[error("cannot decode the stream image: the number attribute `{0}` is not a number")]
    NotANumber(String),
}

/// A DynamoDB number as JSON: an integer when it is one (`i64`, else `u64`), else a float; a
/// float JSON cannot write (infinite) is null. (serde_dynamo's own number decoding, in this
/// order.)
fn number(n: String) -> Result<Value, AuditError> {
    if let Ok(i) = n.parse::<i64>() {
        Ok(Value::from(i))
    } else if let Ok(u) = n.parse::<u64>() {
        Ok(Value::from(u))
    } else if let Ok(f) = n.parse::<f64>() {
        Ok(Number::from_f64(f).map_or(Value::Null, Value::Number))
    } else {
        Err(AuditError::NotANumber(n))
    }
}

/// One attribute value as plain JSON, taken (strings move, nothing is copied). A direct match
/// rather than serde_dynamo's deserializer: that one first rebuilds every map it decodes (a
/// measured 10 % of the audit logger's time), and the typed form has only these ten cases.
pub fn plain_value(value: AttributeValue) -> Result<Value, AuditError> {
    Ok(match value {
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::N(n) => number(n)?,
        AttributeValue::B(b) => Value::String(B64.encode(b)),
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::M(m) => plain(m)?,
        AttributeValue::L(l) => {
            Value::Array(l.into_iter().map(plain_value).collect::<Result<_, _>>()?)
        }
        AttributeValue::Ss(ss) => Value::Array(ss.into_iter().map(Value::String).collect()),
        AttributeValue::Ns(ns) => {
            Value::Array(ns.into_iter().map(number).collect::<Result<_, _>>()?)
        }
        AttributeValue::Bs(bs) => Value::Array(
            bs.into_iter()
                .map(|b| Value::String(B64.encode(b)))
                .collect(),
        ),
    })
}

/// Decodes a stream image or key set into a plain JSON object (taking it: the values move,
/// nothing is copied).
pub fn plain(map: Image) -> Result<Value, AuditError> {
    let mut out = Map::new();
    for (k, v) in map {
        out.insert(k, plain_value(v)?);
    }
    Ok(Value::Object(out))
}

/// An item as a stream record shows it: attribute name to typed value. (A plain map rather than
/// serde_dynamo's `Item`, which is rebuilt, every key hashed again, on each conversion.)
pub type Image = HashMap<String, AttributeValue>;

/// One change from the webhook table's stream.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamChange {
    /// The stream record's id.
    pub event_id: String,
    /// The record's sequence number (what a failed record is reported by).
    pub sequence_number: String,
    /// INSERT, MODIFY or REMOVE.
    pub event_name: String,
    /// When the change was made (unix seconds).
    pub changed_at: i64,
    /// The item's keys.
    pub keys: Image,
    /// The item before.
    pub old: Option<Image>,
    /// The item after.
    pub new: Option<Image>,
}

impl StreamChange {
    /// The record of one write to the item `pk`, as the stream makes it: INSERT where there
    /// was no old image, REMOVE where there is no new one, else MODIFY; the key set is `pk`.
    pub fn of_write(
        sequence_number: String,
        changed_at: i64,
        pk: String,
        old: Option<Image>,
        new: Option<Image>,
    ) -> Self {
        let event_name = match (&old, &new) {
            (None, _) => "INSERT",
            (_, None) => "REMOVE",
            _ => "MODIFY",
        };
        StreamChange {
            event_id: sequence_number.clone(),
            sequence_number,
            event_name: event_name.into(),
            changed_at,
            keys: Image::from([("pk".to_owned(), AttributeValue::S(pk))]),
            old,
            new,
        }
    }
}

/// The webhook attribute never copied into audit records.
const BODY: &str = "body";

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Takes the body out of an image: it is digested, never decoded into the record.
fn take_body(image: &mut Option<Image>) -> Option<AttributeValue> {
    image.as_mut().and_then(|i| i.remove(BODY))
}

/// The body's text as the decoded image would show it (a string; binary as base64).
fn body_text(value: AttributeValue) -> Result<Option<String>, AuditError> {
    Ok(match plain_value(value)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// The audit record of one change, kept for `retention_secs`. The change is taken: its images
/// are decoded in place, not copied (this runs for every change of every webhook).
pub fn audit_record(change: StreamChange, retention_secs: i64) -> Result<AuditRecord, AuditError> {
    let StreamChange {
        event_id,
        event_name,
        changed_at,
        keys,
        mut old,
        mut new,
        ..
    } = change;
    // What changed, compared as DynamoDB values before anything is decoded, so a MODIFY decodes
    // only the attributes it keeps, not two whole images. The answer is the decoded values'
    // answer: DynamoDB stores a number normalised ("Leading and trailing zeroes are trimmed",
    // <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html>),
    // so one number is written alike in both images, and a set in another order decodes to
    // another array too.
    let mut changed = BTreeSet::new();
    for (k, v) in new.iter().flatten() {
        if old.as_ref().and_then(|o| o.get(k)) != Some(v) {
            changed.insert(k.clone());
        }
    }
    for k in old.iter().flat_map(|o| o.keys()) {
        if !new.as_ref().is_some_and(|n| n.contains_key(k)) {
            changed.insert(k.clone());
        }
    }
    // The body counts among the changes above; it is digested, never decoded into the record.
    let (old_body, new_body) = (take_body(&mut old), take_body(&mut new));
    let body = match new_body.or(old_body) {
        Some(value) => body_text(value)?.map(|b| (hex_sha256(b.as_bytes()), b.len() as u64)),
        None => None,
    };
    if event_name == "MODIFY" {
        for image in [&mut old, &mut new].into_iter().flatten() {
            image.retain(|k, _| changed.contains(k));
        }
    }
    let keys = plain(keys)?;
    let decode = |image: Option<Image>| image.map(plain).transpose().map(Option::unwrap_or_default);
    let (old, new) = (decode(old)?, decode(new)?);
    let changed_fields: Vec<String> = changed.into_iter().collect();
    let time = OffsetDateTime::from_unix_timestamp(changed_at)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    let item_pk = keys.get("pk").and_then(Value::as_str).unwrap_or("?");
    Ok(AuditRecord {
        pk: format!("AUDIT#{item_pk}"),
        sk: format!("{time}#{event_id}"),
        event_name,
        keys,
        old,
        new,
        body_sha256: body.as_ref().map(|(d, _)| d.clone()),
        body_bytes: body.map(|(_, n)| n),
        changed_fields,
        time,
        expires_at: changed_at.saturating_add(retention_secs),
    })
}

/// Writes the audit records of a batch; returns the sequence numbers that failed (the event
/// source retries from the first of them, bisecting, then sends the rest to its failure queue).
pub async fn handle_batch<A: AuditSink>(
    sink: &A,
    changes: Vec<StreamChange>,
    retention_secs: i64,
) -> Vec<String> {
    let mut changes = changes.into_iter();
    while let Some(change) = changes.next() {
        let sequence_number = change.sequence_number.clone();
        let result = match audit_record(change, retention_secs) {
            Ok(record) => sink.write(record).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = result {
            tracing::error!(%sequence_number, %error, "audit record not written");
            // Stream batches are ordered: everything from the first failure is retried.
            return std::iter::once(sequence_number)
                .chain(changes.map(|c| c.sequence_number))
                .collect();
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_dynamo::AttributeValue as A;
    use serde_json::json;

    fn item(pairs: Vec<(&str, A)>) -> Image {
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    #[test]
    fn every_attribute_type_decodes_to_plain_json() {
        let nested = A::M(
            [(
                "inner".to_owned(),
                A::L(vec![A::N("1.5".into()), A::B(vec![0, 255]), A::Null(true)]),
            )]
            .into(),
        );
        let image = item(vec![
            ("s", A::S("text".into())),
            ("n", A::N("42".into())),
            ("neg", A::N("-7".into())),
            ("b", A::B(b"hello".to_vec())),
            ("bool", A::Bool(true)),
            ("null", A::Null(true)),
            ("m", nested),
            ("l", A::L(vec![A::S("a".into()), A::N("2".into())])),
            ("ss", A::Ss(vec!["x".into(), "y".into()])),
            ("ns", A::Ns(vec!["1".into(), "2.25".into()])),
            ("bs", A::Bs(vec![b"a".to_vec(), b"b".to_vec()])),
        ]);
        assert_eq!(
            plain(image).unwrap(),
            json!({
                "s": "text", "n": 42, "neg": -7, "b": "aGVsbG8=", "bool": true, "null": null,
                "m": {"inner": [1.5, "AP8=", null]}, "l": ["a", 2],
                "ss": ["x", "y"], "ns": [1, 2.25], "bs": ["YQ==", "Yg=="],
            })
        );
    }

    #[test]
    fn numbers_decode_as_integers_where_they_are_and_a_non_number_is_refused() {
        // DynamoDB's numbers: "up to 38 digits of precision", from -9.99...E+125 to
        // 9.99...E+125
        // (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html).
        let n = |s: &str| plain_value(A::N(s.into()));
        assert_eq!(n("-9223372036854775808").unwrap(), json!(i64::MIN));
        assert_eq!(n("18446744073709551615").unwrap(), json!(u64::MAX));
        assert_eq!(n("-1.5E3").unwrap(), json!(-1500.0));
        assert_eq!(
            n("99999999999999999999999999999999999999").unwrap(),
            json!(1e38),
            "38 digits: past u64, a float"
        );
        let refused = n("12abc").unwrap_err().to_string();
        assert!(refused.contains("`12abc` is not a number"), "{refused}");
        assert!(plain(item(vec![("ns", A::Ns(vec!["1".into(), "x".into()]))])).is_err());
    }

    #[test]
    fn a_write_is_named_by_the_images_it_has() {
        let image = || Some(item(vec![("status", A::S("RECEIVED".into()))]));
        let named = |old, new| StreamChange::of_write("7".into(), 1, "WEBHOOK#w1".into(), old, new);
        assert_eq!(named(None, image()).event_name, "INSERT");
        assert_eq!(named(image(), image()).event_name, "MODIFY");
        assert_eq!(named(image(), None).event_name, "REMOVE");
        let c = named(None, image());
        assert_eq!(
            (c.event_id.as_str(), c.sequence_number.as_str()),
            ("7", "7")
        );
        assert_eq!(c.keys, item(vec![("pk", A::S("WEBHOOK#w1".into()))]));
    }

    #[test]
    fn a_modify_lists_what_changed() {
        let change = StreamChange {
            event_id: "ev1".into(),
            sequence_number: "100".into(),
            event_name: "MODIFY".into(),
            changed_at: 1_800_000_000,
            keys: item(vec![
                ("pk", A::S("WEBHOOK#w1".into())),
                ("sk", A::S("WEBHOOK".into())),
            ]),
            old: Some(item(vec![
                ("pk", A::S("WEBHOOK#w1".into())),
                ("status", A::S("ENQUEUED".into())),
                ("attempts", A::N("0".into())),
            ])),
            new: Some(item(vec![
                ("pk", A::S("WEBHOOK#w1".into())),
                ("status", A::S("PROCESSED".into())),
                ("attempts", A::N("1".into())),
                ("expires_at", A::N("1".into())),
            ])),
        };
        let r = audit_record(change, 86_400).unwrap();
        assert_eq!(r.pk, "AUDIT#WEBHOOK#w1");
        assert_eq!(r.sk, "2027-01-15T08:00:00Z#ev1");
        assert_eq!(r.changed_fields, ["attempts", "expires_at", "status"]);
        assert_eq!(r.old["status"], "ENQUEUED");
        assert_eq!(r.new["status"], "PROCESSED");
        assert_eq!(r.expires_at, 1_800_086_400);
        // Only what changed: the unchanged key is in `keys`, not repeated in the images.
        assert_eq!(r.old.get("pk"), None);
        assert_eq!(r.new.get("pk"), None);
        assert_eq!(r.body_sha256, None);
    }

    fn webhook(status: &str, body: &str) -> Image {
        item(vec![
            ("pk", A::S("WEBHOOK#w1".into())),
            ("sk", A::S("WEBHOOK".into())),
            ("status", A::S(status.into())),
            ("body", A::S(body.into())),
            ("provider", A::S("stripe".into())),
        ])
    }

    fn change(name: &str, old: Option<Image>, new: Option<Image>) -> StreamChange {
        StreamChange {
            event_id: "ev".into(),
            sequence_number: "1".into(),
            event_name: name.into(),
            changed_at: 1_800_000_000,
            keys: item(vec![
                ("pk", A::S("WEBHOOK#w1".into())),
                ("sk", A::S("WEBHOOK".into())),
            ]),
            old,
            new,
        }
    }

    #[test]
    fn the_body_is_never_copied_only_its_digest() {
        // FIPS 180-2's example: SHA-256("abc").
        let r = audit_record(change("INSERT", None, Some(webhook("RECEIVED", "abc"))), 1).unwrap();
        assert_eq!(
            r.body_sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(r.body_bytes, Some(3));
        assert_eq!(r.new.get("body"), None);
        assert_eq!(r.new["provider"], "stripe");
        let r = audit_record(change("REMOVE", Some(webhook("PROCESSED", "abc")), None), 1).unwrap();
        assert_eq!(r.old["status"], "PROCESSED");
        assert_eq!(r.old.get("body"), None);
        assert_eq!(r.body_bytes, Some(3));
    }

    #[test]
    fn a_changed_body_is_listed_but_not_copied() {
        let r = audit_record(
            change(
                "MODIFY",
                Some(webhook("RECEIVED", "abc")),
                Some(webhook("RECEIVED", "abcd")),
            ),
            1,
        )
        .unwrap();
        assert_eq!(r.changed_fields, ["body"]);
        assert_eq!(r.body_bytes, Some(4));
        assert_eq!((r.old.get("body"), r.new.get("body")), (None, None));
        let same = audit_record(
            change(
                "MODIFY",
                Some(webhook("RECEIVED", "abc")),
                Some(webhook("ENQUEUED", "abc")),
            ),
            1,
        )
        .unwrap();
        assert_eq!(same.changed_fields, ["status"]);
    }

    #[test]
    fn records_of_a_webhook_at_the_largest_payload_stay_far_below_400_kb() {
        // The largest body the compiler allows (384 KiB): the item is near DynamoDB's 400 KB;
        // a record of both whole images would be twice that.
        let body = "x".repeat(384 * 1024);
        for c in [
            change("INSERT", None, Some(webhook("RECEIVED", &body))),
            change(
                "MODIFY",
                Some(webhook("RECEIVED", &body)),
                Some(webhook("ENQUEUED", &body)),
            ),
            change("REMOVE", Some(webhook("PROCESSED", &body)), None),
        ] {
            let name = c.event_name.clone();
            let r = audit_record(c, 1).unwrap();
            let stored = serde_json::to_string(&r).unwrap();
            assert!(
                stored.len() < 1_024,
                "{} record of {} bytes",
                name,
                stored.len()
            );
            assert_eq!(r.body_bytes, Some(384 * 1024));
        }
    }
}
