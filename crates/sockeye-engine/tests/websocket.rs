//! Direct WebSocket sessions: exact frames, the payload limit, invalid
//! packets and closes, with bystander sessions that must not notice.

mod common;

use bytes::Bytes;
use common::*;
use sockeye_engine::{CloseReason, EngineConfig, Message, TransportKind};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn text(s: &str) -> Message {
    Message::Text(s.to_owned().into())
}

#[tokio::test]
async fn text_and_binary_frames_are_echoed_exactly() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let (mut ws, sid, _) = ws_open(server.addr).await;
    assert_eq!(server.session(&sid).transport(), TransportKind::WebSocket);

    send_text(&mut ws, "4hello").await;
    assert_eq!(recv(&mut ws).await, WsMessage::text("4hello"));
    assert_eq!(server.events.message(&sid).await, text("hello"));

    // Binary: raw bytes, no type byte, both ways.
    send_binary(&mut ws, &[1, 2, 3, 4]).await;
    assert_eq!(recv(&mut ws).await, WsMessage::binary(vec![1, 2, 3, 4]));
    assert_eq!(
        server.events.message(&sid).await,
        Message::Binary(Bytes::from_static(&[1, 2, 3, 4]))
    );

    // An empty message and unicode.
    send_text(&mut ws, "4").await;
    assert_eq!(recv_text(&mut ws).await, "4");
    send_text(&mut ws, "4ünï€ode").await;
    assert_eq!(recv_text(&mut ws).await, "4ünï€ode");

    // Server-initiated sends: one frame per packet.
    let session = server.session(&sid);
    session.send_text("from server").unwrap();
    session.send_binary(Bytes::from_static(&[9, 8])).unwrap();
    session.send_encoded("4shared".into()).unwrap();
    assert_eq!(recv(&mut ws).await, WsMessage::text("4from server"));
    assert_eq!(recv(&mut ws).await, WsMessage::binary(vec![9, 8]));
    assert_eq!(recv(&mut ws).await, WsMessage::text("4shared"));
    server.events.assert_open(&sid);
}

#[tokio::test]
async fn oversized_frame_closes_with_1009_and_bystanders_carry_on() {
    let mut server = TestServer::start(EngineConfig::default().with_max_payload(1000)).await;
    let (mut bystander, bystander_sid, _) = ws_open(server.addr).await;
    let polling = Polling::open(server.addr).await;
    let (mut ws, sid, _) = ws_open(server.addr).await;

    // Exactly the limit passes.
    let max = format!("4{}", "m".repeat(999));
    send_text(&mut ws, &max).await;
    assert_eq!(recv_text(&mut ws).await, max);

    send_text(&mut ws, &format!("4{}", "x".repeat(1000))).await;
    let (frame, before) = expect_close(&mut ws).await;
    assert!(before.is_empty(), "{before:?}");
    let frame = frame.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Size);
    assert_eq!(u16::from(frame.code), 1009);
    assert_eq!(
        server.events.closed(&sid).await,
        CloseReason::TransportError
    );
    assert!(!server.knows(&sid));

    // A binary frame over the limit too.
    let (mut ws2, sid2, _) = ws_open(server.addr).await;
    send_binary(&mut ws2, &vec![0u8; 1001]).await;
    let (frame, _) = expect_close(&mut ws2).await;
    assert_eq!(frame.expect("a close frame").code, CloseCode::Size);
    assert_eq!(
        server.events.closed(&sid2).await,
        CloseReason::TransportError
    );

    assert_ws_echo(&mut bystander, "still here").await;
    polling.send("4me too").await;
    assert_eq!(polling.poll().await, "4me too");
    server.events.assert_open(&bystander_sid);
    server.events.assert_open(&polling.sid);
}

#[tokio::test]
async fn invalid_packet_closes_with_parse_error() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let (mut bystander, bystander_sid, _) = ws_open(server.addr).await;
    for bad in ["abc", "", "9", "b!!!not base64"] {
        let (mut ws, sid, _) = ws_open(server.addr).await;
        send_text(&mut ws, bad).await;
        let (frame, before) = expect_close(&mut ws).await;
        assert!(before.is_empty(), "{bad:?}: {before:?}");
        assert!(frame.is_none_or(|f| f.code == CloseCode::Normal), "{bad:?}");
        assert_eq!(
            server.events.closed(&sid).await,
            CloseReason::ParseError,
            "{bad:?}"
        );
        assert!(!server.knows(&sid));
    }
    assert_ws_echo(&mut bystander, "fine").await;
    server.events.assert_open(&bystander_sid);
}

#[tokio::test]
async fn client_close_packet_or_close_frame_ends_the_session() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let (mut ws, sid, _) = ws_open(server.addr).await;
    send_text(&mut ws, "1").await;
    expect_close(&mut ws).await;
    assert_eq!(
        server.events.closed(&sid).await,
        CloseReason::TransportClose
    );

    let (mut ws, sid, _) = ws_open(server.addr).await;
    within("client close", ws.close(None)).await.unwrap();
    assert_eq!(
        server.events.closed(&sid).await,
        CloseReason::TransportClose
    );
    assert!(!server.knows(&sid));

    // The TCP connection dropped without a close frame.
    let (ws, sid, _) = ws_open(server.addr).await;
    drop(ws);
    let reason = server.events.closed(&sid).await;
    assert!(
        matches!(
            reason,
            CloseReason::TransportClose | CloseReason::TransportError
        ),
        "{reason:?}"
    );
}

