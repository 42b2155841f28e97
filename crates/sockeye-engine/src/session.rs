//! [`Session`]: one Engine.IO connection, whatever its transport.
//!
//! A session's state lives in one `Mutex<State>` (never held across an
//! `.await`). It has one task, spawned at the handshake: for a WebSocket
//! session it is the socket's I/O loop, for a polling session a small timer
//! loop for the heartbeats. The polling GET handler or the WebSocket loop
//! (whichever transport is active) is the only writer; it is woken through
//! `writer` and drains the whole queue at once, so packets queued together go
//! out in one HTTP response or one socket flush.

use crate::engine::Shared;
use crate::error::SendError;
use crate::handler::{CloseReason, Message};
use crate::heartbeat::Heartbeat;
use crate::limits::Admission;
use crate::request::HandshakeRequest;
use bytes::Bytes;
use parking_lot::Mutex;
use sockeye_proto::eio::{Packet, ProtocolVersion};
use sockeye_proto::{Sid, Str};
use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, OnceLock};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The transport a session currently uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

impl TransportKind {
    /// The transport's name in the protocol (`polling`, `websocket`).
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Polling => "polling",
            TransportKind::WebSocket => "websocket",
        }
    }
}

/// A message to send, for [`Session::send_frames`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete Engine.IO text packet, type digit included (`4...`),
    /// shared as it is by every recipient.
    Encoded(Str),
    /// A binary message.
    Binary(Bytes),
}

/// One queued outgoing packet.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    /// A packet to encode.
    Packet(Packet),
    /// A complete, already encoded text packet (`4...`): shared by every
    /// receiver of a broadcast.
    Encoded(Str),
}

impl Out {
    /// The bytes this packet holds in a queue (its encoded size; binary at
    /// its raw size): what [`EngineConfig::with_max_buffered_bytes`] counts.
    ///
    /// [`EngineConfig::with_max_buffered_bytes`]: crate::EngineConfig::with_max_buffered_bytes
    pub fn weight(&self) -> usize {
        match self {
            Out::Packet(p) => Out::packet_weight(p),
            Out::Encoded(s) => s.len(),
        }
    }

    /// A packet's weight (see [`Out::weight`]).
    pub fn packet_weight(p: &Packet) -> usize {
        match p {
            Packet::Binary(data) => 1 + data.len(),
            p => p.text_len(),
        }
    }

    pub fn to_packet(&self) -> Packet {
        match self {
            Out::Packet(p) => p.clone(),
            Out::Encoded(s) => Packet::decode_text(s.clone()).unwrap_or(Packet::Noop),
        }
    }
}

/// Where an upgrade from polling to WebSocket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upgrade {
    /// No upgrade in progress.
    Idle,
    /// A WebSocket for this session is open, waiting for `2probe`.
    Upgrading,
    /// `3probe` was sent: pending polls are released with `noop`.
    Probed,
}

/// `repr(C)`, hot fields first: a broadcast to many sessions touches each
/// one's lock, `closed` and `queue`, and with this order they share the
/// lock's cache line.
#[repr(C)]
pub(crate) struct State {
    pub queue: VecDeque<Out>,
    /// Bytes held for the client: `queue`'s packets, plus for a WebSocket
    /// the batch being written (see `transport::ws::run`).
    pub queued_bytes: usize,
    pub closed: Option<CloseReason>,
    pub transport: TransportKind,
    pub upgrade: Upgrade,
    pub get_active: bool,
    pub post_active: bool,
    /// The session's WebSocket is held by another node of the cluster,
    /// which relays it: `transport` stays `Polling` inside (the relay pulls
    /// the queue as GETs do, the polling timer keeps the heartbeat) while
    /// [`Session::transport`] reports WebSocket.
    pub relay: bool,
    /// The WebSocket writer is flushing (used by `is_writable`).
    pub writing: bool,
    /// When a closed polling session stops waiting for its last GET.
    pub linger_until: Option<Instant>,
    pub heartbeat: Heartbeat,
    /// A v3 client that asked for base64 binary (`b64`).
    pub b64: bool,
    /// The deadline of this session's entry in the shared polling timer.
    pub timer_due: Option<Instant>,
    /// Its place under the session caps, given back when it ends.
    pub admission: Option<Admission>,
    /// A refused request of this session (413, 408) was logged: later ones
    /// are only counted, so that one client cannot flood the log.
    pub refusal_logged: bool,
}

