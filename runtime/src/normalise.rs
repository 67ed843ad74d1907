//! Provider events -> [`NormalisedEvent`], and the order of payment states per provider.
//!
//! Events arrive out of order. Each state has a rank; the stored state of a payment object only
//! moves to a higher rank (a conditional write), so a late `payment_intent.created` never
//! overwrites `succeeded`. States of equal rank are terminal alternatives (succeeded and
//! canceled): the first one stored stays. Event types not in a table carry no state and never
//! change one.
//!
//! **Which object a state belongs to.** A payment is one object per provider, whatever object an
//! event describes:
//! - Stripe: the PaymentIntent. `payment_intent.*` events describe it (`pi_`); `charge.*`
//!   events describe a Charge (`ch_`) that names it in `payment_intent`; `charge.dispute.*` a
//!   Dispute (`du_`) naming it in `payment_intent`; `refund.*` and `charge.refund.updated` a
//!   Refund (`re_`) naming it in `payment_intent`. A legacy charge made without a PaymentIntent
//!   has `payment_intent: null`: its charge (`ch_`, or the dispute's and refund's `charge`) is
//!   the payment. Keying each event on its own object split one payment over up to four keys,
//!   so a dispute never reached the payment it disputes
//!   (<https://docs.stripe.com/api/charges/object>, <https://docs.stripe.com/api/disputes/object>,
//!   <https://docs.stripe.com/api/refunds/object>).
//! - Shopify: the order. `orders/*` bodies are the Order (`id`); `refunds/create`'s body is a
//!   Refund whose `id` is the refund's and `order_id` the order's
//!   (<https://shopify.dev/docs/api/webhooks?reference=toml#list-refunds/create>).
//! - Square: the payment, `data.id` of `payment.*` events.
//!
//! The event's own object (the dispute, the refund) stays in `data`.

use serde_json::Value;

use crate::model::{NormalisedEvent, WebhookRecord, id_at};

/// The provider families whose payloads the processor understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Stripe events: `type`, `data.object`.
    Stripe,
    /// Standard Webhooks payloads: `type`, `data`.
    StandardWebhooks,
    /// GitHub: event in the `X-GitHub-Event` header, `action` in the body.
    Github,
    /// Shopify: topic in the `X-Shopify-Topic` header, the object is the body.
    Shopify,
    /// Square: `type`, `data.object.payment`.
    Square,
    /// Anything else: `type` (or `event`), `data.id` or `id`.
    Generic,
}

/// (event type, state, rank) per family. Ranks leave gaps so states can be added between.
///
/// Stripe's refund and dispute states need the object (a refund may be partial, a closed
/// dispute won or lost): see [`state_of`]. `refund.*` events carry no state: a Refund does not
/// say whether it refunds the whole payment, and Stripe sends `charge.refunded` for every
/// refund, full or partial, with the charge's `refunded` flag.
pub const STRIPE_STATES: &[(&str, &str, u32)] = &[
    ("payment_intent.created", "created", 10),
    ("payment_intent.requires_action", "requires_action", 20),
    ("payment_intent.processing", "processing", 30),
    ("payment_intent.payment_failed", "failed", 40),
    ("charge.failed", "failed", 40),
    ("payment_intent.succeeded", "succeeded", 50),
    ("charge.succeeded", "succeeded", 50),
    ("payment_intent.canceled", "canceled", 50),
    ("charge.refunded", "partially_refunded", 55),
    ("charge.refunded", "refunded", 60),
    ("charge.dispute.created", "disputed", 70),
    ("charge.dispute.closed", "dispute_won", 80),
    ("charge.dispute.closed", "dispute_lost", 80),
    ("charge.dispute.closed", "dispute_closed", 80),
];

/// Square reports the payment's status inside `payment.created` / `payment.updated`.
pub const SQUARE_STATES: &[(&str, &str, u32)] = &[
    ("APPROVED", "approved", 20),
    ("PENDING", "pending", 30),
    ("FAILED", "failed", 40),
    ("COMPLETED", "completed", 50),
    ("CANCELED", "canceled", 50),
];

/// Shopify order topics. A cancelled order is at the end of its life: a paid order may be
/// cancelled (and refunded), a cancelled one is never paid again, so `cancelled` outranks both
/// `paid` and `refunded` (sharing `paid`'s rank kept a paid-then-cancelled order paid, the
/// first of equal ranks staying). `refunded` means a refund was made: Shopify's Refund does not
/// say whether it covers the whole order.
pub const SHOPIFY_STATES: &[(&str, &str, u32)] = &[
    ("orders/create", "created", 10),
    ("orders/paid", "paid", 50),
    ("refunds/create", "refunded", 60),
    ("orders/cancelled", "cancelled", 70),
];

