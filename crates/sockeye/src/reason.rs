//! [`DisconnectReason`]: why a socket left its namespace.

use sockeye_engine::CloseReason;

/// Node's `DisconnectReason` (the `reason` of `socket.on("disconnect")`):
/// why a socket was disconnected, with the reference server's exact strings
/// ([`DisconnectReason::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client closed the connection (`transport close`).
    TransportClose,
    /// The connection failed (`transport error`).
    TransportError,
    /// The server closed the connection (`forced close`).
    ForcedClose,
    /// No heartbeat in time (`ping timeout`).
    PingTimeout,
    /// A packet could not be decoded (`parse error`).
    ParseError,
    /// The server is shutting down (`server shutting down`).
    ServerShuttingDown,
    /// The server closed the connection for a protocol violation or a
    /// connect timeout (`forced server close`).
    ForcedServerClose,
    /// The client left the namespace (`client namespace disconnect`).
    ClientNamespaceDisconnect,
    /// The server called `disconnect` (`server namespace disconnect`).
    ServerNamespaceDisconnect,
    /// The client went over a rate limit too often (`rate limited`; not in
    /// the reference). The client sees a server disconnect.
    RateLimited,
}

impl DisconnectReason {
    /// The reason string of the reference server.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ServerShuttingDown => "server shutting down",
            DisconnectReason::ForcedServerClose => "forced server close",
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::RateLimited => "rate limited",
        }
    }

    /// Whether a session closed for this reason may be recovered (the
    /// reference's list for connection state recovery).
    pub fn is_recoverable(self) -> bool {
        matches!(
            self,
            DisconnectReason::TransportError
                | DisconnectReason::TransportClose
                | DisconnectReason::ForcedClose
                | DisconnectReason::PingTimeout
                | DisconnectReason::ServerShuttingDown
                | DisconnectReason::ForcedServerClose
        )
    }
}

impl From<CloseReason> for DisconnectReason {
    fn from(r: CloseReason) -> Self {
        match r {
            CloseReason::TransportClose => DisconnectReason::TransportClose,
            CloseReason::TransportError => DisconnectReason::TransportError,
            CloseReason::PingTimeout => DisconnectReason::PingTimeout,
            CloseReason::ParseError => DisconnectReason::ParseError,
            CloseReason::ServerShuttingDown => DisconnectReason::ServerShuttingDown,
            _ => DisconnectReason::ForcedClose,
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
