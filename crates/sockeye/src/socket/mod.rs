//! [`Socket`]: one client's connection to one namespace.

mod data;
mod emit;
#[cfg(test)]
mod sizes_tests;
pub(crate) use emit::frames;
mod guard;
mod handlers;
mod handshake;
mod table;

use crate::ack::{AckReply, AckSlot, FromAck};
use crate::args::{EventArgs, IntoArgs};
use crate::client::Client;
use crate::error::{AckError, EmitError, TooManyRooms};
use crate::handler::{self, ErasedHandler, EventHandler, EventParts, ExtractError};
use crate::id::SocketId;
use crate::namespace::Namespace;
use crate::operators::BroadcastOperator;
use crate::rate_limit::Limiter;
use crate::reason::DisconnectReason;
use crate::rooms::IntoRooms;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sockeye_adapter::{BroadcastPacket, Room};
use sockeye_engine::{
    Frame, HandshakeRequest, ListenerId, Listeners, SendError, Session, TransportKind,
};
use sockeye_proto::sio::{PacketKind, Parser, Value, is_reserved_event};
use sockeye_proto::{Sid, Str};
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;

type DisconnectFn = Box<dyn FnOnce(Socket, DisconnectReason) + Send>;
type ErrorFn = dyn Fn(&Socket, &SocketError) + Send + Sync;
type PacketMiddleware = Arc<dyn Fn(&Socket, &EventParts) -> Result<(), String> + Send + Sync>;
type OutgoingFn = dyn Fn(&Socket, &str, &[Value]) + Send + Sync;
type ToJson = fn(&(dyn Any + Send + Sync)) -> serde_json::Value;

/// The data store: the typed value and how to serialize it, or the JSON of
/// a restored session.
#[derive(Default)]
struct DataSlot {
    typed: Option<(Arc<dyn Any + Send + Sync>, ToJson)>,
    json: serde_json::Value,
}

fn to_json<T: Serialize + 'static>(v: &(dyn Any + Send + Sync)) -> serde_json::Value {
    v.downcast_ref::<T>()
        .and_then(|t| serde_json::to_value(t).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// An error reported to a socket's error handlers ([`Socket::on_error`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// An event's payload did not match its handler's types.
    #[error("event {event:?}: {error}")]
    Payload {
        /// The event.
        event: String,
        /// What did not match.
        error: ExtractError,
    },
    /// A packet middleware refused an event.
    #[error("refused by middleware: {0}")]
    Middleware(String),
    /// An event was dropped by a rate limit ([`crate::RateLimit`]).
    #[error("event {event:?} dropped: rate limit exceeded")]
    RateLimited {
        /// The event.
        event: String,
    },
    /// A join was refused ([`crate::SocketIoBuilder::max_rooms_per_socket`]).
    #[error(transparent)]
    TooManyRooms(#[from] TooManyRooms),
}

/// Node's `socket.handshake`: the facts of the connection's first request
/// (on [`Socket`]: [`Socket::headers`], [`Socket::query`],
/// [`Socket::address`]...; all of them in Node's JSON shape with
/// [`Socket::handshake_json`]), and the auth payload of its CONNECT packet.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Handshake {
    /// The auth payload (`{}` when the client sent none).
    pub auth: Value,
    /// When the socket connected (Node's `issued`, in milliseconds:
    /// [`Handshake::issued_ms`]; its `time`: [`Handshake::time`]).
    pub issued: SystemTime,
}

