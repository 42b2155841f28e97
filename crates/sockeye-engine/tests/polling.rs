//! HTTP long-polling: payload limits, overlapping and aborted requests,
//! parse errors, binary, batching, compression and closes.

mod common;

use bytes::Bytes;
use common::*;
use http::{Method, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use sockeye_engine::{CloseReason, EngineConfig, HttpCompression, Message};
use std::io::Read as _;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

fn text(s: &str) -> Message {
    Message::Text(s.to_owned().into())
}

#[tokio::test]
async fn post_over_max_payload_by_content_length_is_413_and_harmless() {
    let mut server = TestServer::start(EngineConfig::default().with_max_payload(100)).await;
    let client = Polling::open(server.addr).await;
    let big = format!("4{}", "x".repeat(100));
    let res = client.post(big).await;
    res.assert_empty(413);
    // Exactly the limit is fine.
    let max = format!("4{}", "y".repeat(99));
    client.send(max.clone()).await;
    assert_eq!(server.events.message(&client.sid).await, text(&max[1..]));
    assert_eq!(client.poll().await, max);
    client.send("4after").await;
    assert_eq!(client.poll().await, "4after");
    // The oversized body never reached the handler.
    assert_eq!(server.events.message(&client.sid).await, text("after"));
    server.events.assert_open(&client.sid);
}

#[tokio::test]
async fn chunked_post_over_max_payload_is_413_and_harmless() {
    let mut server = TestServer::start(EngineConfig::default().with_max_payload(100)).await;
    let client = Polling::open(server.addr).await;
    let (tx, rx) = mpsc::unbounded_channel();
    for _ in 0..3 {
        tx.send(Bytes::from(vec![b'4'; 60])).unwrap();
    }
    drop(tx);
    let request = req(Method::POST, &client.url(""))
        .body(ChannelBody(rx))
        .unwrap();
    assert!(request.headers().get("content-length").is_none());
    send(server.addr, request).await.assert_empty(413);

    // A chunked body within the limit is read whole.
    let (tx, rx) = mpsc::unbounded_channel();
    tx.send(Bytes::from_static(b"4chu")).unwrap();
    tx.send(Bytes::from_static(b"nked")).unwrap();
    drop(tx);
    send(
        server.addr,
        req(Method::POST, &client.url(""))
            .body(ChannelBody(rx))
            .unwrap(),
    )
    .await
    .assert_ok();
    assert_eq!(server.events.message(&client.sid).await, text("chunked"));
    assert_eq!(client.poll().await, "4chunked");
    server.events.assert_open(&client.sid);
}

#[tokio::test]
async fn second_concurrent_get_is_400_and_closes_the_session() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let client = std::sync::Arc::new(Polling::open(server.addr).await);
    let first = tokio::spawn({
        let client = client.clone();
        async move { client.get_marked("first").await }
    });
    server.parked.wait("t=first").await;
    client.get_marked("burst").await.assert_empty(400);
    let first = first.await.unwrap();
    assert_eq!((first.status, first.text()), (StatusCode::OK, "1"));
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::TransportError
    );
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");
    assert!(!server.knows(&client.sid));
}

#[tokio::test]
async fn aborted_get_closes_the_session_with_transport_error() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let request = req(Method::GET, &client.url("&t=abort"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let pending = tokio::spawn(async move { sender.send_request(request).await });
    server.parked.wait("t=abort").await;
    // The client goes away: the connection is dropped, the poll with it.
    pending.abort();
    conn.abort();
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::TransportError
    );
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");
}

#[tokio::test]
async fn post_aborted_mid_body_closes_the_session_with_transport_error() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let (tx, rx) = mpsc::unbounded_channel();
    tx.send(Bytes::from_static(b"4half")).unwrap();
    let request = req(Method::POST, &client.url("&t=cut"))
        .body(ChannelBody(rx))
        .unwrap();
    let pending = tokio::spawn(async move { sender.send_request(request).await });
    server.parked.wait("t=cut").await;
    pending.abort();
    conn.abort();
    drop(tx);
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::TransportError
    );
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");
}

