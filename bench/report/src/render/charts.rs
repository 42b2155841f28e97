//! The PNG charts (plotters, bitmap backend): one file per scenario family,
//! one bar panel per figure, a bar per server, INVALID marked.

use super::err;
use super::table::{SERVERS, Table};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

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

/// Registers a system TrueType font as "sans-serif" (plotters' bitmap
/// backend has none of its own); an error names the package to install.
pub fn register_font() -> Result<(), String> {
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
    Ok(())
}

pub fn charts(t: &Table<'_>, dir: &Path, prefix: &str) -> Result<Vec<String>, String> {
    register_font()?;
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
                (!bars.is_empty()).then_some((phase, *unit, *title, bars))
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
