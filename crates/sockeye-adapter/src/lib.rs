//! The adapter seam of Sockeye.
//!
//! Every room operation and every broadcast of a namespace goes through an
//! [`Adapter`]. The default, [`LocalAdapter`], keeps rooms in memory for one
//! process; a cluster adapter (Redis) implements the same trait, forwards
//! broadcasts and requests to the other nodes, and hands what it receives to
//! the namespace through [`LocalNamespace`].
//!
//! # For adapter authors
//!
//! * One adapter instance serves one namespace; the server builds it with an
//!   [`AdapterFactory`] when the namespace is created, passing an
//!   [`AdapterContext`] (the namespace name, and a handle to deliver packets
//!   to local sockets).
//! * Sockets are keyed by a [`Sid`], unique within the namespace. Every
//!   socket is in the room named after its public id: `add_all(sid,
//!   [id])` is the first call for a socket, `del_all(sid)` the last. The
//!   id is the key's text, except for a Socket.IO 2.x socket on a
//!   namespace other than `/`, whose id is `<nsp>#<engine sid>` (keyed by
//!   the engine sid); [`SocketInfo::id`] is that public id.
//! * [`Adapter::for_each_local`] must visit each matching local socket once,
//!   even when it is in several of the target rooms, and skip any socket in
//!   an `except` room. Sockeye's callbacks only collect the ids and never
//!   call back into the adapter, so an adapter may hold its own read locks
//!   while calling them.
//! * [`Adapter::broadcast`] must not hold its locks while it delivers:
//!   delivering can close a socket whose queue is full, and that socket's
//!   cleanup calls [`Adapter::del_all`]. Collect the ids, release the locks,
//!   then hand them to [`LocalNamespace::deliver_all`] (as [`LocalAdapter`]
//!   does).
//! * Methods are synchronous and must not block: an adapter that talks to a
//!   network hands the work to its own task (publishing is fire-and-forget,
//!   as in the reference's adapters).
//! * Rooms that become empty are deleted.
//! * Room lifecycle events (Node's `create-room`, `delete-room`,
//!   `join-room`, `leave-room`): an adapter built on [`LocalAdapter`] (with
//!   the [`AdapterContext`] it was given) reports them to
//!   [`LocalNamespace::on_room_event`] while [`AdapterContext::room_events`]
//!   is on, with no lock held. Other adapters may report them the same way.

mod local;
mod recovery;

pub use local::LocalAdapter;
pub use recovery::{PersistedSession, RecoveryConfig, RestoredSession};

use sockeye_proto::sio::{Encoded, Parser, Value};
use sockeye_proto::{Sid, Str};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// A boxed, sendable future (adapter methods that may wait on other nodes).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What another node reports about a broadcast with acknowledgements.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RemoteAck {
    /// A node sent the packet to this many of its clients.
    ClientCount(usize),
    /// One client's acknowledgement (its arguments).
    Ack(Vec<serde_json::Value>),
}

/// The answer to an event another node sent with
/// `server_side_emit_with_ack`: this node answers once (later calls and an
/// answer from a node that dropped it are ignored, as in the reference).
pub struct ServerSideAck(Option<Box<dyn FnOnce(serde_json::Value) + Send>>);

impl fmt::Debug for ServerSideAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSideAck")
            .field("expected", &self.0.is_some())
            .finish()
    }
}

impl ServerSideAck {
    /// An answer that calls `f` with the value.
    pub fn new(f: impl FnOnce(serde_json::Value) + Send + 'static) -> Self {
        ServerSideAck(Some(Box::new(f)))
    }

    /// An answer nobody waits for (the event came without an ack).
    pub fn none() -> Self {
        ServerSideAck(None)
    }

    /// Whether the other node waits for an answer.
    pub fn is_expected(&self) -> bool {
        self.0.is_some()
    }

    /// Answers (the first argument of the reference's callback).
    pub fn send(mut self, value: serde_json::Value) {
        if let Some(f) = self.0.take() {
            f(value);
        }
    }
}

/// What a cluster operation can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// Other nodes did not all answer in time.
    #[error("timeout reached: only {received} responses received out of {expected}")]
    Timeout {
        /// Answers received.
        received: usize,
        /// Answers expected.
        expected: usize,
    },
    /// The adapter cannot do this (for example `server_side_emit` on the
    /// in-memory adapter, which has no other node to talk to).
    #[error("this adapter does not support {0}")]
    Unsupported(&'static str),
    /// Talking to the cluster failed.
    #[error("adapter transport error: {0}")]
    Transport(String),
}

