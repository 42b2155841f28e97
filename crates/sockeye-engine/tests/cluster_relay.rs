//! Cluster mode: the end of a relay on the forwarder's side reaches the
//! owner.

mod cluster_support;
mod common;

use cluster_support::*;
use common::*;
use sockeye_engine::{CloseReason, EngineConfig, SendError, TransportKind};
use std::time::Duration;

#[tokio::test]
async fn a_relay_whose_client_stops_reading_ends_and_the_owner_is_told() {
    // The heartbeat would only notice after 10 s; the socket's write
    // deadline (ping_timeout) much earlier.
    let config = || {
        EngineConfig::default()
            .with_ping_interval(Duration::from_secs(10))
            .with_ping_timeout(Duration::from_millis(300))
            .with_max_buffered_packets(1 << 20)
            .with_max_buffered_bytes(256 << 20)
    };
    let mut c = Cluster::start(2, config).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    let session = c.nodes[0].session(&sid);
    // Upgraded through node 1, then never read again.
    let _ws = upgrade_on(c.addr(1), &client.sid).await;
    until("the owner to switch", || {
        session.transport() == TransportKind::WebSocket
    })
    .await;
    // More than the socket buffers hold (64 MB), within the owner's queue
    // cap (the session must not close by overflow).
    let big = "x".repeat(64 * 1024);
    let feeder = tokio::spawn(async move {
        for _ in 0..1024 {
            match session.send_text(big.clone()) {
                Ok(()) => tokio::task::yield_now().await,
                Err(e) => return Some(e),
            }
        }
        None
    });
    assert_eq!(
        c.nodes[0].events.closed(&sid).await,
        CloseReason::TransportError
    );
    assert_ne!(
        within("the feeder", feeder).await.unwrap(),
        Some(SendError::QueueFull)
    );
    assert_eq!(c.nodes[1].engine.stats().cluster().relays_failed(), 1);
    c.assert_idle().await;
}
