//! The orchestrator: one server at a time on core 0, the load generator on
//! core 1, free ports, start and stop by PID, CPU and RSS from /proc, the
//! machine's load before each scenario, limits checked and scenarios shrunk
//! to fit them, and busy scenarios run again at the end.
//!
//! [`options`] reads the command line, [`process`] starts, pins and stops
//! processes, [`limits`] sizes the scenarios to the machine's limits,
//! [`plan`] lists the servers and scenarios, [`attempt`] runs one scenario
//! against a fresh server and samples /proc around it, [`rounds`] runs every
//! scenario against every server (again when disturbed) and picks the round
//! to report, [`cluster`] runs the three-node Redis cluster scenario,
//! [`forwarding`] the polling-from-any-node scenario on such a cluster, and
//! [`output`] writes the results file.

mod attempt;
mod cluster;
mod forwarding;
mod limits;
mod options;
mod output;
mod plan;
mod process;
mod rounds;

use limits::Limits;
use process::Env;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn say(msg: impl AsRef<str>) {
    eprintln!("bench: {}", msg.as_ref());
}

pub fn main(args: &[String]) -> i32 {
    let opts = options::parse(args);
    process::raise_nofile();
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("own directory");
    let bench = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::current_dir().expect("cwd").join("bench"));
    let results = bench.join("results");
    let tmp = results.join("tmp");
    std::fs::create_dir_all(&tmp).expect("bench/results/tmp");
    let env = Env::new(bin.clone(), tmp, opts.no_nice);

    let limits = Limits::read(opts.quick);
    for n in &limits.notes {
        say(n);
    }
    let q = opts.quick;
    let mut scenarios = plan::scenarios(q, &limits.sizes);
    let mut servers = plan::servers(&bench, &bin);

    if opts.smoke {
        let smoke = plan::smoke();
        let run = attempt::run_one(&env, &servers[0], &smoke, 1);
        if run["ok"].as_bool() != Some(true) {
            say(format!("smoke against sockeye FAILED: {}", run["error"]));
            return 1;
        }
        say(format!(
            "smoke against sockeye: ok ({} connections over WebSocket, polling and upgrade)",
            run["phases"]["connections"]
        ));
        let cluster = cluster::smoke(&env, &servers[0]);
        return cluster.max(forwarding::smoke(&env, &servers[0]));
    }
    if let Some(only) = &opts.servers {
        servers.retain(|s| only.iter().any(|o| o == s.name));
    }
    if let Some(only) = &opts.scenarios {
        scenarios.retain(|s| only.iter().any(|o| o == s.name));
    }

    let want_cluster = opts
        .scenarios
        .as_ref()
        .is_none_or(|only| only.iter().any(|o| o == "cluster"));
    let started = Instant::now();
    let mut runs = rounds::run(&env, &servers, &scenarios, q, opts.rerun, started);
    if want_cluster {
        if cluster::available() {
            let n = if q {
                limits.sizes.b_small
            } else {
                limits.sizes.b_large
            };
            let args: Vec<String> = [
                "--n",
                &n.to_string(),
                "--duration",
                if q { "1.5" } else { "4" },
                "--batch",
                "10",
                "--probes",
                if q { "500" } else { "2000" },
            ]
            .iter()
            .map(|x| x.to_string())
            .collect();
            for sv in servers
                .iter()
                .filter(|s| cluster::CLUSTER_SERVERS.contains(&s.name))
            {
                say(format!(
                    "{} / cluster ({} nodes on one Redis, all on core 0; load {:.2})",
                    sv.name,
                    cluster::NODES,
                    crate::machine::load1()
                ));
                let run = cluster::run_one(&env, sv, &args, std::time::Duration::from_secs(240));
                if run["ok"] == true {
                    say(format!("  {}", run["phases"]));
                }
                runs.push(run);
            }
        } else {
            say("cluster: redis-server or redis-cli not found: skipped");
        }
    }
    if opts
        .scenarios
        .as_ref()
        .is_none_or(|only| only.iter().any(|o| o == "forwarding"))
    {
        run_forwarding(&env, &servers, q, &mut runs);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut doc = output::document(q, elapsed, &bench, &env, &limits, runs);
    output::write(&results, &mut doc, q, opts.merge, elapsed);
    match crate::render::render(&doc, &results, q) {
        Ok(()) => 0,
        Err(e) => {
            say(format!("render failed: {e}"));
            1
        }
    }
}

/// The forwarding scenario against the servers that have it (when Redis is
/// installed): 50 polling sessions, 4 s per mode (1.5 s quick).
fn run_forwarding(env: &Env, servers: &[plan::Server], q: bool, runs: &mut Vec<serde_json::Value>) {
    if !cluster::available() {
        say("forwarding: redis-server or redis-cli not found: skipped");
        return;
    }
    let args = forwarding::args(50, if q { 1.5 } else { 4.0 });
    for sv in servers
        .iter()
        .filter(|s| forwarding::FORWARDING_SERVERS.contains(&s.name))
    {
        say(format!(
            "{} / forwarding ({} nodes on one Redis, all on core 0; load {:.2})",
            sv.name,
            cluster::NODES,
            crate::machine::load1()
        ));
        let run = forwarding::run_one(env, sv, &args, std::time::Duration::from_secs(120));
        if run["ok"] == true {
            say(format!("  {}", run["phases"]));
        }
        runs.push(run);
    }
}
