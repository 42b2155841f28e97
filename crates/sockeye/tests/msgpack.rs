//! A server using the msgpack parser (`socket.io-msgpack-parser`): every
//! packet is one binary frame holding a msgpack map, binary data inline.
//! The client side is encoded and decoded with rmp-serde, independently of
//! the server's codec.

mod common;

use bytes::Bytes;
use common::*;
use sockeye::{Parser, Socket, SocketIo, Value};

fn msgpack_io() -> SocketIo {
    let io = SocketIo::builder().parser(Parser::MsgPack).build().unwrap();
    io.on_connection(echo_handlers);
    io.of("/custom").on_connection(echo_handlers);
    io
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn n(v: u64) -> Value {
    Value::Number(v.into())
}

fn bin(v: &[u8]) -> Value {
    Value::Binary(Bytes::copy_from_slice(v))
}

fn obj(entries: Vec<(&str, Value)>) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// A client packet, as notepack would write it.
fn packet(kind: u64, nsp: &str, id: Option<u64>, data: Option<Value>) -> Vec<u8> {
    let mut entries = vec![("type", n(kind)), ("nsp", s(nsp))];
    if let Some(id) = id {
        entries.push(("id", n(id)));
    }
    if let Some(data) = data {
        entries.push(("data", data));
    }
    rmp_serde::to_vec_named(&obj(entries)).unwrap()
}

/// The next server packet, decoded.
async fn recv_packet(c: &mut WsClient) -> Value {
    let frame = c.recv_bin().await;
    rmp_serde::from_slice(&frame).expect("a msgpack packet")
}

/// The keys of a packet map, in order.
fn keys(v: &Value) -> Vec<&str> {
    match v {
        Value::Object(e) => e.iter().map(|(k, _)| k.as_str()).collect(),
        other => panic!("a map expected, got {other:?}"),
    }
}

async fn connect(c: &mut WsClient, nsp: &str) -> String {
    c.send_bin(&packet(0, nsp, None, None)).await;
    let reply = recv_packet(c).await;
    assert_eq!(keys(&reply), ["type", "data", "nsp"], "{reply:?}");
    assert_eq!(reply.get("type"), Some(&n(0)));
    assert_eq!(reply.get("nsp"), Some(&s(nsp)));
    let data = reply.get("data").unwrap();
    assert_eq!(keys(data), ["sid"], "only `sid` in {reply:?}");
    let sid = data.get("sid").and_then(Value::as_str).unwrap().to_owned();
    assert_eq!(sid.len(), 20);
    sid
}

#[tokio::test]
async fn msgpack_connect_event_and_binary_round_trip() {
    let srv = serve(msgpack_io()).await;
    let mut c = WsClient::open(srv.addr).await;
    connect(&mut c, "/").await;
    let args = vec![
        s("message"),
        bin(&[1, 2, 3]),
        obj(vec![("k", bin(&[4])), ("n", n(5))]),
    ];
    c.send_bin(&packet(2, "/", None, Some(Value::Array(args))))
        .await;
    let back = recv_packet(&mut c).await;
    assert_eq!(keys(&back), ["type", "data", "nsp"]);
    assert_eq!(back.get("type"), Some(&n(2)));
    assert_eq!(back.get("nsp"), Some(&s("/")));
    assert_eq!(
        back.get("data"),
        Some(&Value::Array(vec![
            s("message-back"),
            bin(&[1, 2, 3]),
            obj(vec![("k", bin(&[4])), ("n", n(5))]),
        ]))
    );
}

#[tokio::test]
async fn msgpack_acks_in_both_directions() {
    let io = msgpack_io();
    let mut sockets = capture(&io.of("/custom"));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    connect(&mut c, "/custom").await;
    let args = Value::Array(vec![s("message-with-ack"), n(1), bin(&[9])]);
    c.send_bin(&packet(2, "/custom", Some(7), Some(args))).await;
    let ack = recv_packet(&mut c).await;
    assert_eq!(keys(&ack), ["type", "data", "id", "nsp"]);
    assert_eq!(ack.get("type"), Some(&n(3)));
    assert_eq!(ack.get("id"), Some(&n(7)));
    assert_eq!(ack.get("nsp"), Some(&s("/custom")));
    assert_eq!(ack.get("data"), Some(&Value::Array(vec![n(1), bin(&[9])])));

    // Server to client, with a binary answer.
    let socket: Socket = next(&mut sockets, "the socket").await;
    let ask = tokio::spawn(async move {
        socket
            .emit_with_ack::<_, Value>("q", &Value::Binary(Bytes::from_static(&[1])))
            .await
    });
    let q = recv_packet(&mut c).await;
    assert_eq!(q.get("type"), Some(&n(2)));
    assert_eq!(q.get("id"), Some(&n(0)));
    assert_eq!(q.get("data"), Some(&Value::Array(vec![s("q"), bin(&[1])])));
    c.send_bin(&packet(
        3,
        "/custom",
        Some(0),
        Some(Value::Array(vec![bin(&[2, 3])])),
    ))
    .await;
    let answer = within("the ack", ask).await.unwrap().unwrap();
    assert_eq!(answer, bin(&[2, 3]));
}

#[tokio::test]
async fn msgpack_unknown_namespace_and_disconnect() {
    let srv = serve(msgpack_io()).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send_bin(&packet(0, "/random", None, None)).await;
    let err = recv_packet(&mut c).await;
    assert_eq!(err.get("type"), Some(&n(4)));
    assert_eq!(err.get("nsp"), Some(&s("/random")));
    assert_eq!(
        err.get("data"),
        Some(&obj(vec![("message", s("Invalid namespace"))]))
    );
    connect(&mut c, "/").await;
    // Server-side disconnect: a DISCONNECT packet, no data.
    srv.io.broadcast().disconnect_sockets(false);
    let bye = recv_packet(&mut c).await;
    assert_eq!(bye, obj(vec![("type", n(1)), ("nsp", s("/"))]));
}

#[tokio::test]
async fn msgpack_server_rejects_text_and_garbage() {
    let srv = serve(msgpack_io()).await;
    let mut c = WsClient::open(srv.addr).await;
    connect(&mut c, "/").await;
    c.send(r#"42["message",1]"#).await;
    assert!(c.expect_closed().await.is_empty());

    let mut c = WsClient::open(srv.addr).await;
    connect(&mut c, "/").await;
    c.send_bin(&[0xc1, 0x00]).await;
    assert!(c.expect_closed().await.is_empty());

    // An EVENT whose data is not an array.
    let mut c = WsClient::open(srv.addr).await;
    connect(&mut c, "/").await;
    c.send_bin(&packet(2, "/", None, Some(s("message")))).await;
    assert!(c.expect_closed().await.is_empty());
}
