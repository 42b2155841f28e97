//! Namespaces and the connection state machine: CONNECT replies, unknown
//! namespaces, connect middlewares, the connect timeout, and the protocol
//! violations that close the connection.

mod common;

use common::*;
use serde_json::json;
use sockeye::{ConnectError, DisconnectReason, Socket, SocketIo};
use std::time::Duration;
use tokio::sync::mpsc;

/// The reference suite's server: every connection is told its auth.
fn auth_io() -> SocketIo {
    let io = echo_io();
    for nsp in ["/", "/custom"] {
        io.of(nsp).on_connection(|socket: Socket| async move {
            let _ = socket.emit("auth", &socket.handshake().auth);
        });
    }
    io
}

#[tokio::test]
async fn connect_main_namespace_replies_sid_only_then_events() {
    let srv = serve(auth_io()).await;
    let mut sockets = capture(&srv.io.of("/"));
    let mut c = WsClient::open(srv.addr).await;
    c.send("40").await;
    let sid = c.expect_connect("/").await;
    assert_eq!(c.recv().await, r#"42["auth",{}]"#);
    let socket = next(&mut sockets, "the socket").await;
    assert_eq!(socket.id().as_str(), sid);
    assert_ne!(sid, c.sid, "the socket id is not the Engine.IO sid");
    assert!(socket.connected());
    assert_eq!(socket.namespace().name(), "/");
}

#[tokio::test]
async fn connect_main_namespace_with_auth_payload() {
    let srv = serve(auth_io()).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send(r#"40{"token":"123"}"#).await;
    c.expect_connect("/").await;
    assert_eq!(c.recv().await, r#"42["auth",{"token":"123"}]"#);
}

#[tokio::test]
async fn connect_custom_namespace_with_and_without_payload() {
    let srv = serve(auth_io()).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send("40/custom,").await;
    let sid = c.expect_connect("/custom").await;
    assert_eq!(c.recv().await, r#"42/custom,["auth",{}]"#);

    let mut d = WsClient::open(srv.addr).await;
    d.send(r#"40/custom,{"token":"abc"}"#).await;
    let sid2 = d.expect_connect("/custom").await;
    assert_eq!(d.recv().await, r#"42/custom,["auth",{"token":"abc"}]"#);
    assert_ne!(sid, sid2);
}

#[tokio::test]
async fn connect_namespace_without_trailing_comma_is_accepted() {
    let srv = serve(echo_io()).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send("40/custom").await;
    c.expect_connect("/custom").await;
    c.assert_echo("/custom", "ok").await;
}

#[tokio::test]
async fn of_adds_the_leading_slash() {
    let io = SocketIo::builder().build().unwrap();
    io.of("chat").on_connection(echo_handlers);
    assert_eq!(io.of("chat").name(), "/chat");
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/chat").await;
    c.assert_echo("/chat", "slash").await;
    assert_eq!(srv.io.of("/chat").socket_count(), 1);
}

#[tokio::test]
async fn one_client_gets_a_distinct_socket_per_namespace() {
    let srv = serve(echo_io()).await;
    let mut c = WsClient::open(srv.addr).await;
    let main = c.connect("/").await;
    let custom = c.connect("/custom").await;
    assert_ne!(main, custom);
    c.assert_echo("/", "a").await;
    c.assert_echo("/custom", "b").await;
    assert_eq!(srv.io.of("/").socket_count(), 1);
    assert_eq!(srv.io.of("/custom").socket_count(), 1);
}

#[tokio::test]
async fn unknown_namespace_is_refused_and_the_connection_kept() {
    let srv = serve(echo_io()).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send("40/random").await;
    assert_eq!(
        c.recv().await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
    c.send("40/random,").await;
    assert_eq!(
        c.recv().await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
    // Still open, and the refused namespace does not count as joined.
    c.connect("/").await;
    c.assert_echo("/", "still here").await;
}

#[tokio::test]
async fn connect_middleware_refusal_sends_message_and_data() {
    let io = echo_io();
    let (tx, mut seen) = mpsc::unbounded_channel();
    io.use_middleware(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(socket.handshake().auth.clone());
            let token: serde_json::Value = socket.auth().unwrap_or_default();
            if token["token"] == "good" {
                Ok(())
            } else {
                Err(ConnectError::new("not authorized").with_data(&json!({"code": 42})))
            }
        }
    });
    io.of("/custom")
        .use_middleware(|_s: Socket| async move { Err(ConnectError::new("custom says no")) });
    let mut connected = capture(&io.of("/"));
    let srv = serve(io).await;

    let mut c = WsClient::open(srv.addr).await;
    c.send(r#"40{"token":"bad"}"#).await;
    let refusal = c.recv().await;
    let body: serde_json::Value =
        serde_json::from_str(refusal.strip_prefix("44").expect("CONNECT_ERROR for /")).unwrap();
    assert_eq!(
        body,
        json!({"message": "not authorized", "data": {"code": 42}})
    );
    let auth = next(&mut seen, "the middleware").await;
    assert_eq!(auth.get("token").and_then(|v| v.as_str()), Some("bad"));
    // Without data, only `message`; the namespace is named.
    c.send("40/custom,").await;
    assert_eq!(c.recv().await, r#"44/custom,{"message":"custom says no"}"#);
    // The connection is kept: a later CONNECT that passes works.
    c.send(r#"40{"token":"good"}"#).await;
    c.expect_connect("/").await;
    next(&mut seen, "the middleware").await;
    let socket = next(&mut connected, "the accepted socket").await;
    assert_eq!(
        socket.auth::<serde_json::Value>().unwrap(),
        json!({"token": "good"})
    );
    assert_empty(&mut connected);
}

#[tokio::test]
async fn connect_error_payload_keys_in_reference_order() {
    let io = echo_io();
    io.use_middleware(|_s: Socket| async move {
        Err(ConnectError::new("not authorized").with_data(&json!({"code": 42})))
    });
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send("40").await;
    assert_eq!(
        c.recv().await,
        r#"44{"message":"not authorized","data":{"code":42}}"#
    );
}

#[tokio::test]
async fn connect_middlewares_run_in_order_and_stop_at_the_first_refusal() {
    let io = echo_io();
    let (tx, mut order) = mpsc::unbounded_channel();
    for (i, refuse) in [(1, false), (2, true), (3, false)] {
        let tx = tx.clone();
        io.use_middleware(move |_s: Socket| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(i);
                if refuse {
                    Err(ConnectError::new(format!("refused by {i}")))
                } else {
                    Ok(())
                }
            }
        });
    }
    drop(tx);
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send("40").await;
    assert_eq!(c.recv().await, r#"44{"message":"refused by 2"}"#);
    assert_eq!(next(&mut order, "middleware 1").await, 1);
    assert_eq!(next(&mut order, "middleware 2").await, 2);
    assert_empty(&mut order);
    assert_eq!(srv.io.of("/").socket_count(), 0);
}

#[tokio::test]
async fn socket_is_dropped_when_the_connection_closes_during_middlewares() {
    let io = echo_io();
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let (tx, mut progress) = mpsc::unbounded_channel();
    let (r, t) = (release.clone(), tx.clone());
    io.use_middleware(move |_s: Socket| {
        let (r, t) = (r.clone(), t.clone());
        async move {
            let _ = t.send("waiting");
            r.notified().await;
            Ok(())
        }
    });
    io.use_middleware(move |_s: Socket| {
        let t = tx.clone();
        async move {
            let _ = t.send("last");
            Ok(())
        }
    });
    let mut connected = capture(&io.of("/"));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send("40").await;
    assert_eq!(next(&mut progress, "the first middleware").await, "waiting");
    c.close().await;
    within("the session to end", async {
        while srv.io.engine().session_count() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    release.notify_one();
    assert_eq!(next(&mut progress, "the last middleware").await, "last");
    // The join ran to its end in the same poll as the last middleware.
    tokio::task::yield_now().await;
    assert_eq!(srv.io.of("/").socket_count(), 0);
    assert_empty(&mut connected);
}

#[tokio::test]
async fn connect_timeout_closes_a_session_that_joins_nothing() {
    let io = SocketIo::builder()
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    io.on_connection(echo_handlers);
    let srv = serve(io).await;
    // `joined` opens first, so its deadline is the earlier one.
    let mut joined = WsClient::open(srv.addr).await;
    joined.connect("/").await;
    let mut refused = WsClient::open(srv.addr).await;
    refused.send("40/nope,").await;
    assert_eq!(
        refused.recv().await,
        r#"44/nope,{"message":"Invalid namespace"}"#
    );
    let mut idle = WsClient::open(srv.addr).await;
    let started = tokio::time::Instant::now();
    assert!(idle.expect_closed().await.is_empty(), "nothing is sent");
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(refused.expect_closed().await.is_empty());
    // The deadline of the session that joined passed too: it stays open.
    joined.assert_echo("/", "alive").await;
}

#[tokio::test]
async fn duplicate_connect_closes_with_forced_server_close() {
    let io = echo_io();
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    let sid = c.connect("/").await;
    c.send("40").await;
    assert!(c.expect_closed().await.is_empty());
    let (id, reason) = next(&mut gone, "the disconnect").await;
    assert_eq!(
        (id.as_str(), reason),
        (sid.as_str(), DisconnectReason::ForcedServerClose)
    );
}

#[tokio::test]
async fn packet_for_an_unjoined_namespace_closes_with_forced_server_close() {
    let io = echo_io();
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    for packet in [
        r#"42/custom,["message","x"]"#,
        "41/custom,",
        r#"43/custom,1[]"#,
    ] {
        let mut c = WsClient::open(srv.addr).await;
        c.connect("/").await;
        c.send(packet).await;
        assert!(c.expect_closed().await.is_empty(), "{packet}");
        let (_, reason) = next(&mut gone, "the disconnect").await;
        assert_eq!(reason, DisconnectReason::ForcedServerClose, "{packet}");
    }
    // An event before any CONNECT.
    let mut c = WsClient::open(srv.addr).await;
    c.send(r#"42["message","x"]"#).await;
    assert!(c.expect_closed().await.is_empty());
}

#[tokio::test]
async fn client_connect_error_packet_closes_with_forced_server_close() {
    let io = echo_io();
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(r#"44{"message":"x"}"#).await;
    assert!(c.expect_closed().await.is_empty());
    let (_, reason) = next(&mut gone, "the disconnect").await;
    assert_eq!(reason, DisconnectReason::ForcedServerClose);
}

#[tokio::test]
async fn client_disconnect_leaves_the_namespace_and_keeps_the_session() {
    let io = echo_io();
    let mut gone = disconnects(&io.of("/"));
    let mut gone_custom = disconnects(&io.of("/custom"));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    let sid = c.connect("/").await;
    c.send("41").await;
    let (id, reason) = next(&mut gone, "the disconnect").await;
    assert_eq!(id.as_str(), sid);
    assert_eq!(reason, DisconnectReason::ClientNamespaceDisconnect);
    assert_eq!(srv.io.of("/").socket_count(), 0);
    assert_eq!(srv.engine_sessions(), 1, "the engine session stays open");
    // Not a duplicate CONNECT: the namespace was left.
    let again = c.connect("/").await;
    assert_ne!(again, sid);

    // Leaving a custom namespace keeps the main one working.
    c.connect("/custom").await;
    c.send("41/custom,").await;
    let (_, reason) = next(&mut gone_custom, "the custom disconnect").await;
    assert_eq!(reason, DisconnectReason::ClientNamespaceDisconnect);
    c.send(r#"42["message","message to main namespace"]"#).await;
    assert_eq!(
        c.recv().await,
        r#"42["message-back","message to main namespace"]"#
    );
}

#[tokio::test]
async fn server_disconnect_sends_disconnect_and_keeps_the_connection() {
    let io = echo_io();
    let mut gone = disconnects(&io.of("/"));
    let mut gone_custom = disconnects(&io.of("/custom"));
    for nsp in ["/", "/custom"] {
        io.of(nsp).on_connection(|socket: Socket| async move {
            socket.on("bye", |socket: Socket| async move { socket.disconnect() });
        });
    }
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.connect("/custom").await;

    c.send(r#"42/custom,["bye"]"#).await;
    assert_eq!(c.recv().await, "41/custom,");
    let (_, reason) = next(&mut gone_custom, "the custom disconnect").await;
    assert_eq!(reason, DisconnectReason::ServerNamespaceDisconnect);

    c.send(r#"42["bye"]"#).await;
    assert_eq!(c.recv().await, "41");
    let (_, reason) = next(&mut gone, "the main disconnect").await;
    assert_eq!(reason, DisconnectReason::ServerNamespaceDisconnect);

    // The connection is still open: the client may connect again.
    c.connect("/").await;
    c.assert_echo("/", "back").await;
}

#[tokio::test]
async fn disconnect_all_disconnects_every_namespace_then_closes() {
    let io = echo_io();
    let mut gone = disconnects(&io.of("/"));
    let mut gone_custom = disconnects(&io.of("/custom"));
    io.on_connection(|socket: Socket| async move {
        socket.on(
            "quit",
            |socket: Socket| async move { socket.disconnect_all() },
        );
    });
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.connect("/custom").await;
    c.send(r#"42["quit"]"#).await;
    let mut frames = c.expect_closed().await;
    frames.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(
        frames,
        vec![Frame::Text("41".into()), Frame::Text("41/custom,".into())]
    );
    let (_, r1) = next(&mut gone, "the main disconnect").await;
    let (_, r2) = next(&mut gone_custom, "the custom disconnect").await;
    assert_eq!(r1, DisconnectReason::ServerNamespaceDisconnect);
    assert_eq!(r2, DisconnectReason::ServerNamespaceDisconnect);
}

impl TestServer {
    fn engine_sessions(&self) -> usize {
        self.io.engine().session_count()
    }
}
