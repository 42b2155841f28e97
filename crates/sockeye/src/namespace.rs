//! [`Namespace`]: a channel of a server (`/`, `/chat`), with its sockets,
//! connect middlewares and adapter.

use crate::args::{IntoArgs, WithOffset};
use crate::error::EmitError;
use crate::id::SocketId;
use crate::operators::BroadcastOperator;
use crate::rooms::IntoRooms;
use crate::server::Config;
use crate::socket::Socket;
use crate::socket::encode_event;
use parking_lot::RwLock;
use serde::Serialize;
use sockeye_adapter::{
    Adapter, AdapterContext, BroadcastFlags, BroadcastOptions, BroadcastPacket, LocalNamespace,
    ServerSideAck, SocketInfo,
};
use sockeye_engine::{ListenerId, Listeners};
use sockeye_proto::sio::{Parser, Value};
use sockeye_proto::{Sid, SidMap, Str};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

/// A boxed future.
pub(crate) type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub(crate) type ConnectionHandler = dyn Fn(Socket) -> Boxed<()> + Send + Sync;
pub(crate) type EmptyHook = Box<dyn Fn(&Namespace) + Send + Sync>;
pub(crate) type Middleware = dyn Fn(Socket) -> Boxed<Result<(), ConnectError>> + Send + Sync;

/// Node's `ExtendedError` (`next(err)` in a middleware, with `err.data`): a refusal from a connect middleware: the client receives it as a
/// `connect_error` with `message` and `data`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    /// The error message (`err.message` on the client).
    pub message: String,
    /// Extra data (`err.data` on the client).
    pub data: Option<serde_json::Value>,
}

impl ConnectError {
    /// A refusal with a message.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }

    /// Adds `data` (any serializable value).
    pub fn with_data<T: Serialize>(mut self, data: &T) -> Self {
        self.data = serde_json::to_value(data).ok();
        self
    }
}

pub(crate) type ServerSideListener =
    Arc<dyn Fn(Vec<serde_json::Value>, ServerSideAck) + Send + Sync>;

pub(crate) struct NsInner {
    pub name: Str,
    pub config: Arc<Config>,
    adapter: OnceLock<Arc<dyn Adapter>>,
    /// The connected sockets, by key ([`Socket::key`]).
    sockets: RwLock<SidMap<Socket>>,
    pub on_connection: Listeners<ConnectionHandler>,
    pub middlewares: Listeners<Middleware>,
    next_ack: AtomicU64,
    /// For a child of a dynamic namespace: called when it becomes empty.
    pub on_empty: OnceLock<EmptyHook>,
    /// CONNECTs in flight and whether a socket ever joined (dynamic
    /// children: see [`crate::dynamic::JoinLease`]).
    pub(crate) joins: crate::dynamic::Joins,
    /// Listeners of events sent by other nodes with `server_side_emit`.
    pub server_side: RwLock<HashMap<String, ServerSideListener>>,
    /// Room lifecycle listeners (`create-room`...).
    pub(crate) room_listeners: crate::room_events::RoomListeners,
}

/// Node's `Namespace` (`io.of("/chat")`): a namespace. Cheap to clone.
#[derive(Clone)]
pub struct Namespace(pub(crate) Arc<NsInner>);

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.0.name)
            .finish()
    }
}

/// Sends a broadcast packet to one socket; a volatile one is dropped when
/// the socket's transport cannot take it now.
fn deliver_to(socket: &Socket, packet: &BroadcastPacket, flags: &BroadcastFlags) {
    if flags.volatile && !socket.session().is_writable() {
        socket
            .0
            .ns
            .0
            .config
            .count(crate::activity::Event::VolatileDrop, 1);
        return;
    }
    let _ = socket.send_encoded(packet);
}

impl LocalNamespace for NsInner {
    fn deliver(&self, sid: Sid, packet: &BroadcastPacket, flags: &BroadcastFlags) {
        let socket = self.sockets.read().get(&sid).cloned();
        if let Some(socket) = socket {
            deliver_to(&socket, packet, flags);
        }
    }

    fn deliver_all(&self, sids: &[Sid], packet: &BroadcastPacket, flags: &BroadcastFlags) {
        // One read lock for the whole broadcast. The sockets are cloned out
        // of it: a send may close a socket (full queue), and its cleanup
        // takes this map's write lock.
        let targets: Vec<Socket> = {
            let sockets = self.sockets.read();
            sids.iter()
                .filter_map(|sid| sockets.get(sid).cloned())
                .collect()
        };
        self.config
            .count(crate::activity::Event::BroadcastRecipients, targets.len());
        for socket in &targets {
            deliver_to(socket, packet, flags);
        }
    }

