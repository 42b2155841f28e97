//! `bench-report run [options]`: the orchestrator behind `scripts/bench`.
//! `bench-report render RESULTS.json OUT_DIR`: the Markdown table and PNG
//! charts of a results file.
//! `bench-report soak-chart SAMPLES.json OUT.png`: the RSS chart of a soak run
//! (`bench-loadgen soak`, scripts/soak).

mod machine;
mod render;
mod run;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("run") => run::main(&args[1..]),
        Some("render") if args.len() >= 3 => {
            match render::render_file(
                std::path::Path::new(&args[1]),
                std::path::Path::new(&args[2]),
            ) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("bench-report render: {e}");
                    1
                }
            }
        }
        Some("soak-chart") if args.len() >= 3 => {
            match render::soak_chart(
                std::path::Path::new(&args[1]),
                std::path::Path::new(&args[2]),
            ) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("bench-report soak-chart: {e}");
                    1
                }
            }
        }
        _ => {
            eprintln!(
                "usage: bench-report run [--quick] [--smoke] [--servers a,b] [--scenarios a,b] [--merge] [--no-rerun]\n       bench-report render RESULTS.json OUT_DIR\n       bench-report soak-chart SAMPLES.json OUT.png"
            );
            2
        }
    };
    std::process::exit(code);
}
