//! The orchestrator: one server at a time on core 0, the load generator on
//! core 1, free ports, start and stop by PID, CPU and RSS from /proc, the
//! machine's load before each scenario, limits checked and scenarios shrunk
//! to fit them, and busy scenarios run again at the end.

use crate::machine;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Cores used by other processes (on average over a scenario) above which
/// the scenario counts as disturbed.
const BUSY_CORES: f64 = 0.25;

struct Server {
    name: &'static str,
    program: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
    /// Speaks only WebSocket (the raw ceiling): no polling scenarios.
    ws_only: bool,
    cwd: Option<PathBuf>,
}

struct Scenario {
    name: &'static str,
    args: Vec<String>,
    polling: bool,
    rerun_if_busy: bool,
    timeout: Duration,
}

struct Opts {
    quick: bool,
    smoke: bool,
    servers: Option<Vec<String>>,
    scenarios: Option<Vec<String>>,
    merge: bool,
    rerun: bool,
    no_nice: bool,
}

fn parse(args: &[String]) -> Opts {
    let mut o = Opts {
        quick: false,
        smoke: false,
        servers: None,
        scenarios: None,
        merge: false,
        rerun: true,
        no_nice: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let list = |v: Option<&String>| v.map(|s| s.split(',').map(str::to_owned).collect());
        match a.as_str() {
            "--quick" => o.quick = true,
            "--smoke" => o.smoke = true,
            "--merge" => o.merge = true,
            "--no-rerun" => o.rerun = false,
            "--no-nice" => o.no_nice = true,
            "--servers" => o.servers = list(it.next()),
            "--scenarios" => o.scenarios = list(it.next()),
            other => eprintln!("bench-report run: ignoring unknown option {other}"),
        }
    }
    o
}

fn say(msg: impl AsRef<str>) {
    eprintln!("bench: {}", msg.as_ref());
}

