//! [`Emitter`]: reaches the clients of every node (Node's and Sockeye's)
//! from a process that serves none, as `@socket.io/redis-emitter` 5.x does:
//! the same messages, with the uid `emitter`.

use crate::link::RedisError;
use crate::wire::{self, RequestType, WirePacket, encode_json, object};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Serialize;
use sockeye_adapter::{BroadcastOptions, Room};
use sockeye_proto::sio::{PacketKind, Value, is_reserved_event};
use std::time::Duration;

/// The uid of emitter messages (nodes never ignore it as their own).
const UID: &str = "emitter";

/// What an emit can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitterError {
    /// A reserved event name (`connect`, `disconnect`...).
    #[error("\"{0}\" is a reserved event name")]
    ReservedEvent(String),
    /// The data does not serialize.
    #[error("data not serializable: {0}")]
    Data(String),
    /// Redis refused or did not answer.
    #[error("Redis: {0}")]
    Redis(String),
}

/// An emitter for one namespace; [`Emitter::of`] gives others. Cheap to
/// clone (one shared connection).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use sockeye_redis::Emitter;
/// let emitter = Emitter::connect("redis://127.0.0.1:6379").await?;
/// emitter.to("room1").emit("news", &"hello").await?;
/// emitter.of("/admin").sockets_join(&["staff"]).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Emitter {
    con: ConnectionManager,
    key: String,
    nsp: String,
    opts: BroadcastOptions,
}

impl Emitter {
    /// Connects with the default key prefix `socket.io`, namespace `/`.
    pub async fn connect(url: &str) -> Result<Self, RedisError> {
        Self::connect_with_key(url, "socket.io").await
    }

    /// Connects with a key prefix (the nodes' `key`).
    pub async fn connect_with_key(url: &str, key: &str) -> Result<Self, RedisError> {
        let client = redis::Client::open(url).map_err(|e| RedisError::InvalidUrl(e.to_string()))?;
        let timeout = Duration::from_secs(3);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let con = tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| RedisError::Connect(format!("no answer within {timeout:?}")))?
            .map_err(|e| RedisError::Connect(e.to_string()))?;
        Ok(Emitter {
            con,
            key: key.to_owned(),
            nsp: "/".to_owned(),
            opts: BroadcastOptions::default(),
        })
    }

    /// The same emitter for another namespace (`/` is added when missing).
    pub fn of(&self, nsp: &str) -> Self {
        let nsp = if nsp.starts_with('/') {
            nsp.to_owned()
        } else {
            format!("/{nsp}")
        };
        Emitter {
            con: self.con.clone(),
            key: self.key.clone(),
            nsp,
            opts: BroadcastOptions::default(),
        }
    }

    /// Adds target rooms.
    pub fn to(&self, room: impl Into<String>) -> Self {
        let mut e = self.clone();
        let room = Room::from(room.into());
        if !e.opts.rooms.contains(&room) {
            e.opts.rooms.push(room);
        }
        e
    }

    /// Skips sockets in a room.
    pub fn except(&self, room: impl Into<String>) -> Self {
        let mut e = self.clone();
        let room = Room::from(room.into());
        if !e.opts.except.contains(&room) {
            e.opts.except.push(room);
        }
        e
    }

    /// A volatile broadcast.
    pub fn volatile(&self) -> Self {
        let mut e = self.clone();
        e.opts.flags.volatile = true;
        e
    }

    async fn publish(&self, channel: String, payload: Vec<u8>) -> Result<(), EmitterError> {
        let mut con = self.con.clone();
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async::<i64>(&mut con)
            .await
            .map(|_| ())
            .map_err(|e| EmitterError::Redis(e.to_string()))
    }

    /// Emits an event with one argument to the selected clients of every
    /// node.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitterError> {
        self.emit_values(event, vec![to_value(data)?]).await
    }

    /// Emits an event with these arguments.
    pub async fn emit_values(&self, event: &str, args: Vec<Value>) -> Result<(), EmitterError> {
        if is_reserved_event(event) {
            return Err(EmitterError::ReservedEvent(event.to_owned()));
        }
        let mut data = vec![Value::from(event)];
        data.extend(args);
        let packet = WirePacket {
            kind: PacketKind::Event,
            nsp: self.nsp.clone(),
            id: None,
            data: Some(Value::Array(data)),
        };
        let mut channel = format!("{}#{}#", self.key, self.nsp);
        if let [room] = self.opts.rooms.as_slice() {
            channel.push_str(room);
            channel.push('#');
        }
        self.publish(channel, wire::broadcast_message(UID, &packet, &self.opts))
            .await
    }

    fn request_channel(&self) -> String {
        format!("{}-request#{}#", self.key, self.nsp)
    }

    async fn rooms_request(&self, kind: RequestType, rooms: &[&str]) -> Result<(), EmitterError> {
        let msg = object([
            ("type", kind.value()),
            ("opts", wire::opts_value(&self.opts)),
            ("rooms", wire::strings(rooms.iter().copied())),
        ]);
        self.publish(self.request_channel(), encode_json(&msg))
            .await
    }

    /// Makes the selected sockets of every node join rooms.
    pub async fn sockets_join(&self, rooms: &[&str]) -> Result<(), EmitterError> {
        self.rooms_request(RequestType::RemoteJoin, rooms).await
    }

    /// Makes the selected sockets of every node leave rooms.
    pub async fn sockets_leave(&self, rooms: &[&str]) -> Result<(), EmitterError> {
        self.rooms_request(RequestType::RemoteLeave, rooms).await
    }

    /// Disconnects the selected sockets of every node (`close`: their
    /// whole connection).
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitterError> {
        let msg = object([
            ("type", RequestType::RemoteDisconnect.value()),
            ("opts", wire::opts_value(&self.opts)),
            ("close", Value::Bool(close)),
        ]);
        self.publish(self.request_channel(), encode_json(&msg))
            .await
    }

    /// Sends an event to the servers of the namespace (acknowledgements
    /// are not supported, as in the reference).
    pub async fn server_side_emit(
        &self,
        event: &str,
        args: Vec<serde_json::Value>,
    ) -> Result<(), EmitterError> {
        let mut data = vec![serde_json::Value::from(event)];
        data.extend(args);
        let msg = object([
            ("uid", Value::from(UID)),
            ("type", RequestType::ServerSideEmit.value()),
            ("data", Value::from(serde_json::Value::Array(data))),
        ]);
        self.publish(self.request_channel(), encode_json(&msg))
            .await
    }
}

/// Any serializable value as a [`Value`] (binary kept: through msgpack,
/// where `serialize_bytes` is a `bin`).
fn to_value<T: Serialize + ?Sized>(data: &T) -> Result<Value, EmitterError> {
    let bytes = rmp_serde::to_vec_named(data).map_err(|e| EmitterError::Data(e.to_string()))?;
    wire::decode_msgpack(&bytes::Bytes::from(bytes)).map_err(|e| EmitterError::Data(e.to_string()))
}