#[tokio::test]
async fn server_close_flushes_the_queue_then_closes() {
    let mut server = TestServer::start_silent(EngineConfig::default()).await;
    let (mut ws, sid, _) = ws_open(server.addr).await;
    let session = server.session(&sid);
    session.send_text("one").unwrap();
    session.send_text("two").unwrap();
    session.close();
    let (frame, before) = expect_close(&mut ws).await;
    assert_eq!(before, [WsMessage::text("4one"), WsMessage::text("4two")]);
    assert!(frame.is_none_or(|f| f.code == CloseCode::Normal));
    assert_eq!(server.events.closed(&sid).await, CloseReason::ForcedClose);
    // The handler's close comes once only.
    session.close();
    let closes: Vec<_> = server
        .events
        .pending()
        .into_iter()
        .filter(|e| matches!(e, Event::Close { .. }))
        .collect();
    assert!(closes.is_empty(), "{closes:?}");
}

/// The same when the close comes while a write waits for the peer: what was
/// queued during that write still goes out before the close frame.
#[tokio::test]
async fn server_close_during_a_blocked_write_still_flushes_the_queue() {
    // 6 MB queued at once: over the default byte bound (4 MiB).
    let config = EngineConfig::default().with_max_buffered_bytes(16 << 20);
    let server = TestServer::start_silent(config).await;
    let (mut ws, sid, _) = ws_open(server.addr).await;
    let session = server.session(&sid);
    let big = "z".repeat(3_000_000);
    session.send_text(big.clone()).unwrap();
    session.send_text(big.clone()).unwrap();
    // The I/O loop runs, writes until the socket buffers are full (the
    // client reads nothing yet) and waits.
    tokio::task::yield_now().await;
    session.send_text("last").unwrap();
    session.close();
    let (_, before) = expect_close(&mut ws).await;
    let texts: Vec<String> = before
        .iter()
        .map(|m| m.to_text().expect("text").chars().take(6).collect())
        .collect();
    assert_eq!(texts, ["4zzzzz", "4zzzzz", "4last"]);
}

#[tokio::test]
async fn v3_websocket_binary_carries_the_type_byte() {
    let mut server = TestServer::start(EngineConfig::default().with_allow_eio3(true)).await;
    let url = format!("ws://{}/engine.io/?EIO=3&transport=websocket", server.addr);
    let (mut ws, sid, _) = ws_open_url(&url).await;
    send_binary(&mut ws, &[4, 1, 2, 3]).await;
    assert_eq!(
        server.events.message(&sid).await,
        Message::Binary(Bytes::from_static(&[1, 2, 3]))
    );
    assert_eq!(recv(&mut ws).await, WsMessage::binary(vec![4, 1, 2, 3]));
    assert_ws_echo(&mut ws, "v3 text").await;
}

/// A WebSocket-level ping is answered by a pong with its payload, and the
/// pong goes through the same ordered write queue as the data frames: data
/// queued before it arrives first, nothing is interleaved or lost.
#[tokio::test]
async fn websocket_pings_get_pongs_in_order_with_data() {
    use futures_util::{SinkExt, StreamExt};
    let server = TestServer::start(EngineConfig::default()).await;
    let (mut ws, sid, _) = ws_open(server.addr).await;
    let session = server.session(&sid);
    let big = "x".repeat(200_000);
    session.send_text(big.clone()).expect("send");
    ws.send(WsMessage::Ping(Bytes::from_static(b"hi")))
        .await
        .expect("ping");
    session.send_text("after").expect("send");
    send_text(&mut ws, "4echo").await;
    let mut got = Vec::new();
    within("the frames", async {
        while got.len() < 4 {
            match ws.next().await {
                Some(Ok(WsMessage::Pong(p))) => {
                    got.push(format!("pong:{}", String::from_utf8_lossy(&p)))
                }
                Some(Ok(WsMessage::Text(t))) => got.push(t.as_str().chars().take(8).collect()),
                other => panic!("unexpected: {other:?}"),
            }
        }
    })
    .await;
    // The big packet was queued first; the pong and the rest follow it
    // (the pong's place among them depends on when the ping was read).
    assert_eq!(got[0], "4xxxxxxx");
    assert!(got.contains(&"pong:hi".to_owned()), "{got:?}");
    let data: Vec<&String> = got.iter().filter(|g| !g.starts_with("pong")).collect();
    assert_eq!(data, ["4xxxxxxx", "4after", "4echo"]);
}

/// The send queue's bound holds for a WebSocket peer that stops reading:
/// once the socket's buffers are full and a write waits, packets stay in the
/// session's queue, and the one past `max_buffered_packets` closes the
/// session (`transport error`) instead of piling up in memory.
#[tokio::test]
async fn a_websocket_peer_that_stops_reading_hits_the_queue_bound() {
    let mut server = TestServer::start(EngineConfig::default().with_max_buffered_packets(8)).await;
    let (_stuck, sid, _) = ws_open(server.addr).await;
    let session = server.session(&sid);
    let chunk = "y".repeat(64 * 1024);
    let mut sent = 0;
    within("the queue to fill", async {
        loop {
            match session.send_text(chunk.clone()) {
                Ok(()) => sent += 1,
                Err(e) => {
                    assert_eq!(e, sockeye_engine::SendError::QueueFull);
                    break;
                }
            }
            assert!(
                sent < 3_000,
                "3,000 packets (190 MB) accepted for a peer that reads nothing"
            );
            // Let the I/O loop write what it can.
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(
        server.events.closed(&sid).await,
        CloseReason::TransportError
    );
}