/// `repr(C)`, for the same reason as [`State`]: what a send touches comes
/// first.
#[repr(C)]
pub(crate) struct SessionInner {
    pub state: Mutex<State>,
    pub shared: Arc<Shared>,
    /// Wakes the active writer (pending GET or WebSocket loop).
    pub writer: Notify,
    pub sid: Sid,
    pub protocol: ProtocolVersion,
    pub request: HandshakeRequest,
    /// Wakes the WebSocket I/O loop (heartbeat change, close).
    pub driver: Notify,
    /// Set once the session has ended (see `engine::finish_session`).
    pub finished: std::sync::atomic::AtomicBool,
    data: OnceLock<Box<dyn Any + Send + Sync>>,
    /// Cluster hand-over window: the handler has not been told of the
    /// session yet, and the client's messages wait here (see
    /// `cluster::handover`). `None` for every other session.
    pub deferred: Mutex<Option<Box<crate::cluster::handover::Early>>>,
    /// Messages go to `deferred` while set (one atomic load per message
    /// for every other session).
    pub buffering: std::sync::atomic::AtomicBool,
    /// Where the handler stands with the session (`cluster::handover`
    /// phases: `OPEN` for every session outside a hand-over window).
    pub announce: std::sync::atomic::AtomicU8,
}

/// Node's engine.io `Socket` (`socket.conn`): a handle to one Engine.IO session. Cheap to clone.
#[derive(Clone)]
pub struct Session(pub(crate) Arc<SessionInner>);

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("sid", &self.0.sid)
            .field("protocol", &self.0.protocol)
            .field("transport", &self.transport())
            .finish()
    }
}

impl Session {
    pub(crate) fn new(
        shared: Arc<Shared>,
        protocol: ProtocolVersion,
        transport: TransportKind,
        request: HandshakeRequest,
        b64: bool,
        admission: Option<Admission>,
    ) -> Session {
        let sid = shared.new_sid(&request);
        Self::with_sid(shared, sid, protocol, transport, request, b64, admission)
    }

    /// A session with a given id (a session handed over by another node).
    pub(crate) fn with_sid(
        shared: Arc<Shared>,
        sid: Sid,
        protocol: ProtocolVersion,
        transport: TransportKind,
        request: HandshakeRequest,
        b64: bool,
        admission: Option<Admission>,
    ) -> Session {
        let heartbeat = Heartbeat::new(protocol, &shared.config, Instant::now());
        Session(Arc::new(SessionInner {
            sid,
            protocol,
            request,
            shared,
            state: Mutex::new(State {
                transport,
                upgrade: Upgrade::Idle,
                queue: VecDeque::new(),
                queued_bytes: 0,
                get_active: false,
                post_active: false,
                relay: false,
                writing: false,
                closed: None,
                linger_until: None,
                heartbeat,
                b64,
                timer_due: None,
                admission,
                refusal_logged: false,
            }),
            writer: Notify::new(),
            driver: Notify::new(),
            finished: std::sync::atomic::AtomicBool::new(false),
            data: OnceLock::new(),
            deferred: Mutex::new(None),
            buffering: std::sync::atomic::AtomicBool::new(false),
            announce: std::sync::atomic::AtomicU8::new(crate::cluster::handover::OPEN),
        }))
    }

    /// Node's `conn.id`: the session id.
    pub fn sid(&self) -> Sid {
        self.0.sid
    }

    /// Node's `conn.protocol`: the protocol revision the client speaks.
    pub fn protocol(&self) -> ProtocolVersion {
        self.0.protocol
    }

    /// Node's `conn.transport.name`: the transport in use now (WebSocket
    /// also for a session whose WebSocket another node of the cluster relays).
    pub fn transport(&self) -> TransportKind {
        let st = self.0.state.lock();
        if st.relay {
            TransportKind::WebSocket
        } else {
            st.transport
        }
    }

