//! [`Client`]: the Socket.IO side of one Engine.IO session: its decoder, its
//! sockets (one per namespace joined) and the packet routing between them.

use crate::ack::AckReply;
use crate::dynamic::NoNamespace;
use crate::handler::EventParts;
use crate::id::SocketId;
use crate::namespace::Namespace;
use crate::rate_limit::Limiter;
use crate::reason::DisconnectReason;
use crate::server::ServerInner;
use crate::socket::Socket;
use crate::stats::Trip;
use parking_lot::Mutex;
use sockeye_adapter::BroadcastPacket;
use sockeye_engine::{CloseReason, EngineHandler, Message, Session};
use sockeye_proto::eio::ProtocolVersion;
use sockeye_proto::sio::{Decoder, Packet, PacketKind, Payload, Value, v4};
use sockeye_proto::{Sid, Str};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::task::Poll;

/// The Socket.IO state of one connection.
pub(crate) struct Client {
    server: Weak<ServerInner>,
    session: Mutex<Option<Session>>,
    decoder: Mutex<Decoder>,
    /// Namespaces joined, and those whose CONNECT is being handled (`None`).
    sockets: Mutex<Vec<(Str, Option<Socket>)>>,
    /// Set once any namespace was joined (the connect timeout is then moot).
    pub joined: AtomicBool,
    /// Why the Socket.IO layer closed the connection, when it did.
    close_reason: Mutex<Option<DisconnectReason>>,
    /// The refusals already logged for this connection
    /// ([`WARNED_PENDING`], [`WARNED_TOO_MANY`]).
    warned: AtomicU8,
    /// The rate-limit buckets of the connection, shared by all its
    /// sockets (`None` when the server has no limit): one state per
    /// connection, whatever the namespaces joined and left.
    limiter: Option<Arc<Mutex<Limiter>>>,
}

/// Most CONNECTs of one connection waiting for a dynamic namespace's
/// predicate or a connect middleware at once; more get a `connect_error`.
const MAX_PENDING_CONNECTS: usize = 64;

/// A CONNECT refused for too many pending ones was logged.
const WARNED_PENDING: u8 = 1;
/// A CONNECT refused for too many dynamic namespaces was logged.
const WARNED_TOO_MANY: u8 = 2;

impl Client {
    /// Whether this is the connection's first refusal of this kind (the
    /// one to log).
    fn first_warning(&self, bit: u8) -> bool {
        self.warned.fetch_or(bit, Ordering::AcqRel) & bit == 0
    }

    /// The connection's Engine.IO session, until it closes.
    pub(crate) fn session(&self) -> Option<Session> {
        self.session.lock().clone()
    }

    /// The connected sockets.
    pub fn sockets(&self) -> Vec<Socket> {
        self.sockets
            .lock()
            .iter()
            .filter_map(|(_, s)| s.clone())
            .collect()
    }

    pub fn remove_socket(&self, nsp: &Str) {
        self.sockets.lock().retain(|(n, _)| n != nsp);
    }

    fn socket(&self, nsp: &Str) -> Option<Option<Socket>> {
        self.sockets
            .lock()
            .iter()
            .find(|(n, _)| n == nsp)
            .map(|(_, s)| s.clone())
    }

    /// Records why the Socket.IO layer closes the connection (the first
    /// reason recorded stays).
    pub(crate) fn record_close_reason(&self, reason: DisconnectReason) {
        self.close_reason.lock().get_or_insert(reason);
    }

    /// Closes the connection for `reason` (a protocol violation, a limit).
    pub fn close_with(&self, reason: DisconnectReason) {
        self.record_close_reason(reason);
        if let Some(s) = self.session() {
            s.close();
        }
    }

    fn send(&self, session: &Session, packet: &Packet) {
        let Some(server) = self.server.upgrade() else {
            return;
        };
        match server.config.parser.encode(packet) {
            Ok(encoded) => {
                let p = BroadcastPacket::new(encoded);
                let _ = session.send_frames(crate::socket::frames(&p));
            }
            Err(e) => tracing::warn!(error = %e, "could not encode a control packet"),
        }
    }

