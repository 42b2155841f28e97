//! Results to a Markdown table (absolute figures, ratios Sockeye/Node,
//! Sockeye/socketioxide, Sockeye/raw, the goals) and PNG charts.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

const SERVERS: [&str; 5] = ["sockeye", "node", "node-native", "socketioxide", "raw"];

struct Metric {
    /// Phase name prefix (`idle_` matches `idle_10k` and `idle_max`).
    phase: &'static str,
    key: &'static str,
    label: &'static str,
    /// A throughput or latency figure: meaningless if the generator was saturated.
    rate: bool,
    scale: f64,
    decimals: usize,
}

const METRICS: &[Metric] = &[
    Metric {
        phase: "idle_",
        key: "rss_per_conn_kb",
        label: "RSS per connection (KB)",
        rate: false,
        scale: 1.0,
        decimals: 1,
    },
    Metric {
        phase: "idle_",
        key: "connects_per_s",
        label: "connects/s",
        rate: true,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "idle_",
        key: "cpu_per_connect_us",
        label: "server CPU per connect (µs)",
        rate: false,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "idle_max",
        key: "connections",
        label: "connections",
        rate: false,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "broadcast_",
        key: "deliveries_per_s",
        label: "deliveries/s",
        rate: true,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "broadcast_",
        key: "cpu_per_delivery_ns",
        label: "server CPU per delivery (ns)",
        rate: false,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "broadcast_",
        key: "losses",
        label: "losses",
        rate: false,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "echo_loaded",
        key: "rtt_per_s",
        label: "round trips/s",
        rate: true,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "echo_loaded",
        key: "p50_us",
        label: "p50 (ms)",
        rate: true,
        scale: 1e-3,
        decimals: 2,
    },
    Metric {
        phase: "echo_loaded",
        key: "p99_us",
        label: "p99 (ms)",
        rate: true,
        scale: 1e-3,
        decimals: 2,
    },
    Metric {
        phase: "echo_loaded",
        key: "p999_us",
        label: "p99.9 (ms)",
        rate: true,
        scale: 1e-3,
        decimals: 2,
    },
    Metric {
        phase: "echo_loaded",
        key: "cpu_per_rtt_us",
        label: "server CPU per round trip (µs)",
        rate: false,
        scale: 1.0,
        decimals: 1,
    },
    Metric {
        phase: "echo_unloaded",
        key: "p50_us",
        label: "p50 (µs)",
        rate: true,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "echo_unloaded",
        key: "p99_us",
        label: "p99 (µs)",
        rate: true,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "echo_unloaded",
        key: "rtt_per_s",
        label: "round trips/s",
        rate: true,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "polling_",
        key: "sessions_per_s",
        label: "sessions/s",
        rate: true,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "polling_",
        key: "requests_per_s",
        label: "HTTP requests/s",
        rate: true,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "polling_",
        key: "cpu_per_request_us",
        label: "server CPU per request (µs)",
        rate: false,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "polling_",
        key: "errors",
        label: "errors",
        rate: false,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "upgrade_",
        key: "sessions_per_s",
        label: "sessions/s",
        rate: true,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "upgrade_",
        key: "cpu_per_session_us",
        label: "server CPU per session (µs)",
        rate: false,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "upgrade_",
        key: "rss_per_session_kb",
        label: "RSS per session (KB)",
        rate: false,
        scale: 1.0,
        decimals: 1,
    },
    Metric {
        phase: "upgrade_",
        key: "live_after_upgrade",
        label: "sessions live after upgrade",
        rate: false,
        scale: 1.0,
        decimals: 0,
    },
    Metric {
        phase: "upgrade_",
        key: "failures",
        label: "failures",
        rate: false,
        scale: 1.0,
        decimals: 0,
    },
];

