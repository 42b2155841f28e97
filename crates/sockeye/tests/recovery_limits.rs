//! Connection state recovery meets the limits: a connection closed by a
//! rate limit cannot restore its session, and the rooms of a restored
//! session come back whatever the room cap.

mod common;

use common::*;
use sockeye::{RateLimit, RecoveryConfig, Socket, SocketIo};
use std::time::Duration;

/// The `pid` of a recovery CONNECT reply `40{"sid":"..","pid":".."}`, and
/// its sid.
fn sid_pid(frame: &str) -> (String, String) {
    let body = frame.strip_prefix("40").expect("a CONNECT reply");
    let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
    (
        json["sid"].as_str().expect("sid").to_owned(),
        json["pid"].as_str().expect("pid").to_owned(),
    )
}

/// The offset at the end of `42["hello",1,"<offset>"]`.
fn offset(frame: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(&frame[2..]).expect("JSON");
    json[2].as_str().expect("an offset").to_owned()
}

/// Connects to `/` with `auth`: the client, its sid, pid and the offset
/// of the `hello` the server sends on connection.
async fn connect(srv: &TestServer, auth: &str) -> (WsClient, String, String, String) {
    let mut c = WsClient::open(srv.addr).await;
    c.send(&format!("40{auth}")).await;
    let (sid, pid) = sid_pid(&c.recv().await);
    let offset = offset(&c.recv().await);
    (c, sid, pid, offset)
}

fn io(builder: sockeye::SocketIoBuilder) -> SocketIo {
    let io = builder
        .connection_state_recovery(RecoveryConfig::default())
        .build()
        .unwrap();
    io.on_connection(|socket: Socket| async move {
        let _ = socket.emit("hello", &1);
        echo_handlers(socket).await;
    });
    io
}

#[tokio::test]
async fn a_rate_limited_connection_cannot_restore_its_session() {
    let srv = serve(io(SocketIo::builder().rate_limit(
        RateLimit::new(0.0, 1).disconnect_after(1, Duration::from_secs(60)),
    )))
    .await;
    // Control: a transport close is recoverable.
    let (c, sid, pid, off) = connect(&srv, "").await;
    c.close().await;
    let auth = format!(r#"{{"pid":"{pid}","offset":"{off}"}}"#);
    let mut back = WsClient::open(srv.addr).await;
    back.send(&format!("40{auth}")).await;
    assert_eq!(sid_pid(&back.recv().await).0, sid);
    // Over the limit: disconnected, and coming back gives a new socket.
    let (mut c, sid, pid, off) = connect(&srv, "").await;
    c.send(r#"42["message",1]"#).await;
    assert!(c.recv().await.starts_with(r#"42["message-back",1,"#));
    c.send(r#"42["message",2]"#).await;
    assert_eq!(c.expect_closed().await.len(), 1);
    assert_eq!(srv.io.stats().rate_limit_disconnects, 1);
    let auth = format!(r#"{{"pid":"{pid}","offset":"{off}"}}"#);
    let (_d, new_sid, _, _) = connect(&srv, &auth).await;
    assert_ne!(new_sid, sid);
}

#[tokio::test]
async fn restored_rooms_are_not_refused_by_the_room_cap() {
    let srv = serve(io(SocketIo::builder().max_rooms_per_socket(1))).await;
    let mut sockets = capture(&srv.io.of("/"));
    let (c, sid, pid, off) = connect(&srv, "").await;
    let socket = next(&mut sockets, "the socket").await;
    socket.try_join("a").unwrap();
    // Server code is not capped: the socket is in 3 rooms.
    srv.io.of("/").broadcast().sockets_join(["b", "c"]);
    c.close().await;
    let auth = format!(r#"{{"pid":"{pid}","offset":"{off}"}}"#);
    let mut back = WsClient::open(srv.addr).await;
    back.send(&format!("40{auth}")).await;
    assert_eq!(sid_pid(&back.recv().await).0, sid);
    let restored = next(&mut sockets, "the restored socket").await;
    assert!(restored.recovered());
    let mut rooms: Vec<String> = restored.rooms().iter().map(|r| r.to_string()).collect();
    rooms.sort();
    let mut expected = vec!["a".to_owned(), "b".to_owned(), "c".to_owned(), sid];
    expected.sort();
    assert_eq!(rooms, expected);
    assert_eq!(srv.io.stats().rooms_refused, 0);
}