    fn on_packet(self: &Arc<Self>, session: &Session, packet: Packet) {
        match packet.kind.plain() {
            PacketKind::Connect => self.connect(session, packet),
            PacketKind::ConnectError => self.close_with(DisconnectReason::ForcedServerClose),
            kind => match self.socket(&packet.nsp) {
                Some(Some(socket)) => match kind {
                    PacketKind::Event => dispatch_event(&socket, packet),
                    PacketKind::Ack => {
                        if let Some(id) = packet.id {
                            let reply = AckReply {
                                data: packet.data,
                                attachments: packet.attachments.into(),
                            };
                            socket.on_ack(id, reply);
                        }
                    }
                    PacketKind::Disconnect => {
                        socket.close(DisconnectReason::ClientNamespaceDisconnect)
                    }
                    _ => {}
                },
                // A packet for a namespace the client has not joined.
                _ => self.close_with(DisconnectReason::ForcedServerClose),
            },
        }
    }

    fn connect(self: &Arc<Self>, session: &Session, packet: Packet) {
        let Some(server) = self.server.upgrade() else {
            return;
        };
        let (nsp, auth) = if session.protocol() == ProtocolVersion::V3 {
            // Socket.IO 2.x: the auth is the namespace's query string.
            let (nsp, query) = v4::split_connect_nsp(&packet.nsp);
            (nsp, v4::query_to_auth(&query))
        } else {
            let auth = match &packet.data {
                Some(p) => p.to_value(&packet.attachments).unwrap_or(Value::Null),
                None => Value::Null,
            };
            let auth = if matches!(auth, Value::Object(_)) {
                auth
            } else {
                Value::Object(Vec::new())
            };
            (packet.nsp.clone(), auth)
        };
        // The name is a slice of the received frame: a copy, so that the
        // sockets and namespaces that keep it do not keep the whole frame
        // (a short name with a megabyte of auth after it) alive.
        let nsp = Str::from(nsp.as_str().to_owned());
        {
            let mut sockets = self.sockets.lock();
            if sockets.iter().any(|(n, _)| *n == nsp) {
                drop(sockets);
                // A second CONNECT for a namespace already joined.
                self.close_with(DisconnectReason::ForcedServerClose);
                return;
            }
            if sockets.iter().filter(|(_, s)| s.is_none()).count() >= MAX_PENDING_CONNECTS {
                drop(sockets);
                let loud = self.server.upgrade().is_some_and(|server| {
                    server.config.stats.trip(Trip::NamespaceRefused);
                    server.config.stats.warn_now(Trip::NamespaceRefused)
                });
                if self.first_warning(WARNED_PENDING) && loud {
                    tracing::warn!(sid = %session.sid(), "CONNECT refused: too many pending");
                } else {
                    tracing::debug!(sid = %session.sid(), "CONNECT refused: too many pending");
                }
                self.connect_error(session, &nsp, "Too many pending connections", None, false);
                return;
            }
            // Most connections join one namespace: room for exactly that
            // (a grown `Vec` would hold four).
            sockets.reserve_exact(1);
            sockets.push((nsp.clone(), None));
        }
        let client = self.clone();
        let session = session.clone();
        // Run at once, and spawned only if a dynamic namespace's check or a
        // middleware has to wait.
        crate::handler::run_now_or_spawn(Box::pin(async move {
            let (ns, lease) = match server.namespace_for(&nsp, &auth).await {
                Ok(found) => found,
                Err(why) => {
                    let message = match why {
                        NoNamespace::Invalid => "Invalid namespace",
                        NoNamespace::TooMany => {
                            if client.first_warning(WARNED_TOO_MANY)
                                && server.config.stats.warn_now(Trip::NamespaceRefused)
                            {
                                tracing::warn!(sid = %session.sid(), "namespace refused: too many dynamic namespaces");
                            } else {
                                tracing::debug!(sid = %session.sid(), "namespace refused: too many dynamic namespaces");
                            }
                            "Too many namespaces"
                        }
                    };
                    client.remove_socket(&nsp);
                    client.connect_error(&session, &nsp, message, None, false);
                    return;
                }
            };
            client.join(&server, session, ns, auth).await;
            // Only now may a child left without a socket be removed.
            drop(lease);
        }));
    }

    /// Sends CONNECT_ERROR. The reference sends `{"message", "data"}` (keys
    /// in that order), except that a Socket.IO 2.x client gets a
    /// middleware's refusal as a JSON string (`data` or the message).
    fn connect_error(
        &self,
        session: &Session,
        nsp: &Str,
        message: &str,
        data: Option<serde_json::Value>,
        from_middleware: bool,
    ) {
        let message_json = serde_json::Value::from(message).to_string();
        let text = if session.protocol() == ProtocolVersion::V3 && from_middleware {
            data.map(|d| d.to_string()).unwrap_or(message_json)
        } else {
            match data {
                Some(d) => format!("{{\"message\":{message_json},\"data\":{d}}}"),
                None => format!("{{\"message\":{message_json}}}"),
            }
        };
        let packet = Packet::new(PacketKind::ConnectError, nsp.clone())
            .with_data(Payload::Json(Str::from(text)));
        self.send(session, &packet);
    }

