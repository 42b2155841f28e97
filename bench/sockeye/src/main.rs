//! Sockeye bench server: one worker thread (`current_thread` runtime).
//!
//! Behaviour shared by every bench server:
//! - event `echo`: the payload comes back by ack;
//! - event `bcast` `{n, size}`: n events `tick` with a `size`-byte string
//!   are emitted to every socket of `/`, back to back (one handler run);
//! - event `nick` `name`: `Nick { username: name }` becomes the socket's
//!   data (as the chat keeps a user's nickname; the `idle_nick` scenario);
//! - event `probe-join`: the socket joins room `probe` (answered by ack);
//!   event `probe` `x`: `probe` `x` is emitted to room `probe` (the
//!   cluster scenario's cross-node latency probe);
//! - prints `listening on ADDR` once ready; `--port P` (default 0);
//!   `--redis URL`: a cluster node with the classic Redis adapter
//!   (`sockeye-redis`, wire-compatible with `@socket.io/redis-adapter`);
//!   with `--forwarding` too, sessions are served from any node (the
//!   engine's cluster mode on a `RedisBus`: the `forwarding` scenario),
//!   with frames sealed when `SOCKEYE_CLUSTER_SECRET` is set.
//!   `--metrics`: activity counters on (`SocketIoBuilder::metrics`), to
//!   measure their cost.
//! - `SOCKEYE_RELEASE_IDLE_MS`: `ServerBuilder::release_idle_after` in
//!   milliseconds, or `off` (hyper's buffers kept for a connection's life),
//!   for A/B runs; unset, the library's default.
//! - `SOCKEYE_MAX_LINGERING`: `ServerBuilder::max_lingering`, the same way.

use sockeye::engine::{ClusterBus, ClusterConfig};
use sockeye::serve::Server;
use sockeye::{AckSender, Data, Socket, SocketIo};
use sockeye_redis::{RedisAdapterConfig, RedisAdapterFactory, RedisBus, RedisBusConfig};
use std::io::Write;
use std::sync::Arc;

#[derive(serde::Deserialize)]
struct Bcast {
    n: u32,
    #[serde(default = "default_size")]
    size: usize,
}

/// A user's nickname, kept as the socket's data (as the chat keeps it).
#[derive(serde::Serialize)]
struct Nick {
    username: String,
}

fn default_size() -> usize {
    32
}

fn flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn port_arg() -> u16 {
    flag("--port")
        .map(|p| p.parse().expect("--port takes a number"))
        .unwrap_or(0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut builder = SocketIo::builder();
        if let Some(url) = flag("--redis") {
            let redis = RedisAdapterFactory::connect(&url, RedisAdapterConfig::default())
                .await
                .expect("redis adapter");
            builder = builder.adapter(redis.factory());
            if std::env::args().any(|a| a == "--forwarding") {
                let bus = RedisBus::connect(&url, RedisBusConfig::default())
                    .await
                    .expect("redis bus");
                let mut cluster = ClusterConfig::new(bus as Arc<dyn ClusterBus>);
                // `SOCKEYE_CLUSTER_SECRET=.. scripts/bench --only forwarding`
                // measures the cost of sealed frames.
                if let Ok(secret) = std::env::var("SOCKEYE_CLUSTER_SECRET") {
                    cluster = cluster.with_secret(secret);
                }
                builder = builder.engine(|c| c.with_cluster(Some(cluster)));
            }
        }
        let metrics = std::env::args().any(|a| a == "--metrics");
        let io = builder.metrics(metrics).build().expect("socket.io server");
        io.on_connection(|socket: Socket| async move {
            socket.on(
                "echo",
                |_s: Socket, Data(v): Data<serde_json::Value>, ack: AckSender| async move {
                    let _ = ack.send(&v);
                },
            );
            socket.on(
                "nick",
                |s: Socket, Data(username): Data<String>| async move {
                    s.set_data(Nick { username });
                },
            );
            socket.on("probe-join", |s: Socket, ack: AckSender| async move {
                s.join("probe");
                let _ = ack.send(&true);
            });
            socket.on(
                "probe",
                |s: Socket, Data(v): Data<serde_json::Value>| async move {
                    let _ = s.namespace().to("probe").emit("probe", &v);
                },
            );
            socket.on("bcast", |s: Socket, Data(cmd): Data<Bcast>| async move {
                let payload = "x".repeat(cmd.size);
                let ns = s.namespace().clone();
                for _ in 0..cmd.n {
                    let _ = ns.emit("tick", &payload);
                }
            });
        });
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port_arg()));
        let mut builder = Server::builder().listen(addr);
        if let Ok(release) = std::env::var("SOCKEYE_RELEASE_IDLE_MS") {
            builder = builder
                .release_idle_after(release.parse().ok().map(std::time::Duration::from_millis));
        }
        if let Some(max) = std::env::var("SOCKEYE_MAX_LINGERING")
            .ok()
            .and_then(|m| m.parse().ok())
        {
            builder = builder.max_lingering(max);
        }
        let server = builder.serve(io.service()).await.expect("bind");
        println!("listening on {}", server.local_addrs()[0].addr);
        let _ = std::io::stdout().flush();
        server.wait().await;
    });
}
