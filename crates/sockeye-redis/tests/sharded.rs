//! Two Sockeye nodes on one real Redis 7 with the sharded adapter
//! (SPUBLISH / SSUBSCRIBE, the `ClusterAdapter` messages), in its three
//! subscription modes.

#[path = "../../sockeye/tests/common/mod.rs"]
mod common;
mod support;

use common::*;
use sockeye::{AckSender, Data, Socket, SocketIo};
use sockeye_redis::{ShardedAdapterConfig, SubscriptionMode};
use support::*;

fn with_handlers(io: SocketIo) -> SocketIo {
    io.on_connection(|socket: Socket| async move {
        socket.on(
            "join",
            |s: Socket, Data(room): Data<String>, ack: AckSender| async move {
                s.join(room);
                let _ = ack.send("ok");
            },
        );
    });
    io
}

struct Pair {
    redis: Redis,
    a: TestServer,
    b: TestServer,
    ca: WsClient,
    cb: WsClient,
    idb: String,
}

async fn pair(mode: SubscriptionMode) -> Pair {
    let redis = Redis::start();
    let config = ShardedAdapterConfig::default().subscription_mode(mode);
    let a = serve(with_handlers(
        sharded_node(&redis.url, config.clone()).await,
    ))
    .await;
    let b = serve(with_handlers(sharded_node(&redis.url, config).await)).await;
    wait_for_servers(&a.io, 2).await;
    wait_for_servers(&b.io, 2).await;
    let mut ca = WsClient::open(a.addr).await;
    ca.connect("/").await;
    let mut cb = WsClient::open(b.addr).await;
    let idb = cb.connect("/").await;
    Pair {
        redis,
        a,
        b,
        ca,
        cb,
        idb,
    }
}

