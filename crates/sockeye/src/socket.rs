//! [`Socket`]: one client's connection to one namespace.

use crate::ack::{AckReply, AckSlot};
use crate::args::{EventArgs, IntoArgs};
use crate::client::Client;
use crate::error::{AckError, EmitError};
use crate::handler::{self, ErasedHandler, EventHandler, EventParts, ExtractError};
use crate::namespace::Namespace;
use crate::operators::BroadcastOperator;
use crate::reason::DisconnectReason;
use crate::rooms::IntoRooms;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sockeye_adapter::{BroadcastPacket, Room};
use sockeye_engine::{Frame, HandshakeRequest, SendError, Session, TransportKind};
use sockeye_proto::sio::{PacketKind, Parser, Value, is_reserved_event};
use sockeye_proto::{Sid, Str};
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;

type DisconnectFn = Box<dyn FnOnce(Socket, DisconnectReason) + Send>;
type ErrorFn = Arc<dyn Fn(&Socket, &SocketError) + Send + Sync>;
type PacketMiddleware = Arc<dyn Fn(&Socket, &EventParts) -> Result<(), String> + Send + Sync>;
type OutgoingFn = Arc<dyn Fn(&Socket, &str) + Send + Sync>;
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
}

/// The handshake of a socket: the facts of the connection's first request,
/// and the auth payload of its CONNECT packet.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Handshake {
    /// The auth payload (`{}` when the client sent none).
    pub auth: Value,
    /// When the socket connected.
    pub issued: SystemTime,
}

pub(crate) struct SocketInner {
    pub id: Sid,
    pub ns: Namespace,
    pub session: Session,
    pub client: Weak<Client>,
    pub handshake: Handshake,
    handlers: RwLock<HashMap<String, Arc<dyn ErasedHandler>>>,
    any: RwLock<Vec<Arc<dyn ErasedHandler>>>,
    any_outgoing: RwLock<Vec<OutgoingFn>>,
    middlewares: RwLock<Vec<PacketMiddleware>>,
    disconnecting: Mutex<Vec<DisconnectFn>>,
    disconnect: Mutex<Vec<DisconnectFn>>,
    errors: RwLock<Vec<ErrorFn>>,
    pub(crate) acks: Mutex<HashMap<u64, AckSlot>>,
    pub(crate) connected: AtomicBool,
    data: Mutex<DataSlot>,
    /// The private session id of connection state recovery.
    pub(crate) pid: Option<Sid>,
    /// Whether this socket was restored by connection state recovery.
    pub(crate) recovered: bool,
    /// Events that arrived before the connection handlers registered
    /// theirs (`None` once ready).
    held: Mutex<Option<Vec<EventParts>>>,
}

/// Most events held for a socket whose connection handler has not yet run.
const MAX_HELD_EVENTS: usize = 128;

