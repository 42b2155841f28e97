//! Broadcasts with acknowledgements across nodes: an adapter that keeps the
//! rooms in a `LocalAdapter` and simulates other nodes behind
//! `broadcast_with_ack_remote` (their client counts, their clients'
//! answers, nodes that answer late, partly or never), as a cluster adapter
//! would report them.

mod common;

use common::*;
use parking_lot::Mutex;
use serde_json::{Value as Json, json};
use sockeye::adapter::{
    Adapter, AdapterContext, AdapterError, BoxFuture, BroadcastOptions, BroadcastPacket,
    LocalAdapter, RemoteAck, Room, SocketInfo,
};
use sockeye::{AckResponse, BroadcastAckError, Sid, SocketId, SocketIo};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::time::Instant;

/// What one simulated node does with a broadcast with acknowledgements.
#[derive(Debug, Clone, Default)]
struct FakeNode {
    /// How long it takes before it reports anything.
    delay: Duration,
    /// The client count it reports (`None`: it never reports one).
    count: Option<usize>,
    /// Its clients' answers (the first argument of each).
    answers: Vec<Json>,
    /// Whether it keeps the event channel open afterwards (a node still
    /// waiting on its clients); otherwise it drops it.
    hold: bool,
}

/// The simulated rest of the cluster, shared by the test and the adapter.
#[derive(Debug, Default)]
struct Cluster {
    nodes: Vec<FakeNode>,
    /// The broadcasts forwarded to the other nodes: the Engine.IO text and
    /// whether the `local` flag was set.
    forwarded: Mutex<Vec<(String, bool)>>,
    /// Event channels held open by nodes that have not finished.
    held: Mutex<Vec<UnboundedSender<RemoteAck>>>,
}

/// Rooms in a [`LocalAdapter`]; other nodes from the [`Cluster`].
struct ClusterAdapter {
    local: LocalAdapter,
    cluster: Arc<Cluster>,
}

impl Adapter for ClusterAdapter {
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
    fn server_count(&self) -> BoxFuture<Result<usize, AdapterError>> {
        let n = 1 + self.cluster.nodes.len();
        Box::pin(async move { Ok(n) })
    }
    fn broadcast_with_ack_remote(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        events: UnboundedSender<RemoteAck>,
    ) {
        let text = packet
            .eio_text
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_default();
        self.cluster.forwarded.lock().push((text, opts.flags.local));
        for node in self.cluster.nodes.clone() {
            let events = events.clone();
            let cluster = self.cluster.clone();
            // Later, as answers come over a network.
            tokio::spawn(async move {
                tokio::time::sleep(node.delay).await;
                if let Some(n) = node.count {
                    let _ = events.send(RemoteAck::ClientCount(n));
                }
                for answer in node.answers {
                    let _ = events.send(RemoteAck::Ack(vec![answer]));
                }
                if node.hold {
                    cluster.held.lock().push(events);
                }
            });
        }
    }
}

/// A server whose adapter simulates `nodes`, with `clients` raw clients
/// connected to `/` (and their socket ids).
async fn cluster(
    nodes: Vec<FakeNode>,
    clients: usize,
) -> (TestServer, Arc<Cluster>, Vec<(WsClient, SocketId)>) {
    let cluster = Arc::new(Cluster {
        nodes,
        ..Cluster::default()
    });
    let shared = cluster.clone();
    let io = SocketIo::builder()
        .adapter(Arc::new(move |ctx: AdapterContext| {
            Arc::new(ClusterAdapter {
                local: LocalAdapter::new(ctx),
                cluster: shared.clone(),
            }) as Arc<dyn Adapter>
        }))
        .build()
        .unwrap();
    let srv = serve(io).await;
    let mut out = Vec::new();
    for _ in 0..clients {
        let mut c = WsClient::open(srv.addr).await;
        let id = c.connect("/").await.parse().expect("a socket id");
        out.push((c, id));
    }
    (srv, cluster, out)
}

type Answers = Result<Vec<AckResponse<String>>, BroadcastAckError<String>>;

/// Starts `io.timeout(timeout).emit_with_ack("q", 1)` (local only with
/// `local`) on its own task; the result and how long it took come on the
/// channel.
fn ask(
    io: &SocketIo,
    timeout: Duration,
    local: bool,
) -> mpsc::UnboundedReceiver<(Answers, Duration)> {
    let op = if local {
        io.local().timeout(timeout)
    } else {
        io.timeout(timeout)
    };
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let start = Instant::now();
        let r = op.emit_with_ack::<_, String>("q", &1).await;
        let _ = tx.send((r, start.elapsed()));
    });
    rx
}

