//! What runs: the servers (Sockeye, Node with and without the native
//! add-ons, socketioxide, raw) and the scenarios with their generator
//! arguments, sized by [`Sizes`], and the smoke scenario.

use super::limits::Sizes;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Server {
    pub name: &'static str,
    pub program: Vec<String>,
    pub env: Vec<(&'static str, &'static str)>,
    /// Speaks only WebSocket (the raw ceiling): no polling scenarios.
    pub ws_only: bool,
    pub cwd: Option<PathBuf>,
}

pub struct Scenario {
    pub name: &'static str,
    pub args: Vec<String>,
    pub polling: bool,
    pub rerun_if_busy: bool,
    pub timeout: Duration,
}

/// Owned copies of `v` (the generator's and the servers' arguments).
fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>()
}

/// The scenarios in the order they run; `q`: the quick run's durations.
pub fn scenarios(q: bool, sizes: &Sizes) -> Vec<Scenario> {
    let Sizes {
        idle_n,
        idle_max,
        b_small,
        b_large,
        upgrade_n,
        echo_n,
    } = *sizes;
    let dur = |full: &str, quick: &str| if q { quick.to_owned() } else { full.to_owned() };
    let mut all = vec![
        Scenario {
            name: "idle",
            args: s(&[
                "--n",
                &idle_n.to_string(),
                "--max",
                &idle_max.to_string(),
                "--settle-ms",
                if q { "500" } else { "1000" },
            ]),
            polling: false,
            rerun_if_busy: true,
            timeout: Duration::from_secs(240),
        },
        Scenario {
            name: "idle_nick",
            args: s(&[
                "--max",
                &idle_max.to_string(),
                "--settle-ms",
                if q { "500" } else { "1000" },
            ]),
            polling: false,
            rerun_if_busy: true,
            timeout: Duration::from_secs(240),
        },
        Scenario {
            name: "broadcast",
            args: s(&[
                "--sizes",
                &if q {
                    b_small.to_string()
                } else {
                    format!("{b_small},{b_large}")
                },
                "--duration",
                &dur("4", "1.5"),
                "--batch",
                "10",
            ]),
            polling: false,
            rerun_if_busy: true,
            timeout: Duration::from_secs(180),
        },
        Scenario {
            name: "echo",
            args: s(&[
                "--connected",
                &echo_n.to_string(),
                "--active",
                "100",
                "--duration",
                &dur("4", "1.5"),
                "--unloaded-duration",
                &dur("3", "1"),
            ]),
            polling: false,
            rerun_if_busy: false,
            timeout: Duration::from_secs(120),
        },
        Scenario {
            name: "polling",
            args: s(&[
                "--concurrency",
                if q { "50" } else { "50,200" },
                "--duration",
                &dur("4", "1.5"),
            ]),
            polling: true,
            rerun_if_busy: false,
            timeout: Duration::from_secs(120),
        },
        // Its own server process: the sessions it opens and closes would
        // otherwise leave freed heap that the upgrade phase reuses, and the
        // RSS per upgraded session would read low.
        Scenario {
            name: "polling_idle",
            args: s(&["--n", &(upgrade_n / 2).to_string()]),
            polling: true,
            rerun_if_busy: false,
            timeout: Duration::from_secs(180),
        },
        Scenario {
            name: "upgrade",
            args: s(&["--n", &upgrade_n.to_string()]),
            polling: true,
            rerun_if_busy: false,
            timeout: Duration::from_secs(180),
        },
    ];
    // The quick run has no maximum: no nickname phase either.
    if idle_max == 0 {
        all.retain(|s| s.name != "idle_nick");
    }
    all
}

/// The servers in the order they run; `bin`: the bench workspace's binaries.
pub fn servers(bench: &Path, bin: &Path) -> Vec<Server> {
    let node_dir = bench.join("node");
    let node = |name: &'static str, env: Vec<(&'static str, &'static str)>| Server {
        name,
        program: s(&["node", "server.js"]),
        env,
        ws_only: false,
        cwd: Some(node_dir.clone()),
    };
    let rust = |name: &'static str, exe: &str, ws_only: bool| Server {
        name,
        program: vec![bin.join(exe).to_string_lossy().into_owned()],
        env: vec![],
        ws_only,
        cwd: None,
    };
    vec![
        rust("sockeye", "bench-sockeye", false),
        node(
            "node",
            vec![("WS_NO_BUFFER_UTIL", "1"), ("WS_NO_UTF_8_VALIDATE", "1")],
        ),
        node("node-native", vec![]),
        rust("socketioxide", "bench-socketioxide", false),
        rust("raw", "bench-raw", true),
    ]
}

/// `--smoke`: a few connections over every transport, against Sockeye.
pub fn smoke() -> Scenario {
    Scenario {
        name: "smoke",
        args: s(&["--n", "5"]),
        polling: true,
        rerun_if_busy: false,
        timeout: Duration::from_secs(60),
    }
}
