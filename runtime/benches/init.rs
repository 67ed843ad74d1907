//! Init time of a native receiver `bootstrap`: from process start to its first response,
//! against a local Runtime API (an event for an unknown provider, so no backend call is timed).
//! Target: under 20 ms. Run through benches/handlers.sh, which builds the release binary and
//! passes it in WH_BOOTSTRAP.

#[path = "../tests/support/runtime_api.rs"]
mod runtime_api;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let Some(bootstrap) = std::env::var_os("WH_BOOTSTRAP") else {
        eprintln!("init bench: set WH_BOOTSTRAP to a receiver binary (benches/handlers.sh does)");
        return;
    };
    measure("native", None, &bootstrap);
    if let (Some(qemu), Some(arm64)) = (
        std::env::var_os("WH_QEMU_AARCH64"),
        std::env::var_os("WH_BOOTSTRAP_ARM64"),
    ) {
        measure("arm64 under qemu-user", Some(&qemu), &arm64);
    }
}

fn measure(label: &str, runner: Option<&std::ffi::OsStr>, bootstrap: &std::ffi::OsStr) {
    let runs = 30;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let api = runtime_api::RuntimeApi::start(vec![runtime_api::api_event("nope", &[], b"{}")]);
        let providers = ["acme", "github", "shopify", "square", "stripe", "svix"];
        let started = Instant::now();
        let mut command = match runner {
            Some(qemu) => {
                let mut c = Command::new(qemu);
                c.arg(bootstrap)
                    .env("QEMU_LD_PREFIX", "/usr/aarch64-linux-gnu");
                c
            }
            None => Command::new(bootstrap),
        };
        let mut child = command
            .envs(runtime_api::lambda_env(
                &api.address,
                &providers,
                "http://127.0.0.1:1",
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bootstrap starts");
        let answer = api
            .answer(Duration::from_secs(10))
            .expect("the bootstrap answered");
        times.push(started.elapsed());
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            answer.body.contains("\"statusCode\":404"),
            "{}",
            answer.body
        );
    }
    times.sort();
    println!(
        "receiver bootstrap ({label}) init to first response: median {:.1} ms, min {:.1} ms, max {:.1} ms over {runs} runs",
        times[runs / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[runs - 1].as_secs_f64() * 1e3
    );
}
