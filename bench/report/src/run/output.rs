//! The results file: the document of a run (machine, pinning, limits,
//! notes, runs) written to results.json or results-quick.json, merged with
//! the earlier file under `--merge`.

use super::attempt::BUSY_CORES;
use super::limits::Limits;
use super::process::Env;
use super::say;
use crate::machine;
use serde_json::{Value, json};
use std::path::Path;

/// The results document of a run that took `elapsed` seconds.
pub fn document(
    q: bool,
    elapsed: f64,
    bench: &Path,
    env: &Env,
    limits: &Limits,
    runs: Vec<Value>,
) -> Value {
    let Limits {
        soft,
        hard,
        lo,
        hi,
        max_conns,
        addrs,
        notes,
        shrunk,
        ..
    } = limits;
    json!({
        "mode": if q { "quick" } else { "full" },
        "date_unix": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "duration_s": elapsed,
        "machine": machine::describe(bench),
        "pinning": format!(
            "{}{}",
            if env.pin { "server: taskset -c 0; load generator: taskset -c 1" } else { "none" },
            if env.nice { "; both at nice -10 (ahead of other work on the machine)" } else { "" }
        ),
        "busy_threshold_cores": BUSY_CORES,
        "limits": {"nofile_soft": soft, "nofile_hard": hard, "port_range": [lo, hi], "max_connections": max_conns, "source_addresses": addrs},
        "notes": notes,
        "shrunk": shrunk,
        "runs": runs,
    })
}

/// Writes `doc` into `results` (results-quick.json for `q`); with `merge`,
/// the earlier file's runs of other (server, scenario) pairs stay in it and
/// its duration adds up.
pub fn write(results: &Path, doc: &mut Value, q: bool, merge: bool, elapsed: f64) {
    let name = if q {
        "results-quick.json"
    } else {
        "results.json"
    };
    let path = results.join(name);
    if merge
        && let Some(old) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
    {
        let new_runs = doc["runs"].as_array().cloned().unwrap_or_default();
        let mut merged: Vec<Value> = old["runs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| {
                !new_runs
                    .iter()
                    .any(|n| n["server"] == r["server"] && n["scenario"] == r["scenario"])
            })
            .collect();
        merged.extend(new_runs);
        doc["runs"] = json!(merged);
        doc["merged_from_earlier_run"] = json!(true);
        doc["duration_s"] = json!(old["duration_s"].as_f64().unwrap_or(0.0) + elapsed);
    }
    std::fs::write(&path, serde_json::to_string_pretty(&doc).expect("json"))
        .expect("write results");
    say(format!(
        "wrote {} ({elapsed:.0} s of measurements)",
        path.display()
    ));
}
