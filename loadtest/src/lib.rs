//! The goose load test behind `wh loadtest`: open-workload phases of signed webhooks sent from
//! chosen source addresses on a schedule (phase.rs), planned from the spec's limits (plan.rs),
//! run in order or at agreed times by each shard (run.rs), measured in sums that merge exactly
//! (measure.rs), merged over shards (merge.rs), judged by two-sided verdicts (verdict.rs) and
//! reported (report.rs: Markdown, and HTML with inline SVG plots).
//!
//! The `wh` binary supplies the signer and the soak's after-check (it knows the spec's
//! providers and where the stack keeps its webhooks); this crate knows nothing of specs, so it
//! never depends on the compiler.

pub mod measure;
pub mod merge;
mod phase;
pub mod plan;
pub mod report;
pub mod run;
pub mod verdict;

pub use phase::{Answer, Phase, PhaseResult, Signer, Stream, run_phase};
