//! `wh loadtest` against `wh dev` on 127.0.0.1, with limits scaled to a 2-core machine
//! (200/s, burst 50, per-IP 5/s over 60 s): the checks pass when the server enforces the spec,
//! fail when it does not, and the flat-outputs file can name the target. The phases are timing
//! verdicts, so these tests run one at a time.

mod common;

use std::process::Command;
use std::sync::Mutex;

use common::dev_process::DevProcess;

static SERIAL: Mutex<()> = Mutex::new(());

const SPEC: &str = "name: shop\nsuffix: lt\nregion: eu-west-1\nlifecycle: ephemeral\nproviders:\n  stripe:\n    scheme: stripe\n\
limits:\n  api_rate: 200/s\n  api_burst: 50\n  per_ip_rate: 5/s\n  per_ip_window: 1m\n  max_payload: 64KiB\n\
concurrency:\n  receiver:\n    reserved: 100\n    expected_duration: 10ms\n  processor:\n    reserved: 2\n    batch_size: 10\n    batching_window: 0s\n  audit:\n    reserved: 2\n";

fn loadtest(dev: &DevProcess, args: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_wh"))
        .current_dir(dev.dir.path())
        .args(["loadtest", "spec.yaml", "--throttle-secs", "4"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let summary = std::fs::read_to_string(dev.dir.path().join("loadtest-report/summary.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(serde_json::Value::Null);
    (o.status.code(), stdout, summary)
}

fn verdict<'a>(summary: &'a serde_json::Value, check: &str) -> &'a serde_json::Value {
    summary["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["check"] == check)
        .unwrap_or_else(|| panic!("no {check} verdict in {summary}"))
}

#[test]
fn the_checks_pass_when_the_limits_are_enforced() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dev = DevProcess::start_in(tempfile::tempdir().unwrap(), SPEC, &[]);
    let (code, stdout, summary) = loadtest(&dev, &["--target", &format!("{}/live", dev.url)]);
    assert_eq!(code, Some(0), "{stdout}");
    for check in ["burst", "throttle", "per-ip"] {
        assert_eq!(verdict(&summary, check)["pass"], true, "{check}: {stdout}");
    }
    let throttle = verdict(&summary, "throttle");
    assert!(throttle["counts"]["throttled_429"].as_u64().unwrap() > 0);
    assert!(
        verdict(&summary, "per-ip")["counts"]["blocked_403"]
            .as_u64()
            .unwrap()
            > 0
    );
    for file in [
        "summary.md",
        "throttle.html",
        "throttle.json",
        "throttle.md",
        "per-ip.html",
        "burst.json",
    ] {
        assert!(
            dev.dir.path().join("loadtest-report").join(file).is_file(),
            "{file}"
        );
    }
}

#[test]
fn the_checks_fail_when_the_server_does_not_enforce_the_spec() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dev = DevProcess::start_in(tempfile::tempdir().unwrap(), SPEC, &["--no-limits"]);
    let (code, stdout, summary) = loadtest(
        &dev,
        &[
            "--target",
            &format!("{}/live", dev.url),
            "--checks",
            "throttle,per-ip",
        ],
    );
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(verdict(&summary, "throttle")["pass"], false);
    assert_eq!(verdict(&summary, "throttle")["counts"]["throttled_429"], 0);
    assert_eq!(verdict(&summary, "per-ip")["pass"], false);
    assert!(stdout.contains("| throttle | FAIL |"), "{stdout}");
}

#[test]
fn the_target_can_come_from_the_flat_outputs_file() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dev = DevProcess::start_in(tempfile::tempdir().unwrap(), SPEC, &[]);
    let outputs = serde_json::json!({ "shop-lt": { "ApiUrl": format!("{}/live/", dev.url) } });
    std::fs::create_dir_all(dev.dir.path().join("outputs")).unwrap();
    std::fs::write(
        dev.dir.path().join("outputs/shop-lt.json"),
        outputs.to_string(),
    )
    .unwrap();
    let (code, stdout, summary) = loadtest(&dev, &["--checks", "burst"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(summary["target"], format!("{}/live/", dev.url));
    assert_eq!(verdict(&summary, "burst")["pass"], true);
}

#[test]
fn a_short_soak_finds_everything_processed() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dev = DevProcess::start_in(tempfile::tempdir().unwrap(), SPEC, &[]);
    let (code, stdout, summary) = loadtest(
        &dev,
        &[
            "--target",
            &format!("{}/live", dev.url),
            "--checks",
            "soak",
            "--soak-secs",
            "4",
        ],
    );
    assert_eq!(code, Some(0), "{stdout}");
    let soak = verdict(&summary, "soak");
    assert_eq!(soak["pass"], true, "{soak}");
    assert!(
        soak["measured"]
            .as_str()
            .unwrap()
            .contains("every accepted webhook processed, DLQ empty")
    );
}

#[test]
fn the_soak_fails_when_webhooks_end_in_the_dlq() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dev = DevProcess::start_in(
        tempfile::tempdir().unwrap(),
        SPEC,
        &["--fail-processor", "1", "--time-scale", "60"],
    );
    let (code, stdout, summary) = loadtest(
        &dev,
        &[
            "--target",
            &format!("{}/live", dev.url),
            "--checks",
            "soak",
            "--soak-secs",
            "3",
        ],
    );
    assert_eq!(code, Some(1), "{stdout}");
    let soak = verdict(&summary, "soak");
    assert_eq!(soak["pass"], false);
    assert!(
        soak["measured"].as_str().unwrap().contains("FAILED"),
        "{soak}"
    );
}
