//! The bounds on namespaces a client can make the server create: the cap
//! on dynamic children, names too long for a parent, and the removal of
//! children whose CONNECT was refused (so that refused clients cannot use
//! the cap up). Each offender gets a clean `connect_error`, the trip is
//! counted in `io.stats()`, and a bystander keeps being served.

mod common;

use common::*;
use sockeye::{Socket, SocketIo, Value};
use tokio::sync::mpsc;

fn regex(re: &str) -> regex::Regex {
    regex::Regex::new(re).unwrap()
}

#[tokio::test]
async fn dynamic_namespaces_created_by_clients_are_capped() {
    let io = SocketIo::builder()
        .max_dynamic_namespaces(2)
        .build()
        .unwrap();
    io.on_connection(echo_handlers);
    let parent = io.of_regex(regex(r"^/room-\d+$"));
    parent.on_connection(echo_handlers);
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.connect("/room-1").await;
    c.connect("/room-2").await;
    c.send("40/room-3,").await;
    assert_eq!(
        c.recv().await,
        r#"44/room-3,{"message":"Too many namespaces"}"#
    );
    c.send("40/room-4,").await;
    assert_eq!(
        c.recv().await,
        r#"44/room-4,{"message":"Too many namespaces"}"#
    );
    assert_eq!(srv.io.stats().namespaces_refused, 2);
    assert_eq!(parent.children().len(), 2);
    // The connection, and the children that exist, keep working.
    c.assert_echo("/", "kept").await;
    c.assert_echo("/room-1", "kept").await;
    let mut d = WsClient::open(srv.addr).await;
    d.connect("/room-2").await;
    // A name no parent matches is still `Invalid namespace`.
    d.send("40/other,").await;
    assert_eq!(
        d.recv().await,
        r#"44/other,{"message":"Invalid namespace"}"#
    );
    // Server code is not capped.
    srv.io.of("/room-99");
    assert_eq!(parent.children().len(), 3);
}

