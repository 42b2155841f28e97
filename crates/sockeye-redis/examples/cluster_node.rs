//! One node of a test cluster: the Sockeye twin of
//! `e2e/reference/cluster-node.mjs`, for the mixed-cluster e2e tests.
//!
//! `cluster_node --port 0 --redis redis://127.0.0.1:6379 --name rust-1
//! [--adapter redis|redis-sharded|redis-streams|memory] [--recovery]`
//! prints `listening on 127.0.0.1:PORT` once ready. Clients drive it with
//! events, each answered through its ack:
//!
//! * `join` / `leave` (room);
//! * `emit-to` `{rooms, except, event, data}`: a broadcast;
//! * `ask` `{rooms, timeout}`: a broadcast of `question` with acks,
//!   answered `{answers}` (sorted) or `{error, answers}`;
//! * `fetch` `{rooms}`: the ids of the sockets, sorted;
//! * `remote-join` `{id, room}`: `fetch_sockets` of that socket, then its
//!   `join`;
//! * `server-side`: `server_side_emit_with_ack("who")`, answers sorted;
//! * `server-count`.
//!
//! Other nodes' `who` is answered with this node's name.

use serde_json::{Value, json};
use sockeye::RecoveryConfig;
use sockeye::serve::Server;
use sockeye::{AckSender, Data, Socket, SocketIo};
use sockeye_redis::{
    RedisAdapterConfig, RedisAdapterFactory, ShardedAdapterConfig, ShardedAdapterFactory,
    StreamsAdapterConfig, StreamsAdapterFactory,
};
use std::io::Write as _;
use std::time::Duration;

struct Args {
    port: u16,
    redis: String,
    name: String,
    adapter: String,
    recovery: bool,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        port: 0,
        redis: "redis://127.0.0.1:6379".to_owned(),
        name: "sockeye".to_owned(),
        adapter: "redis".to_owned(),
        recovery: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--recovery" {
            out.recovery = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => out.port = value.parse().map_err(|e| format!("--port: {e}"))?,
            "--redis" => out.redis = value,
            "--name" => out.name = value,
            "--adapter" => out.adapter = value,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(out)
}

fn rooms(v: &Value, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn sorted(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by_key(|x| x.to_string());
    v
}

fn handlers(io: SocketIo, socket: &Socket) {
    socket.on(
        "join",
        |s: Socket, Data(room): Data<String>, ack: AckSender| async move {
            s.join(room);
            let _ = ack.send("ok");
        },
    );
    socket.on(
        "leave",
        |s: Socket, Data(room): Data<String>, ack: AckSender| async move {
            s.leave(room);
            let _ = ack.send("ok");
        },
    );
    let io2 = io.clone();
    socket.on(
        "emit-to",
        move |_s: Socket, Data(v): Data<Value>, ack: AckSender| {
            let io = io2.clone();
            async move {
                let event = v.get("event").and_then(Value::as_str).unwrap_or("x");
                let data = v.get("data").cloned().unwrap_or(Value::Null);
                let r = io
                    .to(rooms(&v, "rooms"))
                    .except(rooms(&v, "except"))
                    .emit(event, &data);
                let _ = ack.send(&r.is_ok());
            }
        },
    );
    let io2 = io.clone();
    socket.on(
        "ask",
        move |_s: Socket, Data(v): Data<Value>, ack: AckSender| {
            let io = io2.clone();
            async move {
                let timeout = v.get("timeout").and_then(Value::as_u64).unwrap_or(2000);
                let r = io
                    .to(rooms(&v, "rooms"))
                    .timeout(Duration::from_millis(timeout))
                    .emit_with_ack::<_, Value>("question", &1)
                    .await;
                let reply = match r {
                    Ok(a) => json!({ "answers": sorted(a.into_iter().map(|r| r.value).collect()) }),
                    Err(e) => json!({
                        "error": e.to_string(),
                        "answers": sorted(e.responses.into_iter().map(|r| r.value).collect()),
                    }),
                };
                let _ = ack.send(&reply);
            }
        },
    );
    let io2 = io.clone();
    socket.on(
        "fetch",
        move |_s: Socket, Data(v): Data<Value>, ack: AckSender| {
            let io = io2.clone();
            async move {
                let reply = match io.to(rooms(&v, "rooms")).fetch_sockets().await {
                    Ok(sockets) => {
                        let mut ids: Vec<String> =
                            sockets.iter().map(|s| s.id().to_owned()).collect();
                        ids.sort();
                        json!(ids)
                    }
                    Err(e) => json!({ "error": e.to_string() }),
                };
                let _ = ack.send(&reply);
            }
        },
    );
    let io2 = io.clone();
    socket.on(
        "remote-join",
        move |_s: Socket, Data(v): Data<Value>, ack: AckSender| {
            let io = io2.clone();
            async move {
                let id = v
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let room = v
                    .get("room")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let found = io.to(id).fetch_sockets().await.unwrap_or_default();
                for s in &found {
                    s.join(room.clone());
                }
                let _ = ack.send(&found.len());
            }
        },
    );
    let io2 = io.clone();
    socket.on("server-side", move |_s: Socket, ack: AckSender| {
        let io = io2.clone();
        async move {
            let reply = match io
                .server_side_emit_with_ack("who", &(), Duration::from_secs(3))
                .await
            {
                Ok(a) => json!(sorted(a)),
                Err(e) => json!({ "error": e.to_string() }),
            };
            let _ = ack.send(&reply);
        }
    });
    socket.on("server-count", move |_s: Socket, ack: AckSender| {
        let io = io.clone();
        async move {
            let n = io.of("/").adapter().server_count().await.unwrap_or(0);
            let _ = ack.send(&n);
        }
    });
}

#[tokio::main]
async fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cluster_node: {e}");
            std::process::exit(2);
        }
    };
    let factory = match args.adapter.as_str() {
        "redis" => RedisAdapterFactory::connect(&args.redis, RedisAdapterConfig::default())
            .await
            .map(|r| r.factory()),
        "redis-sharded" => {
            ShardedAdapterFactory::connect(&args.redis, ShardedAdapterConfig::default())
                .await
                .map(|r| r.factory())
        }
        "redis-streams" => {
            let mut config = StreamsAdapterConfig::default();
            if args.recovery {
                config = config.recovery(RecoveryConfig::default());
            }
            StreamsAdapterFactory::connect(&args.redis, config)
                .await
                .map(|r| r.factory())
        }
        // No cluster: the in-memory adapter (to compare costs).
        "memory" => Ok(sockeye::adapter::LocalAdapter::factory()),
        other => {
            eprintln!("cluster_node: unknown adapter {other}");
            std::process::exit(2);
        }
    };
    let factory = match factory {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cluster_node: {e}");
            std::process::exit(2);
        }
    };
    let mut builder = SocketIo::builder().adapter(factory);
    if args.recovery {
        builder = builder.connection_state_recovery(RecoveryConfig::default());
    }
    let io = match builder.build() {
        Ok(io) => io,
        Err(e) => {
            eprintln!("cluster_node: {e}");
            std::process::exit(2);
        }
    };
    let name = args.name.clone();
    io.on_server_side_with_ack("who", move |_, ack| ack.send(json!(name)));
    let io2 = io.clone();
    io.on_connection(move |socket: Socket| {
        handlers(io2.clone(), &socket);
        async {}
    });
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
    let server = match Server::builder().listen(addr).serve(io.service()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cluster_node: {e}");
            std::process::exit(2);
        }
    };
    println!("listening on {}", server.local_addrs()[0].addr);
    let _ = std::io::stdout().flush();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
    server.shutdown();
}
