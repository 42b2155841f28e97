//! Cluster mode over the in-memory bus: three real servers on port 0, one
//! session's requests spread over them (the cases of Node's
//! cluster-engine tests, and node death).

mod cluster_support;
mod common;

use cluster_support::*;
use common::*;
use futures_util::StreamExt;
use http::StatusCode;
use sockeye_engine::{CloseReason, EngineConfig, Message, NodeTag, TransportKind};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn text(s: &str) -> Message {
    Message::Text(s.to_owned().into())
}

#[tokio::test]
async fn sids_carry_the_owner_tag() {
    let c = Cluster::start(2, EngineConfig::default).await;
    let a = Polling::open(c.addr(0)).await;
    let b = Polling::open(c.addr(1)).await;
    assert!(a.sid.starts_with(&c.tag(0).to_string()), "{}", a.sid);
    assert!(b.sid.starts_with(&c.tag(1).to_string()), "{}", b.sid);
    assert_ne!(c.tag(0), c.tag(1));
}

#[tokio::test]
async fn forwarded_get_is_answered_at_once_and_after_a_delay() {
    let mut c = Cluster::start(3, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    let session = c.nodes[0].session(&sid);
    // Queued before the GET: answered at once through node 1.
    session.send_text("hello").unwrap();
    let res = get(c.addr(1), &on(&client, "")).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.text(), "4hello");
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; charset=UTF-8")
    );
    // Parked on the owner first, then answered.
    let url = on(&client, "");
    let addr = c.addr(2);
    let pending = tokio::spawn(async move { get(addr, &url).await });
    until("the forwarded GET to park on the owner", || {
        session.is_writable()
    })
    .await;
    session.send_text("later").unwrap();
    let res = within("the forwarded GET", pending).await.unwrap();
    assert_eq!(res.text(), "4later");
    let stats = c.nodes[0].engine.stats().cluster();
    assert_eq!(stats.forwarded_in_get(), 2);
    assert_eq!(c.nodes[1].engine.stats().cluster().forwarded_out_get(), 1);
    c.nodes[0].events.assert_open(&sid);
    c.assert_idle().await;
}

#[tokio::test]
async fn forwarded_post_reaches_the_owner_before_it_is_answered() {
    let mut c = Cluster::start(3, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    post(c.addr(1), &on(&client, ""), "4hello")
        .await
        .assert_ok();
    // Already dispatched when the 200 came back.
    let seen = c.nodes[0].events.pending();
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::Message { message, .. } if *message == text("hello"))),
        "{seen:?}"
    );
    // The echo comes back through the third node.
    assert_eq!(get(c.addr(2), &on(&client, "")).await.text(), "4hello");
    c.nodes[0].events.assert_open(&sid);
}

