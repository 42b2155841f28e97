//! Acknowledgements asked by the server: `emit_with_ack` on one socket
//! (ids, success, timeout, typed and binary replies) and on a broadcast,
//! and hostile acks for unknown ids.

mod common;

use common::*;
use serde::Deserialize;
use sockeye::{AckError, AckResponse, Socket, SocketIo, Value};
use std::time::Duration;
use tokio::sync::mpsc;

/// A server that hands out its sockets, on `/` and `/custom`.
async fn setup() -> (
    TestServer,
    mpsc::UnboundedReceiver<Socket>,
    mpsc::UnboundedReceiver<Socket>,
) {
    let io = SocketIo::builder().build().unwrap();
    let main = capture(&io.of("/"));
    let custom = capture(&io.of("/custom"));
    (serve(io).await, main, custom)
}

/// Runs `emit_with_ack` on its own task; the result comes on the channel.
fn ask<R: serde::de::DeserializeOwned + Send + 'static>(
    socket: &Socket,
    timeout: Duration,
    data: serde_json::Value,
) -> mpsc::UnboundedReceiver<Result<R, AckError>> {
    let (tx, rx) = mpsc::unbounded_channel();
    let socket = socket.clone();
    tokio::spawn(async move {
        let r = socket.timeout(timeout).emit_with_ack("q", &data).await;
        let _ = tx.send(r);
    });
    rx
}

