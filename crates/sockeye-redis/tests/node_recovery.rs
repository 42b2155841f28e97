//! Per-node connection state recovery with the classic and sharded
//! adapters: broadcasts that come from another node are recorded too, so a
//! client that comes back to the same node gets them.

#[path = "../../sockeye/tests/common/mod.rs"]
mod common;
mod support;

use common::*;
use sockeye::{RecoveryConfig, SocketIo};
use sockeye_redis::{
    RedisAdapterConfig, RedisAdapterFactory, ShardedAdapterConfig, ShardedAdapterFactory,
};
use support::*;

async fn recovering(url: &str, sharded: bool) -> SocketIo {
    let r = RecoveryConfig::default();
    let factory = if sharded {
        ShardedAdapterFactory::connect(url, ShardedAdapterConfig::default().recovery(r))
            .await
            .unwrap()
            .factory()
    } else {
        RedisAdapterFactory::connect(url, RedisAdapterConfig::default().recovery(r))
            .await
            .unwrap()
            .factory()
    };
    SocketIo::builder()
        .adapter(factory)
        .connection_state_recovery(r)
        .build()
        .unwrap()
}

async fn remote_broadcasts_are_recovered(sharded: bool) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let redis = Redis::start();
    let a = serve(recovering(&redis.url, sharded).await).await;
    let b = serve(recovering(&redis.url, sharded).await).await;
    wait_for_servers(&a.io, 2).await;
    wait_for_servers(&b.io, 2).await;
    let mut gone = disconnects(&b.io.of("/"));
    let mut c = WsClient::open(b.addr).await;
    c.send("40").await;
    let reply = c.recv().await;
    let json: serde_json::Value = serde_json::from_str(&reply[2..]).unwrap();
    let (sid, pid) = (
        json["sid"].as_str().unwrap().to_owned(),
        json["pid"].as_str().unwrap().to_owned(),
    );
    a.io.emit("first", &1).unwrap();
    let frame = c.recv().await;
    let offset = frame
        .strip_prefix(r#"42["first",1,""#)
        .and_then(|r| r.strip_suffix("\"]"))
        .unwrap_or_else(|| panic!("an offset from node B: {frame}"))
        .to_owned();
    drop(c);
    next(&mut gone, "the disconnect").await;
    a.io.emit("missed", &2).unwrap();
    // Once B delivered this one to nobody, it has recorded "missed" too.
    let mut other = WsClient::open(b.addr).await;
    other.send("40").await;
    let _ = other.recv().await;
    a.io.emit("marker", &3).unwrap();
    // ("missed" may reach it too: it can arrive after it connected.)
    let mut seen = other.recv().await;
    if seen.starts_with(r#"42["missed""#) {
        seen = other.recv().await;
    }
    assert!(seen.starts_with(r#"42["marker",3,""#), "{seen}");
    let mut c = WsClient::open(b.addr).await;
    c.send(&format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#))
        .await;
    let missed = c.recv().await;
    assert!(missed.starts_with(r#"42["missed",2,""#), "{missed}");
    let marker = c.recv().await;
    assert!(marker.starts_with(r#"42["marker",3,""#), "{marker}");
    let reply = c.recv().await;
    let json: serde_json::Value = serde_json::from_str(&reply[2..]).unwrap();
    assert_eq!(json["sid"], sid.as_str(), "{reply}");
}

#[tokio::test]
async fn classic() {
    remote_broadcasts_are_recovered(false).await;
}

#[tokio::test]
async fn sharded() {
    remote_broadcasts_are_recovered(true).await;
}

/// Concurrent recoverable broadcasts in one namespace: each goes to the
/// other nodes without this node's offset (a shared "own offset" slot let
/// one broadcast take the other's, so the other went out with its offset
/// inside and remote clients got an extra argument).
async fn concurrent_broadcasts_carry_one_offset(sharded: bool) {
    const TASKS: usize = 8;
    const EACH: usize = 1000;
    let redis = Redis::start();
    let a = serve(recovering(&redis.url, sharded).await).await;
    let b = serve(recovering(&redis.url, sharded).await).await;
    wait_for_servers(&a.io, 2).await;
    wait_for_servers(&b.io, 2).await;
    let mut c = WsClient::open(b.addr).await;
    c.send("40").await;
    let _ = c.recv().await;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let io = a.io.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                io.emit("e", &(t * EACH + i)).unwrap();
                if i % 16 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for _ in 0..TASKS * EACH {
        let frame = c.recv().await;
        let args: Vec<serde_json::Value> = serde_json::from_str(&frame[2..]).unwrap();
        assert_eq!(args.len(), 3, "event, data and B's offset only: {frame}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn classic_concurrent_broadcasts() {
    concurrent_broadcasts_carry_one_offset(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sharded_concurrent_broadcasts() {
    concurrent_broadcasts_carry_one_offset(true).await;
}
