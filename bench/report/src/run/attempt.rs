//! One attempt: a scenario against a fresh server. Starts the server
//! (pinned to core 0) and waits for `listening on`, runs the load generator
//! (core 1), samples the server's CPU and peak RSS and the machine's CPU from
//! /proc around it, and stops the server by PID.

use super::plan::{Scenario, Server};
use super::process::{Env, free_port, pinned, stop};
use super::say;
use crate::machine;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Cores used by other processes (on average over a scenario) above which
/// the scenario counts as disturbed.
pub const BUSY_CORES: f64 = 0.25;

/// Runs one scenario against a fresh server.
pub fn run_one(env: &Env, server: &Server, scenario: &Scenario, attempt: u32) -> Value {
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
