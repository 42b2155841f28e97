//! A node's graceful close (`SocketIo::close`) on a real Redis, with every
//! Redis adapter: the disconnect handlers of its sockets run, and what they
//! broadcast (after a cluster query, as a chat counting its users does)
//! reaches the other node before the adapter closes, even when the node's
//! runtime is dropped right after `close` returns (a process that exits).

#[path = "../../sockeye/tests/common/mod.rs"]
mod common;
mod support;

use common::*;
use sockeye::{Socket, SocketIo};
use std::time::Duration;
use support::*;

/// The adapters, as `sockeye-chat --adapter` offers them.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Classic,
    Sharded,
    Streams,
    StreamsRecovery,
}

async fn make(kind: Kind, url: &str) -> SocketIo {
    match kind {
        Kind::Classic => node(url, sockeye_redis::RedisAdapterConfig::default()).await,
        Kind::Sharded => sharded_node(url, sockeye_redis::ShardedAdapterConfig::default()).await,
        Kind::Streams => streams_node(url, false).await,
        Kind::StreamsRecovery => streams_node(url, true).await,
    }
}

/// On disconnect: asks the cluster how many sockets are left, then tells
/// every other socket `["left", {"id", "count"}]`.
fn with_leave_notice(io: SocketIo) -> SocketIo {
    let server = io.clone();
    io.on_connection(move |socket: Socket| {
        let io = server.clone();
        async move {
            socket.on_disconnect(move |s: Socket, _reason| async move {
                let left = match io.broadcast().fetch_sockets().await {
                    Ok(sockets) => sockets.len(),
                    Err(_) => usize::MAX,
                };
                let notice = serde_json::json!({ "id": s.id().as_str(), "count": left });
                let _ = s.broadcast().emit("left", &notice);
            });
        }
    });
    io
}

/// Joins the main namespace; the socket id (a private id too with
/// connection state recovery).
async fn join(c: &mut WsClient) -> String {
    c.send("40").await;
    let reply = c.recv().await;
    let json: serde_json::Value = reply
        .strip_prefix("40")
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_else(|| panic!("a CONNECT reply: {reply}"));
    json["sid"]
        .as_str()
        .unwrap_or_else(|| panic!("a sid: {reply}"))
        .to_owned()
}

/// Node A on the test's runtime, node B on a runtime of its own, dropped
/// as soon as B's `close` returns: B's user must be announced to A's.
async fn leave_notice_survives_close(kind: Kind) {
    let redis = Redis::start();
    let a = serve(with_leave_notice(make(kind, &redis.url).await)).await;
    let url = redis.url.clone();
    let (runtime, b) = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for node B");
        let b = runtime.block_on(async { serve(with_leave_notice(make(kind, &url).await)).await });
        (runtime, b)
    })
    .await
    .expect("node B starts");
    wait_for_servers(&a.io, 2).await;
    let mut ca = WsClient::open(a.addr).await;
    join(&mut ca).await;
    let mut cb = WsClient::open(b.addr).await;
    let idb = join(&mut cb).await;
    let io = b.io.clone();
    within(
        "node B's close",
        tokio::task::spawn_blocking(move || {
            runtime.block_on(io.close(Duration::from_secs(2)));
            // The process exits: whatever B had not sent is lost.
            drop(b);
            runtime.shutdown_background();
        }),
    )
    .await
    .expect("node B closes");
    let frame = within("B's leave notice on A", ca.recv()).await;
    let args: Vec<serde_json::Value> = frame
        .strip_prefix("42")
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default();
    // With recovery, the stream offset comes last.
    assert_eq!(
        args.get(..2),
        Some(
            &[
                serde_json::json!("left"),
                serde_json::json!({ "id": idb, "count": 1 })
            ][..]
        ),
        "{kind:?}: {frame}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_disconnect_broadcasts_reach_the_other_node_during_close() {
    leave_notice_survives_close(Kind::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_disconnect_broadcasts_reach_the_other_node_during_close() {
    leave_notice_survives_close(Kind::Sharded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_disconnect_broadcasts_reach_the_other_node_during_close() {
    leave_notice_survives_close(Kind::Streams).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_recovery_disconnect_broadcasts_reach_the_other_node_during_close() {
    leave_notice_survives_close(Kind::StreamsRecovery).await;
}