/// `repr(C)`, what every send reads first (the session, and the two flags):
/// next to the `Arc`'s counts, so a broadcast touches one cache line of
/// each recipient's socket.
#[repr(C)]
pub(crate) struct SocketInner {
    pub session: Session,
    pub(crate) connected: AtomicBool,
    /// The handler lists few sockets use, allocated with the first of them
    /// ([`Extras`]). Every send reads it (the outgoing catch-alls), without
    /// a lock: one load while it is empty.
    extras: OnceLock<Box<Extras>>,
    pub id: SocketId,
    pub ns: Namespace,
    pub client: Weak<Client>,
    pub handshake: Handshake,
    handlers: RwLock<table::HandlerTable>,
    /// `disconnect` handlers stay inline: most applications add one to
    /// every socket (the chat does), so boxing them would cost a box.
    disconnect: Mutex<Vec<(ListenerId, DisconnectFn)>>,
    pub(crate) acks: Mutex<HashMap<u64, AckSlot>>,
    /// Set once the disconnect cleanup ran (joins are no-ops afterwards).
    gone: AtomicBool,
    data: Mutex<DataSlot>,
    /// The private session id of connection state recovery.
    pub(crate) pid: Option<Sid>,
    /// Whether this socket was restored by connection state recovery.
    pub(crate) recovered: bool,
    /// Events that arrived before the connection handlers registered
    /// theirs (`None` once ready).
    held: Mutex<Option<Vec<EventParts>>>,
    /// The rate-limit buckets, when the server has limits: those of the
    /// connection, shared by all its sockets (see [`crate::RateLimit`]).
    limiter: Option<Arc<Mutex<Limiter>>>,
    /// The bounds already logged for this socket ([`crate::stats::Trip::bit`]).
    warned: AtomicU16,
}

/// The handler lists most sockets never use (catch-alls in and out, packet
/// middlewares, `disconnecting` and error handlers), in one box allocated
/// by the first one added: a socket without any holds one pointer (16
/// bytes) instead of five locked lists (184 bytes). Once allocated it stays
/// until the socket is dropped (its lists are emptied at the disconnect),
/// so it is read without a lock.
#[derive(Default)]
struct Extras {
    any: Listeners<dyn ErasedHandler>,
    any_outgoing: Listeners<OutgoingFn>,
    middlewares: RwLock<Vec<PacketMiddleware>>,
    disconnecting: Mutex<Vec<(ListenerId, DisconnectFn)>>,
    errors: Listeners<ErrorFn>,
}

impl SocketInner {
    /// The rarely used lists, allocated on first use.
    fn extras(&self) -> &Extras {
        self.extras.get_or_init(Box::default)
    }

    /// The rarely used lists, if any was ever added.
    fn extras_if_any(&self) -> Option<&Extras> {
        self.extras.get().map(|e| &**e)
    }

    /// Whether some outgoing catch-all is registered (read on every send).
    pub(crate) fn has_any_outgoing(&self) -> bool {
        self.extras_if_any()
            .is_some_and(|e| !e.any_outgoing.is_empty())
    }
}

/// Most events held for a socket whose connection handler has not yet run.
const MAX_HELD_EVENTS: usize = 128;

/// Node's `Socket` (the argument of `io.on("connection", (socket) => ...)`): a client's connection to one namespace. Cheap to clone; usable from any
/// task.
#[derive(Clone)]
pub struct Socket(pub(crate) Arc<SocketInner>);

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.0.id)
            .field("nsp", &self.0.ns.name())
            .finish()
    }
}

impl PartialEq for Socket {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Socket {
    pub(crate) fn new(
        id: SocketId,
        ns: Namespace,
        session: Session,
        client: Weak<Client>,
        auth: Value,
        recovery: Option<(Option<Sid>, bool, serde_json::Value)>,
        limiter: Option<Arc<Mutex<Limiter>>>,
    ) -> Socket {
        let (pid, recovered, data) = recovery.unwrap_or((None, false, serde_json::Value::Null));
        // The reference's `socket.data` starts as `{}`; Node servers sharing
        // a cluster read fields of it without checking for null.
        let data = if data.is_null() {
            serde_json::Value::Object(Default::default())
        } else {
            data
        };
        Socket(Arc::new(SocketInner {
            id,
            ns,
            session,
            client,
            handshake: Handshake {
                auth,
                issued: SystemTime::now(),
            },
            handlers: RwLock::new(table::HandlerTable::default()),
            extras: OnceLock::new(),
            disconnect: Mutex::new(Vec::new()),
            acks: Mutex::new(HashMap::new()),
            connected: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            data: Mutex::new(DataSlot {
                typed: None,
                json: data,
            }),
            pid,
            recovered,
            held: Mutex::new(Some(Vec::new())),
            limiter,
            warned: AtomicU16::new(0),
        }))
    }

