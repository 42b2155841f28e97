//! Hostile Socket.IO input from a raw client: placeholder tricks, ack ids,
//! reserved event names, prototype keys, namespace names, Socket.IO 2.x
//! edge cases. Each is either plain data or a clean close, and a client
//! connected at the same time keeps being served.

mod common;

use common::*;
use serde_json::json;
use sockeye::{Data, DisconnectReason, Socket, SocketIo, Value};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

fn regex(re: &str) -> regex::Regex {
    regex::Regex::new(re).unwrap()
}

/// Opens a client on `/` and sends `packets` (text), then `bins`.
async fn send_on_fresh(srv: &TestServer, packets: &[&str], bins: &[&[u8]]) -> WsClient {
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    for p in packets {
        c.send(p).await;
    }
    for b in bins {
        c.send_bin(b).await;
    }
    c
}

#[tokio::test]
async fn placeholder_tricks_close_the_connection() {
    let srv = serve(echo_io()).await;
    let mut b = WsClient::open(srv.addr).await;
    b.connect("/").await;
    let cases: &[(&str, usize)] = &[
        // num far out of range, just out of range, negative, fractional,
        // a string, missing, huge.
        (r#"451-["message",{"_placeholder":true,"num":99}]"#, 1),
        (r#"452-["message",{"_placeholder":true,"num":2}]"#, 2),
        (r#"451-["message",{"_placeholder":true,"num":-1}]"#, 1),
        (r#"451-["message",{"_placeholder":true,"num":0.5}]"#, 1),
        (r#"451-["message",{"_placeholder":true,"num":"0"}]"#, 1),
        (r#"451-["message",{"_placeholder":true}]"#, 1),
        (r#"451-["message",{"_placeholder":true,"num":1e400}]"#, 1),
        (
            r#"451-["message",{"_placeholder":true,"num":18446744073709551616}]"#,
            1,
        ),
        // A placeholder as the event name.
        (r#"451-[{"_placeholder":true,"num":0}]"#, 1),
    ];
    for (header, bins) in cases {
        let attachments: Vec<&[u8]> = vec![&[7u8][..]; *bins];
        let mut c = send_on_fresh(&srv, &[header], &attachments).await;
        assert!(c.expect_closed().await.is_empty(), "{header}");
    }
    b.assert_echo("/", "still served").await;
}

#[tokio::test]
async fn placeholders_that_point_at_attachments_are_data() {
    let srv = serve(echo_io()).await;
    // The same attachment twice: both places get its bytes.
    let mut c = send_on_fresh(
        &srv,
        &[&format!(
            "452-[\"message\",{},{}]",
            placeholder(0),
            placeholder(0)
        )],
        &[&[1, 2], &[3]],
    )
    .await;
    assert_eq!(
        c.recv().await,
        format!(
            "452-[\"message-back\",{},{}]",
            placeholder(0),
            placeholder(1)
        )
    );
    assert_eq!(c.recv_bin().await, [1, 2]);
    assert_eq!(c.recv_bin().await, [1, 2]);
    // A placeholder-shaped object in a packet without attachments is plain
    // data, echoed as is.
    let fake = r#"42["message",{"_placeholder":true,"num":0}]"#;
    c.send(fake).await;
    assert_eq!(
        c.recv().await,
        r#"42["message-back",{"_placeholder":true,"num":0}]"#
    );
}

#[tokio::test]
async fn hostile_ack_ids() {
    let io = echo_io();
    let mut sockets = capture(&io.of("/"));
    let srv = serve(io).await;
    let mut b = WsClient::open(srv.addr).await;
    b.connect("/").await;
    let _ = next(&mut sockets, "the bystander").await;
    // Beyond u64, negative, non-numeric: closed.
    for packet in [
        r#"4218446744073709551616["message-with-ack",1]"#,
        r#"4299999999999999999999999["message-with-ack",1]"#,
        r#"42-1["message-with-ack",1]"#,
        r#"42x1["message-with-ack",1]"#,
        r#"4318446744073709551616[1]"#,
        r#"43-5[1]"#,
        r#"43abc[1]"#,
    ] {
        let mut c = send_on_fresh(&srv, &[packet], &[]).await;
        let _ = next(&mut sockets, "the socket").await;
        assert!(c.expect_closed().await.is_empty(), "{packet}");
    }
    // The largest id is answered with that id.
    let mut c = send_on_fresh(
        &srv,
        &[r#"4218446744073709551615["message-with-ack",1]"#],
        &[],
    )
    .await;
    assert_eq!(c.recv().await, r#"4318446744073709551615[1]"#);
    let socket = next(&mut sockets, "the socket").await;
    // An ack for an id never sent is ignored; the connection stays.
    c.send(r#"43777[1]"#).await;
    c.assert_echo("/", "after unknown ack").await;
    // An ack answered twice: the first answer counts, the second is
    // ignored.
    let (tx, mut answers) = mpsc::unbounded_channel();
    {
        let socket = socket.clone();
        tokio::spawn(async move {
            let r = socket.timeout(WAIT).emit_with_ack::<_, u8>("q", &0).await;
            let _ = tx.send(r);
        });
    }
    let frame = c.recv().await;
    let id: String = frame[2..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    c.send(&format!("43{id}[1]")).await;
    c.send(&format!("43{id}[2]")).await;
    assert_eq!(next(&mut answers, "the ack").await.unwrap(), 1);
    c.assert_echo("/", "after double ack").await;
    assert!(socket.connected());
    b.assert_echo("/", "bystander").await;
}

#[tokio::test]
async fn reserved_event_names_from_a_client_close_the_connection() {
    let io = echo_io();
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let mut b = WsClient::open(srv.addr).await;
    b.connect("/").await;
    for name in [
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    ] {
        for packet in [
            format!("42[\"{name}\"]"),
            format!("42[\"{name}\",{{\"a\":1}}]"),
            format!("421[\"{name}\"]"),
        ] {
            let mut c = send_on_fresh(&srv, &[&packet], &[]).await;
            assert!(c.expect_closed().await.is_empty(), "{packet}");
            let (_, reason) = next(&mut gone, "the disconnect").await;
            assert_eq!(reason, DisconnectReason::ParseError);
        }
    }
    // As arguments they are plain strings.
    b.send(r#"42["message","connect","disconnect","newListener"]"#)
        .await;
    assert_eq!(
        b.recv().await,
        r#"42["message-back","connect","disconnect","newListener"]"#
    );
}

#[tokio::test]
async fn prototype_keys_are_plain_data() {
    let io = echo_io();
    let (tx, mut maps) = mpsc::unbounded_channel();
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            socket.on(
                "map",
                move |_s: Socket, Data(m): Data<HashMap<String, Value>>| {
                    let tx = tx.clone();
                    async move {
                        let _ = tx.send(m);
                    }
                },
            );
        }
    });
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let payload = r#"{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"x":1}},"toString":"x","hasOwnProperty":1}"#;
    c.send(&format!("42[\"message\",{payload}]")).await;
    assert_eq!(c.recv().await, format!("42[\"message-back\",{payload}]"));
    c.send(&format!("42[\"map\",{payload}]")).await;
    let m = next(&mut maps, "the map").await;
    assert_eq!(m.len(), 4);
    assert_eq!(
        serde_json::to_value(&m["__proto__"]).unwrap(),
        json!({"isAdmin": true})
    );
    // As event names and namespace-free CONNECT auth, too.
    c.send(r#"42["__proto__",1]"#).await;
    c.send(r#"42["constructor",1]"#).await;
    c.assert_echo("/", "after").await;
}

#[tokio::test]
async fn hostile_namespace_names_are_refused_cleanly() {
    let io = echo_io();
    let parent = io.of_regex(regex(r"^/room-"));
    parent.on_connection(echo_handlers);
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let long = format!("/{}", "a".repeat(100_000));
    for nsp in [
        long.as_str(),
        "/ünïcødé-😀",
        "/../../etc/passwd",
        "/a\u{0}b",
        "/%00",
        "//",
        "/custom/",
        "/CUSTOM",
    ] {
        c.send(&format!("40{nsp},")).await;
        assert_eq!(
            c.recv().await,
            format!("44{nsp},{{\"message\":\"Invalid namespace\"}}"),
            "{:.40}",
            nsp
        );
    }
    // A dynamic parent takes the name literally: no path meaning.
    c.connect("/room-/../../x").await;
    c.assert_echo("/room-/../../x", "literal").await;
    assert_eq!(parent.children()[0].name(), "/room-/../../x");
    c.assert_echo("/", "alive").await;
}

#[tokio::test]
async fn eio3_hostile_queries_are_plain_strings() {
    let io = SocketIo::builder()
        .engine(|c| c.with_allow_eio3(true))
        .build()
        .unwrap();
    io.on_connection(echo_handlers);
    let mut sockets = capture(&io.of("/admin"));
    io.of("/admin").on_connection(echo_handlers);
    let srv = serve(io).await;
    let mut c = WsClient::open_eio3(srv.addr).await;
    assert_eq!(c.recv().await, "40");
    let long = "x".repeat(50_000);
    c.send(&format!(
        "40/admin?__proto__=1&constructor=2&bad=%ZZ%&half=%F0%9F&a=1&a=2&{long}=y#frag,"
    ))
    .await;
    assert_eq!(c.recv().await, "40/admin,");
    let socket = next(&mut sockets, "the socket").await;
    let auth = socket.auth::<serde_json::Value>().unwrap();
    assert_eq!(auth["__proto__"], "1");
    assert_eq!(auth["constructor"], "2");
    assert_eq!(auth["bad"], "%ZZ%");
    assert_eq!(auth["half"], "\u{fffd}");
    assert_eq!(auth["a"], "2");
    assert_eq!(auth[long.as_str()], "y");
    c.assert_echo("/admin", "v3").await;
    // An unknown namespace with a query: refused, connection kept.
    c.send("40/nope?token=1,").await;
    assert_eq!(c.recv().await, r#"44/nope,{"message":"Invalid namespace"}"#);
    // A second CONNECT for a namespace already joined closes.
    c.send("40/admin,").await;
    assert!(c.expect_closed().await.is_empty());
}

#[tokio::test]
async fn connect_flood_to_a_slow_predicate_is_bounded_by_the_cap() {
    // A predicate that takes its time: CONNECTs pile up, each resolved.
    let io = SocketIo::builder()
        .max_dynamic_namespaces(5)
        .build()
        .unwrap();
    let parent = io.of_fn(|_name: &str, _auth: &Value| async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        true
    });
    parent.on_connection(|_s: Socket| async {});
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send_all((0..50).map(|i| format!("40/p{i},"))).await;
    let mut refused = 0;
    for _ in 0..50 {
        if c.recv().await.contains("Too many namespaces") {
            refused += 1;
        }
    }
    assert_eq!(refused, 45);
    assert_eq!(parent.children().len(), 5);
}

#[tokio::test]
async fn connects_waiting_on_a_predicate_are_bounded_per_connection() {
    let io = echo_io();
    let parent = io.of_fn(|_name: &str, _auth: &Value| std::future::pending::<bool>());
    parent.on_connection(|_s: Socket| async {});
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send_all((0..70).map(|i| format!("40/wait-{i},"))).await;
    // The 64 first wait forever; the 6 others are refused at once.
    for i in 64..70 {
        assert_eq!(
            c.recv().await,
            format!("44/wait-{i},{{\"message\":\"Too many pending connections\"}}")
        );
    }
    c.assert_echo("/", "alive").await;
    assert_eq!(srv.io.stats().namespaces_refused, 6);
}
