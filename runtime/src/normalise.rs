//! Provider events -> [`NormalisedEvent`], and the order of payment states per provider.
//!
//! Events arrive out of order. Each state has a rank; the stored state of a payment object only
//! moves to a higher rank (a conditional write), so a late `payment_intent.created` never
//! overwrites `succeeded`. States of equal rank are terminal alternatives (succeeded and
//! canceled): the first one stored stays. Event types not in a table carry no state and never
//! change one.

use serde_json::Value;

use crate::model::{NormalisedEvent, WebhookRecord};

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
pub const STRIPE_STATES: &[(&str, &str, u32)] = &[
    ("payment_intent.created", "created", 10),
    ("payment_intent.requires_action", "requires_action", 20),
    ("payment_intent.processing", "processing", 30),
    ("payment_intent.payment_failed", "failed", 40),
    ("payment_intent.succeeded", "succeeded", 50),
    ("payment_intent.canceled", "canceled", 50),
    ("charge.succeeded", "succeeded", 50),
    ("charge.failed", "failed", 40),
    ("charge.refunded", "refunded", 60),
    ("charge.dispute.created", "disputed", 70),
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

/// Shopify order topics.
pub const SHOPIFY_STATES: &[(&str, &str, u32)] = &[
    ("orders/create", "created", 10),
    ("orders/paid", "paid", 50),
    ("orders/cancelled", "cancelled", 50),
    ("refunds/create", "refunded", 60),
];

/// The state an event puts its object in, with its rank.
pub fn state_of(family: Family, event_type: &str, data: &Value) -> Option<(&'static str, u32)> {
    let lookup = |table: &'static [(&'static str, &'static str, u32)], key: &str| {
        table
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, state, rank)| (*state, *rank))
    };
    match family {
        Family::Stripe => lookup(STRIPE_STATES, event_type),
        Family::Shopify => lookup(SHOPIFY_STATES, event_type),
        Family::Square => data
            .pointer("/data/object/payment/status")
            .and_then(Value::as_str)
            .and_then(|status| lookup(SQUARE_STATES, status)),
        Family::StandardWebhooks | Family::Github | Family::Generic => None,
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
    let id = |pointer: &str| {
        data.pointer(pointer).and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let header = |name: &str| record.headers.get(name).cloned();
    let (event_type, object_id, amount, currency) = match family {
        Family::Stripe => (
            text("/type"),
            id("/data/object/id"),
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
            id("/id"),
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
