//! socketioxide bench server, default configuration, one worker thread
//! (`current_thread` runtime), served by hyper's HTTP/1.1 connection with
//! upgrades. Same behaviour as bench-sockeye: `echo` by ack, `bcast` (n emits back to back),
//! `nick` (the name kept with the socket until it disconnects: socketioxide's
//! default configuration has no per-socket data, so in a map by socket id),
//! `listening on ADDR`, `--port P`.

use hyper_util::rt::TokioIo;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::socket::Sid;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{LazyLock, Mutex};

/// The nicknames of the sockets that sent `nick`.
static NICKS: LazyLock<Mutex<HashMap<Sid, String>>> = LazyLock::new(Default::default);

#[derive(serde::Deserialize)]
struct Bcast {
    n: u32,
    #[serde(default = "default_size")]
    size: usize,
}

fn default_size() -> usize {
    32
}

fn port_arg() -> u16 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .map(|p| p.parse().expect("--port takes a number"))
        .unwrap_or(0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (svc, io) = SocketIo::new_svc();
        io.ns("/", async |s: SocketRef| {
            s.on(
                "echo",
                async |Data(v): Data<serde_json::Value>, ack: AckSender| {
                    let _ = ack.send(&v);
                },
            );
            s.on("nick", async |s: SocketRef, Data(name): Data<String>| {
                if let Ok(mut nicks) = NICKS.lock() {
                    nicks.insert(s.id, name);
                }
                s.on_disconnect(async |s: SocketRef| {
                    if let Ok(mut nicks) = NICKS.lock() {
                        nicks.remove(&s.id);
                    }
                });
            });
            s.on("bcast", async |io: SocketIo, Data(cmd): Data<Bcast>| {
                let payload = "x".repeat(cmd.size);
                for _ in 0..cmd.n {
                    let _ = io.emit("tick", &payload).await;
                }
            });
        });
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port_arg()));
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        println!("listening on {}", listener.local_addr().expect("addr"));
        let _ = std::io::stdout().flush();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // EMFILE and the like: back off briefly.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let svc = svc.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
}
