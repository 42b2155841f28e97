//! Engine.IO v3 polling payloads (length-prefixed text and XHR2 binary).
//!
//! Implemented in a separate change; see the module docs of [`super`].
