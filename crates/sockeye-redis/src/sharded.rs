//! The sharded adapter (`createShardedAdapter` of
//! `@socket.io/redis-adapter`): Redis 7 sharded pub/sub (`SPUBLISH` /
//! `SSUBSCRIBE`), with the messages of the generic `ClusterAdapter`.
//!
//! Channels: `<prefix>#<nsp>#` (every node), `<prefix>#<nsp>#<uid>#` (the
//! responses to one node), and in the dynamic modes
//! `<prefix>#<nsp>#<room>#` for each room with local sockets (public rooms
//! only in `dynamic`, every room in `dynamic-private`). A broadcast without
//! acks to exactly one room goes to that room's channel (in `dynamic`, not
//! when the room's name is 20 characters long: a socket id). Messages are
//! JSON, or msgpack when they carry binary; `server_count` is
//! `PUBSUB SHARDNUMSUB <prefix>#<nsp>#`.

use crate::cluster::{Bus, ClusterAdapter, Core, MessageType};
use crate::config::LinkOptions;
use crate::link::{Inbound, Link, PublishKind, RedisError};
use crate::wire::{self, encode_json, encode_msgpack};
use bytes::Bytes;
use parking_lot::Mutex;
use sockeye_adapter::{Adapter, AdapterError, AdapterFactory, BoxFuture, LocalAdapter, Room};
use sockeye_proto::sio::Value;
use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Which rooms get a channel of their own (`subscriptionMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SubscriptionMode {
    /// Only the main and response channels: every node gets every
    /// broadcast.
    Static,
    /// A channel per public room (the reference's default).
    #[default]
    Dynamic,
    /// A channel per room, socket ids included.
    DynamicPrivate,
}

/// Options of the sharded adapter, with the reference's defaults.
#[derive(Debug, Clone)]
pub struct ShardedAdapterConfig {
    channel_prefix: String,
    mode: SubscriptionMode,
    requests_timeout: Duration,
    link: LinkOptions,
    recovery: Option<sockeye_adapter::RecoveryConfig>,
}

impl Default for ShardedAdapterConfig {
    /// Prefix `socket.io`, mode `dynamic`, requests timeout 5 s.
    fn default() -> Self {
        ShardedAdapterConfig {
            channel_prefix: "socket.io".to_owned(),
            mode: SubscriptionMode::Dynamic,
            requests_timeout: Duration::from_secs(5),
            link: LinkOptions::default(),
            recovery: None,
        }
    }
}

impl ShardedAdapterConfig {
    /// The channel prefix (`channelPrefix`, default `socket.io`).
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.channel_prefix = prefix.into();
        self
    }

    /// The subscription mode (default [`SubscriptionMode::Dynamic`]).
    pub fn subscription_mode(mut self, mode: SubscriptionMode) -> Self {
        self.mode = mode;
        self
    }

    /// How long a request to the other nodes waits (default 5 s).
    pub fn requests_timeout(mut self, timeout: Duration) -> Self {
        self.requests_timeout = timeout;
        self
    }

    /// Per-node connection state recovery, as
    /// [`crate::RedisAdapterConfig::recovery`].
    pub fn recovery(mut self, config: sockeye_adapter::RecoveryConfig) -> Self {
        self.recovery = Some(config);
        self
    }
}

/// A node's connections to Redis and the factory of its sharded adapters.
#[derive(Debug, Clone)]
pub struct ShardedAdapterFactory {
    link: Arc<Link>,
    config: ShardedAdapterConfig,
}

impl ShardedAdapterFactory {
    /// Whether Redis answered the last exchange.
    pub fn is_connected(&self) -> bool {
        self.link.health.is_up()
    }

    /// How many times Redis stopped answering since `connect` (for
    /// metrics).
    pub fn outages(&self) -> u64 {
        self.link.health.outages()
    }

    /// Connects to Redis (7 or later); fails within the connect timeout.
    pub async fn connect(url: &str, config: ShardedAdapterConfig) -> Result<Self, RedisError> {
        let link = Link::connect(url, config.link.clone()).await?;
        Ok(ShardedAdapterFactory { link, config })
    }

    /// The factory to give to `SocketIo::builder().adapter(...)`.
    pub fn factory(&self) -> AdapterFactory {
        let link = self.link.clone();
        let config = self.config.clone();
        Arc::new(move |ctx| {
            let core = Arc::new(Core::new(
                ctx.clone(),
                match config.recovery {
                    Some(r) => LocalAdapter::with_recovery(ctx, r),
                    None => LocalAdapter::new(ctx),
                },
                config.requests_timeout,
                link.handle().clone(),
            ));
            let channel = format!("{}#{}#", config.channel_prefix, core.nsp);
            let bus = Arc::new(ShardedBus {
                link: link.clone(),
                response_channel: format!("{channel}{}#", core.uid),
                channel,
                mode: config.mode,
                to: Arc::downgrade(&core),
                rooms: Mutex::new(HashSet::new()),
            });
            core.set_bus(Arc::new(bus.clone()));
            let inbound: Weak<dyn Inbound> = Arc::downgrade(&(bus.clone() as Arc<dyn Inbound>));
            link.ssubscribe(
                vec![bus.channel.clone(), bus.response_channel.clone()],
                inbound,
            );
            Arc::new(ClusterAdapter(core)) as Arc<dyn Adapter>
        })
    }
}

struct ShardedBus {
    link: Arc<Link>,
    channel: String,
    response_channel: String,
    mode: SubscriptionMode,
    to: Weak<Core>,
    /// Room channels subscribed.
    rooms: Mutex<HashSet<String>>,
}

impl ShardedBus {
    fn room_channel(&self, room: &str) -> String {
        format!("{}{room}#", self.channel)
    }

    fn encode(message: &Value) -> Vec<u8> {
        let binary = MessageType::from_value(message.get("type"))
            .is_some_and(MessageType::may_contain_binary)
            && message.get("data").is_some_and(Value::has_binary);
        if binary {
            encode_msgpack(message)
        } else {
            encode_json(message)
        }
    }

    /// The channel of a message (see [`channel_of`]).
    fn channel_of(&self, message: &Value) -> String {
        channel_of(&self.channel, self.mode, message)
    }

    fn separate_channel(&self, private: bool) -> bool {
        match self.mode {
            SubscriptionMode::Static => false,
            SubscriptionMode::Dynamic => !private,
            SubscriptionMode::DynamicPrivate => true,
        }
    }

    fn inbound(self: &Arc<Self>) -> Weak<dyn Inbound> {
        Arc::downgrade(&(self.clone() as Arc<dyn Inbound>))
    }

    /// Forgets every channel of this adapter (idempotent).
    fn unsubscribe_all(&self) {
        let mut channels: Vec<String> = self.rooms.lock().drain().collect();
        channels.push(self.channel.clone());
        channels.push(self.response_channel.clone());
        self.link.sunsubscribe(channels, owner(self));
    }
}

/// The address that owns the bus's routes on the link.
fn owner(bus: &ShardedBus) -> *const () {
    std::ptr::from_ref(bus).cast()
}

/// An adapter dropped without `close()` (its server dropped while the
/// factory lives on) leaves its channels too: otherwise the other nodes
/// would count it as a server and wait for its answers.
impl Drop for ShardedBus {
    fn drop(&mut self) {
        self.unsubscribe_all();
    }
}

/// The channel of a message on `channel` (`<prefix>#<nsp>#`): a room's own
/// for a broadcast without acks to exactly one room (see the module docs).
fn channel_of(channel: &str, mode: SubscriptionMode, message: &Value) -> String {
    let data = message.get("data");
    let is_broadcast = MessageType::from_value(message.get("type")) == Some(MessageType::Broadcast);
    let without_ack = data.and_then(|d| d.get("requestId")).is_none();
    let rooms = data
        .and_then(|d| d.get("opts"))
        .and_then(|o| o.get("rooms"))
        .and_then(Value::as_array);
    if let (true, true, Some([room])) = (is_broadcast, without_ack, rooms) {
        if let Some(room) = room.as_str() {
            let dynamic = match mode {
                SubscriptionMode::Static => false,
                SubscriptionMode::Dynamic => room.chars().count() != 20,
                SubscriptionMode::DynamicPrivate => true,
            };
            if dynamic {
                return format!("{channel}{room}#");
            }
        }
    }
    channel.to_owned()
}

impl Inbound for ShardedBus {
    fn on_message(&self, _channel: &str, payload: Bytes) {
        let Some(core) = self.to.upgrade() else {
            return;
        };
        match wire::decode(&payload) {
            Ok(message) => core.on_message(message, None),
            Err(e) => tracing::debug!(error = %e, "malformed cluster message ignored"),
        }
    }
}

/// The bus itself is shared (`Arc`); subscriptions need a weak handle to
/// it, hence this wrapper.
impl Bus for Arc<ShardedBus> {
    fn publish(&self, message: &Value) -> Result<(), AdapterError> {
        self.link.publish(
            PublishKind::Sharded,
            self.channel_of(message),
            ShardedBus::encode(message),
        )
    }

    fn publish_response(&self, requester: &str, message: &Value) -> Result<(), AdapterError> {
        self.link.publish(
            PublishKind::Sharded,
            format!("{}{requester}#", self.channel),
            ShardedBus::encode(message),
        )
    }

    fn is_up(&self) -> bool {
        self.link.health.is_up()
    }

    fn server_count(&self) -> BoxFuture<Result<usize, AdapterError>> {
        let link = self.link.clone();
        let channel = self.channel.clone();
        Box::pin(async move { link.shardnumsub(&channel).await })
    }

    fn room_created(&self, room: &Room, private: bool) {
        if self.separate_channel(private) {
            let channel = self.room_channel(room);
            if self.rooms.lock().insert(channel.clone()) {
                self.link.ssubscribe(vec![channel], self.inbound());
            }
        }
    }

    fn room_deleted(&self, room: &Room) {
        let channel = self.room_channel(room);
        if self.rooms.lock().remove(&channel) {
            self.link.sunsubscribe(vec![channel], owner(self));
        }
    }

    fn flush(&self) -> BoxFuture<()> {
        let link = self.link.clone();
        Box::pin(async move { link.flush().await })
    }

    fn close(&self) {
        self.unsubscribe_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::object;

    fn broadcast(rooms: &[&str], with_ack: bool, binary: bool) -> Value {
        let arg = if binary {
            Value::Binary(Bytes::from_static(&[1]))
        } else {
            Value::from(1u32)
        };
        let mut data = vec![
            (
                "packet".to_owned(),
                object([
                    ("type", Value::from(2u32)),
                    ("data", Value::Array(vec![arg])),
                ]),
            ),
            (
                "opts".to_owned(),
                object([
                    ("rooms", wire::strings(rooms.iter().copied())),
                    ("except", Value::Array(Vec::new())),
                ]),
            ),
        ];
        if with_ack {
            data.push(("requestId".to_owned(), Value::from("r")));
        }
        object([("type", Value::from(3u32)), ("data", Value::Object(data))])
    }

    #[test]
    fn channels_as_the_reference_computes_them() {
        let main = "socket.io#/#";
        let id = "abcdefghij0123456789";
        let of = |mode, m: &Value| channel_of(main, mode, m);
        let dynamic = SubscriptionMode::Dynamic;
        assert_eq!(
            of(dynamic, &broadcast(&["r"], false, false)),
            "socket.io#/#r#"
        );
        assert_eq!(
            of(dynamic, &broadcast(&[id], false, false)),
            main,
            "a socket id"
        );
        assert_eq!(
            of(dynamic, &broadcast(&["r"], true, false)),
            main,
            "with acks"
        );
        assert_eq!(of(dynamic, &broadcast(&["r", "s"], false, false)), main);
        assert_eq!(of(dynamic, &broadcast(&[], false, false)), main);
        assert_eq!(
            of(SubscriptionMode::Static, &broadcast(&["r"], false, false)),
            main
        );
        assert_eq!(
            of(
                SubscriptionMode::DynamicPrivate,
                &broadcast(&[id], false, false)
            ),
            format!("{main}{id}#")
        );
        // JSON unless the data holds binary.
        assert_eq!(ShardedBus::encode(&broadcast(&[], false, false))[0], b'{');
        assert_ne!(ShardedBus::encode(&broadcast(&[], false, true))[0], b'{');
    }
}