    /// Node's `socket.id`: the socket id, as the client knows it: a fresh 20-character id, or
    /// for a Socket.IO 2.x client the Engine.IO session id on `/` and
    /// `<nsp>#<session id>` on other namespaces (see [`SocketId`]). It is
    /// also the name of the socket's own room.
    pub fn id(&self) -> SocketId {
        self.0.id.clone()
    }

    /// The socket's key in its namespace and adapter: the id, or for a
    /// `<nsp>#<sid>` id the session id after `#`.
    pub(crate) fn key(&self) -> Sid {
        self.0.id.key()
    }

    /// Node's `socket.nsp`: the namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.0.ns
    }

    /// Node's `socket.handshake`: the handshake: auth payload and connection time.
    pub fn handshake(&self) -> &Handshake {
        &self.0.handshake
    }

    /// Node's `socket.handshake.auth`: the auth payload of the CONNECT packet, read as `T`.
    pub fn auth<T: DeserializeOwned>(&self) -> Result<T, sockeye_proto::sio::PayloadError> {
        sockeye_proto::sio::from_value(self.0.handshake.auth.clone())
    }

    /// Node's `socket.request`: the HTTP request that opened the connection (headers, URI, peer
    /// address, TLS).
    pub fn request(&self) -> &HandshakeRequest {
        self.0.session.request()
    }

    /// Node's `socket.conn`: the Engine.IO session under this socket.
    pub fn session(&self) -> &Session {
        &self.0.session
    }

    /// Node's `socket.conn.transport.name`: the transport in use now.
    pub fn transport(&self) -> TransportKind {
        self.0.session.transport()
    }

    /// Node's `socket.connected`: whether the socket is connected.
    pub fn connected(&self) -> bool {
        self.0.connected.load(Ordering::Acquire)
    }

    pub(crate) fn parser(&self) -> Parser {
        self.0.ns.parser()
    }

    // ----- rooms ----------------------------------------------------------

    /// Node's `socket.join(rooms)`: joins rooms. A join that would put the socket in more rooms than
    /// [`crate::SocketIoBuilder::max_rooms_per_socket`] joins none of them
    /// and is reported to the error handlers ([`Socket::try_join`] returns
    /// the refusal instead).
    pub fn join(&self, rooms: impl IntoRooms) {
        if let Err(e) = self.try_join(rooms) {
            self.report_error(SocketError::TooManyRooms(e));
        }
    }

    /// Joins rooms, or none of them if the socket would then be in more
    /// than [`crate::SocketIoBuilder::max_rooms_per_socket`] (its own room
    /// aside).
    ///
    /// The cap is a guard against one client's requests, not an invariant:
    /// the count and the join are not atomic, so two joins of the same
    /// socket running at once (from two tasks) can together go over it, and
    /// server-side joins ([`crate::BroadcastOperator::sockets_join`],
    /// [`crate::RemoteSocket::join`]) and recovered sessions are not capped.
    pub fn try_join(&self, rooms: impl IntoRooms) -> Result<(), TooManyRooms> {
        // After the disconnect cleanup a join would leave a room nobody
        // removes: it does nothing, as in the reference.
        if self.0.gone.load(Ordering::Acquire) {
            return Ok(());
        }
        let rooms = rooms.into_rooms();
        self.check_room_count(&rooms)?;
        self.0.ns.adapter().add_all(self.key(), &rooms);
        Ok(())
    }

    /// Puts the socket back in the rooms of its recovered session, without
    /// the room cap (they were accepted when it joined them).
    pub(crate) fn restore_rooms(&self, rooms: &[Room]) {
        if !self.0.gone.load(Ordering::Acquire) {
            self.0.ns.adapter().add_all(self.key(), rooms);
        }
    }

    /// Node's `socket.leave(room)`: leaves rooms.
    pub fn leave(&self, rooms: impl IntoRooms) {
        let adapter = self.0.ns.adapter();
        for room in rooms.into_rooms() {
            adapter.del(self.key(), &room);
        }
    }