#[tokio::test]
async fn emit_with_ack_resolves_with_the_first_argument() {
    let (srv, mut sockets, _) = setup().await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let socket = next(&mut sockets, "the socket").await;
    let mut reply = ask::<String>(&socket, WAIT, serde_json::json!({"n": 1}));
    assert_eq!(c.recv().await, r#"420["q",{"n":1}]"#);
    c.send(r#"430["answer","ignored"]"#).await;
    assert_eq!(next(&mut reply, "the ack").await.unwrap(), "answer");
    // A second ack for the same id is ignored.
    c.send(r#"430["again"]"#).await;
    // Ids count up per namespace.
    let mut reply = ask::<u32>(&socket, WAIT, serde_json::json!(2));
    assert_eq!(c.recv().await, r#"421["q",2]"#);
    c.send("431[5]").await;
    assert_eq!(next(&mut reply, "the ack").await.unwrap(), 5);
}

#[tokio::test]
async fn ack_ids_are_counted_per_namespace_across_sockets() {
    let (srv, mut main, mut custom) = setup().await;
    let mut a = WsClient::open(srv.addr).await;
    let mut b = WsClient::open(srv.addr).await;
    a.connect("/").await;
    let sa = next(&mut main, "a").await;
    b.connect("/").await;
    let sb = next(&mut main, "b").await;
    a.connect("/custom").await;
    let sc = next(&mut custom, "a on /custom").await;

    let mut ra = ask::<String>(&sa, WAIT, "to a".into());
    assert_eq!(a.recv().await, r#"420["q","to a"]"#);
    let mut rb = ask::<String>(&sb, WAIT, "to b".into());
    assert_eq!(b.recv().await, r#"421["q","to b"]"#);
    let mut rc = ask::<String>(&sc, WAIT, "custom".into());
    assert_eq!(a.recv().await, r#"42/custom,0["q","custom"]"#);

    // An answer is matched by socket and id: b cannot answer a's id 0.
    b.send(r#"430["from b"]"#).await;
    b.send(r#"431["b"]"#).await;
    assert_eq!(next(&mut rb, "b's ack").await.unwrap(), "b");
    a.send(r#"43/custom,0["c"]"#).await;
    assert_eq!(next(&mut rc, "the /custom ack").await.unwrap(), "c");
    a.send(r#"430["a"]"#).await;
    assert_eq!(next(&mut ra, "a's ack").await.unwrap(), "a");
}

#[tokio::test]
async fn emit_with_ack_times_out() {
    let (srv, mut sockets, _) = setup().await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let socket = next(&mut sockets, "the socket").await;
    let mut reply = ask::<Value>(&socket, Duration::from_millis(50), 1.into());
    assert_eq!(c.recv().await, r#"420["q",1]"#);
    let err = next(&mut reply, "the timeout").await.unwrap_err();
    assert!(matches!(err, AckError::Timeout), "{err:?}");
    assert_eq!(err.to_string(), "operation has timed out");
    // A late answer is ignored and the socket keeps working.
    c.send(r#"430["late"]"#).await;
    let mut reply = ask::<String>(&socket, WAIT, 2.into());
    assert_eq!(c.recv().await, r#"421["q",2]"#);
    c.send(r#"431["on time"]"#).await;
    assert_eq!(next(&mut reply, "the ack").await.unwrap(), "on time");
}

#[tokio::test]
async fn default_ack_timeout_comes_from_the_builder() {
    let io = SocketIo::builder()
        .ack_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let mut sockets = capture(&io.of("/"));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let socket = next(&mut sockets, "the socket").await;
    let r: Result<Value, _> = within("the timeout", socket.emit_with_ack("q", &1)).await;
    assert!(matches!(r, Err(AckError::Timeout)), "{r:?}");
    assert_eq!(c.recv().await, r#"420["q",1]"#);
}

#[derive(Debug, Deserialize, PartialEq)]
struct Reply {
    ok: bool,
    n: u32,
}

#[tokio::test]
async fn typed_and_mismatched_replies() {
    let (srv, mut sockets, _) = setup().await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let socket = next(&mut sockets, "the socket").await;
    let mut reply = ask::<Reply>(&socket, WAIT, 0.into());
    assert_eq!(c.recv().await, r#"420["q",0]"#);
    c.send(r#"430[{"ok":true,"n":3}]"#).await;
    assert_eq!(
        next(&mut reply, "the ack").await.unwrap(),
        Reply { ok: true, n: 3 }
    );
    let mut reply = ask::<Reply>(&socket, WAIT, 0.into());
    assert_eq!(c.recv().await, r#"421["q",0]"#);
    c.send(r#"431[{"ok":"yes"}]"#).await;
    let err = next(&mut reply, "the ack").await.unwrap_err();
    assert!(matches!(err, AckError::Payload(_)), "{err:?}");
    // No argument: read as null.
    let mut reply = ask::<Option<u8>>(&socket, WAIT, 0.into());
    assert_eq!(c.recv().await, r#"422["q",0]"#);
    c.send("432[]").await;
    assert_eq!(next(&mut reply, "the ack").await.unwrap(), None);
}

#[tokio::test]
async fn binary_ack_from_the_client() {
    let (srv, mut sockets, _) = setup().await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let socket = next(&mut sockets, "the socket").await;
    let mut reply = ask::<Value>(&socket, WAIT, 0.into());
    assert_eq!(c.recv().await, r#"420["q",0]"#);
    c.send(&format!("461-0[{{\"file\":{}}}]", placeholder(0)))
        .await;
    c.send_bin(&[0xde, 0xad]).await;
    let v = next(&mut reply, "the ack").await.unwrap();
    assert_eq!(
        v.get("file").and_then(Value::as_binary).map(|b| b.to_vec()),
        Some(vec![0xde, 0xad])
    );
}

#[tokio::test]
async fn emit_with_ack_with_binary_data() {
    let (srv, mut sockets, _) = setup().await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let socket = next(&mut sockets, "the socket").await;
    let ask = tokio::spawn(async move {
        socket
            .emit_with_ack::<_, u8>("q", &Value::Binary(bytes::Bytes::from_static(&[1, 2])))
            .await
    });
    assert_eq!(c.recv().await, format!("451-0[\"q\",{}]", placeholder(0)));
    assert_eq!(c.recv_bin().await, [1, 2]);
    c.send("430[3]").await;
    assert_eq!(within("the ack", ask).await.unwrap().unwrap(), 3);
}

#[tokio::test]
async fn pending_acks_are_bounded_per_socket() {
    let io = SocketIo::builder().max_pending_acks(2).build().unwrap();
    let mut sockets = capture(&io.of("/"));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let socket = next(&mut sockets, "the socket").await;
    let mut r0 = ask::<u8>(&socket, WAIT, 0.into());
    assert_eq!(c.recv().await, r#"420["q",0]"#);
    let _r1 = ask::<u8>(&socket, WAIT, 1.into());
    assert_eq!(c.recv().await, r#"421["q",1]"#);
    let third: Result<u8, _> = within("a refusal", socket.emit_with_ack("q", &2)).await;
    assert!(matches!(third, Err(AckError::TooManyPending)), "{third:?}");
    // Once one is answered, there is room again.
    c.send("430[7]").await;
    assert_eq!(next(&mut r0, "the ack").await.unwrap(), 7);
    let _r3 = ask::<u8>(&socket, WAIT, 3.into());
    let frame = c.recv().await;
    assert!(frame.ends_with(r#"["q",3]"#), "{frame}");
}

#[tokio::test]
async fn disconnect_fails_pending_acks() {
    let (srv, mut sockets, _) = setup().await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let socket = next(&mut sockets, "the socket").await;
    let mut reply = ask::<Value>(&socket, WAIT, 0.into());
    assert_eq!(c.recv().await, r#"420["q",0]"#);
    c.send("41").await;
    let err = next(&mut reply, "the failure").await.unwrap_err();
    assert!(matches!(err, AckError::Disconnected), "{err:?}");
}

#[tokio::test]
async fn hostile_acks_for_unknown_ids_are_ignored() {
    let (srv, mut sockets, _) = setup().await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let socket = next(&mut sockets, "the socket").await;
    let mut reply = ask::<String>(&socket, WAIT, 0.into());
    assert_eq!(c.recv().await, r#"420["q",0]"#);
    let flood = (1..=5000u64)
        .map(|i| format!("43{}[\"fake {i}\"]", i * 7919))
        .chain(["43[]".to_owned(), "4318446744073709551615[1]".to_owned()]);
    c.send_all(flood).await;
    c.send(r#"430["real"]"#).await;
    assert_eq!(next(&mut reply, "the real ack").await.unwrap(), "real");
    assert!(socket.connected());
    // Still usable afterwards.
    let mut reply = ask::<String>(&socket, WAIT, 1.into());
    assert_eq!(c.recv().await, r#"421["q",1]"#);
    c.send(r#"431["ok"]"#).await;
    assert_eq!(next(&mut reply, "the ack").await.unwrap(), "ok");
}

#[tokio::test]
async fn broadcast_emit_with_ack_collects_every_answer_under_one_id() {
    let (srv, mut sockets, _) = setup().await;
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let mut c = WsClient::open(srv.addr).await;
        c.connect("/").await;
        ids.push(next(&mut sockets, "a socket").await.id());
        clients.push(c);
    }
    let io = srv.io.clone();
    let (tx, mut result) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let r = io.timeout(WAIT).emit_with_ack::<_, u32>("q", &"all").await;
        let _ = tx.send(r);
    });
    for (n, c) in clients.iter_mut().enumerate() {
        // One id for every recipient: the namespace's first, 0.
        assert_eq!(c.recv().await, r#"420["q","all"]"#);
        c.send(&format!("430[{n}]")).await;
    }
    let mut got = next(&mut result, "the answers").await.unwrap();
    got.sort_by_key(|r| r.value);
    let want: Vec<_> = (0..3)
        .map(|n| {
            AckResponse::new(Some(ids[n].clone()), n as u32).with_args(vec![Value::from(n as u32)])
        })
        .collect();
    assert_eq!(got, want, "each answer with its socket");
}

#[tokio::test]
async fn broadcast_emit_with_ack_reports_the_missing_answer_on_timeout() {
    let (srv, mut sockets, _) = setup().await;
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let mut c = WsClient::open(srv.addr).await;
        c.connect("/").await;
        ids.push(next(&mut sockets, "a socket").await.id());
        clients.push(c);
    }
    let io = srv.io.clone();
    let (tx, mut result) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let r = io
            .timeout(Duration::from_millis(300))
            .emit_with_ack::<_, String>("q", &1)
            .await;
        let _ = tx.send(r);
    });
    for c in clients.iter_mut() {
        assert_eq!(c.recv().await, r#"420["q",1]"#);
    }
    clients[0].send(r#"430["a"]"#).await;
    clients[2].send(r#"430["c"]"#).await;
    let err = next(&mut result, "the timeout").await.unwrap_err();
    let mut responses = err.responses.clone();
    responses.sort_by(|a, b| a.value.cmp(&b.value));
    assert_eq!(
        responses,
        vec![
            AckResponse::new(Some(ids[0].clone()), "a".to_owned()).with_args(vec!["a".into()]),
            AckResponse::new(Some(ids[2].clone()), "c".to_owned()).with_args(vec!["c".into()])
        ]
    );
    assert_eq!(err.missing, vec![ids[1].clone()]);
    assert_eq!((err.missing_remote, err.silent_nodes), (0, 0));
    assert!(
        err.to_string().starts_with("operation has timed out"),
        "{err}"
    );
    // The late answer is ignored.
    clients[1].send(r#"430["late"]"#).await;
    clients[1].assert_no_close().await;
}

#[tokio::test]
async fn acks_with_several_arguments_are_read_whole_with_args() {
    let (srv, mut sockets, _) = setup().await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let socket = next(&mut sockets, "the socket").await;

    // `callback(5, {test: true})` on the client: the first argument typed,
    // or every argument as a tuple or as raw values.
    let s = socket.clone();
    let first = tokio::spawn(async move { s.emit_with_ack::<_, u32>("q", &1).await });
    assert_eq!(c.recv().await, r#"420["q",1]"#);
    c.send(r#"430[5,{"test":true}]"#).await;
    assert_eq!(within("first", first).await.unwrap().unwrap(), 5);

    #[derive(Debug, Deserialize, PartialEq)]
    struct Test {
        test: bool,
    }
    let s = socket.clone();
    let both = tokio::spawn(async move {
        s.emit_with_ack::<_, sockeye::Args<(u32, Test)>>("q", &2)
            .await
    });
    assert_eq!(c.recv().await, r#"421["q",2]"#);
    c.send(r#"431[5,{"test":true}]"#).await;
    let sockeye::Args(got) = within("both", both).await.unwrap().unwrap();
    assert_eq!(got, (5, Test { test: true }));

    // Several arguments out, raw values (binary included) back.
    let s = socket.clone();
    let raw = tokio::spawn(async move {
        s.timeout(WAIT)
            .emit_args_with_ack::<_, sockeye::Args<Vec<Value>>>("q", ("a", 3))
            .await
    });
    assert_eq!(c.recv().await, r#"422["q","a",3]"#);
    c.send(r#"461-2[{"_placeholder":true,"num":0},null]"#).await;
    c.send_bin(&[1, 2]).await;
    let sockeye::Args(values) = within("raw", raw).await.unwrap().unwrap();
    assert_eq!(
        values,
        vec![Value::from(bytes::Bytes::from_static(&[1, 2])), Value::Null]
    );
    // A tuple that does not match is a payload error, not a panic.
    let s = socket.clone();
    let bad = tokio::spawn(async move {
        s.emit_with_ack::<_, sockeye::Args<(u32, u32, u32)>>("q", &4)
            .await
    });
    assert_eq!(c.recv().await, r#"423["q",4]"#);
    c.send(r#"433[1]"#).await;
    assert!(matches!(
        within("bad", bad).await.unwrap(),
        Err(AckError::Payload(_))
    ));

    // A broadcast: every answer with all its arguments, several arguments
    // out with `emit_args_with_ack`.
    let io = srv.io.clone();
    let all = tokio::spawn(async move {
        io.timeout(WAIT)
            .emit_args_with_ack::<_, sockeye::Args<(String, u32, bool)>>("b", ("x", 1))
            .await
    });
    assert_eq!(c.recv().await, r#"424["b","x",1]"#);
    c.send(r#"434["y",2,true]"#).await;
    let answers = within("broadcast", all).await.unwrap().unwrap();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].id, Some(socket.id()));
    assert_eq!(answers[0].value.0, ("y".to_owned(), 2, true));
    assert_eq!(
        answers[0].args,
        vec![Value::from("y"), Value::from(2), Value::from(true)]
    );
}

impl WsClient {
    /// The connection is still open: a CONNECT to `/custom` is answered.
    async fn assert_no_close(&mut self) {
        self.connect("/custom").await;
    }
}
