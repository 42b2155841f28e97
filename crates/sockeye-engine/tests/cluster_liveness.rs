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