enum Check {
    AtMost(f64),
    RatioAtMost(&'static str, f64),
    RatioAtLeast(&'static str, f64),
}

/// The goals for a figure.
fn goals(phase: &str, key: &str, connections: f64) -> Vec<Check> {
    use Check::*;
    match (phase, key) {
        (p, "rss_per_conn_kb") if p.starts_with("idle_") => {
            vec![
                AtMost(12.0),
                RatioAtMost("node", 0.8),
                RatioAtMost("socketioxide", 0.42),
            ]
        }
        (p, "cpu_per_connect_us") if p.starts_with("idle_") => vec![AtMost(100.0)],
        (p, "deliveries_per_s") if p.starts_with("broadcast_") => vec![
            RatioAtLeast("node", 10.0),
            RatioAtLeast(
                "socketioxide",
                if connections >= 10_000.0 { 2.0 } else { 1.6 },
            ),
            RatioAtLeast("raw", 0.7),
        ],
        ("echo_loaded", "rtt_per_s") => vec![
            RatioAtLeast("node", 3.0),
            RatioAtLeast("socketioxide", 1.25),
        ],
        ("echo_loaded", "p99_us") => vec![AtMost(4000.0)],
        ("echo_unloaded", "p50_us") => vec![RatioAtMost("raw", 1.1)],
        (p, "cpu_per_request_us") if p.starts_with("polling_") => {
            vec![RatioAtMost("node", 0.5), RatioAtMost("socketioxide", 1.0)]
        }
        _ => vec![],
    }
}

fn short(server: &str) -> &str {
    match server {
        "socketioxide" => "sioxide",
        "node" => "Node",
        other => other,
    }
}

/// The chosen run of each (server, scenario), by phase name.
struct Table<'a> {
    phases: Vec<String>,
    by: BTreeMap<(String, String), (&'a Value, &'a Value)>,
    errors: Vec<String>,
}

fn collect(doc: &Value) -> Table<'_> {
    let mut t = Table {
        phases: Vec::new(),
        by: BTreeMap::new(),
        errors: Vec::new(),
    };
    let runs = doc["runs"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    // Phase order: as the scenarios ran.
    // Rows follow the scenarios' order, whichever round was chosen.
    let order = ["idle", "broadcast", "echo", "polling", "upgrade"];
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
    fn value(&self, server: &str, phase: &str, key: &str) -> Option<f64> {
        self.by
            .get(&(server.to_owned(), phase.to_owned()))
            .and_then(|(p, _)| p[key].as_f64())
    }

    fn invalid(&self, server: &str, phase: &str) -> Option<f64> {
        let (p, _) = self.by.get(&(server.to_owned(), phase.to_owned()))?;
        (p["measure"]["invalid"] == true)
            .then(|| p["measure"]["generator_util"].as_f64().unwrap_or(0.0))
    }
}

fn fmt_num(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    // Thousands separators for the integer part.
    let (int, frac) = s
        .split_once('.')
        .map(|(a, b)| (a.to_owned(), format!(".{b}")))
        .unwrap_or((s.clone(), String::new()));
    let neg = int.starts_with('-');
    let digits: Vec<char> = int.trim_start_matches('-').chars().collect();
    let mut out = String::new();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(*c);
    }
    format!("{}{out}{frac}", if neg { "-" } else { "" })
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|r| {
        if r >= 10.0 {
            format!("{r:.1}x")
        } else {
            format!("{r:.2}x")
        }
    })
    .unwrap_or_else(|| "–".into())
}

pub struct GoalResult {
    pub text: String,
    pub met: Option<bool>,
}

fn evaluate(t: &Table<'_>, phase: &str, key: &str, scale: f64) -> Option<GoalResult> {
    let conns = t.value("sockeye", phase, "connections").unwrap_or(0.0);
    let checks = goals(phase, key, conns);
    if checks.is_empty() {
        return None;
    }
    let s = t.value("sockeye", phase, key);
    let mut parts = Vec::new();
    let mut all: Option<bool> = Some(true);
    for c in checks {
        let (desc, ok) = match c {
            Check::AtMost(x) => (
                // In the unit the row shows (p99 in ms, say).
                format!("≤ {}", fmt_num(x * scale, if scale < 1.0 { 1 } else { 0 })),
                s.map(|v| v <= x),
            ),
            Check::RatioAtMost(o, x) => {
                let r = ratio(s, t.value(o, phase, key));
                (
                    format!("≤ {x}x {} ({})", short(o), fmt_ratio(r)),
                    r.map(|r| r <= x),
                )
            }
            Check::RatioAtLeast(o, x) => {
                let r = ratio(s, t.value(o, phase, key));
                (
                    format!("≥ {x}x {} ({})", short(o), fmt_ratio(r)),
                    r.map(|r| r >= x),
                )
            }
        };
        let mark = match ok {
            Some(true) => "✅",
            Some(false) => "❌",
            None => "n/a",
        };
        all = match (all, ok) {
            (Some(a), Some(b)) => Some(a && b),
            (_, None) => None,
            (None, _) => None,
        };
        parts.push(format!("{desc} {mark}"));
    }
    Some(GoalResult {
        text: parts.join("; "),
        met: all,
    })
}

