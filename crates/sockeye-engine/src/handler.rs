//! [`EngineHandler`]: the seam between the engine and the layer above it.

use crate::session::Session;
use bytes::Bytes;
use sockeye_proto::Str;

/// A message received from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Str),
    /// A binary message.
    Binary(Bytes),
}

/// Node's engine.io close `reason` (of `conn.on("close")`): why a session
/// ended, in the reference server's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client closed the connection or sent a `close` packet.
    TransportClose,
    /// The transport failed: aborted or overlapping poll, write error,
    /// wrong heartbeat direction, slow consumer.
    TransportError,
    /// No heartbeat answer in time.
    PingTimeout,
    /// A packet from the client could not be decoded.
    ParseError,
    /// The server closed the session ([`Session::close`]).
    ForcedClose,
    /// The server is shutting down ([`crate::Engine::close`]).
    ServerShuttingDown,
}

impl CloseReason {
    /// The reason string the reference server uses.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ParseError => "parse error",
            CloseReason::ForcedClose => "forced close",
            CloseReason::ServerShuttingDown => "server shutting down",
        }
    }

    /// Whether the server asked for this close (queued packets are still
    /// delivered before the transport closes).
    pub fn is_server_initiated(self) -> bool {
        matches!(
            self,
            CloseReason::ForcedClose | CloseReason::ServerShuttingDown
        )
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Receives the events of every session of an engine.
///
/// The methods are synchronous and called from the session's I/O task, in
/// the order the packets arrived; they must not block. Work that waits
/// (database calls, acknowledgements) belongs in a spawned task.
///
/// `on_open` is called once per session before any `on_message`, and
/// `on_close` exactly once; messages that arrive once the session is closed
/// are dropped.
pub trait EngineHandler: Send + Sync + 'static {
    /// A session was opened (the handshake succeeded).
    fn on_open(&self, session: &Session);
    /// A message arrived on a session.
    fn on_message(&self, session: &Session, message: Message);
    /// The session was closed.
    fn on_close(&self, session: &Session, reason: CloseReason);
}
