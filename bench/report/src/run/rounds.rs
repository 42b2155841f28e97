//! The rounds: every scenario against every server, disturbed idle and
//! broadcast rounds once more while time allows, the least disturbed round
//! of each scenario chosen; a one-line summary of each run as it ends.

use super::attempt::run_one;
use super::plan::{Scenario, Server};
use super::process::Env;
use super::say;
use crate::machine;
use serde_json::{Value, json};
use std::time::Instant;

/// Runs the scenarios against the servers and marks the chosen round of
/// each scenario (`rerun`: run disturbed rounds again; `q`: the quick run's
/// time budget; `started`: when the measurements began).
pub fn run(
    env: &Env,
    servers: &[Server],
    scenarios: &[Scenario],
    q: bool,
    rerun: bool,
    started: Instant,
) -> Vec<Value> {
    let mut runs: Vec<Value> = Vec::new();
    // One round = the scenario against every server, back to back, so that
    // the servers compared in a row of the table ran under the same load.
    let run_round = |sc: &Scenario, round: u32, runs: &mut Vec<Value>| {
        for sv in servers.iter().filter(|sv| !(sv.ws_only && sc.polling)) {
            say(format!(
                "{} / {} (round {round}, load {:.2})",
                sv.name,
                sc.name,
                machine::load1()
            ));
            let mut run = run_one(env, sv, sc, round);
            if run["ok"].as_bool() == Some(true) {
                say(format!(
                    "  {} [others used {} cores]",
                    summary(&run),
                    run["others_cores"]
                ));
            }
            run["round"] = json!(round);
            runs.push(run);
        }
    };
    let mut round_secs = Vec::new();
    for sc in scenarios {
        let t = Instant::now();
        run_round(sc, 1, &mut runs);
        round_secs.push(t.elapsed().as_secs_f64());
    }
    // Disturbance of a round: the mean CPU other processes used (a failed
    // run counts as fully disturbed).
    let disturbance = |runs: &[Value], sc: &str, round: u32| -> f64 {
        let rs: Vec<&Value> = runs
            .iter()
            .filter(|r| r["scenario"] == sc && r["round"] == round)
            .collect();
        rs.iter()
            .map(|r| {
                if r["ok"] == true {
                    r["others_cores"].as_f64().unwrap_or(2.0)
                } else {
                    9.0
                }
            })
            .sum::<f64>()
            / rs.len().max(1) as f64
    };
    // Disturbed idle and broadcast rounds run once more, while time allows.
    let budget = if q { 110.0 } else { 540.0 };
    for (i, sc) in scenarios.iter().enumerate() {
        if !(sc.rerun_if_busy && rerun) {
            continue;
        }
        let busy = runs
            .iter()
            .any(|r| r["scenario"] == sc.name && r["busy"] == true);
        if !busy {
            continue;
        }
        if started.elapsed().as_secs_f64() + round_secs[i] > budget {
            say(format!(
                "{}: disturbed, but no time left to run it again",
                sc.name
            ));
            continue;
        }
        say(format!(
            "{}: other processes disturbed the first round; running it again",
            sc.name
        ));
        run_round(sc, 2, &mut runs);
    }
    for sc in scenarios {
        let rounds: Vec<u32> = {
            let mut v: Vec<u32> = runs
                .iter()
                .filter(|r| r["scenario"] == sc.name)
                .filter_map(|r| r["round"].as_u64().map(|x| x as u32))
                .collect();
            v.dedup();
            v
        };
        let best = rounds
            .iter()
            .copied()
            .min_by(|a, b| {
                disturbance(&runs, sc.name, *a).total_cmp(&disturbance(&runs, sc.name, *b))
            })
            .unwrap_or(1);
        for r in runs.iter_mut().filter(|r| r["scenario"] == sc.name) {
            r["chosen"] = json!(r["round"] == best);
        }
    }
    runs
}

fn summary(run: &Value) -> String {
    let mut parts = Vec::new();
    for p in run["phases"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or("?");
        let pick = |k: &str| p.get(k).and_then(Value::as_f64);
        let figure = pick("deliveries_per_s")
            .map(|v| format!("{v:.0} deliveries/s"))
            .or_else(|| {
                pick("rss_per_conn_kb").map(|v| {
                    format!(
                        "{v:.1} KB/conn, {:.0} µs/connect",
                        pick("cpu_per_connect_us").unwrap_or(0.0)
                    )
                })
            })
            .or_else(|| {
                pick("rtt_per_s")
                    .map(|v| format!("{v:.0} rtt/s p99 {:.0} µs", pick("p99_us").unwrap_or(0.0)))
            })
            .or_else(|| {
                pick("cpu_per_request_us").map(|v| {
                    format!(
                        "{v:.0} µs/request, {:.0} sessions/s",
                        pick("sessions_per_s").unwrap_or(0.0)
                    )
                })
            })
            .or_else(|| {
                pick("cpu_per_session_us").map(|v| {
                    format!(
                        "{v:.0} µs/session, {:.0} sessions/s, {:.1} KB/session",
                        pick("sessions_per_s").unwrap_or(0.0),
                        pick("rss_per_session_kb").unwrap_or(0.0)
                    )
                })
            })
            .unwrap_or_default();
        let invalid = if p["measure"]["invalid"].as_bool() == Some(true) {
            " INVALID(generator)"
        } else {
            ""
        };
        parts.push(format!("{name}: {figure}{invalid}"));
    }
    parts.join("; ")
}
