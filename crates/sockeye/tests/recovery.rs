//! Connection state recovery (reference section 3.7): the `pid` of the
//! CONNECT reply, offsets appended to recoverable events, and a client that
//! comes back with `{pid, offset}` getting its socket id, rooms, data and
//! missed packets (before the CONNECT reply), once, within the configured
//! duration, and only after a recoverable disconnect.

mod common;

use common::*;
use sockeye::adapter::PersistedSession;
use sockeye::{
    AckSender, ConnectError, Data, DisconnectReason, RecoveryConfig, Socket, SocketId, SocketIo,
};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// A server with recovery whose connection handler joins the rooms listed
/// in the auth's `rooms` and stores its `data` (recovered sockets send
/// neither, so what they have comes from the restored session).
fn recovery_io(config: RecoveryConfig) -> SocketIo {
    let io = SocketIo::builder()
        .connection_state_recovery(config)
        .build()
        .unwrap();
    io.on_connection(|socket: Socket| async move {
        let auth: serde_json::Value = socket.auth().unwrap();
        for room in auth["rooms"].as_array().into_iter().flatten() {
            socket.join(room.as_str().unwrap().to_owned());
        }
        if !auth["data"].is_null() {
            socket.set_data(auth["data"].clone());
        }
        socket.on("ask", |_s: Socket, ack: AckSender| async move {
            let _ = ack.send("ok");
        });
    });
    io
}

