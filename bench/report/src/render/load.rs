//! The Machine load per scenario section of the Markdown: every round's
//! load average and other processes' CPU, the chosen round, peak RSS.

use serde_json::Value;
use std::fmt::Write as _;

/// The `## Machine load per scenario` section.
pub fn section(doc: &Value) -> String {
    let mut md = String::new();
    // Machine load per scenario.
    let _ = writeln!(
        md,
        "\n## Machine load per scenario\n\nOther engineers may be using this machine. `load` is the 1-minute load average \
         before the scenario; `others` is the CPU (in cores) that processes other than the server and the generator used \
         during it. Idle and broadcast rounds (the scenario against every server) disturbed by more than {} cores ran again at the end; \
         the table uses the less disturbed round (marked *) for every server alike.\n",
        doc["busy_threshold_cores"]
    );
    let _ = writeln!(
        md,
        "| server | scenario | rounds: load / others (cores) | server peak RSS (MiB) |\n|---|---|---|---:|"
    );
    let runs = doc["runs"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in runs {
        let k = (
            r["server"].as_str().unwrap_or("?").to_owned(),
            r["scenario"].as_str().unwrap_or("?").to_owned(),
        );
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for (server, scenario) in keys {
        let attempts: Vec<&Value> = runs
            .iter()
            .filter(|r| r["server"] == server.as_str() && r["scenario"] == scenario.as_str())
            .collect();
        let desc: Vec<String> = attempts
            .iter()
            .map(|r| {
                format!(
                    "{:.2} / {}{}{}",
                    r["load1_before"].as_f64().unwrap_or(0.0),
                    r["others_cores"]
                        .as_f64()
                        .map(|v| format!("{v:.2}"))
                        .unwrap_or_else(|| "?".into()),
                    if r["chosen"] == true && attempts.len() > 1 {
                        " *"
                    } else {
                        ""
                    },
                    if r["ok"] != true { " (error)" } else { "" }
                )
            })
            .collect();
        let peak = attempts
            .iter()
            .find(|r| r["chosen"] == true)
            .and_then(|r| r["server_peak_rss_kib"].as_f64())
            .map(|k| format!("{:.1}", k / 1024.0))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| {server} | {scenario} | {} | {peak} |",
            desc.join(", ")
        );
    }
    md
}