#[tokio::test]
async fn second_concurrent_post_is_400_and_closes_the_session() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    let (tx, rx) = mpsc::unbounded_channel();
    tx.send(Bytes::from_static(b"4par")).unwrap();
    let first = tokio::spawn(send(
        server.addr,
        req(Method::POST, &client.url("&t=slow"))
            .body(ChannelBody(rx))
            .unwrap(),
    ));
    server.parked.wait("t=slow").await;
    client.post("4second").await.assert_empty(400);
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::TransportError
    );
    tx.send(Bytes::from_static(b"tial")).unwrap();
    drop(tx);
    first.await.unwrap().assert_ok();
    // Neither body reached the handler.
    let messages: Vec<_> = server
        .events
        .pending()
        .into_iter()
        .filter(|e| matches!(e, Event::Message { .. }))
        .collect();
    assert!(messages.is_empty(), "{messages:?}");
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");
}

#[tokio::test]
async fn bad_packet_is_a_parse_error() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    client.post("abc").await.assert_ok();
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::ParseError
    );
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");

    // Packets before the bad one are delivered, the rest is not.
    let client = Polling::open(server.addr).await;
    client.post("4good\u{1e}9bad\u{1e}4never").await.assert_ok();
    assert_eq!(server.events.message(&client.sid).await, text("good"));
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::ParseError
    );
    let late: Vec<_> = server
        .events
        .pending()
        .into_iter()
        .filter(|e| matches!(e, Event::Message { .. }))
        .collect();
    assert!(late.is_empty(), "{late:?}");
}

#[tokio::test]
async fn binary_is_base64_both_ways() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    client.send("bAQIDBA==").await;
    assert_eq!(
        server.events.message(&client.sid).await,
        Message::Binary(Bytes::from_static(&[1, 2, 3, 4]))
    );
    assert_eq!(client.poll().await, "bAQIDBA==");

    client.send("4hello\u{1e}bAQIDBA==").await;
    assert_eq!(server.events.message(&client.sid).await, text("hello"));
    assert_eq!(
        server.events.message(&client.sid).await,
        Message::Binary(Bytes::from_static(&[1, 2, 3, 4]))
    );
    assert_eq!(client.poll().await, "4hello\u{1e}bAQIDBA==");

    // Bytes that are not UTF-8, and an empty binary message.
    server
        .session(&client.sid)
        .send_binary(Bytes::from_static(&[0xff, 0x00, 0xfe]))
        .unwrap();
    assert_eq!(client.poll().await, "b/wD+");
    server
        .session(&client.sid)
        .send_binary(Bytes::new())
        .unwrap();
    assert_eq!(client.poll().await, "b");
}

#[tokio::test]
async fn packets_queued_together_leave_in_one_response() {
    let server = TestServer::start_silent(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    let session = server.session(&client.sid);
    session.send_text("a").unwrap();
    session.send_binary(Bytes::from_static(&[1, 2])).unwrap();
    session.send_text("c").unwrap();
    session.send_encoded("4pre-encoded".into()).unwrap();
    assert_eq!(
        client.poll().await,
        "4a\u{1e}bAQI=\u{1e}4c\u{1e}4pre-encoded"
    );

    // A pending poll answered by one batch.
    let client = std::sync::Arc::new(client);
    let mut server = server;
    let poll = tokio::spawn({
        let client = client.clone();
        async move { client.get_marked("wait").await }
    });
    server.parked.wait("t=wait").await;
    assert!(session.is_writable());
    session
        .send_many([
            text("x"),
            text("y"),
            Message::Binary(Bytes::from_static(b"z")),
        ])
        .unwrap();
    let res = poll.await.unwrap();
    assert_eq!(res.text(), "4x\u{1e}4y\u{1e}beg==");
    assert!(!session.is_writable());
}

async fn get_with_encoding(client: &Polling, accept: Option<&str>) -> Resp {
    let mut builder = req(Method::GET, &client.url(""));
    if let Some(accept) = accept {
        builder = builder.header("accept-encoding", accept);
    }
    send(client.addr, builder.body(Full::new(Bytes::new())).unwrap()).await
}

#[tokio::test]
async fn responses_over_the_threshold_are_compressed() {
    let server = TestServer::start_silent(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    let session = server.session(&client.sid);
    let big = "z".repeat(2000);

    session.send_text(big.clone()).unwrap();
    let res = get_with_encoding(&client, Some("gzip, deflate, br")).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    assert_eq!(
        res.header("content-length"),
        Some(res.body.len().to_string().as_str())
    );
    assert!(res.body.len() < 200, "compressed: {}", res.body.len());
    let mut out = String::new();
    flate2::read::GzDecoder::new(&res.body[..])
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, format!("4{big}"));

    session.send_text(big.clone()).unwrap();
    let res = get_with_encoding(&client, Some("deflate")).await;
    assert_eq!(res.header("content-encoding"), Some("deflate"));
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(&res.body[..])
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, format!("4{big}"));

    // Not accepted, or refused with q=0: plain.
    for accept in [None, Some("br"), Some("gzip;q=0")] {
        session.send_text(big.clone()).unwrap();
        let res = get_with_encoding(&client, accept).await;
        assert!(res.header("content-encoding").is_none(), "{accept:?}");
        assert_eq!(res.text(), format!("4{big}"));
    }

    // Under the threshold (1024 bytes): plain.
    let small = "s".repeat(1022);
    session.send_text(small.clone()).unwrap();
    let res = get_with_encoding(&client, Some("gzip")).await;
    assert!(res.header("content-encoding").is_none());
    assert_eq!(res.text(), format!("4{small}"));
    // Exactly the threshold: compressed.
    session.send_text("t".repeat(1023)).unwrap();
    assert_eq!(
        get_with_encoding(&client, Some("gzip"))
            .await
            .header("content-encoding"),
        Some("gzip")
    );
}