/// Checks a recovery CONNECT reply, exactly `<prefix>{"sid":"..","pid":".."}`
/// with two distinct 20-character ids; returns them.
#[track_caller]
fn sid_pid(frame: &str, prefix: &str) -> (String, String) {
    let body = frame
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("CONNECT reply expected, got {frame:?}"));
    let json: serde_json::Value = serde_json::from_str(body).expect("JSON CONNECT payload");
    let sid = json["sid"].as_str().expect("sid").to_owned();
    let pid = json["pid"].as_str().expect("pid").to_owned();
    assert_eq!((sid.len(), pid.len()), (20, 20), "{frame}");
    assert_ne!(sid, pid);
    assert_eq!(frame, format!(r#"{prefix}{{"sid":"{sid}","pid":"{pid}"}}"#));
    (sid, pid)
}

/// Reads an EVENT that must be exactly `<head>,"<offset>"]` (`head` is the
/// frame without its closing bracket); returns the offset.
async fn recv_offset(c: &mut WsClient, head: &str) -> String {
    let frame = c.recv().await;
    let offset = frame
        .strip_prefix(head)
        .and_then(|rest| rest.strip_prefix(",\""))
        .and_then(|rest| rest.strip_suffix("\"]"))
        .unwrap_or_else(|| panic!("{head},\"<offset>\"] expected, got {frame:?}"));
    assert!(!offset.is_empty() && !offset.contains('"'), "{frame}");
    offset.to_owned()
}

/// Opens a WebSocket session and sends `40<auth>`; returns the client and
/// its (sid, pid).
async fn connect(srv: &TestServer, auth: &str) -> (WsClient, String, String) {
    let mut c = WsClient::open(srv.addr).await;
    c.send(&format!("40{auth}")).await;
    let (sid, pid) = sid_pid(&c.recv().await, "40");
    (c, sid, pid)
}

/// What a client keeps to come back.
struct Away {
    sid: String,
    pid: String,
    offset: String,
}

/// Connects with `auth`, reads one event's offset, drops the WebSocket and
/// waits until the server saw the socket go (its session is then kept).
async fn first_visit(
    srv: &TestServer,
    gone: &mut UnboundedReceiver<(SocketId, DisconnectReason)>,
    auth: &str,
) -> Away {
    let (mut c, sid, pid) = connect(srv, auth).await;
    srv.io.to(sid.as_str()).emit("hello", &0).unwrap();
    let offset = recv_offset(&mut c, r#"42["hello",0"#).await;
    drop(c);
    let (id, reason) = next(gone, "the disconnect").await;
    assert_eq!(id.to_string(), sid);
    assert!(reason.is_recoverable(), "{reason}");
    Away { sid, pid, offset }
}

/// A new connection that asks for the session back (the reply is not read).
async fn come_back(srv: &TestServer, pid: &str, offset: &str) -> WsClient {
    let mut c = WsClient::open(srv.addr).await;
    c.send(&format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#))
        .await;
    c
}

fn room_set(socket: &Socket) -> BTreeSet<String> {
    socket.rooms().iter().map(|r| r.to_string()).collect()
}

#[tokio::test]
async fn connect_reply_has_sid_then_pid() {
    let io = recovery_io(RecoveryConfig::default());
    io.of("/custom");
    let srv = serve(io).await;
    let (mut c, sid, _) = connect(&srv, "").await;
    c.send("40/custom,").await;
    let (custom, _) = sid_pid(&c.recv().await, "40/custom,");
    assert_ne!(sid, custom);
}

#[tokio::test]
async fn recoverable_events_carry_an_offset_as_last_argument() {
    let io = recovery_io(RecoveryConfig::default());
    let mut sockets = capture(&io.of("/"));
    let srv = serve(io).await;
    let (mut a, _, _) = connect(&srv, r#"{"rooms":["r"]}"#).await;
    let (mut b, _, _) = connect(&srv, "").await;
    let sa = next(&mut sockets, "socket a").await;
    let sb = next(&mut sockets, "socket b").await;
    let mut offsets = Vec::new();

    // A broadcast: one packet, one offset for every recipient.
    srv.io.emit("all", &1).unwrap();
    let o = recv_offset(&mut a, r#"42["all",1"#).await;
    assert_eq!(recv_offset(&mut b, r#"42["all",1"#).await, o);
    offsets.push(o);
    // Direct emits, with one argument, several and none.
    sa.emit("direct", "x").unwrap();
    offsets.push(recv_offset(&mut a, r#"42["direct","x""#).await);
    sa.emit_args("many", (1, "two")).unwrap();
    offsets.push(recv_offset(&mut a, r#"42["many",1,"two""#).await);
    sa.emit_args("none", ()).unwrap();
    offsets.push(recv_offset(&mut a, r#"42["none""#).await);
    // A room, and a broadcast from another socket.
    srv.io.to("r").emit("room", &2).unwrap();
    offsets.push(recv_offset(&mut a, r#"42["room",2"#).await);
    sb.broadcast().emit("from-b", &3).unwrap();
    offsets.push(recv_offset(&mut a, r#"42["from-b",3"#).await);
    let distinct: BTreeSet<&String> = offsets.iter().collect();
    assert_eq!(distinct.len(), offsets.len(), "{offsets:?}");

    // Volatile packets get none (sent from a handler: the transport is
    // then idle, hence writable).
    sa.on("go", |socket: Socket, Data(n): Data<u32>| async move {
        if n == 1 {
            socket.volatile().emit("sv", &4).unwrap();
        } else {
            let ns = socket.namespace().clone();
            ns.to(socket.id()).volatile().emit("bv", &5).unwrap();
        }
    });
    a.send(r#"42["go",1]"#).await;
    assert_eq!(a.recv().await, r#"42["sv",4]"#);
    a.send(r#"42["go",2]"#).await;
    assert_eq!(a.recv().await, r#"42["bv",5]"#);

    // Neither do events with an ack id, nor the server's ack replies.
    let ask = tokio::spawn(async move { sa.emit_with_ack::<_, String>("acked", &6).await });
    assert_eq!(a.recv().await, r#"420["acked",6]"#);
    a.send(r#"430["fine"]"#).await;
    assert_eq!(within("the ack", ask).await.unwrap().unwrap(), "fine");
    a.send(r#"427["ask"]"#).await;
    assert_eq!(a.recv().await, r#"437["ok"]"#);

    // b got nothing else meanwhile.
    srv.io.emit("end", &()).unwrap();
    recv_offset(&mut b, r#"42["end",null"#).await;
    recv_offset(&mut a, r#"42["end",null"#).await;
}

#[tokio::test]
async fn recovery_restores_id_rooms_data_and_missed_packets_first() {
    let io = recovery_io(RecoveryConfig::default());
    let mut sockets = capture(&io.of("/"));
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let auth = r#"{"rooms":["r1","r2"],"data":{"name":"ann","score":3}}"#;
    let away = first_visit(&srv, &mut gone, auth).await;
    let first = next(&mut sockets, "the first socket").await;
    assert!(!first.recovered());

    // While it is away: what reaches its rooms is kept for it.
    let io = &srv.io;
    io.emit("all", &1).unwrap();
    io.to("r1").emit("r1", &2).unwrap();
    io.to("elsewhere").emit("elsewhere", &3).unwrap();
    io.except("r2").emit("not-r2", &4).unwrap();
    io.to(away.sid.as_str()).emit("own", &5).unwrap();
    io.to(["elsewhere", "r2"]).emit("r2", &6).unwrap();
    io.volatile().emit("volatile", &7).unwrap();
    io.to("r1")
        .emit_with_ack::<_, ()>("acked", &8)
        .await
        .unwrap();

    let mut c = come_back(&srv, &away.pid, &away.offset).await;
    recv_offset(&mut c, r#"42["all",1"#).await;
    recv_offset(&mut c, r#"42["r1",2"#).await;
    recv_offset(&mut c, r#"42["own",5"#).await;
    let last = recv_offset(&mut c, r#"42["r2",6"#).await;
    assert_eq!(sid_pid(&c.recv().await, "40"), (away.sid.clone(), away.pid));

    let socket = next(&mut sockets, "the recovered socket").await;
    assert!(socket.recovered());
    assert_eq!(socket.id().to_string(), away.sid);
    let want: BTreeSet<String> = [away.sid.as_str(), "r1", "r2"].map(String::from).into();
    assert_eq!(room_set(&socket), want);
    assert_eq!(
        socket.data_json(),
        serde_json::json!({"name": "ann", "score": 3})
    );
    // Back in its rooms, and nothing else was queued.
    io.to("r2").emit("welcome", &9).unwrap();
    let next_offset = recv_offset(&mut c, r#"42["welcome",9"#).await;
    assert_ne!(next_offset, last);
}

#[tokio::test]
async fn middlewares_are_skipped_on_recovery_by_default() {
    let io = recovery_io(RecoveryConfig::default());
    let mut sockets = capture(&io.of("/"));
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let away = first_visit(&srv, &mut gone, "").await;
    next(&mut sockets, "the first socket").await;
    srv.io
        .use_middleware(|_s: Socket| async { Err(ConnectError::new("closed")) });

    let mut newcomer = WsClient::open(srv.addr).await;
    newcomer.send("40").await;
    assert_eq!(newcomer.recv().await, r#"44{"message":"closed"}"#);

    let mut c = come_back(&srv, &away.pid, &away.offset).await;
    assert_eq!(sid_pid(&c.recv().await, "40"), (away.sid, away.pid));
    assert!(next(&mut sockets, "the recovered socket").await.recovered());
}

#[tokio::test]
async fn middlewares_run_on_recovery_when_configured() {
    let io = recovery_io(RecoveryConfig::default().with_skip_middlewares(false));
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let away = first_visit(&srv, &mut gone, "").await;
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    srv.io.use_middleware(move |s: Socket| {
        let _ = tx.send((s.id().to_string(), s.recovered()));
        async { Err(ConnectError::new("closed")) }
    });
    let mut c = come_back(&srv, &away.pid, &away.offset).await;
    assert_eq!(c.recv().await, r#"44{"message":"closed"}"#);
    assert_eq!(next(&mut seen, "the middleware").await, (away.sid, true));
}

#[tokio::test]
async fn unknown_pid_or_offset_gives_a_fresh_socket() {
    let io = recovery_io(RecoveryConfig::default());
    let mut sockets = capture(&io.of("/"));
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let away = first_visit(&srv, &mut gone, "").await;
    next(&mut sockets, "the first socket").await;
    let (pid, offset) = (&away.pid, &away.offset);
    let attempts = [
        r#"{"pid":"foo","offset":"bar"}"#.to_owned(),
        format!(r#"{{"pid":"{pid}","offset":"bar"}}"#),
        format!(r#"{{"pid":"foo","offset":"{offset}"}}"#),
        format!(r#"{{"pid":"{pid}"}}"#),
        format!(r#"{{"pid":"{pid}","offset":7}}"#),
    ];
    for auth in &attempts {
        let (_c, sid, new_pid) = connect(&srv, auth).await;
        assert!(sid != away.sid && sid != "foo", "{auth}");
        assert!(new_pid != away.pid && new_pid != "bar", "{auth}");
        assert!(!next(&mut sockets, "a fresh socket").await.recovered());
    }
    // Failed attempts do not use the session up.
    let mut c = come_back(&srv, pid, offset).await;
    assert_eq!(
        sid_pid(&c.recv().await, "40"),
        (away.sid.clone(), away.pid.clone())
    );
}

#[tokio::test]
async fn a_session_is_restored_once_and_again_after_the_next_disconnect() {
    let io = recovery_io(RecoveryConfig::default());
    let mut sockets = capture(&io.of("/"));
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let away = first_visit(&srv, &mut gone, r#"{"rooms":["r"]}"#).await;
    next(&mut sockets, "the first socket").await;
    let mut back = come_back(&srv, &away.pid, &away.offset).await;
    assert_eq!(
        sid_pid(&back.recv().await, "40"),
        (away.sid.clone(), away.pid.clone())
    );
    assert!(next(&mut sockets, "the recovered socket").await.recovered());

    // The same pid and offset a second time: a fresh socket.
    let mut twin = come_back(&srv, &away.pid, &away.offset).await;
    let (sid, pid) = sid_pid(&twin.recv().await, "40");
    assert!(sid != away.sid && pid != away.pid);
    assert!(!next(&mut sockets, "the twin").await.recovered());

    // The recovered socket leaves again (a protocol violation this time:
    // `forced server close` is recoverable too) and comes back again.
    srv.io.to("r").emit("later", &1).unwrap();
    let offset = recv_offset(&mut back, r#"42["later",1"#).await;
    back.send(r#"42/nowhere,["x"]"#).await;
    back.expect_closed().await;
    let (id, reason) = next(&mut gone, "the second disconnect").await;
    assert_eq!(
        (id.to_string(), reason),
        (away.sid.clone(), DisconnectReason::ForcedServerClose)
    );
    srv.io.to("r").emit("missed", &2).unwrap();
    let mut again = come_back(&srv, &away.pid, &offset).await;
    recv_offset(&mut again, r#"42["missed",2"#).await;
    assert_eq!(sid_pid(&again.recv().await, "40"), (away.sid, away.pid));
    let socket = next(&mut sockets, "the socket recovered twice").await;
    assert!(socket.rooms().iter().any(|r| r == "r"));
}

#[tokio::test]
async fn an_expired_session_is_not_restored() {
    let max = Duration::from_millis(200);
    let io = recovery_io(RecoveryConfig::default().with_max_disconnection_duration(max));
    let mut sockets = capture(&io.of("/"));
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let (mut watcher, watcher_sid, _) = connect(&srv, "").await;
    next(&mut sockets, "the watcher").await;
    let away = first_visit(&srv, &mut gone, "").await;
    next(&mut sockets, "the first socket").await;

    // Probes persisted after the session: once one of them cannot be
    // restored, the session (older) has expired too. Each restore is tried
    // with a fresh offset, so only the sessions' age is at stake.
    let adapter = srv.io.of("/").adapter().clone();
    for n in 0..300 {
        let probe = PersistedSession::new(format!("s{n}"), format!("probe{n}"), vec![], ().into());
        adapter.persist_session(probe);
    }
    let mut n = 0;
    let fresh_offset = loop {
        assert!(n < 300, "the session never expired");
        srv.io.to(watcher_sid.as_str()).emit("tick", &n).unwrap();
        let offset = recv_offset(&mut watcher, &format!(r#"42["tick",{n}"#)).await;
        let restored = adapter.restore_session(&format!("probe{n}"), &offset).await;
        if n == 0 {
            assert!(restored.is_some(), "a probe is restorable at first");
        } else if restored.is_none() {
            break offset;
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let mut c = come_back(&srv, &away.pid, &fresh_offset).await;
    let (sid, pid) = sid_pid(&c.recv().await, "40");
    assert!(sid != away.sid && pid != away.pid);
    assert!(!next(&mut sockets, "a fresh socket").await.recovered());
}

#[tokio::test]
async fn leaving_the_namespace_is_not_recoverable() {
    let io = recovery_io(RecoveryConfig::default());
    let mut sockets = capture(&io.of("/"));
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let (mut c, sid, pid) = connect(&srv, "").await;
    next(&mut sockets, "the socket").await;
    srv.io.emit("hello", &0).unwrap();
    let offset = recv_offset(&mut c, r#"42["hello",0"#).await;
    // The client leaves: `client namespace disconnect`.
    c.send("41").await;
    let (id, reason) = next(&mut gone, "the client's disconnect").await;
    assert_eq!(
        (id.to_string(), reason),
        (sid.clone(), DisconnectReason::ClientNamespaceDisconnect)
    );
    c.send(&format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#))
        .await;
    let (sid2, pid2) = sid_pid(&c.recv().await, "40");
    assert!(sid2 != sid && pid2 != pid);
    let socket = next(&mut sockets, "a fresh socket").await;
    assert!(!socket.recovered());

    // The server makes it leave: `server namespace disconnect`.
    srv.io.emit("hello", &1).unwrap();
    let offset = recv_offset(&mut c, r#"42["hello",1"#).await;
    socket.disconnect();
    assert_eq!(c.recv().await, "41");
    let (_, reason) = next(&mut gone, "the server's disconnect").await;
    assert_eq!(reason, DisconnectReason::ServerNamespaceDisconnect);
    c.send(&format!(r#"40{{"pid":"{pid2}","offset":"{offset}"}}"#))
        .await;
    let (sid3, _) = sid_pid(&c.recv().await, "40");
    assert_ne!(sid3, sid2);
    assert!(!next(&mut sockets, "another fresh socket").await.recovered());
}

#[tokio::test]
async fn sessions_are_kept_per_namespace() {
    let io = recovery_io(RecoveryConfig::default());
    let custom = io.of("/custom");
    let mut sockets = capture(&custom);
    let mut gone = disconnects(&custom);
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.send("40/custom,").await;
    let (sid, pid) = sid_pid(&c.recv().await, "40/custom,");
    next(&mut sockets, "the socket").await;
    custom.emit("hello", &0).unwrap();
    let offset = recv_offset(&mut c, r#"42/custom,["hello",0"#).await;
    drop(c);
    next(&mut gone, "the disconnect").await;
    let auth = format!(r#"{{"pid":"{pid}","offset":"{offset}"}}"#);
    // Not a session of `/`.
    let (mut c, main_sid, _) = connect(&srv, &auth).await;
    assert_ne!(main_sid, sid);
    c.send(&format!("40/custom,{auth}")).await;
    assert_eq!(sid_pid(&c.recv().await, "40/custom,"), (sid, pid));
    assert!(next(&mut sockets, "the recovered socket").await.recovered());
}

#[tokio::test]
async fn the_packet_bound_drops_the_oldest_packets_and_their_offsets() {
    let io = recovery_io(RecoveryConfig::default().with_limits(3, 100));
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let away = first_visit(&srv, &mut gone, "").await;
    // Three packets kept: the client's offset and the two it missed.
    srv.io.emit("m", &1).unwrap();
    srv.io.emit("m", &2).unwrap();
    let mut c = come_back(&srv, &away.pid, &away.offset).await;
    recv_offset(&mut c, r#"42["m",1"#).await;
    let offset = recv_offset(&mut c, r#"42["m",2"#).await;
    assert_eq!(sid_pid(&c.recv().await, "40").0, away.sid);
    drop(c);
    next(&mut gone, "the second disconnect").await;
    // Three more push its last offset out: it cannot be recovered.
    for n in 3..6 {
        srv.io.emit("m", &n).unwrap();
    }
    let mut c = come_back(&srv, &away.pid, &offset).await;
    assert_ne!(sid_pid(&c.recv().await, "40").0, away.sid);
}

#[tokio::test]
async fn the_session_bound_drops_the_oldest_sessions() {
    let io = recovery_io(RecoveryConfig::default().with_limits(100, 1));
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let old = first_visit(&srv, &mut gone, "").await;
    let new = first_visit(&srv, &mut gone, "").await;
    let mut c = come_back(&srv, &old.pid, &old.offset).await;
    assert_ne!(sid_pid(&c.recv().await, "40").0, old.sid);
    let mut c = come_back(&srv, &new.pid, &new.offset).await;
    assert_eq!(sid_pid(&c.recv().await, "40").0, new.sid);
}

#[tokio::test]
async fn the_session_bound_counts_a_session_that_left_again_as_new() {
    let io = recovery_io(RecoveryConfig::default().with_limits(100, 2));
    let srv = serve(io).await;
    let (mut w, watcher, _) = connect(&srv, "").await;
    srv.io.to(watcher.as_str()).emit("tick", &0).unwrap();
    let offset = recv_offset(&mut w, r#"42["tick",0"#).await;
    let adapter = srv.io.of("/").adapter().clone();
    let persist = |pid: &str| {
        let session = PersistedSession::new(format!("s-{pid}"), pid.into(), vec![], ().into());
        adapter.persist_session(session);
    };
    persist("b");
    persist("a");
    assert!(adapter.restore_session("b", &offset).await.is_some());
    // `b` leaves again, then `c` goes over the bound: `a` is the oldest.
    persist("b");
    persist("c");
    for (pid, kept) in [("a", false), ("b", true), ("c", true)] {
        let restored = adapter.restore_session(pid, &offset).await;
        assert_eq!(restored.is_some(), kept, "{pid}");
    }
}
