//! Handler logic shared by every generated Lambda crate (receiver, processor, audit logger).
//!
//! Empty until the handlers issue lands; it never depends on the `wh` compiler.
