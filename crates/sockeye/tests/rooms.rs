//! Rooms and broadcasts: join/leave, `to` (a union), `except`, broadcasts
//! that skip the sender, room bookkeeping in the adapter, `disconnecting`
//! handlers, volatile packets and operator-driven room changes.

mod common;

use common::*;
use sockeye::{DisconnectReason, Socket, SocketIo};
use std::collections::BTreeSet;
use tokio::sync::mpsc;

/// A server whose clients drive rooms and broadcasts with events:
/// `join`/`leave` a room, `to` (rooms, except) a broadcast from the
/// socket, `all` a broadcast to the other sockets.
fn rooms_io() -> SocketIo {
    let io = SocketIo::builder().build().unwrap();
    io.on_connection(|socket: Socket| async move {
        socket.on(
            "join",
            |socket: Socket,
             sockeye::Data(room): sockeye::Data<String>,
             ack: sockeye::AckSender| async move {
                socket.join(room);
                let _ = ack.send(&());
            },
        );
        socket.on(
            "leave",
            |socket: Socket,
             sockeye::Data(room): sockeye::Data<String>,
             ack: sockeye::AckSender| async move {
                socket.leave(room);
                let _ = ack.send(&());
            },
        );
        socket.on(
            "to",
            |socket: Socket,
             sockeye::Args((rooms, except, msg)): sockeye::Args<(
                Vec<String>,
                Vec<String>,
                String,
            )>| async move {
                let _ = socket.to(rooms).except(except).emit("msg", &msg);
            },
        );
        socket.on(
            "all",
            |socket: Socket, sockeye::Data(msg): sockeye::Data<String>| async move {
                let _ = socket.broadcast().emit("msg", &msg);
            },
        );
    });
    io
}

/// Connected clients of [`rooms_io`] with their socket ids.
async fn clients(srv: &TestServer, n: usize) -> Vec<(WsClient, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut c = WsClient::open(srv.addr).await;
        let sid = c.connect("/").await;
        out.push((c, sid));
    }
    out
}

impl WsClient {
    async fn join(&mut self, room: &str) {
        self.send(&format!("420[\"join\",\"{room}\"]")).await;
        assert_eq!(self.recv().await, "430[null]");
    }

    async fn leave(&mut self, room: &str) {
        self.send(&format!("421[\"leave\",\"{room}\"]")).await;
        assert_eq!(self.recv().await, "431[null]");
    }
}

/// Sends a marker to every socket of `/` and checks that it is the next
/// frame of each client in `cs`: whatever they were not meant to get did
/// not come before it.
async fn assert_nothing_before_marker(srv: &TestServer, cs: &mut [&mut WsClient], marker: &str) {
    srv.io.emit("marker", marker).unwrap();
    for c in cs.iter_mut() {
        assert_eq!(c.recv().await, format!("42[\"marker\",\"{marker}\"]"));
    }
}

fn rooms(srv: &TestServer) -> BTreeSet<String> {
    srv.io
        .of("/")
        .adapter()
        .rooms()
        .iter()
        .map(|r| r.to_string())
        .collect()
}

