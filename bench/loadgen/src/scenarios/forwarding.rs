//! `forwarding --ports P1,P2,P3 --pids A,B,C,R --sessions 50 --duration 4
//! [--modes owner,forwarded,roundrobin]`: the cost of serving a polling
//! session from a node that does not own it (Engine.IO forwarding over the
//! cluster bus).
//!
//! `sessions` long-polling sessions are opened, round robin over the nodes
//! (the node of the handshake owns the session), and joined to `/`. Then,
//! for `duration`, each session does `echo` round trips: a POST with the
//! event, GETs until its ack. Which node each request goes to depends on
//! the phase:
//!
//! - `forwarding_owner`: every request to the session's owner (no
//!   forwarding: the cost of polling on a cluster node);
//! - `forwarding_forwarded`: every request to the next node (all forwarded);
//! - `forwarding_roundrobin`: request i to node owner + i (what a
//!   round-robin proxy does: on 3 nodes, 2 requests in 3 are forwarded).
//!
//! Server CPU is the sum over `--pids` (every node and Redis), per request;
//! the round-trip latency of one echo (POST, then GETs until the ack) is
//! reported as p50/p99.

use super::{measured, percentile, settle};
use crate::cli::{Args, arg, list};
use crate::ctx::Ctx;
use crate::poll::{self, Http};
use crate::procfs::{Meter, cpu_secs};
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::task::spawn_local;

const ECHO: &[u8] = b"421[\"echo\",\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]";

/// One polling session and a keep-alive connection to every node.
struct Session {
    owner: usize,
    path: String,
    nodes: Vec<Http>,
}

impl Session {
    async fn open(ctx: &Ctx, targets: &[SocketAddr], owner: usize) -> Result<Session, String> {
        let mut nodes = Vec::new();
        for &t in targets {
            nodes.push(
                Http::connect(t, ctx.next_src())
                    .await
                    .map_err(|e| format!("connect {t}: {e}"))?,
            );
        }
        let path = poll::open_session(&mut nodes[owner])
            .await
            .map_err(|e| format!("session on node {owner}: {e}"))?;
        Ok(Session { owner, path, nodes })
    }

    /// One echo round trip, the i-th request going to `pick(i)`; returns
    /// the requests it took.
    async fn echo(
        &mut self,
        pick: &dyn Fn(usize, u64) -> usize,
        i: &mut u64,
    ) -> Result<u64, String> {
        let mut n = 1;
        let node = pick(self.owner, *i);
        *i += 1;
        self.nodes[node]
            .post(&self.path, ECHO)
            .await
            .map_err(|e| format!("POST on node {node}: {e}"))?;
        for _ in 0..20 {
            let node = pick(self.owner, *i);
            *i += 1;
            n += 1;
            let body = self.nodes[node]
                .get(&self.path)
                .await
                .map_err(|e| format!("GET on node {node}: {e}"))?;
            if poll::packets(&body).any(|p| p.starts_with(b"431[")) {
                return Ok(n);
            }
        }
        Err("the echo's ack never came".into())
    }
}

async fn phase(
    ctx: &Ctx,
    targets: &[SocketAddr],
    pids: &[u32],
    mode: &str,
    sessions: usize,
    duration: Duration,
) -> Result<Value, String> {
    let nodes = targets.len();
    let pick: Rc<dyn Fn(usize, u64) -> usize> = match mode {
        "owner" => Rc::new(|owner, _| owner),
        "forwarded" => Rc::new(move |owner, _| (owner + 1) % nodes),
        "roundrobin" => Rc::new(move |owner, i| (owner + i as usize) % nodes),
        other => return Err(format!("unknown forwarding mode {other:?}")),
    };
    let mut open = Vec::new();
    for s in 0..sessions {
        open.push(Session::open(ctx, targets, s % nodes).await?);
    }
    settle(200).await;

    let requests = Rc::new(Cell::new(0u64));
    let rtts: Rc<RefCell<Vec<u64>>> = Rc::new(RefCell::new(Vec::new()));
    let first_error: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    let cluster_cpu = || pids.iter().filter_map(|&p| cpu_secs(p)).sum::<f64>();
    let meter = Meter::start(None);
    let cpu0 = cluster_cpu();
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for mut s in open {
        let (requests, rtts, first_error, pick) = (
            requests.clone(),
            rtts.clone(),
            first_error.clone(),
            pick.clone(),
        );
        tasks.push(spawn_local(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                match s.echo(&*pick, &mut i).await {
                    Ok(n) => {
                        requests.set(requests.get() + n);
                        rtts.borrow_mut().push(t0.elapsed().as_nanos() as u64);
                    }
                    Err(e) => {
                        first_error.borrow_mut().get_or_insert(e);
                        break;
                    }
                }
            }
            s
        }));
    }
    let mut done = Vec::new();
    for t in tasks {
        if let Ok(s) = t.await {
            done.push(s);
        }
    }
    let mut m = meter.stop();
    m.server_cpu = cluster_cpu() - cpu0;
    // Closed outside the measurement.
    for mut s in done {
        let owner = s.owner;
        let _ = s.nodes[owner].post(&s.path, b"1").await;
    }
    if let Some(e) = first_error.borrow_mut().take() {
        return Err(format!("forwarding_{mode}: {e}"));
    }
    let r = requests.get();
    let mut l = rtts.borrow().clone();
    l.sort_unstable();
    Ok(json!({
        "name": format!("forwarding_{mode}"),
        "mode": mode,
        "nodes": nodes,
        "sessions": sessions,
        "requests": r,
        "round_trips": l.len(),
        "requests_per_s": r as f64 / m.wall,
        "cpu_per_request_us": m.server_cpu * 1e6 / r.max(1) as f64,
        "rtt_p50_us": percentile(&l, 0.5) / 1e3,
        "rtt_p99_us": percentile(&l, 0.99) / 1e3,
        "measure": measured(&m),
    }))
}

pub async fn forwarding(ctx: &Ctx, args: &Args) -> Result<Value, String> {
    let targets: Vec<SocketAddr> = list(args, "ports", "")
        .into_iter()
        .map(|p| SocketAddr::from((ctx.target.ip(), p as u16)))
        .collect();
    if targets.len() < 2 {
        return Err("forwarding needs --ports of at least two nodes".into());
    }
    let pids: Vec<u32> = list(args, "pids", "")
        .into_iter()
        .map(|p| p as u32)
        .collect();
    let sessions = arg(args, "sessions", 50);
    let duration = Duration::from_secs_f64(arg(args, "duration", 4.0));
    let modes: Vec<String> = args
        .get("modes")
        .map_or("owner,forwarded,roundrobin", String::as_str)
        .split(',')
        .map(str::to_owned)
        .collect();
    let mut phases = Vec::new();
    for mode in &modes {
        phases.push(phase(ctx, &targets, &pids, mode, sessions, duration).await?);
        settle(300).await;
    }
    // The figure the issue asks for: CPU per forwarded request over CPU
    // per request served by the owner.
    let cpu = |name: &str| {
        phases
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["cpu_per_request_us"].as_f64())
    };
    if let Some(owner) = cpu("forwarding_owner") {
        for p in &mut phases {
            if let Some(c) = p["cpu_per_request_us"].as_f64() {
                p["cpu_vs_owner"] = json!(c / owner.max(1e-9));
            }
        }
    }
    Ok(json!(phases))
}