/// Raises the open-files soft limit to the hard limit (children inherit it).
fn raise_nofile() {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn pinned(core: usize, program: &[String], env: &Env) -> Command {
    let mut full: Vec<String> = Vec::new();
    if env.nice {
        full.extend(["nice".into(), "-n".into(), "-10".into()]);
    }
    if env.pin {
        full.extend(["taskset".into(), "-c".into(), core.to_string()]);
    }
    full.extend(program.iter().cloned());
    let mut c = Command::new(&full[0]);
    c.args(&full[1..]);
    c
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a child's pid.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Stops a server by PID: SIGTERM, then SIGKILL after 5 s.
fn stop(child: &mut Child) {
    let pid = child.id();
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    signal(pid, libc::SIGTERM);
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(pid, libc::SIGKILL);
    let _ = child.wait();
}

struct Env {
    bin: PathBuf,
    tmp: PathBuf,
    pin: bool,
    /// Raise the bench processes' priority over other work (`nice -n -10`).
    nice: bool,
    runs: std::cell::Cell<usize>,
}

impl Env {
    /// Every run gets its own block of four source addresses 127.0.0.B...
    fn next_src_base(&self) -> usize {
        let n = self.runs.get();
        self.runs.set(n + 1);
        2 + (n * 4) % 248
    }
}

/// Runs one scenario against a fresh server.
fn run_one(env: &Env, server: &Server, scenario: &Scenario, attempt: u32) -> Value {
    let load1 = machine::load1();
    let port = free_port();
    let log_path = env
        .tmp
        .join(format!("{}-{}-{attempt}.log", server.name, scenario.name));
    let log = std::fs::File::create(&log_path).expect("server log");
    let mut program = server.program.clone();
    program.extend(["--port".to_owned(), port.to_string()]);
    let mut cmd = pinned(0, &program, env);
    cmd.stdout(Stdio::piped()).stderr(log).stdin(Stdio::null());
    for (k, v) in &server.env {
        cmd.env(k, v);
    }
    if let Some(dir) = &server.cwd {
        cmd.current_dir(dir);
    }
    let base = json!({
        "server": server.name,
        "scenario": scenario.name,
        "attempt": attempt,
        "load1_before": load1,
    });
    let fail = |mut v: Value, e: String| {
        say(format!("{} / {}: ERROR {e}", server.name, scenario.name));
        v["ok"] = json!(false);
        v["error"] = json!(e);
        v
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(base, format!("cannot start {program:?}: {e}")),
    };
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            if line.starts_with("listening on") {
                let _ = tx.send(line);
                break;
            }
        }
        // Keep draining so that the server never blocks on a full pipe.
        for _ in lines {}
    });
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        stop(&mut child);
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        return fail(
            base,
            format!("no `listening on` within 30 s; stderr: {}", tail(&log)),
        );
    }
    let (busy0, _) = machine::machine_cpu();
    let server_cpu0 = machine::cpu_secs(pid).unwrap_or(0.0);
    let t0 = Instant::now();
    let mut gen_prog = vec![
        env.bin.join("bench-loadgen").to_string_lossy().into_owned(),
        scenario.name.to_owned(),
    ];
    gen_prog.extend([
        "--port".to_owned(),
        port.to_string(),
        "--server-pid".to_owned(),
        pid.to_string(),
    ]);
    gen_prog.extend(scenario.args.iter().cloned());
    gen_prog.extend(["--src-base".to_owned(), env.next_src_base().to_string()]);
    let mut gen_cmd = pinned(1, &gen_prog, env);
    gen_cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let mut gen_child = match gen_cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            stop(&mut child);
            return fail(base, format!("cannot start the load generator: {e}"));
        }
    };
    let mut gen_stdout = gen_child.stdout.take().expect("stdout");
    let mut gen_stderr = gen_child.stderr.take().expect("stderr");
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = gen_stdout.read_to_string(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = gen_stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + scenario.timeout;
    let status = loop {
        if let Ok(Some(st)) = gen_child.try_wait() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = gen_child.kill();
            let _ = gen_child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = t0.elapsed().as_secs_f64();
    let (busy1, _) = machine::machine_cpu();
    let server_alive = matches!(child.try_wait(), Ok(None));
    let server_cpu = machine::cpu_secs(pid).unwrap_or(server_cpu0) - server_cpu0;
    let peak_rss = machine::status_kib(pid, "VmHWM");
    stop(&mut child);
    let out = out_thread.join().unwrap_or_default();
    let err = err_thread.join().unwrap_or_default();
    let server_log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut v = base;
    v["server_note"] = json!(server_log.lines().next().unwrap_or(""));
    v["server_cpu_s"] = json!(server_cpu);
    v["server_peak_rss_kib"] = json!(peak_rss);
    v["wall_s"] = json!(wall);
    let Some(status) = status else {
        return fail(
            v,
            format!("the load generator timed out after {:?}", scenario.timeout),
        );
    };
    if !server_alive {
        return fail(
            v,
            format!(
                "the server exited during the scenario; stderr: {}",
                tail(&server_log)
            ),
        );
    }
    if !status.success() {
        return fail(
            v,
            format!("the load generator failed ({status}): {}", tail(&err)),
        );
    }
    let parsed: Value = match serde_json::from_str(out.trim()) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                v,
                format!("unreadable load generator output ({e}): {}", tail(&out)),
            );
        }
    };
    let gen_cpu = parsed["generator_cpu_total_s"].as_f64().unwrap_or(0.0);
    let others = ((busy1 - busy0) - server_cpu - gen_cpu).max(0.0) / wall.max(1e-9);
    v["others_cores"] = json!((others * 100.0).round() / 100.0);
    v["busy"] = json!(others > BUSY_CORES);
    v["ok"] = json!(true);
    v["phases"] = parsed["phases"].clone();
    v["source_addresses"] = parsed["source_addresses"].clone();
    if !err.trim().is_empty() {
        v["generator_stderr"] = json!(tail(&err));
    }
    v
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

fn summary(run: &Value) -> String {
    let mut parts = Vec::new();
    for p in run["phases"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or("?");
        let pick = |k: &str| p.get(k).and_then(Value::as_f64);
        let figure = pick("deliveries_per_s")
            .map(|v| format!("{v:.0} deliveries/s"))
            .or_else(|| {
                pick("rss_per_conn_kb").map(|v| {
                    format!(
                        "{v:.1} KB/conn, {:.0} µs/connect",
                        pick("cpu_per_connect_us").unwrap_or(0.0)
                    )
                })
            })
            .or_else(|| {
                pick("rtt_per_s")
                    .map(|v| format!("{v:.0} rtt/s p99 {:.0} µs", pick("p99_us").unwrap_or(0.0)))
            })
            .or_else(|| {
                pick("cpu_per_request_us").map(|v| {
                    format!(
                        "{v:.0} µs/request, {:.0} sessions/s",
                        pick("sessions_per_s").unwrap_or(0.0)
                    )
                })
            })
            .or_else(|| {
                pick("cpu_per_session_us").map(|v| {
                    format!(
                        "{v:.0} µs/session, {:.0} sessions/s",
                        pick("sessions_per_s").unwrap_or(0.0)
                    )
                })
            })
            .unwrap_or_default();
        let invalid = if p["measure"]["invalid"].as_bool() == Some(true) {
            " INVALID(generator)"
        } else {
            ""
        };
        parts.push(format!("{name}: {figure}{invalid}"));
    }
    parts.join("; ")
}