/// A client's connection to one namespace. Cheap to clone; usable from any
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
        id: Sid,
        ns: Namespace,
        session: Session,
        client: Weak<Client>,
        auth: Value,
        recovery: Option<(Option<Sid>, bool, serde_json::Value)>,
    ) -> Socket {
        let (pid, recovered, data) = recovery.unwrap_or((None, false, serde_json::Value::Null));
        Socket(Arc::new(SocketInner {
            id,
            ns,
            session,
            client,
            handshake: Handshake {
                auth,
                issued: SystemTime::now(),
            },
            handlers: RwLock::new(HashMap::new()),
            any: RwLock::new(Vec::new()),
            any_outgoing: RwLock::new(Vec::new()),
            middlewares: RwLock::new(Vec::new()),
            disconnecting: Mutex::new(Vec::new()),
            disconnect: Mutex::new(Vec::new()),
            errors: RwLock::new(Vec::new()),
            acks: Mutex::new(HashMap::new()),
            connected: AtomicBool::new(false),
            data: Mutex::new(DataSlot {
                typed: None,
                json: data,
            }),
            pid,
            recovered,
            held: Mutex::new(Some(Vec::new())),
        }))
    }

    /// The socket id (20 characters; not the Engine.IO session id).
    pub fn id(&self) -> Sid {
        self.0.id
    }

    /// The namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.0.ns
    }

    /// The handshake: auth payload and connection time.
    pub fn handshake(&self) -> &Handshake {
        &self.0.handshake
    }

    /// The auth payload of the CONNECT packet, read as `T`.
    pub fn auth<T: DeserializeOwned>(&self) -> Result<T, sockeye_proto::sio::PayloadError> {
        sockeye_proto::sio::from_value(self.0.handshake.auth.clone())
    }

    /// The HTTP request that opened the connection (headers, URI, peer
    /// address, TLS).
    pub fn request(&self) -> &HandshakeRequest {
        self.0.session.request()
    }

    /// The Engine.IO session under this socket.
    pub fn session(&self) -> &Session {
        &self.0.session
    }

    /// The transport in use now.
    pub fn transport(&self) -> TransportKind {
        self.0.session.transport()
    }

    /// Whether the socket is connected.
    pub fn connected(&self) -> bool {
        self.0.connected.load(Ordering::Acquire)
    }

    pub(crate) fn parser(&self) -> Parser {
        self.0.ns.parser()
    }

    // ----- handlers -------------------------------------------------------

    /// Registers the handler of an event (replacing an earlier one).
    pub fn on<H, T>(&self, event: impl Into<String>, handler: H)
    where
        H: EventHandler<T>,
        T: 'static,
    {
        self.0
            .handlers
            .write()
            .insert(event.into(), handler::erase(handler));
    }

    /// Removes the handler of an event.
    pub fn off(&self, event: &str) {
        self.0.handlers.write().remove(event);
    }

    /// Adds a catch-all handler, called for every incoming event before its
    /// own handler (take [`crate::Event`] and [`crate::Args`] to read it).
    pub fn on_any<H, T>(&self, handler: H)
    where
        H: EventHandler<T>,
        T: 'static,
    {
        self.0.any.write().push(handler::erase(handler));
    }

    /// Adds a catch-all handler before the others.
    pub fn prepend_any<H, T>(&self, handler: H)
    where
        H: EventHandler<T>,
        T: 'static,
    {
        self.0.any.write().insert(0, handler::erase(handler));
    }

    /// Removes every catch-all handler.
    pub fn off_any(&self) {
        self.0.any.write().clear();
    }

    /// Adds a catch-all for outgoing events (direct emits and broadcasts
    /// reaching this socket), called with the event name.
    pub fn on_any_outgoing(&self, f: impl Fn(&Socket, &str) + Send + Sync + 'static) {
        self.0.any_outgoing.write().push(Arc::new(f));
    }

    /// Removes every outgoing catch-all.
    pub fn off_any_outgoing(&self) {
        self.0.any_outgoing.write().clear();
    }

    /// Adds a per-packet middleware: it sees every incoming event before
    /// its handlers and may refuse it (`Err(message)`); a refused event is
    /// dropped and reported to the error handlers.
    pub fn use_middleware(
        &self,
        f: impl Fn(&Socket, &EventParts) -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.0.middlewares.write().push(Arc::new(f));
    }

    /// Called when the socket is about to disconnect, while it is still in
    /// its rooms.
    pub fn on_disconnecting(&self, f: impl FnOnce(&Socket, DisconnectReason) + Send + 'static) {
        self.0
            .disconnecting
            .lock()
            .push(Box::new(move |s, r| f(&s, r)));
    }

    /// Called once the socket has disconnected (rooms left). An async
    /// closure runs on its own task.
    pub fn on_disconnect<F, Fut>(&self, f: F)
    where
        F: FnOnce(Socket, DisconnectReason) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.0.disconnect.lock().push(Box::new(move |s, r| {
            tokio::spawn(f(s, r));
        }));
    }

    /// Adds an error handler (payload mismatches, refused packets).
    pub fn on_error(&self, f: impl Fn(&Socket, &SocketError) + Send + Sync + 'static) {
        self.0.errors.write().push(Arc::new(f));
    }

    pub(crate) fn report_error(&self, error: SocketError) {
        let handlers = self.0.errors.read().clone();
        for h in handlers {
            h(self, &error);
        }
    }

    // ----- data -----------------------------------------------------------

    /// Stores a value with the socket (replacing the previous one). It must
    /// serialize: `fetch_sockets` and connection state recovery carry it in
    /// JSON.
    pub fn set_data<T: Serialize + Send + Sync + 'static>(&self, value: T) {
        self.0.data.lock().typed = Some((Arc::new(value), to_json::<T>));
    }

    /// The value stored with [`Socket::set_data`], if it has type `T`.
    pub fn data<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let slot = self.0.data.lock();
        slot.typed
            .as_ref()
            .and_then(|(d, _)| d.clone().downcast::<T>().ok())
    }

    /// The data store as JSON (what `fetch_sockets` and recovery carry; for
    /// a recovered socket, the restored data until `set_data` is called).
    pub fn data_json(&self) -> serde_json::Value {
        let slot = self.0.data.lock();
        match &slot.typed {
            Some((d, f)) => f(d.as_ref()),
            None => slot.json.clone(),
        }
    }

    /// Whether connection state recovery restored this socket (same id,
    /// rooms and data as before, missed packets delivered).
    pub fn recovered(&self) -> bool {
        self.0.recovered
    }

    /// The request headers of the connection's first request.
    pub fn headers(&self) -> &http::HeaderMap {
        &self.request().headers
    }

    /// The decoded query parameters of the connection's first request.
    pub fn query(&self) -> Vec<(String, String)> {
        self.request().query_pairs()
    }

    /// The peer address.
    pub fn address(&self) -> Option<std::net::SocketAddr> {
        self.request().peer_addr
    }

    /// Whether the connection is TLS.
    pub fn secure(&self) -> bool {
        self.request().secure
    }

    /// Whether the request was cross-origin (it had an `Origin` header).
    pub fn xdomain(&self) -> bool {
        self.request().headers.contains_key(http::header::ORIGIN)
    }

    /// The handshake in the reference's JSON shape (`headers`, `time`,
    /// `address`, `xdomain`, `secure`, `issued`, `url`, `query`, `auth`).
    pub fn handshake_json(&self) -> serde_json::Value {
        let req = self.request();
        let headers: serde_json::Map<String, serde_json::Value> = req
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    serde_json::Value::from(String::from_utf8_lossy(v.as_bytes())),
                )
            })
            .collect();
        let query: serde_json::Map<String, serde_json::Value> = self
            .query()
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::from(v)))
            .collect();
        let issued = self
            .0
            .handshake
            .issued
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        serde_json::json!({
            "headers": headers,
            "time": httpdate::fmt_http_date(self.0.handshake.issued),
            "address": self.address().map(|a| a.ip().to_string()),
            "xdomain": self.xdomain(),
            "secure": self.secure(),
            "issued": issued,
            "url": req.uri.to_string(),
            "query": query,
            "auth": serde_json::to_value(&self.0.handshake.auth).unwrap_or(serde_json::Value::Null),
        })
    }

    pub(crate) fn info(&self) -> sockeye_adapter::SocketInfo {
        sockeye_adapter::SocketInfo::new(
            self.0.id.to_string(),
            self.handshake_json(),
            self.rooms().iter().map(|r| r.to_string()).collect(),
            self.data_json(),
        )
    }

    // ----- emitting -------------------------------------------------------

    /// Emits an event with one argument.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emit_args(event, (data,))
    }

    /// Emits an event with several arguments, given as a tuple (`()` for
    /// none).
    pub fn emit_args<A: IntoArgs>(&self, event: &str, args: A) -> Result<(), EmitError> {
        if self.0.ns.recovery().is_some() {
            // With recovery, a direct emit goes through the adapter to the
            // socket's own room, so that it gets an offset and is recorded.
            if !self.connected() {
                return Err(EmitError::Disconnected);
            }
            let mut opts = sockeye_adapter::BroadcastOptions::default();
            opts.rooms.push(Str::from(self.0.id.to_string()));
            return self.0.ns.broadcast_event(&opts, event, &args);
        }
        let packet = self.encode_event(event, &args, None)?;
        self.send_encoded(&packet)
    }

    /// Emits an event and waits for the client's acknowledgement (first
    /// argument read as `R`), for at most the namespace's ack timeout.
    pub async fn emit_with_ack<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<R, AckError> {
        let timeout = self.0.ns.ack_timeout();
        self.timeout(timeout).emit_with_ack(event, data).await
    }

    /// Flags for the next emit: a timeout for its acknowledgement.
    pub fn timeout(&self, timeout: Duration) -> SocketEmitter<'_> {
        SocketEmitter {
            socket: self,
            timeout: Some(timeout),
            volatile: false,
        }
    }

    /// Flags for the next emit: dropped if the transport cannot take it now.
    pub fn volatile(&self) -> SocketEmitter<'_> {
        SocketEmitter {
            socket: self,
            timeout: None,
            volatile: true,
        }
    }

    /// Sends a `message` event (JavaScript's `socket.send`).
    pub fn send<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), EmitError> {
        self.emit("message", data)
    }

    pub(crate) fn encode_event<A: IntoArgs + ?Sized>(
        &self,
        event: &str,
        args: &A,
        id: Option<u64>,
    ) -> Result<BroadcastPacket, EmitError> {
        encode_event(self.parser(), self.0.ns.name(), event, args, id)
    }

    pub(crate) fn send_encoded(&self, packet: &BroadcastPacket) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        if !self.0.any_outgoing.read().is_empty() {
            self.notify_outgoing(packet);
        }
        let head = match &packet.eio_text {
            Some(text) => Frame::Encoded(text.clone()),
            None => match &packet.encoded.head {
                sockeye_proto::eio::Packet::Binary(b) => Frame::Binary(b.clone()),
                other => Frame::Encoded(other.encode_text()),
            },
        };
        let frames = std::iter::once(head).chain(
            packet
                .encoded
                .attachments
                .iter()
                .cloned()
                .map(Frame::Binary),
        );
        self.0.session.send_frames(frames).map_err(|e| match e {
            SendError::QueueFull => EmitError::QueueFull,
            _ => EmitError::Disconnected,
        })
    }

    fn notify_outgoing(&self, packet: &BroadcastPacket) {
        let mut decoder = self.parser().decoder();
        let mut name = None;
        for p in packet.encoded.eio_packets() {
            if let Ok(Some(decoded)) = decoder.decode(p) {
                name = decoded.event_name();
            }
        }
        if let Some(name) = name {
            let handlers = self.0.any_outgoing.read().clone();
            for h in handlers {
                h(self, &name);
            }
        }
    }

    pub(crate) async fn emit_with_ack_inner<A: IntoArgs + ?Sized, R: DeserializeOwned>(
        &self,
        event: &str,
        args: &A,
        timeout: Duration,
    ) -> Result<R, AckError> {
        let id = self.0.ns.next_ack_id();
        let (tx, rx) = oneshot::channel();
        {
            let mut acks = self.0.acks.lock();
            if acks.len() >= self.0.ns.max_pending_acks() {
                return Err(AckError::TooManyPending);
            }
            acks.insert(id, AckSlot::One(tx));
        }
        let sent = self
            .encode_event(event, args, Some(id))
            .and_then(|p| self.send_encoded(&p));
        if let Err(e) = sent {
            self.0.acks.lock().remove(&id);
            return Err(e.into());
        }
        let reply = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => return Err(AckError::Disconnected),
            Err(_) => {
                self.0.acks.lock().remove(&id);
                return Err(AckError::Timeout);
            }
        };
        reply.first()
    }

    pub(crate) fn on_ack(&self, id: u64, reply: AckReply) {
        let slot = self.0.acks.lock().remove(&id);
        match slot {
            Some(AckSlot::One(tx)) => {
                let _ = tx.send(reply);
            }
            Some(AckSlot::Many(tx)) => {
                let _ = tx.send((self.0.id, reply));
            }
            None => tracing::debug!(sid = %self.0.id, id, "ack for an unknown id ignored"),
        }
    }

    // ----- rooms ----------------------------------------------------------

    /// Joins rooms.
    pub fn join(&self, rooms: impl IntoRooms) {
        self.0.ns.adapter().add_all(self.0.id, &rooms.into_rooms());
    }

    /// Leaves rooms.
    pub fn leave(&self, rooms: impl IntoRooms) {
        let adapter = self.0.ns.adapter();
        for room in rooms.into_rooms() {
            adapter.del(self.0.id, &room);
        }
    }

    /// The rooms the socket is in (its own room included).
    pub fn rooms(&self) -> Vec<Room> {
        self.0.ns.adapter().socket_rooms(self.0.id)
    }

    /// A broadcast to rooms, excluding this socket.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// Same as [`Socket::to`].
    pub fn within(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.to(rooms)
    }

    /// A broadcast to every socket of the namespace except those in `rooms`
    /// and this one.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().except(rooms)
    }

    /// A broadcast to every other socket of the namespace.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.0.ns.clone()).except(self.0.id)
    }

    /// A broadcast to the other sockets of this node only.
    pub fn local(&self) -> BroadcastOperator {
        self.broadcast().local()
    }

    // ----- disconnecting ---------------------------------------------------

    /// Leaves the namespace: the client gets a DISCONNECT packet
    /// (`server namespace disconnect`); its connection stays open.
    pub fn disconnect(&self) {
        if self.connected() {
            let disconnect =
                sockeye_proto::sio::Packet::new(PacketKind::Disconnect, self.0.ns.name().clone());
            if let Ok(encoded) = self.parser().encode(&disconnect) {
                let _ = self.send_encoded(&BroadcastPacket::new(encoded));
            }
            self.close(DisconnectReason::ServerNamespaceDisconnect);
        }
    }

    /// Disconnects every namespace of this client, then closes its
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
        let disconnecting: Vec<DisconnectFn> = std::mem::take(&mut *self.0.disconnecting.lock());
        for f in disconnecting {
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
        self.0.ns.adapter().del_all(self.0.id);
        self.0.ns.remove_socket(self.0.id);
        if let Some(client) = self.0.client.upgrade() {
            client.remove_socket(self.0.ns.name());
        }
        self.0.acks.lock().clear();
        let disconnect: Vec<DisconnectFn> = std::mem::take(&mut *self.0.disconnect.lock());
        for f in disconnect {
            f(self.clone(), reason);
        }
        // Handlers can hold clones of the socket; drop them to free it.
        self.0.handlers.write().clear();
        self.0.any.write().clear();
        self.0.any_outgoing.write().clear();
        self.0.middlewares.write().clear();
        self.0.errors.write().clear();
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
        let any = self.0.any.read().clone();
        for h in &any {
            handler::run(h.as_ref(), self.clone(), parts.clone());
        }
        let middlewares = self.0.middlewares.read().clone();
        for m in middlewares {
            if let Err(message) = m(self, &parts) {
                self.report_error(SocketError::Middleware(message));
                return;
            }
        }
        let handler = self.0.handlers.read().get(&parts.event).cloned();
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

/// Flags for one emit on a socket ([`Socket::timeout`], [`Socket::volatile`]).
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
        if self.volatile && !self.socket.0.session.is_writable() {
            return Ok(());
        }
        self.socket.emit_args(event, args)
    }

    /// Emits and waits for the acknowledgement (first argument as `R`).
    pub async fn emit_with_ack<T: Serialize + ?Sized, R: DeserializeOwned>(
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

    /// Emits several arguments and waits for the acknowledgement.
    pub async fn emit_args_with_ack<A: IntoArgs, R: DeserializeOwned>(
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
