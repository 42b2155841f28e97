//! The Markdown document of a results file: the heading, the Machine
//! section, the results table with ratios and goals, the goals met and
//! missed, errors, machine load per scenario and shrunk scenarios.

use super::format::{fmt_num, fmt_ratio, ratio};
use super::goals::evaluate;
use super::metrics::METRICS;
use super::table::{SERVERS, Table, collect};
use super::{load, machine};
use serde_json::Value;
use std::fmt::Write as _;

pub fn markdown(doc: &Value) -> String {
    let t = collect(doc);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Sockeye benchmark results ({} run)\n",
        doc["mode"].as_str().unwrap_or("?")
    );
    let _ = writeln!(
        md,
        "One server at a time on core 0, the Rust load generator (one `current_thread` runtime) on core 1; \
         Socket.IO v5 over Engine.IO v4, 32-byte payloads, WebSocket unless the scenario says otherwise. \
         {:.0} s of measurements{}.\n",
        doc["duration_s"].as_f64().unwrap_or(0.0),
        if doc["merged_from_earlier_run"] == true {
            " (some scenarios re-run and merged)"
        } else {
            ""
        }
    );
    if doc["runs"]
        .as_array()
        .is_some_and(|r| r.iter().any(|r| r["scenario"] == "cluster"))
    {
        let _ = writeln!(
            md,
            "The `cluster` rows: three nodes of one implementation on one private `redis-server` \
             (classic adapter: `sockeye-redis` for Sockeye, `@socket.io/redis-adapter` 8.3 for Node), \
             all three nodes sharing core 0 (this machine has two cores), connections spread evenly over them; \
             added latency = arrival at a client of another node minus arrival at a client of the emitting node.\n"
        );
    }
    if doc["runs"]
        .as_array()
        .is_some_and(|r| r.iter().any(|r| r["scenario"] == "forwarding"))
    {
        let _ = writeln!(
            md,
            "The `forwarding` rows: three Sockeye nodes serving sessions from any node (`--redis` with \
             forwarding) on one private `redis-server`, all on core 0; 50 polling sessions doing `echo` \
             round trips (a POST, then GETs until the ack). `forwarding_owner`: every request to the \
             session's owner; `forwarding_forwarded`: every request to another node (forwarded to the owner \
             over Redis); `forwarding_roundrobin`: request i to node owner + i, as a round-robin proxy does. \
             Server CPU is the nodes' and Redis's. Sockeye only: Node's `@socket.io/cluster-engine` is not \
             on the registry this project installs from.\n"
        );
    }
    md.push_str(&machine::section(doc));
    md.push_str(&results(&t));
    md.push_str(&load::section(doc));
    let shrunk = doc["shrunk"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if !shrunk.is_empty() {
        let _ = writeln!(md, "\n## Scenarios shrunk to fit the limits\n");
        for s in shrunk {
            let _ = writeln!(
                md,
                "- {}: {} instead of {} ({})",
                s["scenario"].as_str().unwrap_or(""),
                s["ran"],
                s["wanted"],
                s["why"].as_str().unwrap_or("")
            );
        }
    }
    md
}

/// The `## Results` table, the `## Goals` met and missed, and `## Errors`.
fn results(t: &Table<'_>) -> String {
    let mut md = String::new();
    // The main table.
    let _ = writeln!(md, "## Results\n");
    let _ = writeln!(
        md,
        "Ratios are Sockeye's figure divided by the other's (higher is better for rates, lower for CPU, RSS and latency). \
         Node is socket.io with the default `ws`; \"Node native\" adds bufferutil + utf-8-validate. \
         ⚠ marks a figure measured while the load generator used more than 90% of its core (INVALID: the generator, not the server, was the limit).\n"
    );
    let _ = writeln!(
        md,
        "| scenario | figure | Sockeye | Node | Node native | socketioxide | raw | S/Node | S/sioxide | S/raw | goal |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut missed = Vec::new();
    let mut met = Vec::new();
    for phase in &t.phases {
        for metric in METRICS.iter().filter(|mm| phase.starts_with(mm.phase)) {
            let vals: Vec<Option<f64>> = SERVERS
                .iter()
                .map(|s| t.value(s, phase, metric.key))
                .collect();
            if vals.iter().all(Option::is_none) {
                continue;
            }
            let cells: Vec<String> = SERVERS
                .iter()
                .zip(&vals)
                .map(|(s, v)| match v {
                    None => "–".into(),
                    Some(v) => {
                        let mut c = fmt_num(v * metric.scale, metric.decimals);
                        if metric.rate
                            && let Some(u) = t.invalid(s, phase)
                        {
                            let _ = write!(c, " ⚠INVALID (generator {:.0}%)", u * 100.0);
                        }
                        c
                    }
                })
                .collect();
            let goal = evaluate(t, phase, metric.key, metric.scale);
            if let Some(g) = &goal {
                let line = format!("{phase} {}: {}", metric.label, g.text);
                match g.met {
                    Some(false) => missed.push(line),
                    Some(true) => met.push(line),
                    None => {}
                }
            }
            let _ = writeln!(
                md,
                "| {phase} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                metric.label,
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                cells[4],
                fmt_ratio(ratio(vals[0], vals[1])),
                fmt_ratio(ratio(vals[0], vals[3])),
                fmt_ratio(ratio(vals[0], vals[4])),
                goal.map(|g| g.text).unwrap_or_default()
            );
        }
    }
    let _ = writeln!(
        md,
        "\n## Goals\n\nMet: {}. Missed: {}.\n",
        met.len(),
        missed.len()
    );
    for l in &missed {
        let _ = writeln!(md, "- ❌ {l}");
    }
    for l in &met {
        let _ = writeln!(md, "- ✅ {l}");
    }
    if !t.errors.is_empty() {
        let _ = writeln!(md, "\n## Errors\n");
        for e in &t.errors {
            let _ = writeln!(md, "- {e}");
        }
    }
    md
}
