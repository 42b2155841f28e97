//! Dynamic namespaces: `of_regex`, `of_fn`, children inheriting the
//! parent's handlers and middlewares, and the cleanup of empty children.

mod common;

use common::*;
use sockeye::{ConnectError, DisconnectReason, Socket, SocketIo, Value};
use tokio::sync::mpsc;

fn regex(re: &str) -> regex::Regex {
    regex::Regex::new(re).unwrap()
}

#[tokio::test]
async fn regex_parent_creates_children_with_its_handlers() {
    let io = echo_io();
    let parent = io.of_regex(regex(r"^/dyn-\d+$"));
    let (tx, mut joined) = mpsc::unbounded_channel();
    parent.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(socket.namespace().name().to_string());
            let _ = socket.emit("welcome", socket.namespace().name().as_str());
            echo_handlers(socket).await;
        }
    });
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send("40/dyn-1,").await;
    c.expect_connect("/dyn-1").await;
    assert_eq!(c.recv().await, r#"42/dyn-1,["welcome","/dyn-1"]"#);
    assert_eq!(next(&mut joined, "the child's handler").await, "/dyn-1");
    c.assert_echo("/dyn-1", "x").await;

    // Not matching: the usual refusal, connection kept.
    c.send("40/dyn-x,").await;
    assert_eq!(
        c.recv().await,
        r#"44/dyn-x,{"message":"Invalid namespace"}"#
    );

    // A second client joins the same child.
    let mut d = WsClient::open(srv.addr).await;
    d.connect("/dyn-1").await;
    assert_eq!(d.recv().await, r#"42/dyn-1,["welcome","/dyn-1"]"#);
    d.connect("/dyn-22").await;
    assert_eq!(d.recv().await, r#"42/dyn-22,["welcome","/dyn-22"]"#);
    let mut names: Vec<String> = parent
        .children()
        .iter()
        .map(|ns| ns.name().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["/dyn-1", "/dyn-22"]);
    assert_eq!(srv.io.of("/dyn-1").socket_count(), 2);

    // The parent's emit reaches every child.
    parent.emit("all", &1).unwrap();
    assert_eq!(c.recv().await, r#"42/dyn-1,["all",1]"#);
    let mut got = vec![d.recv().await, d.recv().await];
    got.sort();
    assert_eq!(got, [r#"42/dyn-1,["all",1]"#, r#"42/dyn-22,["all",1]"#]);
}

#[tokio::test]
async fn fn_parent_decides_on_name_and_auth() {
    let io = echo_io();
    let (tx, mut asked) = mpsc::unbounded_channel();
    let parent = io.of_fn(move |name: &str, auth: &Value| {
        let _ = tx.send(name.to_owned());
        let ok = name.starts_with("/fn-") && auth.get("ok") == Some(&Value::Bool(true));
        async move { ok }
    });
    parent.on_connection(echo_handlers);
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send(r#"40/fn-a,{"ok":false}"#).await;
    assert_eq!(c.recv().await, r#"44/fn-a,{"message":"Invalid namespace"}"#);
    assert_eq!(next(&mut asked, "the predicate").await, "/fn-a");
    c.send(r#"40/fn-a,{"ok":true}"#).await;
    c.expect_connect("/fn-a").await;
    c.assert_echo("/fn-a", "y").await;
    assert_eq!(parent.children().len(), 1);
    // An existing static namespace never asks the predicate.
    let mut d = WsClient::open(srv.addr).await;
    while asked.try_recv().is_ok() {}
    d.connect("/custom").await;
    assert_empty(&mut asked);
}

#[tokio::test]
async fn parents_are_tried_in_order() {
    let io = SocketIo::builder().build().unwrap();
    let first = io.of_fn(|_name: &str, _auth: &Value| async { false });
    let second = io.of_regex(regex(r"^/p$"));
    let third = io.of_regex(regex(r"^/p$"));
    let (tx, mut which) = mpsc::unbounded_channel();
    for (n, parent) in [(1, &first), (2, &second), (3, &third)] {
        let tx = tx.clone();
        parent.on_connection(move |_s: Socket| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(n);
            }
        });
    }
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/p").await;
    assert_eq!(next(&mut which, "a child handler").await, 2);
    assert_eq!(
        (
            first.children().len(),
            second.children().len(),
            third.children().len()
        ),
        (0, 1, 0)
    );
}

#[tokio::test]
async fn child_namespaces_inherit_connect_middlewares() {
    let io = SocketIo::builder().build().unwrap();
    let parent = io.of_regex(regex(r"^/room-\d+$"));
    parent.use_middleware(|socket: Socket| async move {
        if socket.handshake().auth.get("key").is_some() {
            Ok(())
        } else {
            Err(ConnectError::new("key required"))
        }
    });
    parent.on_connection(echo_handlers);
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send("40/room-1,").await;
    assert_eq!(c.recv().await, r#"44/room-1,{"message":"key required"}"#);
    c.send(r#"40/room-1,{"key":1}"#).await;
    c.expect_connect("/room-1").await;
    c.assert_echo("/room-1", "in").await;
}

#[tokio::test]
async fn empty_children_are_removed_with_cleanup() {
    let io = SocketIo::builder()
        .cleanup_empty_child_namespaces(true)
        .build()
        .unwrap();
    let parent = io.of_regex(regex(r"^/tmp-\d+$"));
    let (tx, mut gone) = mpsc::unbounded_channel();
    parent.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            socket.on_disconnect(move |s: Socket, reason| async move {
                let _ = tx.send((s.namespace().name().to_string(), reason));
            });
            echo_handlers(socket).await;
        }
    });
    let srv = serve(io).await;
    let mut a = WsClient::open(srv.addr).await;
    let mut b = WsClient::open(srv.addr).await;
    a.connect("/tmp-1").await;
    b.connect("/tmp-1").await;
    a.send("41/tmp-1,").await;
    assert_eq!(
        next(&mut gone, "a leaves").await,
        (
            "/tmp-1".to_owned(),
            DisconnectReason::ClientNamespaceDisconnect
        )
    );
    assert_eq!(parent.children().len(), 1, "b is still there");
    b.close().await;
    assert_eq!(
        next(&mut gone, "b leaves").await,
        ("/tmp-1".to_owned(), DisconnectReason::TransportClose)
    );
    assert!(parent.children().is_empty(), "the empty child is removed");
    // The name can be joined again: a new child is created.
    a.connect("/tmp-1").await;
    a.assert_echo("/tmp-1", "again").await;
    assert_eq!(parent.children().len(), 1);
}

#[tokio::test]
async fn empty_children_are_kept_without_cleanup() {
    let io = SocketIo::builder().build().unwrap();
    let parent = io.of_regex(regex(r"^/keep-\d+$"));
    let mut gone = mpsc::unbounded_channel::<()>();
    let tx = gone.0.clone();
    parent.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            socket.on_disconnect(move |_s: Socket, _r| async move {
                let _ = tx.send(());
            });
        }
    });
    let srv = serve(io).await;
    let mut a = WsClient::open(srv.addr).await;
    a.connect("/keep-1").await;
    a.send("41/keep-1,").await;
    next(&mut gone.1, "the disconnect").await;
    assert_eq!(parent.children().len(), 1);
    assert_eq!(parent.children()[0].socket_count(), 0);
}

#[tokio::test]
async fn of_a_name_matching_a_regex_parent_creates_a_child() {
    let io = SocketIo::builder().build().unwrap();
    let parent = io.of_regex(regex(r"^/dyn-\d+$"));
    parent.on_connection(|socket: Socket| async move {
        let _ = socket.emit("welcome", &());
    });
    let child = io.of("/dyn-5");
    assert_eq!(parent.children().len(), 1, "a child of the parent");
    assert_eq!(child.name(), "/dyn-5");
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/dyn-5").await;
    assert_eq!(c.recv().await, r#"42/dyn-5,["welcome",null]"#);
}
