//! Heartbeats: server pings in v4 (pongs keep the session, silence closes
//! it with `ping timeout`, a client ping is a transport error), client pings
//! answered in v3.

mod common;

use common::*;
use sockeye_engine::{CloseReason, EngineConfig};
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Short pings; a generous timeout so that pongs are never late.
fn lively() -> EngineConfig {
    EngineConfig::default()
        .with_ping_interval(ms(50))
        .with_ping_timeout(ms(1000))
}

/// Short pings and a short timeout.
fn strict() -> EngineConfig {
    EngineConfig::default()
        .with_ping_interval(ms(50))
        .with_ping_timeout(ms(50))
}

#[tokio::test]
async fn websocket_pongs_keep_the_session_alive() {
    let mut server = TestServer::start(lively()).await;
    let (mut ws, sid, open) = ws_open(server.addr).await;
    assert_eq!(open, open_packet(&sid, &[], 50, 1000, 1_000_000));
    for _ in 0..3 {
        assert_eq!(recv_text(&mut ws).await, "2");
        send_text(&mut ws, "3").await;
    }
    assert_ws_echo(&mut ws, "alive").await;
    server.events.assert_open(&sid);
}

#[tokio::test]
async fn polling_pongs_keep_the_session_alive() {
    let mut server = TestServer::start(lively()).await;
    let client = Polling::open(server.addr).await;
    for _ in 0..3 {
        assert_eq!(client.poll().await, "2");
        client.send("3").await;
    }
    client.send("4alive").await;
    let body = client.poll().await;
    // A ping may be due again by now.
    assert!(
        body == "4alive" || body == "4alive\u{1e}2" || body == "2\u{1e}4alive",
        "{body:?}"
    );
    server.events.assert_open(&client.sid);
}

#[tokio::test]
async fn websocket_without_pong_times_out() {
    let mut server = TestServer::start(strict()).await;
    let (mut ws, sid, _) = ws_open(server.addr).await;
    assert_eq!(recv_text(&mut ws).await, "2");
    // Other traffic is no pong.
    send_text(&mut ws, "4not a pong").await;
    assert_eq!(server.events.closed(&sid).await, CloseReason::PingTimeout);
    let (_, before) = expect_close(&mut ws).await;
    assert!(
        before
            .iter()
            .all(|m| m.to_text().is_ok_and(|t| t == "4not a pong" || t == "2")),
        "{before:?}"
    );
    assert!(!server.knows(&sid));
    let res = get(
        server.addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
    )
    .await;
    res.assert_error(400, 1, "Session ID unknown");
}

#[tokio::test]
async fn polling_without_pong_times_out() {
    let mut server = TestServer::start(strict()).await;
    let client = Polling::open(server.addr).await;
    assert_eq!(client.poll().await, "2");
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::PingTimeout
    );
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");
    assert!(!server.knows(&client.sid));

    // Also while a poll is pending: it gets `1`. (A longer timeout, so that
    // the poll is surely parked before it expires.)
    let config = EngineConfig::default()
        .with_ping_interval(ms(50))
        .with_ping_timeout(ms(400));
    let mut server = TestServer::start(config).await;
    let client = std::sync::Arc::new(Polling::open(server.addr).await);
    assert_eq!(client.poll().await, "2");
    let poll = tokio::spawn({
        let client = client.clone();
        async move { client.get_marked("pending").await }
    });
    server.parked.wait("t=pending").await;
    server.events.assert_open(&client.sid);
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::PingTimeout
    );
    let res = poll.await.unwrap();
    assert_eq!(res.text(), "1");
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");
}

#[tokio::test]
async fn v4_client_ping_is_a_transport_error() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let (mut ws, sid, _) = ws_open(server.addr).await;
    send_text(&mut ws, "2").await;
    assert_eq!(
        server.events.closed(&sid).await,
        CloseReason::TransportError
    );
    expect_close(&mut ws).await;

    let client = Polling::open(server.addr).await;
    client.send("2").await;
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::TransportError
    );
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");

    // A pong nobody asked for is harmless.
    let (mut ws, sid, _) = ws_open(server.addr).await;
    send_text(&mut ws, "3").await;
    assert_ws_echo(&mut ws, "fine").await;
    server.events.assert_open(&sid);
}