    /// Starts an upgrade if the session can take one (open, on polling, no
    /// upgrade started, not relayed), whether the WebSocket came here or to
    /// another node of the cluster: `false` for a second WebSocket.
    pub(crate) fn begin_upgrade(&self) -> bool {
        let mut st = self.0.state.lock();
        let eligible = st.closed.is_none()
            && st.transport == TransportKind::Polling
            && st.upgrade == Upgrade::Idle
            && !st.relay;
        if eligible {
            st.upgrade = Upgrade::Upgrading;
        }
        eligible
    }

    /// Whether another node of the cluster relays this session's WebSocket.
    pub(crate) fn is_relayed(&self) -> bool {
        self.0.state.lock().relay
    }

    /// Whether the session is driven as polling (the shared timer runs its
    /// heartbeat): on polling, or relayed.
    pub(crate) fn polling_driven(&self) -> bool {
        self.0.state.lock().transport == TransportKind::Polling
    }

    /// Node's `conn.request`: the request that opened the session.
    pub fn request(&self) -> &HandshakeRequest {
        &self.0.request
    }

    /// Node's `conn.readyState === "closed"`: whether the session has been closed.
    pub fn is_closed(&self) -> bool {
        self.0.state.lock().closed.is_some()
    }

    /// Whether a packet sent now would be written at once: a poll is
    /// pending, or the WebSocket is not busy flushing. Used for volatile
    /// packets, which are dropped when this is false.
    pub fn is_writable(&self) -> bool {
        let st = self.0.state.lock();
        st.closed.is_none()
            && st.upgrade != Upgrade::Probed
            && match st.transport {
                TransportKind::Polling => st.get_active,
                TransportKind::WebSocket => !st.writing && st.queue.is_empty(),
            }
    }

    /// Node's `conn.send(text)`: queues a text message.
    pub fn send_text(&self, text: impl Into<Str>) -> Result<(), SendError> {
        self.push(Out::Packet(Packet::Message(text.into())))
    }

    /// Node's `conn.send(buffer)`: queues a binary message.
    pub fn send_binary(&self, data: Bytes) -> Result<(), SendError> {
        self.push(Out::Packet(Packet::Binary(data)))
    }

    /// Queues a complete, already encoded Engine.IO text packet (for
    /// example `4hello`). A broadcast encodes its packet once and hands the
    /// same bytes to every session this way.
    pub fn send_encoded(&self, packet: Str) -> Result<(), SendError> {
        self.push(Out::Encoded(packet))
    }

    /// Queues frames of one logical packet (for example a Socket.IO event
    /// and its binary attachments) atomically: no other packet can come
    /// between them.
    pub fn send_frames(&self, frames: impl IntoIterator<Item = Frame>) -> Result<(), SendError> {
        self.push_all(frames.into_iter().map(|f| match f {
            Frame::Encoded(s) => Out::Encoded(s),
            Frame::Binary(b) => Out::Packet(Packet::Binary(b)),
        }))
    }

    /// Queues several messages at once; they leave in one response or flush.
    pub fn send_many(&self, messages: impl IntoIterator<Item = Message>) -> Result<(), SendError> {
        self.push_all(messages.into_iter().map(|m| {
            Out::Packet(match m {
                Message::Text(t) => Packet::Message(t),
                Message::Binary(b) => Packet::Binary(b),
            })
        }))
    }

    /// Node's `conn.close()`: closes the session: queued packets are still delivered, then the
    /// transport is closed. The handler's `on_close` gets
    /// [`CloseReason::ForcedClose`].
    pub fn close(&self) {
        self.close_with(CloseReason::ForcedClose);
    }

    /// Stores the upper layer's per-session value (once); returns `false`
    /// if a value was already set.
    pub fn set_data<T: Any + Send + Sync>(&self, value: T) -> bool {
        self.0.data.set(Box::new(value)).is_ok()
    }

