//! Engine events a program can listen to at run time: Node's
//! `connection_error` (every refused request), `connection`, and the events
//! of its sessions (`upgrading`, `upgrade`, `packet`, `packetCreate`,
//! `close`), for every session at once.

use crate::engine::Engine;
use crate::error::{ErrorCode, Refusal};
use crate::handler::CloseReason;
use crate::listeners::{ListenerId, Listeners};
use crate::session::{Session, TransportKind};
use http::StatusCode;
use http::request::Parts;
use sockeye_proto::eio::Packet;
use std::net::SocketAddr;
use std::sync::Arc;

/// A listener of [`Engine::on_connection_error`].
pub type ConnectionErrorListener = dyn Fn(&ConnectionError<'_>) + Send + Sync;

/// Node's `connection_error` event: a request the engine refused, with
/// the code and message sent back and the request it answered.
///
/// Reported for every refusal the client can see as an Engine.IO error
/// (`{"code":N,"message":...}`, or the plain-text answer to a WebSocket
/// upgrade): unknown transport or session id, bad method, bad request,
/// forbidden origin, `allow_request` refusals, the session caps, an
/// unsupported protocol version, and `Method not allowed` on a session.
#[derive(Debug)]
#[non_exhaustive]
pub struct ConnectionError<'a> {
    /// The Engine.IO error code (Node's `code`).
    pub code: ErrorCode,
    /// The message sent back (Node's `message`).
    pub message: &'a str,
    /// The HTTP status of the answer.
    pub status: StatusCode,
    /// The request (Node's `req`): method, URI with its query (`EIO`,
    /// `transport`, `sid`), headers and extensions.
    pub request: &'a Parts,
    /// Whether the request asked for a WebSocket upgrade.
    pub upgrade: bool,
}

impl ConnectionError<'_> {
    /// The peer's address, as the engine counts it (a `SocketAddr` in the
    /// request's extensions, else the connection's).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        crate::request::peer_addr(self.request)
    }

    /// A query parameter of the request (`"transport"`, `"sid"`, `"EIO"`),
    /// as sent: the context Node puts in `context`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.request
            .uri
            .query()?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// A listener of [`Engine::on_connection`].
pub type SessionListener = dyn Fn(&Session) + Send + Sync;
/// A listener of [`Engine::on_upgrading`] and [`Engine::on_upgrade`]: the
/// session and the transport it moves to.
pub type TransportListener = dyn Fn(&Session, TransportKind) + Send + Sync;
/// A listener of [`Engine::on_packet`] and [`Engine::on_packet_create`].
pub type PacketListener = dyn Fn(&Session, &Packet) + Send + Sync;
/// A listener of [`Engine::on_session_close`].
pub type CloseListener = dyn Fn(&Session, CloseReason) + Send + Sync;

impl crate::engine::Shared {
    /// The id of a new session: the configured generator's
    /// ([`crate::EngineConfig::with_generate_id`]) unless it is taken,
    /// else a random one (in cluster mode, this node's tag and 12 random
    /// bytes; a custom generator's ids carry no tag, so other nodes cannot
    /// forward to their sessions: use stickiness with `generate_id`).
    pub(crate) fn new_sid(&self, request: &crate::HandshakeRequest) -> sockeye_proto::Sid {
        if let Some(generate) = &self.config.generate_id {
            let sid = generate(request);
            if !self.contains(&sid) {
                return sid;
            }
            tracing::warn!(%sid, "generate_id gave the id of a live session: a random id is used");
        }
        match &self.cluster {
            Some(cluster) => sockeye_proto::Sid::generate_with_tag(cluster.tag),
            None => sockeye_proto::Sid::generate(),
        }
    }
}

/// The run-time listeners of one engine.
#[derive(Debug, Default)]
pub(crate) struct EngineEvents {
    pub connection_error: Listeners<ConnectionErrorListener>,
    pub connection: Listeners<SessionListener>,
    pub upgrading: Listeners<TransportListener>,
    pub upgrade: Listeners<TransportListener>,
    pub packet: Listeners<PacketListener>,
    pub packet_create: Listeners<PacketListener>,
    pub heartbeat: Listeners<SessionListener>,
    pub close: Listeners<CloseListener>,
}

impl EngineEvents {
    /// Tells the `connection_error` listeners about a refusal.
    pub fn refused(&self, parts: &Parts, r: &Refusal, upgrade: bool) {
        if self.connection_error.is_empty() {
            return;
        }
        let event = ConnectionError {
            code: r.code,
            message: &r.message,
            status: r.status,
            request: parts,
            upgrade,
        };
        for f in self.connection_error.snapshot() {
            f(&event);
        }
    }
}

impl EngineEvents {
    /// A session opened (after the engine's handler was told).
    pub fn opened(&self, session: &Session) {
        for f in self.connection.snapshot() {
            f(session);
        }
    }

    /// A session's upgrade was probed (`upgrading`) or done (`upgrade`).
    pub fn upgrading(&self, session: &Session, done: bool) {
        let list = if done { &self.upgrade } else { &self.upgrading };
        for f in list.snapshot() {
            f(session, TransportKind::WebSocket);
        }
    }

