//! The futures a connection's tasks hold, by size: a test that fails when
//! one grows past the figure documented in `bench/PROFILE.md` (sizes of the
//! test build, for a plain TCP connection and the serve tests' service).
//!
//! `drive`, `tls_connection` and `idle`'s wait return `async move` blocks
//! rather than being `async fn`s: an `async fn` keeps its arguments and the
//! locals they are moved into in separate places of its state. `connection`
//! stays an `async fn` (1,168 bytes; 1,072 as a block): the smaller task
//! cell made an upgraded session 5.7 KB instead of 5.0 in the bench, through
//! where the allocator put the session's long-lived parts (A/B, 3 rounds).

use std::mem::size_of;

use bytes::Bytes;
use http_body_util::Full;
use tokio::net::TcpStream;

use super::super::tests::support::App;
use super::{connection, drive, idle};

fn returned_size3<A, B, C, F>(_: impl Fn(A, B, C) -> F) -> usize {
    size_of::<F>()
}

fn returned_size5<A, B, C, D, E, F>(_: impl Fn(A, B, C, D, E) -> F) -> usize {
    size_of::<F>()
}

#[test]
fn connection_tasks_stay_within_their_documented_sizes() {
    type Body = Full<Bytes>;
    let parts = [
        (
            "connection task (busy)",
            returned_size5(connection::<App, Body>),
            1168,
        ),
        (
            "drive (a round)",
            returned_size3(drive::<TcpStream, App, Body>),
            872,
        ),
        (
            "idle task (waiting for a request)",
            returned_size3(idle::<TcpStream, App, Body>),
            600,
        ),
    ];
    let mut over = Vec::new();
    for (name, size, limit) in parts {
        println!("{name}: {size} bytes (limit {limit})");
        if size > limit {
            over.push(format!("{name}: {size} > {limit}"));
        }
    }
    assert!(over.is_empty(), "grew past the documented sizes: {over:?}");
}
