//! `wh loadtest` against `wh dev` on 127.0.0.1, with limits scaled to a 2-core machine (200/s,
//! burst 400, 5/s per IP over 60 s; a bucket of two seconds' rate, so the refill while the
//! burst arrives stays small beside it): the right server passes every check, and servers that
//! enforce the **wrong** thing (started from mutated copies of the spec, while the load test
//! reads the right one) each fail the check aimed at them. The phases are timing verdicts:
//! the heavy ones run one at a time; the per-IP phases (90 s each, a few requests a second)
//! run side by side.

mod common;

use std::process::Command;
use std::sync::Mutex;
use std::thread;

use common::dev_process::DevProcess;

static SERIAL: Mutex<()> = Mutex::new(());

/// The scaled spec, with the limits given.
fn spec(rate: &str, burst: u32, per_ip: &str, window: &str, exempt: &str) -> String {
    format!(
        "name: shop\nsuffix: lt\nregion: eu-west-1\nlifecycle: ephemeral\nproviders:\n  stripe:\n    scheme: stripe\n\
limits:\n  api_rate: {rate}\n  api_burst: {burst}\n  per_ip_rate: {per_ip}\n  per_ip_window: {window}\n  max_payload: 64KiB\n{exempt}\
concurrency:\n  receiver:\n    reserved: 100\n    expected_duration: 10ms\n  processor:\n    reserved: 2\n    batch_size: 10\n    batching_window: 0s\n  audit:\n    reserved: 2\n"
    )
}

fn right() -> String {
    spec("200/s", 400, "5/s", "1m", "")
}

/// A `wh dev` serving `served` (the spec file `spec.yaml`, whose secrets are
/// `.wh/dev-secrets/spec.json`), with the right spec beside it as `right.yaml`.
fn server(served: &str, args: &[&str]) -> DevProcess {
    let dev = DevProcess::start_in(tempfile::tempdir().unwrap(), served, args);
    std::fs::write(dev.dir.path().join("right.yaml"), right()).unwrap();
    dev
}

struct Run {
    code: Option<i32>,
    stdout: String,
    summary: serde_json::Value,
}

impl Run {
    fn verdict(&self, check: &str) -> &serde_json::Value {
        self.summary["verdicts"]
            .as_array()
            .unwrap_or_else(|| panic!("no verdicts: {}", self.stdout))
            .iter()
            .find(|v| v["check"] == check)
            .unwrap_or_else(|| panic!("no {check} verdict in {}", self.stdout))
    }

    fn outcome(&self, check: &str) -> &str {
        self.verdict(check)["outcome"].as_str().unwrap()
    }

    fn part(&self, check: &str, name: &str) -> (&str, &str) {
        let p = self.verdict(check)["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"].as_str().unwrap().starts_with(name))
            .unwrap_or_else(|| panic!("no part {name} in {}", self.stdout));
        (
            p["outcome"].as_str().unwrap(),
            p["measured"].as_str().unwrap(),
        )
    }
}

/// `wh loadtest right.yaml` against `dev`, reports in `report` under its directory.
fn loadtest_command(dev: &DevProcess, report: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wh"));
    c.current_dir(dev.dir.path())
        .args([
            "loadtest",
            "right.yaml",
            "--secrets-file",
            ".wh/dev-secrets/spec.json",
            "--throttle-secs",
            "4",
            "--target",
            &format!("{}/live", dev.url),
            "--report-dir",
            report,
        ])
        .args(args);
    c
}

/// Runs [`loadtest_command`] to its end.
fn loadtest(dev: &DevProcess, report: &str, args: &[&str]) -> Run {
    let o = loadtest_command(dev, report, args).output().unwrap();
    let stdout =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    let summary = std::fs::read_to_string(dev.dir.path().join(report).join("summary.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(serde_json::Value::Null);
    Run {
        code: o.status.code(),
        stdout,
        summary,
    }
}

/// The per-IP check on its own server, in a thread (the phase takes 1.5 windows).
fn per_ip_in_background(
    served: String,
    dev_args: &'static [&'static str],
    args: &'static [&'static str],
) -> thread::JoinHandle<(DevProcess, Run)> {
    thread::spawn(move || {
        let dev = server(&served, dev_args);
        let mut all = vec!["--checks", "per-ip"];
        all.extend_from_slice(args);
        let run = loadtest(&dev, "report", &all);
        (dev, run)
    })
}

