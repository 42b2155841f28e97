//! `upgrade --n 5000`: sessions opened by polling and upgraded to
//! WebSocket; sessions/s, server CPU and RSS per session, and a broadcast
//! to check that every one is live. (The RSS per idle long-polling session
//! is the `polling_idle` scenario, on a fresh server: measured here first,
//! the heap it frees would make this scenario's figure read low.)

use super::{kb_per, label, measured, settle};
use crate::cli::{Args, arg};
use crate::connect::{hold, upgrade_sessions};
use crate::ctx::Ctx;
use crate::procfs::Meter;
use crate::ws::{TICK, Ws, sio_connect};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::task::spawn_local;

/// Sends one `bcast {n:1}` from `ctl` and waits until `expected` ticks have
/// been counted (or `wait`); returns the count.
pub async fn check_live(ctx: &Ctx, ctl: &mut Ws, expected: u64, wait: Duration) -> u64 {
    ctx.ticks.set(0);
    let _ = ctl.send(b"42[\"bcast\",{\"n\":1,\"size\":32}]").await;
    let end = Instant::now() + wait;
    while ctx.ticks.get() < expected && Instant::now() < end {
        tokio::select! {
            r = ctl.next() => if let Ok(Some(span)) = r
                && ctl.data(span).starts_with(TICK)
            {
                ctx.ticks.set(ctx.ticks.get() + 1);
            },
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
    }
    ctx.ticks.get()
}

pub async fn upgrade(ctx: &Ctx, args: &Args) -> Value {
    let n: usize = arg(args, "n", 5000);
    let mut ctl = sio_connect(ctx.target, ctx.next_src())
        .await
        .expect("controller connect");
    settle(200).await;
    let rss0 = ctx.rss().unwrap_or(0) as i64;
    let meter = Meter::start(ctx.pid);
    let (conns, failed, err) = upgrade_sessions(ctx, n).await;
    let m = meter.stop();
    let ok = conns.len();
    for ws in conns {
        spawn_local(hold(ws, ctx.ticks.clone()));
    }
    settle(1000).await;
    let rss1 = ctx.rss().unwrap_or(0) as i64;
    let live = check_live(ctx, &mut ctl, ok as u64 + 1, Duration::from_secs(10)).await;
    json!([{
        "name": format!("upgrade_{}", label(n)),
        "sessions": ok,
        "failures": failed,
        "first_error": err,
        "live_after_upgrade": live.saturating_sub(1),
        "sessions_per_s": ok as f64 / m.wall,
        "cpu_per_session_us": m.server_cpu * 1e6 / ok.max(1) as f64,
        "rss_per_session_kb": kb_per(rss1 - rss0, ok),
        "measure": measured(&m),
    }])
}
