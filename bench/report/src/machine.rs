//! What the run was on: cores, CPU model, kernel, memory, versions, limits,
//! and the CPU and load figures read between scenarios.

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn cmd(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The soft and hard open-files limits of this process.
pub fn nofile() -> (u64, u64) {
    let limits = read("/proc/self/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or("");
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (
        nums.first().copied().unwrap_or(1024),
        nums.get(1).copied().unwrap_or(1024),
    )
}

pub fn port_range() -> (u64, u64) {
    let s = read("/proc/sys/net/ipv4/ip_local_port_range");
    let v: Vec<u64> = s
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (
        v.first().copied().unwrap_or(32768),
        v.get(1).copied().unwrap_or(60999),
    )
}

/// The 1-minute load average.
pub fn load1() -> f64 {
    read("/proc/loadavg")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Busy and total CPU time of the whole machine, in seconds.
pub fn machine_cpu() -> (f64, f64) {
    let stat = read("/proc/stat");
    let line = stat.lines().next().unwrap_or("");
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    let hz = clock_ticks();
    ((total - idle) / hz, total / hz)
}

pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// utime + stime of a process, in seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / clock_ticks())
}

/// A field of /proc/PID/status in KiB (VmRSS, VmHWM).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| {
            v.trim_start_matches(':')
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
}

fn lock_version(lock: &str, name: &str) -> Option<String> {
    let needle = format!("name = \"{name}\"\nversion = \"");
    let i = lock.find(&needle)? + needle.len();
    Some(lock[i..].split('"').next()?.to_owned())
}

fn npm_version(bench: &Path, package: &str) -> Option<String> {
    let p = bench
        .join("node/node_modules")
        .join(package)
        .join("package.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
    v["version"].as_str().map(str::to_owned)
}

pub fn describe(bench: &Path) -> Value {
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let mem_kib = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    let lock = read(&bench.join("Cargo.lock").to_string_lossy());
    let repo = bench.parent().unwrap_or(bench);
    // A run from an exported tree (no .git) names its commit by hand.
    let commit = std::env::var("BENCH_SOCKEYE_COMMIT").ok().or_else(|| {
        cmd(
            "git",
            &[
                "-C",
                &repo.to_string_lossy(),
                "rev-parse",
                "--short",
                "HEAD",
            ],
        )
    });
    let dirty = cmd(
        "git",
        &[
            "-C",
            &repo.to_string_lossy(),
            "status",
            "--porcelain",
            "--",
            "crates",
        ],
    )
    .map(|s| !s.is_empty());
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": model,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "memory_gib": (mem_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "rustc": cmd("rustc", &["--version"]),
        "node": cmd("node", &["--version"]),
        "socket.io": npm_version(bench, "socket.io"),
        "ws": npm_version(bench, "ws"),
        "bufferutil": npm_version(bench, "bufferutil"),
        "utf-8-validate": npm_version(bench, "utf-8-validate"),
        "socketioxide": lock_version(&lock, "socketioxide"),
        "tokio-tungstenite": lock_version(&lock, "tokio-tungstenite"),
        "tokio": lock_version(&lock, "tokio"),
        "sockeye_commit": commit,
        "sockeye_crates_modified": dirty,
        "taskset": cmd("taskset", &["--version"]).is_some(),
    })
}