    async fn join(
        self: &Arc<Self>,
        server: &Arc<ServerInner>,
        session: Session,
        ns: Namespace,
        auth: Value,
    ) {
        // Connection state recovery: a known `pid` and `offset` in the auth
        // bring the old socket back.
        let mut restored = None;
        if let Some(recovery) = ns.recovery() {
            let pid = auth.get("pid").and_then(Value::as_str);
            let offset = auth.get("offset").and_then(Value::as_str);
            if let (Some(pid), Some(offset)) = (pid, offset) {
                if let Some(r) = ns.adapter().restore_session(pid, offset).await {
                    if let (Ok(id), Ok(pid)) = (
                        r.session.sid.parse::<SocketId>(),
                        r.session.pid.parse::<Sid>(),
                    ) {
                        restored = Some((id, pid, r, recovery.skip_middlewares));
                    }
                }
            }
        }
        let (id, recovery) = match &restored {
            Some((id, pid, r, _)) => (id.clone(), Some((Some(*pid), true, r.session.data.clone()))),
            None => {
                let id = if session.protocol() == ProtocolVersion::V3 {
                    // Socket.IO 2.x clients compute the id themselves: the
                    // engine sid on `/`, `<nsp>#<engine sid>` elsewhere.
                    SocketId::for_eio3(ns.name(), session.sid())
                } else {
                    SocketId::from(Sid::generate())
                };
                (
                    id,
                    ns.recovery()
                        .map(|_| (Some(Sid::generate()), false, serde_json::Value::Null)),
                )
            }
        };
        let socket = Socket::new(
            id,
            ns.clone(),
            session.clone(),
            Arc::downgrade(self),
            auth,
            recovery,
            self.limiter.clone(),
        );
        let skip_middlewares = restored.as_ref().is_some_and(|r| r.3);
        let middlewares = if skip_middlewares {
            Vec::new()
        } else {
            ns.0.middlewares.snapshot()
        };
        for mw in middlewares {
            if let Err(e) = mw(socket.clone()).await {
                self.remove_socket(ns.name());
                self.connect_error(&session, ns.name(), &e.message, e.data, true);
                return;
            }
        }
        if session.is_closed() {
            self.remove_socket(ns.name());
            return;
        }
        // A dynamic child is kept while a CONNECT is in flight on it (the
        // caller's lease), so it is still the registered one; checked
        // anyway, since a socket added to a removed child would be lost.
        if !server.is_current(&ns) {
            self.remove_socket(ns.name());
            self.connect_error(&session, ns.name(), "Invalid namespace", None, false);
            return;
        }
        socket.0.connected.store(true, Ordering::Release);
        ns.0.joins.joined();
        ns.add_socket(&socket);
        {
            let mut sockets = self.sockets.lock();
            match sockets.iter_mut().find(|(n, _)| n == ns.name()) {
                Some(slot) => slot.1 = Some(socket.clone()),
                None => sockets.push((ns.name().clone(), Some(socket.clone()))),
            }
        }
        self.joined.store(true, Ordering::Release);
        if let Some((_, _, r, _)) = restored {
            let rooms: Vec<_> = r
                .session
                .rooms
                .iter()
                .filter(|room| room.as_str() != socket.id().as_str())
                .cloned()
                .collect();
            // Accepted before: restored as they were, without the room
            // cap (which may have been lowered since).
            socket.restore_rooms(&rooms);
            // The reference sends the missed packets before the CONNECT.
            for packet in &r.missed {
                let _ = socket.send_encoded(packet);
            }
        }
        let reply = if session.protocol() == ProtocolVersion::V3 {
            Packet::new(PacketKind::Connect, ns.name().clone())
        } else {
            // `sid` then `pid`, as the reference writes them (ids are
            // base64url, nothing to escape).
            let body = match socket.pid() {
                Some(pid) => format!(r#"{{"sid":"{}","pid":"{}"}}"#, socket.id(), pid),
                None => format!(r#"{{"sid":"{}"}}"#, socket.id()),
            };
            Packet::new(PacketKind::Connect, ns.name().clone())
                .with_data(Payload::Json(Str::from(body)))
        };
        self.send(&session, &reply);
        // Run each connection handler up to its first `.await` before any
        // later packet can be dispatched (the engine calls us in order, and
        // this runs before the client has seen the CONNECT reply's effects).
        let handlers = ns.0.on_connection.snapshot();
        for h in handlers {
            let mut fut = h(socket.clone());
            let first = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
            if first.is_pending() {
                tokio::spawn(fut);
            }
        }
        socket.mark_ready();
        if session.is_closed() {
            socket.close(
                self.close_reason
                    .lock()
                    .unwrap_or(DisconnectReason::TransportClose),
            );
        }
    }
}

fn dispatch_event(socket: &Socket, packet: Packet) {
    let Some(data) = packet.data else { return };
    match data.split_event() {
        Ok((name, args)) => {
            if !socket.admit(&name) {
                return;
            }
            let parts = EventParts {
                event: name,
                args,
                attachments: packet.attachments.into(),
                ack_id: packet.id,
                acked: Default::default(),
            };
            socket.dispatch_or_hold(parts);
        }
        Err(e) => tracing::debug!(sid = %socket.id(), error = %e, "malformed event"),
    }
}

/// The engine handler of a Socket.IO server. It holds the server strongly:
/// a service or engine handed to a listener keeps the whole server alive
/// even when the `SocketIo` handle itself was dropped.
pub(crate) struct SioHandler {
    pub server: Arc<ServerInner>,
}

impl EngineHandler for SioHandler {
    fn on_open(&self, session: &Session) {
        let server = &self.server;
        let client = Arc::new(Client {
            server: Arc::downgrade(server),
            session: Mutex::new(Some(session.clone())),
            decoder: Mutex::new(
                server
                    .config
                    .parser
                    .decoder_with_limits(server.config.decode_limits),
            ),
            sockets: Mutex::new(Vec::new()),
            joined: AtomicBool::new(false),
            close_reason: Mutex::new(None),
            warned: AtomicU8::new(0),
            limiter: server
                .config
                .rate_limits
                .any()
                .then(|| Arc::new(Mutex::new(Limiter::new(&server.config.rate_limits)))),
        });
        session.set_data(client.clone());
        if session.protocol() == ProtocolVersion::V3 {
            // Socket.IO 2.x clients are connected to `/` at once.
            client.connect(
                session,
                Packet::new(PacketKind::Connect, Str::from_static("/")),
            );
        } else {
            server.connect_deadlines.push(Arc::downgrade(&client));
        }
    }

    fn on_message(&self, session: &Session, message: Message) {
        let Some(client) = session.data::<Arc<Client>>() else {
            return;
        };
        let decoded = {
            let mut decoder = client.decoder.lock();
            match message {
                Message::Text(t) => decoder.decode_text(t),
                Message::Binary(b) => decoder.decode_binary(b),
            }
        };
        match decoded {
            Ok(Some(packet)) => client.on_packet(session, packet),
            Ok(None) => {}
            Err(e) => {
                let trip = Trip::of_decode_error(&e);
                client
                    .server
                    .upgrade()
                    .inspect(|s| s.config.stats.trip(trip));
                let loud = trip != Trip::ParseError
                    && client
                        .server
                        .upgrade()
                        .is_some_and(|s| s.config.stats.warn_now(trip));
                if loud {
                    tracing::warn!(sid = %session.sid(), error = %e, "packet over a bound, closing (more such closes within 10 s are logged at debug)");
                } else {
                    tracing::debug!(sid = %session.sid(), error = %e, "invalid Socket.IO packet, closing");
                }
                for socket in client.sockets() {
                    socket.report_error(crate::socket::SocketError::Middleware(format!(
                        "parse error: {e}"
                    )));
                }
                client.close_with(DisconnectReason::ParseError);
            }
        }
    }

    fn on_close(&self, session: &Session, reason: CloseReason) {
        let Some(client) = session.data::<Arc<Client>>() else {
            return;
        };
        // Kept (not taken): a CONNECT finishing later closes its socket
        // with the same reason.
        let reason = *client.close_reason.lock().get_or_insert(reason.into());
        for socket in client.sockets() {
            socket.close(reason);
        }
        client.sockets.lock().clear();
        // Break the session -> client -> session cycle.
        client.session.lock().take();
    }
}
