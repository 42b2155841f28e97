//! The soak chart (`bench-report soak-chart samples.json out.png`): the
//! server's RSS over time from `bench-loadgen soak`, the churn rounds
//! shaded, the level after the first round and the pass limit as lines.

use super::charts::register_font;
use super::err;
use plotters::prelude::*;
use serde_json::Value;
use std::path::Path;

const CHURN: RGBColor = RGBColor(253, 226, 200);
const LINE: RGBColor = RGBColor(214, 69, 65);
const FIRST: RGBColor = RGBColor(70, 120, 190);
const LIMIT: RGBColor = RGBColor(130, 130, 130);

/// Spans `[start, end)` of consecutive samples whose phase starts with `churn`.
fn churn_spans(samples: &[(f64, f64, String)]) -> Vec<(f64, f64)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (t, _, phase) in samples {
        match (phase.starts_with("churn"), start) {
            (true, None) => start = Some(*t),
            (false, Some(s)) => {
                spans.push((s, *t));
                start = None;
            }
            _ => {}
        }
    }
    if let (Some(s), Some(last)) = (start, samples.last()) {
        spans.push((s, last.0));
    }
    spans
}

pub fn soak_chart(json: &Path, png: &Path) -> Result<(), String> {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(json).map_err(err)?).map_err(err)?;
    let mb = |kib: &Value| kib.as_f64().unwrap_or(0.0) / 1024.0;
    let samples: Vec<(f64, f64, String)> = doc["samples"]
        .as_array()
        .ok_or("no samples in the soak results")?
        .iter()
        .map(|s| {
            (
                s["t"].as_f64().unwrap_or(0.0),
                mb(&s["rss_kib"]),
                s["phase"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    if samples.is_empty() {
        return Err("the soak results have no samples".into());
    }
    let first = mb(&doc["first_level_kib"]);
    let limit = mb(&doc["limit_kib"]);
    let end = samples.last().map(|s| s.0).unwrap_or(1.0).max(1.0);
    let top = samples.iter().map(|s| s.1).fold(limit, f64::max) * 1.15;

    register_font()?;
    let root = BitMapBackend::new(png, (1100, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let title = format!(
        "Soak: server RSS, {} rounds of churn ({} s each, {} workers), {} s reap pauses",
        doc["rounds"], doc["round_secs"], doc["workers"], doc["reap_secs"]
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end, 0f64..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("RSS (MB)")
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(
            churn_spans(&samples)
                .into_iter()
                .map(|(a, b)| Rectangle::new([(a, 0.0), (b, top)], CHURN.filled())),
        )
        .map_err(err)?
        .label("churn")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], CHURN.filled()));
    chart
        .draw_series(LineSeries::new(
            samples.iter().map(|s| (s.0, s.1)),
            LINE.stroke_width(2),
        ))
        .map_err(err)?
        .label("RSS, sampled every second")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], LINE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            [(0.0, first), (end, first)],
            FIRST.stroke_width(1),
        ))
        .map_err(err)?
        .label(format!("level after the first round ({first:.1} MB)"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], FIRST.stroke_width(1)));
    chart
        .draw_series(LineSeries::new(
            [(0.0, limit), (end, limit)],
            LIMIT.stroke_width(1),
        ))
        .map_err(err)?
        .label(format!(
            "pass limit, +{:.0}% ({limit:.1} MB)",
            doc["tolerance"].as_f64().unwrap_or(0.1) * 100.0
        ))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], LIMIT.stroke_width(1)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