    /// A packet arrived from the client.
    pub fn packet(&self, session: &Session, packet: &Packet) {
        for f in self.packet.snapshot() {
            f(session, packet);
        }
    }

    /// A client's heartbeat arrived (a v4 pong, a v3 ping).
    pub fn heartbeat(&self, session: &Session) {
        for f in self.heartbeat.snapshot() {
            f(session);
        }
    }

    /// A session closed (after the engine's handler was told).
    pub fn closed(&self, session: &Session, reason: CloseReason) {
        for f in self.close.snapshot() {
            f(session, reason);
        }
    }

    fn all_remove(&self, id: ListenerId) -> bool {
        self.connection_error.remove(id)
            || self.connection.remove(id)
            || self.upgrading.remove(id)
            || self.upgrade.remove(id)
            || self.packet.remove(id)
            || self.packet_create.remove(id)
            || self.heartbeat.remove(id)
            || self.close.remove(id)
    }
}

impl Engine {
    /// Node's `engine.on("connection", (socket) => ...)`: called with each
    /// new session, once the engine's handler (the Socket.IO layer under a
    /// `SocketIo`) has seen it. Like every engine listener, it is called
    /// synchronously, with no lock held, for every session of the engine,
    /// and must not block. Returns the handle that
    /// [`Engine::remove_listener`] takes.
    pub fn on_connection(&self, f: impl Fn(&Session) + Send + Sync + 'static) -> ListenerId {
        let f: Arc<SessionListener> = Arc::new(f);
        self.0.events.connection.push(f)
    }

    /// Node's `socket.on("upgrading", (transport) => ...)`, for every
    /// session: a polling session's WebSocket answered the probe (`3probe`
    /// sent); the switch is not done yet.
    pub fn on_upgrading(
        &self,
        f: impl Fn(&Session, TransportKind) + Send + Sync + 'static,
    ) -> ListenerId {
        let f: Arc<TransportListener> = Arc::new(f);
        self.0.events.upgrading.push(f)
    }

    /// Node's `socket.on("upgrade", (transport) => ...)`, for every session:
    /// a session moved from polling to WebSocket
    /// ([`Session::transport`] says so from now on).
    pub fn on_upgrade(
        &self,
        f: impl Fn(&Session, TransportKind) + Send + Sync + 'static,
    ) -> ListenerId {
        let f: Arc<TransportListener> = Arc::new(f);
        self.0.events.upgrade.push(f)
    }

    /// Node's `socket.on("packet", (packet) => ...)`, for every session:
    /// each Engine.IO packet received from a client (messages, pongs,
    /// close...), before it is handled. The probe packets of an upgrade are
    /// not reported.
    pub fn on_packet(&self, f: impl Fn(&Session, &Packet) + Send + Sync + 'static) -> ListenerId {
        let f: Arc<PacketListener> = Arc::new(f);
        self.0.events.packet.push(f)
    }

    /// Node's `socket.on("packetCreate", (packet) => ...)`, for every
    /// session: each packet queued for a client (messages, binary
    /// messages, `noop`, `close`, the pings of a polling session, and the
    /// `open` packet of a WebSocket handshake). Not reported: what is
    /// written without the session's queue (the `open` packet in the answer
    /// to a polling handshake, the pings a WebSocket session's loop writes,
    /// the probe answers of an upgrade). A
    /// broadcast's shared text is decoded for the listener, so this costs
    /// a copy per packet while a listener is registered.
    pub fn on_packet_create(
        &self,
        f: impl Fn(&Session, &Packet) + Send + Sync + 'static,
    ) -> ListenerId {
        let f: Arc<PacketListener> = Arc::new(f);
        self.0.events.packet_create.push(f)
    }

    /// Node's `socket.on("heartbeat", ...)`, for every session: the client
    /// answered a ping (a v4 `pong`; a v3 client's own `ping`), so its
    /// heartbeat deadline moved.
    pub fn on_heartbeat(&self, f: impl Fn(&Session) + Send + Sync + 'static) -> ListenerId {
        let f: Arc<SessionListener> = Arc::new(f);
        self.0.events.heartbeat.push(f)
    }

    /// Node's `socket.on("close", (reason) => ...)`, for every session:
    /// called once per session when it closes, after the engine's handler.
    pub fn on_session_close(
        &self,
        f: impl Fn(&Session, CloseReason) + Send + Sync + 'static,
    ) -> ListenerId {
        let f: Arc<CloseListener> = Arc::new(f);
        self.0.events.close.push(f)
    }

    /// Listens to Node's `connection_error`: called, synchronously and
    /// with no lock held, for each refused request (see
    /// [`ConnectionError`]). Meant for logging and metrics: it must not
    /// block. Returns the handle that [`Engine::remove_listener`] takes.
    pub fn on_connection_error(
        &self,
        f: impl Fn(&ConnectionError<'_>) + Send + Sync + 'static,
    ) -> ListenerId {
        let f: Arc<ConnectionErrorListener> = Arc::new(f);
        self.0.events.connection_error.push(f)
    }

    /// Removes a listener added by an `on_*` method of the engine
    /// (Node's `engine.off`); `false` if it is not registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.0.events.all_remove(id)
    }
}
