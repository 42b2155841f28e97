//! The Machine section of the Markdown: what the run was on (as
//! `crate::machine` described it), the pinning and the run's notes.

use serde_json::Value;
use std::fmt::Write as _;

/// The `## Machine` section and the notes below it.
pub fn section(doc: &Value) -> String {
    let m = &doc["machine"];
    let mut md = String::new();
    let _ = writeln!(md, "## Machine\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    let row = |md: &mut String, k: &str, v: String| {
        let _ = writeln!(md, "| {k} | {v} |");
    };
    let sv = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string())
    };
    row(&mut md, "cores", sv(&m["cores"]));
    row(&mut md, "CPU", sv(&m["cpu_model"]));
    row(&mut md, "memory", format!("{} GiB", m["memory_gib"]));
    row(&mut md, "kernel", sv(&m["kernel"]));
    row(&mut md, "rustc", sv(&m["rustc"]));
    row(
        &mut md,
        "Sockeye",
        format!(
            "commit {}{}",
            sv(&m["sockeye_commit"]),
            if m["sockeye_crates_modified"] == true {
                " (crates/ modified)"
            } else {
                ""
            }
        ),
    );
    row(
        &mut md,
        "node",
        format!(
            "{}, socket.io {}, ws {}, bufferutil {}, utf-8-validate {}",
            sv(&m["node"]),
            sv(&m["socket.io"]),
            sv(&m["ws"]),
            sv(&m["bufferutil"]),
            sv(&m["utf-8-validate"])
        ),
    );
    row(
        &mut md,
        "socketioxide",
        format!("{} (default configuration)", sv(&m["socketioxide"])),
    );
    row(
        &mut md,
        "raw",
        format!("tokio-tungstenite {}", sv(&m["tokio-tungstenite"])),
    );
    row(&mut md, "tokio", sv(&m["tokio"]));
    row(&mut md, "pinning", sv(&doc["pinning"]));
    let _ = writeln!(md);
    for n in doc["notes"].as_array().into_iter().flatten() {
        let _ = writeln!(md, "- {}", n.as_str().unwrap_or(""));
    }
    let _ = writeln!(md);
    md
}
