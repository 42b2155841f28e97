//! Socket.IO 2.x clients (Engine.IO v3, Socket.IO protocol v4) on an
//! `allow_eio3` server: the implicit connection to `/`, CONNECT replies
//! without payload, auth in the namespace's query string, and CONNECT_ERROR
//! payloads as JSON strings.

mod common;

use common::*;
use serde_json::json;
use sockeye::{ConnectError, Socket, SocketIo};

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
