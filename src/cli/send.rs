//! `wh send`: post realistic sample events, signed with the provider's real scheme, to a running
//! stack (`wh dev`, or a deployed API whose secret you hold in the secrets file).

use std::path::PathBuf;

use serde_json::{Value, json};
use wh::ir::ProviderModel;
use wh::pipeline;
use wh::spec::{EventId, Scheme};
use wh_runtime::verify::sign;

use super::{Outcome, OutputFormat};
use crate::dev;

/// Arguments of `wh send`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spec the stack was compiled from.
    #[arg(value_name = "SPEC")]
    spec: PathBuf,
    /// The provider to impersonate.
    #[arg(value_name = "PROVIDER")]
    provider: String,
    /// Event type (default: a successful payment in the provider's vocabulary).
    #[arg(long)]
    event: Option<String>,
    /// How many distinct events to send.
    #[arg(long, default_value_t = 1)]
    count: u32,
    /// Base URL of the stack's stage (default http://127.0.0.1:8787/<stage>, `wh dev`'s).
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// Signing secrets file (default .wh/dev-secrets/<env>.json, as `wh dev` writes it).
    #[arg(long, value_name = "FILE")]
    secrets_file: Option<PathBuf>,
    /// Standard Webhooks providers only: sign with Svix's default header names (svix-id,
    /// svix-timestamp, svix-signature) instead of webhook-*.
    #[arg(long)]
    svix_headers: bool,
    /// How to print the answers.
    #[arg(long, value_enum, default_value_t)]
    output_format: OutputFormat,
}

/// A random hex id.
fn hex_id(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", fastrand::u8(..)))
        .collect()
}

/// Sets `pointer` (`/a/b`) in `doc` to `value`, creating objects on the way.
fn set_pointer(doc: &mut Value, pointer: &str, value: Value) {
    let mut at = doc;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if !at.is_object() {
            *at = json!({});
        }
        let Some(map) = at.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            map.insert((*part).to_owned(), value);
            return;
        }
        at = map.entry((*part).to_owned()).or_insert_with(|| json!({}));
    }
}

/// The `data.object` of a Stripe event of type `kind`: the object Stripe sends for it (a
/// Dispute for `charge.dispute.*`, a Refund for `refund.*`, a Charge for `charge.*`, else a
/// PaymentIntent), each naming the PaymentIntent it belongs to.
fn stripe_object(kind: &str) -> Value {
    let (pi, ch) = (format!("pi_{}", hex_id(8)), format!("ch_{}", hex_id(8)));
    if kind.starts_with("charge.dispute.") {
        let status = if kind == "charge.dispute.closed" {
            "lost"
        } else {
            "needs_response"
        };
        json!({ "id": format!("du_{}", hex_id(8)), "object": "dispute", "amount": 1999, "currency": "eur", "charge": ch, "payment_intent": pi, "reason": "fraudulent", "status": status })
    } else if kind.starts_with("refund.") || kind.starts_with("charge.refund.") {
        json!({ "id": format!("re_{}", hex_id(8)), "object": "refund", "amount": 1999, "currency": "eur", "charge": ch, "payment_intent": pi, "status": "succeeded" })
    } else if kind.starts_with("charge.") {
        let refunded = kind == "charge.refunded";
        json!({ "id": ch, "object": "charge", "amount": 1999, "amount_refunded": if refunded { 1999 } else { 0 }, "refunded": refunded, "currency": "eur", "payment_intent": pi, "status": "succeeded" })
    } else {
        json!({ "id": pi, "object": "payment_intent", "amount": 1999, "currency": "eur", "status": "succeeded" })
    }
}

/// A realistic event of `p`'s provider, with its event id where the spec says it is; returns
/// headers, body and the event id (Standard Webhooks also signs it, as the message id).
pub fn sample_event(
    p: &ProviderModel,
    event: Option<&str>,
    now: i64,
) -> (Vec<(String, String)>, Vec<u8>, String) {
    let id = match p.scheme {
        Scheme::StandardWebhooks => format!("msg_{}", hex_id(12)),
        _ => hex_id(12),
    };
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let mut body = match p.scheme {
        Scheme::Stripe => {
            let kind = event.unwrap_or("payment_intent.succeeded");
            json!({
                "id": format!("evt_{id}"), "object": "event", "created": now, "livemode": false,
                "type": kind, "data": { "object": stripe_object(kind) }
            })
        }
        Scheme::StandardWebhooks => json!({
            "type": event.unwrap_or("invoice.paid"), "timestamp": now,
            "data": { "id": format!("inv_{}", hex_id(8)), "amount": 1999, "currency": "USD" }
        }),
        Scheme::Github => {
            let full = event.unwrap_or("push");
            let (kind, action) = full
                .split_once('.')
                .map_or((full, None), |(k, a)| (k, Some(a)));
            headers.push(("X-GitHub-Event".into(), kind.into()));
            let mut b = json!({ "repository": { "full_name": "acme/payments" }, "sender": { "login": "octocat" } });
            if let Some(action) = action {
                b["action"] = json!(action);
            }
            b
        }
        Scheme::Shopify => {
            let topic = event.unwrap_or("orders/paid");
            headers.extend([
                ("X-Shopify-Topic".into(), topic.into()),
                ("X-Shopify-Shop-Domain".into(), "acme.myshopify.com".into()),
                ("X-Shopify-API-Version".into(), "2026-10".into()),
                ("X-Shopify-Webhook-Id".into(), hex_id(16)),
            ]);
            let order = fastrand::u64(1..u64::MAX / 2);
            if topic.starts_with("refunds/") {
                json!({ "id": fastrand::u64(1..u64::MAX / 2), "order_id": order, "note": "wh send", "refund_line_items": [], "transactions": [{ "kind": "refund", "status": "success", "amount": "19.99", "currency": "EUR" }] })
            } else {
                json!({ "id": order, "total_price": "19.99", "currency": "EUR", "financial_status": "paid" })
            }
        }
        Scheme::Square => json!({
            "merchant_id": "ML8M1AQ1GQG2K", "type": event.unwrap_or("payment.updated"), "created_at": now,
            "data": { "type": "payment", "id": format!("sq_{}", hex_id(8)),
                "object": { "payment": { "status": "COMPLETED", "amount_money": { "amount": 1999, "currency": "USD" } } } }
        }),
        Scheme::HmacSha256 => json!({
            "type": event.unwrap_or("payment.succeeded"),
            "data": { "id": format!("pay_{}", hex_id(8)), "amount": 1999, "currency": "USD" }
        }),
    };
    match &p.event_id {
        // Standard Webhooks' signature adds its own webhook-id header, the same id.
        EventId::Header(h)
            if !(p.scheme == Scheme::StandardWebhooks && h.eq_ignore_ascii_case("webhook-id")) =>
        {
            headers.push((h.clone(), id.clone()));
        }
        EventId::Header(_) => {}
        // Headers the sample already has (Shopify's topic) keep their value; the others carry
        // the new id. The stored event id is the values joined, as the receiver joins them.
        EventId::Headers(names) => {
            let mut parts = Vec::new();
            for name in names {
                let existing = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone());
                parts.push(existing.unwrap_or_else(|| {
                    headers.push((name.clone(), id.clone()));
                    id.clone()
                }));
            }
            let joined = parts.join(":");
            return (headers, body.to_string().into_bytes(), joined);
        }
        EventId::JsonPointer(ptr) => set_pointer(
            &mut body,
            ptr,
            json!(match p.scheme {
                Scheme::Stripe => format!("evt_{id}"),
                _ => id.clone(),
            }),
        ),
    }
    (headers, body.to_string().into_bytes(), id)
}