#[tokio::test]
async fn messages_posted_through_alternating_nodes_keep_their_order() {
    let mut c = Cluster::start(3, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    for i in 0..6 {
        let body = format!("4m{}\u{1e}4m{}", 2 * i, 2 * i + 1);
        post(c.addr(i % 3), &on(&client, ""), body)
            .await
            .assert_ok();
    }
    for i in 0..12 {
        assert_eq!(
            c.nodes[0].events.message(&sid).await,
            text(&format!("m{i}"))
        );
    }
    // The echoes, in order, through whichever node polls.
    let mut got = Vec::new();
    let mut turn = 0;
    while got.len() < 12 {
        let res = get(c.addr(turn % 3), &on(&client, "")).await;
        assert_eq!(res.status, StatusCode::OK);
        got.extend(res.text().split('\u{1e}').map(str::to_owned));
        turn += 1;
    }
    let expected: Vec<String> = (0..12).map(|i| format!("4m{i}")).collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn a_second_concurrent_get_through_another_node_is_refused() {
    let mut c = Cluster::start(3, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    let session = c.nodes[0].session(&sid);
    let url = on(&client, "");
    let addr = c.addr(1);
    let first = tokio::spawn(async move { get(addr, &url).await });
    until("the first GET to park on the owner", || {
        session.is_writable()
    })
    .await;
    // As locally: the second fails, the session closes, the first gets `1`.
    get(c.addr(2), &on(&client, "")).await.assert_empty(400);
    let first = within("the first GET", first).await.unwrap();
    assert_eq!(first.text(), "1");
    assert_eq!(
        c.nodes[0].events.closed(&sid).await,
        CloseReason::TransportError
    );
    c.assert_idle().await;
}

#[tokio::test]
async fn a_server_close_reaches_the_client_through_a_forwarded_get() {
    let mut c = Cluster::start(2, EngineConfig::default).await;
    // Closed while the GET waits.
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    let session = c.nodes[0].session(&sid);
    let url = on(&client, "");
    let addr = c.addr(1);
    let pending = tokio::spawn(async move { get(addr, &url).await });
    until("the GET to park", || session.is_writable()).await;
    session.close();
    assert_eq!(within("the GET", pending).await.unwrap().text(), "1");
    // Closed with no GET pending: the next forwarded GET gets `1` at once.
    let other = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    assert_eq!(sid, other.sid);
    c.nodes[0].session(&sid).close();
    assert_eq!(get(c.addr(1), &on(&other, "")).await.text(), "1");
    // Then it is gone.
    get(c.addr(1), &on(&other, ""))
        .await
        .assert_error(400, 1, "Session ID unknown");
}

#[tokio::test]
async fn a_client_abort_on_the_forwarder_closes_the_session_on_the_owner() {
    let mut c = Cluster::start(2, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    let session = c.nodes[0].session(&sid);
    let url = on(&client, "");
    let addr = c.addr(1);
    let pending = tokio::spawn(async move { get(addr, &url).await });
    until("the GET to park", || session.is_writable()).await;
    pending.abort();
    assert_eq!(
        c.nodes[0].events.closed(&sid).await,
        CloseReason::TransportError
    );
    c.assert_idle().await;
}

#[tokio::test]
async fn ping_pong_across_nodes_leaves_no_state() {
    let config = || {
        EngineConfig::default()
            .with_ping_interval(Duration::from_millis(30))
            .with_ping_timeout(Duration::from_millis(2000))
    };
    let mut c = Cluster::start(3, config).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    for i in 0..10 {
        let res = get(c.addr(i % 3), &on(&client, "")).await;
        assert_eq!(res.text(), "2", "cycle {i}");
        post(c.addr((i + 1) % 3), &on(&client, ""), "3")
            .await
            .assert_ok();
    }
    c.nodes[0].events.assert_open(&sid);
    c.assert_idle().await;
}

#[tokio::test]
async fn unknown_sids_are_refused_without_waiting() {
    let c = Cluster::start(2, EngineConfig::default).await;
    let of = |tag: NodeTag| sockeye_engine::proto::Sid::generate_with_tag(tag);
    let url =
        |sid: sockeye_engine::proto::Sid| format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
    // Owned by this node, or by a live node that does not know it.
    for sid in [of(c.tag(0)), of(c.tag(1))] {
        get(c.addr(0), &url(sid))
            .await
            .assert_error(400, 1, "Session ID unknown");
        post(c.addr(0), &url(sid), "4x")
            .await
            .assert_error(400, 1, "Session ID unknown");
    }
    assert_eq!(c.nodes[1].engine.stats().cluster().nacks(), 2);
    // Of a node that never existed: refused without asking anyone.
    let ghost = of(NodeTag([7, 7, 7]));
    let start = std::time::Instant::now();
    get(c.addr(0), &url(ghost))
        .await
        .assert_error(400, 1, "Session ID unknown");
    assert!(start.elapsed() < Duration::from_millis(400));
    assert_eq!(c.nodes[0].engine.stats().cluster().dead_tag_refusals(), 1);
}

#[tokio::test]
async fn a_post_over_max_payload_is_refused_by_the_forwarder() {
    let mut c = Cluster::start(2, || EngineConfig::default().with_max_payload(100)).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    post(c.addr(1), &on(&client, ""), format!("4{}", "x".repeat(100)))
        .await
        .assert_empty(413);
    assert_eq!(c.nodes[1].engine.stats().cluster().forwarded_out_post(), 0);
    assert_eq!(c.nodes[1].engine.stats().payloads_too_large(), 1);
    post(c.addr(1), &on(&client, ""), "4fits").await.assert_ok();
    assert_eq!(c.nodes[0].events.message(&sid).await, text("fits"));
}

#[tokio::test]
async fn eio3_sessions_work_through_a_forwarder() {
    let mut c = Cluster::start(2, || EngineConfig::default().with_allow_eio3(true)).await;
    let client = Polling::open_at(c.addr(0), "/engine.io/", 3).await;
    let sid = c.nodes[0].events.opened().await;
    // A text payload, then a binary one (v3 binary framing).
    post(c.addr(1), &on(&client, ""), "6:4hello")
        .await
        .assert_ok();
    assert_eq!(c.nodes[0].events.message(&sid).await, text("hello"));
    assert_eq!(get(c.addr(1), &on(&client, "")).await.text(), "6:4hello");
    let session = c.nodes[0].session(&sid);
    session
        .send_binary(bytes::Bytes::from_static(&[1, 2, 3]))
        .unwrap();
    let res = get(c.addr(1), &on(&client, "")).await;
    assert_eq!(res.header("content-type"), Some("application/octet-stream"));
    assert_eq!(&res.body[..], &[1, 4, 0xff, 4, 1, 2, 3]);
    // b64 clients get base64 through the forwarder too.
    let handshake = get(c.addr(0), "/engine.io/?EIO=3&transport=polling&b64=1").await;
    let (open, _) = parse_open(handshake.text().split_once(':').unwrap().1);
    let b64_sid = open["sid"].as_str().unwrap().to_owned();
    c.nodes[0].events.open_event(&b64_sid).await;
    c.nodes[0]
        .session(&b64_sid)
        .send_binary(bytes::Bytes::from_static(&[1, 2, 3]))
        .unwrap();
    let url = format!("/engine.io/?EIO=3&transport=polling&b64=1&sid={b64_sid}");
    let res = get(c.addr(1), &url).await;
    assert_eq!(res.text(), "6:b4AQID");
}

#[tokio::test]
async fn a_websocket_upgrade_on_a_non_owner_is_relayed() {
    let mut c = Cluster::start(3, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    let session = c.nodes[0].session(&sid);
    // The client's poll waits (through node 2) during the upgrade.
    let url = on(&client, "");
    let addr = c.addr(2);
    let poll = tokio::spawn(async move { get(addr, &url).await });
    until("the poll to park", || session.is_writable()).await;
    let ws_url = format!(
        "ws://{}/engine.io/?EIO=4&transport=websocket&sid={}",
        c.addr(1),
        client.sid
    );
    let (mut ws, _) = ws_connect(&ws_url).await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    // Released with noop as soon as the probe was answered.
    assert_eq!(within("the poll", poll).await.unwrap().text(), "6");
    // A message posted through a third node during the upgrade reaches
    // the owner (Node's take-over test posts one the same way).
    post(c.addr(0), &on(&client, ""), "4during")
        .await
        .assert_ok();
    assert_eq!(c.nodes[0].events.message(&sid).await, text("during"));
    send_text(&mut ws, "5").await;
    until("the owner to switch", || {
        session.transport() == TransportKind::WebSocket
    })
    .await;
    // Its echo was queued on the owner: it comes through the relay first.
    assert_eq!(recv_text(&mut ws).await, "4during");
    // Frames both ways through the relay (the server echoes).
    assert_ws_echo(&mut ws, "one").await;
    send_binary(&mut ws, &[9, 8, 7]).await;
    assert_eq!(recv(&mut ws).await, WsMessage::binary(vec![9, 8, 7]));
    session.send_text("pushed").unwrap();
    assert_eq!(recv_text(&mut ws).await, "4pushed");
    // Polling is over for this session, on any node.
    get(c.addr(0), &on(&client, ""))
        .await
        .assert_error(400, 3, "Bad request");
    assert_eq!(c.nodes[0].engine.stats().cluster().upgrades_relay(), 1);
    // The client closes: the owner closes the session.
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}
    assert_eq!(
        c.nodes[0].events.closed(&sid).await,
        CloseReason::TransportClose
    );
    c.assert_idle().await;
}

#[tokio::test]
async fn a_relayed_websocket_closes_when_the_owner_closes_the_session() {
    let mut c = Cluster::start(2, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    let session = c.nodes[0].session(&sid);
    let ws_url = format!(
        "ws://{}/engine.io/?EIO=4&transport=websocket&sid={}",
        c.addr(1),
        client.sid
    );
    let (mut ws, _) = ws_connect(&ws_url).await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    send_text(&mut ws, "5").await;
    until("the owner to switch", || {
        session.transport() == TransportKind::WebSocket
    })
    .await;
    session.send_text("last").unwrap();
    session.close();
    let (_, before) = expect_close(&mut ws).await;
    assert_eq!(before, vec![WsMessage::text("4last")]);
    c.assert_idle().await;
}

#[tokio::test]
async fn the_heartbeat_runs_through_a_relay() {
    let config = || {
        EngineConfig::default()
            .with_ping_interval(Duration::from_millis(40))
            .with_ping_timeout(Duration::from_millis(300))
    };
    let mut c = Cluster::start(2, config).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    let ws_url = format!(
        "ws://{}/engine.io/?EIO=4&transport=websocket&sid={}",
        c.addr(1),
        client.sid
    );
    let (mut ws, _) = ws_connect(&ws_url).await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    send_text(&mut ws, "5").await;
    for _ in 0..5 {
        assert_eq!(recv_text(&mut ws).await, "2");
        send_text(&mut ws, "3").await;
    }
    c.nodes[0].events.assert_open(&sid);
    // Without pongs the owner times the session out and the relay closes.
    expect_close(&mut ws).await;
    assert_eq!(
        c.nodes[0].events.closed(&sid).await,
        CloseReason::PingTimeout
    );
    c.assert_idle().await;
}

#[tokio::test]
async fn a_second_websocket_on_another_node_is_closed_at_once() {
    let c = Cluster::start(3, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    let url = |i: usize| {
        format!(
            "ws://{}/engine.io/?EIO=4&transport=websocket&sid={}",
            c.addr(i),
            client.sid
        )
    };
    let (mut first, _) = ws_connect(&url(1)).await;
    let (mut second, _) = ws_connect(&url(2)).await;
    expect_close(&mut second).await;
    assert_eq!(c.nodes[2].engine.stats().cluster().upgrades_refused(), 1);
    send_text(&mut first, "2probe").await;
    assert_eq!(recv_text(&mut first).await, "3probe");
}

#[tokio::test]
async fn the_death_of_the_owner_fails_forwards_fast() {
    let c = Cluster::start(2, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    let url = on(&client, "");
    let addr = c.addr(1);
    let pending = tokio::spawn(async move { get(addr, &url).await });
    until("the GET to park", || {
        c.nodes[0].engine.cluster_backlog() == Some((0, 1, 0))
    })
    .await;
    let start = std::time::Instant::now();
    c.hub.kill(c.tag(0));
    // Found by the next lease check (every 50 ms here).
    within("the forwarded GET to fail", pending)
        .await
        .unwrap()
        .assert_error(400, 1, "Session ID unknown");
    assert!(start.elapsed() < Duration::from_secs(2));
    // Later requests for its sessions fail at once.
    post(c.addr(1), &on(&client, ""), "4x")
        .await
        .assert_error(400, 1, "Session ID unknown");
    let stats = c.nodes[1].engine.stats().cluster();
    assert_eq!(stats.dead_tags(), 1);
    assert_eq!(c.nodes[1].engine.cluster_backlog(), Some((0, 0, 0)));
}

#[tokio::test]
async fn the_death_of_a_forwarder_closes_the_sessions_it_served() {
    let mut c = Cluster::start(2, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    let sid = c.nodes[0].events.opened().await;
    let session = c.nodes[0].session(&sid);
    let url = on(&client, "");
    let addr = c.addr(1);
    let pending = tokio::spawn(async move { get(addr, &url).await });
    until("the GET to park", || session.is_writable()).await;
    c.hub.kill(c.tag(1));
    assert_eq!(
        c.nodes[0].events.closed(&sid).await,
        CloseReason::TransportError
    );
    assert_eq!(
        c.nodes[0].engine.stats().cluster().closed_by_peer_death(),
        1
    );
    assert_eq!(c.nodes[0].engine.cluster_backlog(), Some((0, 0, 0)));
    // (The dead node's own client never gets an answer: its process is
    // gone in a real cluster.)
    pending.abort();
}

#[tokio::test]
async fn a_graceful_stop_says_goodbye() {
    let c = Cluster::start(2, EngineConfig::default).await;
    let client = Polling::open(c.addr(0)).await;
    // Node 1 has talked to node 0.
    post(c.addr(1), &on(&client, ""), "4hi").await.assert_ok();
    c.nodes[0].engine.close(Duration::from_secs(1)).await;
    assert!(!c.hub.is_alive(c.tag(0)));
    until("node 1 to learn", || {
        c.nodes[1].engine.stats().cluster().dead_tags() == 1
    })
    .await;
}
