//! The listeners a program adds at run time (Node's events): room
//! lifecycle events of a namespace's adapter, `new_namespace`, the
//! engine's `connection_error`, and removing listeners by their handle.

mod common;

use common::*;
use hyper::{Method, StatusCode};
use sockeye::engine::ErrorCode;
use sockeye::{Data, Socket, SocketIo};
use tokio::sync::mpsc;

/// Every room event of `/`, as `create r`, `join r <id>`...
fn room_log(io: &SocketIo) -> (mpsc::UnboundedReceiver<String>, Vec<sockeye::ListenerId>) {
    let ns = io.of("/");
    let (tx, rx) = mpsc::unbounded_channel();
    let t = tx.clone();
    let a = ns.on_create_room(move |room| {
        let _ = t.send(format!("create {room}"));
    });
    let t = tx.clone();
    let b = ns.on_delete_room(move |room| {
        let _ = t.send(format!("delete {room}"));
    });
    let t = tx.clone();
    let c = ns.on_join_room(move |room, id| {
        let _ = t.send(format!("join {room} {id}"));
    });
    let d = ns.on_leave_room(move |room, id| {
        let _ = tx.send(format!("leave {room} {id}"));
    });
    (rx, vec![a, b, c, d])
}

/// A server whose sockets join (`join`) and leave (`leave`) the room named
/// by the event's argument, and acknowledge it.
fn rooms_io() -> SocketIo {
    let io = SocketIo::builder().build().unwrap();
    io.on_connection(|socket: Socket| async move {
        socket.on(
            "join",
            |s: Socket, Data(room): Data<String>, ack: sockeye::AckSender| async move {
                s.join(room);
                let _ = ack.send(&());
            },
        );
        socket.on(
            "leave",
            |s: Socket, Data(room): Data<String>, ack: sockeye::AckSender| async move {
                s.leave(room);
                let _ = ack.send(&());
            },
        );
    });
    io
}