/// Node's `RemoteSocket` fields (as the adapters carry them): a socket as `fetch_sockets` describes it, local or on another node: the
/// fields of the reference's `RemoteSocket` (and of the Redis adapter's
/// FETCH_SOCKETS response).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct SocketInfo {
    /// The socket id, as its client knows it (the name of its own room).
    pub id: String,
    /// The handshake (`headers`, `time`, `address`, `xdomain`, `secure`,
    /// `issued`, `url`, `query`, `auth`).
    pub handshake: serde_json::Value,
    /// The rooms, its own included.
    pub rooms: Vec<String>,
    /// The socket's data store, serialized.
    pub data: serde_json::Value,
}

impl SocketInfo {
    /// A socket description.
    pub fn new(
        id: String,
        handshake: serde_json::Value,
        rooms: Vec<String>,
        data: serde_json::Value,
    ) -> Self {
        SocketInfo {
            id,
            handshake,
            rooms,
            data,
        }
    }
}

/// A room name.
pub type Room = Str;

/// Flags of a broadcast, as the reference's `BroadcastFlags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastFlags {
    /// Drop the packet for sockets whose transport is not writable now.
    pub volatile: bool,
    /// Ask the transport to compress (the default).
    pub compress: bool,
    /// Do not forward to other nodes.
    pub local: bool,
    /// How long a broadcast with acknowledgements waits.
    pub timeout: Option<Duration>,
}

impl Default for BroadcastFlags {
    fn default() -> Self {
        BroadcastFlags {
            volatile: false,
            compress: true,
            local: false,
            timeout: None,
        }
    }
}

/// Node's `BroadcastOptions`: which sockets a broadcast or a room operation targets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastOptions {
    /// Target rooms (a union); empty means every socket of the namespace.
    pub rooms: Vec<Room>,
    /// Sockets in any of these rooms are skipped.
    pub except: Vec<Room>,
    /// Flags.
    pub flags: BroadcastFlags,
}

impl BroadcastOptions {
    /// Every socket of the namespace.
    pub fn all() -> Self {
        Self::default()
    }
}

/// A packet encoded once for every recipient of a broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastPacket {
    /// The Socket.IO packet, encoded by the server's parser.
    pub encoded: Encoded,
    /// The head as a complete Engine.IO text packet (`4` + text), built
    /// once so that no recipient copies it (JSON parser only).
    pub eio_text: Option<Str>,
}

impl BroadcastPacket {
    /// Prepares an encoded packet for many recipients.
    pub fn new(encoded: Encoded) -> Self {
        let eio_text = encoded.text().map(|t| {
            let mut s = String::with_capacity(t.len() + 1);
            s.push('4');
            s.push_str(t);
            Str::from(s)
        });
        BroadcastPacket { encoded, eio_text }
    }
}

/// A change of the rooms of one namespace on this node: the events of
/// Node's in-memory adapter (`nsp.adapter.on("create-room", ...)`).
///
/// `Join` and `Leave` carry the socket's key (its [`Sid`]); the Socket.IO
/// layer turns it into the socket's public id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoomEvent {
    /// `create-room`: a room got its first socket on this node.
    Create(Room),
    /// `delete-room`: a room lost its last socket on this node.
    Delete(Room),
    /// `join-room`: a socket joined a room (after `Create` for a new room).
    Join(Room, Sid),
    /// `leave-room`: a socket left a room (before `Delete` for the last).
    Leave(Room, Sid),
}

/// Whether an adapter reports [`RoomEvent`]s: off until the namespace has
/// a listener, so that joins and leaves cost one atomic load more when
/// nobody listens. Shared by the namespace (which switches it) and its
/// adapter (which reads it).
#[derive(Debug, Clone, Default)]
pub struct RoomEventSwitch(Arc<AtomicBool>);

