//! Test support shared by the runtime tests (and, by path, the wh tests and benches).
#![allow(dead_code)]

pub mod moto;
pub mod runtime_api;
pub mod stripe;
