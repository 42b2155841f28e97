//! `echo --connected 1000 --active 100 --duration 4 --unloaded-duration 3`:
//! round trips by ack in closed loop, one connection alone (`echo_unloaded`)
//! and `active` of `connected` (`echo_loaded`); rate, percentiles, CPU.

use super::{PAYLOAD, measured, percentile, settle};
use crate::cli::{Args, arg};
use crate::connect::{connect_and_hold, connect_many};
use crate::ctx::Ctx;
use crate::procfs::Meter;
use crate::ws::{Ws, sio_connect};
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::task::spawn_local;

/// Closed loop: `echo` with an ack id, wait for its ack, again, until
/// `deadline`. Latencies in nanoseconds.
async fn echo_loop(
    mut ws: Ws,
    deadline: Instant,
    lat: Rc<RefCell<Vec<u64>>>,
    errors: Rc<Cell<u64>>,
) {
    let ticks = Cell::new(0);
    let mut id = 0u64;
    while Instant::now() < deadline {
        id += 1;
        let msg = format!("42{id}[\"echo\",\"{PAYLOAD}\"]");
        let want = format!("43{id}[");
        let t = Instant::now();
        if ws.send(msg.as_bytes()).await.is_err()
            || ws.wait_for(want.as_bytes(), &ticks).await.is_err()
        {
            errors.set(errors.get() + 1);
            return;
        }
        lat.borrow_mut().push(t.elapsed().as_nanos() as u64);
    }
}

async fn echo_phase(
    ctx: &Ctx,
    name: &str,
    active: Vec<Ws>,
    connected: usize,
    duration: Duration,
) -> Value {
    let lat = Rc::new(RefCell::new(Vec::new()));
    let errors = Rc::new(Cell::new(0));
    let n = active.len();
    ctx.hook("start");
    let meter = Meter::start(ctx.pid);
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = active
        .into_iter()
        .map(|ws| spawn_local(echo_loop(ws, deadline, lat.clone(), errors.clone())))
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let m = meter.stop();
    ctx.hook("stop");
    let mut l = std::mem::take(&mut *lat.borrow_mut());
    l.sort_unstable();
    let count = l.len();
    json!({
        "name": name,
        "connections": connected,
        "in_flight": n,
        "round_trips": count,
        "errors": errors.get(),
        "rtt_per_s": count as f64 / m.wall,
        "p50_us": percentile(&l, 0.50) / 1e3,
        "p99_us": percentile(&l, 0.99) / 1e3,
        "p999_us": percentile(&l, 0.999) / 1e3,
        "cpu_per_rtt_us": m.server_cpu * 1e6 / count.max(1) as f64,
        "measure": measured(&m),
    })
}

pub async fn echo(ctx: &Ctx, args: &Args) -> Value {
    let connected: usize = arg(args, "connected", 1000);
    let active: usize = arg(args, "active", 100);
    let duration = Duration::from_secs_f64(arg(args, "duration", 4.0));
    let unloaded = Duration::from_secs_f64(arg(args, "unloaded-duration", 3.0));
    let mut phases = Vec::new();
    // Unloaded: one connection, one round trip at a time.
    let one = sio_connect(ctx.target, ctx.next_src())
        .await
        .expect("connect");
    settle(200).await;
    phases.push(echo_phase(ctx, "echo_unloaded", vec![one], 1, unloaded).await);
    // Under load: `connected` open, `active` of them in closed loop.
    let (act, f1, e1) = connect_many(ctx, active).await;
    let (idle_n, f2, e2) = connect_and_hold(ctx, connected.saturating_sub(act.len())).await;
    if f1 + f2 > 0 {
        eprintln!("echo: {} connects failed: {:?}", f1 + f2, e1.or(e2));
    }
    settle(500).await;
    let total = act.len() + idle_n;
    phases.push(echo_phase(ctx, "echo_loaded", act, total, duration).await);
    json!(phases)
}
