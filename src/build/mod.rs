//! The build step, `wh build`: the generated handler crates compiled for arm64 Lambda
//! ([`lambda`]) and packaged as reproducible zips with a manifest ([`package`]). The CLI edge is
//! `src/cli/build.rs`.

pub mod lambda;
pub mod package;
