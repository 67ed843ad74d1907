//! `wh dev`: serve the spec's stack on loopback.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wh::pipeline;
use wh_runtime::backends::memory::MemorySecrets;

use super::Outcome;
use crate::dev::{self, DevOptions, DevStack};

/// Arguments of `wh dev`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spec to serve.
    #[arg(value_name = "SPEC")]
    spec: PathBuf,
    /// Loopback address to listen on (127.0.0.0/8 or ::1 only).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port (0 picks a free one; the URL is printed on the first line).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Signing secrets file (default .wh/dev-secrets/<env>.json, generated when missing).
    #[arg(long, value_name = "FILE")]
    secrets_file: Option<PathBuf>,
    /// Run queue time this many times faster (visibility timeouts, batching windows), so
    /// retries and the DLQ happen in seconds.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Fraction of processor runs that fail (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    fail_processor: f64,
    /// Fraction of enqueues that fail (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    fail_enqueue: f64,
    /// Do not log each webhook's journey.
    #[arg(long, short)]
    quiet: bool,
    /// Turn the throttle and WAF emulation off (for throughput benchmarks of the pipeline).
    #[arg(long)]
    no_limits: bool,
    /// Fraction of accepted webhooks lost after their 200 (0 to 1): a wrong stack for
    /// proving that the load test's soak catches lost webhooks.
    #[arg(long, default_value_t = 0.0)]
    lose_acked: f64,
    /// Round trip added to every answer (0ms to 10s), as a deployed stack's network adds.
    #[arg(long, value_name = "DURATION", default_value = "0ms", value_parser = latency)]
    latency: Duration,
    /// How the WAF rule decides: exact (every request, at once) or aws (every 10 s over the
    /// window, acting 5 s later, as AWS WAF does).
    #[arg(long, value_enum, default_value = "exact")]
    waf_mode: dev::waf::Mode,
    /// Processed webhooks whose payload is kept (older ones keep id, status and times); also
    /// the cap on audit records, bus events and alerts kept.
    #[arg(long, value_name = "N", default_value_t = dev::KEEP)]
    keep: usize,
    /// How long a request body may take to arrive (100ms to 5m); a client that stalls longer
    /// is answered 408 and its connection closed, while others are served.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = body_timeout)]
    body_timeout: Duration,
    /// How long a request head may take to arrive, and a kept-alive connection may idle
    /// between requests (100ms to 5m; hyper's default); the connection is closed after it.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = body_timeout)]
    header_timeout: Duration,
}

fn latency(text: &str) -> Result<Duration, String> {
    super::duration_within(text, (0, "0ms"), (10_000, "10s"))
}

fn body_timeout(text: &str) -> Result<Duration, String> {
    super::duration_within(text, (100, "100ms"), (300_000, "5m"))
}

pub fn run(args: &Args) -> Outcome {
    if !args.bind.is_loopback() {
        eprintln!(
            "wh dev: {} is not a loopback address; wh dev serves 127.0.0.0/8 or ::1 only",
            args.bind
        );
        return Outcome::Error;
    }
    for (name, value) in [
        ("--fail-processor", args.fail_processor),
        ("--fail-enqueue", args.fail_enqueue),
        ("--lose-acked", args.lose_acked),
    ] {
        if !(0.0..=1.0).contains(&value) {
            eprintln!("wh dev: {name} {value} is not a fraction between 0 and 1");
            return Outcome::Error;
        }
    }
    if !crate::dev::TIME_SCALE.contains(&args.time_scale) {
        eprintln!(
            "wh dev: --time-scale {} is out of range: give a factor from {} to {} (queue time that many times faster)",
            args.time_scale,
            crate::dev::TIME_SCALE.start(),
            crate::dev::TIME_SCALE.end()
        );
        return Outcome::Error;
    }
    let compilation = match pipeline::compile(&args.spec) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "{}: cannot serve: {e}; run `wh compile {}` for the details",
                args.spec.display(),
                args.spec.display()
            );
            return Outcome::Failed;
        }
    };
    let path = args
        .secrets_file
        .clone()
        .unwrap_or_else(|| dev::secrets::default_path(&compilation.env));
    let providers: Vec<String> = compilation
        .stack
        .providers
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let (values, generated) = match dev::secrets::load_or_generate(&path, &providers) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("wh dev: {e}");
            return Outcome::Error;
        }
    };
    let runtime = match runtime_for(std::thread::available_parallelism().map_or(2, |n| n.get())) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wh dev: cannot start the async runtime: {e}");
            return Outcome::Error;
        }
    };
    runtime.block_on(serve(args, compilation.stack, values, path, generated))
}

