//! The Rust emitter reaches a Sockeye node's clients through a real Redis,
//! as `@socket.io/redis-emitter` does.

#[path = "../../sockeye/tests/common/mod.rs"]
mod common;
mod support;

use common::*;
use sockeye_redis::{Emitter, EmitterError, RedisAdapterConfig};
use std::time::Duration;
use support::*;

#[tokio::test]
async fn emits_rooms_joins_disconnects_and_server_side_events() {
    let redis = Redis::start();
    let srv = serve(node(&redis.url, RedisAdapterConfig::default()).await).await;
    wait_for_servers(&srv.io, 1).await;
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    srv.io.on_server_side("from-emitter", move |args| {
        let _ = tx.send(args);
    });
    let mut c1 = WsClient::open(srv.addr).await;
    let id1 = c1.connect("/").await;
    let mut c2 = WsClient::open(srv.addr).await;
    let _id2 = c2.connect("/").await;
    let emitter = Emitter::connect(&redis.url).await.unwrap();

    emitter.emit("all", &1).await.unwrap();
    assert_eq!(c1.recv().await, r#"42["all",1]"#);
    assert_eq!(c2.recv().await, r#"42["all",1]"#);
    // One socket's room, then everyone except it.
    emitter.to(id1.clone()).emit("one", &2).await.unwrap();
    emitter
        .except(id1.clone())
        .emit("others", &3)
        .await
        .unwrap();
    assert_eq!(c1.recv().await, r#"42["one",2]"#);
    assert_eq!(c2.recv().await, r#"42["others",3]"#);
    // A join requested by the emitter, then a broadcast to that room.
    emitter
        .to(id1.clone())
        .sockets_join(&["vip"])
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while !srv.io.of("/").adapter().room_exists(&"vip".into()) {
        assert!(std::time::Instant::now() < deadline, "the join");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    emitter
        .to("vip")
        .emit("bin", &bytes::Bytes::from_static(&[9]))
        .await
        .unwrap();
    assert_eq!(
        c1.recv().await,
        r#"451-["bin",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(c1.recv_bin().await, vec![9]);
    // Server-side events reach the node's listeners.
    emitter
        .server_side_emit("from-emitter", vec![serde_json::json!("x")])
        .await
        .unwrap();
    assert_eq!(
        next(&mut events, "the server-side event").await,
        vec![serde_json::json!("x")]
    );
    // Disconnect the room's sockets.
    emitter.to("vip").disconnect_sockets(false).await.unwrap();
    assert_eq!(c1.recv().await, "41");
    emitter.emit("after", &4).await.unwrap();
    assert_eq!(c2.recv().await, r#"42["after",4]"#);
    // Reserved names are refused before anything is sent.
    assert!(matches!(
        emitter.emit("connect", &0).await,
        Err(EmitterError::ReservedEvent(_))
    ));
}

#[tokio::test]
async fn a_bad_url_or_no_redis_is_a_clear_error() {
    assert!(Emitter::connect("not a url").await.is_err());
    let started = std::time::Instant::now();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    assert!(Emitter::connect(&url).await.is_err());
    assert!(
        sockeye_redis::RedisAdapterFactory::connect(&url, RedisAdapterConfig::default())
            .await
            .is_err()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}
