//! Events on the wire: plain and binary events in both directions,
//! client-requested acks (ACK and BINARY_ACK), event names.

mod common;

use bytes::Bytes;
use common::*;
use sockeye::{AckSender, Data, Socket, SocketIo, Value};
use tokio::sync::mpsc;

#[tokio::test]
async fn plain_event_round_trip() {
    let srv = serve(echo_io()).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(r#"42["message",1,"2",{"3":[true]}]"#).await;
    assert_eq!(c.recv().await, r#"42["message-back",1,"2",{"3":[true]}]"#);
    // Keys keep their order, floats their JavaScript form.
    c.send(r#"42["message",{"z":1,"a":[1.5,-0.25,1e21]},null]"#)
        .await;
    assert_eq!(
        c.recv().await,
        r#"42["message-back",{"z":1,"a":[1.5,-0.25,1e+21]},null]"#
    );
}

#[tokio::test]
async fn numeric_event_names_are_valid() {
    let io = echo_io();
    io.on_connection(|socket: Socket| async move {
        socket.on("1", |socket: Socket, Data(v): Data<String>| async move {
            let _ = socket.emit("one", &v);
        });
    });
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(r#"42[1,"x"]"#).await;
    assert_eq!(c.recv().await, r#"42["one","x"]"#);
}

/// Deliberate: a BINARY_EVENT announcing 0 attachments is refused, as
/// socket.io-parser 4.2.7 does (older decoders emitted it and were left in
/// a broken state).
#[tokio::test]
async fn binary_event_with_zero_attachments_closes() {
    let srv = serve(echo_io()).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(r#"450-["message",1]"#).await;
    c.expect_closed().await;
}

#[tokio::test]
async fn client_ack_is_answered_with_the_same_id_and_namespace() {
    let srv = serve(echo_io()).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.connect("/custom").await;
    c.send(r#"42456["message-with-ack",1,"2",{"3":[false]}]"#)
        .await;
    assert_eq!(c.recv().await, r#"43456[1,"2",{"3":[false]}]"#);
    c.send(r#"42/custom,7["message-with-ack","x"]"#).await;
    assert_eq!(c.recv().await, r#"43/custom,7["x"]"#);
    // No arguments: an empty array.
    c.send(r#"420["message-with-ack"]"#).await;
    assert_eq!(c.recv().await, "430[]");
}

#[tokio::test]
async fn ack_sender_knows_whether_an_answer_is_expected() {
    let io = SocketIo::builder().build().unwrap();
    let (tx, mut expected) = mpsc::unbounded_channel();
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            socket.on("ev", move |_s: Socket, ack: AckSender| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(ack.is_expected());
                    let _ = ack.send(&"done");
                }
            });
        }
    });
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(r#"42["ev"]"#).await;
    assert!(!next(&mut expected, "the handler").await);
    c.send(r#"4212["ev"]"#).await;
    assert!(next(&mut expected, "the handler").await);
    // Only the second one is answered.
    assert_eq!(c.recv().await, r#"4312["done"]"#);
}

#[tokio::test]
async fn binary_event_round_trip() {
    let srv = serve(echo_io()).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(&format!(
        "452-[\"message\",{},{}]",
        placeholder(0),
        placeholder(1)
    ))
    .await;
    c.send_bin(&[1, 2, 3]).await;
    c.send_bin(&[4, 5, 6]).await;
    assert_eq!(
        c.recv().await,
        format!(
            "452-[\"message-back\",{},{}]",
            placeholder(0),
            placeholder(1)
        )
    );
    assert_eq!(c.recv_bin().await, [1, 2, 3]);
    assert_eq!(c.recv_bin().await, [4, 5, 6]);
}

#[tokio::test]
async fn binary_ack_round_trip() {
    let srv = serve(echo_io()).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(&format!(
        "452-789[\"message-with-ack\",{},{}]",
        placeholder(0),
        placeholder(1)
    ))
    .await;
    c.send_bin(&[1, 2, 3]).await;
    c.send_bin(&[4, 5, 6]).await;
    assert_eq!(
        c.recv().await,
        format!("462-789[{},{}]", placeholder(0), placeholder(1))
    );
    assert_eq!(c.recv_bin().await, [1, 2, 3]);
    assert_eq!(c.recv_bin().await, [4, 5, 6]);
}

#[tokio::test]
async fn server_emits_binary_as_placeholders_and_frames() {
    let io = SocketIo::builder().build().unwrap();
    io.of("/custom").on_connection(|socket: Socket| async move {
        let file = Value::Object(vec![
            ("name".into(), Value::String("a.bin".into())),
            ("data".into(), Value::Binary(Bytes::from_static(&[9, 8]))),
        ]);
        let _ = socket.emit_args("file", (&file, Value::Binary(Bytes::from_static(&[7]))));
    });
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/custom").await;
    assert_eq!(
        c.recv().await,
        format!(
            "452-/custom,[\"file\",{{\"name\":\"a.bin\",\"data\":{}}},{}]",
            placeholder(0),
            placeholder(1)
        )
    );
    assert_eq!(c.recv_bin().await, [9, 8]);
    assert_eq!(c.recv_bin().await, [7]);
}

#[tokio::test]
async fn ack_with_binary_is_a_binary_ack() {
    let io = SocketIo::builder().build().unwrap();
    io.of("/custom").on_connection(|socket: Socket| async move {
        socket.on("get", |_s: Socket, ack: AckSender| async move {
            let _ = ack.send(&Value::Binary(Bytes::from_static(&[5, 6])));
        });
    });
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/custom").await;
    c.send(r#"42/custom,31["get"]"#).await;
    assert_eq!(
        c.recv().await,
        format!("461-/custom,31[{}]", placeholder(0))
    );
    assert_eq!(c.recv_bin().await, [5, 6]);
}

#[tokio::test]
async fn reserved_event_names_cannot_be_emitted() {
    let io = SocketIo::builder().build().unwrap();
    let mut sockets = capture(&io.of("/"));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let socket = next(&mut sockets, "the socket").await;
    for name in [
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    ] {
        let err = socket.emit(name, &1).unwrap_err();
        assert!(
            matches!(err, sockeye::EmitError::ReservedEvent(_)),
            "{name}"
        );
        assert!(srv.io.emit(name, &1).is_err(), "{name}");
    }
    socket.emit("fine", &1).unwrap();
    assert_eq!(c.recv().await, r#"42["fine",1]"#);
}
