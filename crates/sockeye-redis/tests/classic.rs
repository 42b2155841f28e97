//! Two Sockeye nodes on one real Redis with the classic adapter: every
//! cluster operation crosses from one node to the other.

#[path = "../../sockeye/tests/common/mod.rs"]
mod common;
mod support;

use common::*;
use sockeye::{AckSender, Data, Socket, SocketIo};
use sockeye_redis::RedisAdapterConfig;
use std::time::Duration;
use support::*;

/// Two nodes on one Redis, each with one raw WebSocket client on `/`.
struct Pair {
    _redis: Redis,
    a: TestServer,
    b: TestServer,
    ca: WsClient,
    cb: WsClient,
    ida: String,
    idb: String,
}

fn with_handlers(io: SocketIo) -> SocketIo {
    io.on_connection(|socket: Socket| async move {
        socket.on("join", |s: Socket, Data(room): Data<String>| async move {
            s.join(room);
        });
        socket.on(
            "echo",
            |_s: Socket, Data(v): Data<serde_json::Value>, ack: AckSender| async move {
                let _ = ack.send(&v);
            },
        );
    });
    io
}

async fn pair(config: RedisAdapterConfig) -> Pair {
    let redis = Redis::start();
    let a = serve(with_handlers(node(&redis.url, config.clone()).await)).await;
    let b = serve(with_handlers(node(&redis.url, config).await)).await;
    wait_for_servers(&a.io, 2).await;
    wait_for_servers(&b.io, 2).await;
    let mut ca = WsClient::open(a.addr).await;
    let ida = ca.connect("/").await;
    let mut cb = WsClient::open(b.addr).await;
    let idb = cb.connect("/").await;
    Pair {
        _redis: redis,
        a,
        b,
        ca,
        cb,
        ida,
        idb,
    }
}

