//! Opens many idle WebSocket sessions and prints the server's memory per
//! session.
//!
//! Run with `cargo run --release -p sockeye-engine --example idle_sessions -- 10000`.
//!
//! The process re-runs itself as the server (`--serve`), so the figure is the
//! server process's RSS alone: RSS after the sessions are open, minus RSS
//! before, divided by the number of sessions. Connections are opened in
//! waves of at most 200 in flight. The server uses one worker thread.

use futures_util::StreamExt;
use sockeye_engine::serve::Server;
use sockeye_engine::{
    CloseReason, Engine, EngineConfig, EngineHandler, EngineService, Message, Session,
};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Quiet;

impl EngineHandler for Quiet {
    fn on_open(&self, _: &Session) {}
    fn on_message(&self, s: &Session, m: Message) {
        let _ = s.send_many([m]);
    }
    fn on_close(&self, _: &Session, _: CloseReason) {}
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn serve() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let config = EngineConfig::default().with_ping_interval(Duration::from_secs(600));
        let engine = Engine::new(config, Quiet).expect("engine");
        let handle = Server::builder()
            .listen(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .serve(EngineService::new(engine))
            .await
            .expect("bind");
        println!("{}", handle.local_addrs()[0].addr);
        handle.wait().await;
    });
}

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--serve") {
        return serve();
    }
    let n: usize = first.and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .arg("--serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("server address");
    let addr = line.trim().to_owned();
    let pid = child.id();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let url = format!("ws://{addr}/engine.io/?EIO=4&transport=websocket");
        // Warm up the server (first allocations, thread-local caches).
        let mut warm = Vec::new();
        for _ in 0..100 {
            let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("connect");
            let _ = ws.next().await;
            warm.push(ws);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = rss_kib(pid);
        let start = Instant::now();
        let mut sockets = Vec::with_capacity(n);
        while sockets.len() < n {
            let wave = (n - sockets.len()).min(200);
            let mut tasks = Vec::with_capacity(wave);
            for _ in 0..wave {
                let url = url.clone();
                tasks.push(tokio::spawn(async move {
                    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.ok()?;
                    ws.next().await?.ok()?; // the open packet
                    Some(ws)
                }));
            }
            for t in tasks {
                match t.await {
                    Ok(Some(ws)) => sockets.push(ws),
                    _ => {
                        eprintln!("a connection failed after {} sessions", sockets.len());
                        break;
                    }
                }
            }
        }
        let elapsed = start.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = rss_kib(pid);
        let per = (after.saturating_sub(before)) as f64 * 1024.0 / sockets.len() as f64;
        println!(
            "{} idle WebSocket sessions: server RSS {} KiB -> {} KiB, {:.0} bytes ({:.1} KB) per session; {:.0} connects/s",
            sockets.len(),
            before,
            after,
            per,
            per / 1000.0,
            sockets.len() as f64 / elapsed.as_secs_f64()
        );
        drop(sockets);
        drop(warm);
    });
    let _ = child.kill();
    let _ = child.wait();
}