pub fn run(args: &Args) -> Outcome {
    let compilation = match pipeline::compile(&args.spec) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "{}: {e}; run `wh compile {}` for the details",
                args.spec.display(),
                args.spec.display()
            );
            return Outcome::Failed;
        }
    };
    let stack = &compilation.stack;
    let Some(provider) = stack.providers.iter().find(|p| p.name == args.provider) else {
        let known: Vec<&str> = stack.providers.iter().map(|p| p.name.as_str()).collect();
        eprintln!(
            "wh send: no provider `{}` in {}; the spec has {}",
            args.provider,
            args.spec.display(),
            known.join(", ")
        );
        return Outcome::Error;
    };
    let target = args
        .target
        .clone()
        .unwrap_or_else(|| format!("http://127.0.0.1:8787/{}", stack.stage));
    let target = target.trim_end_matches('/').to_owned();
    let secrets_path = args
        .secrets_file
        .clone()
        .unwrap_or_else(|| dev::secrets::default_path(&compilation.env));
    let secret = match dev::secrets::read(&secrets_path) {
        Ok(all) => match all.get(&provider.name).and_then(|v| v.current.clone()) {
            Some(s) => s,
            None => {
                eprintln!(
                    "wh send: {} has no current secret for {}",
                    secrets_path.display(),
                    provider.name
                );
                return Outcome::Error;
            }
        },
        Err(e) => {
            eprintln!(
                "wh send: {e} (start `wh dev {}` once to generate it)",
                args.spec.display()
            );
            return Outcome::Error;
        }
    };
    let url = format!("{target}/webhook/{}", provider.name);
    let scheme = wh::ir::handlers::runtime_scheme(provider, url.clone());
    if args.svix_headers && !matches!(scheme, wh_runtime::verify::Scheme::StandardWebhooks { .. }) {
        eprintln!(
            "wh send: --svix-headers is for standard-webhooks providers; {} uses the {} scheme",
            provider.name,
            provider.scheme.as_str()
        );
        return Outcome::Error;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wh send: {e}");
            return Outcome::Error;
        }
    };
    let client = reqwest::Client::new();
    let mut all_ok = true;
    let mut answers = Vec::new();
    for _ in 0..args.count {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let (mut headers, body, id) = sample_event(provider, args.event.as_deref(), now);
        match sign(&scheme, &secret, &body, now, &id) {
            Ok(signed) if args.svix_headers => headers.extend(
                signed
                    .into_iter()
                    .map(|(k, v)| (k.replace("webhook-", "svix-"), v)),
            ),
            Ok(signed) => headers.extend(signed),
            Err(e) => {
                eprintln!(
                    "wh send: cannot sign with the secret in {}: {e}",
                    secrets_path.display()
                );
                return Outcome::Error;
            }
        }
        let mut request = client.post(&url).body(body);
        for (k, v) in &headers {
            request = request.header(k, v);
        }
        let answer = runtime.block_on(async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let text = response.text().await?;
            Ok::<_, reqwest::Error>((status, text))
        });
        match answer {
            Ok((status, text)) => {
                all_ok &= (200..300).contains(&status);
                if args.output_format == OutputFormat::Text {
                    println!("{status} {text}");
                }
                answers.push(json!({ "status": status, "body": serde_json::from_str::<Value>(&text).unwrap_or(json!(text)) }));
            }
            Err(e) => {
                eprintln!("wh send: {url}: {e}");
                return Outcome::Error;
            }
        }
    }
    if args.output_format == OutputFormat::Json {
        println!("{}", json!({ "url": url, "answers": answers }));
    }
    if all_ok { Outcome::Ok } else { Outcome::Failed }
}
