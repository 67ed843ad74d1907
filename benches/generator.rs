//! Generator capacity (numbers in docs/testing.md; not a test): how many signed webhooks a second one
//! `wh loadtest` runner offers on time, against a trivial local server that answers every POST
//! 200 at once (so the server is never the limit), on this machine. Each rate runs 5 s as an open
//! workload through the loadtest crate's own phase runner (goose users, scheduled starts), with
//! Stripe signatures over 2 KB bodies as `wh loadtest` sends them; a rate is kept up when at
//! least 99 % of its requests went out within 20 ms of their scheduled start and every one was
//! answered.
//!
//! Run: `cargo bench -p wh --bench generator`.

use std::sync::Arc;
use std::time::Duration;

use wh_loadtest::plan::users_for;
use wh_loadtest::{Phase, Signer, Stream, run_phase};

const SECRET: &str = "whsec_YmVuY2gtZ2VuZXJhdG9y";
const STREAMS: usize = 4;
const SECS: f64 = 5.0;

#[path = "common/webhook.rs"]
mod webhook;

fn signer() -> Signer {
    Arc::new(|i| webhook::stripe(SECRET, i, webhook::now()))
}

/// A server that answers every POST `200 {"webhookId":"x"}`, on its own single-threaded
/// runtime; returns its address.
fn trivial_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new()
                .fallback(axum::routing::post(|| async { r#"{"webhookId":"x"}"# }));
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    addr
}

fn main() {
    let addr = trivial_server();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("| offered/s | sent | on time (<= 20 ms late) | worst lateness | unanswered |");
    println!("| --- | --- | --- | --- | --- |");
    let mut kept = 0.0;
    for rate in [
        2000.0, 4000.0, 8000.0, 12_000.0, 16_000.0, 24_000.0, 32_000.0,
    ] {
        let each = rate / STREAMS as f64;
        let streams = (0..STREAMS)
            .map(|i| Stream {
                id: i,
                source: None,
                rate: Some(each),
                start: Duration::from_secs_f64(i as f64 / rate),
                count: (each * SECS) as u64,
                users: users_for(each, Duration::from_millis(2)),
                stop_after_block: None,
                mark: None,
            })
            .collect();
        let phase = Phase {
            name: "capacity".into(),
            host: format!("http://{addr}"),
            path: "/webhook/stripe".into(),
            streams,
            timeout: Duration::from_secs(10),
            report_files: Vec::new(),
            signer: signer(),
            block_header: None,
            collect_ids: false,
            start: None,
        };
        let r = rt.block_on(run_phase(&phase)).unwrap();
        let on_time = r
            .answers
            .iter()
            .filter(|a| a.lateness() <= Duration::from_millis(20))
            .count();
        let unanswered = r.answers.iter().filter(|a| a.status != 200).count();
        let worst = r
            .answers
            .iter()
            .map(|a| a.lateness())
            .max()
            .unwrap_or_default();
        let share = on_time as f64 / r.answers.len().max(1) as f64;
        println!(
            "| {rate:.0} | {} | {:.1} % | {:.0} ms | {unanswered} |",
            r.answers.len(),
            share * 100.0,
            worst.as_secs_f64() * 1e3
        );
        if share >= 0.99 && unanswered == 0 {
            kept = rate;
        } else {
            break;
        }
    }
    println!("\nOne runner keeps up {kept:.0} signed webhooks/s on this machine.");
}