pub fn markdown(doc: &Value) -> String {
    let t = collect(doc);
    let m = &doc["machine"];
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
                        if metric.rate {
                            if let Some(u) = t.invalid(s, phase) {
                                let _ = write!(c, " ⚠INVALID (generator {:.0}%)", u * 100.0);
                            }
                        }
                        c
                    }
                })
                .collect();
            let goal = evaluate(&t, phase, metric.key, metric.scale);
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

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn color(server: &str) -> RGBColor {
    match server {
        "sockeye" => RGBColor(214, 69, 65),
        "node" => RGBColor(104, 160, 99),
        "node-native" => RGBColor(160, 200, 150),
        "socketioxide" => RGBColor(70, 120, 190),
        _ => RGBColor(130, 130, 130),
    }
}

fn label(server: &str) -> &'static str {
    match server {
        "sockeye" => "Sockeye",
        "node" => "Node",
        "node-native" => "Node native",
        "socketioxide" => "socketioxide",
        _ => "raw",
    }
}

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    unit: &str,
    bars: &[(&str, f64, bool)],
) -> Result<(), String> {
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1e-9);
    let n = bars.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..max * 1.18)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .y_desc(unit)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => bars
                .get(*i)
                .map(|b| label(b.0).to_owned())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|v| human(*v))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (s, v, _))| {
            let mut r = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), *v),
                ],
                color(s).filled(),
            );
            r.set_margin(0, 0, 10, 10);
            r
        }))
        .map_err(err)?;
    let style =
        TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v, invalid))| {
            let text = if *invalid {
                format!("{} (INVALID)", human(*v))
            } else {
                human(*v)
            };
            Text::new(
                text,
                (SegmentValue::CenterOf(i), *v + max * 0.02),
                style.clone(),
            )
        }))
        .map_err(err)?;
    Ok(())
}

struct Chart {
    file: &'static str,
    panels: Vec<(&'static str, &'static str, &'static str, f64, &'static str)>,
}

