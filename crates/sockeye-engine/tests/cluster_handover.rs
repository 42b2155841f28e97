//! Cluster mode: the hand-over window. A WebSocket upgrade on another node
//! moves a session the application has not seen yet; a local upgrade, the
//! window's end or a close end the window.

mod cluster_support;
mod common;

use cluster_support::*;
use common::*;
use sockeye_engine::{CloseReason, EngineConfig, Message, TransportKind};
use std::time::Duration;

fn text(s: &str) -> Message {
    Message::Text(s.to_owned().into())
}

#[tokio::test]
async fn an_upgrade_on_another_node_within_the_window_moves_the_session() {
    let mut c = Cluster::start_with(3, EngineConfig::default, Duration::from_secs(30)).await;
    let client = Polling::open(c.addr(0)).await;
    // Sent before the upgrade, through a third node: it waits, unseen.
    post(c.addr(2), &on(&client, ""), "4early")
        .await
        .assert_ok();
    let session = c.nodes[0]
        .engine
        .session(client.sid.parse().unwrap())
        .unwrap();
    session.send_text("queued").unwrap();
    let mut ws = upgrade_on(c.addr(1), &client.sid).await;
    // The WebSocket's node opens it, on WebSocket, and gets what waited.
    match c.nodes[1].events.open_event(&client.sid).await {
        Event::Open { transport, .. } => assert_eq!(transport, TransportKind::WebSocket),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.nodes[1].events.message(&client.sid).await, text("early"));
    // What the old owner had queued, then the echo of the early message.
    assert_eq!(recv_text(&mut ws).await, "4queued");
    assert_eq!(recv_text(&mut ws).await, "4early");
    assert_ws_echo(&mut ws, "local now").await;
    assert_eq!(c.nodes[0].engine.stats().cluster().upgrades_handover(), 1);
    // The old owner's application never heard of it, and it is gone there.
    assert!(c.nodes[0].events.pending().is_empty());
    assert!(!c.nodes[0].knows(&client.sid));
    assert_eq!(c.nodes[0].engine.session_count(), 0);
    assert_eq!(c.nodes[1].engine.session_count(), 1);
    c.assert_idle().await;
    ws.close(None).await.unwrap();
    assert_eq!(
        c.nodes[1].events.closed(&client.sid).await,
        CloseReason::TransportClose
    );
}

#[tokio::test]
async fn a_local_upgrade_ends_the_window_at_once() {
    let mut c = Cluster::start_with(2, EngineConfig::default, Duration::from_secs(30)).await;
    let client = Polling::open(c.addr(0)).await;
    post(c.addr(1), &on(&client, ""), "4early")
        .await
        .assert_ok();
    assert!(c.nodes[0].events.pending().is_empty());
    let mut ws = upgrade_on(c.addr(0), &client.sid).await;
    // Well before the 30 s window: opened by the upgrade.
    c.nodes[0].events.open_event(&client.sid).await;
    assert_eq!(c.nodes[0].events.message(&client.sid).await, text("early"));
    assert_eq!(recv_text(&mut ws).await, "4early");
    assert_eq!(c.nodes[0].engine.stats().cluster().upgrades_local(), 1);
}

#[tokio::test]
async fn the_window_ends_by_itself_and_later_upgrades_are_relayed() {
    let mut c = Cluster::start_with(2, EngineConfig::default, Duration::from_millis(50)).await;
    let client = Polling::open(c.addr(0)).await;
    post(c.addr(1), &on(&client, ""), "4early")
        .await
        .assert_ok();
    c.nodes[0].events.open_event(&client.sid).await;
    assert_eq!(c.nodes[0].events.message(&client.sid).await, text("early"));
    let session = c.nodes[0].session(&client.sid);
    let mut ws = upgrade_on(c.addr(1), &client.sid).await;
    until("the owner to switch", || {
        session.transport() == TransportKind::WebSocket
    })
    .await;
    assert_eq!(recv_text(&mut ws).await, "4early");
    assert_ws_echo(&mut ws, "relayed").await;
    assert_eq!(c.nodes[0].engine.stats().cluster().upgrades_relay(), 1);
    assert_eq!(c.nodes[0].engine.stats().cluster().upgrades_handover(), 0);
}

#[tokio::test]
async fn a_session_closed_within_its_window_is_never_announced() {
    let mut c = Cluster::start_with(1, EngineConfig::default, Duration::from_secs(30)).await;
    let client = Polling::open(c.addr(0)).await;
    post(c.addr(0), &on(&client, ""), "1").await.assert_ok();
    until("the session to end", || {
        c.nodes[0].engine.session_count() == 0
    })
    .await;
    assert!(c.nodes[0].events.pending().is_empty());
}

#[tokio::test]
async fn a_hand_over_must_fit_under_the_receiving_nodes_caps() {
    let config = || EngineConfig::default().with_max_connections_per_address(Some(1));
    let mut c = Cluster::start_with(2, config, Duration::from_secs(30)).await;
    // The first session moves to node 1: it takes the address's one place
    // there (and frees it on node 0).
    let first = Polling::open(c.addr(0)).await;
    let mut ws1 = upgrade_on(c.addr(1), &first.sid).await;
    c.nodes[1].events.opened().await;
    assert_ws_echo(&mut ws1, "moved").await;
    // The second would exceed node 1's cap: it stays on node 0, relayed.
    let second = Polling::open(c.addr(0)).await;
    let mut ws2 = upgrade_on(c.addr(1), &second.sid).await;
    assert_ws_echo(&mut ws2, "relayed").await;
    let stats = c.nodes[0].engine.stats().cluster();
    assert_eq!(stats.upgrades_handover(), 1);
    assert_eq!(stats.upgrades_relay(), 1);
    assert_eq!(c.nodes[1].engine.session_count(), 1);
    assert_eq!(c.nodes[0].engine.session_count(), 1);
}
