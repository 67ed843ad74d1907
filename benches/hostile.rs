//! `wh dev`'s resident memory under hostile clients (numbers in docs/testing.md; not a test): a release
//! `wh dev` (max payload 64 KiB) is held by 400 clients that send half a request head and
//! stall, 200 that declare a 100 MiB body and stall after 60 KiB of it, and 200 that send a
//! chunked body of 60 KiB and stall, while 2,000 signed webhooks are sent the ordinary way;
//! then the stalled clients are released. Reported: how many of the ordinary webhooks were
//! accepted, and the server's resident memory (VmRSS, and its peak VmHWM) before, under and
//! after the load, read from /proc.
//!
//! Run: `cargo bench -p wh --bench hostile`.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

#[path = "../tests/common/dev_process.rs"]
mod dev_process;
#[path = "common/webhook.rs"]
mod webhook;

const SECRET: &str = "whsec_YmVuY2gtaG9zdGlsZQ==";
const SPEC: &str = "name: bench\nsuffix: b\nregion: eu-west-1\nlifecycle: ephemeral\nproviders:\n  stripe:\n    scheme: stripe\n\
limits:\n  api_rate: 10000/s\n  api_burst: 5000\n  per_ip_rate: 10000/s\n  per_ip_window: 1m\n  max_payload: 64KiB\n\
concurrency:\n  receiver:\n    reserved: 100\n    expected_duration: 5ms\n  processor:\n    reserved: 2\n    batch_size: 10\n    batching_window: 0s\n  audit:\n    reserved: 2\n";

/// (VmRSS, VmHWM) of `pid`, kB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn stalled(addr: &str, head: &str, body: &[u8]) -> Option<TcpStream> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(head.as_bytes()).ok()?;
    let _ = s.write_all(body);
    Some(s)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.json"),
        format!(r#"{{"stripe":{{"current":"{SECRET}"}}}}"#),
    )
    .unwrap();
    let dev = dev_process::DevProcess::start_in(dir, SPEC, &["--secrets-file", "s.json"]);
    let pid = dev.child.id();
    let addr = dev.url.trim_start_matches("http://").to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/live/webhook/stripe", dev.url);
    let send = |n: u64, from: u64| {
        let (client, url) = (client.clone(), url.clone());
        rt.block_on(async move {
            let mut accepted = 0;
            for i in from..from + n {
                let (headers, body) = webhook::stripe(SECRET, i, webhook::now());
                let mut r = client.post(&url).body(body);
                for (k, v) in headers {
                    r = r.header(k, v);
                }
                if r.send().await.is_ok_and(|r| r.status().is_success()) {
                    accepted += 1;
                }
            }
            accepted
        })
    };
    let warm = send(1000, 0);
    let before = memory(pid);
    let mut held = Vec::new();
    for _ in 0..400 {
        held.extend(stalled(
            &addr,
            "POST /live/webhook/stripe HTTP/1.1\r\nHost: x\r\nContent-Ty",
            b"",
        ));
    }
    for _ in 0..200 {
        held.extend(stalled(
            &addr,
            "POST /live/webhook/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n",
            &[b'x'; 60 * 1024],
        ));
    }
    let mut chunk = format!("{:x}\r\n", 60 * 1024).into_bytes();
    chunk.extend_from_slice(&[b'x'; 60 * 1024]);
    chunk.extend_from_slice(b"\r\n");
    for _ in 0..200 {
        held.extend(stalled(
            &addr,
            "POST /live/webhook/stripe HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            &chunk,
        ));
    }
    let holding = held.len();
    let during_ok = send(2000, 1000);
    let under = memory(pid);
    drop(held);
    std::thread::sleep(Duration::from_secs(2));
    let after = memory(pid);
    println!("| when | VmRSS | VmHWM (peak) |");
    println!("| --- | --- | --- |");
    for (when, (rss, hwm)) in [
        ("after 1,000 webhooks", before),
        ("stalled clients held, 2,000 more webhooks", under),
        ("stalled clients gone", after),
    ] {
        println!(
            "| {when} | {:.1} MiB | {:.1} MiB |",
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
    }
    println!(
        "\nOrdinary webhooks accepted: {warm} of 1,000 before, {during_ok} of 2,000 while {holding} stalled clients were held."
    );
}
