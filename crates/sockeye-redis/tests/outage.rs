//! Redis killed in the middle of a test and restarted on the same port:
//! each node keeps serving its own clients, cluster calls fail within
//! their timeout, and cluster delivery resumes by itself afterwards.

#[path = "../../sockeye/tests/common/mod.rs"]
mod common;
mod support;

use common::*;
use sockeye::{AckSender, Data, Socket, SocketIo};
use sockeye_redis::{RedisAdapterConfig, ShardedAdapterConfig};
use std::time::{Duration, Instant};
use support::*;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Classic,
    Sharded,
    Streams,
}

async fn make(kind: Kind, url: &str) -> SocketIo {
    let timeout = Duration::from_millis(500);
    match kind {
        Kind::Classic => {
            let config = RedisAdapterConfig::default()
                .requests_timeout(timeout)
                .connect_timeout(timeout)
                .max_queued_publishes(16);
            node(url, config).await
        }
        Kind::Sharded => {
            sharded_node(
                url,
                ShardedAdapterConfig::default().requests_timeout(timeout),
            )
            .await
        }
        Kind::Streams => streams_node(url, false).await,
    }
}

#[tokio::test]
async fn classic_local_service_during_an_outage_and_cluster_delivery_after() {
    outage(Kind::Classic).await;
}

#[tokio::test]
async fn sharded_local_service_during_an_outage_and_cluster_delivery_after() {
    outage(Kind::Sharded).await;
}

#[tokio::test]
async fn streams_local_service_during_an_outage_and_cluster_delivery_after() {
    outage(Kind::Streams).await;
}

async fn outage(kind: Kind) {
    let mut redis = Redis::private();
    let a = make(kind, &redis.url).await;
    a.on_connection(|socket: Socket| async move {
        socket.on(
            "echo",
            |_s: Socket, Data(v): Data<serde_json::Value>, ack: AckSender| async move {
                let _ = ack.send(&v);
            },
        );
    });
    let a = serve(a).await;
    let b = serve(make(kind, &redis.url).await).await;
    wait_for_servers(&a.io, 2).await;
    wait_for_servers(&b.io, 2).await;
    let mut ca = WsClient::open(a.addr).await;
    ca.connect("/").await;
    let mut cb = WsClient::open(b.addr).await;
    cb.connect("/").await;
    a.io.emit("before", &1).unwrap();
    assert_eq!(ca.recv().await, r#"42["before",1]"#);
    assert_eq!(cb.recv().await, r#"42["before",1]"#);

    redis.stop();
    // Local delivery and acks go on; a flood of broadcasts meets a bounded
    // queue instead of growing one.
    for i in 0..1000 {
        a.io.emit("during", &i).unwrap();
    }
    for i in 0..1000 {
        assert_eq!(ca.recv().await, format!(r#"42["during",{i}]"#));
    }
    ca.send(r#"421["echo","still here"]"#).await;
    assert_eq!(ca.recv().await, r#"431["still here"]"#);
    // Once the node knows Redis is down, server_side_emit fails at once.
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.io.server_side_emit("x", &1).is_ok() {
        assert!(
            Instant::now() < deadline,
            "{kind:?}: the outage is never noticed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Cluster calls fail with an error within their timeout.
    let started = Instant::now();
    assert!(a.io.broadcast().fetch_sockets().await.is_err());
    assert!(
        a.io.server_side_emit_with_ack("x", &(), Duration::from_millis(500))
            .await
            .is_err()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A broadcast with acks answers with the local answers and an error.
    let io = a.io.clone();
    let asked = tokio::spawn(async move {
        io.timeout(Duration::from_millis(500))
            .emit_with_ack::<_, String>("q", &1)
            .await
    });
    let frame = ca.recv().await;
    let id: String = frame[2..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    ca.send(&format!(r#"43{id}["a"]"#)).await;
    let err = within("the local answers", asked)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.responses.len(), 1);

    redis.restart();
    // Both nodes resubscribe by themselves...
    wait_for_servers(&a.io, 2).await;
    wait_for_servers(&b.io, 2).await;
    // ...and broadcasts cross again (retried: the broadcast pattern may be
    // resubscribed just after the request channel).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    loop {
        n += 1;
        a.io.emit("after", &n).unwrap();
        let expected = format!(r#"42["after",{n}]"#);
        match tokio::time::timeout(Duration::from_millis(300), cb.recv()).await {
            Ok(frame) if frame == expected => break,
            _ => assert!(Instant::now() < deadline, "cluster delivery never resumed"),
        }
    }
    assert!(b.io.broadcast().fetch_sockets().await.unwrap().len() == 2);
}
