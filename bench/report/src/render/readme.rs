//! The latest results in bench/README.md: the Markdown between its
//! `results:start` and `results:end` markers, headings moved one level down
//! and the broadcast chart linked into results/.

use super::err;
use std::fmt::Write as _;
use std::path::Path;

/// Puts the latest results into bench/README.md between its markers.
pub fn update_readme(results: &Path, md: &str) -> Result<(), String> {
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
