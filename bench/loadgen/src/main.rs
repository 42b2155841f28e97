//! The bench load generator: thousands of Socket.IO clients on one
//! `current_thread` runtime (pin it with `taskset -c 1`).
//!
//! `bench-loadgen SCENARIO --port P [--server-pid PID] [options]`, one JSON
//! document on stdout. Scenarios:
//! - `idle --n 10000 --max 19000`: RSS per connection, connects/s, CPU per connect
//! - `broadcast --sizes 1000,10000 --duration 4 --batch 10`
//! - `echo --connected 1000 --active 100 --duration 4 --unloaded-duration 3`
//! - `polling --concurrency 50,200 --duration 4`
//! - `upgrade --n 5000`
//! - `smoke`: a few connections and messages over every transport; exits
//!   non-zero unless all of them work.
//!
//! `--phase-hook CMD` runs `CMD start` / `CMD stop` around the measured part
//! of the broadcast and echo phases, e.g. `callgrind_control -i on|off`.
//!
//! Connects go in waves of at most `--in-flight` (200). Connections come
//! from 127.0.0.B (`--src-base B`, default 2), and from 127.0.0.B+1, ...
//! beyond what one source address's ephemeral ports allow.

mod poll;
mod procfs;
mod ws;

use procfs::{Measured, Meter};
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::spawn_local;
use ws::{TICK, Ws, sio_connect};

const PAYLOAD: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

struct Ctx {
    target: SocketAddr,
    pid: Option<u32>,
    in_flight: usize,
    /// Connections per source address.
    per_addr: usize,
    /// Connections made so far (to choose source addresses).
    made: Cell<usize>,
    /// The last byte of the first source address (127.0.0.B).
    src_base: usize,
    /// `--phase-hook CMD`: run `CMD start` before and `CMD stop` after each
    /// measured phase (outside the timing), e.g. to switch a profiler on.
    phase_hook: Option<String>,
    ticks: Rc<Cell<u64>>,
}

impl Ctx {
    /// The source address of the next connection: 127.0.0.B for the first
    /// `per_addr`, then 127.0.0.B+1, ... The orchestrator gives every run
    /// its own B, so that no run meets the TIME_WAIT ports of the one
    /// before (their search made connects slow once a range was mostly used).
    fn next_src(&self) -> Option<Ipv4Addr> {
        let i = self.made.get();
        self.made.set(i + 1);
        let last = (self.src_base + i / self.per_addr).clamp(2, 254);
        Some(Ipv4Addr::new(127, 0, 0, last as u8))
    }

    fn hook(&self, what: &str) {
        if let Some(cmd) = &self.phase_hook {
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{cmd} {what}"))
                .status();
        }
    }

    fn rss(&self) -> Option<u64> {
        self.pid.and_then(procfs::rss_kib)
    }
}

type Args = HashMap<String, String>;

fn arg<T: std::str::FromStr>(args: &Args, key: &str, default: T) -> T {
    args.get(key)
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("bad value for --{key}: {v}"))
        })
        .unwrap_or(default)
}

fn list(args: &Args, key: &str, default: &str) -> Vec<usize> {
    args.get(key)
        .map(String::as_str)
        .unwrap_or(default)
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("a list of numbers"))
        .collect()
}

fn measured(m: &Measured) -> Value {
    json!({
        "wall_s": m.wall,
        "server_cpu_s": m.server_cpu,
        "generator_cpu_s": m.gen_cpu,
        "generator_util": m.gen_util(),
        "invalid": m.gen_util() > 0.9,
    })
}

/// Keeps a connection open: answers pings, counts `tick` events.
async fn hold(mut ws: Ws, ticks: Rc<Cell<u64>>) {
    while let Ok(Some(span)) = ws.next().await {
        if ws.data(span).starts_with(TICK) {
            ticks.set(ticks.get() + 1);
        }
    }
}

