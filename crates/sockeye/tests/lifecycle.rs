//! How sockets end, with the exact disconnect reasons (transport close over
//! WebSocket and polling, ping timeout, server shutdown), heartbeats over
//! a live socket, and fairness under a flood of events.

mod common;

use common::*;
use sockeye::{Data, DisconnectReason, Socket, SocketIo};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

#[tokio::test]
async fn websocket_close_is_transport_close() {
    let io = echo_io();
    let mut gone = disconnects(&io.of("/"));
    let mut gone_custom = disconnects(&io.of("/custom"));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    let sid = c.connect("/").await;
    let custom = c.connect("/custom").await;
    c.close().await;
    let (id, reason) = next(&mut gone, "the disconnect").await;
    assert_eq!(
        (id.to_string(), reason),
        (sid, DisconnectReason::TransportClose)
    );
    let (id, reason) = next(&mut gone_custom, "the custom disconnect").await;
    assert_eq!(
        (id.to_string(), reason),
        (custom, DisconnectReason::TransportClose)
    );
    assert_eq!(reason.as_str(), "transport close");
}

#[tokio::test]
async fn polling_close_packet_is_transport_close() {
    let io = echo_io();
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let p = Polling::open(srv.addr).await;
    p.post(&["40"]).await;
    let reply = p.get().await;
    let sid = connect_reply_sid(&reply[0], "/");
    // Events work over polling too.
    p.post(&[r#"42["message","over polling"]"#]).await;
    assert_eq!(p.get().await, [r#"42["message-back","over polling"]"#]);
    p.post(&["1"]).await;
    let (id, reason) = next(&mut gone, "the disconnect").await;
    assert_eq!(
        (id.to_string(), reason),
        (sid, DisconnectReason::TransportClose)
    );
}

#[tokio::test]
async fn missing_pongs_are_ping_timeout() {
    let io = SocketIo::builder()
        .ping_interval(Duration::from_millis(50))
        .ping_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    assert_eq!(c.open["pingInterval"], 50);
    assert_eq!(c.open["pingTimeout"], 50);
    c.auto_pong = false;
    c.connect("/").await;
    assert_eq!(c.recv_raw().await, "2");
    let (_, reason) = next(&mut gone, "the disconnect").await;
    assert_eq!(reason, DisconnectReason::PingTimeout);
    assert_eq!(reason.as_str(), "ping timeout");
    c.expect_closed().await;
}

#[tokio::test]
async fn answered_pings_keep_the_socket() {
    let io = SocketIo::builder()
        .ping_interval(Duration::from_millis(30))
        .ping_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    io.on_connection(echo_handlers);
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    for _ in 0..5 {
        assert_eq!(c.recv_raw().await, "2");
        c.send("3").await;
    }
    c.assert_echo("/", "still connected").await;
}

#[tokio::test]
async fn server_close_is_server_shutting_down() {
    let io = echo_io();
    let mut gone = disconnects(&io.of("/"));
    let mut gone_custom = disconnects(&io.of("/custom"));
    let srv = serve(io).await;
    let mut a = WsClient::open(srv.addr).await;
    a.connect("/").await;
    a.connect("/custom").await;
    let mut b = WsClient::open(srv.addr).await;
    b.connect("/").await;
    let p = Polling::open(srv.addr).await;
    p.post(&["40"]).await;
    p.get().await;
    let io = srv.io.clone();
    let closing = tokio::spawn(async move { io.close(WAIT).await });
    let (_, reason) = next(&mut gone, "a main disconnect").await;
    assert_eq!(reason, DisconnectReason::ServerShuttingDown);
    // The polling client gets the close packet on its next poll.
    assert_eq!(p.get().await, ["1"]);
    within("io.close", closing).await.unwrap();
    for _ in 0..2 {
        let (_, reason) = next(&mut gone, "a main disconnect").await;
        assert_eq!(reason, DisconnectReason::ServerShuttingDown);
    }
    let (_, reason) = next(&mut gone_custom, "the custom disconnect").await;
    assert_eq!(reason, DisconnectReason::ServerShuttingDown);
    assert_eq!(reason.as_str(), "server shutting down");
    a.expect_closed().await;
    b.expect_closed().await;
    assert_eq!(srv.io.of("/").socket_count(), 0);
    assert_eq!(srv.io.engine().session_count(), 0);
}

#[tokio::test]
async fn disconnect_handlers_run_once() {
    let io = SocketIo::builder().build().unwrap();
    let (tx, mut seen) = mpsc::unbounded_channel();
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            let t = tx.clone();
            socket.on_disconnect(move |_s: Socket, r| async move {
                let _ = t.send(r);
            });
            socket.on("bye", |socket: Socket| async move {
                socket.disconnect();
                socket.disconnect();
            });
        }
    });
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(r#"42["bye"]"#).await;
    assert_eq!(c.recv().await, "41");
    assert_eq!(
        next(&mut seen, "the disconnect").await,
        DisconnectReason::ServerNamespaceDisconnect
    );
    // The client then closes: no second report for the same socket.
    c.close().await;
    let socket_gone = within("the engine session to end", async {
        while srv.io.engine().session_count() > 0 {
            tokio::task::yield_now().await;
        }
    });
    socket_gone.await;
    assert_empty(&mut seen);
}

#[tokio::test]
async fn a_flooding_client_does_not_starve_another() {
    const N: u64 = 10_000;
    let io = echo_io();
    let count = Arc::new(AtomicU64::new(0));
    let sum = Arc::new(AtomicU64::new(0));
    let (done_tx, mut done) = mpsc::unbounded_channel();
    {
        let (count, sum) = (count.clone(), sum.clone());
        io.on_connection(move |socket: Socket| {
            let (count, sum, done_tx) = (count.clone(), sum.clone(), done_tx.clone());
            async move {
                socket.on("flood", move |_s: Socket, Data(i): Data<u64>| {
                    let (count, sum, done_tx) = (count.clone(), sum.clone(), done_tx.clone());
                    async move {
                        sum.fetch_add(i, Ordering::Relaxed);
                        if count.fetch_add(1, Ordering::Relaxed) + 1 == N {
                            let _ = done_tx.send(());
                        }
                    }
                });
            }
        });
    }
    let srv = serve(io).await;
    let mut flooder = WsClient::open(srv.addr).await;
    flooder.connect("/").await;
    let mut other = WsClient::open(srv.addr).await;
    other.connect("/").await;

    let flood = tokio::spawn(async move {
        flooder
            .send_all((0..N).map(|i| format!("42[\"flood\",{i}]")))
            .await;
        flooder
    });
    // Served normally meanwhile.
    for i in 0..20 {
        other.assert_echo("/", &format!("rt-{i}")).await;
    }
    let mut flooder = within("the flood to be sent", flood).await.unwrap();
    next(&mut done, "every flood event").await;
    assert_eq!(count.load(Ordering::Relaxed), N);
    assert_eq!(sum.load(Ordering::Relaxed), N * (N - 1) / 2);
    // Both are still connected.
    flooder.assert_echo("/", "flooder").await;
    other.assert_echo("/", "other").await;
}
