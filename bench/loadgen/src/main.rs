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
//! - `cluster --ports P1,P2,P3 --n 10000 --redis-port R`: a broadcast to
//!   connections spread over cluster nodes, the cross-node latency probe,
//!   PUBLISH calls per broadcast
//! - `forwarding --ports P1,P2,P3 --pids A,B,C,R --sessions 50 --duration 4`:
//!   polling sessions served by their owner, by another node (forwarded),
//!   and round robin; server CPU (every PID) per request, round trips
//! - `smoke`: a few connections and messages over every transport; exits
//!   non-zero unless all of them work.
//! - `soak --rounds 4 --round-secs 10 --reap-secs 8 --out DIR`: connect/abandon
//!   churn (scripts/soak); exits non-zero unless the server's RSS comes back
//!   within 10% of its level after the first round.
//!
//! `--phase-hook CMD` runs `CMD start` / `CMD stop` around the measured part
//! of the broadcast and echo phases, e.g. `callgrind_control -i on|off`.
//!
//! Connects go in waves of at most `--in-flight` (200). Connections come
//! from 127.0.0.B (`--src-base B`, default 2), and from 127.0.0.B+1, ...
//! beyond what one source address's ephemeral ports allow.
//!
//! [`cli`] reads the options, [`ctx`] holds what every scenario shares
//! (target, source addresses, tick counter), [`connect`] opens connections
//! in waves, [`scenarios`] has one module per scenario; [`ws`] and [`poll`]
//! are the clients, [`procfs`] the CPU and RSS figures.

mod cli;
mod connect;
mod ctx;
mod poll;
mod procfs;
mod scenarios;
mod ws;

use cli::arg;
use ctx::Ctx;
use serde_json::json;
use std::cell::Cell;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Instant;

fn main() {
    let (scenario, args) = cli::parse(std::env::args().skip(1));
    let port: u16 = if scenario == "cluster" || scenario == "forwarding" {
        // The first node is the target (its PID is `--server-pid`).
        cli::list(&args, "ports", "")
            .first()
            .map_or(0, |&p| p as u16)
    } else {
        arg(&args, "port", 0)
    };
    if port == 0 {
        eprintln!(
            "usage: bench-loadgen idle|broadcast|echo|polling|upgrade|cluster|forwarding|smoke|soak --port P [--server-pid PID] ..."
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
    let result = local.block_on(&rt, scenarios::run(&scenario, &ctx, &args));
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
