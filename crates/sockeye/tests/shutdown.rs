//! `SocketIo::close` and the adapter: the sockets' async disconnect
//! handlers finish, then the adapter sends what it queued (`flush`), then
//! it closes; a handler that never ends holds the close no longer than
//! its deadline.

mod common;

use common::*;
use parking_lot::Mutex;
use sockeye::adapter::{
    Adapter, AdapterContext, AdapterError, BoxFuture, BroadcastOptions, BroadcastPacket,
    LocalAdapter, Room, SocketInfo,
};
use sockeye::{Sid, Socket, SocketIo};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What the adapter was asked to do, in order.
type Log = Arc<Mutex<Vec<String>>>;

/// A [`LocalAdapter`] that logs broadcasts, flushes and closes.
struct Recording {
    local: LocalAdapter,
    log: Log,
}

impl Adapter for Recording {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        self.local.add_all(sid, rooms);
    }
    fn del(&self, sid: Sid, room: &Room) {
        self.local.del(sid, room);
    }
    fn del_all(&self, sid: Sid) {
        self.local.del_all(sid);
    }
    fn for_each_local(&self, opts: &BroadcastOptions, f: &mut dyn FnMut(Sid)) {
        self.local.for_each_local(opts, f);
    }
    fn broadcast(&self, packet: &BroadcastPacket, opts: &BroadcastOptions) {
        let text = packet.eio_text.as_ref().map(|t| t.to_string());
        self.log
            .lock()
            .push(format!("broadcast {}", text.unwrap_or_default()));
        self.local.broadcast(packet, opts);
    }
    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        self.local.socket_rooms(sid)
    }
    fn rooms(&self) -> Vec<Room> {
        self.local.rooms()
    }
    fn room_exists(&self, room: &Room) -> bool {
        self.local.room_exists(room)
    }
    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        self.local.disconnect_sockets(opts, close);
    }
    fn fetch_sockets(
        &self,
        opts: &BroadcastOptions,
    ) -> BoxFuture<Result<Vec<SocketInfo>, AdapterError>> {
        self.local.fetch_sockets(opts)
    }
    fn flush(&self) -> BoxFuture<()> {
        self.log.lock().push("flush".to_owned());
        Box::pin(async {})
    }
    fn close(&self) {
        self.log.lock().push("close".to_owned());
    }
}

/// A server whose sockets, on disconnect, tell the test they started,
/// wait for its word (a dropped sender: never), then broadcast `left`.
fn server(log: &Log, started: mpsc::UnboundedSender<oneshot::Sender<()>>) -> SocketIo {
    let log = log.clone();
    let io = SocketIo::builder()
        .adapter(Arc::new(move |ctx: AdapterContext| {
            Arc::new(Recording {
                local: LocalAdapter::new(ctx),
                log: log.clone(),
            }) as Arc<dyn Adapter>
        }))
        .build()
        .expect("the server builds");
    io.on_connection(move |socket: Socket| {
        let started = started.clone();
        async move {
            socket.on_disconnect(move |s: Socket, _reason| async move {
                let (go, wait) = oneshot::channel();
                let _ = started.send(go);
                if wait.await.is_ok() {
                    let _ = s.broadcast().emit("left", s.id().as_str());
                }
            });
        }
    });
    io
}

#[tokio::test]
async fn close_waits_for_disconnect_handlers_then_flushes_then_closes_the_adapter() {
    let log = Log::default();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let srv = serve(server(&log, started_tx)).await;
    let mut c = WsClient::open(srv.addr).await;
    let sid = c.connect("/").await;
    let io = srv.io.clone();
    let closing = tokio::spawn(async move { io.close(WAIT).await });
    let go = next(&mut started, "the disconnect handler").await;
    // The handler runs: the adapter is still open.
    assert!(log.lock().is_empty(), "{:?}", log.lock());
    let _ = go.send(());
    within("io.close", closing).await.expect("close ends");
    assert_eq!(
        *log.lock(),
        [
            format!(r#"broadcast 42["left","{sid}"]"#),
            "flush".to_owned(),
            "close".to_owned()
        ]
    );
    c.expect_closed().await;
}

#[tokio::test]
async fn a_disconnect_handler_that_never_ends_holds_close_until_its_deadline_only() {
    let log = Log::default();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let srv = serve(server(&log, started_tx)).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    let io = srv.io.clone();
    let closing = tokio::spawn(async move { io.close(Duration::from_millis(200)).await });
    // Kept, never sent: the handler waits for ever.
    let _go = next(&mut started, "the disconnect handler").await;
    within("io.close at its deadline", closing)
        .await
        .expect("close ends");
    // Not flushed (the handler may still broadcast), but closed.
    assert_eq!(*log.lock(), ["close".to_owned()]);
    c.expect_closed().await;
}
