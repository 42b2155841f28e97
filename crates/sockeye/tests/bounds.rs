//! Every bound of the Socket.IO layer, exceeded by a real client: the
//! offender gets the protocol's clean error or close, the trip is counted
//! in `io.stats()`, and another client connected at the same time keeps
//! being served.

mod common;

use common::*;
use sockeye::{AckError, DisconnectReason, Parser, Socket, SocketError, SocketIo, TooManyRooms};
use std::time::Duration;
use tokio::sync::mpsc;

#[tokio::test]
async fn attachment_bytes_over_the_bound_close_the_connection() {
    let io = SocketIo::builder().max_attachment_bytes(8).build().unwrap();
    io.on_connection(echo_handlers);
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let mut b = bystander(&srv).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    // 4 + 4 bytes: at the bound, accepted.
    let header = format!("452-[\"message\",{},{}]", placeholder(0), placeholder(1));
    c.send(&header).await;
    c.send_bin(&[1; 4]).await;
    c.send_bin(&[2; 4]).await;
    assert_eq!(c.recv().await, header.replace("message", "message-back"));
    assert_eq!(c.recv_bin().await, [1; 4]);
    assert_eq!(c.recv_bin().await, [2; 4]);
    // 4 + 5 bytes: refused at the second attachment.
    c.send(&header).await;
    c.send_bin(&[1; 4]).await;
    c.send_bin(&[2; 5]).await;
    assert!(c.expect_closed().await.is_empty());
    let (_, reason) = next(&mut gone, "the disconnect").await;
    assert_eq!(reason, DisconnectReason::ParseError);
    assert_eq!(srv.io.stats().attachments_too_large, 1);
    assert_eq!(srv.io.stats().parse_errors, 0);
    b.assert_echo("/", "after").await;
}

#[tokio::test]
async fn attachment_count_over_the_bound_is_counted() {
    let io = SocketIo::builder().max_attachments(1).build().unwrap();
    io.on_connection(echo_handlers);
    let srv = serve(io).await;
    let mut b = bystander(&srv).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(&format!(
        "452-[\"message\",{},{}]",
        placeholder(0),
        placeholder(1)
    ))
    .await;
    assert!(c.expect_closed().await.is_empty());
    assert_eq!(srv.io.stats().too_many_attachments, 1);
    b.assert_echo("/", "after").await;
}

