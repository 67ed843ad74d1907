//! `wh`: compile a payment-webhook ingestion spec into an AWS stack.
//!
//! The pipeline is spec -> checks -> IR -> emitters; see `ARCHITECTURE.md`.

pub mod build;
pub mod checks;
pub mod deploy;
pub mod emit;
pub mod ir;
pub mod ops;
pub mod pipeline;
pub mod spec;