    fn deliver_everyone(&self, packet: &BroadcastPacket, flags: &BroadcastFlags) {
        // Cloned out of the lock for the same reason as in `deliver_all`;
        // walking the map's own storage needs no hashing.
        let targets: Vec<Socket> = self.sockets.read().values().cloned().collect();
        self.config
            .count(crate::activity::Event::BroadcastRecipients, targets.len());
        for socket in &targets {
            deliver_to(socket, packet, flags);
        }
    }

    fn local_ids(&self) -> Vec<Sid> {
        self.sockets.read().keys().copied().collect()
    }

    fn disconnect(&self, sid: Sid, close: bool) {
        let socket = self.sockets.read().get(&sid).cloned();
        if let Some(socket) = socket {
            if close {
                socket.disconnect_all();
            } else {
                socket.disconnect();
            }
        }
    }

    fn socket_info(&self, sid: Sid) -> Option<SocketInfo> {
        let socket = self.sockets.read().get(&sid).cloned()?;
        Some(socket.info())
    }

    fn on_server_side_emit(&self, args: Vec<serde_json::Value>, ack: ServerSideAck) {
        let Some(event) = args.first().and_then(|v| v.as_str()) else {
            return;
        };
        let listener = self.server_side.read().get(event).cloned();
        match listener {
            Some(l) => l(args[1..].to_vec(), ack),
            None => tracing::debug!(event, "no listener for a server-side event"),
        }
    }

    fn parser(&self) -> Parser {
        self.config.parser
    }

    fn on_room_event(&self, event: sockeye_adapter::RoomEvent) {
        self.dispatch_room_event(event);
    }

    fn deliver_with_ack(
        &self,
        sids: &[Sid],
        data: &Value,
        flags: &BroadcastFlags,
        acks: tokio::sync::mpsc::UnboundedSender<Vec<Value>>,
        timeout: Duration,
    ) -> usize {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let packet = match self.config.parser.encode_value(
            sockeye_proto::sio::PacketKind::Event,
            &self.name,
            Some(id),
            Some(data),
        ) {
            Ok(encoded) => BroadcastPacket::new(encoded),
            Err(e) => {
                tracing::warn!(error = %e, "a broadcast with acks from another node cannot be encoded");
                return 0;
            }
        };
        // Cloned out of the lock, as in `deliver_all`.
        let targets: Vec<Socket> = {
            let sockets = self.sockets.read();
            sids.iter()
                .filter_map(|sid| sockets.get(sid).cloned())
                .collect()
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut sent = Vec::with_capacity(targets.len());
        for socket in targets {
            if flags.volatile && !socket.session().is_writable() {
                continue;
            }
            {
                let mut acks = socket.0.acks.lock();
                if acks.len() >= self.config.max_pending_acks {
                    drop(acks);
                    // Not sent, so not counted: the other node does not
                    // wait for its answer.
                    if socket.trip(crate::stats::Trip::AckRefused) {
                        tracing::warn!(sid = %socket.id(), "broadcast with ack from another node not sent: too many pending acknowledgements");
                    }
                    continue;
                }
                acks.insert(id, crate::ack::AckSlot::Many(tx.clone()));
            }
            if socket.send_encoded(&packet).is_ok() {
                sent.push(socket);
            } else {
                socket.0.acks.lock().remove(&id);
            }
        }
        let count = sent.len();
        // The timeout comes from the wire: no longer than this server's.
        let timeout = timeout.min(self.config.ack_timeout);
        crate::broadcast_ack::relay_remote(id, sent, rx, acks, timeout);
        count
    }
}

impl NsInner {
    /// A connected socket of this node, by its adapter key.
    pub(crate) fn socket_by_key(&self, key: Sid) -> Option<Socket> {
        self.sockets.read().get(&key).cloned()
    }
}

impl Namespace {
    pub(crate) fn new(name: Str, config: Arc<Config>) -> Namespace {
        let ns = Namespace(Arc::new(NsInner {
            name: name.clone(),
            config: config.clone(),
            adapter: OnceLock::new(),
            sockets: RwLock::new(SidMap::default()),
            on_connection: Listeners::default(),
            middlewares: Listeners::default(),
            next_ack: AtomicU64::new(0),
            on_empty: OnceLock::new(),
            joins: Default::default(),
            server_side: RwLock::new(HashMap::new()),
            room_listeners: Default::default(),
        }));
        let local: Weak<dyn LocalNamespace> =
            Arc::downgrade(&(ns.0.clone() as Arc<dyn LocalNamespace>));
        let ctx =
            AdapterContext::new(name, local).with_room_events(ns.0.room_listeners.switch.clone());
        let adapter = (config.adapter)(ctx);
        let _ = ns.0.adapter.set(adapter);
        ns
    }