fn charts(t: &Table<'_>, dir: &Path, prefix: &str) -> Result<Vec<String>, String> {
    let font = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ]
    .iter()
    .find_map(|p| std::fs::read(p).ok());
    let Some(font) = font else {
        return Err(
            "no TrueType font found (apt-get install fonts-dejavu-core): charts skipped".into(),
        );
    };
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, font);
    let find = |start: &str| t.phases.iter().find(|p| p.starts_with(start)).cloned();
    let list = [
        Chart {
            file: "broadcast.png",
            panels: vec![
                (
                    "broadcast_1k",
                    "deliveries_per_s",
                    "deliveries/s",
                    1.0,
                    "Broadcast: deliveries/s",
                ),
                (
                    "broadcast_10k",
                    "deliveries_per_s",
                    "deliveries/s",
                    1.0,
                    "Broadcast: deliveries/s",
                ),
            ],
        },
        Chart {
            file: "idle.png",
            panels: vec![
                (
                    "idle_",
                    "rss_per_conn_kb",
                    "KB",
                    1.0,
                    "Idle: RSS per connection (KB)",
                ),
                (
                    "idle_",
                    "cpu_per_connect_us",
                    "µs",
                    1.0,
                    "Server CPU per connect (µs)",
                ),
            ],
        },
        Chart {
            file: "echo.png",
            panels: vec![
                (
                    "echo_loaded",
                    "rtt_per_s",
                    "round trips/s",
                    1.0,
                    "Echo, 100 in closed loop: round trips/s",
                ),
                (
                    "echo_loaded",
                    "p99_us",
                    "ms",
                    1e-3,
                    "Echo under load: p99 (ms)",
                ),
                (
                    "echo_unloaded",
                    "p50_us",
                    "µs",
                    1.0,
                    "Echo unloaded: p50 (µs)",
                ),
            ],
        },
        Chart {
            file: "polling.png",
            panels: vec![
                (
                    "polling_50",
                    "cpu_per_request_us",
                    "µs",
                    1.0,
                    "Long-polling (50): CPU per request (µs)",
                ),
                (
                    "polling_200",
                    "cpu_per_request_us",
                    "µs",
                    1.0,
                    "Long-polling (200): CPU per request (µs)",
                ),
                (
                    "upgrade_",
                    "cpu_per_session_us",
                    "µs",
                    1.0,
                    "Polling then upgrade: CPU per session (µs)",
                ),
            ],
        },
    ];
    let mut written = Vec::new();
    for c in list {
        let panels: Vec<_> = c
            .panels
            .iter()
            .filter_map(|(ph, key, unit, scale, title)| {
                let phase = find(ph)?;
                let bars: Vec<(&str, f64, bool)> = SERVERS
                    .iter()
                    .filter_map(|s| {
                        let v = t.value(s, &phase, key)? * scale;
                        Some((
                            *s,
                            v,
                            t.invalid(s, &phase).is_some()
                                && (key.contains("per_s") || key.starts_with('p')),
                        ))
                    })
                    .collect();
                (!bars.is_empty()).then(|| (phase, *unit, *title, bars))
            })
            .collect();
        if panels.is_empty() {
            continue;
        }
        let name = format!("{prefix}{}", c.file);
        let path = dir.join(&name);
        let width = 560 * panels.len() as u32;
        let root = BitMapBackend::new(&path, (width, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let areas = root.split_evenly((1, panels.len()));
        for (area, (phase, unit, title, bars)) in areas.iter().zip(&panels) {
            let title = format!("{title} [{phase}]");
            panel(area, &title, unit, bars)?;
        }
        root.present().map_err(err)?;
        written.push(name);
    }
    Ok(written)
}

pub fn render(doc: &Value, dir: &Path, quick: bool) -> Result<(), String> {
    let prefix = if quick { "quick-" } else { "" };
    let mut md = markdown(doc);
    let t = collect(doc);
    match charts(&t, dir, prefix) {
        Ok(files) => {
            let _ = writeln!(md, "\n## Charts\n");
            for f in files {
                let _ = writeln!(md, "![{f}]({f})");
            }
        }
        Err(e) => {
            let _ = writeln!(md, "\n(charts: {e})");
        }
    }
    let md_path = dir.join(if quick {
        "results-quick.md"
    } else {
        "results.md"
    });
    std::fs::write(&md_path, &md).map_err(err)?;
    eprintln!("bench: wrote {}", md_path.display());
    if !quick {
        update_readme(dir, &md)?;
    }
    Ok(())
}

/// Puts the latest results into bench/README.md between its markers.
fn update_readme(results: &Path, md: &str) -> Result<(), String> {
    let Some(bench) = results.parent() else {
        return Ok(());
    };
    let path = bench.join("README.md");
    let Ok(readme) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let (start, end) = ("<!-- results:start -->", "<!-- results:end -->");
    let (Some(a), Some(b)) = (readme.find(start), readme.find(end)) else {
        return Ok(());
    };
    // The README shows the table and one chart; links point into results/.
    let body = md.replace(
        "![broadcast.png](broadcast.png)",
        "![broadcast.png](results/broadcast.png)",
    );
    let mut chart_lines = String::new();
    let body: String = body
        .lines()
        .filter(|l| {
            if l.starts_with("![") && !l.contains("results/broadcast.png") {
                let _ = writeln!(chart_lines, "{l}");
                false
            } else {
                true
            }
        })
        .map(|l| {
            let l = l.replacen("# Sockeye benchmark results", "### Latest results", 1);
            // The results' sections sit below the README's own headings.
            let l = if l.starts_with("## ") {
                format!("##{l}")
            } else {
                l
            };
            l + "\n"
        })
        .collect();
    let new = format!(
        "{}{start}\n{body}\nMore charts and the full JSON: [results/](results/).\n{}",
        &readme[..a],
        &readme[b..]
    );
    std::fs::write(&path, new).map_err(err)
}

pub fn render_file(json: &Path, dir: &Path) -> Result<(), String> {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(json).map_err(err)?).map_err(err)?;
    let quick = doc["mode"] == "quick";
    render(&doc, dir, quick)
}
