//! `fetch_sockets` and the operators that act on selected sockets
//! (reference section 3.4): what a `RemoteSocket` describes (id, rooms,
//! data, handshake), what it can do (emit, emit with ack, join, leave,
//! disconnect), `sockets_join`/`sockets_leave`/`disconnect_sockets` with
//! `except`, and `server_side_emit` on the in-memory adapter; plus the
//! socket's handshake accessors (section 3.3), typed data and outgoing
//! catch-alls.

mod common;

use common::*;
use serde::{Deserialize, Serialize};
use sockeye::{
    AckError, AckSender, AdapterError, BroadcastOperator, DisconnectReason, RemoteSocket, Socket,
    SocketIo, Value,
};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    name: String,
    level: u32,
}

/// A server whose connection handler joins the auth's `rooms` and stores
/// a [`User`] when the auth has a `name`.
fn fetch_io() -> SocketIo {
    let io = SocketIo::builder().build().unwrap();
    io.on_connection(|socket: Socket| async move {
        let auth: serde_json::Value = socket.auth().unwrap();
        for room in auth["rooms"].as_array().into_iter().flatten() {
            socket.join(room.as_str().unwrap().to_owned());
        }
        if let Some(name) = auth["name"].as_str() {
            let level = auth["level"].as_u64().unwrap_or(0) as u32;
            socket.set_data(User {
                name: name.to_owned(),
                level,
            });
        }
        socket.on("ask", |_s: Socket, ack: AckSender| async move {
            let _ = ack.send("ok");
        });
    });
    io
}

/// A WebSocket client connected to `/` with `auth`; returns its socket id.
async fn connect(srv: &TestServer, auth: &str) -> (WsClient, String) {
    let mut c = WsClient::open(srv.addr).await;
    c.send(&format!("40{auth}")).await;
    let sid = connect_reply_sid(&c.recv().await, "/");
    (c, sid)
}

async fn fetch(op: BroadcastOperator) -> Vec<RemoteSocket> {
    within("fetch_sockets", op.fetch_sockets()).await.unwrap()
}