    /// The value stored with [`Session::set_data`], if it has this type.
    pub fn data<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.0.data.get().and_then(|b| b.downcast_ref())
    }

    pub(crate) fn push(&self, out: Out) -> Result<(), SendError> {
        self.push_all(std::iter::once(out))
    }

    fn push_all(&self, items: impl IntoIterator<Item = Out>) -> Result<(), SendError> {
        let events = &self.0.shared.events.packet_create;
        if events.is_empty() {
            return self.queue_all(items);
        }
        let items: Vec<Out> = items.into_iter().collect();
        if !self.is_closed() {
            let packets: Vec<Packet> = items.iter().map(Out::to_packet).collect();
            for f in events.snapshot() {
                for packet in &packets {
                    f(self, packet);
                }
            }
        }
        self.queue_all(items)
    }

    fn queue_all(&self, items: impl IntoIterator<Item = Out>) -> Result<(), SendError> {
        let config = &self.0.shared.config;
        let (max_packets, max_bytes) = (config.max_buffered_packets, config.max_buffered_bytes);
        let was_empty;
        {
            let mut st = self.0.state.lock();
            if st.closed.is_some() {
                return Err(SendError::Closed);
            }
            was_empty = st.queue.is_empty();
            let (mut packets, mut weight) = (0, 0);
            for item in items {
                let w = item.weight();
                (packets, weight) = (packets + 1, weight + w);
                let bytes = st.queued_bytes.saturating_add(w);
                if st.queue.len() >= max_packets || bytes > max_bytes {
                    let (packets, queued) = (st.queue.len(), st.queued_bytes);
                    drop(st);
                    self.overflow(packets, queued);
                    return Err(SendError::QueueFull);
                }
                st.queued_bytes = bytes;
                st.queue.push_back(item);
            }
            if let Some(m) = &config.metrics {
                m.queued(packets, weight);
            }
        }
        if was_empty {
            self.0.writer.notify_waiters();
        }
        Ok(())
    }

    /// Closes a session whose queue is full, once: the first send that
    /// finds it full logs and counts it, later ones find it closed.
    fn overflow(&self, packets: usize, bytes: usize) {
        if self.is_closed() {
            return;
        }
        tracing::warn!(
            sid = %self.0.sid,
            packets,
            bytes,
            "send queue full (slow consumer), closing the session"
        );
        self.0.shared.stats.count(crate::stats::Trip::SendQueue);
        self.close_with(CloseReason::TransportError);
    }

    /// Ends the session once. For polling, the pending (or next) GET
    /// receives what the close leaves to say: the queued packets and `1` for
    /// a server close, `6` after a client `close`, `1` otherwise.
    pub(crate) fn close_with(&self, reason: CloseReason) {
        let linger;
        let polling;
        {
            let mut st = self.0.state.lock();
            polling = st.transport == TransportKind::Polling;
            if st.closed.is_some() {
                return;
            }
            if let Some(m) = &self.0.shared.config.metrics {
                m.closed(st.transport, self.0.protocol, reason);
            }
            st.closed = Some(reason);
            if !reason.is_server_initiated() {
                st.queue.clear();
                st.queued_bytes = 0;
            }
            let mut last_poll = false;
            if st.transport == TransportKind::Polling
                && (st.get_active || reason.is_server_initiated())
            {
                st.queue.push_back(Out::Packet(match reason {
                    CloseReason::TransportClose => Packet::Noop,
                    _ => Packet::Close,
                }));
                // Queued data goes out before the close packet, in its own
                // poll (as the reference, whose client handles a poll's
                // packets a tick late): then a later GET collects the `1`.
                last_poll = !st.get_active || (reason.is_server_initiated() && st.queue.len() > 1);
            }
            linger = last_poll;
            if linger {
                st.linger_until = Some(Instant::now() + self.0.shared.config.close_grace);
            }
        }
        // A lingering session stays findable for its last GET; any other
        // closed session is gone from the table at once.
        if !linger {
            self.0.shared.remove(&self.0.sid);
        }
        let span = tracing::info_span!("session", sid = %self.0.sid);
        let _span = span.enter();
        tracing::info!(sid = %self.0.sid, %reason, "session closed");
        self.0.writer.notify_waiters();
        self.0.driver.notify_waiters();
        // Not told when the handler never heard of it (closed within its
        // hand-over window) or when it is being told of it right now (then
        // told once `on_open` returned).
        if crate::cluster::handover::close_now(self) {
            self.0.shared.announce_close(self, reason);
        }
        // A polling session has no I/O loop to end it: unless it waits for
        // a last poll, it ends now (a WebSocket session ends with its loop).
        if polling && !linger {
            crate::engine::finish_session(self);
        }
    }

    /// Whether a refused request of this session should be logged: true the
    /// first time only.
    pub(crate) fn first_refusal(&self) -> bool {
        !std::mem::replace(&mut self.0.state.lock().refusal_logged, true)
    }

    /// Whether the session task may end: closed, and nothing left for a
    /// last poll to collect.
    pub(crate) fn is_finished(&self, now: Instant) -> bool {
        let st = self.0.state.lock();
        st.closed.is_some()
            && (st.transport == TransportKind::WebSocket
                || st.queue.is_empty()
                || st.linger_until.is_none_or(|t| now >= t))
    }

    /// Handles one packet from the client (polling POST or WebSocket).
    /// Returns false when the session is closed and reading should stop.
    pub(crate) fn on_client_packet(&self, packet: Packet) -> bool {
        if self.is_closed() {
            return false;
        }
        if let Some(m) = &self.0.shared.config.metrics {
            m.received(Out::packet_weight(&packet));
        }
        if !self.0.shared.events.packet.is_empty() {
            self.0.shared.events.packet(self, &packet);
        }
        match packet {
            Packet::Message(text) => self.dispatch(Message::Text(text)),
            Packet::Binary(data) => self.dispatch(Message::Binary(data)),
            Packet::Pong(_) if self.0.protocol == ProtocolVersion::V4 => {
                let (polling, next) = {
                    let mut st = self.0.state.lock();
                    st.heartbeat.on_pong(Instant::now(), &self.0.shared.config);
                    (
                        st.transport == TransportKind::Polling,
                        st.heartbeat.deadline(),
                    )
                };
                self.0.shared.events.heartbeat(self);
                if polling {
                    // The next ping may now be due before the timer's entry.
                    self.0
                        .shared
                        .polling_timer
                        .schedule(&self.0.shared, self, next);
                } else {
                    self.0.driver.notify_waiters();
                }
            }
            Packet::Ping(data) if self.0.protocol == ProtocolVersion::V3 => {
                self.0
                    .state
                    .lock()
                    .heartbeat
                    .on_client_ping(Instant::now(), &self.0.shared.config);
                self.0.driver.notify_waiters();
                let _ = self.push(Out::Packet(Packet::Pong(data)));
                self.0.shared.events.heartbeat(self);
            }
            // A ping from a v4 client or a pong from a v3 one: the heartbeat
            // goes the wrong way.
            Packet::Ping(_) | Packet::Pong(_) => self.close_with(CloseReason::TransportError),
            Packet::Close => self.close_with(CloseReason::TransportClose),
            // The reference ignores these on an established transport.
            Packet::Open(_) | Packet::Upgrade | Packet::Noop => {}
        }
        !self.is_closed()
    }

    fn dispatch(&self, message: Message) {
        if self.0.buffering.load(std::sync::atomic::Ordering::Acquire) {
            let mut deferred = self.0.deferred.lock();
            if let Some(early) = deferred.as_mut() {
                let config = &self.0.shared.config;
                let bytes = early
                    .bytes
                    .saturating_add(crate::cluster::handover::message_len(&message));
                if early.messages.len() >= config.max_buffered_packets
                    || bytes > config.max_buffered_bytes
                {
                    drop(deferred);
                    self.close_with(CloseReason::TransportError);
                } else {
                    early.bytes = bytes;
                    early.messages.push(message);
                }
                return;
            }
            drop(deferred);
            // Taken by a hand-over or a close: the handler never sees it.
            if !crate::cluster::handover::is_announced(self) {
                return;
            }
        }
        self.0.shared.handler.on_message(self, message);
    }
}
