//! The cluster scenario: a private `redis-server` on a free port (no
//! persistence), three nodes of one implementation on it (all pinned to
//! core 0: this machine has two cores), the load generator's `cluster`
//! scenario on core 1, then everything stopped; Sockeye (classic
//! `sockeye-redis` adapter), then Node (`@socket.io/redis-adapter`).

use super::attempt;
use super::plan::{Scenario, Server};
use super::process::{Env, free_port, pinned, stop};
use super::say;
use crate::machine;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Nodes per cluster.
pub const NODES: usize = 3;

/// The servers that run as cluster nodes (a `--redis URL` flag).
pub const CLUSTER_SERVERS: [&str; 2] = ["sockeye", "node"];

/// Whether `redis-server` and `redis-cli` are installed.
pub fn available() -> bool {
    ["redis-server", "redis-cli"].iter().all(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Starts a process whose stdout says `listening on` (or, for Redis,
/// `Ready to accept connections`) within 30 s.
fn start(mut cmd: Command, ready: &'static str, log: &std::path::Path) -> Result<Child, String> {
    let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    cmd.stdout(Stdio::piped())
        .stderr(log_file)
        .stdin(Stdio::null());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let Some(stdout) = child.stdout.take() else {
        stop(&mut child);
        return Err("no stdout".into());
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            if line.contains(ready) {
                let _ = tx.send(());
                break;
            }
        }
        for _ in lines {}
    });
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        stop(&mut child);
        let err = std::fs::read_to_string(log).unwrap_or_default();
        return Err(format!("not ready within 30 s: {}", err.trim()));
    }
    Ok(child)
}

/// `--smoke`: a tiny cluster of `server` (30 connections, 50 probes) when
/// Redis is installed; fails unless every tick arrived, one broadcast made
/// one PUBLISH and the probes crossed nodes. 0 on success (or skipped).
pub fn smoke(env: &Env, server: &Server) -> i32 {
    if !available() {
        say("cluster smoke: redis-server or redis-cli not found: skipped");
        return 0;
    }
    let args: Vec<String> = [
        "--n",
        "30",
        "--duration",
        "0.3",
        "--batch",
        "2",
        "--probes",
        "50",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    let run = run_one(env, server, &args, Duration::from_secs(60));
    let bcast = &run["phases"][0];
    let probe = &run["phases"][1];
    let ok = run["ok"] == true
        && bcast["losses"].as_u64() == Some(0)
        && bcast["delivered"].as_u64().is_some_and(|d| d > 0)
        && bcast["publish_per_broadcast"].as_u64() == Some(1)
        && probe["probes"].as_u64() == Some(50);
    let detail = ok.then(|| {
        format!(
            "{NODES} nodes, {} deliveries, 1 PUBLISH per broadcast, 50 cross-node probes",
            bcast["delivered"]
        )
    });
    smoke_verdict("cluster", server, &run, detail)
}

/// Says how a smoke run of scenario `what` went: ok with `detail`, or
/// FAILED with its phases or its error. 0 on success, 1 otherwise.
pub fn smoke_verdict(what: &str, server: &Server, run: &Value, detail: Option<String>) -> i32 {
    if let Some(detail) = detail {
        say(format!(
            "{what} smoke against {}: ok ({detail})",
            server.name
        ));
        return 0;
    }
    say(format!(
        "{what} smoke against {} FAILED: {}",
        server.name,
        if run["ok"] == true {
            run["phases"].to_string()
        } else {
            run["error"].to_string()
        }
    ));
    1
}

/// Runs the cluster scenario against `server`: `n` connections, `args`
/// for the generator.
pub fn run_one(env: &Env, server: &Server, args: &[String], timeout: Duration) -> Value {
    let keys = ["others_cores", "server_cpu_s", "server_peak_rss_kib"];
    let mut v = run_nodes(env, server, &Nodes::CLASSIC, args, timeout, &keys);
    if v["ok"] == true {
        memory_comparison(env, server, &mut v["phases"][0]);
    }
    v
}

/// Runs `nodes.scenario` against `server`'s nodes (started and stopped
/// here): the run's record, with the generator's `keys` copied in.
pub fn run_nodes(
    env: &Env,
    server: &Server,
    nodes: &Nodes,
    args: &[String],
    timeout: Duration,
    keys: &[&str],
) -> Value {
    let mut v = json!({
        "server": server.name,
        "scenario": nodes.scenario,
        "attempt": 1,
        "round": 1,
        "chosen": true,
        "load1_before": machine::load1(),
    });
    let mut children: Vec<Child> = Vec::new();
    let result = run_inner(env, server, nodes, args, timeout, &mut children);
    for c in children.iter_mut().rev() {
        stop(c);
    }
    match result {
        Ok(parsed) => {
            v["ok"] = json!(true);
            v["phases"] = parsed["phases"].clone();
            v["nodes"] = json!(NODES);
            for k in keys {
                v[*k] = parsed[*k].clone();
            }
        }
        Err(e) => {
            say(format!("{} / {}: ERROR {e}", server.name, nodes.scenario));
            v["ok"] = json!(false);
            v["error"] = json!(e);
        }
    }
    v
}

/// The cost of being in a cluster: the same number of idle connections
/// on one node with the in-memory adapter (the `idle` scenario, no
/// `--redis`), next to the first cluster node's RSS per connection.
fn memory_comparison(env: &Env, server: &Server, phase: &mut Value) {
    let Some(n) = phase["first_node_connections"].as_u64() else {
        return;
    };
    let idle = Scenario {
        name: "idle",
        args: ["--n", &n.to_string(), "--max", "0", "--settle-ms", "1000"]
            .iter()
            .map(|x| x.to_string())
            .collect(),
        polling: false,
        rerun_if_busy: false,
        timeout: Duration::from_secs(120),
    };
    let run = attempt::run_one(env, server, &idle, 1);
    let memory = run["phases"][0]["rss_per_conn_kb"].as_f64();
    let adapter = phase["rss_per_conn_kb"].as_f64();
    phase["rss_per_conn_memory_kb"] = json!(memory);
    if let (Some(a), Some(m)) = (adapter, memory)
        && m > 0.0
    {
        phase["rss_adapter_vs_memory"] = json!(a / m);
    }
}

/// What the cluster's nodes run and which generator scenario drives them.
pub struct Nodes {
    /// The load generator's scenario (`cluster`, `forwarding`).
    pub scenario: &'static str,
    /// Flags every node gets after `--port P --redis URL`.
    pub flags: &'static [&'static str],
}