#[tokio::test]
async fn room_events_report_each_room_and_socket_of_this_node() {
    let io = rooms_io();
    let (mut log, ids) = room_log(&io);
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    let id = c.connect("/").await;
    assert_eq!(next(&mut log, "own room").await, format!("create {id}"));
    assert_eq!(next(&mut log, "own join").await, format!("join {id} {id}"));

    c.send(r#"420["join","r"]"#).await;
    assert_eq!(c.recv().await, "430[null]");
    assert_eq!(next(&mut log, "create r").await, "create r");
    assert_eq!(next(&mut log, "join r").await, format!("join r {id}"));
    // A second client in the same room: a join, no create.
    let mut d = WsClient::open(srv.addr).await;
    let id2 = d.connect("/").await;
    d.send(r#"420["join","r"]"#).await;
    assert_eq!(d.recv().await, "430[null]");
    assert_eq!(next(&mut log, "").await, format!("create {id2}"));
    assert_eq!(next(&mut log, "").await, format!("join {id2} {id2}"));
    assert_eq!(next(&mut log, "").await, format!("join r {id2}"));

    c.send(r#"421["leave","r"]"#).await;
    assert_eq!(c.recv().await, "431[null]");
    assert_eq!(next(&mut log, "leave r").await, format!("leave r {id}"));
    assert_empty(&mut log);

    // The last member disconnects: every room left, own room first; the
    // empty ones are deleted.
    d.send("41").await;
    assert_eq!(next(&mut log, "").await, format!("leave {id2} {id2}"));
    assert_eq!(next(&mut log, "").await, format!("delete {id2}"));
    assert_eq!(next(&mut log, "").await, format!("leave r {id2}"));
    assert_eq!(next(&mut log, "").await, "delete r");

    // Removed listeners hear nothing; the others still do.
    for id in &ids[1..] {
        assert!(srv.io.remove_listener(*id));
        assert!(!srv.io.of("/").remove_listener(*id), "removed once");
    }
    c.send(r#"422["join","s"]"#).await;
    assert_eq!(c.recv().await, "432[null]");
    assert_eq!(next(&mut log, "create s").await, "create s");
    assert!(srv.io.of("/").remove_listener(ids[0]));
    c.send(r#"423["join","t"]"#).await;
    assert_eq!(c.recv().await, "433[null]");
    assert_empty(&mut log);
}

#[tokio::test]
async fn new_namespace_is_told_of_each_namespace_created() {
    let io = SocketIo::builder().build().unwrap();
    let (tx, mut created) = mpsc::unbounded_channel();
    let id = io.on_new_namespace(move |ns| {
        // A listener may register the namespace's own listeners.
        ns.on_connection(|_s: Socket| async {});
        let _ = tx.send(ns.name().to_string());
    });
    io.of("/a");
    io.of("/a");
    assert_eq!(next(&mut created, "/a").await, "/a");
    assert_empty(&mut created);

    // A child of a dynamic namespace, created by a client's CONNECT.
    io.of_regex(regex::Regex::new("^/room-\\d+$").unwrap())
        .on_connection(|_s: Socket| async {});
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/room-7").await;
    assert_eq!(next(&mut created, "/room-7").await, "/room-7");

    assert!(srv.io.remove_listener(id));
    srv.io.of("/b");
    assert_empty(&mut created);
    let mut names: Vec<String> = srv
        .io
        .namespaces()
        .iter()
        .map(|n| n.name().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["/", "/a", "/b", "/room-7"]);
}

#[tokio::test]
async fn connection_error_reports_every_refusal_with_its_request() {
    let io = SocketIo::builder().build().unwrap();
    let (tx, mut errors) = mpsc::unbounded_channel();
    let id = io.engine().on_connection_error(move |e| {
        let _ = tx.send((
            e.code,
            e.message.to_owned(),
            e.status,
            e.request.method.clone(),
            e.query_param("transport").map(str::to_owned),
            e.upgrade,
            e.peer_addr().is_some(),
        ));
    });
    let srv = serve(io).await;

    let (status, body) = http(
        srv.addr,
        Method::GET,
        "/socket.io/?EIO=4&transport=carrier",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        next(&mut errors, "unknown transport").await,
        (
            ErrorCode::UnknownTransport,
            "Transport unknown".into(),
            StatusCode::BAD_REQUEST,
            Method::GET,
            Some("carrier".into()),
            false,
            true
        )
    );
    let (status, _) = http(
        srv.addr,
        Method::POST,
        "/socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA",
        "4x",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let e = next(&mut errors, "unknown sid").await;
    assert_eq!(
        (e.0, e.1.as_str(), e.3),
        (ErrorCode::UnknownSid, "Session ID unknown", Method::POST)
    );

    // A refused WebSocket upgrade (protocol 9).
    let refused = tokio_tungstenite::connect_async(format!(
        "ws://{}/socket.io/?EIO=9&transport=websocket",
        srv.addr
    ))
    .await;
    assert!(refused.is_err());
    let e = next(&mut errors, "bad protocol").await;
    assert_eq!(
        (e.0, e.1.as_str(), e.5),
        (
            ErrorCode::UnsupportedProtocolVersion,
            "Unsupported protocol version",
            true
        )
    );

    // A successful handshake reports nothing; a removed listener nothing.
    let _ok = Polling::open(srv.addr).await;
    assert_empty(&mut errors);
    assert!(srv.io.remove_listener(id));
    http(
        srv.addr,
        Method::GET,
        "/socket.io/?EIO=4&transport=carrier",
        "",
    )
    .await;
    assert_empty(&mut errors);
}

#[tokio::test]
async fn engine_session_events_follow_one_session_through_its_upgrade() {
    let io = echo_io();
    let engine = io.engine().clone();
    let (tx, mut log) = mpsc::unbounded_channel::<String>();
    let t = tx.clone();
    engine.on_connection(move |s| {
        let _ = t.send(format!("connection {}", s.transport().as_str()));
    });
    let t = tx.clone();
    engine.on_upgrading(move |s, to| {
        let _ = t.send(format!(
            "upgrading {} {}",
            s.transport().as_str(),
            to.as_str()
        ));
    });
    let t = tx.clone();
    engine.on_upgrade(move |s, to| {
        let _ = t.send(format!(
            "upgrade {} {}",
            s.transport().as_str(),
            to.as_str()
        ));
    });
    let t = tx.clone();
    let packet = engine.on_packet(move |_s, p| {
        let _ = t.send(format!("in {}", p.encode_text()));
    });
    let t = tx.clone();
    let created = engine.on_packet_create(move |_s, p| {
        let _ = t.send(format!("out {}", p.encode_text()));
    });
    let t = tx.clone();
    engine.on_heartbeat(move |_s| {
        let _ = t.send("heartbeat".into());
    });
    engine.on_session_close(move |s, reason| {
        let _ = tx.send(format!("close {} {reason}", s.sid()));
    });
    let srv = serve(io).await;

    let p = Polling::open(srv.addr).await;
    // (The open packet is the handshake's answer, not a queued packet.)
    assert_eq!(next(&mut log, "connection").await, "connection polling");
    p.post(&["40"]).await;
    assert_eq!(next(&mut log, "in 40").await, "in 40");
    let connected = next(&mut log, "CONNECT answer").await;
    assert!(connected.starts_with("out 40{\"sid\""), "{connected}");
    assert!(p.get().await[0].starts_with("40{"));

    let mut ws = WsClient::upgrade(srv.addr, &p.sid).await;
    assert_eq!(
        next(&mut log, "upgrading").await,
        "upgrading polling websocket"
    );
    assert_eq!(
        next(&mut log, "upgrade").await,
        "upgrade websocket websocket"
    );
    // The probe packets are not reported; the messages after it are.
    ws.send(r#"42["message","hi"]"#).await;
    assert_eq!(ws.recv().await, r#"42["message-back","hi"]"#);
    assert_eq!(next(&mut log, "in").await, r#"in 42["message","hi"]"#);
    assert_eq!(
        next(&mut log, "out").await,
        r#"out 42["message-back","hi"]"#
    );

    // The client's answer to a ping.
    ws.send("3").await;
    assert_eq!(next(&mut log, "in 3").await, "in 3");
    assert_eq!(next(&mut log, "heartbeat").await, "heartbeat");

    assert!(srv.io.remove_listener(packet));
    assert!(engine.remove_listener(created));
    ws.send("1").await;
    assert_eq!(
        next(&mut log, "close").await,
        format!("close {} transport close", p.sid)
    );
    assert_empty(&mut log);

    // A WebSocket handshake queues its open packet.
    let (tx, mut out) = mpsc::unbounded_channel();
    srv.io.engine().on_packet_create(move |_s, p| {
        let _ = tx.send(p.encode_text().to_string());
    });
    let _ws = WsClient::open(srv.addr).await;
    let open = next(&mut out, "open packet").await;
    assert!(open.starts_with("0{\"sid\""), "{open}");
}

#[tokio::test]
async fn generate_id_chooses_session_ids_and_a_taken_one_is_replaced() {
    let io = SocketIo::builder()
        .engine(|c| {
            c.with_generate_id(|req| {
                // From the request: the `tenant` query parameter, padded.
                let tenant = req
                    .query_pairs()
                    .into_iter()
                    .find(|(k, _)| k == "tenant")
                    .map(|(_, v)| v)
                    .unwrap_or_default();
                format!("{tenant:_<20}").parse().expect("a valid id")
            })
        })
        .build()
        .unwrap();
    let srv = serve(io).await;
    let (status, body) = http(
        srv.addr,
        Method::GET,
        "/socket.io/?EIO=4&transport=polling&tenant=acme",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let open: serde_json::Value = serde_json::from_str(&body[1..]).unwrap();
    assert_eq!(open["sid"], "acme________________");
    let ws = WsClient::open_url(&format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket&tenant=beta",
        srv.addr
    ))
    .await;
    assert_eq!(ws.sid, "beta________________");
    // The same id again while "acme" lives: a random one instead.
    let (_, body) = http(
        srv.addr,
        Method::GET,
        "/socket.io/?EIO=4&transport=polling&tenant=acme",
        "",
    )
    .await;
    let open: serde_json::Value = serde_json::from_str(&body[1..]).unwrap();
    let sid = open["sid"].as_str().unwrap();
    assert_ne!(sid, "acme________________");
    assert_eq!(sid.len(), 20);
    assert!(srv.io.engine().session(sid.parse().unwrap()).is_some());
}

#[tokio::test]
async fn handlers_are_removed_by_their_handle() {
    let io = SocketIo::builder().build().unwrap();
    let (tx, mut log) = mpsc::unbounded_channel::<String>();
    let no = io.use_middleware(|_s: Socket| async { Err(sockeye::ConnectError::new("no")) });
    let t = tx.clone();
    let first = io.on_connection(move |_s: Socket| {
        let t = t.clone();
        async move {
            let _ = t.send("first".into());
        }
    });
    let t = tx.clone();
    io.on_connection(move |s: Socket| {
        let t = t.clone();
        async move {
            let t2 = t.clone();
            let any = s.on_any(move |_s: Socket, sockeye::Event(e): sockeye::Event| {
                let t = t2.clone();
                async move {
                    let _ = t.send(format!("any {e}"));
                }
            });
            let t2 = t.clone();
            let err = s.on_error(move |_s, e| {
                let _ = t2.send(format!("error {e}"));
            });
            let t2 = t.clone();
            let gone = s.on_disconnecting(move |_s, r| {
                let _ = t2.send(format!("disconnecting {r}"));
            });
            let t2 = t.clone();
            s.on_disconnect(move |_s, r| async move {
                let _ = t2.send(format!("disconnect {r}"));
            });
            s.on("typed", |_s: Socket, Data(_n): Data<u32>| async {});
            s.on("drop", move |s: Socket| {
                let t = t.clone();
                async move {
                    for id in [any, err, gone] {
                        assert!(s.remove_listener(id));
                    }
                    let _ = t.send("dropped".into());
                }
            });
        }
    });
    let srv = serve(io).await;

    // The middleware refuses, until it is removed.
    let mut c = WsClient::open(srv.addr).await;
    c.send("40").await;
    assert_eq!(c.recv().await, r#"44{"message":"no"}"#);
    assert!(srv.io.remove_listener(no));
    c.connect("/").await;
    assert_eq!(next(&mut log, "first").await, "first");
    c.send(r#"42["typed","x"]"#).await;
    assert_eq!(next(&mut log, "any").await, "any typed");
    let error = next(&mut log, "error").await;
    assert!(error.starts_with("error event \"typed\""), "{error}");
    c.send(r#"42["drop"]"#).await;
    assert_eq!(next(&mut log, "any drop").await, "any drop");
    assert_eq!(next(&mut log, "dropped").await, "dropped");
    c.send(r#"42["typed","x"]"#).await;
    c.send("41").await;
    // Only the handler that was kept.
    assert_eq!(
        next(&mut log, "disconnect").await,
        "disconnect client namespace disconnect"
    );

    // Without the first connection handler; then without any.
    assert!(srv.io.of("/").remove_listener(first));
    let mut d = WsClient::open(srv.addr).await;
    d.connect("/").await;
    d.send(r#"42["drop"]"#).await;
    assert_eq!(next(&mut log, "any drop").await, "any drop");
    assert_eq!(next(&mut log, "dropped").await, "dropped");
    srv.io.of("/").off_connection();
    let mut e = WsClient::open(srv.addr).await;
    e.connect("/").await;
    e.send(r#"42["drop"]"#).await;
    // Handled in order: once this is answered, "drop" found no handler.
    e.send("40/x,").await;
    assert_eq!(e.recv().await, r#"44/x,{"message":"Invalid namespace"}"#);
    assert_empty(&mut log);
}