/// Opens `count` Socket.IO connections, at most `in_flight` connecting at
/// once. Returns the connections and the failures (with the first error).
async fn connect_many(ctx: &Ctx, count: usize) -> (Vec<Ws>, usize, Option<String>) {
    let sem = Arc::new(Semaphore::new(ctx.in_flight));
    let out: Rc<RefCell<Vec<Ws>>> = Rc::new(RefCell::new(Vec::with_capacity(count)));
    let failures = Rc::new(Cell::new(0usize));
    let first_error: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    for _ in 0..count {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let (target, src) = (ctx.target, ctx.next_src());
        let (out, failures, first_error) = (out.clone(), failures.clone(), first_error.clone());
        spawn_local(async move {
            let r = tokio::time::timeout(Duration::from_secs(60), sio_connect(target, src)).await;
            drop(permit);
            match r {
                Ok(Ok(ws)) => out.borrow_mut().push(ws),
                Ok(Err(e)) => {
                    failures.set(failures.get() + 1);
                    first_error
                        .borrow_mut()
                        .get_or_insert_with(|| e.to_string());
                }
                Err(_) => {
                    failures.set(failures.get() + 1);
                    first_error
                        .borrow_mut()
                        .get_or_insert_with(|| "connect timed out".into());
                }
            }
        });
    }
    let _all = sem
        .acquire_many(ctx.in_flight as u32)
        .await
        .expect("semaphore");
    let conns = std::mem::take(&mut *out.borrow_mut());
    let e = first_error.borrow_mut().take();
    (conns, failures.get(), e)
}

/// Connects `count` and keeps them open with [`hold`].
async fn connect_and_hold(ctx: &Ctx, count: usize) -> (usize, usize, Option<String>) {
    let (conns, failures, e) = connect_many(ctx, count).await;
    let ok = conns.len();
    for ws in conns {
        spawn_local(hold(ws, ctx.ticks.clone()));
    }
    (ok, failures, e)
}

