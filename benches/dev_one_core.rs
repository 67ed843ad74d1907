//! `wh dev` on one core (numbers in docs/testing.md; not a test): `wh dev --no-limits` pinned to core 0, the
//! load generator pinned to core 1 (`taskset`), full-pipeline webhooks (receiver, queue,
//! processor, audit logger, bus) for 60 s.
//!
//! The generator is made light so it is not the limit: every webhook is a distinct Stripe
//! event of about 2 KB, signed before the clock starts; during the run one single-threaded
//! Tokio runtime keeps 64 keep-alive HTTP/1.1 connections busy (hyper's client connection, the
//! same HTTP stack the server uses), each sending the next prepared request as soon as the last
//! is answered. Its own ceiling is measured in the same run, against a trivial server (every
//! POST answered 200 at once) pinned to the server's core.
//!
//! Reported: accepted webhooks per second; the time for the processor and audit logger to
//! finish after the load stops; the largest queue depth seen (read each second); `wh dev`'s CPU
//! time per webhook (user + system, from /proc, over the run and the drain) and its peak
//! resident memory (VmHWM).
//!
//! Run: `cargo bench -p wh --bench dev_one_core` (release build; 2 cores). `WH_BENCH_SECS`
//! shortens the run (default 60); `WH_BENCH_DEV_ARGS` adds options to `wh dev`'s command line
//! (`--keep 100`: what retention costs).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;

const SECRET: &str = "whsec_YmVuY2gtb25lLWNvcmU=";
const CONNECTIONS: usize = 64;
const SPEC: &str = "name: bench\nsuffix: b\nregion: eu-west-1\nlifecycle: ephemeral\nproviders:\n  stripe:\n    scheme: stripe\n\
limits:\n  api_rate: 10000/s\n  api_burst: 5000\n  per_ip_rate: 10000/s\n  per_ip_window: 1m\n  max_payload: 64KiB\n\
concurrency:\n  receiver:\n    reserved: 100\n    expected_duration: 5ms\n  processor:\n    reserved: 2\n    batch_size: 10\n    batching_window: 0s\n  audit:\n    reserved: 2\n";

#[path = "common/webhook.rs"]
mod webhook;

#[path = "../tests/common/dev_process.rs"]
mod dev_process;

/// Pins thread or process `id` (all its threads with `all`) to `core`.
fn pin(id: &str, core: u32, all: bool) {
    let mut cmd = std::process::Command::new("taskset");
    if all {
        cmd.arg("-a");
    }
    let ok = cmd
        .args(["-p", "-c", &core.to_string(), id])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "taskset could not pin {id} to core {core}");
}

/// This thread's id, for `taskset -p`.
fn thread_id() -> String {
    let link = std::fs::read_link("/proc/thread-self").unwrap();
    link.file_name().unwrap().to_string_lossy().into_owned()
}

/// A server that answers every request `200 {"webhookId":"x"}` on one thread pinned to
/// `core`; returns its address.
fn trivial_server(core: u32) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        pin(&thread_id(), core, false);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().fallback(|| async { r#"{"webhookId":"x"}"# });
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    addr
}

/// Prepared requests: signature header and body of distinct webhooks.
type Prepared = Arc<Vec<(hyper::header::HeaderValue, Bytes)>>;

fn prepare(n: usize, offset: u64) -> Prepared {
    let now = webhook::now();
    Arc::new(
        (0..n as u64)
            .map(|i| {
                let (mut headers, body) = webhook::stripe(SECRET, offset + i, now);
                let sig = headers.remove(0).1;
                (sig.parse().unwrap(), Bytes::from(body))
            })
            .collect(),
    )
}

/// Sends prepared requests over [`CONNECTIONS`] connections to `addr` for `secs` (or until
/// they run out) on the calling thread; returns (answered 200, elapsed).
fn generate(addr: std::net::SocketAddr, requests: &Prepared, secs: f64) -> (u64, Duration) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let ok = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let deadline = started + Duration::from_secs_f64(secs);
        let mut tasks = Vec::new();
        for _ in 0..CONNECTIONS {
            let (next, ok, requests) = (next.clone(), ok.clone(), requests.clone());
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(async move {
                let _ = conn.await;
            });
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((sig, body)) = requests.get(i) else {
                        break;
                    };
                    let request = hyper::Request::post("/webhook/stripe")
                        .header(hyper::header::HOST, "127.0.0.1")
                        .header(hyper::header::CONTENT_TYPE, "application/json")
                        .header("Stripe-Signature", sig.clone())
                        .body(Full::new(body.clone()))
                        .unwrap();
                    let Ok(response) = sender.send_request(request).await else {
                        break;
                    };
                    if response.status() == 200 {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    // Read the answer to its end, so the connection takes the next request.
                    let _ = http_body_util::BodyExt::collect(response.into_body()).await;
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        (ok.load(Ordering::Relaxed), started.elapsed())
    })
}