async fn join(c: &mut WsClient, room: &str) {
    c.send(&format!(r#"421["join","{room}"]"#)).await;
    assert_eq!(c.recv().await, r#"431["ok"]"#);
}

#[tokio::test]
async fn every_operation_crosses_in_dynamic_mode() {
    let mut p = pair(SubscriptionMode::Dynamic).await;
    p.a.io.emit("all", &1).unwrap();
    assert_eq!(p.ca.recv().await, r#"42["all",1]"#);
    assert_eq!(p.cb.recv().await, r#"42["all",1]"#);
    // A public room gets a channel of its own on the node that has it.
    join(&mut p.cb, "r").await;
    wait_for_shard_subscribers(&p.redis.url, "socket.io#/#r#", 1).await;
    p.a.io.to("r").emit("room", &2).unwrap();
    assert_eq!(p.cb.recv().await, r#"42["room",2]"#);
    // A socket id (20 characters) goes through the main channel.
    p.a.io.to(p.idb.clone()).emit("direct", &3).unwrap();
    assert_eq!(p.cb.recv().await, r#"42["direct",3]"#);
    p.a.io.except("r").emit("except", &4).unwrap();
    assert_eq!(p.ca.recv().await, r#"42["except",4]"#);
    // fetch_sockets, remote join, broadcast acks, server-side emits.
    let fetched = p.a.io.to("r").fetch_sockets().await.unwrap();
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].id(), p.idb);
    fetched[0].join("joined");
    wait_for_shard_subscribers(&p.redis.url, "socket.io#/#joined#", 1).await;
    p.a.io.to("joined").emit("via", &5).unwrap();
    assert_eq!(p.cb.recv().await, r#"42["via",5]"#);
    let io = p.a.io.clone();
    let asked =
        tokio::spawn(async move { io.timeout(WAIT).emit_with_ack::<_, String>("q", &6).await });
    for (c, letter) in [(&mut p.ca, "a"), (&mut p.cb, "b")] {
        let frame = c.recv().await;
        let id: String = frame[2..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        c.send(&format!(r#"43{id}["{letter}"]"#)).await;
    }
    let mut got: Vec<String> = within("the acks", asked)
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|r| r.value)
        .collect();
    got.sort();
    assert_eq!(got, ["a", "b"]);
    p.b.io
        .on_server_side_with_ack("ping", |args, ack| ack.send(serde_json::json!(args)));
    let answers =
        p.a.io
            .server_side_emit_with_ack("ping", &7, WAIT)
            .await
            .unwrap();
    assert_eq!(answers, vec![serde_json::json!([7])]);
    // Leaving the room drops its channel.
    p.a.io.to("joined").sockets_leave("joined");
    wait_for_shard_subscribers(&p.redis.url, "socket.io#/#joined#", 0).await;
    p.a.io.to("r").disconnect_sockets(false);
    assert_eq!(p.cb.recv().await, "41");
}

#[tokio::test]
async fn static_mode_uses_the_main_channel_only() {
    let mut p = pair(SubscriptionMode::Static).await;
    join(&mut p.cb, "r").await;
    p.a.io.to("r").emit("room", &1).unwrap();
    assert_eq!(p.cb.recv().await, r#"42["room",1]"#);
    wait_for_shard_subscribers(&p.redis.url, "socket.io#/#r#", 0).await;
}

#[tokio::test]
async fn dynamic_private_mode_subscribes_socket_rooms_too() {
    let mut p = pair(SubscriptionMode::DynamicPrivate).await;
    let channel = format!("socket.io#/#{}#", p.idb);
    wait_for_shard_subscribers(&p.redis.url, &channel, 1).await;
    p.a.io.to(p.idb.clone()).emit("direct", &1).unwrap();
    assert_eq!(p.cb.recv().await, r#"42["direct",1]"#);
}

/// A room left and joined again in one handler keeps its channel, and a
/// room joined and left at once keeps none: the subscription changes reach
/// Redis in the order the rooms changed (not in the order their tasks ran).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_subscriptions_follow_the_order_of_joins_and_leaves() {
    const ROOMS: usize = 40;
    let redis = Redis::start();
    let io = sharded_node(&redis.url, ShardedAdapterConfig::default()).await;
    let adapter = io.of("/").adapter().clone();
    let sid = sockeye_proto::Sid::generate();
    let room = |name: String| sockeye_proto::Str::from(name);
    // From a worker thread, as an event handler runs.
    tokio::spawn(async move {
        for i in 0..ROOMS {
            adapter.add_all(sid, &[room(format!("kept{i}"))]);
        }
        for i in 0..ROOMS {
            adapter.del(sid, &room(format!("kept{i}")));
            adapter.add_all(sid, &[room(format!("kept{i}"))]);
            adapter.add_all(sid, &[room(format!("gone{i}"))]);
            adapter.del(sid, &room(format!("gone{i}")));
        }
        adapter.add_all(sid, &[room("last".to_owned())]);
    })
    .await
    .unwrap();
    wait_for_shard_subscribers(&redis.url, "socket.io#/#last#", 1).await;
    for i in 0..ROOMS {
        wait_for_shard_subscribers(&redis.url, &format!("socket.io#/#kept{i}#"), 1).await;
        wait_for_shard_subscribers(&redis.url, &format!("socket.io#/#gone{i}#"), 0).await;
    }
}

/// A room joined and left while Redis is down gets no channel once Redis
/// is back, and a room joined then does: the retries follow the rooms
/// wanted now, not the joins of the past.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_changed_during_an_outage_are_reconciled_after_it() {
    let mut redis = Redis::private();
    let io = sharded_node(&redis.url, ShardedAdapterConfig::default()).await;
    wait_for_servers(&io, 1).await;
    let adapter = io.of("/").adapter().clone();
    let sid = sockeye_proto::Sid::generate();
    let room = |name: &str| sockeye_proto::Str::from(name.to_owned());
    redis.stop();
    wait_until_down(&adapter).await;
    adapter.add_all(sid, &[room("gone")]);
    adapter.del(sid, &room("gone"));
    adapter.add_all(sid, &[room("kept")]);
    wait_until_down(&adapter).await;
    redis.restart();
    wait_for_shard_subscribers(&redis.url, "socket.io#/#kept#", 1).await;
    // Changes are applied in order: once a later room has its channel,
    // every earlier change was applied.
    adapter.add_all(sid, &[room("later")]);
    wait_for_shard_subscribers(&redis.url, "socket.io#/#later#", 1).await;
    wait_for_shard_subscribers(&redis.url, "socket.io#/#gone#", 0).await;
}

/// Waits until the adapter finds Redis unreachable.
async fn wait_until_down(adapter: &std::sync::Arc<dyn sockeye_adapter::Adapter>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while adapter.server_count().await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "Redis still answers");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