#[test]
fn each_wrong_server_fails_its_check_and_the_right_one_passes_all() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Side by side: the per-IP rule right, with twice and half the limit, the same limit over
    // a window 5 times longer (600 per 5 minutes instead of per minute, scaled: 300 per 5
    // minutes instead of per minute), and a deployed-mode run against an AWS-like WAF.
    let per_ip_right = per_ip_in_background(right(), &[], &[]);
    let per_ip_double = per_ip_in_background(spec("200/s", 400, "10/s", "1m", ""), &[], &[]);
    let per_ip_half = per_ip_in_background(spec("200/s", 400, "150/m", "1m", ""), &[], &[]);
    let per_ip_long_window = per_ip_in_background(spec("200/s", 400, "1/s", "5m", ""), &[], &[]);
    let per_ip_deployed = per_ip_in_background(
        right(),
        &["--latency", "80ms", "--waf-mode", "aws"],
        &["--deployed"],
    );

    // One at a time: the right server passes the burst, the throttle and the soak.
    let dev = server(&right(), &[]);
    let run = loadtest(
        &dev,
        "report",
        &["--checks", "burst,throttle,soak", "--soak-secs", "4"],
    );
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    for check in ["burst", "throttle", "soak"] {
        assert_eq!(run.outcome(check), "pass", "{check}: {}", run.stdout);
    }
    assert!(
        run.verdict("throttle")["counts"]["throttled_429"]
            .as_u64()
            .unwrap()
            > 0
    );
    for file in [
        "summary.md",
        "throttle.html",
        "throttle.json",
        "throttle.md",
        "burst.json",
        "soak.html",
    ] {
        assert!(dev.dir.path().join("report").join(file).is_file(), "{file}");
    }
    drop(dev);

    // The stage throttle 25 % too high and too low.
    for rate in ["250/s", "150/s"] {
        let dev = server(&spec(rate, 400, "5/s", "1m", ""), &[]);
        let run = loadtest(&dev, "report", &["--checks", "throttle"]);
        assert_eq!(run.code, Some(1), "rate {rate}: {}", run.stdout);
        assert_eq!(
            run.part("throttle", "accepted rate").0,
            "fail",
            "rate {rate}: {}",
            run.stdout
        );
    }
    // The bucket 30 % too big and too small.
    for burst in [520, 280] {
        let dev = server(&spec("200/s", burst, "5/s", "1m", ""), &[]);
        let run = loadtest(&dev, "report", &["--checks", "burst"]);
        assert_eq!(run.code, Some(1), "burst {burst}: {}", run.stdout);
        assert_eq!(
            run.outcome("burst"),
            "fail",
            "burst {burst}: {}",
            run.stdout
        );
    }
    // A server that loses a tenth of the webhooks it answered 200.
    let dev = server(&right(), &["--lose-acked", "0.1"]);
    let run = loadtest(&dev, "report", &["--checks", "soak", "--soak-secs", "4"]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let (outcome, measured) = run.part("soak", "every accepted webhook processed");
    assert_eq!(outcome, "fail");
    assert!(measured.contains("missing"), "{measured}");
    drop(dev);

    // Deployed mode against a wh dev that behaves like one (80 ms round trips, AWS-like WAF),
    // the runner's address exempt from the per-IP rule as docs/loadtest.md advises.
    let exempt = "  exempt_cidrs:\n    - 127.0.0.1/32\n";
    let dev = server(
        &spec("200/s", 400, "5/s", "1m", exempt),
        &["--latency", "80ms", "--waf-mode", "aws"],
    );
    let run = loadtest(
        &dev,
        "report",
        &[
            "--deployed",
            "--checks",
            "burst,throttle,soak",
            "--soak-secs",
            "4",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert_eq!(run.summary["mode"], "deployed");
    drop(dev);

    let (_dev, run) = per_ip_right.join().unwrap();
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    for part in ["(a)", "(b)", "(c)"] {
        assert_eq!(run.part("per-ip", part).0, "pass", "{part}: {}", run.stdout);
    }
    assert!(
        run.verdict("per-ip")["counts"]["blocked_403"]
            .as_u64()
            .unwrap()
            > 0
    );

    let (_dev, run) = per_ip_double.join().unwrap();
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let (outcome, measured) = run.part("per-ip", "(a)");
    assert_eq!(outcome, "fail", "{}", run.stdout);
    assert!(measured.starts_with("never blocked"), "{measured}");

    let (_dev, run) = per_ip_half.join().unwrap();
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let (outcome, measured) = run.part("per-ip", "(a)");
    assert_eq!(outcome, "fail", "{}", run.stdout);
    assert!(
        measured.contains("blocked at request 151, the limit is 300"),
        "{measured}"
    );

    let (_dev, run) = per_ip_long_window.join().unwrap();
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert_eq!(
        run.part("per-ip", "(a)").0,
        "pass",
        "the crossing is the same: {}",
        run.stdout
    );
    assert_eq!(run.part("per-ip", "(b)").0, "fail", "{}", run.stdout);

    let (_dev, run) = per_ip_deployed.join().unwrap();
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert_eq!(run.part("per-ip", "(a)").0, "pass", "{}", run.stdout);
    assert_eq!(
        run.part("per-ip", "(b)").0,
        "not run",
        "one runner has one address"
    );
    assert!(
        run.stdout.contains("| per-ip | PASS (2 parts not run) |"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_target_can_come_from_the_flat_outputs_file_and_json_is_one_document() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dev = server(&right(), &[]);
    let outputs = serde_json::json!({ "shop-lt": { "ApiUrl": format!("{}/live/", dev.url) } });
    std::fs::create_dir_all(dev.dir.path().join("outputs")).unwrap();
    std::fs::write(
        dev.dir.path().join("outputs/shop-lt.json"),
        outputs.to_string(),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_wh"))
        .current_dir(dev.dir.path())
        .args([
            "loadtest",
            "right.yaml",
            "--secrets-file",
            ".wh/dev-secrets/spec.json",
            "--checks",
            "burst",
            "--output-format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Nothing but the JSON document on stdout: a script parses it as it is.
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
    assert_eq!(summary["target"], format!("{}/live/", dev.url));
    assert_eq!(summary["verdicts"][0]["outcome"], "pass");
}

#[test]
fn the_soak_fails_when_webhooks_end_in_the_dlq() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dev = server(&right(), &["--fail-processor", "1", "--time-scale", "60"]);
    let run = loadtest(&dev, "report", &["--checks", "soak", "--soak-secs", "3"]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let (outcome, measured) = run.part("soak", "every accepted webhook processed");
    assert_eq!(outcome, "fail");
    assert!(measured.contains("FAILED"), "{measured}");
}

#[test]
fn a_typo_in_the_checks_or_a_phase_too_long_is_refused_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("right.yaml"), right()).unwrap();
    // A slow spec: 1 per minute with a bucket of 5000 refills in 83 hours.
    std::fs::write(
        dir.path().join("slow.yaml"),
        spec("1/m", 5000, "1/m", "10m", ""),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join(".wh/dev-secrets")).unwrap();
    let secret = serde_json::json!({ "stripe": { "current": "whsec_test", "previous": null, "previous_expires_at": null } });
    std::fs::write(dir.path().join("secrets.json"), secret.to_string()).unwrap();
    let wh = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wh"))
            .current_dir(dir.path())
            .args([
                "loadtest",
                "--secrets-file",
                "secrets.json",
                "--target",
                "http://127.0.0.1:9/live",
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let o = wh(&["right.yaml", "--checks", "burst,throtle"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("`throtle` is not a check; the checks are burst, throttle, per-ip, soak"),
        "{err}"
    );
    let o = wh(&["slow.yaml", "--checks", "burst"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("refilling the bucket of 5000") && err.contains("maximum of 1800 s"),
        "{err}"
    );
    let o = wh(&[
        "right.yaml",
        "--checks",
        "throttle",
        "--load-factor",
        "1.05",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--load-factor 1.05 is outside 1.2 to 10"));
}

/// `summary.html` parsed: the sections by check.
struct Html(String);

impl Html {
    fn read(path: &std::path::Path) -> Html {
        Html(std::fs::read_to_string(path).unwrap())
    }

    /// In `check`'s section, chart `chart`'s elements carrying `attr`: (attr value, node).
    fn with<'a>(
        doc: &'a roxmltree::Document<'a>,
        check: &str,
        chart: &str,
        attr: &str,
    ) -> Vec<(String, roxmltree::Node<'a, 'a>)> {
        let section = doc
            .descendants()
            .find(|n| n.has_tag_name("section") && n.attribute("data-check") == Some(check))
            .unwrap_or_else(|| panic!("no section for {check}"));
        let svg = section
            .descendants()
            .find(|n| n.attribute("data-chart") == Some(chart))
            .unwrap_or_else(|| panic!("no {chart} chart for {check}"));
        svg.descendants()
            .filter_map(|n| n.attribute(attr).map(|v| (v.to_owned(), n)))
            .collect()
    }
}

fn values(node: &roxmltree::Node) -> Vec<f64> {
    node.attribute("data-values")
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect()
}

#[test]
fn four_shards_merge_into_one_run_and_its_report_shows_what_was_measured() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dev = server(&right(), &[]);
    let start = time::OffsetDateTime::now_utc() + time::Duration::seconds(8);
    let start = start
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let shards: Vec<_> = (1..=4)
        .map(|i| {
            let shard = format!("{i}/4");
            let args = [
                "--checks",
                "burst,throttle,per-ip,soak",
                "--soak-secs",
                "3",
                "--shard",
                &shard,
                "--start-at",
                &start,
            ];
            loadtest_command(&dev, &format!("shard-{i}"), &args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in shards.into_iter().enumerate() {
        let o = child.wait_with_output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(0),
            "shard {}: {out}{}",
            i + 1,
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            out.contains(&format!("shard {}/4: measured 4 phases", i + 1)),
            "{out}"
        );
    }
    let merge = |dirs: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wh"))
            .current_dir(dev.dir.path())
            .args(["loadtest", "merge"])
            .args(dirs)
            .args(["--report-dir", "merged", "--output-format", "json"])
            .output()
            .unwrap()
    };
    let o = merge(&["shard-1", "shard-2", "shard-3", "shard-4"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let run = Run {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        summary,
    };
    // The same verdicts as one run of this load against the right server (the first test):
    // every check passes, with all three per-IP parts (their roles on shards 1, 2 and 3).
    for check in ["burst", "throttle", "per-ip", "soak"] {
        assert_eq!(run.outcome(check), "pass", "{check}: {}", run.stdout);
    }
    for part in ["(a)", "(b)", "(c)"] {
        assert_eq!(run.part("per-ip", part).0, "pass", "{part}");
    }
    assert_eq!(run.summary["shards"], 4);
    // What the shards sent together is what one run plans: the burst max(2.5 x 400, 400 +
    // 100) = 1000 requests; the throttle 300/s for 400 / (300 - 200) + 1 + 4 = 9 s = 2700.
    let total = |check: &str| {
        let c = &run.verdict(check)["counts"];
        [
            "ok_2xx",
            "throttled_429",
            "blocked_403",
            "other_4xx",
            "server_5xx",
            "no_answer",
        ]
        .iter()
        .map(|k| c[*k].as_u64().unwrap())
        .sum::<u64>()
    };
    assert_eq!(total("burst"), 1000);
    assert_eq!(total("throttle"), 2700);
    // Distinct loopback sources: the burst's 1000 requests over ceil(1000 / 150) = 7, the
    // throttle's 2700 over 2700 / 150 = 18, the per-IP phase's 3 roles, the soak's 20/s over
    // 20 / 2.5 = 8: 36, each shard's its own.
    assert_eq!(run.summary["sources"]["distinct"], 36);

    // The report shows those numbers: the accepted series of the throttle phase sums to its
    // 2xx count, against the API rate of the spec (200/s) with the drain marked; the per-IP
    // phase shows the per-IP rate (5/s) and the crossing; the burst's accepted-so-far ends at
    // its 2xx count against the burst (400).
    let html = Html::read(&dev.dir.path().join("merged/summary.html"));
    let doc = roxmltree::Document::parse_with_options(
        &html.0,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..roxmltree::ParsingOptions::default()
        },
    )
    .expect("summary.html is well-formed");
    assert!(
        doc.descendants().all(|n| !n.has_tag_name("script")
            && n.attribute("src").is_none()
            && n.attribute("href").is_none()),
        "self-contained: no script and nothing loaded"
    );
    let series = Html::with(&doc, "throttle", "rates", "data-series");
    let accepted = series.iter().find(|(name, _)| name == "2xx").unwrap();
    let ok = run.verdict("throttle")["counts"]["ok_2xx"]
        .as_u64()
        .unwrap();
    assert_eq!(values(&accepted.1).iter().sum::<f64>() as u64, ok);
    let refused = series.iter().find(|(name, _)| name == "429").unwrap();
    assert!(values(&refused.1).iter().sum::<f64>() > 0.0);
    let limits = Html::with(&doc, "throttle", "rates", "data-limit");
    assert_eq!(limits[0].0, "api-rate");
    assert_eq!(limits[0].1.attribute("data-value"), Some("200"));
    assert!(
        Html::with(&doc, "throttle", "rates", "data-marker")
            .iter()
            .any(|(m, _)| m == "drained")
    );
    let limits = Html::with(&doc, "per-ip", "rates", "data-limit");
    assert!(
        limits
            .iter()
            .any(|(l, n)| l == "per-ip-rate" && n.attribute("data-value") == Some("5"))
    );
    assert!(
        Html::with(&doc, "per-ip", "rates", "data-marker")
            .iter()
            .any(|(m, _)| m == "crossing")
    );
    let bucket = Html::with(&doc, "burst", "accepted", "data-series");
    let ok = run.verdict("burst")["counts"]["ok_2xx"].as_u64().unwrap();
    assert_eq!(values(&bucket[0].1).last().copied(), Some(ok as f64));
    let burst_line = Html::with(&doc, "burst", "accepted", "data-limit");
    assert_eq!(burst_line[0].1.attribute("data-value"), Some("400"));
    let latency = Html::with(&doc, "soak", "latency", "data-series");
    assert_eq!(
        latency.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["p50", "p90", "p99"]
    );

    // Without shard 3 there is no verdict, only the reason.
    let o = merge(&["shard-1", "shard-2", "shard-4"]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("shard 3 of 4 is missing"), "{stderr}");
}

#[test]
fn a_shard_needs_a_start_ahead_of_now() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("right.yaml"), right()).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wh"))
            .current_dir(dir.path())
            .args([
                "loadtest",
                "right.yaml",
                "--target",
                "http://127.0.0.1:9/live",
            ])
            .args(args)
            .output()
            .unwrap()
    };
    for (args, says) in [
        (&["--shard", "2/4"][..], "needs --start-at"),
        (
            &["--shard", "1/2", "--start-at", "2020-01-01T00:00:00Z"][..],
            "in the past",
        ),
        (
            &["--shard", "5/4", "--start-at", "2099-01-01T00:00:00Z"][..],
            "1 <= I <= N <= 256",
        ),
        (&["--shard", "1/2", "--start-at", "at nine"][..], "RFC 3339"),
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn the_dry_run_prints_the_runners_the_prod_spec_needs_and_sends_nothing() {
    let spec = common::repo().join("specs/prod.yaml");
    let o = Command::new(env!("CARGO_BIN_EXE_wh"))
        .args(["loadtest"])
        .arg(&spec)
        .args([
            // A deployed target (TEST-NET-1, never routed): the plan is for machines' own
            // addresses; a dry run sends nothing, to it or to checkip.
            "--target",
            "http://192.0.2.1:9/live",
            "--checks",
            "burst,throttle,per-ip",
            "--shard",
            "1/20",
            "--dry-run",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // 1000/s, burst 2000, 600 per 60 s: the burst's 5,000 and the throttle's 15,000 requests in
    // one window, 300 an address.
    assert!(
        out.contains("| burst | 3.0 s | 2.5 s | 5000 | 250 |"),
        "{out}"
    );
    assert!(
        out.contains("| throttle | 38.5 s | 10.0 s | 15000 | 750 |"),
        "{out}"
    );
    assert!(
        out.contains("Runners with addresses of their own needed: 67"),
        "{out}"
    );
    assert!(
        out.contains("With 20 shards, the per-IP rule blocks part of the load"),
        "{out}"
    );
}