#[tokio::test]
async fn removed_empty_children_free_their_place_under_the_cap() {
    let io = SocketIo::builder()
        .max_dynamic_namespaces(1)
        .cleanup_empty_child_namespaces(true)
        .build()
        .unwrap();
    let parent = io.of_fn(|name: &str, _auth: &Value| {
        let ok = name.starts_with("/game-");
        async move { ok }
    });
    parent.on_connection(echo_handlers);
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/game-a").await;
    c.send("40/game-b,").await;
    assert_eq!(
        c.recv().await,
        r#"44/game-b,{"message":"Too many namespaces"}"#
    );
    c.send("41/game-a,").await;
    // Once /game-a is gone, /game-b can be created.
    within("the cleanup", async {
        while !parent.children().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    c.connect("/game-b").await;
    c.assert_echo("/game-b", "room").await;
}

#[tokio::test]
async fn thousands_of_distinct_names_stop_at_the_default_cap() {
    let io = echo_io();
    let parent = io.of_regex(regex(r"^/n-"));
    parent.on_connection(|_s: Socket| async {});
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    let (mut ok, mut refused) = (0, 0);
    // In batches: a client that reads nothing would fill its send queue.
    for batch in 0..12 {
        c.send_all((0..100).map(|i| format!("40/n-{batch}-{i},")))
            .await;
        for _ in 0..100 {
            let frame = c.recv().await;
            if frame.starts_with("40/n-") {
                ok += 1;
            } else {
                assert!(
                    frame.ends_with(r#",{"message":"Too many namespaces"}"#),
                    "{frame}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!(
        (ok, refused),
        (sockeye::DEFAULT_MAX_DYNAMIC_NAMESPACES, 200)
    );
    assert_eq!(parent.children().len(), 1000);
    c.connect("/custom").await;
    c.assert_echo("/custom", "alive").await;
}

#[tokio::test]
async fn parents_are_not_asked_about_huge_names() {
    let io = echo_io();
    let (tx, mut asked) = mpsc::unbounded_channel();
    let parent = io.of_fn(move |name: &str, _auth: &Value| {
        let _ = tx.send(name.len());
        async { true }
    });
    parent.on_connection(echo_handlers);
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    let at_limit = format!("/{}", "a".repeat(1023));
    c.connect(&at_limit).await;
    assert_eq!(next(&mut asked, "the predicate").await, 1024);
    let over = format!("/{}", "b".repeat(1024));
    c.send(&format!("40{over},")).await;
    assert_eq!(
        c.recv().await,
        format!("44{over},{{\"message\":\"Invalid namespace\"}}")
    );
    assert_empty(&mut asked);
    // A long auth after a short name: only the name counts.
    c.send(&format!("40/short,{{\"pad\":\"{}\"}}", "x".repeat(500_000)))
        .await;
    c.expect_connect("/short").await;
    assert_eq!(next(&mut asked, "the predicate").await, 6);
    assert_eq!(parent.children().len(), 2);
}

/// A parent `^/room-\d+$` whose middleware admits only `{"token":"ok"}`.
fn guarded_rooms(io: &SocketIo) -> sockeye::ParentNamespace {
    let parent = io.of_regex(regex(r"^/room-\d+$"));
    parent.use_middleware(|socket: Socket| async move {
        match socket.handshake().auth.get("token").and_then(Value::as_str) {
            Some("ok") => Ok(()),
            _ => Err(sockeye::ConnectError::new("unauthorized")),
        }
    });
    parent.on_connection(echo_handlers);
    parent
}

#[tokio::test]
async fn children_refused_by_a_middleware_free_their_place() {
    // Without cleanup (the default): a child that never had a socket is
    // not a namespace anyone uses.
    for cleanup in [false, true] {
        let io = SocketIo::builder()
            .max_dynamic_namespaces(5)
            .cleanup_empty_child_namespaces(cleanup)
            .build()
            .unwrap();
        let parent = guarded_rooms(&io);
        let srv = serve(io).await;
        let mut attacker = WsClient::open(srv.addr).await;
        for batch in 0..10 {
            attacker
                .send_all((0..100).map(|i| format!("40/room-{batch}{i:02},")))
                .await;
            for i in 0..100 {
                assert_eq!(
                    attacker.recv().await,
                    format!("44/room-{batch}{i:02},{{\"message\":\"unauthorized\"}}")
                );
            }
        }
        // (Removed as the refusal is sent: waited for, not slept on.)
        within("the refused children to be removed", async {
            while !parent.children().is_empty() {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert_eq!(srv.io.stats().namespaces_refused, 0);
        // Every place is free for users.
        let mut user = WsClient::open(srv.addr).await;
        for i in 0..5 {
            user.send(&format!("40/room-{i},{{\"token\":\"ok\"}}"))
                .await;
            user.expect_connect(&format!("/room-{i}")).await;
        }
        user.assert_echo("/room-3", "served").await;
        assert_eq!(parent.children().len(), 5);
        // A refused CONNECT on a child in use leaves it alone.
        attacker.send("40/room-3,").await;
        assert_eq!(
            attacker.recv().await,
            r#"44/room-3,{"message":"unauthorized"}"#
        );
        user.assert_echo("/room-3", "still served").await;
        assert_eq!(parent.children().len(), 5);
    }
}

#[tokio::test]
async fn a_child_whose_connection_closed_during_the_middleware_is_removed() {
    let io = SocketIo::builder().build().unwrap();
    let parent = io.of_regex(regex(r"^/room-\d+$"));
    let (entered_tx, mut entered) = mpsc::unbounded_channel();
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let gate = release.clone();
    parent.use_middleware(move |_socket: Socket| {
        let entered_tx = entered_tx.clone();
        let gate = gate.clone();
        async move {
            let _ = entered_tx.send(());
            gate.notified().await;
            Ok(())
        }
    });
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send("40/room-1,").await;
    next(&mut entered, "the middleware").await;
    assert_eq!(parent.children().len(), 1);
    c.close().await;
    within("the session to close", async {
        while srv.io.engine().session_count() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    release.notify_one();
    within("the child to be removed", async {
        while !parent.children().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_child_is_kept_while_a_connect_is_in_flight_on_it() {
    // B joins and leaves /room-1 while A's CONNECT waits in a middleware:
    // the child is not removed under A, so A and a later C share it.
    let io = SocketIo::builder()
        .cleanup_empty_child_namespaces(true)
        .build()
        .unwrap();
    let parent = io.of_regex(regex(r"^/room-\d+$"));
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let (entered_tx, mut entered) = mpsc::unbounded_channel();
    let gate = release.clone();
    parent.use_middleware(move |socket: Socket| {
        let gate = gate.clone();
        let entered_tx = entered_tx.clone();
        async move {
            if socket.handshake().auth.get("slow").is_some() {
                let _ = entered_tx.send(());
                gate.notified().await;
            }
            Ok(())
        }
    });
    parent.on_connection(echo_handlers);
    io.on_connection(echo_handlers);
    let srv = serve(io).await;
    let mut a = WsClient::open(srv.addr).await;
    a.send(r#"40/room-1,{"slow":true}"#).await;
    next(&mut entered, "A's middleware").await;
    let first = parent.children()[0].clone();
    let mut b = WsClient::open(srv.addr).await;
    b.connect("/").await;
    b.connect("/room-1").await;
    b.send("41/room-1,").await;
    b.assert_echo("/", "B left").await;
    assert_eq!(first.socket_count(), 0);
    assert_eq!(parent.children().len(), 1);
    release.notify_one();
    a.expect_connect("/room-1").await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/room-1").await;
    // One child, the first one, with A and C in it.
    assert_eq!(parent.children().len(), 1);
    assert_eq!(first.socket_count(), 2);
    a.assert_echo("/room-1", "A served").await;
    // Both leave: the child goes, by identity.
    a.send("41/room-1,").await;
    c.send("41/room-1,").await;
    within("the cleanup", async {
        while !parent.children().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_child_taken_by_server_code_is_kept_when_its_connect_is_refused() {
    let io = echo_io();
    let parent = io.of_regex(regex(r"^/room-\d+$"));
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let (entered_tx, mut entered) = mpsc::unbounded_channel();
    let gate = release.clone();
    parent.use_middleware(move |_socket: Socket| {
        let gate = gate.clone();
        let entered_tx = entered_tx.clone();
        async move {
            let _ = entered_tx.send(());
            gate.notified().await;
            Err(sockeye::ConnectError::new("no"))
        }
    });
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send("40/room-1,").await;
    next(&mut entered, "the middleware").await;
    // Server code takes the child the CONNECT created.
    let held = srv.io.of("/room-1");
    release.notify_one();
    assert_eq!(c.recv().await, r#"44/room-1,{"message":"no"}"#);
    assert_eq!(parent.children().len(), 1);
    assert_eq!(srv.io.of("/room-1").name(), held.name());
    // A CONNECT refused on a fresh name still frees it.
    c.send("40/room-2,").await;
    next(&mut entered, "the middleware").await;
    release.notify_one();
    assert_eq!(c.recv().await, r#"44/room-2,{"message":"no"}"#);
    within("/room-2 to be removed", async {
        while parent.children().len() > 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(parent.children()[0].name().as_str(), "/room-1");
}
