//! Handler logic shared by every generated Lambda crate (receiver, processor, audit logger) and
//! by `wh dev`: the Rust counterpart of a shared Lambda layer.
//!
//! It never depends on the `wh` compiler. Generated crates pass in behaviour (schemes,
//! tolerances, limits, event mappings); resource names and ARNs come from the environment.

pub mod headers;
pub mod secret;
pub mod verify;
