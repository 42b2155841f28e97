//! Rate limits on incoming events: events over a per-connection or per-event
//! token bucket are dropped (reported, counted), repeated excess
//! disconnects the client, and other clients keep their own buckets.
//!
//! The buckets here refill at 0 events/s, so what passes depends only on
//! the order of packets, never on timing.

mod common;

use common::*;
use sockeye::{DisconnectReason, RateLimit, Socket, SocketError, SocketIo};
use std::time::Duration;
use tokio::sync::mpsc;

/// The echo server with `builder`'s limits, and the errors its sockets
/// report.
fn limited_io(builder: sockeye::SocketIoBuilder) -> (SocketIo, mpsc::UnboundedReceiver<String>) {
    let io = builder.build().unwrap();
    io.on_connection(echo_handlers);
    io.of("/custom").on_connection(echo_handlers);
    let (tx, errors) = mpsc::unbounded_channel();
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            socket.on_error(move |_s: &Socket, e: &SocketError| {
                if let SocketError::RateLimited { event } = e {
                    let _ = tx.send(event.clone());
                }
            });
        }
    });
    (io, errors)
}

#[tokio::test]
async fn per_event_limit_drops_the_excess_of_that_event_only() {
    let (io, mut errors) = limited_io(
        SocketIo::builder().event_rate_limit("message", RateLimit::new(0.0, 3).never_disconnect()),
    );
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send_all((0..5).map(|i| format!("42[\"message\",{i}]")))
        .await;
    // An unlimited event after them: everything before it was handled.
    c.send(r#"421["message-with-ack","sync"]"#).await;
    for i in 0..3 {
        assert_eq!(c.recv().await, format!("42[\"message-back\",{i}]"));
    }
    assert_eq!(c.recv().await, r#"431["sync"]"#);
    assert_eq!(next(&mut errors, "a drop").await, "message");
    assert_eq!(next(&mut errors, "a drop").await, "message");
    assert_empty(&mut errors);
    assert_eq!(srv.io.stats().events_rate_limited, 2);
    // Another client has a bucket of its own.
    let mut d = WsClient::open(srv.addr).await;
    d.connect("/").await;
    d.assert_echo("/", "own bucket").await;
}

#[tokio::test]
async fn socket_limit_counts_every_event() {
    let (io, mut errors) =
        limited_io(SocketIo::builder().rate_limit(RateLimit::new(0.0, 2).never_disconnect()));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(r#"42["message",1]"#).await;
    c.send(r#"421["message-with-ack",2]"#).await;
    c.send(r#"422["message-with-ack",3]"#).await;
    c.send(r#"42["message",4]"#).await;
    assert_eq!(c.recv().await, r#"42["message-back",1]"#);
    assert_eq!(c.recv().await, r#"431[2]"#);
    assert_eq!(next(&mut errors, "a drop").await, "message-with-ack");
    assert_eq!(next(&mut errors, "a drop").await, "message");
    // An ack the client sends is not an event: it reaches the server.
    let socket = srv.io.of("/").sockets().pop().unwrap();
    let ack = tokio::spawn(async move { socket.emit_with_ack::<_, u8>("q", &0).await });
    assert_eq!(c.recv().await, r#"420["q",0]"#);
    c.send("430[7]").await;
    assert_eq!(within("the ack", ack).await.unwrap().unwrap(), 7);
    assert_eq!(srv.io.stats().events_rate_limited, 2);
}

#[tokio::test]
async fn repeated_excess_disconnects_with_a_server_disconnect() {
    let (io, _errors) = limited_io(
        SocketIo::builder()
            .rate_limit(RateLimit::new(0.0, 2).disconnect_after(3, Duration::from_secs(60))),
    );
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let mut b = WsClient::open(srv.addr).await;
    b.connect("/").await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.connect("/custom").await;
    c.send_all((0..6).map(|i| format!("42[\"message\",{i}]")))
        .await;
    let frames = c.expect_closed().await;
    let texts: Vec<String> = frames
        .into_iter()
        .map(|f| match f {
            Frame::Text(t) => t,
            other => panic!("{other:?}"),
        })
        .collect();
    // Two echoes, then a DISCONNECT for each namespace of the connection.
    assert_eq!(
        texts,
        [
            r#"42["message-back",0]"#,
            r#"42["message-back",1]"#,
            "41",
            "41/custom,"
        ]
    );
    let (_, reason) = next(&mut gone, "the disconnect").await;
    assert_eq!(reason, DisconnectReason::RateLimited);
    assert_eq!(reason.as_str(), "rate limited");
    let stats = srv.io.stats();
    assert_eq!(
        (stats.events_rate_limited, stats.rate_limit_disconnects),
        (3, 1)
    );
    b.assert_echo("/", "bystander").await;
}

#[tokio::test]
async fn the_budget_is_per_connection_across_namespaces() {
    // One set of buckets per connection: joining more namespaces (here
    // 200 dynamic children, joined and left) gives no more budget.
    let (io, _errors) =
        limited_io(SocketIo::builder().rate_limit(RateLimit::new(0.0, 3).never_disconnect()));
    let parent = io.of_regex(regex::Regex::new(r"^/n-\d+$").unwrap());
    parent.on_connection(echo_handlers);
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.connect("/custom").await;
    c.assert_echo("/", "1").await;
    c.assert_echo("/custom", "2").await;
    for i in 0..200 {
        c.send_all([format!("40/n-{i},"), format!("41/n-{i},")])
            .await;
        c.expect_connect(&format!("/n-{i}")).await;
    }
    c.assert_echo("/custom", "3").await;
    // The budget of 3 is spent: on every namespace.
    c.send(r#"42["message","dropped"]"#).await;
    c.send(r#"42/custom,["message","dropped"]"#).await;
    c.connect("/n-1").await;
    c.send(r#"42/n-1,["message","dropped"]"#).await;
    within("the drops to be counted", async {
        while srv.io.stats().events_rate_limited < 3 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // A CONNECT after them is answered: the connection is kept.
    c.connect("/n-2").await;
    assert_eq!(srv.io.stats().events_rate_limited, 3);
    // Another connection has buckets of its own.
    let mut d = WsClient::open(srv.addr).await;
    d.connect("/").await;
    d.assert_echo("/", "own bucket").await;
}

#[tokio::test]
async fn drops_of_a_never_disconnect_limit_do_not_disconnect() {
    // "message" drops never disconnect and are not counted by the
    // all-events limit, whose own single drop is under its policy.
    let (io, _errors) = limited_io(
        SocketIo::builder()
            .rate_limit(RateLimit::new(0.0, 3).disconnect_after(2, Duration::from_secs(60)))
            .event_rate_limit("message", RateLimit::new(0.0, 1).never_disconnect()),
    );
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send_all((0..10).map(|i| format!("42[\"message\",{i}]")))
        .await;
    assert_eq!(c.recv().await, r#"42["message-back",0]"#);
    c.send(r#"421["message-with-ack",1]"#).await;
    assert_eq!(c.recv().await, r#"431[1]"#);
    c.send(r#"422["message-with-ack",2]"#).await;
    assert_eq!(c.recv().await, r#"432[2]"#);
    // Over the all-events limit once: dropped, not disconnected.
    c.send(r#"423["message-with-ack",3]"#).await;
    c.connect("/custom").await;
    let stats = srv.io.stats();
    assert_eq!(
        (stats.events_rate_limited, stats.rate_limit_disconnects),
        (10, 0)
    );
    // The next drop of the all-events limit is its second: disconnected.
    c.send(r#"42/custom,["message-with-ack",4]"#).await;
    let frames = c.expect_closed().await;
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(srv.io.stats().rate_limit_disconnects, 1);
}

#[tokio::test]
async fn leaving_and_joining_again_does_not_refill_the_bucket() {
    let (io, _errors) =
        limited_io(SocketIo::builder().rate_limit(RateLimit::new(0.0, 2).never_disconnect()));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.connect("/custom").await;
    c.assert_echo("/custom", "1").await;
    c.assert_echo("/custom", "2").await;
    c.send("41/custom,").await;
    c.connect("/custom").await;
    c.send(r#"42/custom,["message","dropped"]"#).await;
    // CONNECTs are not events: this one proves the drop came first.
    c.send("41/custom,").await;
    c.connect("/custom").await;
    assert_eq!(srv.io.stats().events_rate_limited, 1);
}
