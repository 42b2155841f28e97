//! `soak --server-pid PID --rounds 4 --round-secs 10 --reap-secs 8 --workers 16 --out DIR`:
//! rounds of connect/abandon churn ([`super::churn`]: polling, WebSocket,
//! upgrade, abandoned probes, never-reading clients, stalled bodies,
//! half-open sockets) against one server, its RSS sampled every second.
//!
//! After the first round the churn pauses for `reap-secs` (long enough for
//! the server's ping, upgrade, header and body deadlines to reap what was
//! abandoned) and the RSS level is taken (median of the last 3 samples);
//! then the remaining rounds run back to back, the churn stops, and after
//! the same pause the final level is taken. The run passes when the final
//! level is within `tolerance` (default 10%) of the first one and a
//! bystander connection kept answering its echo every second throughout.
//!
//! Bounded: at most `max-actions` actions (default 1,000,000), each within
//! [`super::churn::ACTION_DEADLINE`]; loopback only (the target is the
//! `--host`, default 127.0.0.1). Writes `samples.json` and `samples.csv`
//! into `--out` (the chart is drawn from them by `bench-report soak-chart`).

use super::churn::{self, KINDS, Kind};
use crate::cli::{Args, arg};
use crate::ctx::Ctx;
use crate::ws::{Ws, sio_connect};
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::task::spawn_local;

struct Sample {
    t: f64,
    rss_kib: u64,
    phase: String,
}

#[derive(Default)]
struct Counts {
    ok: [u64; KINDS.len()],
    failed: [u64; KINDS.len()],
    last_error: [Option<String>; KINDS.len()],
}

fn median_tail(samples: &[Sample], n: usize) -> Option<u64> {
    let mut tail: Vec<u64> = samples.iter().rev().take(n).map(|s| s.rss_kib).collect();
    if tail.is_empty() {
        return None;
    }
    tail.sort_unstable();
    Some(tail[tail.len() / 2])
}

/// The bystander: one echo by ack per second; reads in between so that the
/// server's pings are answered. Counts failures.
async fn bystander(
    mut ws: Ws,
    stop: Rc<Cell<bool>>,
    failures: Rc<Cell<u64>>,
    echoes: Rc<Cell<u64>>,
) {
    let mut id = 0u64;
    while !stop.get() {
        id += 1;
        let msg = format!("42{id}[\"echo\",\"bystander\"]");
        let want = format!("43{id}[");
        let ok = async {
            ws.send(msg.as_bytes()).await?;
            ws.wait_for(want.as_bytes(), &Cell::new(0)).await
        };
        match tokio::time::timeout(Duration::from_secs(5), ok).await {
            Ok(Ok(())) => echoes.set(echoes.get() + 1),
            _ => {
                failures.set(failures.get() + 1);
                return;
            }
        }
        let until = tokio::time::Instant::now() + Duration::from_secs(1);
        loop {
            match tokio::time::timeout_at(until, ws.next()).await {
                Err(_) => break,
                Ok(Ok(Some(_))) => continue,
                Ok(_) => {
                    failures.set(failures.get() + 1);
                    return;
                }
            }
        }
    }
}

