//! `wh`: compile a payment-webhook ingestion spec into an AWS stack.
//!
//! The pipeline is spec -> checks -> IR -> emitters; see `ARCHITECTURE.md`.

pub mod checks;
pub mod codegen;
pub mod deploy;
pub mod emit;
pub mod ir;
pub mod lambda_build;
pub mod ops;
pub mod package;
pub mod pipeline;
pub mod spec;
pub mod stack_state;
