//! Sockeye's Engine.IO server, on hyper 1.x.
//!
//! Under construction: see the repository README.
mod cookie;
mod cors;
mod serve;
