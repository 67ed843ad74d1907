//! `wh dev`, the real binary on 127.0.0.1: API Gateway's answers, the stage throttle, WAF's
//! per-IP rule with exempt networks, the queue with retries and DLQ under injected failures,
//! `wh send`, and a graceful stop. Limits are scaled down to fit a 2-core machine.

mod common;

use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use wh_runtime::verify::{Scheme, sign};

const SECRET: &str = "whsec_ZGV2LXRlc3Qtc2VjcmV0";

type Dev = common::dev_process::DevProcess;

/// `wh dev` on `spec`, with a known stripe secret in a secrets file.
fn start(spec: &str, args: &[&str]) -> Dev {
    let dir = tempfile::tempdir().unwrap();
    let secrets = serde_json::json!({ "stripe": { "current": SECRET, "previous": null, "previous_expires_at": null } });
    std::fs::write(dir.path().join("secrets.json"), secrets.to_string()).unwrap();
    let mut all = vec!["--secrets-file", "secrets.json"];
    all.extend_from_slice(args);
    Dev::start_in(dir, spec, &all)
}

fn spec(limits: &str, extra: &str) -> String {
    format!(
        "name: shop\nsuffix: test\nregion: eu-west-1\nlifecycle: ephemeral\nproviders:\n  stripe:\n    scheme: stripe\nlimits:\n{limits}  max_payload: 64KiB\n\
         concurrency:\n  receiver:\n    reserved: 100\n    expected_duration: 10ms\n  processor:\n    reserved: 2\n    timeout: 1s\n    batch_size: 10\n    batching_window: 0s\n  audit:\n    reserved: 2\n{extra}"
    )
}