    /// Node's `socket.rooms`: the rooms the socket is in (its own room included).
    pub fn rooms(&self) -> Vec<Room> {
        self.0.ns.adapter().socket_rooms(self.key())
    }

    /// Node's `socket.to(room)`: a broadcast to rooms, excluding this socket.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// Node's `socket.in(room)`: same as [`Socket::to`].
    pub fn within(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.to(rooms)
    }

    /// Node's `socket.except(room)`: a broadcast to every socket of the namespace except those in `rooms`
    /// and this one.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().except(rooms)
    }

    /// Node's `socket.broadcast`: a broadcast to every other socket of the namespace.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.0.ns.clone()).except(&self.0.id)
    }

    /// Node's `socket.local`: a broadcast to the other sockets of this node only.
    pub fn local(&self) -> BroadcastOperator {
        self.broadcast().local()
    }

    // ----- disconnecting ---------------------------------------------------

    /// Node's `socket.disconnect()`: leaves the namespace: the client gets a DISCONNECT packet
    /// (`server namespace disconnect`); its connection stays open.
    pub fn disconnect(&self) {
        self.disconnect_with(DisconnectReason::ServerNamespaceDisconnect);
    }

    /// Node's `socket.disconnect(true)`: disconnects every namespace of this client, then closes its
    /// connection.
    pub fn disconnect_all(&self) {
        if let Some(client) = self.0.client.upgrade() {
            for socket in client.sockets() {
                socket.disconnect();
            }
        } else {
            self.disconnect();
        }
        self.0.session.close();
    }

    /// Runs the disconnect sequence once: `disconnecting` handlers (still in
    /// the rooms), rooms left, socket removed, pending acks failed,
    /// `disconnect` handlers.
    pub(crate) fn close(&self, reason: DisconnectReason) {
        if !self.0.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        self.0.gone.store(true, Ordering::Release);
        let config = &self.0.ns.0.config;
        config.count_disconnect(reason);
        // The disconnect sequence (handlers included) runs in the socket's span.
        let span = tracing::info_span!("socket", sid = %self.0.id, namespace = %self.0.ns.name());
        let _span = span.enter();
        tracing::info!(sid = %self.0.id, namespace = %self.0.ns.name(), %reason, "socket disconnected");
        let disconnecting = match self.0.extras_if_any() {
            Some(e) => std::mem::take(&mut *e.disconnecting.lock()),
            None => Vec::new(),
        };
        for (_, f) in disconnecting {
            f(self.clone(), reason);
        }
        if let (Some(pid), true) = (self.0.pid, reason.is_recoverable()) {
            let session = sockeye_adapter::PersistedSession::new(
                self.0.id.to_string(),
                pid.to_string(),
                self.rooms(),
                self.data_json(),
            );
            self.0.ns.adapter().persist_session(session);
        }
        self.0.ns.adapter().del_all(self.key());
        self.0.ns.remove_socket(self.key());
        if let Some(client) = self.0.client.upgrade() {
            client.remove_socket(self.0.ns.name());
        }
        self.0.acks.lock().clear();
        let disconnect = std::mem::take(&mut *self.0.disconnect.lock());
        for (_, f) in disconnect {
            f(self.clone(), reason);
        }
        // Handlers can hold clones of the socket; drop them to free it.
        self.0.handlers.write().clear();
        if let Some(e) = self.0.extras_if_any() {
            e.any.clear();
            e.any_outgoing.clear();
            e.middlewares.write().clear();
            e.disconnecting.lock().clear();
            e.errors.clear();
        }
    }

    /// Dispatches an event, or holds it until the connection handlers ran.
    pub(crate) fn dispatch_or_hold(&self, parts: EventParts) {
        {
            let mut held = self.0.held.lock();
            if let Some(queue) = held.as_mut() {
                if queue.len() < MAX_HELD_EVENTS {
                    queue.push(parts);
                } else {
                    tracing::warn!(sid = %self.0.id, "event dropped: too many before the connection handler ran");
                }
                return;
            }
        }
        self.on_event(parts);
    }

    /// The connection handlers ran: dispatches what was held.
    /// The private session id (connection state recovery), if any.
    pub(crate) fn pid(&self) -> Option<Sid> {
        self.0.pid
    }

    pub(crate) fn mark_ready(&self) {
        let held = self.0.held.lock().take().unwrap_or_default();
        for parts in held {
            self.on_event(parts);
        }
    }

    /// Dispatches an incoming event: catch-alls, packet middlewares, then
    /// the event's handler.
    pub(crate) fn on_event(&self, parts: EventParts) {
        let extras = self.0.extras_if_any();
        let any = extras.map(|e| e.any.snapshot()).unwrap_or_default();
        for h in &any {
            handler::run(h.as_ref(), self.clone(), parts.clone());
        }
        let middlewares = extras
            .map(|e| e.middlewares.read().clone())
            .unwrap_or_default();
        for m in middlewares {
            if let Err(message) = m(self, &parts) {
                self.report_error(SocketError::Middleware(message));
                return;
            }
        }
        let handler = self.0.handlers.read().get(parts.event.as_str()).cloned();
        match handler {
            Some(h) => handler::run(h.as_ref(), self.clone(), parts),
            None if any.is_empty() => {
                tracing::debug!(sid = %self.0.id, event = %parts.event, "no handler for event");
            }
            None => {}
        }
    }
}