/// Each local client reads the question and answers with its letter
/// (`a`, `b`, ...), except those whose index is in `silent`.
async fn answer(clients: &mut [(WsClient, SocketId)], silent: &[usize]) {
    for (n, (c, _)) in clients.iter_mut().enumerate() {
        assert_eq!(c.recv().await, r#"420["q",1]"#);
        if !silent.contains(&n) {
            let letter = char::from(b'a' + n as u8);
            c.send(&format!(r#"430["{letter}"]"#)).await;
        }
    }
}

fn local(id: &SocketId, value: &str) -> AckResponse<String> {
    AckResponse::new(Some(id.clone()), value.to_owned()).with_args(vec![value.into()])
}

fn remote(value: &str) -> AckResponse<String> {
    AckResponse::new(None, value.to_owned()).with_args(vec![value.into()])
}

fn sorted(mut responses: Vec<AckResponse<String>>) -> Vec<AckResponse<String>> {
    responses.sort_by(|a, b| a.value.cmp(&b.value));
    responses
}

#[tokio::test]
async fn local_and_remote_answers_are_collected() {
    let nodes = vec![
        FakeNode {
            count: Some(2),
            answers: vec![json!("r1"), json!("r2")],
            ..FakeNode::default()
        },
        FakeNode {
            count: Some(0),
            ..FakeNode::default()
        },
    ];
    let (srv, cluster, mut clients) = cluster(nodes, 2).await;
    let mut result = ask(&srv.io, WAIT, false);
    answer(&mut clients, &[]).await;
    let (r, _) = next(&mut result, "the answers").await;
    assert_eq!(
        sorted(r.unwrap()),
        vec![
            local(&clients[0].1, "a"),
            local(&clients[1].1, "b"),
            remote("r1"),
            remote("r2"),
        ]
    );
    // The packet went to the other nodes once, as encoded for the locals.
    assert_eq!(
        cluster.forwarded.lock().as_slice(),
        [(r#"420["q",1]"#.to_owned(), false)]
    );
}

#[tokio::test]
async fn a_late_node_is_waited_for() {
    // No local recipient, and the other node reports after a while: the
    // broadcast waits for its count and its answer instead of resolving
    // with nothing.
    let nodes = vec![FakeNode {
        delay: Duration::from_millis(100),
        count: Some(1),
        answers: vec![json!("late")],
        hold: true,
    }];
    let (srv, _cluster, _clients) = cluster(nodes, 0).await;
    let mut result = ask(&srv.io, WAIT, false);
    let (r, took) = next(&mut result, "the answers").await;
    assert_eq!(r.unwrap(), vec![remote("late")]);
    assert!(took >= Duration::from_millis(100), "{took:?}");
}

#[tokio::test]
async fn a_node_that_never_answers_times_out_with_what_is_missing() {
    let nodes = vec![FakeNode {
        count: Some(2),
        answers: vec![json!("r1")],
        hold: true,
        ..FakeNode::default()
    }];
    let (srv, _cluster, mut clients) = cluster(nodes, 2).await;
    let timeout = Duration::from_millis(300);
    let mut result = ask(&srv.io, timeout, false);
    answer(&mut clients, &[1]).await;
    let (r, took) = next(&mut result, "the timeout").await;
    let err = r.unwrap_err();
    assert!(took >= timeout, "{took:?}");
    assert_eq!(
        sorted(err.responses.clone()),
        vec![local(&clients[0].1, "a"), remote("r1")]
    );
    assert_eq!(err.missing, vec![clients[1].1.clone()]);
    assert_eq!((err.missing_remote, err.silent_nodes), (1, 0));
    assert_eq!(
        err.to_string(),
        "operation has timed out: 2 answered, 1 local and 1 remote missing"
    );
    // The late local answer is ignored; the connection stays up.
    clients[1].0.send(r#"430["late"]"#).await;
    srv.io.local().emit("still", &1).unwrap();
    assert_eq!(clients[1].0.recv().await, r#"42["still",1]"#);
}

#[tokio::test]
async fn a_node_that_never_reports_its_clients_times_out() {
    let nodes = vec![
        FakeNode {
            count: Some(1),
            answers: vec![json!("r1")],
            ..FakeNode::default()
        },
        FakeNode {
            hold: true,
            ..FakeNode::default()
        },
    ];
    let (srv, _cluster, mut clients) = cluster(nodes, 1).await;
    let mut result = ask(&srv.io, Duration::from_millis(200), false);
    answer(&mut clients, &[]).await;
    let (r, _) = next(&mut result, "the timeout").await;
    let err = r.unwrap_err();
    assert_eq!(
        sorted(err.responses.clone()),
        vec![local(&clients[0].1, "a"), remote("r1")]
    );
    assert!(err.missing.is_empty());
    assert_eq!((err.missing_remote, err.silent_nodes), (0, 1));
    assert_eq!(
        err.to_string(),
        "operation has timed out: 2 answered, 0 local and 0 remote missing, \
         1 other node did not report its clients"
    );
}

#[tokio::test]
async fn a_node_that_gives_up_ends_the_wait_early() {
    // The node announced two answers, relayed one and dropped the channel:
    // nothing more can come, so the broadcast fails without waiting for
    // its (long) timeout.
    let nodes = vec![FakeNode {
        count: Some(2),
        answers: vec![json!("r1")],
        ..FakeNode::default()
    }];
    let (srv, _cluster, mut clients) = cluster(nodes, 1).await;
    let mut result = ask(&srv.io, Duration::from_secs(60), false);
    answer(&mut clients, &[]).await;
    let (r, _) = next(&mut result, "the early failure").await;
    let err = r.unwrap_err();
    assert_eq!(err.responses.len(), 2);
    assert_eq!((err.missing_remote, err.silent_nodes), (1, 0));
}

#[tokio::test]
async fn a_local_broadcast_does_not_ask_the_other_nodes() {
    let nodes = vec![FakeNode {
        hold: true,
        ..FakeNode::default()
    }];
    let (srv, cluster, mut clients) = cluster(nodes, 2).await;
    let mut result = ask(&srv.io, WAIT, true);
    answer(&mut clients, &[]).await;
    let (r, _) = next(&mut result, "the local answers").await;
    assert_eq!(
        sorted(r.unwrap()),
        vec![local(&clients[0].1, "a"), local(&clients[1].1, "b")]
    );
    assert!(cluster.forwarded.lock().is_empty());
}

#[tokio::test]
async fn a_remote_socket_ack_waits_for_the_other_nodes() {
    // fetch_sockets finds the local socket; its emit_with_ack goes through
    // the adapter, so the other nodes are asked too (they report 0).
    let nodes = vec![FakeNode {
        delay: Duration::from_millis(50),
        count: Some(0),
        ..FakeNode::default()
    }];
    let (srv, cluster, mut clients) = cluster(nodes, 1).await;
    let fetched = srv.io.broadcast().fetch_sockets().await.unwrap();
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].id(), clients[0].1.as_str());
    let socket = fetched[0].clone();
    let asked = tokio::spawn(async move {
        socket
            .emit_with_ack::<_, String>("q", &1, WAIT)
            .await
            .unwrap()
    });
    answer(&mut clients, &[]).await;
    assert_eq!(within("the answer", asked).await.unwrap(), "a");
    assert_eq!(cluster.forwarded.lock().len(), 1);
}

#[tokio::test]
async fn huge_client_counts_from_other_nodes_saturate() {
    // Two nodes (or a hostile message) announce absurd counts: the sum
    // saturates instead of overflowing, and the broadcast times out with
    // what is missing.
    let nodes = vec![
        FakeNode {
            count: Some(usize::MAX),
            answers: vec![json!("r1")],
            hold: true,
            ..FakeNode::default()
        },
        FakeNode {
            count: Some(usize::MAX),
            hold: true,
            ..FakeNode::default()
        },
    ];
    let (srv, _cluster, _clients) = cluster(nodes, 0).await;
    let mut result = ask(&srv.io, Duration::from_millis(200), false);
    let (r, _) = next(&mut result, "the timeout").await;
    let err = r.unwrap_err();
    assert_eq!(err.responses, vec![remote("r1")]);
    assert_eq!(err.missing_remote, usize::MAX - 1);
    assert_eq!(err.silent_nodes, 0);
}
