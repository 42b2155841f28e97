//! `broadcast --sizes 1000,10000 --duration 4 --batch 10`: deliveries/s and
//! server CPU per delivery, broadcasting to every connection from a
//! controller connection, at each size.

use super::{label, measured, settle};
use crate::cli::{Args, arg, list};
use crate::connect::connect_and_hold;
use crate::ctx::Ctx;
use crate::procfs::Meter;
use crate::ws::{TICK, Ws, sio_connect};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Broadcast rounds from a controller connection: `bcast {n: batch}` keeps
/// at most two rounds outstanding; every connection (the controller too)
/// counts its `tick`s. Runs for `duration`, then waits for the stragglers.
pub async fn broadcast_phase(
    ctx: &Ctx,
    ctl: &mut Ws,
    conns: usize,
    batch: u64,
    duration: Duration,
) -> Value {
    let per_round = batch * conns as u64;
    let cmd = format!("42[\"bcast\",{{\"n\":{batch},\"size\":32}}]");
    ctx.hook("start");
    ctx.ticks.set(0);
    let meter = Meter::start(ctx.pid);
    let t0 = Instant::now();
    let mut issued = 0u64;
    let mut last_complete = t0;
    let grace = Duration::from_secs(10);
    let mut closed = false;
    loop {
        let now = Instant::now();
        let got = ctx.ticks.get();
        if got >= issued * per_round {
            last_complete = now;
        }
        if now >= t0 + duration && got >= issued * per_round {
            break;
        }
        if now >= t0 + duration + grace || closed {
            break;
        }
        while now < t0 + duration && issued < got / per_round + 2 {
            if ctl.send(cmd.as_bytes()).await.is_err() {
                closed = true;
                break;
            }
            issued += 1;
        }
        tokio::select! {
            r = ctl.next() => match r {
                Ok(Some(span)) => {
                    if ctl.data(span).starts_with(TICK) {
                        ctx.ticks.set(ctx.ticks.get() + 1);
                    }
                }
                _ => closed = true,
            },
            _ = tokio::time::sleep(Duration::from_millis(2)) => {}
        }
    }
    let m = meter.stop_at(last_complete);
    ctx.hook("stop");
    let got = ctx.ticks.get();
    let expected = issued * per_round;
    json!({
        "name": format!("broadcast_{}", label(conns)),
        "connections": conns,
        "emits": issued * batch,
        "expected": expected,
        "delivered": got,
        "losses": expected.saturating_sub(got),
        "deliveries_per_s": got as f64 / m.wall,
        "cpu_per_delivery_ns": m.server_cpu * 1e9 / got.max(1) as f64,
        "cpu_per_emit_us": m.server_cpu * 1e6 / (issued * batch).max(1) as f64,
        "measure": measured(&m),
    })
}

pub async fn broadcast(ctx: &Ctx, args: &Args) -> Value {
    let sizes = list(args, "sizes", "1000,10000");
    let batch: u64 = arg(args, "batch", 10);
    let duration = Duration::from_secs_f64(arg(args, "duration", 4.0));
    let mut ctl = sio_connect(ctx.target, ctx.next_src())
        .await
        .expect("controller connect");
    let mut conns = 1usize;
    let mut phases = Vec::new();
    for size in sizes {
        if size > conns {
            let (ok, failed, err) = connect_and_hold(ctx, size - conns).await;
            conns += ok;
            if failed > 0 {
                eprintln!("broadcast: {failed} connects failed: {err:?}");
            }
        }
        settle(500).await;
        phases.push(broadcast_phase(ctx, &mut ctl, conns, batch, duration).await);
        settle(200).await;
    }
    json!(phases)
}
