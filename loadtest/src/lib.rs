//! The goose load test behind `wh loadtest`: phases of signed webhooks sent from chosen source
//! addresses at a chosen rate, every answer recorded with its time, and the verdicts computed
//! from those records.
//!
//! The `wh` binary supplies the signer (it knows the spec's providers and schemes); this crate
//! knows nothing of specs, so it never depends on the compiler.

mod phase;
pub mod verdict;

pub use phase::{Answer, Phase, PhaseResult, Signer, run_phase};
