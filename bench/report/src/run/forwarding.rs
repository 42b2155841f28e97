//! The forwarding scenario: three Sockeye nodes with `--redis URL
//! --forwarding` (sessions served from any node) on a private
//! `redis-server`, all on core 0, and the load generator's `forwarding`
//! scenario on core 1: polling round trips served by the session's owner,
//! by another node (every request forwarded), and round robin. The server
//! CPU is every node's plus Redis's.
//!
//! Sockeye only: Node's counterpart (`@socket.io/cluster-engine`'s
//! `RedisEngine`) is not on the npm registry this project installs from.

use super::cluster::{Nodes, run_nodes, smoke_verdict};
use super::plan::Server;
use super::process::Env;
use super::say;
use serde_json::Value;
use std::time::Duration;

/// The servers that run this scenario.
pub const FORWARDING_SERVERS: [&str; 1] = ["sockeye"];

const NODES: Nodes = Nodes {
    scenario: "forwarding",
    flags: &["--forwarding"],
};

/// The generator's arguments: `sessions` polling sessions, `duration`
/// seconds per mode.
pub fn args(sessions: usize, duration: f64) -> Vec<String> {
    vec![
        "--sessions".into(),
        sessions.to_string(),
        "--duration".into(),
        duration.to_string(),
    ]
}

/// Runs the forwarding scenario against `server`.
pub fn run_one(env: &Env, server: &Server, args: &[String], timeout: Duration) -> Value {
    run_nodes(
        env,
        server,
        &NODES,
        args,
        timeout,
        &["others_cores", "server_cpu_s"],
    )
}

/// `--smoke`: a tiny run (5 sessions, 0.3 s per mode) when Redis is
/// installed; fails unless every mode made round trips without error and
/// forwarded requests cost a figure. 0 on success (or skipped).
pub fn smoke(env: &Env, server: &Server) -> i32 {
    if !super::cluster::available() {
        say("forwarding smoke: redis-server or redis-cli not found: skipped");
        return 0;
    }
    let run = run_one(env, server, &args(5, 0.3), Duration::from_secs(60));
    let phases = run["phases"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let ok = run["ok"] == true
        && phases.len() == 3
        && phases.iter().all(|p| {
            p["round_trips"].as_u64().is_some_and(|n| n > 0)
                && p["cpu_per_request_us"].as_f64().is_some_and(|c| c > 0.0)
        });
    let detail = ok.then(|| {
        format!(
            "owner, forwarded and round-robin polling round trips: {}",
            phases
                .iter()
                .map(|p| p["round_trips"].to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    smoke_verdict("forwarding", server, &run, detail)
}
