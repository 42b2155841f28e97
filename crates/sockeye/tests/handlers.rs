//! Event handlers: typed extractors and payload mismatches, `on_any`
//! catch-alls, per-packet middlewares, and acks answered once.

mod common;

use common::*;
use serde::Deserialize;
use sockeye::{AckSender, Args, Data, Event, Socket, SocketError, SocketIo, Value};
use tokio::sync::mpsc;

#[derive(Debug, Deserialize, PartialEq)]
struct Move {
    x: i32,
    y: i32,
    label: Option<String>,
}

/// What the extractor tests' handlers saw.
#[derive(Debug, PartialEq)]
enum Seen {
    Move(Move),
    Pair(String, u32),
    Error(String, String),
}

fn typed_io() -> (SocketIo, mpsc::UnboundedReceiver<Seen>) {
    let io = SocketIo::builder().build().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            let t = tx.clone();
            socket.on("move", move |_s: Socket, Data(m): Data<Move>| {
                let t = t.clone();
                async move {
                    let _ = t.send(Seen::Move(m));
                }
            });
            let t = tx.clone();
            socket.on(
                "pair",
                move |_s: Socket, Args((a, b)): Args<(String, u32)>| {
                    let t = t.clone();
                    async move {
                        let _ = t.send(Seen::Pair(a, b));
                    }
                },
            );
            socket.on_error(move |_s: &Socket, e: &SocketError| {
                if let SocketError::Payload { event, error } = e {
                    let _ = tx.send(Seen::Error(event.clone(), error.to_string()));
                }
            });
        }
    });
    (io, rx)
}

#[tokio::test]
async fn typed_extractors_deserialize_structs_and_tuples() {
    let (io, mut seen) = typed_io();
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(r#"42["move",{"x":1,"y":-2}]"#).await;
    assert_eq!(
        next(&mut seen, "move").await,
        Seen::Move(Move {
            x: 1,
            y: -2,
            label: None
        })
    );
    c.send(r#"42["move",{"x":3,"y":4,"label":"here"},"ignored"]"#)
        .await;
    assert_eq!(
        next(&mut seen, "move").await,
        Seen::Move(Move {
            x: 3,
            y: 4,
            label: Some("here".into())
        })
    );
    c.send(r#"42["pair","a",7]"#).await;
    assert_eq!(next(&mut seen, "pair").await, Seen::Pair("a".into(), 7));
}

#[tokio::test]
async fn payload_mismatch_skips_the_handler_and_reports_the_error() {
    let (io, mut seen) = typed_io();
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    for (bad, event) in [
        (r#"42["move",{"x":"one","y":2}]"#, "move"),
        (r#"42["move"]"#, "move"),
        (r#"42["pair","a",-1]"#, "pair"),
        (r#"42["pair","a"]"#, "pair"),
        (r#"42["pair",1,2]"#, "pair"),
    ] {
        c.send(bad).await;
        match next(&mut seen, "the error").await {
            Seen::Error(ev, msg) => {
                assert_eq!(ev, event, "{bad}");
                assert!(!msg.is_empty());
            }
            other => panic!("{bad}: the handler ran: {other:?}"),
        }
    }
    // The socket keeps working.
    c.send(r#"42["pair","b",8]"#).await;
    assert_eq!(next(&mut seen, "pair").await, Seen::Pair("b".into(), 8));
    assert_empty(&mut seen);
}

#[tokio::test]
async fn on_any_sees_every_event_before_its_handler() {
    let io = SocketIo::builder().build().unwrap();
    let (tx, mut seen) = mpsc::unbounded_channel::<String>();
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            let t = tx.clone();
            socket.on_any(
                move |_s: Socket, Event(name): Event, Args(args): Args<Vec<Value>>| {
                    let t = t.clone();
                    async move {
                        let _ = t.send(format!("any {name} {}", args.len()));
                    }
                },
            );
            let t = tx.clone();
            socket.on("known", move |_s: Socket| {
                let t = t.clone();
                async move {
                    let _ = t.send("known".into());
                }
            });
        }
    });
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(r#"42["known",1]"#).await;
    c.send(r#"42["unknown",1,2]"#).await;
    c.send(r#"425["with-ack"]"#).await;
    c.send(&format!("451-[\"bin\",{}]", placeholder(0))).await;
    c.send_bin(&[1]).await;
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(next(&mut seen, "an event").await);
    }
    got.sort();
    assert_eq!(
        got,
        [
            "any bin 1",
            "any known 1",
            "any unknown 2",
            "any with-ack 0",
            "known"
        ]
    );
}

#[tokio::test]
async fn an_ack_is_sent_once_even_with_catch_all_handlers() {
    let io = SocketIo::builder().build().unwrap();
    io.on_connection(|socket: Socket| async move {
        socket.on_any(|_s: Socket, ack: AckSender| async move {
            let _ = ack.send(&"from any");
        });
        socket.on("ev", |_s: Socket, ack: AckSender| async move {
            let _ = ack.send(&"from on");
        });
        socket.on("marker", |socket: Socket| async move {
            let _ = socket.emit("marker", &());
        });
    });
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(r#"429["ev"]"#).await;
    let first = c.recv().await;
    assert!(first.starts_with("439["), "{first}");
    c.send(r#"42["marker"]"#).await;
    assert_eq!(c.recv().await, r#"42["marker",null]"#, "one ack only");
}

#[tokio::test]
async fn packet_middleware_refuses_an_event() {
    let io = SocketIo::builder().build().unwrap();
    let (tx, mut seen) = mpsc::unbounded_channel::<String>();
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            socket.use_middleware(|_s: &Socket, parts| {
                if parts.event == "forbidden" {
                    Err(format!("no {}", parts.event))
                } else {
                    Ok(())
                }
            });
            for name in ["forbidden", "allowed"] {
                socket.on(name, move |_s: Socket, ack: AckSender| async move {
                    let _ = ack.send(&name);
                });
            }
            socket.on_error(move |_s: &Socket, e: &SocketError| {
                if let SocketError::Middleware(m) = e {
                    let _ = tx.send(m.clone());
                }
            });
        }
    });
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(r#"421["forbidden"]"#).await;
    assert_eq!(next(&mut seen, "the refusal").await, "no forbidden");
    c.send(r#"422["allowed"]"#).await;
    // Nothing was sent for the refused event.
    assert_eq!(c.recv().await, r#"432["allowed"]"#);
}

/// A handler that panics before its first `.await` runs inline on the
/// connection's task: the panic is caught there, the connection keeps
/// working, and a later close still reaches the disconnect handlers.
#[tokio::test]
async fn a_panicking_handler_does_not_take_the_connection_down() {
    let io = SocketIo::builder().build().expect("build");
    let mut gone = disconnects(&io.of("/"));
    io.on_connection(|socket: Socket| async move {
        socket.on("boom", |_s: Socket| async move {
            panic!("a handler bug");
        });
        echo_handlers(socket).await;
    });
    let srv = serve(io.clone()).await;
    let mut ws = WsClient::open(srv.addr).await;
    ws.connect("/").await;
    ws.send(r#"42["boom"]"#).await;
    ws.assert_echo("/", "still here").await;
    assert_eq!(io.of("/").sockets().len(), 1);
    ws.close().await;
    let (_, reason) = next(&mut gone, "the disconnect").await;
    assert_eq!(reason, sockeye::DisconnectReason::TransportClose);
}
