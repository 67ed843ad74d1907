//! The operations commands against a stack deployed on moto (127.0.0.1) by `wh deploy`: secrets,
//! status, reenqueue and replay, checked through the service APIs. (SQS message move tasks,
//! which `wh redrive` uses, are not in moto: `aws_replay.rs` covers them; the whole
//! recovery path runs against `wh dev` in `dev.rs`.)

mod common;

#[path = "../runtime/tests/support/moto.rs"]
mod moto;

#[path = "common/aws_stack.rs"]
mod aws_stack;

#[path = "common/provider_fakes.rs"]
mod provider_fakes;

use std::process::Command;

use aws_stack::{block_on, sdk, text, wh, workdir};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wh_runtime::backends::Store;
use wh_runtime::backends::aws::DynamoStore;
use wh_runtime::model::{Status, WebhookRecord};

/// `wh <args> spec.yaml <extra> --endpoint-url <moto> --output-format json`, `stdin` piped in.
fn wh_ops(
    dir: &std::path::Path,
    moto: &moto::Moto,
    args: &[&str],
    extra: &[&str],
    stdin: &str,
) -> (Option<i32>, Value, String) {
    let o = common::run_with_stdin(
        Command::new(env!("CARGO_BIN_EXE_wh"))
            .current_dir(dir)
            .args(args)
            .arg("spec.yaml")
            .args(extra)
            .args(["--endpoint-url", &moto.url, "--output-format", "json"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE"),
        stdin,
    );
    let doc = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code(), doc, text(&o))
}

fn record(id: &str, age: time::Duration) -> WebhookRecord {
    WebhookRecord {
        webhook_id: id.into(),
        provider: "stripe".into(),
        event_id: format!("evt_{id}"),
        received_at: (OffsetDateTime::now_utc() - age).format(&Rfc3339).unwrap(),
        status: Status::Received,
        attempts: 0,
        last_error: None,
        body: format!(
            r#"{{"id":"evt_{id}","type":"charge.refunded","data":{{"object":{{"id":"ch_{id}","amount":500,"currency":"eur"}}}}}}"#
        ),
        headers: Default::default(),
        trace_header: None,
        enqueued_at: None,
        fetched_from: None,
    }
}

/// The messages on the deployed processing queue (received, so in flight afterwards), as JSON.
fn processing_messages(sdk: &aws_config::SdkConfig) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let received = block_on(async {
        let url = sqs
            .get_queue_url()
            .queue_name("shop-processing-test")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        sqs.receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap()
    });
    received
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect()
}

/// The time `minutes` ago, as stored.
fn ago_minutes(minutes: i64) -> String {
    (OffsetDateTime::now_utc() - time::Duration::minutes(minutes))
        .format(&Rfc3339)
        .unwrap()
}

/// A stack deployed on moto, as `wh deploy` makes it.
fn deployed(moto: &moto::Moto) -> (tempfile::TempDir, aws_config::SdkConfig) {
    let dir = workdir(common::BASE);
    for step in [&["bootstrap"][..], &["deploy"][..]] {
        let o = wh(dir.path(), moto, step);
        assert!(o.status.success(), "{}", text(&o));
    }
    (dir, block_on(sdk(moto)))
}

