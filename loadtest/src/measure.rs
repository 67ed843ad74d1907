//! What a phase measured, in a form that merges **exactly**: counts by answer class per 10 ms
//! tick of send time, latency histograms per time slot, minima and maxima, and per-stream
//! marks. Every verdict is computed from these ([`crate::verdict`]), in a single run and after
//! `wh loadtest merge` alike, so summing the shards' measurements gives the verdicts of one run
//! of the same answers: sums and extremes merge exactly, and percentiles come from the summed
//! histograms, never from averaging the shards' percentiles.
//!
//! Times are microseconds from the phase's schedule start. In a sharded run every shard starts
//! a phase's schedule at the same agreed wall-clock instant, so their times share one origin
//! (as far as the runners' clocks agree: NTP-synchronised clocks are within milliseconds).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::phase::{Answer, Stream};
use crate::plan::Check;
use crate::verdict::Counts;

/// The resolution of the per-phase series: counts by class per 10 ms of send time. The
/// throttle's measuring window is cut at tick edges (at most 10 ms off at each end of a window
/// of seconds, well inside its ±5 % band).
pub const TICK: Duration = Duration::from_millis(10);

/// Latencies from the scheduled start, in buckets of three significant digits of
/// microseconds (exact below 1 ms, then 1,000, 1,010, ... 9,990, 10,000, 10,100, ...). A
/// bucket is named by its upper bound, and a quantile is the upper bound of the bucket that
/// holds it: never lower than the true value, at most 1 % above it. Merging adds the buckets'
/// counts, so a merged quantile is the quantile of all the shards' answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Histogram(BTreeMap<u64, u64>);

impl Histogram {
    /// The bucket (its upper bound, µs) that holds `us`.
    pub fn bucket(us: u64) -> u64 {
        let mut scale = 1;
        while us / scale >= 1000 {
            scale *= 10;
        }
        us.div_ceil(scale) * scale
    }

    /// Counts one latency.
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        *self.0.entry(Self::bucket(us)).or_default() += 1;
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (bucket, n) in &other.0 {
            *self.0.entry(*bucket).or_default() += n;
        }
    }

    /// Latencies counted.
    pub fn count(&self) -> u64 {
        self.0.values().sum()
    }

    /// The nearest-rank `q` quantile (the `ceil(q x n)`th smallest), as its bucket's upper
    /// bound; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((n as f64 * q).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (bucket, count) in &self.0 {
            seen += count;
            if seen >= rank {
                return Some(Duration::from_micros(*bucket));
            }
        }
        None
    }
}

/// A request's number within its stream and when it was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// Its number in the stream (0-based).
    pub seq: u64,
    /// When it was sent, µs from the schedule start.
    pub sent_us: u64,
}

/// A request answered otherwise than 2xx.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Its number in the stream.
    pub seq: u64,
    /// The status (0: no answer).
    pub status: u16,
    /// When it was sent, µs from the schedule start.
    pub sent_us: u64,
}

/// One stream's figures: each stream belongs to one shard, so these never need merging.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMeasure {
    /// The stream's number in the phase's plan (the same in every shard).
    pub stream: usize,
    /// The address it was bound to (`None`: the machine's own).
    pub source: Option<IpAddr>,
    /// Requests planned.
    pub planned: u64,
    /// Requests sent.
    pub sent: u64,
    /// Whether the stream stops after the per-IP rule's first block (sending fewer than
    /// planned is then expected).
    pub stops_after_block: bool,
    /// Requests answered otherwise than 2xx.
    pub refused: u64,
    /// The first request sent and the last (by number).
    pub first: Option<Mark>,
    /// The last request (by number).
    pub last: Option<Mark>,
    /// The first request the per-IP rule blocked.
    pub first_block: Option<Mark>,
    /// The first request answered otherwise than 2xx.
    pub first_refused: Option<Refusal>,
    /// The request the plan marked (the per-IP phase's crossing), if sent.
    pub mark: Option<Mark>,
}

impl StreamMeasure {
    /// Whether it sent fewer requests than planned without a reason to.
    pub fn ran_short(&self) -> bool {
        self.sent < self.planned && !(self.stops_after_block && self.first_block.is_some())
    }
}