#[tokio::test]
async fn compression_can_be_tuned_or_turned_off() {
    let off = TestServer::start_silent(EngineConfig::default().with_http_compression(None)).await;
    let client = Polling::open(off.addr).await;
    off.session(&client.sid)
        .send_text("q".repeat(5000))
        .unwrap();
    let res = get_with_encoding(&client, Some("gzip")).await;
    assert!(res.header("content-encoding").is_none());
    assert_eq!(res.body.len(), 5001);

    let mut low = HttpCompression::default();
    low.threshold = 8;
    let low =
        TestServer::start_silent(EngineConfig::default().with_http_compression(Some(low))).await;
    let client = Polling::open(low.addr).await;
    low.session(&client.sid).send_text("hello world").unwrap();
    let res = get_with_encoding(&client, Some("gzip")).await;
    assert_eq!(res.header("content-encoding"), Some("gzip"));
}

#[tokio::test]
async fn v4_binary_post_body_is_refused_and_closes() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    let request = req(Method::POST, &client.url(""))
        .header("content-type", "application/octet-stream")
        .body(Full::new(Bytes::from_static(&[4, 1, 2, 3])))
        .unwrap();
    send(server.addr, request).await.assert_empty(400);
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::TransportError
    );
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");
}

#[tokio::test]
async fn client_close_releases_the_pending_poll_with_noop() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let client = std::sync::Arc::new(Polling::open(server.addr).await);
    let poll = tokio::spawn({
        let client = client.clone();
        async move { client.get_marked("pending").await }
    });
    server.parked.wait("t=pending").await;
    client.send("1").await;
    let res = poll.await.unwrap();
    assert_eq!((res.status, res.text()), (StatusCode::OK, "6"));
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::TransportClose
    );
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");

    // Without a pending poll.
    let client = Polling::open(server.addr).await;
    client.send("1").await;
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::TransportClose
    );
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");
}

#[tokio::test]
async fn server_close_is_delivered_after_the_queued_packets() {
    let mut server = TestServer::start_silent(EngineConfig::default()).await;
    // A pending poll gets `1`.
    let client = std::sync::Arc::new(Polling::open(server.addr).await);
    let poll = tokio::spawn({
        let client = client.clone();
        async move { client.get_marked("pending").await }
    });
    server.parked.wait("t=pending").await;
    server.session(&client.sid).close();
    assert_eq!(poll.await.unwrap().text(), "1");
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::ForcedClose
    );
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");

    // Without one, the next poll collects the queue and the one after it
    // `1` (as the reference: the close waits for the queue to drain).
    let client = Polling::open(server.addr).await;
    let session = server.session(&client.sid);
    session.send_text("bye").unwrap();
    session.close();
    assert!(session.is_closed());
    assert_eq!(
        session.send_text("late"),
        Err(sockeye_engine::SendError::Closed)
    );
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::ForcedClose
    );
    assert_eq!(client.poll().await, "4bye");
    assert_eq!(client.poll().await, "1");
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");
    client
        .post("4x")
        .await
        .assert_error(400, 1, "Session ID unknown");
}

#[tokio::test]
async fn several_packets_in_one_post_arrive_in_order() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    client.send("4test1\u{1e}4test2\u{1e}4test3").await;
    for t in ["test1", "test2", "test3"] {
        assert_eq!(server.events.message(&client.sid).await, text(t));
    }
    assert_eq!(client.poll().await, "4test1\u{1e}4test2\u{1e}4test3");
    // Unicode text survives.
    client.send("4héllo wörld €").await;
    assert_eq!(client.poll().await, "4héllo wörld €");
}
