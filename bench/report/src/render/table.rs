//! The figures of a results file by server and phase: the chosen round of
//! each (server, scenario), the phases in the order the scenarios ran, and
//! the runs that failed.

use serde_json::Value;
use std::collections::BTreeMap;

pub const SERVERS: [&str; 5] = ["sockeye", "node", "node-native", "socketioxide", "raw"];

/// The chosen run of each (server, scenario), by phase name.
pub struct Table<'a> {
    pub phases: Vec<String>,
    by: BTreeMap<(String, String), (&'a Value, &'a Value)>,
    pub errors: Vec<String>,
}

pub fn collect(doc: &Value) -> Table<'_> {
    let mut t = Table {
        phases: Vec::new(),
        by: BTreeMap::new(),
        errors: Vec::new(),
    };
    let runs = doc["runs"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    // Phase order: as the scenarios ran.
    // Rows follow the scenarios' order, whichever round was chosen.
    let order = [
        "idle",
        "idle_nick",
        "broadcast",
        "echo",
        "polling",
        "polling_idle",
        "upgrade",
        "cluster",
        "forwarding",
    ];
    let rank = |r: &Value| {
        let sc = r["scenario"].as_str().unwrap_or("");
        order.iter().position(|o| *o == sc).unwrap_or(order.len())
    };
    let mut chosen: Vec<&Value> = runs.iter().filter(|r| r["chosen"] == true).collect();
    chosen.sort_by_key(|r| rank(r));
    for run in chosen {
        let server = run["server"].as_str().unwrap_or("?").to_owned();
        if run["ok"] != true {
            t.errors.push(format!(
                "{} / {}: {}",
                server,
                run["scenario"].as_str().unwrap_or("?"),
                run["error"].as_str().unwrap_or("?")
            ));
            continue;
        }
        for p in run["phases"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap_or("?").to_owned();
            if !t.phases.contains(&name) {
                t.phases.push(name.clone());
            }
            t.by.insert((server.clone(), name), (p, run));
        }
    }
    t
}

impl Table<'_> {
    pub fn value(&self, server: &str, phase: &str, key: &str) -> Option<f64> {
        self.by
            .get(&(server.to_owned(), phase.to_owned()))
            .and_then(|(p, _)| p[key].as_f64())
    }

    pub fn invalid(&self, server: &str, phase: &str) -> Option<f64> {
        let (p, _) = self.by.get(&(server.to_owned(), phase.to_owned()))?;
        (p["measure"]["invalid"] == true)
            .then(|| p["measure"]["generator_util"].as_f64().unwrap_or(0.0))
    }
}
