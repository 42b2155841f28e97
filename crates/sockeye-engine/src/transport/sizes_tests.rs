//! What an idle WebSocket session holds, by type: a test that fails when
//! one of these grows past the figure documented in `bench/PROFILE.md`
//! (sizes of the test build; release builds are the same or smaller).

use crate::session::{SessionInner, State};
use crate::transport::run_websocket;
use crate::transport::ws::WsConn;
use std::mem::size_of;

/// The size of what `f` returns, without calling it.
fn returned_size<A, B, F>(_: impl Fn(A, B) -> F) -> usize {
    size_of::<F>()
}

#[test]
fn idle_session_parts_stay_within_their_documented_sizes() {
    let parts = [
        ("WebSocket task future", returned_size(run_websocket), 968),
        ("WsConn", size_of::<WsConn>(), 472),
        ("SessionInner", size_of::<SessionInner>(), 600),
        ("State", size_of::<State>(), 160),
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
