//! `wh reconcile`, the real binary, against fakes of GitHub's and Stripe's APIs on 127.0.0.1
//! (`common/provider_fakes.rs`: the documented shapes and pagination) with `wh dev` as the
//! stack: missing deliveries are recovered, stored ones are not duplicated, `--dry-run`
//! changes nothing, a GitHub delivery older than 3 days is reported, bad and missing tokens
//! are clear errors. The deployed read and write path runs on moto in `ops.rs`.

mod common;

#[path = "common/provider_fakes.rs"]
mod provider_fakes;

use std::process::Output;
use std::time::Duration;

use provider_fakes::{Github, Stripe};
use serde_json::Value;
use wh_runtime::model::webhook_id;

const GITHUB_SECRET: &str = "gh-hook-secret-for-tests";
const STRIPE_SECRET: &str = "whsec_cmVjb25jaWxlLXRlc3Q=";
const TOKEN: &str = "ghp_right";
const KEY: &str = "sk_test_right0000000000";

const SPEC: &str = "name: shop\nsuffix: test\nregion: eu-west-1\nlifecycle: ephemeral\nproviders:\n  stripe:\n    scheme: stripe\n  github:\n    scheme: github\nlimits:\n  api_rate: 100/s\n  api_burst: 200\n  per_ip_rate: 50/s\n  per_ip_window: 1m\n  max_payload: 64KiB\n\
    concurrency:\n  receiver:\n    reserved: 10\n    expected_duration: 50ms\n  processor:\n    reserved: 2\n    batch_size: 10\n    batching_window: 0s\n  audit:\n    reserved: 2\n";

fn dev() -> common::dev_process::DevProcess {
    let dir = tempfile::tempdir().unwrap();
    let secrets = serde_json::json!({
        "stripe": { "current": STRIPE_SECRET, "previous": null, "previous_expires_at": null },
        "github": { "current": GITHUB_SECRET, "previous": null, "previous_expires_at": null },
    });
    std::fs::write(dir.path().join("secrets.json"), secrets.to_string()).unwrap();
    common::dev_process::DevProcess::start_in(dir, SPEC, &["--secrets-file", "secrets.json"])
}

