//! Opens many idle Socket.IO sockets (WebSocket, connected to `/`) and
//! prints the server's memory per socket.
//!
//! Run with `cargo run --release -p sockeye --example idle_sockets -- 10000`.
//!
//! The process re-runs itself as the server (`--serve`, one worker thread),
//! so the figure is the server's RSS alone: after minus before, divided by
//! the number of sockets. Connections open in waves of at most 200.

use futures_util::{SinkExt, StreamExt};
use sockeye::{Socket, SocketIo};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap_or("0");
    line.trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or(0)
}

fn serve() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let io = SocketIo::builder()
            .ping_interval(Duration::from_secs(600))
            .build()
            .expect("server");
        io.on_connection(|socket: Socket| async move {
            socket.on("ping", |s: Socket| async move {
                let _ = s.emit("pong", &());
            });
        });
        let server = sockeye::serve::Server::builder()
            .listen("127.0.0.1:0".parse().expect("address"))
            .serve(io.service())
            .await
            .expect("bind");
        println!("{}", server.local_addrs()[0].addr);
        server.wait().await;
    });
}

async fn open(url: String) -> Option<impl Sized> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.ok()?;
    ws.next().await?.ok()?; // open packet
    ws.send(Message::text("40")).await.ok()?;
    ws.next().await?.ok()?; // 40{"sid":...}
    Some(ws)
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
        .expect("address");
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", line.trim());
    let pid = child.id();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let mut warm = Vec::new();
        for _ in 0..100 {
            warm.extend(open(url.clone()).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = rss_kib(pid);
        let start = Instant::now();
        let mut sockets = Vec::with_capacity(n);
        while sockets.len() < n {
            let wave = (n - sockets.len()).min(200);
            let tasks: Vec<_> = (0..wave).map(|_| tokio::spawn({
                let url = url.clone();
                async move { open(url).await }
            })).collect();
            let before_wave = sockets.len();
            for t in tasks {
                if let Ok(Some(ws)) = t.await {
                    sockets.push(ws);
                }
            }
            if sockets.len() == before_wave {
                eprintln!("no connection succeeded after {} sockets", sockets.len());
                break;
            }
        }
        let elapsed = start.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = rss_kib(pid);
        let per = after.saturating_sub(before) as f64 * 1024.0 / sockets.len().max(1) as f64;
        println!(
            "{} idle Socket.IO sockets: server RSS {before} KiB -> {after} KiB, {per:.0} bytes ({:.1} KB) per socket; {:.0} connects/s",
            sockets.len(),
            per / 1000.0,
            sockets.len() as f64 / elapsed.as_secs_f64()
        );
    });
    let _ = child.kill();
    let _ = child.wait();
}
