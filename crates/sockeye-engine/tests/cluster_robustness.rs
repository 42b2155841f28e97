//! Cluster mode under stress: a slow handler, an owner whose inbox runs
//! late, a broken forwarded body, full budgets, a lost lease.

mod cluster_support;
mod common;

use cluster_support::*;
use common::*;
use futures_util::StreamExt;
use http::StatusCode;
use sockeye_engine::{CloseReason, EngineConfig, Message};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn text(s: &str) -> Message {
    Message::Text(s.to_owned().into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_handler_holds_up_only_its_own_session() {
    let mut c = Cluster::start(2, EngineConfig::default).await;
    let a = Polling::open(c.addr(0)).await;
    let b = Polling::open(c.addr(0)).await;
    c.nodes[0].events.open_event(&a.sid).await;
    c.nodes[0].events.open_event(&b.sid).await;
    // Session a's handler blocks, applied on the owner for node 1.
    let (addr, url) = (c.addr(1), a.url(""));
    let held = tokio::spawn(async move { post(addr, &url, format!("4{HOLD_MESSAGE}")).await });
    until("the handler to hold", || holding() == 1).await;
    // Session b's POST, through the same two nodes, is applied meanwhile
    // (within the 500 ms the forwarder waits).
    let meanwhile = post(c.addr(1), &b.url(""), "4hi").await;
    // Released before any assertion: a failure must not hang the test.
    release();
    meanwhile.assert_ok();
    assert_eq!(c.nodes[0].events.message(&b.sid).await, text("hi"));
    within("the held POST", held).await.unwrap().assert_ok();
    assert_eq!(c.nodes[0].events.message(&a.sid).await, text(HOLD_MESSAGE));
    c.assert_idle().await;
}

/// Probes a WebSocket upgrade of `sid` on `addr`, then pauses `owner`'s
/// inbox before the client commits: the holder's COMMIT times out, it
/// aborts and closes the socket; then the owner applies both, late.
async fn commit_late(c: &Cluster, owner: usize, holder: usize, sid: &str) {
    let url = format!(
        "ws://{}/engine.io/?EIO=4&transport=websocket&sid={sid}",
        c.addr(holder)
    );
    let (mut ws, _) = ws_connect(&url).await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    c.hub.pause(c.tag(owner));
    send_text(&mut ws, "5").await;
    within("the holder to close the socket", async {
        while let Some(Ok(msg)) = ws.next().await {
            if msg.is_close() {
                break;
            }
        }
    })
    .await;
    assert_eq!(c.nodes[holder].engine.stats().cluster().timeouts(), 1);
    c.hub.resume(c.tag(owner));
}

#[tokio::test]
async fn a_relay_committed_after_its_holder_gave_up_closes_at_once() {
    let mut c = Cluster::start(2, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    commit_late(&c, 0, 1, &client.sid).await;
    // Not at the ping timeout (45 s): the abort that follows the late
    // commit ends the relay that has no socket.
    assert_eq!(
        c.nodes[0].events.closed(&sid).await,
        CloseReason::TransportError
    );
    assert_eq!(c.nodes[0].engine.stats().cluster().relays_aborted(), 1);
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");
    c.assert_idle().await;
}

#[tokio::test]
async fn a_hand_over_applied_after_its_holder_gave_up_leaves_nothing_behind() {
    let mut c = Cluster::start_with(2, EngineConfig::default, Duration::from_secs(30)).await;
    let client = Polling::open(c.addr(0)).await;
    commit_late(&c, 0, 1, &client.sid).await;
    // The owner gave the session away; the holder, gone, dropped it: the
    // client (whose WebSocket closed) reconnects. No half is left.
    until("the owner to apply the late commit", || {
        c.nodes[0].engine.stats().cluster().upgrades_handover() == 1
    })
    .await;
    assert!(!c.nodes[0].knows(&client.sid));
    assert!(!c.nodes[1].knows(&client.sid));
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");
    c.assert_idle().await;
    // The application never heard of it, on either node.
    assert!(c.nodes[0].events.pending().is_empty());
    assert!(c.nodes[1].events.pending().is_empty());
}

#[tokio::test]
async fn a_forwarded_post_whose_body_breaks_closes_the_session() {
    let mut c = Cluster::start(2, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    let mut tcp = TcpStream::connect(c.addr(1)).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 100\r\n\r\n4half",
        client.url("")
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.flush().await.unwrap();
    drop(tcp);
    // As for a local POST cut mid-body.
    assert_eq!(
        c.nodes[0].events.closed(&sid).await,
        CloseReason::TransportError
    );
}

#[tokio::test]
async fn parked_gets_do_not_spend_the_budget_of_posts() {
    let mut c = Cluster::start_tuned(2, EngineConfig::default, Duration::ZERO, |c| {
        c.with_max_in_flight(1).with_max_waiting(2)
    })
    .await;
    let clients = [
        Polling::open(c.addr(0)).await,
        Polling::open(c.addr(0)).await,
        Polling::open(c.addr(0)).await,
    ];
    for client in &clients {
        c.nodes[0].events.open_event(&client.sid).await;
    }
    // Two GETs parked on the owner through node 1: its waiting budget.
    for client in &clients[..2] {
        let (addr, url) = (c.addr(1), client.url(""));
        tokio::spawn(async move { get(addr, &url).await });
    }
    until("two GETs to park", || {
        c.nodes[1].engine.cluster_backlog().map(|b| b.0) == Some(2)
    })
    .await;
    // A POST still has its own budget.
    post(c.addr(1), &clients[2].url(""), "4hi")
        .await
        .assert_ok();
    assert_eq!(c.nodes[0].events.message(&clients[2].sid).await, text("hi"));
    // A third long wait is over the waiting budget: 503, the session lives.
    let res = get(c.addr(1), &clients[2].url("")).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(c.nodes[1].engine.stats().cluster().busy(), 1);
    assert_eq!(clients[2].poll().await, "4hi");
}

#[tokio::test]
async fn a_node_that_lost_its_lease_refuses_new_sessions() {
    let c = Cluster::start(2, EngineConfig::default).await;
    c.hub.hide_lease(c.tag(0));
    let res = get(c.addr(0), "/engine.io/?EIO=4&transport=polling").await;
    res.assert_error(503, 3, "Cluster membership lost");
    assert_eq!(c.nodes[0].engine.stats().cluster().membership_refusals(), 1);
    // The other node is unaffected; the lease back, so is this one.
    Polling::open(c.addr(1)).await;
    c.hub.restore_lease(c.tag(0));
    Polling::open(c.addr(0)).await;
}

#[tokio::test]
async fn frames_are_applied_only_with_the_clusters_secret() {
    let mut c = Cluster::start_tuned(2, EngineConfig::default, Duration::ZERO, |c| {
        c.with_secret("one secret")
    })
    .await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    post(c.addr(1), &client.url(""), "4hi").await.assert_ok();
    assert_eq!(c.nodes[0].events.message(&sid).await, text("hi"));

    // A node with another secret (or none) is not heard: its forwards get
    // no answer (400 once they time out), and nothing reaches the session.
    for secret in [Some("another secret"), None] {
        let cluster = sockeye_engine::ClusterConfig::new(c.hub.join())
            .with_request_timeout(Duration::from_millis(300));
        let cluster = match secret {
            Some(s) => cluster.with_secret(s),
            None => cluster,
        };
        let stranger = TestServer::start(EngineConfig::default().with_cluster(Some(cluster))).await;
        post(stranger.addr, &client.url(""), "4forged")
            .await
            .assert_error(400, 1, "Session ID unknown");
        assert_eq!(stranger.engine.stats().cluster().timeouts(), 1);
    }
    assert_eq!(c.nodes[0].engine.stats().cluster().forwarded_in_post(), 1);
    c.nodes[0].events.assert_open(&sid);
    assert!(c.nodes[0].events.pending().is_empty());
}

#[tokio::test]
async fn messages_waiting_out_the_hand_over_window_are_bounded_in_bytes() {
    let config = || EngineConfig::default().with_max_buffered_bytes(1000);
    let mut c = Cluster::start_with(2, config, Duration::from_secs(30)).await;
    let client = Polling::open(c.addr(0)).await;
    let within_bound = format!("4{}", "a".repeat(400));
    client
        .post(format!("{within_bound}\x1e{within_bound}"))
        .await
        .assert_ok();
    assert!(c.nodes[0].knows(&client.sid));
    // Over 1,000 bytes waiting for a handler that has not seen the session:
    // closed (and, never announced, never reported).
    let _ = client.post(within_bound).await;
    until("the session to close", || !c.nodes[0].knows(&client.sid)).await;
    assert!(c.nodes[0].events.pending().is_empty());
}

#[tokio::test]
async fn a_handler_that_panics_does_not_stall_its_sessions_later_frames() {
    let mut c = Cluster::start(2, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    // Applied on the owner for node 1, the handler panics: that POST gets
    // no answer (400 once node 1 stops waiting).
    let res = post(c.addr(1), &client.url(""), format!("4{PANIC_MESSAGE}")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    // The session's next frames get a new worker.
    post(c.addr(1), &client.url(""), "4after").await.assert_ok();
    assert_eq!(c.nodes[0].events.message(&sid).await, text("after"));
    c.assert_idle().await;
}