#[test]
fn secrets_are_put_and_rotated_in_the_documented_format() {
    let moto = moto::Moto::start();
    let (dir, sdk) = deployed(&moto);
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    // moto builds no Secrets Manager secret from a template (a placeholder): make the one the
    // stack would, with the template's placeholder value.
    block_on(
        sm.create_secret()
            .name("shop-stripe-test")
            .secret_string(r#"{"current":null,"previous":null,"previous_expires_at":null}"#)
            .send(),
    )
    .unwrap();
    let stored = || -> Value {
        let v = block_on(sm.get_secret_value().secret_id("shop-stripe-test").send()).unwrap();
        serde_json::from_str(v.secret_string().unwrap()).unwrap()
    };

    let (code, _, out) = wh_ops(
        dir.path(),
        &moto,
        &["secrets", "rotate"],
        &["stripe", "--yes"],
        "whsec_first\n",
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("use `wh secrets put` first"), "{out}");

    let (code, _, out) = wh_ops(
        dir.path(),
        &moto,
        &["secrets", "put"],
        &["stripe", "--yes"],
        "whsec_first\n",
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("whsec_first"), "never echoed: {out}");
    assert_eq!(stored()["current"], "whsec_first");

    let (code, doc, out) = wh_ops(
        dir.path(),
        &moto,
        &["secrets", "rotate"],
        &["stripe", "--overlap", "2h", "--yes"],
        "whsec_second",
    );
    assert_eq!(code, Some(0), "{out}");
    let s = stored();
    assert_eq!(
        (&s["current"], &s["previous"]),
        (&"whsec_second".into(), &"whsec_first".into()),
        "{s}"
    );
    assert_eq!(s["previous_expires_at"], doc["previous_expires_at"]);
    let until =
        OffsetDateTime::parse(s["previous_expires_at"].as_str().unwrap(), &Rfc3339).unwrap();
    let left = until - OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::minutes(119) && left <= time::Duration::hours(2),
        "{left}"
    );

    // Without --yes and without a terminal, nothing is written.
    let (code, _, out) = wh_ops(
        dir.path(),
        &moto,
        &["secrets", "put"],
        &["stripe"],
        "whsec_third",
    );
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(stored()["current"], "whsec_second");
}

#[test]
fn stuck_webhooks_are_reenqueued_and_status_shows_the_stack() {
    let moto = moto::Moto::start();
    let (dir, sdk) = deployed(&moto);
    let store = DynamoStore::new(&sdk, "shop-webhooks-test");
    block_on(async {
        store
            .insert_new(&record("stuck", time::Duration::hours(1)))
            .await
            .unwrap();
        store
            .insert_new(&record("fresh", time::Duration::seconds(5)))
            .await
            .unwrap();
        store
            .insert_new(&record("queued", time::Duration::hours(2)))
            .await
            .unwrap();
        let ago = |age: time::Duration| (OffsetDateTime::now_utc() - age).format(&Rfc3339).unwrap();
        store
            .mark_enqueued("queued", &ago(time::Duration::hours(2)))
            .await
            .unwrap();
        // Past the spec's longer queue retention (the DLQ's 14 days): no message is left.
        let old = time::Duration::days(20);
        for id in ["lost", "dead"] {
            store.insert_new(&record(id, old)).await.unwrap();
            store.mark_enqueued(id, &ago(old)).await.unwrap();
        }
        store
            .record_failure("dead", 5, "bus down", true)
            .await
            .unwrap();
        // Failed an hour ago: its message is in the DLQ, for `wh redrive`.
        store
            .insert_new(&record("failed-lately", time::Duration::hours(1)))
            .await
            .unwrap();
        store
            .mark_enqueued("failed-lately", &ago(time::Duration::hours(1)))
            .await
            .unwrap();
        store
            .record_failure("failed-lately", 5, "bus down", true)
            .await
            .unwrap();
    });

    // moto does not speak CloudWatch's protocol (Smithy RPC v2 CBOR): that part of the
    // screen is reported unavailable, exit 1; aws_replay.rs reads it from AWS's answers.
    let (code, h, out) = wh_ops(dir.path(), &moto, &["status"], &[], "");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("wh status: could not read alarms and metrics: CloudWatch DescribeAlarms"),
        "{out}"
    );
    assert_eq!(h["alarms"], Value::Null, "{h}");
    assert_eq!(
        (
            &h["webhooks"]["RECEIVED"],
            &h["webhooks"]["ENQUEUED"],
            &h["stuck"]
        ),
        (&2.into(), &2.into(), &1.into()),
        "{h}"
    );
    assert_eq!(h["webhooks"]["FAILED"], 2, "{h}");
    assert_eq!((&h["queue"][0], &h["dlq"]), (&0.into(), &0.into()), "{h}");

    let (code, dry, out) = wh_ops(dir.path(), &moto, &["reenqueue"], &["--dry-run"], "");
    assert_eq!(code, Some(0), "{out}");
    let mut found: Vec<String> = serde_json::from_value(dry["found"].clone()).unwrap();
    found.sort();
    assert_eq!(found, ["dead", "lost", "stuck"], "{dry}");
    let (code, done, out) = wh_ops(
        dir.path(),
        &moto,
        &["reenqueue"],
        &["--older-than", "15m", "--yes"],
        "",
    );
    assert_eq!((code, &done["done"]), (Some(0), &3.into()), "{out}");

    // On the queue, in the shape the processor reads, and marked ENQUEUED.
    let bodies = processing_messages(&sdk);
    let mut sent: Vec<&str> = bodies
        .iter()
        .map(|b| b["webhookId"].as_str().unwrap())
        .collect();
    sent.sort();
    assert_eq!(sent, ["dead", "lost", "stuck"], "{bodies:?}");
    assert!(bodies.iter().all(|b| b["provider"] == "stripe"));
    for id in ["stuck", "lost", "dead"] {
        let r = block_on(store.get(id)).unwrap().unwrap();
        assert_eq!((r.status, r.attempts), (Status::Enqueued, 0), "{id}");
        assert!(
            r.enqueued_at.unwrap() > ago_minutes(1),
            "{id}: enqueued just now"
        );
    }
    assert_eq!(
        block_on(store.get("failed-lately"))
            .unwrap()
            .unwrap()
            .status,
        Status::Failed,
        "its DLQ message is still there"
    );
    let (code, again, _) = wh_ops(dir.path(), &moto, &["reenqueue"], &["--yes"], "");
    assert_eq!((code, &again["done"]), (Some(0), &0.into()), "{again}");

    // The messages the test received above are in flight.
    let (_, h, _) = wh_ops(dir.path(), &moto, &["status"], &[], "");
    assert_eq!(
        (&h["queue"], &h["stuck"], &h["webhooks"]["ENQUEUED"]),
        (&serde_json::json!([0, 3]), &0.into(), &4.into()),
        "{h}"
    );
}

