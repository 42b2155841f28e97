//! Errors of the Socket.IO layer.

use crate::broadcast_ack::AckResponse;
use crate::id::SocketId;
use sockeye_proto::sio::PayloadError;

/// Why an emit failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The event name is reserved (`connect`, `connect_error`,
    /// `disconnect`, `disconnecting`, `newListener`, `removeListener`).
    #[error("{0:?} is a reserved event name")]
    ReservedEvent(String),
    /// The data could not be serialized.
    #[error("could not encode the packet: {0}")]
    Encode(#[from] PayloadError),
    /// The socket is disconnected.
    #[error("the socket is disconnected")]
    Disconnected,
    /// The socket's send queue was full; its connection was closed.
    #[error("the send queue is full")]
    QueueFull,
}

/// Why an acknowledgement did not arrive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// The emit itself failed.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// No answer in time (the reference's message).
    #[error("operation has timed out")]
    Timeout,
    /// The answer did not deserialize into the requested type.
    #[error("unexpected acknowledgement payload: {0}")]
    Payload(#[from] PayloadError),
    /// The socket disconnected before answering.
    #[error("the socket disconnected before answering")]
    Disconnected,
    /// Too many acknowledgements are pending on this socket.
    #[error("too many pending acknowledgements")]
    TooManyPending,
}

/// A broadcast with acknowledgements that did not hear from every
/// recipient in time ([`crate::BroadcastOperator::emit_with_ack`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "operation has timed out: {} answered, {} local and {} remote missing{}",
    responses.len(),
    missing.len(),
    missing_remote,
    silent_nodes_note(*silent_nodes)
)]
#[non_exhaustive]
pub struct BroadcastAckError<T> {
    /// The answers that arrived: those of this node's sockets with their
    /// id, those relayed by other nodes without.
    pub responses: Vec<AckResponse<T>>,
    /// The sockets of this node that did not answer in time.
    pub missing: Vec<SocketId>,
    /// How many answers the other nodes announced (their client counts)
    /// and did not relay in time.
    pub missing_remote: usize,
    /// How many other nodes did not even report how many clients they sent
    /// the packet to (their clients are not counted in `missing_remote`).
    pub silent_nodes: usize,
}

fn silent_nodes_note(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => ", 1 other node did not report its clients".to_owned(),
        n => format!(", {n} other nodes did not report their clients"),
    }
}

/// Errors from building the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An Engine.IO option is invalid.
    #[error(transparent)]
    Engine(#[from] sockeye_engine::EngineError),
}

/// A join refused by [`crate::SocketIoBuilder::max_rooms_per_socket`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many rooms: a socket may be in at most {max} (its own aside)")]
pub struct TooManyRooms {
    /// The configured maximum.
    pub max: usize,
}