async fn settle(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

fn kb_per(delta_kib: i64, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        delta_kib as f64 * 1024.0 / 1000.0 / n as f64
    }
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

async fn idle(ctx: &Ctx, args: &Args) -> Value {
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
    let mut phases = vec![json!({
        "name": format!("idle_{}", label(n)),
        "connections": ok,
        "failures": failed,
        "first_error": err,
        "rss_before_kib": rss0,
        "rss_after_kib": rss1,
        "rss_per_conn_kb": kb_per(rss1 - rss0, ok),
        "connects_per_s": ok as f64 / m.wall,
        "cpu_per_connect_us": m.server_cpu * 1e6 / ok.max(1) as f64,
        "measure": measured(&m),
    })];
    // The maximum phase only when it adds a meaningful number of connections.
    if max >= n + warm + 1000 {
        let more = max - n - warm;
        let meter = Meter::start(ctx.pid);
        let (ok2, failed2, err2) = connect_and_hold(ctx, more).await;
        let m2 = meter.stop();
        settle(settle_ms).await;
        let rss2 = ctx.rss().unwrap_or(0) as i64;
        let total = ok + ok2;
        phases.push(json!({
            "name": "idle_max",
            "connections": total + warm,
            "failures": failed2,
            "first_error": err2,
            "rss_before_kib": rss0,
            "rss_after_kib": rss2,
            "rss_per_conn_kb": kb_per(rss2 - rss0, total),
            "connects_per_s": ok2 as f64 / m2.wall,
            "cpu_per_connect_us": m2.server_cpu * 1e6 / ok2.max(1) as f64,
            "measure": measured(&m2),
        }));
    }
    json!(phases)
}

fn label(n: usize) -> String {
    if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// Broadcast rounds from a controller connection: `bcast {n: batch}` keeps
/// at most two rounds outstanding; every connection (the controller too)
/// counts its `tick`s. Runs for `duration`, then waits for the stragglers.
async fn broadcast_phase(
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

async fn broadcast(ctx: &Ctx, args: &Args) -> Value {
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

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64
}

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

async fn echo(ctx: &Ctx, args: &Args) -> Value {
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

async fn polling_phase(ctx: &Ctx, workers: usize, duration: Duration) -> Value {
    let sessions = Rc::new(Cell::new(0u64));
    let requests = Rc::new(Cell::new(0u64));
    let errors = Rc::new(Cell::new(0u64));
    let first_error: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    let meter = Meter::start(ctx.pid);
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (target, src) = (ctx.target, ctx.next_src());
        let (sessions, requests, errors, first_error) = (
            sessions.clone(),
            requests.clone(),
            errors.clone(),
            first_error.clone(),
        );
        tasks.push(spawn_local(async move {
            let mut http = None;
            while Instant::now() < deadline {
                if http.is_none() {
                    match poll::Http::connect(target, src).await {
                        Ok(h) => http = Some(h),
                        Err(e) => {
                            errors.set(errors.get() + 1);
                            first_error.borrow_mut().get_or_insert(e.to_string());
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let h = http.as_mut().expect("connected");
                let before = h.requests;
                match poll::session(h).await {
                    Ok(r) => {
                        sessions.set(sessions.get() + 1);
                        requests.set(requests.get() + r);
                    }
                    Err(e) => {
                        requests.set(requests.get() + (h.requests - before));
                        errors.set(errors.get() + 1);
                        first_error.borrow_mut().get_or_insert(e.to_string());
                        http = None;
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let m = meter.stop();
    let (s, r) = (sessions.get(), requests.get());
    let e = first_error.borrow_mut().take();
    json!({
        "name": format!("polling_{workers}"),
        "concurrency": workers,
        "sessions": s,
        "requests": r,
        "errors": errors.get(),
        "first_error": e,
        "sessions_per_s": s as f64 / m.wall,
        "requests_per_s": r as f64 / m.wall,
        "cpu_per_request_us": m.server_cpu * 1e6 / r.max(1) as f64,
        "measure": measured(&m),
    })
}

async fn polling(ctx: &Ctx, args: &Args) -> Value {
    let duration = Duration::from_secs_f64(arg(args, "duration", 4.0));
    let mut phases = Vec::new();
    for c in list(args, "concurrency", "50,200") {
        phases.push(polling_phase(ctx, c, duration).await);
        settle(300).await;
    }
    json!(phases)
}

/// `n` sessions opened by polling and upgraded to WebSocket, at most
/// `in_flight` at once; then one broadcast checks that every one is live.
async fn upgrade_sessions(ctx: &Ctx, n: usize) -> (Vec<Ws>, usize, Option<String>) {
    let sem = Arc::new(Semaphore::new(ctx.in_flight));
    let out: Rc<RefCell<Vec<Ws>>> = Rc::new(RefCell::new(Vec::new()));
    let failures = Rc::new(Cell::new(0usize));
    let first_error: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let (target, s1, s2) = (ctx.target, ctx.next_src(), ctx.next_src());
        let (out, failures, first_error) = (out.clone(), failures.clone(), first_error.clone());
        spawn_local(async move {
            let r = tokio::time::timeout(
                Duration::from_secs(60),
                poll::polling_then_upgrade(target, s1, s2),
            )
            .await
            .unwrap_or_else(|_| Err(io::Error::other("upgrade timed out")));
            drop(permit);
            match r {
                Ok(ws) => out.borrow_mut().push(ws),
                Err(e) => {
                    failures.set(failures.get() + 1);
                    first_error.borrow_mut().get_or_insert(e.to_string());
                }
            }
        });
    }
    let _all = sem
        .acquire_many(ctx.in_flight as u32)
        .await
        .expect("semaphore");
    let conns = std::mem::take(&mut *out.borrow_mut());
    let e = first_error.borrow_mut().take();
    (conns, failures.get(), e)
}

/// Sends one `bcast {n:1}` from `ctl` and waits until `expected` ticks have
/// been counted (or `wait`); returns the count.
async fn check_live(ctx: &Ctx, ctl: &mut Ws, expected: u64, wait: Duration) -> u64 {
    ctx.ticks.set(0);
    let _ = ctl.send(b"42[\"bcast\",{\"n\":1,\"size\":32}]").await;
    let end = Instant::now() + wait;
    while ctx.ticks.get() < expected && Instant::now() < end {
        tokio::select! {
            r = ctl.next() => if let Ok(Some(span)) = r {
                if ctl.data(span).starts_with(TICK) {
                    ctx.ticks.set(ctx.ticks.get() + 1);
                }
            },
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
    }
    ctx.ticks.get()
}

async fn upgrade(ctx: &Ctx, args: &Args) -> Value {
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

/// A tiny run over every transport; any failure is an error.
async fn smoke(ctx: &Ctx, args: &Args) -> Result<Value, String> {
    let n: usize = arg(args, "n", 5);
    let mut ctl = sio_connect(ctx.target, ctx.next_src())
        .await
        .map_err(|e| format!("WebSocket connect: {e}"))?;
    let (held, failed, err) = connect_and_hold(ctx, n - 1).await;
    if failed > 0 {
        return Err(format!("{failed} WebSocket connects failed: {err:?}"));
    }
    // Echo by ack.
    let ticks = Cell::new(0);
    for id in 1..=3u64 {
        ctl.send(format!("42{id}[\"echo\",\"{PAYLOAD}\"]").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        tokio::time::timeout(
            Duration::from_secs(5),
            ctl.wait_for(format!("43{id}[\"{PAYLOAD}\"]").as_bytes(), &ticks),
        )
        .await
        .map_err(|_| "no echo ack within 5 s".to_string())?
        .map_err(|e| format!("echo: {e}"))?;
    }
    // Broadcast: 3 ticks to every connection.
    let conns = held + 1;
    let b = broadcast_phase(ctx, &mut ctl, conns, 3, Duration::from_millis(1)).await;
    if b["losses"].as_u64() != Some(0) || b["delivered"].as_u64().unwrap_or(0) == 0 {
        return Err(format!("broadcast lost messages: {b}"));
    }
    // Long-polling sessions.
    let mut http = poll::Http::connect(ctx.target, None)
        .await
        .map_err(|e| e.to_string())?;
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(10), poll::session(&mut http))
            .await
            .map_err(|_| "polling session timed out".to_string())?
            .map_err(|e| format!("polling session: {e}"))?;
    }
    // Polling then upgrade.
    let (up, failed, err) = upgrade_sessions(ctx, 2).await;
    if failed > 0 {
        return Err(format!("upgrade failed: {err:?}"));
    }
    for ws in up {
        spawn_local(hold(ws, ctx.ticks.clone()));
    }
    let expected = conns as u64 + 2;
    let live = check_live(ctx, &mut ctl, expected, Duration::from_secs(5)).await;
    if live != expected {
        return Err(format!(
            "after upgrade, {live} of {expected} connections got a broadcast"
        ));
    }
    Ok(json!({"ok": true, "connections": expected, "broadcast": b}))
}

fn main() {
    let mut argv = std::env::args().skip(1);
    let scenario = argv.next().unwrap_or_default();
    let mut args = Args::new();
    let rest: Vec<String> = argv.collect();
    let mut i = 0;
    while i < rest.len() {
        let key = rest[i].trim_start_matches("--").to_owned();
        let value = rest.get(i + 1).cloned().unwrap_or_default();
        args.insert(key, value);
        i += 2;
    }
    let port: u16 = arg(&args, "port", 0);
    if port == 0 {
        eprintln!(
            "usage: bench-loadgen idle|broadcast|echo|polling|upgrade|smoke --port P [--server-pid PID] ..."
        );
        std::process::exit(2);
    }
    let host: Ipv4Addr = arg(&args, "host", Ipv4Addr::LOCALHOST);
    let (lo, hi) = procfs::port_range();
    let ports = (hi as usize).saturating_sub(lo as usize) + 1;
    let ctx = Ctx {
        target: SocketAddr::from((host, port)),
        pid: args.get("server-pid").and_then(|p| p.parse().ok()),
        in_flight: arg(&args, "in-flight", 200),
        // A quarter of the range per address: connect()'s search for a free
        // port slows down sharply as an address's range fills up.
        per_addr: arg(&args, "per-addr", (ports / 4).max(1000)),
        made: Cell::new(0),
        src_base: arg(&args, "src-base", 2),
        phase_hook: args.get("phase-hook").cloned(),
        ticks: Rc::new(Cell::new(0)),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let started = Instant::now();
    let result = local.block_on(&rt, async {
        match scenario.as_str() {
            "idle" => Ok(idle(&ctx, &args).await),
            "broadcast" => Ok(broadcast(&ctx, &args).await),
            "echo" => Ok(echo(&ctx, &args).await),
            "polling" => Ok(polling(&ctx, &args).await),
            "upgrade" => Ok(upgrade(&ctx, &args).await),
            "smoke" => smoke(&ctx, &args).await,
            other => Err(format!("unknown scenario {other:?}")),
        }
    });
    match result {
        Ok(v) => {
            let out = json!({
                "scenario": scenario,
                "phases": v,
                "source_addresses": ctx.made.get().div_ceil(ctx.per_addr),
                "elapsed_s": started.elapsed().as_secs_f64(),
                "generator_cpu_total_s": procfs::self_cpu(),
            });
            println!("{out}");
            // Leave at once: the kernel closes every connection.
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("bench-loadgen {scenario}: FAILED: {e}");
            std::process::exit(1);
        }
    }
}