/// The async runtime for `cores` usable cores: on one core (a `taskset` to one CPU, a container
/// with one), a single-threaded runtime, so the accept loop, the processor and the audit logger
/// take turns on one thread instead of handing work between threads that share the core; on
/// more, two workers (the receiver's work and the pipeline's overlap).
fn runtime_for(cores: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if cores <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    }
}

async fn serve(
    args: &Args,
    stack: wh::ir::Stack,
    values: std::collections::BTreeMap<String, wh_runtime::secret::SecretValue>,
    secrets_path: PathBuf,
    generated: bool,
) -> Outcome {
    let listener = match tokio::net::TcpListener::bind(SocketAddr::new(args.bind, args.port)).await
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("wh dev: cannot listen on {}:{}: {e}", args.bind, args.port);
            return Outcome::Error;
        }
    };
    let address = listener.local_addr().map_or_else(
        |_| format!("{}:{}", args.bind, args.port),
        |a| a.to_string(),
    );
    let base = format!("http://{address}");
    let stage_url = format!("{base}/{}", stack.stage);
    let secrets = Arc::new(MemorySecrets::default());
    for (provider, value) in values {
        secrets.set(&provider, value);
    }
    let options = DevOptions {
        time_scale: args.time_scale,
        fail_processor: args.fail_processor,
        fail_enqueue: args.fail_enqueue,
        verbose: !args.quiet,
        limits: !args.no_limits,
        secrets_file: Some(secrets_path.clone()),
        lose_acked: args.lose_acked,
        latency: args.latency,
        waf_mode: args.waf_mode,
        keep: args.keep.max(1),
        body_timeout: args.body_timeout,
    };
    let dev = DevStack::new(stack, &stage_url, secrets, options);
    // The first line is the contract scripts and tests read.
    println!("wh dev: listening on {base}");
    println!("  webhooks: POST {stage_url}/webhook/<provider> (also {base}/webhook/<provider>)");
    println!("  status:   GET {base}/_wh/status");
    println!(
        "  secrets:  {} ({})",
        secrets_path.display(),
        if generated {
            "generated for this run"
        } else {
            "read from the file"
        }
    );
    let s = &dev.stack;
    println!(
        "  emulated: stage throttle {} burst {}; WAF per-IP {} per {} s ({} mode){}; queue visibility {} s, maxReceiveCount {}, DLQ{}",
        s.api.rate,
        s.api.burst,
        s.waf.limit,
        s.waf.window_secs,
        match args.waf_mode {
            dev::waf::Mode::Exact => "exact",
            dev::waf::Mode::Aws => "aws: every 10 s, acting 5 s later",
        },
        if s.waf.exempt_v4.is_empty() && s.waf.exempt_v6.is_empty() {
            String::new()
        } else {
            " (exempt CIDRs honoured)".to_owned()
        },
        s.queues.visibility_secs,
        s.queues.max_receive_count,
        if args.time_scale == 1.0 {
            String::new()
        } else {
            format!("; queue time x{}", args.time_scale)
        },
    );
    println!(
        "  kept: every webhook's id and status; payloads of the last {} processed, as many audit records, events and alerts{}",
        args.keep.max(1),
        if args.latency.is_zero() {
            String::new()
        } else {
            format!(
                "; {} ms added to every round trip",
                args.latency.as_millis()
            )
        }
    );
    for missing in dev.not_emulated() {
        println!("  not emulated: {missing}");
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let processing = tokio::spawn(dev.clone().process_queue(stop_rx));
    tokio::spawn(dev.clone().audit_changes());
    let gateway = dev::server::Gateway::new(dev.clone());
    dev::serve::serve(
        listener,
        dev::server::router(gateway),
        args.header_timeout,
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await;
    // In-flight requests have finished; give the queue a bounded time to drain.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while dev.queue.depths().queued > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    let _ = processing.await;
    let left = dev.queue.depths();
    if left.queued == 0 {
        println!(
            "wh dev: stopped; the queue is drained ({} in the DLQ)",
            left.dlq
        );
    } else {
        println!(
            "wh dev: stopped with {} message(s) still queued ({} in the DLQ)",
            left.queued, left.dlq
        );
    }
    Outcome::Ok
}

#[cfg(test)]
mod tests {
    use tokio::runtime::RuntimeFlavor;

    #[test]
    fn one_core_gets_one_thread() {
        assert_eq!(
            super::runtime_for(1).unwrap().handle().runtime_flavor(),
            RuntimeFlavor::CurrentThread
        );
        assert_eq!(
            super::runtime_for(2).unwrap().handle().runtime_flavor(),
            RuntimeFlavor::MultiThread
        );
    }
}
