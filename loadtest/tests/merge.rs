//! `wh loadtest merge` on hand-made shard files (`tests/fixtures/shards/`: two shards of a
//! throttle and a soak phase, their one plan in `plan.json`): the sums, extremes and
//! percentiles below are worked out by hand from the files, not by the code under test; and
//! every way shards can fail to be one run is refused with its reason.

use std::time::Duration;

use wh_loadtest::merge::{LATE_LIMIT, merge};
use wh_loadtest::run::{self, Measurements};
use wh_loadtest::verdict::Outcome;

fn fixture(name: &str) -> serde_json::Value {
    let path = format!(
        "{}/tests/fixtures/shards/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Shard `n`'s file with the plan put in.
fn shard_value(n: usize) -> serde_json::Value {
    let mut v = fixture(&format!("shard-{n}.json"));
    v["plan"] = fixture("plan.json");
    v
}

fn shard(n: usize) -> (String, Measurements) {
    (
        format!("shard-{n}.json"),
        serde_json::from_value(shard_value(n)).unwrap(),
    )
}

fn edited(n: usize, edit: impl FnOnce(&mut serde_json::Value)) -> (String, Measurements) {
    let mut v = shard_value(n);
    edit(&mut v);
    (
        format!("shard-{n}.json"),
        serde_json::from_value(v).unwrap(),
    )
}

fn errors(shards: Vec<(String, Measurements)>) -> String {
    merge(shards).unwrap_err().join("\n")
}

#[test]
fn two_shards_sum_exactly() {
    let merged = merge(vec![shard(2), shard(1)]).unwrap();
    let t = &merged.phases[0];
    assert_eq!(t.check, "throttle");
    // Counts: 2xx 7 + 4, 429 2 + 3, 5xx 1 + 0, no answer 0 + 1.
    assert_eq!(t.counts.row(), [11, 5, 0, 0, 1, 1]);
    // Ticks summed by number; a tick only one shard has is kept as it is.
    assert_eq!(t.ticks[&0], [4, 0, 0, 0, 0, 0]);
    assert_eq!(t.ticks[&1], [3, 3, 0, 0, 0, 0]);
    assert_eq!(t.ticks[&150], [2, 1, 0, 0, 1, 0]);
    assert_eq!(t.ticks[&151], [2, 1, 0, 0, 0, 1]);
    // Extremes: the earlier and the later of the two shards'.
    assert_eq!(t.first_scheduled_us, Some(0));
    assert_eq!(t.last_scheduled_us, Some(1_510_000));
    assert_eq!(t.first_sent_us, Some(100));
    assert_eq!(t.first_429_sent_us, Some(10_500));
    assert_eq!(t.first_mid_us, Some(600));
    assert_eq!(t.last_mid_us, Some(1_512_000));
    assert_eq!(t.last_at_us, Some(1_530_000));
    assert_eq!((t.late_20ms, t.worst_late_us), (3, 31_000));
    assert_eq!((t.users, t.start_late_us), (18, 1200));
    assert_eq!(
        t.streams.iter().map(|s| s.stream).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    // Slot 0 holds 1.0 ms twice, 1.5, 2.5 and 3.0 ms: five latencies, the median the 3rd
    // (1.5 ms), the 90th percentile the ceil(4.5) = 5th (3.0 ms). Slot 1: 9 ms twice and
    // 40 ms.
    let slot0 = &t.latency[&0];
    assert_eq!(slot0.count(), 5);
    assert_eq!(slot0.quantile(0.5), Some(Duration::from_micros(1500)));
    assert_eq!(slot0.quantile(0.9), Some(Duration::from_micros(3000)));
    assert_eq!(
        t.latency[&1].quantile(0.5),
        Some(Duration::from_micros(9000))
    );
    // All eight: 1.0, 1.0, 1.5, 2.5, 3.0, 9.0, 9.0, 40 ms. p50 = 4th = 2.5 ms, p75 = 6th =
    // 9 ms, p90 = ceil(7.2) = 8th = 40 ms. Averaging the shards' own medians (1.0 ms and
    // 3.0 ms in shard 1's and 2's slot 0, ...) would give none of these.
    let all = t.latency_between(0, u64::MAX);
    assert_eq!(all.quantile(0.5), Some(Duration::from_micros(2500)));
    assert_eq!(all.quantile(0.75), Some(Duration::from_micros(9000)));
    assert_eq!(all.quantile(0.9), Some(Duration::from_micros(40_000)));

    // The soak's after-checks: 3 + 2 accepted, 3 + 1 PROCESSED, one ENQUEUED, the DLQ's
    // deepest reading (1).
    let acc = merged.accounting.clone().unwrap().unwrap();
    assert_eq!(acc.accepted, 5);
    assert_eq!(acc.by_status["PROCESSED"], 4);
    assert_eq!(acc.by_status["ENQUEUED"], 1);
    assert_eq!(acc.dlq, 1);
    assert_eq!(
        acc.not_processed,
        vec![("wh_2".to_owned(), "ENQUEUED".to_owned())]
    );
    // Loopback sources 127.1.1.1-4 and 127.3.1.1-2.
    assert_eq!(merged.addresses().len(), 6);

    // The merged sum is what is judged: the soak fails on the unprocessed webhook.
    let verdicts = run::judge(
        &merged.plan,
        &merged.phases,
        merged.accounting.clone(),
        |a, b| merged.apart(a, b),
    )
    .unwrap();
    let soak = &verdicts[1];
    assert_eq!(soak.outcome, Outcome::Fail);
    let processed = soak
        .parts
        .iter()
        .find(|p| p.name == "every accepted webhook processed")
        .unwrap();
    assert!(
        processed
            .measured
            .starts_with("4 of 5 ids answered 2xx found PROCESSED"),
        "{}",
        processed.measured
    );
}

#[test]
fn a_missing_or_doubled_shard_is_named() {
    assert!(
        errors(vec![shard(1)]).contains("shard 2 of 2 is missing"),
        "{}",
        errors(vec![shard(1)])
    );
    let e = errors(vec![shard(1), shard(1)]);
    assert!(e.contains("shard 1 appears 2 times"), "{e}");
    assert!(e.contains("shard 2 of 2 is missing"), "{e}");
}

#[test]
fn shards_of_another_spec_start_or_plan_are_refused() {
    for (field, value) in [
        ("spec_sha256", serde_json::json!("00")),
        ("start_at", serde_json::json!("2026-11-30T09:05:00Z")),
        ("checks", serde_json::json!(["throttle"])),
    ] {
        let other = edited(2, |v| v["plan"][field] = value.clone());
        let e = errors(vec![shard(1), other]);
        assert!(
            e.contains("is not a shard of the same run") && e.contains(field),
            "{field}: {e}"
        );
    }
}

#[test]
fn a_late_or_short_shard_is_an_error() {
    let late = edited(2, |v| {
        v["phases"][0]["start_late_us"] = serde_json::json!(LATE_LIMIT.as_micros() as u64 + 300_000)
    });
    let e = errors(vec![shard(1), late]);
    assert!(
        e.contains("shard 2 (shard-2.json) started the throttle phase 0.8 s late"),
        "{e}"
    );
    let short = edited(2, |v| {
        v["phases"][0]["streams"][0]["sent"] = serde_json::json!(3)
    });
    let e = errors(vec![shard(1), short]);
    assert!(
        e.contains("ran short in the throttle phase: stream 1 sent 3 of 4 requests"),
        "{e}"
    );
    let stopped = edited(1, |v| {
        v["phases"].as_array_mut().unwrap().pop();
    });
    let e = errors(vec![stopped, shard(2)]);
    assert!(
        e.contains(
            "shard 1 (shard-1.json) ran short: it measured throttle of the phases throttle, soak"
        ),
        "{e}"
    );
}