#[test]
fn processed_events_are_replayed_to_the_bus() {
    let moto = moto::Moto::start();
    let (dir, sdk) = deployed(&moto);
    let store = DynamoStore::new(&sdk, "shop-webhooks-test");
    block_on(async {
        for (id, age) in [("old", 48), ("in-range", 2)] {
            store
                .insert_new(&record(id, time::Duration::hours(age)))
                .await
                .unwrap();
            store.mark_processed(id, 1, 0).await.unwrap();
        }
        store
            .insert_new(&record("unprocessed", time::Duration::hours(2)))
            .await
            .unwrap();
    });
    // A consumer: a rule on the stack's bus delivering to a queue.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let sink = block_on(async {
        let url = sqs
            .create_queue()
            .queue_name("consumer")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        events
            .put_rule()
            .name("consumer")
            .event_bus_name("shop-events-test")
            .event_pattern(r#"{"source":["stripe"]}"#)
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule("consumer")
            .event_bus_name("shop-events-test")
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn("arn:aws:sqs:eu-west-1:123456789012:consumer")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        url
    });
    let from = (OffsetDateTime::now_utc() - time::Duration::hours(24))
        .format(&Rfc3339)
        .unwrap();
    let (code, done, out) = wh_ops(
        dir.path(),
        &moto,
        &["replay"],
        &["--from", &from, "--yes"],
        "",
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        (&done["found"], &done["done"]),
        (&serde_json::json!(["in-range"]), &1.into()),
        "{done}"
    );
    let got = block_on(
        sqs.receive_message()
            .queue_url(&sink)
            .max_number_of_messages(10)
            .send(),
    )
    .unwrap();
    let delivered: Vec<Value> = got
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(
        delivered[0]["detail-type"], "charge.refunded",
        "{delivered:?}"
    );
    assert_eq!(
        delivered[0]["detail"]["webhookId"], "in-range",
        "{delivered:?}"
    );
}