fn stripe_event(id: &str) -> Vec<u8> {
    format!(r#"{{"id":"{id}","type":"payment_intent.succeeded","data":{{"object":{{"id":"pi_{id}","amount":100,"currency":"eur"}}}}}}"#).into_bytes()
}

fn client(from: Option<&str>) -> reqwest::Client {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(ip) = from {
        b = b.local_address(ip.parse::<IpAddr>().unwrap());
    }
    b.build().unwrap()
}

async fn post(client: &reqwest::Client, url: &str, body: Vec<u8>, signed: bool) -> (u16, Value) {
    post_with(client, url, body, signed.then_some(SECRET)).await
}

/// Posts `body`, signed with `secret` when given.
async fn post_with(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    secret: Option<&str>,
) -> (u16, Value) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut request = client.post(url).body(body.clone());
    if let Some(secret) = secret {
        for (k, v) in sign(
            &Scheme::Stripe {
                tolerance_secs: 300,
            },
            secret,
            &body,
            now,
            "",
        )
        .unwrap()
        {
            request = request.header(k, v);
        }
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn status(c: &reqwest::Client, dev: &Dev) -> Value {
    c.get(format!("{}/_wh/status", dev.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls the status until `done` holds, at most `limit`.
async fn wait_for(
    c: &reqwest::Client,
    dev: &Dev,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let s = status(c, dev).await;
        if done(&s) || started.elapsed() > limit {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const OPEN_LIMITS: &str =
    "  api_rate: 1000/s\n  api_burst: 2000\n  per_ip_rate: 100/s\n  per_ip_window: 1m\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_match_a_deployed_rest_api() {
    let dev = start(&spec(OPEN_LIMITS, ""), &[]);
    let c = client(None);
    let hook = format!("{}/live/webhook/stripe", dev.url);
    let missing = c
        .post(format!("{}/nothing/here", dev.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 403);
    assert_eq!(
        missing.text().await.unwrap(),
        r#"{"message":"Missing Authentication Token"}"#
    );
    assert_eq!(
        c.get(&hook).send().await.unwrap().status().as_u16(),
        403,
        "GET has no route"
    );
    let (s, b) = post(
        &c,
        &format!("{}/live/webhook/paypal", dev.url),
        stripe_event("e0"),
        false,
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (404, Some("unknown provider")));
    assert_eq!(post(&c, &hook, stripe_event("e1"), false).await.0, 401);
    assert_eq!(post(&c, &hook, b"not json".to_vec(), true).await.0, 400);
    assert_eq!(post(&c, &hook, vec![b'x'; 70 * 1024], true).await.0, 413);
    let (s, b) = post(&c, &hook, stripe_event("e2"), true).await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = post(
        &c,
        &format!("{}/webhook/stripe", dev.url),
        stripe_event("e3"),
        true,
    )
    .await;
    assert_eq!(s, 200, "also without the stage prefix");
    // Per webhook: stored, enqueued, processed, and its payment object's state: 8 changes.
    let s = wait_for(&c, &dev, Duration::from_secs(10), |s| {
        s["webhooks"]["PROCESSED"] == 2 && s["audit_records"] == 8
    })
    .await;
    assert_eq!(s["webhooks"]["PROCESSED"], 2, "{s}");
    assert_eq!(s["events_published"], 2);
    assert_eq!(
        s["audit_records"], 8,
        "every change reached the audit logger: {s}"
    );
    assert_eq!(s["answers"]["403"], 2);

    // A repeated signature header counts by its first value, as the Lambda glue reads
    // API Gateway's multiValueHeaders (runtime/tests/lambda_events.rs).
    let body = stripe_event("e4");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let scheme = Scheme::Stripe {
        tolerance_secs: 300,
    };
    let good = sign(&scheme, SECRET, &body, now, "").unwrap()[0].1.clone();
    let bad = format!("t={now},v1={}", "0".repeat(64));
    for (first, second, want) in [(&bad, &good, 401), (&good, &bad, 200)] {
        let answer = c
            .post(&hook)
            .header("Stripe-Signature", first)
            .header("Stripe-Signature", second)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), want, "first {first}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_throttle_is_a_token_bucket() {
    let dev = start(
        &spec(
            "  api_rate: 20/s\n  api_burst: 5\n  per_ip_rate: 10/s\n  per_ip_window: 1m\n",
            "",
        ),
        &[],
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let c = client(Some(&format!("127.0.1.{}", 1 + i % 30)));
        let url = format!("{}/live/webhook/stripe", dev.url);
        tasks.push(tokio::spawn(async move {
            post(&c, &url, stripe_event(&format!("t{i}")), true).await
        }));
    }
    let mut ok = 0;
    let mut throttled = 0;
    for t in tasks {
        let (s, b) = t.await.unwrap();
        match s {
            200 => ok += 1,
            429 => {
                assert_eq!(b, serde_json::json!({ "message": "Too Many Requests" }));
                throttled += 1;
            }
            other => panic!("unexpected {other} {b}"),
        }
    }
    let allowed = 5.0 + 20.0 * started.elapsed().as_secs_f64();
    assert!(
        f64::from(ok) <= allowed.ceil(),
        "{ok} accepted, the bucket allows {allowed:.1}"
    );
    assert!(
        throttled >= 40 - allowed.ceil() as i32,
        "{throttled} throttled"
    );
    assert_eq!(status(&client(None), &dev).await["throttled"], throttled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waf_rule_blocks_one_address_over_its_limit_and_spares_exempt_ones() {
    let limits = "  api_rate: 1000/s\n  api_burst: 2000\n  per_ip_rate: 10/m\n  per_ip_window: 1m\n  exempt_cidrs: [127.0.9.0/24]\n";
    let dev = start(&spec(limits, ""), &[]);
    let url = format!("{}/live/webhook/stripe", dev.url);
    let noisy = client(Some("127.0.2.1"));
    let mut answers = Vec::new();
    for i in 0..12 {
        answers.push(post(&noisy, &url, stripe_event(&format!("w{i}")), true).await);
    }
    assert!(
        answers[..10].iter().all(|(s, _)| *s == 200),
        "the first 10 in the window pass"
    );
    assert_eq!(
        answers[10],
        (403, serde_json::json!({ "message": "Forbidden" }))
    );
    assert_eq!(
        post(
            &client(Some("127.0.2.2")),
            &url,
            stripe_event("other"),
            true
        )
        .await
        .0,
        200,
        "other addresses are served"
    );
    let exempt = client(Some("127.0.9.5"));
    for i in 0..15 {
        assert_eq!(
            post(&exempt, &url, stripe_event(&format!("x{i}")), true)
                .await
                .0,
            200,
            "exempt networks are not counted"
        );
    }
    assert_eq!(status(&client(None), &dev).await["blocked"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_30_percent_processor_failures_every_acknowledged_webhook_ends_processed_or_in_the_dlq()
 {
    let dev = start(
        &spec(OPEN_LIMITS, ""),
        &["--fail-processor", "0.3", "--time-scale", "30"],
    );
    let c = client(None);
    let url = format!("{}/live/webhook/stripe", dev.url);
    let mut acknowledged = std::collections::BTreeSet::new();
    for i in 0..40 {
        let (s, b) = post(&c, &url, stripe_event(&format!("f{i}")), true).await;
        assert_eq!(s, 200, "{b}");
        acknowledged.insert(b["webhookId"].as_str().unwrap().to_owned());
    }
    for i in 0..10 {
        let (s, b) = post(&c, &url, stripe_event(&format!("f{i}")), true).await;
        assert_eq!((s, b["duplicate"].as_bool()), (200, Some(true)));
    }
    let n = acknowledged.len() as u64;
    let s = wait_for(&c, &dev, Duration::from_secs(60), |s| {
        let (processed, failed) = (
            s["webhooks"]["PROCESSED"].as_u64().unwrap(),
            s["webhooks"]["FAILED"].as_u64().unwrap(),
        );
        processed + failed == n
            && s["queue"]["queued"] == 0
            && s["dlq_depth"].as_u64() == Some(failed)
    })
    .await;
    let processed = s["webhooks"]["PROCESSED"].as_u64().unwrap();
    assert_eq!(
        processed + s["webhooks"]["FAILED"].as_u64().unwrap(),
        n,
        "{s}"
    );
    assert_eq!(
        s["dlq_depth"], s["webhooks"]["FAILED"],
        "every FAILED webhook is in the DLQ: {s}"
    );
    assert_eq!(
        s["events_published"].as_u64().unwrap(),
        processed,
        "duplicates were processed once: {s}"
    );
    assert_eq!(s["queue"]["queued"], 0);
}

#[test]
fn wh_send_signs_every_providers_sample_events() {
    let prod = std::fs::read_to_string(common::repo().join("specs/prod.yaml")).unwrap();
    let mut dev = Dev::start_in(tempfile::tempdir().unwrap(), &prod, &[]);
    assert!(
        dev.dir.path().join(".wh/dev-secrets/spec.json").is_file(),
        "secrets generated for the run"
    );
    // svix twice: with the standard's webhook-* headers, and with Svix's default svix-* ones.
    for (provider, extra) in [
        ("stripe", None),
        ("svix", None),
        ("svix", Some("--svix-headers")),
        ("github", None),
        ("shopify", None),
        ("square", None),
        ("acme", None),
    ] {
        let target = format!("{}/live", dev.url);
        let mut args = vec![
            "send",
            "spec.yaml",
            provider,
            "--count",
            "2",
            "--target",
            &target,
        ];
        args.extend(extra);
        let o = Command::new(env!("CARGO_BIN_EXE_wh"))
            .current_dir(dev.dir.path())
            .args(&args)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{provider}: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            out.lines().filter(|l| l.starts_with("200 ")).count(),
            2,
            "{provider}: {out}"
        );
    }
    let (code, rest) = dev.interrupt();
    assert_eq!(code, Some(0));
    assert!(rest.contains("wh dev: stopped"), "{rest}");
}

#[test]
fn only_loopback_addresses_are_served() {
    let o = common::run(&["dev", "specs/dev.yaml", "--bind", "0.0.0.0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a loopback address"));
}

#[test]
fn a_time_scale_out_of_range_is_refused_not_a_panic() {
    for scale in ["1e300", "1e-300", "0", "NaN", "inf"] {
        let o = common::run(&["dev", "specs/dev.yaml", "--time-scale", scale]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{scale}: {err}");
        assert!(
            err.contains("give a factor from 0.001 to 1000"),
            "{scale}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_finishes_and_reports_the_queue() {
    let mut dev = start(&spec(OPEN_LIMITS, ""), &[]);
    let c = client(None);
    assert_eq!(
        post(
            &c,
            &format!("{}/live/webhook/stripe", dev.url),
            stripe_event("g1"),
            true
        )
        .await
        .0,
        200
    );
    let (code, rest) = dev.interrupt();
    assert_eq!(code, Some(0));
    assert!(
        rest.contains("wh dev: stopped; the queue is drained"),
        "{rest}"
    );
    assert!(dev.dir.path().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_always_fails_ends_failed_in_the_dlq_and_can_be_redriven() {
    let dev = start(
        &spec(OPEN_LIMITS, ""),
        &["--fail-processor", "1", "--time-scale", "60"],
    );
    let c = client(None);
    for i in 0..3 {
        assert_eq!(
            post(
                &c,
                &format!("{}/live/webhook/stripe", dev.url),
                stripe_event(&format!("d{i}")),
                true
            )
            .await
            .0,
            200
        );
    }
    let s = wait_for(&c, &dev, Duration::from_secs(30), |s| s["dlq_depth"] == 3).await;
    assert_eq!(
        (s["dlq_depth"].as_u64(), s["webhooks"]["FAILED"].as_u64()),
        (Some(3), Some(3)),
        "{s}"
    );
    assert_eq!(s["events_published"], 0);
    let moved: Value = c
        .post(format!("{}/_wh/redrive", dev.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(moved["moved"], 3);
}

#[test]
fn wh_status_reads_a_running_dev_stack() {
    let dev = start(&spec(OPEN_LIMITS, ""), &[]);
    let o = Command::new(env!("CARGO_BIN_EXE_wh"))
        .current_dir(dev.dir.path())
        .args(["status", "spec.yaml", "--target", &dev.url])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("webhooks:  0 RECEIVED, 0 ENQUEUED, 0 PROCESSED, 0 FAILED"),
        "{out}"
    );
    assert!(
        out.contains("gateway:   0 throttled (429), 0 blocked by WAF (403)"),
        "{out}"
    );
}

/// Runs `wh <args> spec.yaml --target <dev> --output-format json [extra]` in the dev's
/// directory with `stdin` piped in; returns the exit code and the JSON it printed.
fn wh_ops(dev: &Dev, args: &[&str], extra: &[&str], stdin: &str) -> (Option<i32>, Value) {
    let o = common::run_with_stdin(
        Command::new(env!("CARGO_BIN_EXE_wh"))
            .current_dir(dev.dir.path())
            .args(args)
            .args(["spec.yaml", "--target", &dev.url, "--output-format", "json"])
            .args(extra),
        stdin,
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let doc = serde_json::from_str(&out)
        .unwrap_or_else(|_| Value::String(format!("{out}{}", String::from_utf8_lossy(&o.stderr))));
    (o.status.code(), doc)
}

async fn set_faults(c: &reqwest::Client, dev: &Dev, query: &str) {
    let r = c
        .put(format!("{}/_wh/faults?{query}", dev.url))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recovery_path_fail_dlq_mend_redrive_processed() {
    let dev = start(
        &spec(OPEN_LIMITS, ""),
        &["--fail-processor", "1", "--time-scale", "60"],
    );
    let c = client(None);
    let url = format!("{}/live/webhook/stripe", dev.url);
    for i in 0..3 {
        assert_eq!(
            post(&c, &url, stripe_event(&format!("r{i}")), true).await.0,
            200
        );
    }
    let s = wait_for(&c, &dev, Duration::from_secs(30), |s| s["dlq_depth"] == 3).await;
    assert_eq!(s["webhooks"]["FAILED"], 3, "{s}");

    // A dry run counts and moves nothing; without --yes and a terminal nothing moves either.
    let (code, dry) = wh_ops(&dev, &["redrive"], &["--dry-run"], "");
    assert_eq!(
        (code, &dry["dlq"], &dry["moved"]),
        (Some(0), &3.into(), &0.into()),
        "{dry}"
    );
    let (code, refused) = wh_ops(&dev, &["redrive"], &[], "");
    assert_eq!(code, Some(1), "{refused}");
    assert_eq!(status(&c, &dev).await["dlq_depth"], 3);

    // The consumer is mended; the redrive brings every message back and they are processed.
    set_faults(&c, &dev, "processor=0").await;
    let (code, moved) = wh_ops(&dev, &["redrive"], &["--yes"], "");
    assert_eq!((code, &moved["moved"]), (Some(0), &3.into()), "{moved}");
    let s = wait_for(&c, &dev, Duration::from_secs(30), |s| {
        s["webhooks"]["PROCESSED"] == 3 && s["dlq_depth"] == 0
    })
    .await;
    assert_eq!(
        (
            &s["webhooks"]["PROCESSED"],
            &s["webhooks"]["FAILED"],
            &s["dlq_depth"],
            &s["events_published"]
        ),
        (&3.into(), &0.into(), &0.into(), &3.into()),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_stored_but_never_enqueued_are_reenqueued_once() {
    let dev = start(&spec(OPEN_LIMITS, ""), &["--fail-enqueue", "1"]);
    let c = client(None);
    let url = format!("{}/live/webhook/stripe", dev.url);
    for i in 0..2 {
        // Stored, not enqueued: 503, so the provider retries ... until it gives up.
        assert_eq!(
            post(&c, &url, stripe_event(&format!("s{i}")), true).await.0,
            503
        );
    }
    set_faults(&c, &dev, "enqueue=0").await;
    let s = status(&c, &dev).await;
    assert_eq!(s["webhooks"]["RECEIVED"], 2, "{s}");

    // Not yet old enough: nothing to do.
    let (code, none) = wh_ops(&dev, &["reenqueue"], &["--older-than", "1h", "--yes"], "");
    assert_eq!(
        (code, none["found"].as_array().map(Vec::len)),
        (Some(0), Some(0)),
        "{none}"
    );
    let (code, done) = wh_ops(&dev, &["reenqueue"], &["--older-than", "0s", "--yes"], "");
    assert_eq!((code, &done["done"]), (Some(0), &2.into()), "{done}");
    let s = wait_for(&c, &dev, Duration::from_secs(30), |s| {
        s["webhooks"]["PROCESSED"] == 2
    })
    .await;
    assert_eq!(
        (&s["webhooks"]["PROCESSED"], &s["events_published"]),
        (&2.into(), &2.into()),
        "{s}"
    );
    // Twice does no harm.
    let (code, again) = wh_ops(&dev, &["reenqueue"], &["--older-than", "0s", "--yes"], "");
    assert_eq!((code, &again["done"]), (Some(0), &0.into()), "{again}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status(&c, &dev).await["events_published"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processed_events_of_a_time_range_are_published_again() {
    let dev = start(&spec(OPEN_LIMITS, ""), &[]);
    let c = client(None);
    let url = format!("{}/live/webhook/stripe", dev.url);
    let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(5);
    for i in 0..2 {
        assert_eq!(
            post(&c, &url, stripe_event(&format!("p{i}")), true).await.0,
            200
        );
    }
    wait_for(&c, &dev, Duration::from_secs(30), |s| {
        s["webhooks"]["PROCESSED"] == 2
    })
    .await;
    let from = before
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (code, dry) = wh_ops(&dev, &["replay"], &["--from", &from, "--dry-run"], "");
    assert_eq!(
        (code, dry["found"].as_array().map(Vec::len)),
        (Some(0), Some(2)),
        "{dry}"
    );
    let (code, r) = wh_ops(
        &dev,
        &["replay"],
        &["--from", &from, "--provider", "stripe", "--yes"],
        "",
    );
    assert_eq!((code, &r["done"]), (Some(0), &2.into()), "{r}");
    assert_eq!(status(&c, &dev).await["events_published"], 4);
    let (code, bad) = wh_ops(&dev, &["replay"], &["--from", "yesterday"], "");
    assert_eq!(code, Some(2), "{bad}");
    assert!(bad.as_str().unwrap().contains("RFC 3339"), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_keeps_the_old_one_for_the_overlap_and_put_ends_it() {
    let dev = start(&spec(OPEN_LIMITS, ""), &[]);
    let c = client(None);
    let url = format!("{}/live/webhook/stripe", dev.url);
    let next = "whsec_bmV4dC1zZWNyZXQ";
    let (code, out) = wh_ops(
        &dev,
        &["secrets", "rotate"],
        &["stripe", "--overlap", "1h", "--yes"],
        &format!("{next}\n"),
    );
    assert_eq!(code, Some(0), "{out}");
    let until = time::OffsetDateTime::parse(
        out["previous_expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = until - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::minutes(59) && left <= time::Duration::HOUR,
        "{left}"
    );
    // Both secrets are accepted during the overlap; the file wh send reads has the new one.
    assert_eq!(
        post_with(&c, &url, stripe_event("k1"), Some(SECRET))
            .await
            .0,
        200
    );
    assert_eq!(
        post_with(&c, &url, stripe_event("k2"), Some(next)).await.0,
        200
    );
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(dev.dir.path().join("secrets.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (&file["stripe"]["current"], &file["stripe"]["previous"]),
        (&next.into(), &SECRET.into())
    );
    // The secret itself is never printed.
    assert!(!out.to_string().contains(next), "{out}");

    // `put` replaces everything: the old secrets stop at once.
    let third = "whsec_dGhpcmQtc2VjcmV0";
    let (code, out) = wh_ops(&dev, &["secrets", "put"], &["stripe", "--yes"], third);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        post_with(&c, &url, stripe_event("k3"), Some(next)).await.0,
        401
    );
    assert_eq!(
        post_with(&c, &url, stripe_event("k4"), Some(third)).await.0,
        200
    );

    // A provider the spec does not have, and a secret with a space in it, are refused.
    let (code, out) = wh_ops(&dev, &["secrets", "put"], &["github", "--yes"], third);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.as_str()
            .unwrap()
            .contains("no provider `github`; it has stripe"),
        "{out}"
    );
    let (code, out) = wh_ops(&dev, &["secrets", "put"], &["stripe", "--yes"], "two words");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.as_str().unwrap().contains("whitespace"), "{out}");
}

/// Sends `head` (and `body`, ignoring a server that stops reading) on a raw connection and
/// returns the first line and the rest of the answer.
fn raw(url: &str, head: impl AsRef<[u8]>, body: &[u8]) -> (String, String) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let _ = s.write_all(head.as_ref());
    for chunk in body.chunks(8192) {
        if s.write_all(chunk).is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let mut buf = [0_u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        // Done once the head and as many body bytes as it declares have come.
        let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if answer.len() >= end + 4 + length {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (first, rest) = text.split_once("\r\n").unwrap_or((&text, ""));
    (first.to_owned(), rest.to_owned())
}

#[test]
fn hostile_requests_get_their_4xx_without_the_server_reading_them_whole() {
    let dev = start(&spec(OPEN_LIMITS, ""), &[]);
    // A declared 100 MiB body (the spec allows 64KiB): answered before it is sent.
    let (status, rest) = raw(
        &dev.url,
        "POST /live/webhook/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n",
        &[b'{'; 1024],
    );
    assert!(status.starts_with("HTTP/1.1 413"), "{status}\n{rest}");
    assert!(rest.contains(r#""limit_bytes":65536"#), "{rest}");
    // A chunked body of no declared length: answered once it passes the limit.
    let mut chunked = Vec::new();
    for _ in 0..12 {
        chunked.extend_from_slice(format!("{:x}\r\n", 8192).as_bytes());
        chunked.extend_from_slice(&[b'x'; 8192]);
        chunked.extend_from_slice(b"\r\n");
    }
    let (status, rest) = raw(
        &dev.url,
        "POST /live/webhook/stripe HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        &chunked,
    );
    assert!(status.starts_with("HTTP/1.1 413"), "{status}\n{rest}");
    // Many headers, or one huge header.
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (status, _) = raw(
        &dev.url,
        format!("POST /live/webhook/stripe HTTP/1.1\r\nHost: x\r\n{many}Content-Length: 0\r\n\r\n"),
        b"",
    );
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");
    let huge = format!("X-Big: {}\r\n", "a".repeat(1024 * 1024));
    let (status, _) = raw(
        &dev.url,
        format!("POST /live/webhook/stripe HTTP/1.1\r\nHost: x\r\n{huge}Content-Length: 0\r\n\r\n"),
        b"",
    );
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");
    // Invalid UTF-8 in the path and in a header: a 4xx, never a 2xx or 5xx.
    for head in [
        &b"POST /live/webhook/\xff\xfe HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"[..],
        &b"POST /live/webhook/stripe HTTP/1.1\r\nHost: x\r\nStripe-Signature: \xff\xfe\r\nContent-Length: 2\r\n\r\n{}"[..],
    ] {
        let (status, _) = raw(&dev.url, head, b"");
        let code: u16 = status.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        assert!((400..500).contains(&code), "{status}");
    }
    let (status, _) = raw(
        &dev.url,
        "POST /live/webhook/%FF%FE HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"",
    );
    assert!(
        status.starts_with("HTTP/1.1 404"),
        "an unknown provider: {status}"
    );
    // And the server still serves.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (s, _) = rt.block_on(post(
        &client(None),
        &format!("{}/live/webhook/stripe", dev.url),
        stripe_event("after-the-storm"),
        true,
    ));
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_answered_408_and_closed_while_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dev = start(&spec(OPEN_LIMITS, ""), &["--body-timeout", "500ms"]);
    let addr = dev.url.trim_start_matches("http://").to_owned();
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(
            b"POST /live/webhook/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"id\":",
        )
        .await
        .unwrap();
    // Served meanwhile.
    let (s, _) = post(
        &client(None),
        &format!("{}/live/webhook/stripe", dev.url),
        stripe_event("while-one-stalls"),
        true,
    )
    .await;
    assert_eq!(s, 200);
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stalled.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the stalled connection was closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        common::run(&["dev", "specs/dev.yaml", "--body-timeout", "10m"])
            .status
            .code()
            == Some(2),
        "out of range"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_head_is_closed_after_the_header_timeout_while_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dev = start(&spec(OPEN_LIMITS, ""), &["--header-timeout", "500ms"]);
    let addr = dev.url.trim_start_matches("http://").to_owned();
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // Half a head: no blank line ends it.
    stalled
        .write_all(b"POST /live/webhook/stripe HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .await
        .unwrap();
    let (s, _) = post(
        &client(None),
        &format!("{}/live/webhook/stripe", dev.url),
        stripe_event("while-a-head-stalls"),
        true,
    )
    .await;
    assert_eq!(s, 200, "others are served");
    // The server ends the connection (an end of stream, or a reset), and answers nothing a
    // client could take for a status.
    let mut answer = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the stalled connection was not closed");
    assert!(
        !String::from_utf8_lossy(&answer).contains(" 200 "),
        "{answer:?}"
    );
    // Out of range (100ms to 5m) is a usage error.
    assert_eq!(
        common::run(&["dev", "specs/dev.yaml", "--header-timeout", "10m"])
            .status
            .code(),
        Some(2)
    );
}