/// user + system CPU seconds of process `pid` so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ, 100 on Linux
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024.0
}

fn status(url: &str) -> serde_json::Value {
    // A GET with std alone: the bench keeps its one async runtime for the load.
    use std::io::{Read, Write};
    let host = url.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /_wh/status HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    serde_json::from_str(out.split_once("\r\n\r\n").unwrap().1).unwrap()
}

fn main() {
    let secs: f64 = std::env::var("WH_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60.0);
    pin(&std::process::id().to_string(), 1, true);

    // The generator's own ceiling: the trivial server on core 0.
    let ceiling_secs = 10.0_f64.min(secs);
    let requests = prepare(800_000, 0);
    let (answered, took) = generate(trivial_server(0), &requests, ceiling_secs);
    let ceiling = answered as f64 / took.as_secs_f64();
    drop(requests);

    // wh dev on core 0, every thread.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.json"),
        format!(r#"{{"stripe":{{"current":"{SECRET}"}}}}"#),
    )
    .unwrap();
    // Started while this process is on core 0, so `wh dev` sees one core from its start (and
    // sizes its runtime to it), then pinned again with every thread it made.
    pin(&std::process::id().to_string(), 0, true);
    let extra = std::env::var("WH_BENCH_DEV_ARGS").unwrap_or_default();
    let mut args = vec!["--secrets-file", "s.json", "--no-limits"];
    args.extend(extra.split_whitespace());
    let dev = dev_process::DevProcess::start_in(dir, SPEC, &args);
    let pid = dev.child.id();
    pin(&pid.to_string(), 0, true);
    pin(&std::process::id().to_string(), 1, true);
    let addr: std::net::SocketAddr = dev.url.strip_prefix("http://").unwrap().parse().unwrap();
    // Enough distinct webhooks for the generator's ceiling over the whole run.
    let needed = ((ceiling * secs * 1.05) as usize).min(3_000_000);
    let requests = prepare(needed, 10_000_000);

    // Queue depth each second, read by a thread (on the generator's core).
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (url, sampling) = (dev.url.clone(), sampling.clone());
        std::thread::spawn(move || {
            let mut deepest = 0;
            while sampling.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let s = status(&url);
                deepest = deepest.max(s["queue"]["queued"].as_u64().unwrap_or(0));
            }
            deepest
        })
    };
    let cpu_before = cpu_seconds(pid);
    let (accepted, elapsed) = generate(addr, &requests, secs);
    let load_stopped = Instant::now();
    let drained = loop {
        let s = status(&dev.url);
        let done = s["webhooks"]["PROCESSED"].as_u64().unwrap_or(0) >= accepted
            && s["queue"]["queued"].as_u64() == Some(0);
        if done {
            break Some(load_stopped.elapsed());
        }
        if load_stopped.elapsed() > Duration::from_secs(300) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    sampling.store(false, Ordering::Relaxed);
    let deepest = sampler.join().unwrap();
    let cpu = cpu_seconds(pid) - cpu_before;
    let s = status(&dev.url);
    println!(
        "generator ceiling (trivial server on core 0, generator on core 1): {ceiling:.0} answered/s over {:.1} s",
        took.as_secs_f64()
    );
    println!(
        "wh dev --no-limits on core 0: {:.0} accepted/s ({accepted} in {:.1} s, {} prepared); pipeline finished {} after the load stopped; deepest queue {deepest}; {:.1} µs CPU per webhook ({cpu:.1} s); peak RSS {:.0} MiB; audit records {}, events published {}",
        accepted as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        requests.len(),
        drained.map_or("not within 300 s".into(), |d| format!(
            "{:.1} s",
            d.as_secs_f64()
        )),
        cpu / accepted.max(1) as f64 * 1e6,
        peak_rss_mib(pid),
        s["audit_records"],
        s["events_published"],
    );
}