impl RoomEventSwitch {
    /// A switch, off.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns reporting on or off.
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Release);
    }

    /// Whether the adapter should report room events.
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// What an adapter may ask of its namespace on this node.
pub trait LocalNamespace: Send + Sync + 'static {
    /// Sends a packet to one local socket (dropped when the flags say
    /// volatile and the socket cannot take it now).
    fn deliver(&self, sid: Sid, packet: &BroadcastPacket, flags: &BroadcastFlags);
    /// Sends a packet to several local sockets: what a broadcast calls, so
    /// that the namespace can look its sockets up once for all of them.
    ///
    /// Called with no adapter lock held: delivering may close a socket
    /// whose queue is full, and its cleanup calls back into the adapter.
    fn deliver_all(&self, sids: &[Sid], packet: &BroadcastPacket, flags: &BroadcastFlags) {
        for sid in sids {
            self.deliver(*sid, packet, flags);
        }
    }
    /// Sends a packet to every local socket of the namespace: a broadcast
    /// with no room and no exception, which needs no membership lookup.
    /// The default asks for the ids and calls [`Self::deliver_all`].
    ///
    /// Called with no adapter lock held, like `deliver_all`.
    fn deliver_everyone(&self, packet: &BroadcastPacket, flags: &BroadcastFlags) {
        let sids = self.local_ids();
        self.deliver_all(&sids, packet, flags);
    }
    /// The ids of every local socket of the namespace.
    fn local_ids(&self) -> Vec<Sid>;
    /// Disconnects a local socket (`close`: its whole connection).
    fn disconnect(&self, sid: Sid, close: bool);
    /// Describes a local socket (for `fetch_sockets`).
    fn socket_info(&self, sid: Sid) -> Option<SocketInfo>;
    /// An event emitted by another node with `server_side_emit`
    /// (`args[0]` is the event name); `ack` answers it when the other node
    /// waits for one.
    fn on_server_side_emit(&self, args: Vec<serde_json::Value>, ack: ServerSideAck) {
        let _ = (args, ack);
    }
    /// A room event of this node (see [`RoomEvent`]), reported while
    /// [`AdapterContext::room_events`] is on. Called with no adapter lock
    /// held; it must not block. The default ignores it.
    fn on_room_event(&self, event: RoomEvent) {
        let _ = event;
    }
    /// The parser of the namespace's server, to encode packets that come
    /// from other nodes.
    fn parser(&self) -> Parser {
        Parser::Json
    }
    /// Delivers an event from another node that expects acknowledgements
    /// (the remote half of the reference's `broadcastWithAck`): the
    /// namespace gives it an ack id of its own, sends `data` (`[event,
    /// ...args]`) to the sockets `sids` and forwards each answer's
    /// arguments to `acks` until `timeout`. Returns how many sockets it was
    /// sent to. The default sends nothing and returns 0.
    ///
    /// Called with no adapter lock held, like `deliver_all`.
    fn deliver_with_ack(
        &self,
        sids: &[Sid],
        data: &Value,
        flags: &BroadcastFlags,
        acks: tokio::sync::mpsc::UnboundedSender<Vec<Value>>,
        timeout: Duration,
    ) -> usize {
        let _ = (sids, data, flags, acks, timeout);
        0
    }
}

/// What an adapter is built with.
#[derive(Clone)]
#[non_exhaustive]
pub struct AdapterContext {
    /// The namespace's name (`/`, `/chat`...).
    pub namespace: Str,
    /// The namespace's local sockets.
    pub local: Weak<dyn LocalNamespace>,
    /// Whether to report [`RoomEvent`]s to `local` (off by default).
    pub room_events: RoomEventSwitch,
}

impl fmt::Debug for AdapterContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdapterContext")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl AdapterContext {
    /// A context for a namespace.
    pub fn new(namespace: Str, local: Weak<dyn LocalNamespace>) -> Self {
        AdapterContext {
            namespace,
            local,
            room_events: RoomEventSwitch::new(),
        }
    }

    /// The same context with the namespace's room event switch.
    pub fn with_room_events(mut self, switch: RoomEventSwitch) -> Self {
        self.room_events = switch;
        self
    }
}

/// Builds one adapter per namespace.
pub type AdapterFactory = Arc<dyn Fn(AdapterContext) -> Arc<dyn Adapter> + Send + Sync>;

