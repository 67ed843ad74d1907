//! `wh dev` throughput and latency (numbers in docs/testing.md; not a test). The load generator runs on the
//! same machine as the server:
//!  - with limits lifted (`--no-limits`), signed Stripe-style payloads from 64 connections (a
//!    reqwest client on two tokio workers) for
//!    10 s: accepted requests per second, and how long the pipeline (processor, audit) takes
//!    to finish them;
//!  - an open workload of 1,000 req/s for 10 s: latency percentiles, each measured from the
//!    request's scheduled start (so a slow server cannot hide its queueing).
//!
//! Run: `cargo bench -p wh --bench dev_pipeline` (release build of wh).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_YmVuY2gtcGlwZWxpbmU=";
const SPEC: &str = "name: bench\nsuffix: b\nregion: eu-west-1\nlifecycle: ephemeral\nproviders:\n  stripe:\n    scheme: stripe\n\
limits:\n  api_rate: 10000/s\n  api_burst: 5000\n  per_ip_rate: 10000/s\n  per_ip_window: 1m\n  max_payload: 64KiB\n\
concurrency:\n  receiver:\n    reserved: 100\n    expected_duration: 5ms\n  processor:\n    reserved: 2\n    batch_size: 10\n    batching_window: 0s\n  audit:\n    reserved: 2\n";

#[path = "common/webhook.rs"]
mod webhook;

/// Webhook `i`'s signature header and body.
fn signed(i: u64, now: i64) -> (String, Vec<u8>) {
    let (mut headers, body) = webhook::stripe(SECRET, i, now);
    (headers.remove(0).1, body)
}

#[path = "../tests/common/dev_process.rs"]
mod dev_process;

fn start(args: &[&str]) -> dev_process::DevProcess {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.json"),
        format!(r#"{{"stripe":{{"current":"{SECRET}"}}}}"#),
    )
    .unwrap();
    let mut all = vec!["--secrets-file", "s.json"];
    all.extend_from_slice(args);
    dev_process::DevProcess::start_in(dir, SPEC, &all)
}

async fn processed(client: &reqwest::Client, url: &str) -> u64 {
    let s: serde_json::Value = client
        .get(format!("{url}/_wh/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    s["webhooks"]["PROCESSED"].as_u64().unwrap_or(0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    // Throughput, limits lifted.
    let dev = start(&["--no-limits"]);
    let url = dev.url.clone();
    let requests: Arc<Vec<(String, Vec<u8>)>> =
        Arc::new((0..400_000).map(|i| signed(i, now)).collect());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let (accepted, elapsed) = rt.block_on(async {
        let next = Arc::new(AtomicU64::new(0));
        let ok = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(10);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let (client, url, requests, next, ok) = (
                client.clone(),
                url.clone(),
                requests.clone(),
                next.clone(),
                ok.clone(),
            );
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some((sig, body)) = requests.get(i) else {
                        break;
                    };
                    let r = client
                        .post(format!("{url}/webhook/stripe"))
                        .header("Stripe-Signature", sig)
                        .body(body.clone())
                        .send()
                        .await;
                    if r.is_ok_and(|r| r.status().as_u16() == 200) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        (ok.load(Ordering::Relaxed), started.elapsed())
    });
    let drain_started = Instant::now();
    rt.block_on(async {
        while processed(&client, &url).await < accepted
            && drain_started.elapsed() < Duration::from_secs(120)
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    println!(
        "wh dev --no-limits: {:.0} accepted req/s ({accepted} in {:.1} s, signed 2 KB Stripe bodies, 64 connections, load generator on the same 2 cores); processor finished them {:.1} s after the load stopped",
        accepted as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        drain_started.elapsed().as_secs_f64()
    );

    // Latency under an open workload of 1,000 req/s.
    drop(dev);
    let dev = start(&[]);
    let url = dev.url.clone();
    let latencies = rt.block_on(async {
        let client = reqwest::Client::new();
        let t0 = tokio::time::Instant::now() + Duration::from_millis(200);
        let mut tasks = Vec::new();
        for i in 0..10_000_u64 {
            let at = t0 + Duration::from_millis(i);
            let (client, url) = (client.clone(), url.clone());
            let (sig, body) = signed(1_000_000 + i, now);
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                let r = client
                    .post(format!("{url}/webhook/stripe"))
                    .header("Stripe-Signature", sig)
                    .body(body)
                    .send()
                    .await;
                let ok = r.is_ok_and(|r| r.status().as_u16() == 200);
                (ok, at.elapsed())
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            if let Ok((true, d)) = t.await {
                out.push(d);
            }
        }
        out
    });
    let mut l = latencies;
    l.sort();
    let p = |q: f64| l[((l.len() as f64 * q) as usize).min(l.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "wh dev at 1,000 req/s (open workload, 10 s, {} answered 200): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        l.len(),
        p(0.5),
        p(0.99),
        p(1.0)
    );
    drop(dev);
}