/// The row of `table` for `key` with the given state (or the first row for `key`).
fn lookup(
    table: &'static [(&'static str, &'static str, u32)],
    key: &str,
    state: Option<&str>,
) -> Option<(&'static str, u32)> {
    table
        .iter()
        .find(|(k, s, _)| *k == key && state.is_none_or(|want| want == *s))
        .map(|(_, state, rank)| (*state, *rank))
}

/// The state an event puts its payment in, with its rank; `data` is the whole payload.
pub fn state_of(family: Family, event_type: &str, data: &Value) -> Option<(&'static str, u32)> {
    match family {
        Family::Stripe => {
            let object = data.pointer("/data/object");
            let state = match event_type {
                // "Whether the charge has been fully refunded. If the charge is only partially
                // refunded, this attribute will still be false."
                // (<https://docs.stripe.com/api/charges/object#charge_object-refunded>)
                "charge.refunded" => Some(
                    match object
                        .and_then(|o| o.get("refunded"))
                        .and_then(Value::as_bool)
                    {
                        Some(true) => "refunded",
                        _ => "partially_refunded",
                    },
                ),
                // A closed dispute's status is won, lost or warning_closed
                // (<https://docs.stripe.com/api/disputes/object#dispute_object-status>).
                "charge.dispute.closed" => Some(
                    match object.and_then(|o| o.get("status")).and_then(Value::as_str) {
                        Some("won") => "dispute_won",
                        Some("lost") => "dispute_lost",
                        _ => "dispute_closed",
                    },
                ),
                _ => None,
            };
            lookup(STRIPE_STATES, event_type, state)
        }
        Family::Shopify => lookup(SHOPIFY_STATES, event_type, None),
        Family::Square => data
            .pointer("/data/object/payment/status")
            .and_then(Value::as_str)
            .and_then(|status| lookup(SQUARE_STATES, status, None)),
        Family::StandardWebhooks | Family::Github | Family::Generic => None,
    }
}

/// The Stripe payment an event's `data.object` belongs to (see the module docs): the
/// PaymentIntent, or the charge of a legacy charge. The object's kind is its `object` field
/// (Stripe sets it on every object), else the event type's prefix.
fn stripe_payment_id(event_type: &str, object: &Value) -> Option<String> {
    let field = |key: &str| {
        object
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let kind = object.get("object").and_then(Value::as_str).unwrap_or(
        if event_type.starts_with("charge.dispute.") {
            "dispute"
        } else if event_type.starts_with("charge.refund.") || event_type.starts_with("refund.") {
            "refund"
        } else if event_type.starts_with("charge.") {
            "charge"
        } else {
            "payment_intent"
        },
    );
    match kind {
        "charge" => field("payment_intent").or_else(|| field("id")),
        "dispute" | "refund" => field("payment_intent").or_else(|| field("charge")),
        _ => field("id"),
    }
}

/// Why a stored webhook could not be normalised.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NormaliseError {
    /// The body is not JSON (the receiver checked it, so the record was altered).
    #[error("stored body is not JSON")]
    NotJson,
    /// No event type where the provider puts it.
    #[error("no event type where the provider puts it")]
    NoType,
}

