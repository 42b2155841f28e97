//! `idle --n 10000 --max 19000 --settle-ms 1000`: RSS per connection,
//! connects/s and server CPU per connect for `n` held connections, then up
//! to `max` (the `idle_max` phase).
//!
//! `idle_nick --max 19000`: `max` connections (warm-up included), each of
//! which sends `42["nick","user-N"]` once connected, kept by the server in
//! the socket's data as the chat keeps a user's nickname (the
//! `idle_max_nick` phase).

use super::{kb_per, label, measured, settle};
use crate::cli::{Args, arg};
use crate::connect::{connect_and_hold, connect_and_hold_as};
use crate::ctx::Ctx;
use crate::procfs::{Measured, Meter};
use serde_json::{Value, json};

pub async fn idle(ctx: &Ctx, args: &Args) -> Value {
    let n: usize = arg(args, "n", 10_000);
    let max: usize = arg(args, "max", 0);
    let settle_ms: u64 = arg(args, "settle-ms", 1000);
    // Warm up (first allocations, allocator caches), as the engine's
    // idle_sessions example does.
    let (warm, _, _) = connect_and_hold(ctx, 100).await;
    settle(300).await;
    let rss0 = ctx.rss().unwrap_or(0) as i64;
    let meter = Meter::start(ctx.pid);
    let (ok, failed, err) = connect_and_hold(ctx, n).await;
    let m = meter.stop();
    settle(settle_ms).await;
    let rss1 = ctx.rss().unwrap_or(0) as i64;
    let mut phases = vec![phase(
        format!("idle_{}", label(n)),
        ok,
        (failed, err),
        (rss0, rss1, ok),
        ok,
        &m,
    )];
    // The maximum phase only when it adds a meaningful number of connections.
    if max >= n + warm + 1000 {
        let more = max - n - warm;
        let meter = Meter::start(ctx.pid);
        let (ok2, failed2, err2) = connect_and_hold(ctx, more).await;
        let m2 = meter.stop();
        settle(settle_ms).await;
        let rss2 = ctx.rss().unwrap_or(0) as i64;
        let total = ok + ok2;
        phases.push(phase(
            "idle_max".into(),
            total + warm,
            (failed2, err2),
            (rss0, rss2, total),
            ok2,
            &m2,
        ));
    }
    json!(phases)
}

pub async fn idle_nick(ctx: &Ctx, args: &Args) -> Value {
    let max: usize = arg(args, "max", 19_000);
    let settle_ms: u64 = arg(args, "settle-ms", 1000);
    let (warm, _, _) = connect_and_hold_as(ctx, 100, true).await;
    settle(300).await;
    let rss0 = ctx.rss().unwrap_or(0) as i64;
    let meter = Meter::start(ctx.pid);
    let (ok, failed, err) = connect_and_hold_as(ctx, max.saturating_sub(warm), true).await;
    let m = meter.stop();
    settle(settle_ms).await;
    let rss1 = ctx.rss().unwrap_or(0) as i64;
    json!([phase(
        "idle_max_nick".into(),
        ok + warm,
        (failed, err),
        (rss0, rss1, ok),
        ok,
        &m,
    )])
}

/// One idle phase's record: `connections` held in all, its failures, the
/// RSS before and after divided over `per` connections, and the rate and
/// CPU of the `made` connections measured by `m`.
fn phase(
    name: String,
    connections: usize,
    (failed, err): (usize, Option<String>),
    (rss0, rss1, per): (i64, i64, usize),
    made: usize,
    m: &Measured,
) -> Value {
    json!({
        "name": name,
        "connections": connections,
        "failures": failed,
        "first_error": err,
        "rss_before_kib": rss0,
        "rss_after_kib": rss1,
        "rss_per_conn_kb": kb_per(rss1 - rss0, per),
        "connects_per_s": made as f64 / m.wall,
        "cpu_per_connect_us": m.server_cpu * 1e6 / made.max(1) as f64,
        "measure": measured(m),
    })
}
