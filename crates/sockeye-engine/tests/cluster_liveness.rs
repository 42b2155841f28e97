//! Cluster liveness over the in-memory bus: a lost lease check is not a
//! death sentence, and made-up sids cost nothing.

mod cluster_support;
mod common;

use cluster_support::*;
use common::*;
use sockeye_engine::EngineConfig;
use std::time::Duration;

/// POSTs `body` for `client` through `addr` until the owner accepts it.
async fn post_until_ok(addr: std::net::SocketAddr, client: &Polling, body: &str) {
    within("a forwarded POST to be accepted", async {
        loop {
            if post(addr, &on(client, ""), body.to_owned()).await.status == http::StatusCode::OK {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_node_held_dead_comes_back_when_its_lease_does() {
    let c = Cluster::start(2, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    post(c.addr(1), &on(&client, ""), "4a").await.assert_ok();
    // Redis lost the lease keys (restart, failover): node 0 looks dead.
    c.hub.hide_lease(c.tag(0));
    until("node 1 to hold node 0 dead", || {
        c.nodes[1].engine.stats().cluster().dead_tags() == 1
    })
    .await;
    post(c.addr(1), &on(&client, ""), "4b")
        .await
        .assert_error(400, 1, "Session ID unknown");
    // The lease is back: node 1 finds it at its next checks.
    c.hub.restore_lease(c.tag(0));
    post_until_ok(c.addr(1), &client, "4c").await;
    // The owner's session lived through it.
    assert!(c.nodes[0].engine.session_count() == 1);
}

#[tokio::test]
async fn a_flood_of_made_up_sids_shares_lease_checks_and_leaves_nothing() {
    let c = Cluster::start(2, EngineConfig::default).await;
    let addr = c.addr(0);
    let before = c.hub.checks();
    let mut requests = Vec::new();
    for i in 0..200u32 {
        let b = i.to_be_bytes();
        let tag = sockeye_engine::NodeTag([0xEE, b[2], b[3]]);
        let sid = sockeye_engine::proto::Sid::generate_with_tag(tag);
        let url = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
        requests.push(tokio::spawn(async move { get(addr, &url).await }));
    }
    for r in requests {
        r.await.unwrap().assert_error(400, 1, "Session ID unknown");
    }
    let checks = c.hub.checks() - before;
    assert!(checks < 100, "{checks} lease checks for 200 made-up sids");
    let stats = c.nodes[0].engine.stats().cluster();
    assert_eq!(stats.dead_tags(), 0);
    assert_eq!(stats.dead_tag_refusals(), 200);
    // Nothing retained: the next made-up sid is looked up again.
    let sid = sockeye_engine::proto::Sid::generate_with_tag(sockeye_engine::NodeTag([0xEE, 0, 0]));
    get(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
    )
    .await
    .assert_error(400, 1, "Session ID unknown");
    assert!(c.hub.checks() > before + checks);
}

#[tokio::test]
async fn the_death_of_a_forwarder_mid_probe_leaves_the_session_on_polling() {
    let mut c = Cluster::start(2, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    let url = format!(
        "ws://{}/engine.io/?EIO=4&transport=websocket&sid={}",
        c.addr(1),
        client.sid
    );
    let (mut ws, _) = ws_connect(&url).await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    // Node 1 dies before the upgrade is committed.
    c.hub.kill(c.tag(1));
    until("node 0 to hold node 1 dead", || {
        c.nodes[0].engine.stats().cluster().dead_tags() == 1
    })
    .await;
    assert_eq!(c.nodes[0].engine.cluster_backlog(), Some((0, 0, 0)));
    // The session lives on, on polling.
    client.post("4still").await.assert_ok();
    assert_eq!(
        c.nodes[0].events.message(&sid).await,
        sockeye_engine::Message::Text("still".to_owned().into())
    );
    assert_eq!(
        c.nodes[0].engine.stats().cluster().closed_by_peer_death(),
        0
    );
}
