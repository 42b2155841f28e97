//! Results to a Markdown table (absolute figures, ratios Sockeye/Node,
//! Sockeye/socketioxide, Sockeye/raw, the goals) and PNG charts.
//!
//! [`table`] picks the chosen run of each server and scenario, [`markdown`]
//! writes the document (with [`machine`], [`metrics`], [`goals`] and
//! [`load`]), [`charts`] draws the PNGs and [`readme`] puts the latest table
//! into bench/README.md. [`soak`] draws the soak's RSS chart.

mod charts;
mod format;
mod goals;
mod load;
mod machine;
mod markdown;
mod metrics;
mod readme;
mod soak;
mod table;

use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

pub use markdown::markdown;
pub use soak::soak_chart;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

pub fn render(doc: &Value, dir: &Path, quick: bool) -> Result<(), String> {
    let prefix = if quick { "quick-" } else { "" };
    let mut md = markdown(doc);
    let t = table::collect(doc);
    match charts::charts(&t, dir, prefix) {
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
        readme::update_readme(dir, &md)?;
    }
    Ok(())
}

pub fn render_file(json: &Path, dir: &Path) -> Result<(), String> {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(json).map_err(err)?).map_err(err)?;
    let quick = doc["mode"] == "quick";
    render(&doc, dir, quick)
}