/// Runs one round: `workers` loops of churn actions until `until`.
async fn round(
    ctx: &Ctx,
    workers: usize,
    until: Instant,
    counts: &Rc<RefCell<Counts>>,
    budget: &Rc<Cell<u64>>,
) {
    let mut tasks = Vec::with_capacity(workers);
    for w in 0..workers {
        let counts = counts.clone();
        let budget = budget.clone();
        let target = ctx.target;
        tasks.push(spawn_local(async move {
            let mut i = w;
            while Instant::now() < until && budget.get() > 0 {
                budget.set(budget.get() - 1);
                let k = i % KINDS.len();
                let kind: Kind = KINDS[k];
                i += 1;
                let r = churn::run(kind, target).await;
                let mut c = counts.borrow_mut();
                match r {
                    Ok(()) => c.ok[k] += 1,
                    Err(e) => {
                        c.failed[k] += 1;
                        c.last_error[k] = Some(e.to_string());
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

pub async fn soak(ctx: &Ctx, args: &Args) -> Result<Value, String> {
    let pid = ctx.pid.ok_or("soak needs --server-pid")?;
    if !ctx.target.ip().is_loopback() {
        return Err("soak runs against a loopback address only".into());
    }
    let rounds: usize = arg(args, "rounds", 4).max(2);
    let round_secs: f64 = arg(args, "round-secs", 10.0);
    let reap_secs: f64 = arg(args, "reap-secs", 8.0);
    let workers: usize = arg(args, "workers", 16).max(1);
    let tolerance: f64 = arg(args, "tolerance", 0.10);
    let out = PathBuf::from(arg(args, "out", ".".to_string()));
    let budget = Rc::new(Cell::new(arg::<u64>(args, "max-actions", 1_000_000)));

    let started = Instant::now();
    let samples: Rc<RefCell<Vec<Sample>>> = Rc::default();
    let phase = Rc::new(RefCell::new("start".to_string()));
    let stop = Rc::new(Cell::new(false));
    let sampler = {
        let (samples, phase, stop) = (samples.clone(), phase.clone(), stop.clone());
        spawn_local(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while !stop.get() {
                tick.tick().await;
                if let Some(rss_kib) = crate::procfs::rss_kib(pid) {
                    samples.borrow_mut().push(Sample {
                        t: started.elapsed().as_secs_f64(),
                        rss_kib,
                        phase: phase.borrow().clone(),
                    });
                }
            }
        })
    };
    let by_ws = sio_connect(ctx.target, None)
        .await
        .map_err(|e| format!("bystander connect: {e}"))?;
    let (by_fail, by_ok) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let by = spawn_local(bystander(
        by_ws,
        stop.clone(),
        by_fail.clone(),
        by_ok.clone(),
    ));

    let counts: Rc<RefCell<Counts>> = Rc::default();
    let reap = Duration::from_secs_f64(reap_secs);
    let mut first_level = None;
    for r in 1..=rounds {
        *phase.borrow_mut() = format!("churn {r}");
        let until = Instant::now() + Duration::from_secs_f64(round_secs);
        round(ctx, workers, until, &counts, &budget).await;
        if r == 1 {
            *phase.borrow_mut() = "reap 1".into();
            tokio::time::sleep(reap).await;
            first_level = median_tail(&samples.borrow(), 3);
        }
    }
    *phase.borrow_mut() = "reap".into();
    tokio::time::sleep(reap).await;
    let final_level = median_tail(&samples.borrow(), 3);
    stop.set(true);
    let _ = by.await;
    sampler.abort();

    let samples = samples.borrow();
    let (Some(first), Some(last)) = (first_level, final_level) else {
        return Err("no RSS samples (is --server-pid right?)".into());
    };
    let limit = (first as f64 * (1.0 + tolerance)) as u64;
    let peak = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let c = counts.borrow();
    let kinds: Value = KINDS
        .iter()
        .enumerate()
        .map(|(i, k)| {
            (
                k.name().to_owned(),
                json!({"ok": c.ok[i], "failed": c.failed[i], "last_error": c.last_error[i]}),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    let doc = json!({
        "rounds": rounds,
        "round_secs": round_secs,
        "reap_secs": reap_secs,
        "workers": workers,
        "tolerance": tolerance,
        "first_level_kib": first,
        "final_level_kib": last,
        "limit_kib": limit,
        "peak_kib": peak,
        "bystander_echoes": by_ok.get(),
        "bystander_failures": by_fail.get(),
        "actions": kinds,
        "samples": samples.iter().map(|s| json!({"t": s.t, "rss_kib": s.rss_kib, "phase": s.phase})).collect::<Vec<_>>(),
    });
    write_outputs(&out, &doc, &samples)?;
    let ok_actions: u64 = c.ok.iter().sum();
    let mut problems = Vec::new();
    if last > limit {
        problems.push(format!(
            "RSS after the churn {last} KiB is over {limit} KiB (the level after the first round {first} KiB + {:.0}%)",
            tolerance * 100.0
        ));
    }
    if by_fail.get() > 0 {
        problems.push(format!(
            "the bystander stopped answering after {} echoes",
            by_ok.get()
        ));
    }
    if ok_actions == 0 {
        problems.push("no churn action succeeded".into());
    }
    if problems.is_empty() {
        Ok(doc)
    } else {
        for s in samples.iter() {
            eprintln!("{:>7.1} s  {:>8} KiB  {}", s.t, s.rss_kib, s.phase);
        }
        Err(problems.join("; "))
    }
}

fn write_outputs(dir: &std::path::Path, doc: &Value, samples: &[Sample]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json_path = dir.join("samples.json");
    std::fs::write(&json_path, doc.to_string())
        .map_err(|e| format!("{}: {e}", json_path.display()))?;
    let mut csv = String::from("t_s,rss_kib,phase\n");
    for s in samples {
        csv.push_str(&format!("{:.1},{},{}\n", s.t, s.rss_kib, s.phase));
    }
    let csv_path = dir.join("samples.csv");
    std::fs::write(&csv_path, csv).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    Ok(())
}