/// Makes the client join `room` and waits until its node has it.
async fn join(c: &mut WsClient, io: &SocketIo, room: &str) {
    c.send(&format!(r#"42["join","{room}"]"#)).await;
    let deadline = std::time::Instant::now() + WAIT;
    while !io.of("/").adapter().room_exists(&room.to_owned().into()) {
        assert!(std::time::Instant::now() < deadline, "join {room}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn broadcasts_cross_nodes_with_rooms_except_and_local() {
    let mut p = pair(RedisAdapterConfig::default()).await;
    // Everyone.
    p.a.io.emit("all", &1).unwrap();
    assert_eq!(p.ca.recv().await, r#"42["all",1]"#);
    assert_eq!(p.cb.recv().await, r#"42["all",1]"#);
    // One room (its own channel): only the node that has it delivers.
    join(&mut p.cb, &p.b.io, "r").await;
    p.a.io.to("r").emit("room", &2).unwrap();
    assert_eq!(p.cb.recv().await, r#"42["room",2]"#);
    // Except B's client: only A's.
    p.a.io.except(p.idb.clone()).emit("except", &3).unwrap();
    assert_eq!(p.ca.recv().await, r#"42["except",3]"#);
    // Local: only A's client, whatever B has.
    p.a.io.local().emit("local", &4).unwrap();
    assert_eq!(p.ca.recv().await, r#"42["local",4]"#);
    // Several rooms, and from B to A; the frames above did not reach B.
    join(&mut p.ca, &p.a.io, "s").await;
    p.b.io.to(["r", "s"]).emit("rooms", &5).unwrap();
    assert_eq!(p.ca.recv().await, r#"42["rooms",5]"#);
    assert_eq!(p.cb.recv().await, r#"42["rooms",5]"#);
    // Binary data crosses as binary.
    p.a.io
        .to("r")
        .emit("bin", &bytes::Bytes::from_static(&[1, 2, 3]))
        .unwrap();
    assert_eq!(
        p.cb.recv().await,
        r#"451-["bin",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(p.cb.recv_bin().await, vec![1, 2, 3]);
}

#[tokio::test]
async fn fetch_sockets_and_remote_operations() {
    let mut p = pair(RedisAdapterConfig::default()).await;
    join(&mut p.cb, &p.b.io, "r").await;
    let all = p.a.io.broadcast().fetch_sockets().await.unwrap();
    let mut ids: Vec<&str> = all.iter().map(|s| s.id()).collect();
    ids.sort();
    let mut want = vec![p.ida.as_str(), p.idb.as_str()];
    want.sort();
    assert_eq!(ids, want);
    let remote = p.a.io.to("r").fetch_sockets().await.unwrap();
    assert_eq!(remote.len(), 1);
    assert_eq!(remote[0].id(), p.idb);
    let mut rooms = remote[0].rooms().to_vec();
    rooms.sort();
    let mut want = vec!["r".to_owned(), p.idb.clone()];
    want.sort();
    assert_eq!(rooms, want);
    assert!(remote[0].handshake().get("headers").is_some());
    // A remote socket: emit, join, leave.
    remote[0].emit("direct", &1).unwrap();
    assert_eq!(p.cb.recv().await, r#"42["direct",1]"#);
    remote[0].join("joined-remotely");
    let deadline = std::time::Instant::now() + WAIT;
    while !p
        .b
        .io
        .of("/")
        .adapter()
        .room_exists(&"joined-remotely".into())
    {
        assert!(std::time::Instant::now() < deadline, "remote join");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p.a.io.to("joined-remotely").emit("via", &2).unwrap();
    assert_eq!(p.cb.recv().await, r#"42["via",2]"#);
    // Its ack, through the adapter.
    let ask = remote[0].clone();
    let answer = tokio::spawn(async move { ask.emit_with_ack::<_, String>("q", &3, WAIT).await });
    let frame = p.cb.recv().await;
    assert!(
        frame.starts_with("42") && frame.ends_with(r#"["q",3]"#),
        "{frame}"
    );
    let id: String = frame[2..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    p.cb.send(&format!(r#"43{id}["yes"]"#)).await;
    assert_eq!(
        within("the remote ack", answer).await.unwrap().unwrap(),
        "yes"
    );
    // sockets_leave everywhere, then disconnect everywhere.
    p.a.io.broadcast().sockets_leave("joined-remotely");
    let deadline = std::time::Instant::now() + WAIT;
    while p
        .b
        .io
        .of("/")
        .adapter()
        .room_exists(&"joined-remotely".into())
    {
        assert!(std::time::Instant::now() < deadline, "remote leave");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p.a.io.to("r").disconnect_sockets(false);
    assert_eq!(p.cb.recv().await, "41");
    // A's client was not in the room.
    p.a.io.local().emit("still", &0).unwrap();
    assert_eq!(p.ca.recv().await, r#"42["still",0]"#);
}

#[tokio::test]
async fn broadcast_acks_count_the_clients_of_every_node() {
    let mut p = pair(RedisAdapterConfig::default()).await;
    let io = p.a.io.clone();
    let asked =
        tokio::spawn(async move { io.timeout(WAIT).emit_with_ack::<_, String>("q", &1).await });
    for (c, letter) in [(&mut p.ca, "a"), (&mut p.cb, "b")] {
        let frame = c.recv().await;
        let id: String = frame[2..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        assert_eq!(&frame[2 + id.len()..], r#"["q",1]"#);
        c.send(&format!(r#"43{id}["{letter}"]"#)).await;
    }
    let answers = within("the answers", asked).await.unwrap().unwrap();
    let mut values: Vec<String> = answers.into_iter().map(|r| r.value).collect();
    values.sort();
    assert_eq!(values, vec!["a", "b"]);
    // B's client does not answer: the broadcast fails with what it has.
    let io = p.a.io.clone();
    let asked = tokio::spawn(async move {
        io.timeout(Duration::from_millis(300))
            .emit_with_ack::<_, String>("q", &2)
            .await
    });
    let frame = p.ca.recv().await;
    let id: String = frame[2..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    p.ca.send(&format!(r#"43{id}["a"]"#)).await;
    let _ = p.cb.recv().await;
    let err = within("the timeout", asked).await.unwrap().unwrap_err();
    assert_eq!(err.responses.len(), 1);
    assert_eq!(err.missing_remote, 1);
}

#[tokio::test]
async fn server_side_emit_with_and_without_acks() {
    let p = pair(RedisAdapterConfig::default()).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    p.b.io.on_server_side("hello", move |args| {
        let _ = tx.send(args);
    });
    p.b.io.on_server_side_with_ack("ping", |args, ack| {
        ack.send(serde_json::json!({ "pong": args }));
    });
    p.a.io.server_side_emit("hello", &"world").unwrap();
    assert_eq!(
        next(&mut rx, "the event").await,
        vec![serde_json::json!("world")]
    );
    let answers =
        p.a.io
            .server_side_emit_with_ack("ping", &7, WAIT)
            .await
            .unwrap();
    assert_eq!(answers, vec![serde_json::json!({ "pong": [7] })]);
    // Nobody answers "silence": a timeout that says what is missing.
    let started = std::time::Instant::now();
    let err =
        p.a.io
            .server_side_emit_with_ack("silence", &0, Duration::from_millis(300))
            .await
            .unwrap_err();
    assert_eq!(
        err,
        sockeye::AdapterError::Timeout {
            received: 0,
            expected: 1
        }
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(p.a.io.of("/").adapter().server_count().await, Ok(2));
}

#[tokio::test]
async fn responses_on_the_requester_channel() {
    let config = RedisAdapterConfig::default()
        .publish_on_specific_response_channel(true)
        .key("other-app");
    let p = pair(config).await;
    let all = p.b.io.broadcast().fetch_sockets().await.unwrap();
    assert_eq!(all.len(), 2);
    p.a.io
        .on_server_side_with_ack("ping", |_, ack| ack.send("pong".into()));
    let answers =
        p.b.io
            .server_side_emit_with_ack("ping", &(), WAIT)
            .await
            .unwrap();
    assert_eq!(answers, vec![serde_json::json!("pong")]);
}

/// A broadcast with acks from another node respects this node's
/// `max_pending_acks`: a client already at the limit does not get it, and
/// is not counted, so the other node does not wait for its answer.
#[tokio::test]
async fn remote_broadcast_acks_respect_max_pending_acks() {
    let redis = Redis::start();
    let a = serve(node(&redis.url, RedisAdapterConfig::default()).await).await;
    let factory =
        sockeye_redis::RedisAdapterFactory::connect(&redis.url, RedisAdapterConfig::default())
            .await
            .unwrap();
    let b = SocketIo::builder()
        .adapter(factory.factory())
        .max_pending_acks(1)
        .build()
        .unwrap();
    let b = serve(b).await;
    wait_for_servers(&a.io, 2).await;
    wait_for_servers(&b.io, 2).await;
    let mut cb = WsClient::open(b.addr).await;
    cb.connect("/").await;
    // B's client holds one unanswered acknowledgement: it is at the limit.
    let io = b.io.clone();
    let _held = tokio::spawn(async move {
        io.local()
            .timeout(WAIT)
            .emit_with_ack::<_, String>("hold", &0)
            .await
    });
    let frame = cb.recv().await;
    assert!(frame.contains(r#"["hold",0]"#), "{frame}");
    let io = a.io.clone();
    let asked =
        tokio::spawn(async move { io.timeout(WAIT).emit_with_ack::<_, String>("q", &1).await });
    let answers = within("the answers", asked).await.unwrap().unwrap();
    assert!(answers.is_empty(), "{answers:?}");
}

#[tokio::test]
async fn room_events_report_joins_made_by_another_node() {
    let mut p = pair(RedisAdapterConfig::default()).await;
    let (tx, mut log) = tokio::sync::mpsc::unbounded_channel::<String>();
    let t = tx.clone();
    p.a.io.of("/").on_create_room(move |room| {
        let _ = t.send(format!("create {room}"));
    });
    p.a.io.of("/").on_join_room(move |room, id| {
        let _ = tx.send(format!("join {room} {id}"));
    });
    // Node B makes A's socket join a room, through Redis.
    p.b.io.to(p.ida.as_str()).sockets_join("from-b");
    assert_eq!(next(&mut log, "create").await, "create from-b");
    assert_eq!(
        next(&mut log, "join").await,
        format!("join from-b {}", p.ida)
    );
    // B's own socket joining is B's event, not A's.
    p.cb.send(r#"42["join","from-b"]"#).await;
    p.cb.send(r#"420["echo",1]"#).await;
    assert_eq!(p.cb.recv().await, "430[1]");
    p.ca.send(r#"421["echo",2]"#).await;
    assert_eq!(p.ca.recv().await, "431[2]");
    assert_empty(&mut log);
}