#[tokio::test]
async fn payload_depth_is_bounded_and_configurable() {
    let io = SocketIo::builder().max_payload_depth(4).build().unwrap();
    io.on_connection(echo_handlers);
    let srv = serve(io).await;
    let mut b = bystander(&srv).await;
    // `["message",[[["x"]]]]` is 4 deep: accepted and echoed.
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(r#"42["message",[[["x"]]]]"#).await;
    assert_eq!(c.recv().await, r#"42["message-back",[[["x"]]]]"#);
    // 5 deep, in an array or an object: closed.
    for deep in [
        r#"42["message",[[[["x"]]]]]"#,
        r#"42["message",{"a":{"b":{"c":{}}}}]"#,
    ] {
        let mut c = WsClient::open(srv.addr).await;
        c.connect("/").await;
        c.send(deep).await;
        assert!(c.expect_closed().await.is_empty(), "{deep}");
    }
    assert_eq!(srv.io.stats().payloads_too_deep, 2);
    b.assert_echo("/", "after").await;
}

#[tokio::test]
async fn hostile_nesting_never_overflows_the_stack() {
    // 100k `[` (in the arguments, and as the event name) with the default
    // bound, and msgpack nesting with the msgpack parser.
    let srv = serve(echo_io()).await;
    let mut b = bystander(&srv).await;
    for packet in [
        format!("42[\"message\",{}", "[".repeat(100_000)),
        format!("42[{}", "[".repeat(100_000)),
        format!("42[\"message\",{}", "{\"a\":".repeat(50_000)),
    ] {
        let mut c = WsClient::open(srv.addr).await;
        c.connect("/").await;
        c.send(&packet).await;
        assert!(c.expect_closed().await.is_empty());
    }
    assert_eq!(srv.io.stats().payloads_too_deep, 3);
    b.assert_echo("/", "after").await;

    let io = SocketIo::builder().parser(Parser::MsgPack).build().unwrap();
    io.on_connection(echo_handlers);
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send_bin(b"\x82\xa4type\x00\xa3nsp\xa1/").await;
    assert!(matches!(c.next_frame().await, Frame::Binary(_)));
    // {type: 2, nsp: "/", data: ["message", [[[...]]]]}
    let mut deep = b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa7message".to_vec();
    deep.extend(std::iter::repeat_n(0x91u8, 100_000));
    deep.push(0xc0);
    c.send_bin(&deep).await;
    assert!(c.expect_closed().await.is_empty());
    assert_eq!(srv.io.stats().payloads_too_deep, 1);
}

#[tokio::test]
async fn rooms_per_socket_are_capped() {
    let io = SocketIo::builder().max_rooms_per_socket(2).build().unwrap();
    let (tx, mut results) = mpsc::unbounded_channel();
    let (etx, mut errors) = mpsc::unbounded_channel();
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        let etx = etx.clone();
        async move {
            socket.on_error(move |_s: &Socket, e: &SocketError| {
                let _ = etx.send(e.to_string());
            });
            socket.on(
                "join",
                move |socket: Socket, sockeye::Data(room): sockeye::Data<String>| {
                    let tx = tx.clone();
                    async move {
                        let _ = tx.send(socket.try_join(room.as_str()));
                    }
                },
            );
            socket.on(
                "join-many",
                |socket: Socket, sockeye::Data(rooms): sockeye::Data<Vec<String>>| async move {
                    socket.join(rooms);
                },
            );
        }
    });
    let mut sockets = capture(&io.of("/"));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    let sid = c.connect("/").await;
    let socket = next(&mut sockets, "the socket").await;
    for room in ["a", "b", "a", sid.as_str()] {
        c.send(&format!("42[\"join\",\"{room}\"]")).await;
        assert_eq!(next(&mut results, "a join").await, Ok(()), "{room}");
    }
    c.send(r#"42["join","c"]"#).await;
    assert_eq!(
        next(&mut results, "a refused join").await,
        Err(TooManyRooms { max: 2 })
    );
    // `join` with several rooms: none joined, the error handlers told.
    c.send(r#"42["join-many",["a","d"]]"#).await;
    let error = next(&mut errors, "the join error").await;
    assert!(error.contains("too many rooms"), "{error}");
    let mut rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
    rooms.sort();
    let mut expected = vec!["a".to_owned(), "b".to_owned(), sid.clone()];
    expected.sort();
    assert_eq!(rooms, expected);
    assert_eq!(srv.io.stats().rooms_refused, 2);
    // Leaving one makes room.
    socket.leave("a");
    c.send(r#"42["join","c"]"#).await;
    assert_eq!(next(&mut results, "a join").await, Ok(()));
}

#[tokio::test]
async fn pending_acks_bound_applies_to_broadcasts_and_is_counted() {
    let io = SocketIo::builder()
        .max_pending_acks(1)
        .ack_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut sockets = capture(&io.of("/"));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let socket = next(&mut sockets, "the socket").await;
    let mut d = WsClient::open(srv.addr).await;
    d.connect("/").await;
    let other = next(&mut sockets, "the other socket").await;
    // c's socket waits for one ack already.
    let pending = {
        let socket = socket.clone();
        tokio::spawn(async move { socket.timeout(WAIT).emit_with_ack::<_, u8>("q", &0).await })
    };
    assert_eq!(c.recv().await, r#"420["q",0]"#);
    let refused: Result<u8, _> = socket.emit_with_ack("q", &1).await;
    assert!(
        matches!(refused, Err(AckError::TooManyPending)),
        "{refused:?}"
    );
    // The broadcast reaches d only; c's socket is reported missing.
    let broadcast = {
        let io = srv.io.clone();
        tokio::spawn(async move { io.broadcast().emit_with_ack::<_, u8>("b", &1).await })
    };
    let frame = d.recv().await;
    let id: String = frame[2..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    d.send(&format!("43{id}[5]")).await;
    let err = within("the broadcast", broadcast)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.missing, vec![socket.id()]);
    assert_eq!(err.responses.len(), 1);
    assert_eq!(err.responses[0].id, Some(other.id()));
    assert_eq!(srv.io.stats().acks_refused, 2);
    c.send("430[9]").await;
    assert_eq!(within("the ack", pending).await.unwrap().unwrap(), 9);
}

#[tokio::test]
async fn a_huge_join_is_checked_in_linear_time() {
    let io = SocketIo::builder()
        .max_rooms_per_socket(1000)
        .build()
        .unwrap();
    let mut sockets = capture(&io.of("/"));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let socket = next(&mut sockets, "the socket").await;
    let distinct: Vec<String> = (0..100_000).map(|i| format!("r{i}")).collect();
    let repeated: Vec<String> = (0..100_000).map(|i| format!("d{}", i % 1000)).collect();
    let started = std::time::Instant::now();
    // 100k names: refused at the 1001st, nothing joined.
    assert_eq!(socket.try_join(distinct), Err(TooManyRooms { max: 1000 }));
    // 100k names, 1000 of them distinct: accepted.
    assert_eq!(socket.try_join(repeated), Ok(()));
    // Full: one more is refused, one already held is fine.
    assert!(socket.try_join("one-more").is_err());
    assert_eq!(
        socket.try_join(vec!["d7".to_owned(), "d7".to_owned()]),
        Ok(())
    );
    // The checks are synchronous (no timeout can cut them short): the
    // quadratic version took about 2 minutes here, this one about 1 s in a
    // debug build.
    let elapsed = started.elapsed();
    eprintln!("two 100k-name joins checked in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    assert_eq!(socket.rooms().len(), 1001);
    assert_eq!(srv.io.stats().rooms_refused, 2);
}
