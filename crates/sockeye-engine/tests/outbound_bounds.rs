//! The outbound byte bound: a peer that keeps sending to an echoing session
//! but never collects the echoes (no GET, or a WebSocket it does not read)
//! is closed as a slow consumer once about `max_buffered_bytes` wait for it,
//! long before the 200 MB it pushes; other sessions are untouched.

mod common;

use common::*;
use futures_util::SinkExt;
use sockeye_engine::{CloseReason, EngineConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// One echoed message: 900 kB, under the default `max_payload` (1 MB).
const MESSAGE: usize = 900_000;
/// What the hostile peer is ready to push: 200 MB.
const PUSH: usize = 200_000_000;
/// The default bound.
const BOUND: usize = 4 * 1024 * 1024;

#[tokio::test]
async fn polling_session_that_never_polls_is_closed_at_the_byte_bound() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let bystander = Polling::open(server.addr).await;
    let hostile = Polling::open(server.addr).await;
    let body = format!("4{}", "x".repeat(MESSAGE));
    let mut accepted = 0;
    while accepted * MESSAGE < PUSH {
        let res = hostile.post(body.clone()).await;
        if res.status != http::StatusCode::OK || !server.knows(&hostile.sid) {
            break;
        }
        accepted += 1;
    }
    assert_eq!(
        server.events.closed(&hostile.sid).await,
        CloseReason::TransportError
    );
    // The echo that went over the bound closed it: what was queued never
    // exceeded the bound.
    assert_eq!(accepted, BOUND / (MESSAGE + 1), "messages accepted");
    assert_eq!(server.engine.stats().send_queue_overflows(), 1);
    // Its next poll finds no session; the bystander never noticed.
    hostile
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");
    bystander.send("4still here").await;
    assert_eq!(bystander.poll().await, "4still here");
    server.events.assert_open(&bystander.sid);
}

#[tokio::test]
async fn polling_queue_within_the_bound_is_delivered() {
    let server = TestServer::start(EngineConfig::default().with_max_buffered_bytes(3_000)).await;
    let client = Polling::open(server.addr).await;
    // Two 1,000-byte echoes fit (2,002 bytes queued); a poll empties the
    // queue, and two more fit again.
    let body = format!("4{}", "y".repeat(1_000));
    for _ in 0..2 {
        client.send(format!("{body}\u{1e}{body}")).await;
        let got = client.poll().await;
        assert_eq!(got, format!("{body}\u{1e}{body}"));
    }
    assert!(server.knows(&client.sid));
    assert_eq!(server.engine.stats().send_queue_overflows(), 0);
}

#[tokio::test]
async fn websocket_peer_that_stops_reading_is_closed_at_the_byte_bound() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let (mut bystander, bystander_sid, _) = ws_open(server.addr).await;
    server.events.open_event(&bystander_sid).await;

    // A client with a small receive buffer, so that the kernel does not
    // absorb megabytes of the echoes the client never reads.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let tcp = within("connect", socket.connect(server.addr))
        .await
        .expect("connect");
    let (mut ws, _) = within(
        "handshake",
        tokio_tungstenite::client_async(ws_url(server.addr), tcp),
    )
    .await
    .expect("websocket accepted");
    let sid = server.events.opened().await;

    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let pusher = tokio::spawn(async move {
        let message = format!("4{}", "x".repeat(MESSAGE));
        while counter.load(Ordering::Relaxed) * MESSAGE < PUSH {
            // Never reads: only sends, until the server hangs up.
            if ws.send(WsMessage::text(message.clone())).await.is_err() {
                return;
            }
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    assert_eq!(
        server.events.closed(&sid).await,
        CloseReason::TransportError
    );
    let pushed = sent.load(Ordering::Relaxed);
    pusher.abort();
    // The bound (4 MiB) plus what the kernel's socket buffers hold: far
    // from the 200 MB the peer was ready to push.
    eprintln!("{pushed} messages of {MESSAGE} bytes went in before the close");
    assert!(pushed < 40, "{pushed} messages of {MESSAGE} bytes went in");
    assert_eq!(server.engine.stats().send_queue_overflows(), 1);
    assert_ws_echo(&mut bystander, "still here").await;
    server.events.assert_open(&bystander_sid);
}
