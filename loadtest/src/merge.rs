//! `wh loadtest merge`: the shards' measurements summed into one run's, refused when they are
//! not one run (different plans, a shard missing or twice) and when a shard did not do its part
//! (started a phase late, sent fewer requests than planned).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use crate::measure::PhaseMeasure;
use crate::run::{FORMAT, Measurements, RunPlan};
use crate::verdict::Accounting;

/// How late a shard may have had all of a phase's users ready before the merge refuses it:
/// half a second (its first requests then went out late; the generator figures show how late).
pub const LATE_LIMIT: Duration = Duration::from_millis(500);

/// The shards' sum.
#[derive(Clone, Debug)]
pub struct Merged {
    /// The plan every shard ran.
    pub plan: RunPlan,
    /// Each check's measurement, summed over the shards.
    pub phases: Vec<PhaseMeasure>,
    /// The soak's after-checks, summed (an error if any shard's failed).
    pub accounting: Option<Result<Accounting, String>>,
    /// Each shard's machine address (1-based index into this list less one).
    pub egress: Vec<Option<IpAddr>>,
}

impl Merged {
    /// Every distinct address the load came from: the loopback sources the streams were bound
    /// to, and the machines' own addresses where they were not.
    pub fn addresses(&self) -> BTreeSet<IpAddr> {
        let mut out: BTreeSet<IpAddr> = self
            .phases
            .iter()
            .flat_map(|p| p.streams.iter().filter_map(|s| s.source))
            .collect();
        let unbound = self
            .phases
            .iter()
            .any(|p| p.streams.iter().any(|s| s.source.is_none()));
        if unbound {
            out.extend(self.egress.iter().flatten());
        }
        out
    }

    /// Whether shards `a` and `b` (1-based) sent from known, different addresses: the per-IP
    /// parts need one address per role.
    pub fn apart(&self, a: usize, b: usize) -> Result<(), String> {
        let of = |s: usize| self.egress.get(s - 1).copied().flatten();
        match (of(a), of(b)) {
            (Some(x), Some(y)) if x != y => Ok(()),
            (Some(x), Some(_)) => Err(format!(
                "shards {a} and {b} sent from the same address {x} (hosted runners may share egress addresses), so the rule counted them together"
            )),
            _ => Err(format!(
                "the address of shard {} is unknown (give --egress-address)",
                if of(a).is_none() { a } else { b }
            )),
        }
    }
}

/// Sums `shards` (each with the name it was read from, for messages), or says every reason it
/// cannot.
pub fn merge(shards: Vec<(String, Measurements)>) -> Result<Merged, Vec<String>> {
    let mut errors = Vec::new();
    let Some((first_name, first)) = shards.first().cloned() else {
        return Err(vec!["no measurements to merge".into()]);
    };
    for (name, m) in &shards {
        if m.format != FORMAT {
            errors.push(format!(
                "{name}: format `{}`, this wh reads `{FORMAT}`",
                m.format
            ));
        }
    }
    let plan = first.plan.clone();
    let reference = serde_json::to_value(&plan).unwrap_or_default();
    for (name, m) in &shards[1..] {
        if m.plan == plan {
            continue;
        }
        let other = serde_json::to_value(&m.plan).unwrap_or_default();
        let differing: Vec<String> = reference
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| other.get(k.as_str()) != Some(v))
            .map(|(k, v)| {
                format!(
                    "{k} {} there, {} in {first_name}",
                    other.get(k.as_str()).cloned().unwrap_or_default(),
                    v
                )
            })
            .collect();
        errors.push(format!(
            "{name} is not a shard of the same run as {first_name}: {}",
            differing.join("; ")
        ));
    }
    let n = plan.shards;
    let mut by_index: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (name, m) in &shards {
        by_index.entry(m.shard).or_default().push(name);
    }
    for (index, names) in &by_index {
        if *index == 0 || *index > n {
            errors.push(format!(
                "{}: shard {index} of a run of {n}",
                names.join(", ")
            ));
        } else if names.len() > 1 {
            errors.push(format!(
                "shard {index} appears {} times: {}",
                names.len(),
                names.join(", ")
            ));
        }
    }
    let missing: Vec<String> = (1..=n)
        .filter(|i| !by_index.contains_key(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        errors.push(format!(
            "shard{} {} of {n} {} missing: every shard's measurements are needed (its share of the load is in no other)",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            if missing.len() > 1 { "are" } else { "is" }
        ));
    }
    for (name, m) in &shards {
        let measured: Vec<&str> = m.phases.iter().map(|p| p.check.as_str()).collect();
        let planned: Vec<&str> = plan.checks.iter().map(|c| c.name()).collect();
        if measured != planned {
            errors.push(format!(
                "shard {} ({name}) ran short: it measured {} of the phases {}",
                m.shard,
                if measured.is_empty() {
                    "none".to_owned()
                } else {
                    measured.join(", ")
                },
                planned.join(", ")
            ));
            continue;
        }
        for p in &m.phases {
            if p.start_late_us > LATE_LIMIT.as_micros() as u64 {
                errors.push(format!(
                    "shard {} ({name}) started the {} phase {:.1} s late (its users were ready after the agreed time; at most {} ms is allowed)",
                    m.shard,
                    p.check,
                    p.start_late_us as f64 / 1e6,
                    LATE_LIMIT.as_millis()
                ));
            }
            for s in p.streams.iter().filter(|s| s.ran_short()) {
                errors.push(format!(
                    "shard {} ({name}) ran short in the {} phase: stream {} sent {} of {} requests",
                    m.shard, p.check, s.stream, s.sent, s.planned
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut sorted: Vec<&Measurements> = shards.iter().map(|(_, m)| m).collect();
    sorted.sort_by_key(|m| m.shard);
    let mut phases = sorted[0].phases.clone();
    for m in &sorted[1..] {
        for (mine, theirs) in phases.iter_mut().zip(&m.phases) {
            mine.merge(theirs);
        }
    }
    let mut accounting: Option<Result<Accounting, String>> = None;
    for m in &sorted {
        let Some(theirs) = &m.accounting else {
            continue;
        };
        accounting = Some(match (accounting, theirs) {
            (None, t) => t.clone().map_err(|e| format!("shard {}: {e}", m.shard)),
            (Some(Err(e)), Err(t)) => Err(format!("{e}; shard {}: {t}", m.shard)),
            (Some(Err(e)), Ok(_)) => Err(e),
            (Some(Ok(_)), Err(t)) => Err(format!("shard {}: {t}", m.shard)),
            (Some(Ok(mut a)), Ok(t)) => {
                a.merge(t);
                Ok(a)
            }
        });
    }
    Ok(Merged {
        plan,
        phases,
        accounting,
        egress: sorted.iter().map(|m| m.egress).collect(),
    })
}