/// Node's `Adapter` of `socket.io-adapter` (`nsp.adapter`): the adapter of one namespace. See the crate docs for the contract.
pub trait Adapter: Send + Sync + 'static {
    /// Adds a socket to rooms.
    fn add_all(&self, sid: Sid, rooms: &[Room]);
    /// Removes a socket from a room.
    fn del(&self, sid: Sid, room: &Room);
    /// Removes a socket from every room.
    fn del_all(&self, sid: Sid);
    /// Calls `f` once for each local socket the options select.
    fn for_each_local(&self, opts: &BroadcastOptions, f: &mut dyn FnMut(Sid));
    /// Sends a packet to the selected sockets, here and (unless
    /// `flags.local`) on the other nodes.
    fn broadcast(&self, packet: &BroadcastPacket, opts: &BroadcastOptions);
    /// The rooms of a local socket.
    fn socket_rooms(&self, sid: Sid) -> Vec<Room>;
    /// Every room with at least one local socket.
    fn rooms(&self) -> Vec<Room>;
    /// Whether a room has local sockets.
    fn room_exists(&self, room: &Room) -> bool;
    /// How many local sockets are in a room (or in the namespace, for the
    /// empty selection).
    fn count(&self, opts: &BroadcastOptions) -> usize {
        let mut n = 0;
        self.for_each_local(opts, &mut |_| n += 1);
        n
    }
    /// Makes the selected sockets join rooms (cluster-wide unless local).
    fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        let mut sids = Vec::new();
        self.for_each_local(opts, &mut |sid| sids.push(sid));
        for sid in sids {
            self.add_all(sid, rooms);
        }
    }
    /// Makes the selected sockets leave rooms (cluster-wide unless local).
    fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        let mut sids = Vec::new();
        self.for_each_local(opts, &mut |sid| sids.push(sid));
        for sid in sids {
            for room in rooms {
                self.del(sid, room);
            }
        }
    }
    /// Disconnects the selected sockets (cluster-wide unless local).
    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool);
    /// How many servers share this namespace (1 for a single node); a
    /// cluster adapter asks the cluster, so this may wait and fail.
    fn server_count(&self) -> BoxFuture<Result<usize, AdapterError>> {
        Box::pin(async { Ok(1) })
    }
    /// Describes the selected sockets, here and on the other nodes.
    fn fetch_sockets(
        &self,
        opts: &BroadcastOptions,
    ) -> BoxFuture<Result<Vec<SocketInfo>, AdapterError>>;
    /// Sends an event to the other nodes' namespaces (not to clients).
    fn server_side_emit(&self, args: Vec<serde_json::Value>) -> Result<(), AdapterError> {
        let _ = args;
        Err(AdapterError::Unsupported("server_side_emit"))
    }
    /// Sends an event to the other nodes and collects one answer per node.
    fn server_side_emit_with_ack(
        &self,
        args: Vec<serde_json::Value>,
        timeout: Duration,
    ) -> BoxFuture<Result<Vec<serde_json::Value>, AdapterError>> {
        let _ = (args, timeout);
        Box::pin(async { Err(AdapterError::Unsupported("server_side_emit")) })
    }
    /// Forwards a broadcast that expects acknowledgements to the other
    /// nodes (the local sockets are served by the caller, which does not
    /// call this when `opts.flags.local` is set), as the remote half of the
    /// reference's `broadcastWithAck`.
    ///
    /// The adapter reports through `events`: one
    /// [`RemoteAck::ClientCount`] per other node (how many of its clients
    /// it sent the packet to, 0 included), and one [`RemoteAck::Ack`] per
    /// client answer. The caller waits for `server_count() - 1` counts
    /// (asked after this call, so that the answers are not missed) and
    /// as many answers as they add up to, together with the local answers,
    /// until the timeout in `opts.flags`. Dropping `events` tells it that
    /// nothing more will come. The in-memory adapter has no other node and
    /// reports nothing.
    fn broadcast_with_ack_remote(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        events: tokio::sync::mpsc::UnboundedSender<RemoteAck>,
    ) {
        let _ = (packet, opts, events);
    }
    /// A new offset for a recoverable packet, when connection state
    /// recovery is on (`None` otherwise).
    fn next_offset(&self) -> Option<Str> {
        None
    }
    /// Records a packet sent with an offset, so that a recovered session
    /// can get what it missed.
    fn record_packet(&self, offset: &Str, packet: &BroadcastPacket, opts: &BroadcastOptions) {
        let _ = (offset, packet, opts);
    }
    /// Broadcasts a recoverable packet whose last argument is `offset`
    /// (from [`Adapter::next_offset`]), recording it first. `offset` is
    /// this node's: an adapter that sends the packet to other nodes sends
    /// it without. The default records, then broadcasts.
    fn broadcast_with_offset(
        &self,
        offset: &Str,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
    ) {
        self.record_packet(offset, packet, opts);
        self.broadcast(packet, opts);
    }
    /// Keeps a disconnected socket's state for recovery.
    fn persist_session(&self, session: PersistedSession) {
        let _ = session;
    }
    /// Gives back (once) a persisted session and the packets it missed
    /// since `offset`; `None` if unknown, expired or the offset is unknown.
    fn restore_session(&self, pid: &str, offset: &str) -> BoxFuture<Option<RestoredSession>> {
        let _ = (pid, offset);
        Box::pin(async { None })
    }
    /// Resolves once what this adapter has queued for the other nodes so
    /// far (broadcasts, requests, persisted sessions) has been sent. The
    /// server's graceful close calls it, bounded in time, after the
    /// sockets' disconnect handlers ran and before [`Adapter::close`]; the
    /// default has nothing queued and resolves at once.
    fn flush(&self) -> BoxFuture<()> {
        Box::pin(async {})
    }
    /// Called when the namespace is removed or the server closes.
    fn close(&self) {}
}
