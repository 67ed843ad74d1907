//! Handler logic shared by every generated Lambda crate (receiver, processor, audit logger) and
//! by `wh dev`: the Rust counterpart of a shared Lambda layer.
//!
//! It never depends on the `wh` compiler. Generated crates pass in behaviour (schemes,
//! tolerances, limits, event mappings); resource names and ARNs come from the environment.
//! Handler logic is plain async functions over the traits in [`backends`], with in-memory and
//! AWS implementations.

pub mod audit;
pub mod backends;
pub mod headers;
pub mod items;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod metrics;
pub mod model;
pub mod normalise;
pub mod ops;
pub mod processor;
pub mod receiver;
pub mod secret;
pub mod verify;

/// The DynamoDB item types the audit logger and the item layout use.
pub use serde_dynamo;
