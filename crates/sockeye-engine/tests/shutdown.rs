//! Graceful shutdown with `Engine::close`: pending polls get `1`,
//! WebSockets a close frame, the handler `ServerShuttingDown`, and new
//! handshakes are refused.

mod common;

use bytes::Bytes;
use common::*;
use http::StatusCode;
use http_body_util::Full;
use sockeye_engine::{CloseReason, EngineConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[tokio::test]
async fn close_ends_every_session_and_refuses_new_ones() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let polling = Arc::new(Polling::open(server.addr).await);
    let poll = tokio::spawn({
        let polling = polling.clone();
        async move { polling.get_marked("pending").await }
    });
    server.parked.wait("t=pending").await;
    let (mut ws, ws_sid, _) = ws_open(server.addr).await;
    // An upgraded session too.
    let upgraded = Polling::open(server.addr).await;
    let (mut up, _) = ws_connect(&upgraded.ws_url()).await;
    send_text(&mut up, "2probe").await;
    assert_eq!(recv_text(&mut up).await, "3probe");
    send_text(&mut up, "5").await;
    assert_ws_echo(&mut up, "upgraded").await;
    assert_eq!(server.engine.session_count(), 3);

    // Queued packets still go out before the close.
    server.session(&ws_sid).send_text("last words").unwrap();
    let remaining = within("engine.close", server.engine.close(Duration::from_secs(5))).await;
    assert_eq!(remaining, 0);
    assert_eq!(server.engine.session_count(), 0);

    let res = poll.await.unwrap();
    assert_eq!((res.status, res.text()), (StatusCode::OK, "1"));
    let (frame, before) = expect_close(&mut ws).await;
    assert_eq!(before, [WsMessage::text("4last words")]);
    assert!(
        frame.as_ref().is_none_or(|f| u16::from(f.code) == 1000),
        "{frame:?}"
    );
    let (_, before) = expect_close(&mut up).await;
    assert!(before.is_empty());
    for sid in [&polling.sid, &ws_sid, &upgraded.sid] {
        assert_eq!(
            server.events.closed(sid).await,
            CloseReason::ServerShuttingDown
        );
        assert!(!server.knows(sid));
    }

    // No new handshakes, on either transport.
    get(server.addr, "/engine.io/?EIO=4&transport=polling")
        .await
        .assert_error(400, 3, "Server is shutting down");
    let res = send(
        server.addr,
        ws_req("/engine.io/?EIO=4&transport=websocket")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(
        (res.status, res.text()),
        (StatusCode::BAD_REQUEST, "Server is shutting down")
    );
    assert!(matches!(
        ws_connect_with(&ws_url(server.addr), &[]).await,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == StatusCode::BAD_REQUEST
    ));
    // The old sids are gone.
    polling
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");
    assert_eq!(server.engine.session_count(), 0);
    // Closing again is harmless.
    assert_eq!(server.engine.close(Duration::from_secs(1)).await, 0);
}

#[tokio::test]
async fn idle_polling_session_waits_for_its_last_poll() {
    let mut server = TestServer::start_silent(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    server.session(&client.sid).send_text("queued").unwrap();
    // No poll pending: the session lingers for its last GET, so the
    // deadline passes with it still open.
    let remaining = server.engine.close(Duration::from_millis(50)).await;
    assert_eq!(remaining, 1);
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::ServerShuttingDown
    );
    // The last poll collects the queue and the close packet...
    assert_eq!(client.poll().await, "4queued");
    assert_eq!(client.poll().await, "1");
    // ...and then the session is gone.
    assert_eq!(
        within("engine.close", server.engine.close(Duration::from_secs(5))).await,
        0
    );
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");
}

#[tokio::test]
async fn close_with_no_sessions_returns_at_once() {
    let server = TestServer::start(EngineConfig::default()).await;
    assert_eq!(
        within("engine.close", server.engine.close(Duration::from_secs(30))).await,
        0
    );
    get(server.addr, "/engine.io/?EIO=4&transport=polling")
        .await
        .assert_error(400, 3, "Server is shutting down");
}