/// The normalised form of a stored webhook.
pub fn normalise(
    family: Family,
    record: &WebhookRecord,
) -> Result<NormalisedEvent, NormaliseError> {
    let data: Value = serde_json::from_str(&record.body).map_err(|_| NormaliseError::NotJson)?;
    let text = |pointer: &str| {
        data.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let id = |pointer: &str| id_at(&data, pointer);
    let header = |name: &str| record.headers.get(name).cloned();
    let (event_type, object_id, amount, currency) = match family {
        Family::Stripe => (
            text("/type"),
            data.pointer("/data/object").and_then(|object| {
                stripe_payment_id(
                    data.get("type").and_then(Value::as_str).unwrap_or(""),
                    object,
                )
            }),
            data.pointer("/data/object/amount").cloned(),
            text("/data/object/currency"),
        ),
        Family::StandardWebhooks => (
            text("/type"),
            id("/data/id"),
            data.pointer("/data/amount").cloned(),
            text("/data/currency"),
        ),
        Family::Github => (
            header("x-github-event").map(|e| match text("/action") {
                Some(action) => format!("{e}.{action}"),
                None => e,
            }),
            None,
            None,
            None,
        ),
        Family::Shopify => (
            header("x-shopify-topic"),
            // A Refund's own `id` is the refund's; the order is `order_id`.
            id("/order_id").or_else(|| id("/id")),
            data.get("total_price").cloned(),
            text("/currency"),
        ),
        Family::Square => (
            text("/type"),
            id("/data/id"),
            data.pointer("/data/object/payment/amount_money/amount")
                .cloned(),
            text("/data/object/payment/amount_money/currency"),
        ),
        Family::Generic => (
            text("/type").or_else(|| text("/event")),
            id("/data/id").or_else(|| id("/id")),
            data.pointer("/data/amount").cloned(),
            text("/data/currency"),
        ),
    };
    let event_type = event_type.ok_or(NormaliseError::NoType)?;
    let state = state_of(family, &event_type, &data).map(|(s, _)| s.to_owned());
    Ok(NormalisedEvent {
        webhook_id: record.webhook_id.clone(),
        provider: record.provider.clone(),
        event_id: record.event_id.clone(),
        event_type,
        object_id,
        amount,
        currency,
        state,
        data,
        data_omitted: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;
    use serde_json::json;

    fn record(body: Value, headers: &[(&str, &str)]) -> WebhookRecord {
        WebhookRecord {
            webhook_id: "w1".into(),
            provider: "p".into(),
            event_id: "e1".into(),
            received_at: "2026-11-23T00:00:00Z".into(),
            status: Status::Enqueued,
            attempts: 0,
            last_error: None,
            body: body.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            trace_header: None,
            enqueued_at: None,
            fetched_from: None,
        }
    }

    #[test]
    fn stripe_events_carry_object_amount_and_state() {
        let r = record(
            json!({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1", "amount": 1299, "currency": "eur"}}}),
            &[],
        );
        let e = normalise(Family::Stripe, &r).unwrap();
        assert_eq!(e.event_type, "payment_intent.succeeded");
        assert_eq!(e.object_id.as_deref(), Some("pi_1"));
        assert_eq!(e.amount, Some(json!(1299)));
        assert_eq!(e.currency.as_deref(), Some("eur"));
        assert_eq!(e.state.as_deref(), Some("succeeded"));
    }

    #[test]
    fn square_state_comes_from_the_payment_status() {
        let r = record(
            json!({"type": "payment.updated", "event_id": "x", "data": {"id": "sq_1", "object": {"payment": {"status": "COMPLETED", "amount_money": {"amount": 500, "currency": "USD"}}}}}),
            &[],
        );
        let e = normalise(Family::Square, &r).unwrap();
        assert_eq!(
            (e.object_id.as_deref(), e.state.as_deref(), e.amount),
            (Some("sq_1"), Some("completed"), Some(json!(500)))
        );
    }

    #[test]
    fn github_and_shopify_types_come_from_headers() {
        let g = normalise(
            Family::Github,
            &record(
                json!({"action": "opened"}),
                &[("x-github-event", "pull_request")],
            ),
        )
        .unwrap();
        assert_eq!(g.event_type, "pull_request.opened");
        let s = normalise(
            Family::Shopify,
            &record(
                json!({"id": 820982911946154508_u64, "total_price": "10.00", "currency": "CAD"}),
                &[("x-shopify-topic", "orders/paid")],
            ),
        )
        .unwrap();
        assert_eq!(
            (
                s.event_type.as_str(),
                s.object_id.as_deref(),
                s.state.as_deref()
            ),
            ("orders/paid", Some("820982911946154508"), Some("paid"))
        );
    }

    #[test]
    fn the_state_order_never_lets_a_late_event_regress() {
        let rank = |t: &str| state_of(Family::Stripe, t, &Value::Null).unwrap().1;
        assert!(rank("payment_intent.created") < rank("payment_intent.processing"));
        assert!(rank("payment_intent.processing") < rank("payment_intent.succeeded"));
        assert!(
            rank("payment_intent.payment_failed") < rank("payment_intent.succeeded"),
            "a retry after a failure can still succeed"
        );
        assert_eq!(
            rank("payment_intent.succeeded"),
            rank("payment_intent.canceled"),
            "terminal alternatives"
        );
        assert!(rank("payment_intent.succeeded") < rank("charge.refunded"));
        assert!(rank("charge.refunded") < rank("charge.dispute.created"));
        assert_eq!(
            state_of(Family::Stripe, "customer.created", &Value::Null),
            None,
            "unknown types carry no state"
        );
    }

    #[test]
    fn missing_types_are_errors() {
        assert_eq!(
            normalise(Family::Stripe, &record(json!({"id": "x"}), &[])),
            Err(NormaliseError::NoType)
        );
    }
}
