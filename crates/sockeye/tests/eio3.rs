//! Socket.IO 2.x clients (Engine.IO v3, Socket.IO protocol v4) on an
//! `allow_eio3` server: the implicit connection to `/`, CONNECT replies
//! without payload, auth in the namespace's query string, and CONNECT_ERROR
//! payloads as JSON strings, and socket ids `<nsp>#<engine sid>` on
//! namespaces other than `/`.

mod common;

use common::*;
use serde_json::json;
use sockeye::{AckResponse, ConnectError, DisconnectReason, Socket, SocketId, SocketIo};
use tokio::sync::mpsc::UnboundedReceiver;

fn eio3_io() -> SocketIo {
    let io = SocketIo::builder()
        .engine(|c| c.with_allow_eio3(true))
        .build()
        .unwrap();
    io.on_connection(echo_handlers);
    io.of("/admin").on_connection(echo_handlers);
    io.of("/secret")
        .use_middleware(|socket: Socket| async move {
            match socket
                .handshake()
                .auth
                .get("token")
                .and_then(|t| t.as_str())
            {
                Some("data") => Err(ConnectError::new("ignored").with_data(&json!({"code": 1}))),
                _ => Err(ConnectError::new("Not authorized")),
            }
        });
    io
}

#[tokio::test]
async fn eio3_client_is_connected_to_main_at_once() {
    let io = eio3_io();
    let mut sockets = capture(&io.of("/"));
    let srv = serve(io).await;
    let mut c = WsClient::open_eio3(srv.addr).await;
    assert_eq!(c.recv().await, "40");
    let socket = next(&mut sockets, "the implicit socket").await;
    // Socket.IO 2.x: the socket id of `/` is the Engine.IO sid.
    assert_eq!(socket.id().as_str(), c.sid);
    assert_eq!(socket.auth::<serde_json::Value>().unwrap(), json!({}));
    c.assert_echo("/", "v3").await;
    c.send(r#"423["message-with-ack",1]"#).await;
    assert_eq!(c.recv().await, "433[1]");
    // v3 heartbeat: the client pings, the server answers.
    c.send("2").await;
    assert_eq!(c.recv_raw().await, "3");
}

#[tokio::test]
async fn eio3_namespace_with_query_auth() {
    let io = eio3_io();
    let mut sockets = capture(&io.of("/admin"));
    let srv = serve(io).await;
    let mut c = WsClient::open_eio3(srv.addr).await;
    assert_eq!(c.recv().await, "40");
    c.send("40/admin?token=1,").await;
    assert_eq!(c.recv().await, "40/admin,");
    let socket = next(&mut sockets, "the /admin socket").await;
    assert_eq!(
        socket.auth::<serde_json::Value>().unwrap(),
        json!({"token": "1"})
    );
    assert_eq!(socket.namespace().name(), "/admin");
    c.assert_echo("/admin", "as admin").await;
}

#[tokio::test]
async fn eio3_connect_error_is_a_json_string_or_the_data() {
    let srv = serve(eio3_io()).await;
    let mut c = WsClient::open_eio3(srv.addr).await;
    assert_eq!(c.recv().await, "40");
    c.send("40/secret,").await;
    assert_eq!(c.recv().await, r#"44/secret,"Not authorized""#);
    c.send("40/secret?token=data,").await;
    assert_eq!(c.recv().await, r#"44/secret,{"code":1}"#);
    c.assert_echo("/", "kept").await;
}

#[tokio::test]
async fn eio3_unknown_namespace_error_is_the_reference_object() {
    let srv = serve(eio3_io()).await;
    let mut c = WsClient::open_eio3(srv.addr).await;
    assert_eq!(c.recv().await, "40");
    c.send("40/random,").await;
    assert_eq!(
        c.recv().await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
}

#[tokio::test]
async fn eio3_is_refused_without_allow_eio3() {
    let io = SocketIo::builder().build().unwrap();
    let srv = serve(io).await;
    let r = tokio_tungstenite::connect_async(format!(
        "ws://{}/socket.io/?EIO=3&transport=websocket",
        srv.addr
    ))
    .await;
    assert!(r.is_err(), "v3 handshake refused");
}

/// `/` with the echo handlers; `/admin` with them, `shout` (a broadcast to
/// the others, with the shouter's id) and its sockets and disconnects
/// captured.
fn eio3_admin() -> (
    SocketIo,
    UnboundedReceiver<Socket>,
    UnboundedReceiver<(SocketId, DisconnectReason)>,
) {
    let io = SocketIo::builder()
        .engine(|c| c.with_allow_eio3(true))
        .build()
        .unwrap();
    io.on_connection(echo_handlers);
    let admin = io.of("/admin");
    let sockets = capture(&admin);
    let gone = disconnects(&admin);
    admin.on_connection(|socket: Socket| async move {
        echo_handlers(socket.clone()).await;
        socket.on("shout", |socket: Socket| async move {
            let _ = socket.broadcast().emit("shouted", &socket.id());
        });
    });
    (io, sockets, gone)
}

/// A 2.x client connected to `/` and `/admin`, and its `/admin` socket.
async fn admin_client(
    srv: &TestServer,
    sockets: &mut UnboundedReceiver<Socket>,
) -> (WsClient, Socket) {
    let mut c = WsClient::open_eio3(srv.addr).await;
    assert_eq!(c.recv().await, "40");
    c.send("40/admin,").await;
    assert_eq!(c.recv().await, "40/admin,");
    let socket = next(sockets, "the /admin socket").await;
    (c, socket)
}

#[tokio::test]
async fn eio3_namespace_socket_id_is_nsp_hash_engine_sid() {
    let (io, mut sockets, _gone) = eio3_admin();
    let srv = serve(io).await;
    let (mut a, socket) = admin_client(&srv, &mut sockets).await;
    let id = socket.id();
    // What the 2.x client computes: `"/admin#" + engine.id`.
    assert_eq!(id, format!("/admin#{}", a.sid));
    assert_eq!(id.to_string(), format!("/admin#{}", a.sid));
    let admin = srv.io.of("/admin");
    // Its own room is named after that id, and the id finds it.
    assert_eq!(
        socket
            .rooms()
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>(),
        vec![id.as_str()]
    );
    assert_eq!(admin.socket(&id), Some(socket.clone()));
    assert_eq!(admin.socket(id.as_str()), Some(socket.clone()));
    assert_eq!(admin.socket(&a.sid), None, "the engine sid alone is not it");
    assert_eq!(srv.io.of("/").socket(&id), None, "nor is it a socket of /");
    // `/` keeps the plain engine sid.
    let root = srv.io.of("/").sockets();
    assert_eq!(root.len(), 1);
    assert_eq!(root[0].id(), a.sid.as_str());
    a.assert_echo("/admin", "id").await;
}

#[tokio::test]
async fn eio3_namespace_id_is_the_socket_room() {
    let (io, mut sockets, _gone) = eio3_admin();
    let srv = serve(io).await;
    let (mut a, sa) = admin_client(&srv, &mut sockets).await;
    let (mut b, _sb) = admin_client(&srv, &mut sockets).await;
    let admin = srv.io.of("/admin");
    // `to(id)`, as a SocketId or as its text, reaches that socket only.
    admin.to(sa.id()).emit("direct", &1).unwrap();
    assert_eq!(a.recv().await, r#"42/admin,["direct",1]"#);
    admin
        .to(format!("/admin#{}", a.sid))
        .emit("direct", &2)
        .unwrap();
    assert_eq!(a.recv().await, r#"42/admin,["direct",2]"#);
    b.assert_echo("/admin", "nothing for b").await;
    // `except(id)` skips it.
    admin.except(sa.id()).emit("not-a", &3).unwrap();
    assert_eq!(b.recv().await, r#"42/admin,["not-a",3]"#);
    a.assert_echo("/admin", "nothing for a").await;
    // `socket.broadcast()` excludes the sender.
    a.send(r#"42/admin,["shout"]"#).await;
    assert_eq!(
        b.recv().await,
        format!(r#"42/admin,["shouted","/admin#{}"]"#, a.sid)
    );
    a.assert_echo("/admin", "not shouted back").await;
}

#[tokio::test]
async fn eio3_namespace_id_in_fetch_sockets_acks_and_disconnects() {
    let (io, mut sockets, mut gone) = eio3_admin();
    let srv = serve(io).await;
    let (mut a, sa) = admin_client(&srv, &mut sockets).await;
    let admin = srv.io.of("/admin");
    let fetched = admin.broadcast().fetch_sockets().await.unwrap();
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].id(), sa.id().as_str());
    assert_eq!(fetched[0].rooms(), [sa.id().to_string()]);
    fetched[0].emit("fetched", &true).unwrap();
    assert_eq!(a.recv().await, r#"42/admin,["fetched",true]"#);
    // A broadcast with acks names the socket by its id.
    let op = admin.to(sa.id());
    let asked = tokio::spawn(async move { op.emit_with_ack::<_, String>("q", &1).await });
    let frame = a.recv().await;
    let ack_id = frame
        .strip_prefix("42/admin,")
        .and_then(|f| f.strip_suffix(r#"["q",1]"#))
        .unwrap_or_else(|| panic!("an event with an ack id, got {frame:?}"));
    a.send(&format!(r#"43/admin,{ack_id}["yes"]"#)).await;
    let answers = within("the answers", asked).await.unwrap().unwrap();
    assert_eq!(
        answers,
        vec![AckResponse::new(Some(sa.id()), "yes".to_owned()).with_args(vec!["yes".into()])]
    );
    // Disconnecting by id; the disconnect names the same id and the room
    // goes with the socket.
    admin.to(sa.id()).disconnect_sockets(false);
    assert_eq!(a.recv().await, "41/admin,");
    let (id, reason) = next(&mut gone, "the disconnect").await;
    assert_eq!(id, sa.id());
    assert_eq!(reason, DisconnectReason::ServerNamespaceDisconnect);
    assert!(
        !admin
            .adapter()
            .room_exists(&sockeye::Str::from(id.to_string()))
    );
    a.assert_echo("/", "still on /").await;
}
