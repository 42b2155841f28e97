//! Abuse controls: the per-address caps on open sessions and handshakes per
//! second, and the total session cap. Over a cap, a handshake gets a clean
//! refusal (429/503 with the protocol's JSON, or as text for a WebSocket),
//! the trip is counted, and open sessions and other addresses go on.
//!
//! The built-in listener's address (`ConnectionInfo`) is 127.0.0.1 for every
//! client of a test; other addresses come through the tower path: a layer
//! that inserts a `SocketAddr` extension, as a tower user behind a trusted
//! proxy would.

mod common;

use bytes::Bytes;
use common::*;
use http::{Method, Request};
use http_body_util::Full;
use sockeye_engine::serve::Server;
use sockeye_engine::{EngineConfig, EngineService};
use std::net::SocketAddr;
use std::task::{Context, Poll};
use tower_service::Service;

/// Inserts the `x-test-peer` header's address as the request's
/// `SocketAddr` extension.
#[derive(Clone)]
struct PeerFromHeader<S>(S);

impl<S: Service<Request<B>>, B> Service<Request<B>> for PeerFromHeader<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        let peer = req
            .headers()
            .get("x-test-peer")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<SocketAddr>().ok());
        if let Some(peer) = peer {
            req.extensions_mut().insert(peer);
        }
        self.0.call(req)
    }
}

async fn start(config: EngineConfig) -> TestServer {
    TestServer::start_full(Server::builder().listen(LOCAL), config, true, |e| {
        PeerFromHeader(EngineService::new(e))
    })
    .await
}

/// A polling handshake from `peer`.
async fn handshake_from(server: &TestServer, peer: &str) -> Resp {
    send(
        server.addr,
        req(Method::GET, "/engine.io/?EIO=4&transport=polling")
            .header("x-test-peer", peer)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
}

fn sid_of(res: &Resp) -> String {
    assert_eq!(res.status.as_u16(), 200, "{res:?}");
    let (json, _) = parse_open(res.text());
    json["sid"].as_str().expect("sid").to_owned()
}

#[tokio::test]
async fn sessions_per_address_are_capped_and_freed_when_they_end() {
    let mut server = start(EngineConfig::default().with_max_connections_per_address(Some(2))).await;
    // Two sessions from the listener's address (127.0.0.1), one polling,
    // one WebSocket.
    let first = Polling::open(server.addr).await;
    let (mut ws, ws_sid, _) = ws_open(server.addr).await;
    // The third is refused, polling or WebSocket.
    get(server.addr, "/engine.io/?EIO=4&transport=polling")
        .await
        .assert_error(429, 4, "Too many connections from this address");
    match ws_connect_with(&ws_url(server.addr), &[]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status().as_u16(), 429);
            let body = res.body().clone().unwrap_or_default();
            assert_eq!(body, b"Too many connections from this address");
        }
        other => panic!("refusal expected, got {:?}", other.map(|(_, r)| r)),
    }
    assert_eq!(server.engine.stats().address_connections_refused(), 2);
    // Another address is not affected.
    let other = sid_of(&handshake_from(&server, "192.0.2.7:5000").await);
    assert!(server.knows(&other));
    // The open sessions go on; once one ends, its place is free again.
    assert_ws_echo(&mut ws, "still here").await;
    first.send("1").await;
    server.events.closed(&first.sid).await;
    let again = Polling::open(server.addr).await;
    assert!(server.knows(&again.sid));
    server.events.assert_open(&ws_sid);
}

#[tokio::test]
async fn handshakes_per_second_per_address_are_capped() {
    let config = EngineConfig::default().with_max_handshakes_per_second_per_address(Some(3));
    let server = start(config).await;
    // The window is one second: four handshakes in a row from one address
    // land in one window, or the first three in one and the fourth in the
    // next. Ten in a row cannot all pass.
    let mut refused = 0;
    for _ in 0..10 {
        let res = handshake_from(&server, "198.51.100.1:1").await;
        if res.status.as_u16() == 429 {
            res.assert_error(429, 4, "Too many handshakes from this address");
            refused += 1;
        } else {
            sid_of(&res);
        }
    }
    assert!(refused >= 1, "no handshake was refused");
    assert_eq!(
        server.engine.stats().address_handshakes_refused(),
        refused as u64
    );
    // Another address still gets in.
    sid_of(&handshake_from(&server, "198.51.100.2:1").await);
}

#[tokio::test]
async fn total_sessions_are_capped() {
    let mut server = start(EngineConfig::default().with_max_sessions(Some(2))).await;
    let a = Polling::open(server.addr).await;
    let _b = Polling::open(server.addr).await;
    let res = handshake_from(&server, "203.0.113.9:1").await;
    res.assert_error(503, 4, "Too many sessions");
    assert_eq!(server.engine.stats().sessions_refused(), 1);
    a.send("4ok").await;
    assert_eq!(a.poll().await, "4ok");
    a.send("1").await;
    server.events.closed(&a.sid).await;
    sid_of(&handshake_from(&server, "203.0.113.9:1").await);
}

#[tokio::test]
async fn no_caps_by_default() {
    let server = start(EngineConfig::default()).await;
    for _ in 0..50 {
        sid_of(&handshake_from(&server, "198.51.100.1:1").await);
    }
    assert_eq!(server.engine.session_count(), 50);
    let stats = server.engine.stats();
    assert_eq!(
        (
            stats.sessions_refused(),
            stats.address_connections_refused(),
            stats.address_handshakes_refused()
        ),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn ipv6_addresses_are_capped_per_64_prefix() {
    let server = start(EngineConfig::default().with_max_connections_per_address(Some(1))).await;
    sid_of(&handshake_from(&server, "[2001:db8:0:1::1]:1").await);
    // Another address of the same /64 is the same client.
    handshake_from(&server, "[2001:db8:0:1:ffff:ffff:ffff:ffff]:1")
        .await
        .assert_error(429, 4, "Too many connections from this address");
    // The next /64 is another client.
    sid_of(&handshake_from(&server, "[2001:db8:0:2::1]:1").await);
    // An IPv4-mapped IPv6 address is its IPv4 address.
    sid_of(&handshake_from(&server, "192.0.2.1:1").await);
    handshake_from(&server, "[::ffff:192.0.2.1]:1")
        .await
        .assert_error(429, 4, "Too many connections from this address");
    assert_eq!(server.engine.stats().address_connections_refused(), 2);
}

#[tokio::test]
async fn the_ipv6_prefix_is_configurable() {
    let config = EngineConfig::default()
        .with_max_connections_per_address(Some(1))
        .with_ipv6_address_prefix(128);
    let server = start(config).await;
    sid_of(&handshake_from(&server, "[2001:db8:0:1::1]:1").await);
    sid_of(&handshake_from(&server, "[2001:db8:0:1::2]:1").await);
    handshake_from(&server, "[2001:db8:0:1::2]:2")
        .await
        .assert_error(429, 4, "Too many connections from this address");
}
