//! Upgrades from polling to WebSocket: the probe, the release of the
//! pending poll, the buffered packets, what is refused afterwards, and the
//! upgrade timeout.

mod common;

use common::*;
use http::StatusCode;
use sockeye_engine::{EngineConfig, TransportKind};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Opens the upgrade WebSocket and completes `2probe` / `3probe`.
async fn probe(client: &Polling) -> Ws {
    let (mut ws, res) = ws_connect(&client.ws_url()).await;
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    ws
}

#[tokio::test]
async fn full_upgrade_sequence() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let client = Arc::new(Polling::open(server.addr).await);
    let sid = client.sid.clone();
    let poll = tokio::spawn({
        let client = client.clone();
        async move { client.get_marked("pending").await }
    });
    server.parked.wait("t=pending").await;

    let mut ws = probe(&client).await;
    // The pending poll is released with a noop.
    let res = poll.await.unwrap();
    assert_eq!((res.status, res.text()), (StatusCode::OK, "6"));
    assert_eq!(server.session(&sid).transport(), TransportKind::Polling);
    // Until `5`, the client may still POST; the echo waits for the switch.
    client.send("4mid-upgrade").await;
    assert_eq!(
        server.events.message(&sid).await,
        sockeye_engine::Message::Text("mid-upgrade".into())
    );

    send_text(&mut ws, "5").await;
    assert_eq!(recv_text(&mut ws).await, "4mid-upgrade");
    assert_ws_echo(&mut ws, "hello").await;
    assert_eq!(server.session(&sid).transport(), TransportKind::WebSocket);
    send_binary(&mut ws, &[1, 2, 3]).await;
    assert_eq!(recv(&mut ws).await, WsMessage::binary(vec![1, 2, 3]));
    server.events.assert_open(&sid);
    assert!(server.knows(&sid));
}

#[tokio::test]
async fn packets_queued_during_the_upgrade_arrive_over_websocket() {
    let mut server = TestServer::start_silent(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    let session = server.session(&client.sid);
    // Queued before the upgrade starts, with no poll to take it.
    session.send_text("early").unwrap();
    let mut ws = probe(&client).await;
    session.send_text("during").unwrap();
    session
        .send_binary(bytes::Bytes::from_static(&[7]))
        .unwrap();
    // A poll now gets a noop, and leaves the queue alone.
    assert_eq!(client.poll().await, "6");
    assert!(!session.is_writable());

    send_text(&mut ws, "5").await;
    assert_eq!(recv(&mut ws).await, WsMessage::text("4early"));
    assert_eq!(recv(&mut ws).await, WsMessage::text("4during"));
    assert_eq!(recv(&mut ws).await, WsMessage::binary(vec![7]));
    session.send_text("after").unwrap();
    assert_eq!(recv_text(&mut ws).await, "4after");
    server.events.assert_open(&client.sid);
}

#[tokio::test]
async fn polling_after_the_upgrade_is_a_bad_request() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    let mut ws = probe(&client).await;
    send_text(&mut ws, "5").await;
    assert_ws_echo(&mut ws, "upgraded").await;

    client.get().await.assert_error(400, 3, "Bad request");
    client
        .post("4sneaky")
        .await
        .assert_error(400, 3, "Bad request");
    assert_ws_echo(&mut ws, "still fine").await;
    server.events.assert_open(&client.sid);
}

#[tokio::test]
async fn a_second_websocket_is_closed() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    let mut ws = probe(&client).await;

    // While upgrading: accepted, then closed at once.
    let (mut second, res) = ws_connect(&client.ws_url()).await;
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    let (_, before) = expect_close(&mut second).await;
    assert!(before.is_empty());

    send_text(&mut ws, "5").await;
    assert_ws_echo(&mut ws, "first").await;

    // After the upgrade: the same.
    let (mut third, _) = ws_connect(&client.ws_url()).await;
    let (_, before) = expect_close(&mut third).await;
    assert!(before.is_empty());
    assert_ws_echo(&mut ws, "first still").await;
    server.events.assert_open(&client.sid);
}