/// What one phase measured (one shard's share, or the sum of all shards').
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseMeasure {
    /// The check the phase served.
    pub check: String,
    /// How long after its scheduled start the last of the phase's users was ready (µs):
    /// requests due before then went out late.
    pub start_late_us: u64,
    /// Goose users the phase ran.
    pub users: usize,
    /// Requests by answer class.
    pub counts: Counts,
    /// Requests by class per [`TICK`] of send time: tick number -> counts in the order of
    /// [`Counts::CLASSES`].
    pub ticks: BTreeMap<u64, [u64; 6]>,
    /// The length of a latency slot, ms.
    pub slot_ms: u64,
    /// Latency from the scheduled start of answered requests, per slot of scheduled time.
    pub latency: BTreeMap<u64, Histogram>,
    /// The earliest and latest scheduled starts.
    pub first_scheduled_us: Option<u64>,
    /// See `first_scheduled_us`.
    pub last_scheduled_us: Option<u64>,
    /// The first send.
    pub first_sent_us: Option<u64>,
    /// The first send answered 429 (the bucket drained).
    pub first_429_sent_us: Option<u64>,
    /// The earliest and latest midpoint of a request's send and answer (its arrival at the
    /// server, as near as the client can tell).
    pub first_mid_us: Option<u64>,
    /// See `first_mid_us`.
    pub last_mid_us: Option<u64>,
    /// The last answer.
    pub last_at_us: Option<u64>,
    /// Requests sent more than 20 ms after their scheduled start.
    pub late_20ms: u64,
    /// The worst lateness, µs.
    pub worst_late_us: u64,
    /// Each stream's figures, by stream number.
    pub streams: Vec<StreamMeasure>,
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn min_in(slot: &mut Option<u64>, v: u64) {
    *slot = Some(slot.map_or(v, |s| s.min(v)));
}

fn max_in(slot: &mut Option<u64>, v: u64) {
    *slot = Some(slot.map_or(v, |s| s.max(v)));
}

fn min_of(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_of(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// How long a latency slot is for a phase of `length`: 1 s, or longer so a phase has at most
/// 600 slots (a 6-hour soak: 36 s).
pub fn slot_for(length: Duration) -> Duration {
    Duration::from_secs(length.as_secs().div_ceil(600).max(1))
}

impl PhaseMeasure {
    /// Measures `answers` of a phase that sent `streams` (answers name streams by their
    /// position in `streams`), with latency slots of `slot`.
    pub fn of(check: Check, answers: &[Answer], streams: &[Stream], slot: Duration) -> Self {
        let slot_us = us(slot).max(1);
        let mut m = PhaseMeasure {
            check: check.name().to_owned(),
            slot_ms: slot_us / 1000,
            streams: streams
                .iter()
                .map(|s| StreamMeasure {
                    stream: s.id,
                    source: s.source,
                    planned: s.count,
                    sent: 0,
                    stops_after_block: s.stop_after_block.is_some(),
                    refused: 0,
                    first: None,
                    last: None,
                    first_block: None,
                    first_refused: None,
                    mark: None,
                })
                .collect(),
            ..PhaseMeasure::default()
        };
        let mut sorted: Vec<&Answer> = answers.iter().collect();
        sorted.sort_by_key(|a| (a.stream, a.seq));
        for a in sorted {
            m.counts.add(a);
            let tick = us(a.sent) / us(TICK);
            let row = m.ticks.entry(tick).or_default();
            row[Counts::class_of(a)] += 1;
            if a.status != 0 {
                m.latency
                    .entry(us(a.scheduled) / slot_us)
                    .or_default()
                    .record(a.latency());
            }
            min_in(&mut m.first_scheduled_us, us(a.scheduled));
            max_in(&mut m.last_scheduled_us, us(a.scheduled));
            min_in(&mut m.first_sent_us, us(a.sent));
            if a.status == 429 {
                min_in(&mut m.first_429_sent_us, us(a.sent));
            }
            let mid = us((a.sent + a.at) / 2);
            min_in(&mut m.first_mid_us, mid);
            max_in(&mut m.last_mid_us, mid);
            max_in(&mut m.last_at_us, us(a.at));
            if a.lateness() > Duration::from_millis(20) {
                m.late_20ms += 1;
            }
            m.worst_late_us = m.worst_late_us.max(us(a.lateness()));
            let (Some(spec), Some(s)) = (streams.get(a.stream), m.streams.get_mut(a.stream)) else {
                continue;
            };
            let mark = Mark {
                seq: a.seq,
                sent_us: us(a.sent),
            };
            s.sent += 1;
            s.first.get_or_insert(mark);
            s.last = Some(mark);
            if a.rule_block {
                s.first_block.get_or_insert(mark);
            }
            if !(200..300).contains(&a.status) {
                s.refused += 1;
                s.first_refused.get_or_insert(Refusal {
                    seq: a.seq,
                    status: a.status,
                    sent_us: mark.sent_us,
                });
            }
            if spec.mark == Some(a.seq) {
                s.mark = Some(mark);
            }
        }
        m
    }

    /// Adds `other` (another shard's share of the same phase).
    pub fn merge(&mut self, other: &PhaseMeasure) {
        self.start_late_us = self.start_late_us.max(other.start_late_us);
        self.users += other.users;
        self.counts.merge(&other.counts);
        for (tick, row) in &other.ticks {
            let mine = self.ticks.entry(*tick).or_default();
            for (m, o) in mine.iter_mut().zip(row) {
                *m += o;
            }
        }
        for (slot, h) in &other.latency {
            self.latency.entry(*slot).or_default().merge(h);
        }
        self.first_scheduled_us = min_of(self.first_scheduled_us, other.first_scheduled_us);
        self.last_scheduled_us = max_of(self.last_scheduled_us, other.last_scheduled_us);
        self.first_sent_us = min_of(self.first_sent_us, other.first_sent_us);
        self.first_429_sent_us = min_of(self.first_429_sent_us, other.first_429_sent_us);
        self.first_mid_us = min_of(self.first_mid_us, other.first_mid_us);
        self.last_mid_us = max_of(self.last_mid_us, other.last_mid_us);
        self.last_at_us = max_of(self.last_at_us, other.last_at_us);
        self.late_20ms += other.late_20ms;
        self.worst_late_us = self.worst_late_us.max(other.worst_late_us);
        self.streams.extend(other.streams.iter().cloned());
        self.streams.sort_by_key(|s| s.stream);
    }

    /// The stream numbered `stream`.
    pub fn stream(&self, stream: usize) -> Option<&StreamMeasure> {
        self.streams.iter().find(|s| s.stream == stream)
    }

    /// Counts of the ticks from `from` (inclusive) to `to` (exclusive), tick numbers.
    pub fn counts_between(&self, from: u64, to: u64) -> Counts {
        let mut c = Counts::default();
        for row in self.ticks.range(from..to.max(from)).map(|(_, r)| r) {
            c.merge(&Counts::from_row(*row));
        }
        c
    }

    /// Latencies of the slots from `from` (inclusive) to `to` (exclusive).
    pub fn latency_between(&self, from: u64, to: u64) -> Histogram {
        let mut h = Histogram::default();
        for (_, slot) in self.latency.range(from..to.max(from)) {
            h.merge(slot);
        }
        h
    }

    /// Requests sent.
    pub fn total(&self) -> u64 {
        self.counts.total()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_keep_three_significant_digits() {
        // Literals: exact below 1,000 µs, then rounded up to three significant digits.
        assert_eq!(Histogram::bucket(0), 0);
        assert_eq!(Histogram::bucket(999), 999);
        assert_eq!(Histogram::bucket(1000), 1000);
        assert_eq!(Histogram::bucket(1001), 1010);
        assert_eq!(Histogram::bucket(1234), 1240);
        assert_eq!(Histogram::bucket(99_901), 100_000);
        assert_eq!(Histogram::bucket(123_456_789), 124_000_000);
    }

    #[test]
    fn quantiles_are_nearest_rank_over_the_buckets_and_merge_exactly() {
        // Two shards' latencies, ms: 1..=10 and 11..=20. Together, 20 values: the median
        // (10th smallest) is 10 ms, p90 (18th) is 18 ms, p99 (ceil(19.8) = 20th) is 20 ms.
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        for ms in 1..=10 {
            a.record(Duration::from_millis(ms));
            b.record(Duration::from_millis(ms + 10));
        }
        assert_eq!(a.quantile(0.5), Some(Duration::from_millis(5)));
        a.merge(&b);
        assert_eq!(a.count(), 20);
        assert_eq!(a.quantile(0.5), Some(Duration::from_millis(10)));
        assert_eq!(a.quantile(0.9), Some(Duration::from_millis(18)));
        assert_eq!(a.quantile(0.99), Some(Duration::from_millis(20)));
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn slots_stay_under_600_a_phase() {
        assert_eq!(slot_for(Duration::from_secs(90)), Duration::from_secs(1));
        assert_eq!(
            slot_for(Duration::from_secs(6 * 3600)),
            Duration::from_secs(36)
        );
    }
}