async fn ids(op: BroadcastOperator) -> BTreeSet<String> {
    fetch(op).await.iter().map(|s| s.id().to_owned()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The one fetched socket with this id.
async fn remote(srv: &TestServer, sid: &str) -> RemoteSocket {
    let all = fetch(srv.io.broadcast()).await;
    all.into_iter().find(|s| s.id() == sid).expect("fetched")
}

/// A broadcast marker that must be the next frame of every client.
async fn marker(srv: &TestServer, cs: &mut [&mut WsClient], name: &str) {
    srv.io.emit("marker", name).unwrap();
    for c in cs.iter_mut() {
        assert_eq!(c.recv().await, format!(r#"42["marker","{name}"]"#));
    }
}

#[tokio::test]
async fn fetch_sockets_selects_by_room_and_except_with_rooms_and_data() {
    let srv = serve(fetch_io()).await;
    let (_a, a) = connect(&srv, r#"{"name":"ann","level":1,"rooms":["r1"]}"#).await;
    let (_b, b) = connect(&srv, r#"{"name":"bob","level":2,"rooms":["r1","r2"]}"#).await;
    let (_c, c) = connect(&srv, "").await;
    let io = &srv.io;
    assert_eq!(ids(io.broadcast()).await, set(&[&a, &b, &c]));
    assert_eq!(ids(io.to("r1")).await, set(&[&a, &b]));
    assert_eq!(ids(io.to(["r2", "nowhere"])).await, set(&[&b]));
    assert_eq!(ids(io.except("r2")).await, set(&[&a, &c]));
    assert_eq!(ids(io.to("r1").except(b.as_str())).await, set(&[&a]));
    assert_eq!(ids(io.to("nowhere")).await, set(&[]));
    assert_eq!(ids(io.of("/custom").broadcast()).await, set(&[]));

    let ra = remote(&srv, &a).await;
    let rooms: BTreeSet<String> = ra.rooms().iter().cloned().collect();
    assert_eq!(rooms, set(&[&a, "r1"]));
    let user = User {
        name: "ann".into(),
        level: 1,
    };
    assert_eq!(ra.data::<User>().unwrap(), user);
    let rb = remote(&srv, &b).await;
    assert_eq!(rb.data::<User>().unwrap().name, "bob");
    assert_eq!(rb.rooms().len(), 3);
}

#[tokio::test]
async fn handshake_of_fetched_and_local_sockets() {
    let io = fetch_io();
    let mut sockets = capture(&io.of("/"));
    let srv = serve(io).await;
    let before = SystemTime::now();
    let path = "/socket.io/?EIO=4&transport=websocket&foo=bar&name=a%20b&r=1&r=2";
    let mut req = format!("ws://{}{path}", srv.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("x-custom", "yes".parse().unwrap());
    req.headers_mut()
        .insert("origin", "http://example.com".parse().unwrap());
    let mut c = WsClient::open_request(req).await;
    c.send(r#"40{"token":"t1"}"#).await;
    let sid = connect_reply_sid(&c.recv().await, "/");
    let after = SystemTime::now();

    let hs = remote(&srv, &sid).await.handshake().clone();
    let keys: BTreeSet<String> = hs.as_object().unwrap().keys().cloned().collect();
    let want = [
        "address", "auth", "headers", "issued", "query", "secure", "time", "url", "xdomain",
    ];
    assert_eq!(keys, set(&want));
    assert_eq!(hs["auth"], serde_json::json!({"token": "t1"}));
    assert_eq!(
        hs["query"],
        serde_json::json!({"EIO": "4", "transport": "websocket", "foo": "bar", "name": "a b", "r": ["1", "2"]})
    );
    assert_eq!(hs["headers"]["x-custom"], "yes");
    assert_eq!(hs["headers"]["origin"], "http://example.com");
    assert_eq!(hs["headers"]["host"], srv.addr.to_string());
    assert_eq!(hs["url"], path);
    assert_eq!(hs["secure"], false);
    assert_eq!(hs["xdomain"], true);
    assert_eq!(hs["address"], "127.0.0.1");
    let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let issued = hs["issued"].as_u64().expect("issued in ms");
    assert!(ms(before) <= issued && issued <= ms(after), "{issued}");
    // `time`: JavaScript's Date.toString() in UTC, of the same instant.
    let time = hs["time"].as_str().unwrap();
    assert!(
        time.ends_with(" GMT+0000 (Coordinated Universal Time)"),
        "{time}"
    );
    let http_date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(issued));
    let f: Vec<&str> = http_date
        .split([',', ' '])
        .filter(|p| !p.is_empty())
        .collect();
    assert_eq!(
        &time[..24],
        format!("{} {} {} {} {}", f[0], f[2], f[1], f[3], f[4])
    );

    // The same facts on the socket itself.
    let socket = next(&mut sockets, "the socket").await;
    assert_eq!(socket.handshake_json(), hs);
    assert_eq!(socket.headers()["x-custom"], "yes");
    let query: Vec<(&str, &str)> = vec![
        ("EIO", "4"),
        ("transport", "websocket"),
        ("foo", "bar"),
        ("name", "a b"),
        ("r", "1"),
        ("r", "2"),
    ];
    let got = socket.query();
    let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    assert_eq!(got, query);
    let address = socket.address().expect("a peer address");
    assert!(address.ip().is_loopback() && address.port() != 0);
    assert!(!socket.secure());
    assert!(socket.xdomain());

    // Without an Origin header: not cross-domain.
    let (_plain, plain) = connect(&srv, "").await;
    let hs = remote(&srv, &plain).await.handshake().clone();
    assert_eq!(
        (&hs["xdomain"], &hs["auth"]),
        (&false.into(), &serde_json::json!({}))
    );
    assert!(!next(&mut sockets, "the plain socket").await.xdomain());
}

#[tokio::test]
async fn remote_socket_emit_reaches_exactly_that_client() {
    let srv = serve(fetch_io()).await;
    let (mut a, _) = connect(&srv, "").await;
    let (mut b, sid_b) = connect(&srv, "").await;
    let (mut c, _) = connect(&srv, "").await;
    let rb = remote(&srv, &sid_b).await;
    rb.emit("hi", "b only").unwrap();
    assert_eq!(b.recv().await, r#"42["hi","b only"]"#);
    marker(&srv, &mut [&mut a, &mut b, &mut c], "m").await;
}

#[tokio::test]
async fn remote_socket_emit_with_ack() {
    let io = fetch_io();
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let (mut a, sid) = connect(&srv, "").await;
    let ra = remote(&srv, &sid).await;
    let asked = {
        let ra = ra.clone();
        tokio::spawn(async move {
            ra.emit_with_ack::<_, String>("q", &1, Duration::from_secs(5))
                .await
        })
    };
    assert_eq!(a.recv().await, r#"420["q",1]"#);
    a.send(r#"430["yes"]"#).await;
    assert_eq!(within("the ack", asked).await.unwrap().unwrap(), "yes");

    // No answer: the timeout.
    let asked = {
        let ra = ra.clone();
        tokio::spawn(async move {
            ra.emit_with_ack::<_, String>("q", &2, Duration::from_millis(50))
                .await
        })
    };
    assert_eq!(a.recv().await, r#"421["q",2]"#);
    let err = within("the timeout", asked).await.unwrap().unwrap_err();
    assert!(matches!(err, AckError::Timeout), "{err:?}");

    // Gone: nobody to answer.
    a.close().await;
    next(&mut gone, "the disconnect").await;
    let err = ra
        .emit_with_ack::<_, String>("q", &3, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, AckError::Disconnected), "{err:?}");
}

#[tokio::test]
async fn remote_socket_join_leave_and_disconnect() {
    let io = fetch_io();
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let (mut a, sid_a) = connect(&srv, "").await;
    let (mut b, sid_b) = connect(&srv, "").await;
    let ra = remote(&srv, &sid_a).await;
    ra.join(["x", "y"]);
    assert_eq!(ids(srv.io.to("x")).await, set(&[&sid_a]));
    srv.io.to("x").emit("in-x", &1).unwrap();
    assert_eq!(a.recv().await, r#"42["in-x",1]"#);
    ra.leave("x");
    assert_eq!(ids(srv.io.to("x")).await, set(&[]));
    let rooms: BTreeSet<String> = remote(&srv, &sid_a).await.rooms().iter().cloned().collect();
    assert_eq!(rooms, set(&[&sid_a, "y"]));

    // `disconnect(false)`: this namespace only, the connection stays.
    ra.disconnect(false);
    assert_eq!(a.recv().await, "41");
    let (id, reason) = next(&mut gone, "a's disconnect").await;
    assert_eq!(
        (id.to_string(), reason),
        (sid_a, DisconnectReason::ServerNamespaceDisconnect)
    );
    a.connect("/").await;
    marker(&srv, &mut [&mut a, &mut b], "m").await;

    // `disconnect(true)`: the whole connection.
    remote(&srv, &sid_b).await.disconnect(true);
    let frames = b.expect_closed().await;
    assert_eq!(frames, [Frame::Text("41".into())]);
    let (id, reason) = next(&mut gone, "b's disconnect").await;
    assert_eq!(
        (id.to_string(), reason),
        (sid_b, DisconnectReason::ServerNamespaceDisconnect)
    );
}

#[tokio::test]
async fn operators_join_leave_and_disconnect_selected_sockets() {
    let io = fetch_io();
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let (mut a, sid_a) = connect(&srv, r#"{"rooms":["r1"]}"#).await;
    let (mut b, sid_b) = connect(&srv, r#"{"rooms":["r1"]}"#).await;
    let (mut c, sid_c) = connect(&srv, "").await;
    let io = &srv.io;

    io.except("r1").sockets_join("outside");
    assert_eq!(ids(io.to("outside")).await, set(&[&sid_c]));
    io.to("r1")
        .except(sid_a.as_str())
        .sockets_join(["chosen", "extra"]);
    assert_eq!(ids(io.to("chosen")).await, set(&[&sid_b]));
    io.to("chosen").sockets_leave("extra");
    assert!(!io.of("/").adapter().room_exists(&"extra".into()));
    io.broadcast().except("outside").sockets_leave("r1");
    assert!(!io.of("/").adapter().room_exists(&"r1".into()));
    assert_eq!(ids(io.to("outside")).await, set(&[&sid_c]));

    // Everyone but the chosen one leaves the namespace.
    io.broadcast().except("chosen").disconnect_sockets(false);
    assert_eq!(a.recv().await, "41");
    assert_eq!(c.recv().await, "41");
    let mut left = BTreeSet::new();
    for _ in 0..2 {
        let (id, reason) = next(&mut gone, "a disconnect").await;
        assert_eq!(reason, DisconnectReason::ServerNamespaceDisconnect);
        left.insert(id.to_string());
    }
    assert_eq!(left, set(&[&sid_a, &sid_c]));
    assert_eq!(ids(io.broadcast()).await, set(&[&sid_b]));
    marker(&srv, &mut [&mut b], "still here").await;

    // Then the chosen one, connection and all.
    io.to("chosen").disconnect_sockets(true);
    assert_eq!(b.expect_closed().await, [Frame::Text("41".into())]);
    assert_eq!(next(&mut gone, "b's disconnect").await.0.to_string(), sid_b);
}

#[tokio::test]
async fn server_side_emit_is_unsupported_in_memory() {
    let io = fetch_io();
    let unsupported = |r: Result<(), AdapterError>| matches!(r, Err(AdapterError::Unsupported(_)));
    assert!(unsupported(io.server_side_emit("ping", &1)));
    assert!(unsupported(io.of("/custom").server_side_emit("ping", &1)));
    let with_ack = io
        .server_side_emit_with_ack("ping", &1, Duration::from_millis(100))
        .await;
    assert!(
        matches!(with_ack, Err(AdapterError::Unsupported(_))),
        "{with_ack:?}"
    );
}

#[tokio::test]
async fn socket_data_is_typed() {
    let io = fetch_io();
    let mut sockets = capture(&io.of("/"));
    let srv = serve(io).await;
    let (_c, sid) = connect(&srv, r#"{"name":"ann","level":4}"#).await;
    let socket = next(&mut sockets, "the socket").await;
    let user = User {
        name: "ann".into(),
        level: 4,
    };
    assert_eq!(socket.data::<User>().as_deref(), Some(&user));
    assert!(socket.data::<String>().is_none());
    assert_eq!(
        socket.data_json(),
        serde_json::json!({"name": "ann", "level": 4})
    );

    // Replaced by a value of another type.
    socket.set_data(vec![1u8, 2]);
    assert!(socket.data::<User>().is_none());
    assert_eq!(socket.data::<Vec<u8>>().as_deref(), Some(&vec![1, 2]));
    assert_eq!(remote(&srv, &sid).await.data::<Vec<u8>>().unwrap(), [1, 2]);
}

#[tokio::test]
async fn on_any_outgoing_sees_outgoing_events_and_their_arguments() {
    let io = fetch_io();
    let mut sockets = capture(&io.of("/"));
    let srv = serve(io).await;
    let (mut a, sid_a) = connect(&srv, "").await;
    let (mut b, sid_b) = connect(&srv, "").await;
    let sa = next(&mut sockets, "socket a").await;
    let sb = next(&mut sockets, "socket b").await;
    let (tx, mut names) = tokio::sync::mpsc::unbounded_channel();
    let first = tx.clone();
    let listener = sa.on_any_outgoing(move |s: &Socket, name: &str, args: &[Value]| {
        let _ = tx.send((s.id().to_string(), name.to_owned(), args.to_vec()));
    });
    // Prepended: called before the one above.
    let (order_tx, mut order) = tokio::sync::mpsc::unbounded_channel();
    let prepended = sa.prepend_any_outgoing(move |_s: &Socket, name: &str, _args: &[Value]| {
        let _ = order_tx.send(name.to_owned());
        let _ = first.send(("first".into(), name.to_owned(), Vec::new()));
    });

    sa.emit("direct", &1).unwrap();
    assert_eq!(a.recv().await, r#"42["direct",1]"#);
    srv.io.emit("everyone", &2).unwrap();
    assert_eq!(a.recv().await, r#"42["everyone",2]"#);
    assert_eq!(b.recv().await, r#"42["everyone",2]"#);
    sb.broadcast().emit("from-b", &3).unwrap();
    assert_eq!(a.recv().await, r#"42["from-b",3]"#);
    remote(&srv, &sid_a).await.emit("remote", &4).unwrap();
    assert_eq!(a.recv().await, r#"42["remote",4]"#);
    let ask = tokio::spawn({
        let sa = sa.clone();
        async move { sa.emit_with_ack::<_, String>("asked", &5).await }
    });
    assert_eq!(a.recv().await, r#"420["asked",5]"#);
    a.send(r#"430["sure"]"#).await;
    assert_eq!(within("the ack", ask).await.unwrap().unwrap(), "sure");
    for (want, arg) in [
        ("direct", 1),
        ("everyone", 2),
        ("from-b", 3),
        ("remote", 4),
        ("asked", 5),
    ] {
        assert_eq!(
            next(&mut names, want).await,
            ("first".into(), want.into(), Vec::new()),
            "the prepended listener first"
        );
        assert_eq!(
            next(&mut names, want).await,
            (sid_a.clone(), want.into(), vec![Value::from(arg)])
        );
        assert_eq!(next(&mut order, want).await, want);
    }
    // Several arguments, binary ones in place.
    sa.emit_args("many", ("x", bytes::Bytes::from_static(b"\x01\x02"), true))
        .unwrap();
    assert_eq!(
        a.recv().await,
        r#"451-["many","x",{"_placeholder":true,"num":0},true]"#
    );
    let _ = a.recv_bin().await;
    assert_eq!(next(&mut names, "first many").await.1, "many");
    assert_eq!(
        next(&mut names, "many").await.2,
        vec![
            Value::from("x"),
            Value::from(bytes::Bytes::from_static(b"\x01\x02")),
            Value::from(true)
        ]
    );
    let _ = next(&mut order, "many").await;

    // Not the answers to the client's acks, nor other sockets' events.
    a.send(r#"423["ask"]"#).await;
    assert_eq!(a.recv().await, r#"433["ok"]"#);
    srv.io.to(sid_b.as_str()).emit("for-b", &6).unwrap();
    assert_eq!(b.recv().await, r#"42["for-b",6]"#);
    assert_empty(&mut names);

    // One removed by its handle, then all.
    assert!(sa.remove_listener(prepended));
    assert!(!sa.remove_listener(prepended));
    sa.emit("one", &8).unwrap();
    assert_eq!(a.recv().await, r#"42["one",8]"#);
    assert_eq!(
        next(&mut names, "one").await,
        (sid_a.clone(), "one".into(), vec![Value::from(8)])
    );
    assert_empty(&mut order);
    sa.off_any_outgoing();
    assert!(!sa.remove_listener(listener));
    sa.emit("quiet", &7).unwrap();
    assert_eq!(a.recv().await, r#"42["quiet",7]"#);
    assert_empty(&mut names);
}