/// `wh reconcile spec.yaml <args> --target <dev> --output-format json` with `env`, run off the
/// async runtime (the fakes serve on it meanwhile).
async fn reconcile(
    dev: &common::dev_process::DevProcess,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, Value, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wh"));
    cmd.current_dir(dev.dir.path())
        .args(["reconcile", "spec.yaml"])
        .args(args)
        .args(["--target", &dev.url, "--output-format", "json"])
        .env_remove("GITHUB_TOKEN")
        .env_remove("STRIPE_API_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o: Output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let doc = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code(), doc, text)
}

/// The status of each of `provider`'s events in `wh dev` (null: not stored), by event id.
async fn statuses(
    dev: &common::dev_process::DevProcess,
    provider: &str,
    events: &[&str],
) -> Vec<Value> {
    let ids: Vec<String> = events.iter().map(|e| webhook_id(provider, e)).collect();
    let doc: Value = reqwest::Client::new()
        .post(format!("{}/_wh/webhooks", dev.url))
        .json(&ids)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    doc["statuses"].as_array().unwrap().clone()
}

/// Which of `provider`'s events `wh dev` stored.
async fn stored(
    dev: &common::dev_process::DevProcess,
    provider: &str,
    events: &[&str],
) -> Vec<bool> {
    statuses(dev, provider, events)
        .await
        .iter()
        .map(|s| !s.is_null())
        .collect()
}

fn counts(doc: &Value, keys: &[&str]) -> Vec<u64> {
    keys.iter()
        .map(|k| doc[*k].as_u64().unwrap_or(u64::MAX))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_deliveries_the_stack_missed_are_redelivered_and_old_ones_reported() {
    let dev = dev();
    let mut gh = Github {
        token: TOKEN.into(),
        deliveries: vec![],
        payloads: Default::default(),
        attempts: vec![],
        target: Some(format!("{}/live/webhook/github", dev.url)),
        secret: GITHUB_SECRET.into(),
    };
    gh.delivered(11, "d-stored", 1, 200);
    gh.delivered(12, "d-refused", 2, 503);
    gh.delivered(13, "d-unreached", 3, 0);
    gh.delivered(14, "d-old", 4 * 24, 503);
    // The first was answered: it is in the stack.
    let (headers, body) = gh.delivery("d-stored");
    let mut post = reqwest::Client::new()
        .post(format!("{}/live/webhook/github", dev.url))
        .body(body);
    for (k, v) in headers {
        post = post.header(k, v);
    }
    assert_eq!(post.send().await.unwrap().status(), 200);
    let fake = provider_fakes::github(gh).await;
    let hook = [
        "github",
        "--since",
        "5d",
        "--hook",
        "repos/acme/payments/hooks/1",
    ];
    let api = ("WH_GITHUB_API_URL", fake.url.as_str());
    let all = ["d-stored", "d-refused", "d-unreached", "d-old"];

    let (code, _, out) = reconcile(&dev, &hook, &[api]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("GITHUB_TOKEN is not set"), "{out}");
    let (code, _, out) = reconcile(&dev, &hook, &[api, ("GITHUB_TOKEN", "ghp_wrong")]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("GitHub refused the token in GITHUB_TOKEN (HTTP 401: Bad credentials)"),
        "{out}"
    );
    let (code, _, out) = reconcile(
        &dev,
        &hook,
        &[
            ("WH_GITHUB_API_URL", "https://api.github.com.evil.example"),
            ("GITHUB_TOKEN", TOKEN),
        ],
    )
    .await;
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("only for tests and emulators"), "{out}");

    let token = ("GITHUB_TOKEN", TOKEN);
    let mut dry = hook.to_vec();
    dry.push("--dry-run");
    let (code, doc, out) = reconcile(&dev, &dry, &[api, token]).await;
    assert_eq!(code, Some(0), "{out}");
    let keys = ["found", "already_stored", "to_recover", "too_old", "failed"];
    assert_eq!(counts(&doc, &keys), [4, 1, 2, 1, 0], "{doc}");
    assert!(
        fake.state.lock().unwrap().attempts.is_empty(),
        "a dry run requests nothing"
    );
    assert_eq!(
        stored(&dev, "github", &all).await,
        [true, false, false, false]
    );

    let (code, doc, out) = reconcile(&dev, &hook, &[api, token]).await;
    assert_eq!(code, Some(0), "{out}");
    let keys = ["found", "already_stored", "recovered", "too_old", "failed"];
    assert_eq!(counts(&doc, &keys), [4, 1, 2, 1, 0], "{doc}");
    let old = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "d-old")
        .unwrap();
    assert_eq!(old["verdict"], "too_old", "{doc}");
    let mut attempts = fake.state.lock().unwrap().attempts.clone();
    attempts.sort_unstable();
    assert_eq!(attempts, [12, 13], "each missed event redelivered once");
    // GitHub sent them again, signed: the stack has them now, and not the too-old one.
    assert_eq!(
        stored(&dev, "github", &all).await,
        [true, true, true, false]
    );

    // Nothing left to do: the redeliveries were answered 2xx and are stored.
    let (code, doc, out) = reconcile(&dev, &hook, &[api, token]).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(counts(&doc, &keys), [4, 3, 0, 1, 0], "{doc}");
    assert_eq!(fake.state.lock().unwrap().attempts.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_events_the_stack_missed_are_ingested_once() {
    let dev = dev();
    let mut st = Stripe {
        key: KEY.into(),
        endpoint: (
            "we_1PwhRUN1xQ9bX0aGendpoint".into(),
            vec!["payment_intent.succeeded".into(), "charge.refunded".into()],
        ),
        events: vec![],
        queries: vec![],
    };
    st.event("evt_stored", "payment_intent.succeeded", "pi_1", 1);
    st.event("evt_missed", "charge.refunded", "pi_1", 2);
    st.event("evt_other_type", "customer.created", "cus_1", 3);
    st.event("evt_missed_too", "payment_intent.succeeded", "pi_2", 5);
    st.event(
        "evt_before_the_window",
        "payment_intent.succeeded",
        "pi_3",
        80,
    );
    // The first was delivered, signed, and stored.
    let stored_body = serde_json::to_vec(&st.events[0]).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut post = reqwest::Client::new()
        .post(format!("{}/live/webhook/stripe", dev.url))
        .body(stored_body.clone());
    for (k, v) in wh_runtime::verify::sign(
        &wh_runtime::verify::Scheme::Stripe {
            tolerance_secs: 300,
        },
        STRIPE_SECRET,
        &stored_body,
        now,
        "",
    )
    .unwrap()
    {
        post = post.header(k, v);
    }
    assert_eq!(post.send().await.unwrap().status(), 200);
    let fake = provider_fakes::stripe(st).await;
    let args = [
        "stripe",
        "--since",
        "72h",
        "--endpoint",
        "we_1PwhRUN1xQ9bX0aGendpoint",
    ];
    let api = ("WH_STRIPE_API_URL", fake.url.as_str());
    let all = [
        "evt_stored",
        "evt_missed",
        "evt_missed_too",
        "evt_other_type",
    ];

    let (code, _, out) = reconcile(&dev, &args, &[api, ("STRIPE_API_KEY", "sk_test_oops")]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("Stripe refused the token in STRIPE_API_KEY (HTTP 401: Invalid API Key provided: sk_test_****oops)"),
        "{out}"
    );
    let key = ("STRIPE_API_KEY", KEY);
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let (code, doc, out) = reconcile(&dev, &dry, &[api, key]).await;
    assert_eq!(code, Some(0), "{out}");
    let keys = ["found", "already_stored", "to_recover", "too_old", "failed"];
    assert_eq!(counts(&doc, &keys), [3, 1, 2, 0, 0], "{doc}");
    assert_eq!(
        stored(&dev, "stripe", &all).await,
        [true, false, false, false]
    );
    {
        let s = fake.state.lock().unwrap();
        let q = &s.queries[0];
        assert_eq!(q.get("delivery_success").map(String::as_str), Some("false"));
        let gte: i64 = q["created[gte]"].parse().unwrap();
        assert!((gte - (now - 72 * 3600)).abs() < 120, "{q:?}");
        assert!(s.queries.len() >= 2, "crossed a page: {:?}", s.queries);
    }

    let (code, doc, out) = reconcile(&dev, &args, &[api, key]).await;
    assert_eq!(code, Some(0), "{out}");
    let keys = ["found", "already_stored", "recovered", "too_old", "failed"];
    assert_eq!(counts(&doc, &keys), [3, 1, 2, 0, 0], "{doc}");
    assert_eq!(
        stored(&dev, "stripe", &all).await,
        [true, true, true, false],
        "the other endpoint's event type is not this stack's"
    );
    // Ingested events go the normal way: processed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = statuses(&dev, "stripe", &["evt_missed", "evt_missed_too"]).await;
        if now == ["PROCESSED", "PROCESSED"] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (code, doc, out) = reconcile(&dev, &args, &[api, key]).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(counts(&doc, &keys), [3, 3, 0, 0, 0], "stored once: {doc}");
}

#[test]
fn a_provider_reconcile_does_not_know_is_refused_with_what_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("spec.yaml"),
        SPEC.replace(
            "github:\n    scheme: github",
            "svix:\n    scheme: standard-webhooks",
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_wh"))
            .current_dir(dir.path())
            .args(["reconcile", "spec.yaml"])
            .args(args)
            .args(["--target", "http://127.0.0.1:9"])
            .output()
            .unwrap()
    };
    let o = run(&["svix", "--since", "1d"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("standard-webhooks scheme"));
    let o = run(&["stripe", "--since", "1d"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("give --endpoint we_"));
    let o = run(&["stripe", "--since", "0s", "--endpoint", "we_1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--since must be longer than 0s"));
}
