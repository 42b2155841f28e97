//! A cluster of test servers on one in-memory bus, for the cluster tests.

#![allow(dead_code, unreachable_pub, missing_debug_implementations)]

use crate::common::*;
use sockeye_engine::{ClusterConfig, EngineConfig, MemoryHub, NodeTag};
use std::sync::Arc;
use std::time::Duration;

pub struct Cluster {
    pub hub: Arc<MemoryHub>,
    pub nodes: Vec<TestServer>,
}

impl Cluster {
    /// Nodes without hand-over window: the application sees sessions at
    /// once, upgrades on another node are relayed.
    pub async fn start(n: usize, config: impl Fn() -> EngineConfig) -> Cluster {
        Self::start_with(n, config, Duration::ZERO).await
    }

    pub async fn start_with(
        n: usize,
        config: impl Fn() -> EngineConfig,
        window: Duration,
    ) -> Cluster {
        Self::start_tuned(n, config, window, |c| c).await
    }

    /// Like [`Cluster::start_with`], with the cluster options of every
    /// node passed through `tune`.
    pub async fn start_tuned(
        n: usize,
        config: impl Fn() -> EngineConfig,
        window: Duration,
        tune: impl Fn(ClusterConfig) -> ClusterConfig,
    ) -> Cluster {
        let hub = MemoryHub::new();
        let mut nodes = Vec::new();
        for _ in 0..n {
            let cluster = tune(
                ClusterConfig::new(hub.join())
                    .with_heartbeat(Duration::from_millis(50))
                    .with_request_timeout(Duration::from_millis(500))
                    .with_handover_window(window),
            );
            nodes.push(TestServer::start(config().with_cluster(Some(cluster))).await);
        }
        Cluster { hub, nodes }
    }

    pub fn tag(&self, i: usize) -> NodeTag {
        self.nodes[i].engine.node_tag().expect("cluster mode")
    }

    pub fn addr(&self, i: usize) -> std::net::SocketAddr {
        self.nodes[i].addr
    }

    /// Waits until no node has cluster state left.
    pub async fn assert_idle(&self) {
        within("the cluster state to drain", async {
            loop {
                if self
                    .nodes
                    .iter()
                    .all(|n| n.engine.cluster_backlog() == Some((0, 0, 0)))
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    }
}

/// Waits until `cond` holds (a state the engine reaches by itself).
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
}

/// A session's polling URL on another node.
pub fn on(client: &Polling, extra: &str) -> String {
    client.url(extra)
}

/// Completes a WebSocket upgrade of `sid` on `addr`.
pub async fn upgrade_on(addr: std::net::SocketAddr, sid: &str) -> Ws {
    let url = format!("ws://{addr}/engine.io/?EIO=4&transport=websocket&sid={sid}");
    let (mut ws, _) = ws_connect(&url).await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    send_text(&mut ws, "5").await;
    ws
}