impl Nodes {
    /// The classic adapter's cluster scenario.
    pub const CLASSIC: Nodes = Nodes {
        scenario: "cluster",
        flags: &[],
    };
}

/// Starts a private Redis and [`NODES`] nodes of `server` (pinned to core
/// 0), runs the generator's `nodes.scenario` on core 1 with `--ports`,
/// `--server-pid` (the first node), `--pids` (every node, then Redis) and
/// `--redis-port`, and returns its JSON with the cluster's CPU added.
/// Every process started is pushed to `children` (the caller stops them).
pub fn run_inner(
    env: &Env,
    server: &Server,
    nodes: &Nodes,
    args: &[String],
    timeout: Duration,
    children: &mut Vec<Child>,
) -> Result<Value, String> {
    let redis_port = free_port();
    let mut redis = Command::new("redis-server");
    redis.args([
        "--port",
        &redis_port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]);
    let log = |what: &str| {
        env.tmp
            .join(format!("{}-{}-{what}.log", server.name, nodes.scenario))
    };
    children.push(
        start(redis, "Ready to accept connections", &log("redis"))
            .map_err(|e| format!("redis-server: {e}"))?,
    );
    let url = format!("redis://127.0.0.1:{redis_port}");
    let mut ports = Vec::new();
    for i in 0..NODES {
        let port = free_port();
        let mut program = server.program.clone();
        program.extend([
            "--port".into(),
            port.to_string(),
            "--redis".into(),
            url.clone(),
        ]);
        program.extend(nodes.flags.iter().map(|f| f.to_string()));
        // All nodes on core 0: the generator has core 1 to itself.
        let mut cmd = pinned(0, &program, env);
        for (k, val) in &server.env {
            cmd.env(k, val);
        }
        if let Some(dir) = &server.cwd {
            cmd.current_dir(dir);
        }
        children.push(
            start(cmd, "listening on", &log(&format!("node{i}")))
                .map_err(|e| format!("node {i}: {e}"))?,
        );
        ports.push(port.to_string());
    }
    let first_pid = children[1].id();
    // Every process of the cluster (Redis and the nodes) counts as the
    // server when the CPU of other work is worked out.
    let pids: Vec<u32> = children.iter().map(Child::id).collect();
    let cluster_cpu = || -> f64 { pids.iter().filter_map(|&p| machine::cpu_secs(p)).sum() };
    let (busy0, _) = machine::machine_cpu();
    let cpu0 = cluster_cpu();
    let t0 = Instant::now();
    // The nodes first, Redis last.
    let mut all_pids: Vec<String> = pids[1..].iter().map(u32::to_string).collect();
    all_pids.push(pids[0].to_string());
    let mut gen_prog = vec![
        env.bin.join("bench-loadgen").to_string_lossy().into_owned(),
        nodes.scenario.to_owned(),
        "--ports".to_owned(),
        ports.join(","),
        "--server-pid".to_owned(),
        first_pid.to_string(),
        "--pids".to_owned(),
        all_pids.join(","),
        "--redis-port".to_owned(),
        redis_port.to_string(),
        "--src-base".to_owned(),
        env.next_src_base().to_string(),
    ];
    gen_prog.extend(args.iter().cloned());
    let mut gen_cmd = pinned(1, &gen_prog, env);
    gen_cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let mut gen_child = gen_cmd
        .spawn()
        .map_err(|e| format!("cannot start the load generator: {e}"))?;
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out_t = reader(
        gen_child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err_t = reader(
        gen_child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(st)) = gen_child.try_wait() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = gen_child.kill();
            let _ = gen_child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = t0.elapsed().as_secs_f64();
    let (busy1, _) = machine::machine_cpu();
    let server_cpu = cluster_cpu() - cpu0;
    let peak_rss = machine::status_kib(first_pid, "VmHWM");
    let out = out_t.join().unwrap_or_default();
    let err = err_t.join().unwrap_or_default();
    match status {
        None => Err(format!("the load generator timed out after {timeout:?}")),
        Some(st) if !st.success() => Err(format!(
            "the load generator failed ({st}): {}",
            err.lines().last().unwrap_or("")
        )),
        Some(_) => {
            let mut parsed: Value = serde_json::from_str(out.trim())
                .map_err(|e| format!("unreadable load generator output ({e})"))?;
            let gen_cpu = parsed["generator_cpu_total_s"].as_f64().unwrap_or(0.0);
            let others = ((busy1 - busy0) - server_cpu - gen_cpu).max(0.0) / wall.max(1e-9);
            parsed["others_cores"] = json!((others * 100.0).round() / 100.0);
            parsed["server_cpu_s"] = json!(server_cpu);
            parsed["server_peak_rss_kib"] = json!(peak_rss);
            Ok(parsed)
        }
    }
}