pub fn main(args: &[String]) -> i32 {
    let opts = parse(args);
    raise_nofile();
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("own directory");
    let bench = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::current_dir().expect("cwd").join("bench"));
    let results = bench.join("results");
    let tmp = results.join("tmp");
    std::fs::create_dir_all(&tmp).expect("bench/results/tmp");
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let taskset = Command::new("taskset")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let pin = taskset && cores >= 2;
    if !pin {
        say(format!(
            "not pinning (taskset: {taskset}, cores: {cores}): figures are less stable"
        ));
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let nice = root
        && !opts.no_nice
        && Command::new("nice")
            .arg("true")
            .status()
            .is_ok_and(|s| s.success());
    let env = Env {
        bin: bin.clone(),
        tmp,
        pin,
        nice,
        runs: std::cell::Cell::new(0),
    };

    // Limits.
    let (soft, hard) = machine::nofile();
    let (lo, hi) = machine::port_range();
    let ports = hi.saturating_sub(lo) + 1;
    // As the load generator does: a quarter of the range per source address.
    let per_addr = (ports / 4).max(1000);
    // Room for the runtime's own descriptors and the connect window.
    let max_conns = soft.saturating_sub(1000).max(100) as usize;
    let addrs = max_conns.div_ceil(per_addr as usize);
    let mut notes = vec![
        format!(
            "open files: soft {soft}, hard {hard} (soft raised to hard): at most {max_conns} connections per process"
        ),
        format!(
            "local port range {lo}-{hi} ({ports} ports): {per_addr} connections per loopback source address (a quarter of the range: connect()'s port search slows down as a range fills), so {addrs} source addresses for {max_conns}; every run uses its own (127.0.0.B, B+1, ...), away from the TIME_WAIT ports of the runs before"
        ),
    ];
    let mut shrunk = Vec::new();
    let mut fit = |what: &str, want: usize, extra: usize| -> usize {
        if want + extra <= max_conns {
            want
        } else {
            let got = max_conns.saturating_sub(extra);
            shrunk.push(json!({"scenario": what, "wanted": want, "ran": got, "why": format!("open-files limit {soft}")}));
            got
        }
    };
    let q = opts.quick;
    let idle_n = fit("idle_10k", if q { 2000 } else { 10_000 }, 101);
    let idle_max = if q { 0 } else { max_conns };
    let b_small = fit("broadcast_1k", 1000, 1);
    let b_large = fit("broadcast_10k", 10_000, 1);
    let upgrade_n = fit("upgrade_5k", if q { 1000 } else { 5000 }, 1 + 400);
    let echo_n = fit("echo_loaded", 1000, 1);
    for s in &shrunk {
        notes.push(format!(
            "shrunk {}: {} -> {} connections ({})",
            s["scenario"].as_str().unwrap_or(""),
            s["wanted"],
            s["ran"],
            s["why"].as_str().unwrap_or("")
        ));
    }
    if !q {
        notes.push(format!(
            "idle_max: {idle_max} connections (the most this machine allows one process)"
        ));
    }
    for n in &notes {
        say(n);
    }

    let dur = |full: &str, quick: &str| if q { quick.to_owned() } else { full.to_owned() };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut scenarios = vec![
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
        Scenario {
            name: "upgrade",
            args: s(&["--n", &upgrade_n.to_string()]),
            polling: true,
            rerun_if_busy: false,
            timeout: Duration::from_secs(180),
        },
    ];
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
    let mut servers = vec![
        rust("sockeye", "bench-sockeye", false),
        node(
            "node",
            vec![("WS_NO_BUFFER_UTIL", "1"), ("WS_NO_UTF_8_VALIDATE", "1")],
        ),
        node("node-native", vec![]),
        rust("socketioxide", "bench-socketioxide", false),
        rust("raw", "bench-raw", true),
    ];

    if opts.smoke {
        let smoke = Scenario {
            name: "smoke",
            args: s(&["--n", "5"]),
            polling: true,
            rerun_if_busy: false,
            timeout: Duration::from_secs(60),
        };
        let run = run_one(&env, &servers[0], &smoke, 1);
        return if run["ok"].as_bool() == Some(true) {
            say(format!(
                "smoke against sockeye: ok ({} connections over WebSocket, polling and upgrade)",
                run["phases"]["connections"]
            ));
            0
        } else {
            say(format!("smoke against sockeye FAILED: {}", run["error"]));
            1
        };
    }
    if let Some(only) = &opts.servers {
        servers.retain(|s| only.iter().any(|o| o == s.name));
    }
    if let Some(only) = &opts.scenarios {
        scenarios.retain(|s| only.iter().any(|o| o == s.name));
    }

    let started = Instant::now();
    let mut runs: Vec<Value> = Vec::new();
    // One round = the scenario against every server, back to back, so that
    // the servers compared in a row of the table ran under the same load.
    let run_round = |sc: &Scenario, round: u32, runs: &mut Vec<Value>| {
        for sv in servers.iter().filter(|sv| !(sv.ws_only && sc.polling)) {
            say(format!(
                "{} / {} (round {round}, load {:.2})",
                sv.name,
                sc.name,
                machine::load1()
            ));
            let mut run = run_one(&env, sv, sc, round);
            if run["ok"].as_bool() == Some(true) {
                say(format!(
                    "  {} [others used {} cores]",
                    summary(&run),
                    run["others_cores"]
                ));
            }
            run["round"] = json!(round);
            runs.push(run);
        }
    };
    let mut round_secs = Vec::new();
    for sc in &scenarios {
        let t = Instant::now();
        run_round(sc, 1, &mut runs);
        round_secs.push(t.elapsed().as_secs_f64());
    }
    // Disturbance of a round: the mean CPU other processes used (a failed
    // run counts as fully disturbed).
    let disturbance = |runs: &[Value], sc: &str, round: u32| -> f64 {
        let rs: Vec<&Value> = runs
            .iter()
            .filter(|r| r["scenario"] == sc && r["round"] == round)
            .collect();
        rs.iter()
            .map(|r| {
                if r["ok"] == true {
                    r["others_cores"].as_f64().unwrap_or(2.0)
                } else {
                    9.0
                }
            })
            .sum::<f64>()
            / rs.len().max(1) as f64
    };
    // Disturbed idle and broadcast rounds run once more, while time allows.
    let budget = if q { 110.0 } else { 540.0 };
    for (i, sc) in scenarios.iter().enumerate() {
        if !(sc.rerun_if_busy && opts.rerun) {
            continue;
        }
        let busy = runs
            .iter()
            .any(|r| r["scenario"] == sc.name && r["busy"] == true);
        if !busy {
            continue;
        }
        if started.elapsed().as_secs_f64() + round_secs[i] > budget {
            say(format!(
                "{}: disturbed, but no time left to run it again",
                sc.name
            ));
            continue;
        }
        say(format!(
            "{}: other processes disturbed the first round; running it again",
            sc.name
        ));
        run_round(sc, 2, &mut runs);
    }
    for sc in &scenarios {
        let rounds: Vec<u32> = {
            let mut v: Vec<u32> = runs
                .iter()
                .filter(|r| r["scenario"] == sc.name)
                .filter_map(|r| r["round"].as_u64().map(|x| x as u32))
                .collect();
            v.dedup();
            v
        };
        let best = rounds
            .iter()
            .copied()
            .min_by(|a, b| {
                disturbance(&runs, sc.name, *a).total_cmp(&disturbance(&runs, sc.name, *b))
            })
            .unwrap_or(1);
        for r in runs.iter_mut().filter(|r| r["scenario"] == sc.name) {
            r["chosen"] = json!(r["round"] == best);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut doc = json!({
        "mode": if q { "quick" } else { "full" },
        "date_unix": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "duration_s": elapsed,
        "machine": machine::describe(&bench),
        "pinning": format!(
            "{}{}",
            if pin { "server: taskset -c 0; load generator: taskset -c 1" } else { "none" },
            if env.nice { "; both at nice -10 (ahead of other work on the machine)" } else { "" }
        ),
        "busy_threshold_cores": BUSY_CORES,
        "limits": {"nofile_soft": soft, "nofile_hard": hard, "port_range": [lo, hi], "max_connections": max_conns, "source_addresses": addrs},
        "notes": notes,
        "shrunk": shrunk,
        "runs": runs,
    });
    let name = if q {
        "results-quick.json"
    } else {
        "results.json"
    };
    let path = results.join(name);
    if opts.merge {
        if let Some(old) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        {
            let new_runs = doc["runs"].as_array().cloned().unwrap_or_default();
            let mut merged: Vec<Value> = old["runs"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|r| {
                    !new_runs
                        .iter()
                        .any(|n| n["server"] == r["server"] && n["scenario"] == r["scenario"])
                })
                .collect();
            merged.extend(new_runs);
            doc["runs"] = json!(merged);
            doc["merged_from_earlier_run"] = json!(true);
            doc["duration_s"] = json!(old["duration_s"].as_f64().unwrap_or(0.0) + elapsed);
        }
    }
    std::fs::write(&path, serde_json::to_string_pretty(&doc).expect("json"))
        .expect("write results");
    say(format!(
        "wrote {} ({elapsed:.0} s of measurements)",
        path.display()
    ));
    match crate::render::render(&doc, &results, q) {
        Ok(()) => 0,
        Err(e) => {
            say(format!("render failed: {e}"));
            1
        }
    }
}