    /// Node's `nsp.name`: the name (`/`, `/chat`).
    pub fn name(&self) -> &Str {
        &self.0.name
    }

    /// Node's `nsp.adapter`: the adapter (rooms and broadcasts).
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        self.0
            .adapter
            .get()
            .expect("the adapter is set when the namespace is built")
    }

    pub(crate) fn parser(&self) -> Parser {
        self.0.config.parser
    }

    pub(crate) fn ack_timeout(&self) -> Duration {
        self.0.config.ack_timeout
    }

    pub(crate) fn max_pending_acks(&self) -> usize {
        self.0.config.max_pending_acks
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.0.next_ack.fetch_add(1, Ordering::Relaxed)
    }

    /// Node's `nsp.on("connection", (socket) => ...)`: adds a connection
    /// handler, an async closure called with each new socket (handlers run
    /// in the order they were added). Event handlers registered before its
    /// first `.await` are in place before any event of the client is
    /// dispatched. Returns the handle that [`Namespace::remove_listener`]
    /// takes.
    pub fn on_connection<F, Fut>(&self, handler: F) -> ListenerId
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let f: Arc<ConnectionHandler> = Arc::new(move |s| Box::pin(handler(s)));
        self.0.on_connection.push(f)
    }

    /// Node's `nsp.removeAllListeners("connection")`: removes every
    /// connection handler (one of them: [`Namespace::remove_listener`]).
    pub fn off_connection(&self) {
        self.0.on_connection.clear();
    }

    /// Node's `nsp.use((socket, next) => ...)`: adds a connect middleware,
    /// run in order before a socket connects; `Err` refuses the connection
    /// with a `connect_error`. Returns the handle that
    /// [`Namespace::remove_listener`] takes (Node cannot remove one).
    pub fn use_middleware<F, Fut>(&self, middleware: F) -> ListenerId
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        let f: Arc<Middleware> = Arc::new(move |s| Box::pin(middleware(s)));
        self.0.middlewares.push(f)
    }

    /// Node's `nsp.sockets` (values): the connected sockets of this node.
    pub fn sockets(&self) -> Vec<Socket> {
        self.0.sockets.read().values().cloned().collect()
    }

    /// Node's `nsp.sockets.get(id)`: a connected socket of this node, by id (a [`SocketId`], or its
    /// text as `&str` or `String`).
    pub fn socket(&self, id: impl AsRef<str>) -> Option<Socket> {
        let id = id.as_ref();
        let key = SocketId::key_of(id)?;
        self.socket_by_key(key).filter(|s| s.0.id == id)
    }

    /// A connected socket of this node, by its adapter key.
    pub(crate) fn socket_by_key(&self, key: Sid) -> Option<Socket> {
        self.0.socket_by_key(key)
    }

    /// Node's `nsp.sockets.size`: how many sockets are connected on this node.
    pub fn socket_count(&self) -> usize {
        self.0.sockets.read().len()
    }

    /// Adds a socket: first to the adapter, in its own room (named after
    /// its public id), then to the sockets of this node (by key).
    pub(crate) fn add_socket(&self, socket: &Socket) {
        self.adapter().add_all(socket.key(), &[socket.0.id.room()]);
        self.0.sockets.write().insert(socket.key(), socket.clone());
        self.0.config.count(crate::activity::Event::Connect, 1);
        tracing::info_span!("socket", sid = %socket.id(), namespace = %self.name()).in_scope(
            || tracing::info!(sid = %socket.id(), namespace = %self.name(), "socket connected"),
        );
    }

    pub(crate) fn remove_socket(&self, key: Sid) {
        let empty = {
            let mut sockets = self.0.sockets.write();
            sockets.remove(&key);
            sockets.is_empty()
        };
        if empty {
            if let Some(f) = self.0.on_empty.get() {
                f(self);
            }
        }
    }

    /// Node's `nsp` as a broadcast operator (for `emit_args`, `emitWithAck`, `fetchSockets`...): a broadcast to every socket of the namespace.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.clone())
    }

    /// Node's `nsp.to(room)`: a broadcast to rooms.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// Node's `nsp.in(room)`: same as [`Namespace::to`].
    pub fn within(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.to(rooms)
    }

    /// Node's `nsp.except(room)`: a broadcast to every socket not in `rooms`.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().except(rooms)
    }

    /// Node's `nsp.local`: a broadcast to this node's sockets only.
    pub fn local(&self) -> BroadcastOperator {
        self.broadcast().local()
    }

    /// Node's `nsp.volatile`: a volatile broadcast.
    pub fn volatile(&self) -> BroadcastOperator {
        self.broadcast().volatile()
    }

    /// Node's `nsp.timeout(ms)`: a broadcast with an acknowledgement timeout.
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperator {
        self.broadcast().timeout(timeout)
    }

    /// Node's `nsp.on(ev, listener)` for `serverSideEmit` events: listens to events that other nodes send with `server_side_emit`
    /// (called with the event's arguments).
    pub fn on_server_side(
        &self,
        event: impl Into<String>,
        f: impl Fn(Vec<serde_json::Value>) + Send + Sync + 'static,
    ) {
        self.0
            .server_side
            .write()
            .insert(event.into(), Arc::new(move |args, _ack| f(args)));
    }

    /// Node's `nsp.on(ev, (...args, ack) => ...)` for `serverSideEmitWithAck` events: listens to events that other nodes send with
    /// `server_side_emit_with_ack`: `ack.send(value)` answers (once; the
    /// sender gets one answer per node). Events sent without an ack come
    /// with an `ack` that nobody waits for.
    pub fn on_server_side_with_ack(
        &self,
        event: impl Into<String>,
        f: impl Fn(Vec<serde_json::Value>, ServerSideAck) + Send + Sync + 'static,
    ) {
        self.0.server_side.write().insert(event.into(), Arc::new(f));
    }

    /// Node's `nsp.removeAllListeners(event)` for a server-side event:
    /// removes the listener of [`Namespace::on_server_side`] (or
    /// [`Namespace::on_server_side_with_ack`]) for `event`; `false` if there
    /// was none.
    pub fn off_server_side(&self, event: &str) -> bool {
        self.0.server_side.write().remove(event).is_some()
    }

    /// Node's `nsp.serverSideEmitWithAck(ev, data)`: sends an event to this namespace on the other nodes and collects
    /// one answer per node within `timeout` (the adapter's request timeout
    /// applies too). Data that serializes to `null` (`&()`) sends no
    /// argument, as `serverSideEmitWithAck(ev)` does.
    pub async fn server_side_emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> Result<Vec<serde_json::Value>, sockeye_adapter::AdapterError> {
        let result = self
            .adapter()
            .server_side_emit_with_ack(server_side_args(event, data), timeout)
            .await;
        self.0.config.count_request(&result);
        result
    }

    /// Node's `nsp.serverSideEmit(ev, data)`: sends an event to this namespace on the other nodes of the cluster
    /// (not to clients). The in-memory adapter has no other node and
    /// returns [`sockeye_adapter::AdapterError::Unsupported`]. Data that
    /// serializes to `null` (`&()`) sends no argument.
    pub fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), sockeye_adapter::AdapterError> {
        let result = self
            .adapter()
            .server_side_emit(server_side_args(event, data));
        self.0.config.count_request(&result);
        result
    }

    /// Whether connection state recovery is on.
    pub(crate) fn recovery(&self) -> Option<sockeye_adapter::RecoveryConfig> {
        self.0.config.recovery
    }

    /// Encodes once and broadcasts an event; with connection state
    /// recovery, a non-volatile event gets an offset as last argument and is
    /// recorded for sessions that will come back.
    pub(crate) fn broadcast_event<A: IntoArgs + ?Sized>(
        &self,
        opts: &BroadcastOptions,
        event: &str,
        args: &A,
    ) -> Result<(), EmitError> {
        let adapter = self.adapter();
        self.0.config.count(crate::activity::Event::Broadcast, 1);
        if !opts.flags.volatile && self.0.config.recovery.is_some() {
            if let Some(offset) = adapter.next_offset() {
                let with = WithOffset {
                    args,
                    offset: &offset,
                };
                let packet = encode_event(self.parser(), self.name(), event, &with, None)?;
                adapter.broadcast_with_offset(&offset, &packet, opts);
                return Ok(());
            }
        }
        let packet = encode_event(self.parser(), self.name(), event, args, None)?;
        adapter.broadcast(&packet, opts);
        Ok(())
    }

    /// Node's `nsp.emit(ev, data)`: emits to every socket of the namespace.
    pub fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), crate::EmitError> {
        self.broadcast().emit(event, data)
    }
}

/// `[event, data]` for a server-side emit; `[event]` when `data` is `null`
/// (a Node listener's callback is then its first argument, as with
/// `serverSideEmit(ev, cb)`).
fn server_side_args<T: Serialize + ?Sized>(event: &str, data: &T) -> Vec<serde_json::Value> {
    let mut args = vec![serde_json::Value::from(event)];
    match serde_json::to_value(data) {
        Ok(serde_json::Value::Null) | Err(_) => {}
        Ok(v) => args.push(v),
    }
    args
}
