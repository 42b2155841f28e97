//! [`RemoteSocket`]: a socket as `fetch_sockets` returns it, on this node
//! or another one.

use crate::error::{AckError, EmitError};
use crate::namespace::Namespace;
use crate::rooms::IntoRooms;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sockeye_adapter::SocketInfo;
use sockeye_proto::Str;
use std::time::Duration;

/// Node's `RemoteSocket` (what `fetchSockets()` returns): a socket described by `fetch_sockets`: its id, handshake, rooms and
/// data, and the operations that work wherever it is connected (they go
/// through the adapter, so they reach other nodes too).
#[derive(Debug, Clone)]
pub struct RemoteSocket {
    info: SocketInfo,
    ns: Namespace,
}

impl RemoteSocket {
    pub(crate) fn new(info: SocketInfo, ns: Namespace) -> Self {
        RemoteSocket { info, ns }
    }

    /// Node's `remoteSocket.id`: the socket id, as its client knows it (`<nsp>#<engine sid>` for a
    /// Socket.IO 2.x socket on a namespace other than `/`); also the name
    /// of its own room.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// Node's `remoteSocket.handshake`: the handshake, in the reference's shape.
    pub fn handshake(&self) -> &serde_json::Value {
        &self.info.handshake
    }

    /// Node's `remoteSocket.rooms`: the rooms, its own included.
    pub fn rooms(&self) -> &[String] {
        &self.info.rooms
    }

    /// Node's `remoteSocket.data`: the socket's data store, read as `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(self.info.data.clone())
    }

    fn room(&self) -> Str {
        Str::from(self.info.id.clone())
    }

    /// Node's `remoteSocket.emit(ev, data)`: emits to this socket.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.ns.to(self.room()).emit(event, data)
    }

    /// Node's `remoteSocket.timeout(ms).emitWithAck(ev, data)`: emits and waits for this socket's acknowledgement, on whichever
    /// node it is connected (the broadcast goes through the adapter).
    pub async fn emit_with_ack<T: Serialize + ?Sized, R: crate::FromAck>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> Result<R, AckError> {
        match self
            .ns
            .to(self.room())
            .timeout(timeout)
            .emit_with_ack::<T, R>(event, data)
            .await
        {
            Ok(mut answers) if !answers.is_empty() => Ok(answers.swap_remove(0).value),
            Ok(_) => Err(AckError::Disconnected),
            // It answered; only another node failed to report in time.
            Err(mut e) if !e.responses.is_empty() => Ok(e.responses.swap_remove(0).value),
            Err(_) => Err(AckError::Timeout),
        }
    }

    /// Node's `remoteSocket.join(rooms)`: makes the socket join rooms.
    pub fn join(&self, rooms: impl IntoRooms) {
        self.ns.to(self.room()).sockets_join(rooms);
    }

    /// Node's `remoteSocket.leave(room)`: makes the socket leave rooms.
    pub fn leave(&self, rooms: impl IntoRooms) {
        self.ns.to(self.room()).sockets_leave(rooms);
    }

    /// Node's `remoteSocket.disconnect(close)`: disconnects the socket (`close`: its whole connection).
    pub fn disconnect(&self, close: bool) {
        self.ns.to(self.room()).disconnect_sockets(close);
    }
}