#[test]
fn reconcile_reads_and_writes_a_deployed_stack() {
    let moto = moto::Moto::start();
    let spec = common::edit(&[(
        "    scheme: stripe",
        "    scheme: stripe\n  github:\n    scheme: github",
    )]);
    let dir = workdir(&spec);
    for step in [&["bootstrap"][..], &["deploy"][..]] {
        let o = aws_stack::wh(dir.path(), &moto, step);
        assert!(o.status.success(), "{}", text(&o));
    }
    let sdk = block_on(sdk(&moto));
    let store = DynamoStore::new(&sdk, "shop-webhooks-test");
    // What the stack stored: one GitHub delivery and one Stripe event.
    block_on(async {
        for (provider, event) in [("github", "d-stored"), ("stripe", "evt_stored")] {
            let mut r = record(event, time::Duration::hours(1));
            r.webhook_id = wh_runtime::model::webhook_id(provider, event);
            r.provider = provider.into();
            r.event_id = event.into();
            store.insert_new(&r).await.unwrap();
        }
    });
    // The fakes serve on their own runtime while the real `wh` runs.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut gh = provider_fakes::Github {
        token: "ghp_right".into(),
        deliveries: vec![],
        payloads: Default::default(),
        attempts: vec![],
        target: None,
        secret: "s".into(),
    };
    gh.delivered(21, "d-stored", 1, 200);
    gh.delivered(22, "d-missed", 2, 503);
    let github = rt.block_on(provider_fakes::github(gh));
    let mut st = provider_fakes::Stripe {
        key: "sk_test_right".into(),
        endpoint: ("we_1".into(), vec!["*".into()]),
        events: vec![],
        queries: vec![],
    };
    st.event("evt_stored", "payment_intent.succeeded", "pi_1", 1);
    st.event("evt_missed", "charge.refunded", "pi_1", 2);
    let stripe = rt.block_on(provider_fakes::stripe(st));

    let run = |args: &[&str], env: (&str, &str), api: (&str, &str)| {
        let o = Command::new(env!("CARGO_BIN_EXE_wh"))
            .current_dir(dir.path())
            .args(["reconcile", "spec.yaml"])
            .args(args)
            .args(["--endpoint-url", &moto.url, "--output-format", "json"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env(env.0, env.1)
            .env(api.0, api.1)
            .output()
            .unwrap();
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (o.status.code(), doc, text(&o))
    };
    let (code, doc, out) = run(
        &["stripe", "--since", "72h", "--endpoint", "we_1"],
        ("STRIPE_API_KEY", "sk_test_right"),
        ("WH_STRIPE_API_URL", &stripe.url),
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        (&doc["already_stored"], &doc["recovered"]),
        (&1.into(), &1.into()),
        "{out}"
    );
    let ingested = block_on(store.get(&wh_runtime::model::webhook_id("stripe", "evt_missed")))
        .unwrap()
        .expect("stored in the deployed table");
    assert_eq!(ingested.status, Status::Enqueued);
    assert!(
        ingested
            .fetched_from
            .as_deref()
            .is_some_and(|f| f.starts_with("stripe GET /v1/events")),
        "{ingested:?}"
    );
    let sent = processing_messages(&sdk);
    assert_eq!(sent.len(), 1, "enqueued for the processor: {sent:?}");
    assert_eq!(
        sent[0]["webhookId"],
        wh_runtime::model::webhook_id("stripe", "evt_missed").as_str()
    );

    let (code, _, out) = run(
        &[
            "github",
            "--since",
            "2d",
            "--hook",
            "repos/acme/payments/hooks/1",
        ],
        ("GITHUB_TOKEN", "ghp_right"),
        ("WH_GITHUB_API_URL", &github.url),
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        github.state.lock().unwrap().attempts,
        [22],
        "only the delivery the table does not have: {out}"
    );
    drop((github, stripe));
}