#[tokio::test]
async fn v3_client_pings_get_pongs() {
    let config = EngineConfig::default().with_allow_eio3(true);
    let mut server = TestServer::start(config).await;
    let url = format!("ws://{}/engine.io/?EIO=3&transport=websocket", server.addr);
    let (mut ws, sid, open) = ws_open_url(&url).await;
    assert_eq!(open, open_packet(&sid, &[], 25000, 20000, 1_000_000));
    send_text(&mut ws, "2").await;
    assert_eq!(recv_text(&mut ws).await, "3");
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    assert_ws_echo(&mut ws, "v3").await;
    server.events.assert_open(&sid);

    // v3 polling: `<len>:<packet>` framing.
    let client = Polling::open_at(server.addr, "/engine.io/", 3).await;
    let (open, _) = client.handshake.text().split_once(':').unwrap();
    assert_eq!(
        open.parse::<usize>().unwrap(),
        client.handshake.text().len() - open.len() - 1
    );
    client.send("1:2").await;
    assert_eq!(client.poll().await, "1:3");
    client.send("6:4hello").await;
    assert_eq!(client.poll().await, "6:4hello");
    server.events.assert_open(&client.sid);
}

#[tokio::test]
async fn v3_silence_and_server_pong_direction() {
    let config = strict().with_allow_eio3(true);
    let mut server = TestServer::start(config).await;
    // A v3 client that never pings is dropped after interval + timeout.
    let url = format!("ws://{}/engine.io/?EIO=3&transport=websocket", server.addr);
    let (mut ws, sid, _) = ws_open_url(&url).await;
    assert_eq!(server.events.closed(&sid).await, CloseReason::PingTimeout);
    let (_, before) = expect_close(&mut ws).await;
    // The server itself never pings a v3 client.
    assert!(before.is_empty(), "{before:?}");

    // A pong from a v3 client goes the wrong way.
    let (mut ws, sid, _) = ws_open_url(&url).await;
    send_text(&mut ws, "3").await;
    assert_eq!(
        server.events.closed(&sid).await,
        CloseReason::TransportError
    );
}

/// A peer that stops reading while it is sent more than the socket buffers
/// hold: the server's write blocks, the ping queued behind it is never
/// answered, and the heartbeat ends the session (`ping timeout`, as the
/// reference does) while a blocked write is pending. A bystander is served
/// all along.
#[tokio::test]
async fn websocket_peer_that_stops_reading_times_out_while_a_write_is_blocked() {
    let mut server = TestServer::start(
        EngineConfig::default()
            .with_ping_interval(ms(100))
            .with_ping_timeout(ms(100))
            // The byte bound would close it first (see outbound_bounds.rs):
            // here the heartbeat alone is at work.
            .with_max_buffered_bytes(1 << 30),
    )
    .await;
    let (mut stuck, sid, _) = ws_open(server.addr).await;
    let (mut bystander, _, _) = ws_open(server.addr).await;
    // The echoes of 40 MB fill every buffer between the two; the sending
    // task may block for good once the server stops reading too.
    let sender = tokio::spawn(async move {
        let chunk = format!("4{}", "x".repeat(900_000));
        for _ in 0..45 {
            send_text(&mut stuck, &chunk).await;
        }
        stuck
    });
    let bystander_task = async {
        loop {
            // Answer pings; echo a marker now and then.
            match recv_text(&mut bystander).await.as_str() {
                "2" => send_text(&mut bystander, "3").await,
                other => assert_eq!(other, "4marker"),
            }
            send_text(&mut bystander, "4marker").await;
        }
    };
    tokio::select! {
        reason = server.events.closed(&sid) => assert_eq!(reason, CloseReason::PingTimeout),
        _ = bystander_task => unreachable!(),
    }
    assert!(!server.knows(&sid));
    sender.abort();
}
