//! The goose load test behind `wh loadtest`.
//!
//! Empty until the load-test issue lands.