#[tokio::test]
async fn to_a_room_reaches_its_members_except_the_sender() {
    let srv = serve(rooms_io()).await;
    let mut cs = clients(&srv, 3).await;
    let [(a, _), (b, _), (c, _)] = &mut cs[..] else {
        unreachable!()
    };
    a.join("r").await;
    b.join("r").await;
    a.send(r#"42["to",["r"],[],"hello r"]"#).await;
    assert_eq!(b.recv().await, r#"42["msg","hello r"]"#);
    assert_nothing_before_marker(&srv, &mut [a, b, c], "m1").await;

    // From the server: every member, no exception.
    srv.io.to("r").emit("msg", "from io").unwrap();
    assert_eq!(a.recv().await, r#"42["msg","from io"]"#);
    assert_eq!(b.recv().await, r#"42["msg","from io"]"#);
    assert_nothing_before_marker(&srv, &mut [a, b, c], "m2").await;
}

#[tokio::test]
async fn broadcast_skips_the_sender() {
    let srv = serve(rooms_io()).await;
    let mut cs = clients(&srv, 3).await;
    let [(a, _), (b, _), (c, _)] = &mut cs[..] else {
        unreachable!()
    };
    a.send(r#"42["all","hi all"]"#).await;
    assert_eq!(b.recv().await, r#"42["msg","hi all"]"#);
    assert_eq!(c.recv().await, r#"42["msg","hi all"]"#);
    assert_nothing_before_marker(&srv, &mut [a, b, c], "m").await;
}

#[tokio::test]
async fn a_union_of_rooms_delivers_once() {
    let srv = serve(rooms_io()).await;
    let mut cs = clients(&srv, 4).await;
    let [(a, _), (b, _), (c, _), (d, _)] = &mut cs[..] else {
        unreachable!()
    };
    b.join("r1").await;
    b.join("r2").await;
    c.join("r2").await;
    srv.io.to("r1").to("r2").emit("msg", "union").unwrap();
    srv.io.to(["r1", "r2", "r1"]).emit("msg", "array").unwrap();
    for x in [&mut *b, &mut *c] {
        assert_eq!(x.recv().await, r#"42["msg","union"]"#);
        assert_eq!(x.recv().await, r#"42["msg","array"]"#);
    }
    // From a socket in both rooms: the others only.
    b.send(r#"42["to",["r1","r2"],[],"from b"]"#).await;
    assert_eq!(c.recv().await, r#"42["msg","from b"]"#);
    assert_nothing_before_marker(&srv, &mut [a, b, c, d], "m").await;
}

#[tokio::test]
async fn except_skips_every_socket_in_the_rooms() {
    let srv = serve(rooms_io()).await;
    let mut cs = clients(&srv, 4).await;
    let c_sid = cs[2].1.clone();
    let [(a, _), (b, _), (c, _), (d, _)] = &mut cs[..] else {
        unreachable!()
    };
    a.join("r").await;
    b.join("r").await;
    b.join("vip").await;
    c.join("r").await;
    srv.io.except("vip").emit("msg", "not vip").unwrap();
    for x in [&mut *a, &mut *c, &mut *d] {
        assert_eq!(x.recv().await, r#"42["msg","not vip"]"#);
    }
    srv.io
        .to("r")
        .except("vip")
        .emit("msg", "r not vip")
        .unwrap();
    assert_eq!(a.recv().await, r#"42["msg","r not vip"]"#);
    assert_eq!(c.recv().await, r#"42["msg","r not vip"]"#);
    // A socket id is a room too.
    a.send(&format!("42[\"to\",[\"r\"],[\"{c_sid}\"],\"r not c\"]"))
        .await;
    assert_eq!(b.recv().await, r#"42["msg","r not c"]"#);
    assert_nothing_before_marker(&srv, &mut [a, b, c, d], "m").await;
}

#[tokio::test]
async fn leave_and_empty_rooms_are_deleted() {
    let srv = serve(rooms_io()).await;
    let mut cs = clients(&srv, 2).await;
    let (a_sid, b_sid) = (cs[0].1.clone(), cs[1].1.clone());
    let [(a, _), (b, _)] = &mut cs[..] else {
        unreachable!()
    };
    assert_eq!(rooms(&srv), BTreeSet::from([a_sid.clone(), b_sid.clone()]));
    a.join("r").await;
    b.join("r").await;
    assert!(rooms(&srv).contains("r"));
    let socket_a = srv.io.of("/").socket(&a_sid).unwrap();
    let mut own: Vec<String> = socket_a.rooms().iter().map(|r| r.to_string()).collect();
    own.sort();
    let mut want = vec![a_sid.clone(), "r".to_owned()];
    want.sort();
    assert_eq!(own, want, "a socket is in its own room");

    a.leave("r").await;
    srv.io.to("r").emit("msg", "after a left").unwrap();
    assert_eq!(b.recv().await, r#"42["msg","after a left"]"#);
    assert_nothing_before_marker(&srv, &mut [a, b], "m").await;
    assert!(rooms(&srv).contains("r"), "b is still in r");
    b.leave("r").await;
    assert!(!rooms(&srv).contains("r"), "the empty room is deleted");
    // Leaving a room one is not in is harmless.
    b.leave("never").await;
    assert_eq!(rooms(&srv), BTreeSet::from([a_sid, b_sid]));
}

#[tokio::test]
async fn disconnect_leaves_every_room_and_disconnecting_still_sees_them() {
    let io = rooms_io();
    let (tx, mut seen) = mpsc::unbounded_channel();
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            let t = tx.clone();
            socket.on_disconnecting(move |s: &Socket, reason: DisconnectReason| {
                let mut rooms: Vec<String> = s.rooms().iter().map(|r| r.to_string()).collect();
                rooms.sort();
                let _ = t.send(("disconnecting", reason, rooms));
            });
            socket.on_disconnect(move |s: Socket, reason| async move {
                let rooms = s.rooms().iter().map(|r| r.to_string()).collect();
                let _ = tx.send(("disconnect", reason, rooms));
            });
        }
    });
    let srv = serve(io).await;
    let mut cs = clients(&srv, 1).await;
    let (mut a, sid) = cs.pop().unwrap();
    a.join("r").await;
    a.join("s").await;
    a.close().await;
    let mut want = vec![sid.clone(), "r".to_owned(), "s".to_owned()];
    want.sort();
    assert_eq!(
        next(&mut seen, "disconnecting").await,
        ("disconnecting", DisconnectReason::TransportClose, want)
    );
    assert_eq!(
        next(&mut seen, "disconnect").await,
        ("disconnect", DisconnectReason::TransportClose, vec![])
    );
    assert!(rooms(&srv).is_empty(), "{:?}", rooms(&srv));
    assert_eq!(srv.io.of("/").socket_count(), 0);
}

#[tokio::test]
async fn broadcasts_stay_in_their_namespace() {
    let srv = serve(echo_io()).await;
    let mut a = WsClient::open(srv.addr).await;
    a.connect("/").await;
    let mut b = WsClient::open(srv.addr).await;
    b.connect("/custom").await;
    srv.io.of("/custom").emit("ev", &[1, 2]).unwrap();
    assert_eq!(b.recv().await, r#"42/custom,["ev",[1,2]]"#);
    srv.io.emit("main", &()).unwrap();
    assert_eq!(a.recv().await, r#"42["main",null]"#);
    srv.io.broadcast().emit_args("many", (1, "two")).unwrap();
    assert_eq!(a.recv().await, r#"42["many",1,"two"]"#);
    srv.io.broadcast().emit_args("none", ()).unwrap();
    assert_eq!(a.recv().await, r#"42["none"]"#);
}

#[tokio::test]
async fn operators_join_leave_and_disconnect_selected_sockets() {
    let srv = serve(rooms_io()).await;
    let mut cs = clients(&srv, 3).await;
    let sids: Vec<String> = cs.iter().map(|(_, s)| s.clone()).collect();
    cs[0].0.join("r").await;
    cs[1].0.join("r").await;
    srv.io.to("r").sockets_join("moved");
    let mut got: Vec<String> = srv
        .io
        .to("moved")
        .sockets()
        .iter()
        .map(|s| s.id().to_string())
        .collect();
    got.sort();
    let mut want = vec![sids[0].clone(), sids[1].clone()];
    want.sort();
    assert_eq!(got, want);
    srv.io.broadcast().sockets_leave("r");
    assert!(!rooms(&srv).contains("r"));
    srv.io.to("moved").disconnect_sockets(false);
    assert_eq!(cs[0].0.recv().await, "41");
    assert_eq!(cs[1].0.recv().await, "41");
    assert_eq!(srv.io.of("/").socket_count(), 1);
    assert_eq!(rooms(&srv), BTreeSet::from([sids[2].clone()]));
    let (c, _) = &mut cs[2];
    assert_nothing_before_marker(&srv, &mut [c], "m").await;
    // `close`: the DISCONNECT packet, then the connection is closed.
    srv.io.broadcast().disconnect_sockets(true);
    assert_eq!(cs[2].0.expect_closed().await, [Frame::Text("41".into())]);
    assert_eq!(srv.io.of("/").socket_count(), 0);
}

#[tokio::test]
async fn broadcast_with_ack_to_nobody_resolves_at_once() {
    let srv = serve(rooms_io()).await;
    let r = within(
        "an empty broadcast",
        srv.io.to("empty").emit_with_ack::<_, u8>("q", &1),
    )
    .await;
    assert!(r.unwrap().is_empty());
}

#[tokio::test]
async fn volatile_packets_are_dropped_when_the_transport_is_not_writable() {
    let io = SocketIo::builder().build().unwrap();
    let mut sockets = capture(&io.of("/"));
    let srv = serve(io).await;
    // Polling with no GET pending: not writable.
    let p = Polling::open(srv.addr).await;
    p.post(&["40"]).await;
    let first = p.get().await;
    assert_eq!(first.len(), 1);
    connect_reply_sid(&first[0], "/");
    let socket = next(&mut sockets, "the polling socket").await;
    assert!(!socket.session().is_writable());
    socket.volatile().emit("v", "dropped").unwrap();
    srv.io.volatile().emit("v", "dropped too").unwrap();
    socket.emit("n", "kept").unwrap();
    srv.io.emit("n", "kept too").unwrap();
    assert_eq!(
        p.get().await,
        [r#"42["n","kept"]"#, r#"42["n","kept too"]"#]
    );

    // An idle WebSocket is writable: volatile packets go out. (Emitted
    // from an event handler: once the server read the client's frame, its
    // earlier writes are done.)
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let ws_socket = next(&mut sockets, "the websocket socket").await;
    ws_socket.on(
        "go",
        |socket: Socket, sockeye::Data(n): sockeye::Data<u32>| async move {
            if n == 1 {
                socket.volatile().emit("v", "sent").unwrap();
            } else {
                socket.namespace().volatile().emit("v", "sent too").unwrap();
            }
        },
    );
    c.send(r#"42["go",1]"#).await;
    assert_eq!(c.recv().await, r#"42["v","sent"]"#);
    c.send(r#"42["go",2]"#).await;
    assert_eq!(c.recv().await, r#"42["v","sent too"]"#);
}

#[tokio::test]
async fn join_after_disconnect_does_not_leak_a_room() {
    let io = rooms_io();
    let mut sockets = capture(&io.of("/"));
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let socket = next(&mut sockets, "the socket").await;
    c.send("41").await;
    next(&mut gone, "the disconnect").await;
    // A handler still running (after an await, say) joins a room.
    socket.join("late");
    assert!(rooms(&srv).is_empty(), "{:?}", rooms(&srv));
}
