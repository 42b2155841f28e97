//! Socket.IO over HTTP long-polling: CONNECT, events, acks and binary
//! attachments (`b<base64>` packets), several packets per request, and the
//! upgrade of a connected socket to WebSocket.

mod common;

use common::*;
use sockeye::engine::TransportKind;
use sockeye::{DisconnectReason, Socket, SocketIo};

#[tokio::test]
async fn polling_connect_events_and_acks() {
    let io = echo_io();
    let srv = serve(io).await;
    let p = Polling::open(srv.addr).await;
    p.post(&["40", "40/custom,"]).await;
    let replies = within_two(&p).await;
    connect_reply_sid(&replies[0], "/");
    connect_reply_sid(&replies[1], "/custom");
    p.post(&[
        r#"42["message",1]"#,
        r#"42/custom,5["message-with-ack","x"]"#,
    ])
    .await;
    let mut got = within_two(&p).await;
    got.sort();
    assert_eq!(got, [r#"42["message-back",1]"#, r#"43/custom,5["x"]"#]);
}

/// Polls until two packets arrived (they may come in one or two
/// responses).
async fn within_two(p: &Polling) -> Vec<String> {
    let mut got = p.get().await;
    if got.len() < 2 {
        got.extend(p.get().await);
    }
    assert_eq!(got.len(), 2, "{got:?}");
    got
}

#[tokio::test]
async fn polling_binary_attachments_both_ways() {
    let srv = serve(echo_io()).await;
    let p = Polling::open(srv.addr).await;
    p.post(&["40"]).await;
    connect_reply_sid(&p.get().await[0], "/");
    let header = format!("451-[\"message\",{}]", placeholder(0));
    p.post(&[&header, "bAQID"]).await;
    let mut got = p.get().await;
    if got.len() < 2 {
        got.extend(p.get().await);
    }
    assert_eq!(
        got,
        [
            format!("451-[\"message-back\",{}]", placeholder(0)),
            "bAQID".to_owned()
        ]
    );
}

#[tokio::test]
async fn connected_socket_survives_the_upgrade_to_websocket() {
    let io = echo_io();
    let mut sockets = capture(&io.of("/"));
    let srv = serve(io).await;
    let p = Polling::open(srv.addr).await;
    p.post(&["40"]).await;
    let sid = connect_reply_sid(&p.get().await[0], "/");
    let socket: Socket = next(&mut sockets, "the socket").await;
    assert_eq!(socket.transport(), TransportKind::Polling);

    let mut ws = WsClient::upgrade(srv.addr, &p.sid).await;
    // Once the upgrade is done, packets go over the WebSocket.
    ws.assert_echo("/", "upgraded").await;
    assert_eq!(socket.transport(), TransportKind::WebSocket);
    socket.emit("direct", &sid).unwrap();
    assert_eq!(ws.recv().await, format!("42[\"direct\",\"{sid}\"]"));
}

/// A broadcast that overflows one client's send queue closes that client
/// (`transport error`) from inside the fan-out; the fan-out must not hold
/// the adapter's or the namespace's locks while it does, and the other
/// clients get every packet.
#[tokio::test]
async fn a_broadcast_overflowing_one_queue_closes_only_that_client() {
    let io = SocketIo::builder()
        .engine(|e| e.with_max_buffered_packets(8))
        .build()
        .expect("build");
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io.clone()).await;
    // Never polls again after its CONNECT reply: its queue fills up.
    let stuck = Polling::open(srv.addr).await;
    stuck.post(&["40"]).await;
    let stuck_sid = connect_reply_sid(&stuck.get().await[0], "/");
    let mut ws = WsClient::open(srv.addr).await;
    ws.connect("/").await;
    // One at a time, so that only the stuck queue grows: the 9th
    // broadcast overflows it.
    for i in 0..20 {
        io.emit("n", &i).expect("emit");
        assert_eq!(ws.recv().await, format!("42[\"n\",{i}]"));
    }
    let (sid, reason) = next(&mut gone, "the overflowing client's disconnect").await;
    assert_eq!(sid.as_str(), stuck_sid);
    assert_eq!(reason, DisconnectReason::TransportError);
    assert_empty(&mut gone);
}

/// The same with a broadcast that waits for acknowledgements: the full
/// queue closes its client during the fan-out, and the broadcast reports it
/// missing instead of hanging.
#[tokio::test]
async fn a_broadcast_with_acks_overflowing_one_queue_reports_it_missing() {
    let io = SocketIo::builder()
        .engine(|e| e.with_max_buffered_packets(2))
        .build()
        .expect("build");
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io.clone()).await;
    let stuck = Polling::open(srv.addr).await;
    stuck.post(&["40"]).await;
    let stuck_sid = connect_reply_sid(&stuck.get().await[0], "/");
    for round in 0..3 {
        let result = within(
            "the broadcast with acks",
            io.timeout(std::time::Duration::from_millis(50))
                .emit_with_ack::<_, serde_json::Value>("q", &round),
        )
        .await;
        if round < 2 {
            // Sent while the queue had room; nobody answers.
            assert_eq!(result.expect_err("no answer").missing.len(), 1);
        } else {
            // The third overflows the queue: the client is closed, and the
            // broadcast had nobody left to wait for.
            assert!(result.expect("no target").is_empty());
        }
    }
    let (sid, reason) = next(&mut gone, "the overflowing client's disconnect").await;
    assert_eq!(sid.as_str(), stuck_sid);
    assert_eq!(reason, DisconnectReason::TransportError);
}
