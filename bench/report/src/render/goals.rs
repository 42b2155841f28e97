//! The goals: which figures have one, and whether Sockeye's figure
//! met it (absolute, or as a ratio to another server's).

use super::format::{fmt_num, fmt_ratio, ratio, short};
use super::table::Table;

enum Check {
    AtMost(f64),
    RatioAtMost(&'static str, f64),
    RatioAtLeast(&'static str, f64),
}

/// The goals for a figure.
fn goals(phase: &str, key: &str, connections: f64) -> Vec<Check> {
    use Check::*;
    match (phase, key) {
        // The chat's nickname in every socket's data: a figure, no goal.
        (p, _) if p.starts_with("idle_max_nick") => vec![],
        (p, "rss_per_conn_kb") if p.starts_with("idle_") => {
            vec![
                AtMost(5.0),
                RatioAtMost("node", 0.8),
                RatioAtMost("socketioxide", 0.42),
                RatioAtMost("raw", 0.6),
            ]
        }
        (p, "rss_per_session_kb") if p.starts_with("polling_idle") => vec![AtMost(4.0)],
        (p, "rss_per_session_kb") if p.starts_with("upgrade_") => vec![AtMost(6.0)],
        (p, "cpu_per_connect_us") if p.starts_with("idle_") => vec![AtMost(100.0)],
        (p, "deliveries_per_s") if p.starts_with("broadcast_") => vec![
            RatioAtLeast("node", 10.0),
            RatioAtLeast(
                "socketioxide",
                if connections >= 10_000.0 { 2.0 } else { 1.6 },
            ),
            RatioAtLeast("raw", 0.7),
        ],
        (p, "deliveries_per_s") if p.starts_with("cluster_") => {
            vec![RatioAtLeast("node", 5.0)]
        }
        ("cluster_probe", "added_p99_us") => vec![AtMost(2000.0)],
        (p, "publish_per_broadcast") if p.starts_with("cluster_") => vec![AtMost(1.0)],
        (p, "rss_adapter_vs_memory") if p.starts_with("cluster_") => vec![AtMost(1.1)],
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

pub struct GoalResult {
    pub text: String,
    pub met: Option<bool>,
}

pub fn evaluate(t: &Table<'_>, phase: &str, key: &str, scale: f64) -> Option<GoalResult> {
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
                format!(
                    "≤ {}",
                    fmt_num(
                        x * scale,
                        if scale < 1.0 || x * scale < 10.0 {
                            1
                        } else {
                            0
                        }
                    )
                ),
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