/// Encodes an event once, for one socket or a whole broadcast.
pub(crate) fn encode_event<A: IntoArgs + ?Sized>(
    parser: Parser,
    nsp: &Str,
    event: &str,
    args: &A,
    id: Option<u64>,
) -> Result<BroadcastPacket, EmitError> {
    if is_reserved_event(event) {
        return Err(EmitError::ReservedEvent(event.to_owned()));
    }
    let encoded =
        parser.encode_with(PacketKind::Event, nsp, id, Some(&EventArgs { event, args }))?;
    Ok(BroadcastPacket::new(encoded))
}

/// Node's `socket.timeout(ms)` / `socket.volatile`: flags for one emit on a socket ([`Socket::timeout`], [`Socket::volatile`]).
#[derive(Debug)]
pub struct SocketEmitter<'a> {
    socket: &'a Socket,
    timeout: Option<Duration>,
    volatile: bool,
}

impl SocketEmitter<'_> {
    /// Also make the emit volatile.
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Emits an event with one argument.
    pub fn emit<T: Serialize + ?Sized>(self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emit_args(event, (data,))
    }

    /// Emits an event with several arguments.
    pub fn emit_args<A: IntoArgs>(self, event: &str, args: A) -> Result<(), EmitError> {
        if self.volatile {
            if !self.socket.0.session.is_writable() {
                return Ok(());
            }
            // Not recoverable: sent as is, without a recovery offset.
            let packet = self.socket.encode_event(event, &args, None)?;
            return self.socket.send_encoded(&packet);
        }
        self.socket.emit_args(event, args)
    }

    /// Node's `socket.timeout(ms).emitWithAck(ev, data)`: emits and waits for the acknowledgement (`R`: see
    /// [`crate::FromAck`]).
    pub async fn emit_with_ack<T: Serialize + ?Sized, R: FromAck>(
        self,
        event: &str,
        data: &T,
    ) -> Result<R, AckError> {
        let timeout = self
            .timeout
            .unwrap_or_else(|| self.socket.0.ns.ack_timeout());
        self.socket
            .emit_with_ack_inner(event, &(data,), timeout)
            .await
    }

    /// Node's `socket.timeout(ms).emitWithAck(ev, ...args)`: emits several arguments and waits for the acknowledgement.
    pub async fn emit_args_with_ack<A: IntoArgs, R: FromAck>(
        self,
        event: &str,
        args: A,
    ) -> Result<R, AckError> {
        let timeout = self
            .timeout
            .unwrap_or_else(|| self.socket.0.ns.ack_timeout());
        self.socket.emit_with_ack_inner(event, &args, timeout).await
    }
}
