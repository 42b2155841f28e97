//! Two Sockeye nodes on one real Redis with the streams adapter: cluster
//! operations, and connection state recovery across nodes (a client that
//! drops off node A and comes back on node B gets what it missed).

#[path = "../../sockeye/tests/common/mod.rs"]
mod common;
mod support;

use common::*;
use sockeye::{AckSender, Data, Socket, SocketIo};
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

#[tokio::test]
async fn cluster_operations_cross_through_the_stream() {
    let redis = Redis::start();
    let a = serve(with_handlers(streams_node(&redis.url, false).await)).await;
    let b = serve(with_handlers(streams_node(&redis.url, false).await)).await;
    wait_for_servers(&a.io, 2).await;
    wait_for_servers(&b.io, 2).await;
    let mut ca = WsClient::open(a.addr).await;
    ca.connect("/").await;
    let mut cb = WsClient::open(b.addr).await;
    let idb = cb.connect("/").await;
    cb.send(r#"421["join","r"]"#).await;
    assert_eq!(cb.recv().await, r#"431["ok"]"#);
    a.io.to("r").emit("room", &1).unwrap();
    assert_eq!(cb.recv().await, r#"42["room",1]"#);
    a.io.emit("all", &2).unwrap();
    assert_eq!(ca.recv().await, r#"42["all",2]"#);
    assert_eq!(cb.recv().await, r#"42["all",2]"#);
    let fetched = a.io.to("r").fetch_sockets().await.unwrap();
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].id(), idb);
    b.io.on_server_side_with_ack("ping", |_, ack| ack.send("pong".into()));
    let answers =
        a.io.server_side_emit_with_ack("ping", &(), WAIT)
            .await
            .unwrap();
    assert_eq!(answers, vec![serde_json::json!("pong")]);
    let io = a.io.clone();
    let asked = tokio::spawn(async move {
        io.to("r")
            .timeout(WAIT)
            .emit_with_ack::<_, String>("q", &3)
            .await
    });
    let frame = cb.recv().await;
    let id: String = frame[2..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    cb.send(&format!(r#"43{id}["b"]"#)).await;
    let got = within("the ack", asked).await.unwrap().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].value, "b");
    fetched[0].join("joined");
    a.io.to("r").emit("marker", &4).unwrap();
    assert_eq!(cb.recv().await, r#"42["marker",4]"#);
    assert!(
        b.io.of("/").adapter().room_exists(&"joined".into()),
        "the join came first"
    );
}

#[tokio::test]
async fn a_session_recovers_on_another_node() {
    let redis = Redis::start();
    let a = serve(streams_node(&redis.url, true).await).await;
    let b = serve(streams_node(&redis.url, true).await).await;
    wait_for_servers(&a.io, 2).await;
    let mut c = WsClient::open(a.addr).await;
    c.send("40").await;
    let reply = c.recv().await;
    let json: serde_json::Value = serde_json::from_str(&reply[2..]).unwrap();
    let (sid, pid) = (
        json["sid"].as_str().unwrap().to_owned(),
        json["pid"].as_str().unwrap().to_owned(),
    );
    a.io.of("/").sockets()[0].join("news");
    // The offset is the stream entry id, the same on every node.
    b.io.to("news").emit("first", &1).unwrap();
    let frame = c.recv().await;
    let offset = frame
        .strip_prefix(r#"42["first",1,""#)
        .and_then(|r| r.strip_suffix("\"]"))
        .unwrap_or_else(|| panic!("{frame}"))
        .to_owned();
    assert!(
        offset.contains('-') && offset.chars().all(|ch| ch.is_ascii_digit() || ch == '-'),
        "{offset}"
    );
    drop(c);
    wait_for_key(&redis.url, &format!("sio:session:{pid}")).await;
    // Missed while away: one for its room, one for another room, one for all.
    a.io.to("news").emit("missed", &2).unwrap();
    b.io.to("elsewhere").emit("not-for-it", &3).unwrap();
    b.io.emit("everyone", &4).unwrap();
    a.io.emit("marker", &5).unwrap();
    wait_for_stream_len(&redis.url, "socket.io", 5).await;
    // Back on node B: the missed packets (each with its offset),
    // then the CONNECT with the same id.
    let mut c = WsClient::open(b.addr).await;
    c.send(&format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#))
        .await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(c.recv().await);
    }
    // In stream order (two nodes published concurrently: offsets decide).
    let mut names: Vec<&str> = got
        .iter()
        .map(|f| f.split('"').nth(1).unwrap_or(""))
        .collect();
    let offsets: Vec<(u64, u64)> = got
        .iter()
        .map(|f| {
            let o = f.rsplit('"').nth(1).unwrap_or("");
            let (ms, seq) = o.split_once('-').unwrap_or(("0", "0"));
            (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
        })
        .collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    names.sort();
    assert_eq!(names, ["everyone", "marker", "missed"], "{got:?}");
    let reply = c.recv().await;
    let json: serde_json::Value = serde_json::from_str(&reply[2..]).unwrap();
    assert_eq!(json["sid"], sid.as_str(), "{reply}");
    // Its room came back with it, on node B.
    b.io.to("news").emit("after", &6).unwrap();
    assert!(c.recv().await.starts_with(r#"42["after",6,""#));
    // A session is restored once.
    let mut again = WsClient::open(a.addr).await;
    again
        .send(&format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#))
        .await;
    let reply = again.recv().await;
    let json: serde_json::Value = serde_json::from_str(&reply[2..]).unwrap();
    assert_ne!(json["sid"], sid.as_str());
}

/// The placeholder offset of a recoverable broadcast never reaches a
/// client: not on a local-only emit, not when Redis is down (the fallback
/// delivers the packet here without any offset).
#[tokio::test]
async fn the_pending_offset_placeholder_never_reaches_a_client() {
    let mut redis = Redis::private();
    let a = serve(streams_node(&redis.url, true).await).await;
    let mut c = WsClient::open(a.addr).await;
    c.send("40").await;
    let _ = c.recv().await;
    a.io.local().emit("local", &1).unwrap();
    let frame = c.recv().await;
    assert!(!frame.contains("pending-offset"), "{frame}");
    assert_eq!(frame, r#"42["local",1]"#);
    a.io.emit("up", &2).unwrap();
    let frame = c.recv().await;
    assert!(frame.starts_with(r#"42["up",2,""#), "{frame}");
    assert!(!frame.contains("pending-offset"), "{frame}");

    redis.stop();
    for i in 0..50 {
        a.io.emit("down", &i).unwrap();
    }
    for i in 0..50 {
        assert_eq!(c.recv().await, format!(r#"42["down",{i}]"#));
    }
}

/// Redis frozen (connections open, no answer): once the first recoverable
/// broadcast has timed out, the following ones reach local clients at
/// once instead of each waiting for its own command timeout.
#[tokio::test]
async fn a_frozen_redis_does_not_hold_local_delivery_per_broadcast() {
    let redis = Redis::private();
    let a = serve(streams_node(&redis.url, true).await).await;
    let mut c = WsClient::open(a.addr).await;
    c.send("40").await;
    let _ = c.recv().await;
    redis.freeze(true);
    let started = std::time::Instant::now();
    for i in 0..10 {
        a.io.emit("frozen", &i).unwrap();
    }
    for i in 0..10 {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(20), c.recv())
            .await
            .expect("local delivery goes on");
        assert_eq!(frame, format!(r#"42["frozen",{i}]"#));
    }
    let took = started.elapsed();
    redis.freeze(false);
    // One command timeout (3 s by default) at most, not one per broadcast.
    assert!(took < std::time::Duration::from_secs(8), "{took:?}");
}