#[tokio::test]
async fn upgrade_timeout_leaves_the_session_on_polling() {
    let config = EngineConfig::default().with_upgrade_timeout(Duration::from_millis(100));
    let mut server = TestServer::start(config).await;
    let client = Polling::open(server.addr).await;

    // Probed, but no `5`.
    let mut ws = probe(&client).await;
    let (_, before) = expect_close(&mut ws).await;
    assert!(before.is_empty());
    assert_eq!(
        server.session(&client.sid).transport(),
        TransportKind::Polling
    );
    client.send("4polling").await;
    assert_eq!(client.poll().await, "4polling");

    // Never probed at all.
    let (mut silent, _) = ws_connect(&client.ws_url()).await;
    expect_close(&mut silent).await;
    client.send("4again").await;
    assert_eq!(client.poll().await, "4again");

    // A later upgrade still succeeds.
    let mut ws = probe(&client).await;
    send_text(&mut ws, "5").await;
    assert_ws_echo(&mut ws, "finally").await;
    server.events.assert_open(&client.sid);
}

#[tokio::test]
async fn another_packet_before_upgrade_aborts_it() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    for wrong in ["4hello", "5", "2ping"] {
        let (mut ws, _) = ws_connect(&client.ws_url()).await;
        send_text(&mut ws, wrong).await;
        expect_close(&mut ws).await;
    }
    // After the probe, anything but `5`.
    let mut ws = probe(&client).await;
    send_text(&mut ws, "4not yet").await;
    expect_close(&mut ws).await;

    assert_eq!(
        server.session(&client.sid).transport(),
        TransportKind::Polling
    );
    client.send("4ok").await;
    assert_eq!(
        server.events.message(&client.sid).await,
        sockeye_engine::Message::Text("ok".into())
    );
    assert_eq!(client.poll().await, "4ok");
    let delivered: Vec<_> = server
        .events
        .pending()
        .into_iter()
        .filter(|e| matches!(e, Event::Message { .. }))
        .collect();
    assert!(
        delivered.is_empty(),
        "nothing sent on an aborted upgrade is delivered: {delivered:?}"
    );
    server.events.assert_open(&client.sid);
}

#[tokio::test]
async fn closing_the_upgrading_socket_keeps_the_session() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    let mut ws = probe(&client).await;
    within("close", ws.close(None)).await.unwrap();
    // The poll that follows is answered normally once the upgrade is over.
    client.send("4back").await;
    let res = client.get().await;
    // Either the noop of a still-probed upgrade, or the packet.
    let body = if res.text() == "6" {
        client.poll().await
    } else {
        res.text().to_owned()
    };
    assert_eq!(body, "4back");
    server.events.assert_open(&client.sid);
}

#[tokio::test]
async fn v3_session_upgrades_too() {
    let mut server = TestServer::start(EngineConfig::default().with_allow_eio3(true)).await;
    let client = Arc::new(Polling::open_at(server.addr, "/engine.io/", 3).await);
    let poll = tokio::spawn({
        let client = client.clone();
        async move { client.get_marked("pending").await }
    });
    server.parked.wait("t=pending").await;
    let mut ws = probe(&client).await;
    // The noop in v3 framing.
    assert_eq!(poll.await.unwrap().text(), "1:6");
    send_text(&mut ws, "5").await;
    assert_ws_echo(&mut ws, "v3 upgraded").await;
    // v3 WebSocket binary: type byte first.
    send_binary(&mut ws, &[4, 9]).await;
    assert_eq!(recv(&mut ws).await, WsMessage::binary(vec![4, 9]));
    // And the client-driven heartbeat carries over.
    send_text(&mut ws, "2").await;
    assert_eq!(recv_text(&mut ws).await, "3");
    server.events.assert_open(&client.sid);
}
