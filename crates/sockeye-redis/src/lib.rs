//! Redis adapters for Sockeye, wire-compatible with Node's: the classic
//! and sharded adapters of `@socket.io/redis-adapter` 8.x
//! ([`RedisAdapterFactory`], [`ShardedAdapterFactory`]), the streams
//! adapter of `@socket.io/redis-streams-adapter` 0.3
//! ([`StreamsAdapterFactory`], with connection state recovery across
//! nodes) and the emitter of `@socket.io/redis-emitter` 5.x ([`Emitter`]).
//! Sockeye nodes and Node `socket.io` nodes on the same Redis, with the
//! matching adapter and the same names, serve one application together.
//!
//! ```no_run
//! use sockeye::SocketIo;
//! use sockeye_redis::{RedisAdapterConfig, RedisAdapterFactory};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let redis = RedisAdapterFactory::connect("redis://127.0.0.1:6379", RedisAdapterConfig::default()).await?;
//! let io = SocketIo::builder().adapter(redis.factory()).build()?;
//! // Reaches the clients of every node, Node's included.
//! io.to("room").emit("hello", &"world")?;
//! // One answer per other node.
//! let answers = io
//!     .server_side_emit_with_ack("ping", &(), std::time::Duration::from_secs(2))
//!     .await?;
//! # let _ = answers; Ok(()) }
//! ```
//!
//! # Wire compatibility (classic adapter, `createAdapter`)
//!
//! * Channels: `<key>#<nsp>#` and `<key>#<nsp>#<room>#` (broadcasts,
//!   `PSUBSCRIBE <key>#<nsp>#*`), `<key>-request#<nsp>#`,
//!   `<key>-response#<nsp>#` and `<key>-response#<nsp>#<uid>#`; `key`
//!   defaults to `socket.io`.
//! * Broadcasts: msgpack `[uid, {type, data, nsp}, {rooms, except, flags}]`
//!   as `notepack.io` writes it (binary as `bin`); a broadcast to exactly
//!   one room goes to that room's channel and is ignored by nodes without
//!   the room.
//! * Requests and responses: JSON, except BROADCAST (with acks) and
//!   BROADCAST_ACK in msgpack; a payload starting with `{` is read as JSON,
//!   anything else as msgpack. Every request type (0 to 9) is answered or
//!   applied, the legacy single-socket REMOTE_JOIN/LEAVE/DISCONNECT too.
//! * `server_count` is `PUBSUB NUMSUB <key>-request#<nsp>#`; requests
//!   time out after `requests_timeout` (5 s);
//!   `publish_on_specific_response_channel` as in the reference.
//!
//! Differences: this node applies its own `sockets_join` / `sockets_leave`
//! / `disconnect_sockets` at once instead of through its subscription (so
//! they work locally while Redis is down); `server_side_emit` fails at
//! once with a transport error while Redis is known to be down.
//!
//! # The emitter
//!
//! [`Emitter`] reaches the clients of every node from a process that
//! serves none, with the messages of `@socket.io/redis-emitter` 5.x (uid
//! `emitter`): emits with rooms / except / volatile, `sockets_join`,
//! `sockets_leave`, `disconnect_sockets`, `server_side_emit`. Messages of
//! Node's emitter reach Sockeye's clients the same way.
//!
//! # The sharded and streams adapters
//!
//! Both speak the messages of the reference's generic `ClusterAdapter`
//! (`{uid, nsp, type, data}`, types 1 to 13; see [`sharded`] and
//! [`streams`] for their channels, encodings and server counts). The
//! streams adapter carries the recoverable broadcasts in the stream: their
//! offset is the entry id, the same on every node, and a session persisted
//! by one node (Node's or Sockeye's) is restored by any other.
//!
//! Not yet: `streamCount` > 1 and `useShardedPubSub` of the streams
//! adapter, the heartbeat variant of `ClusterAdapter`, Redis Cluster
//! (several masters).
//!
//! # Redis outage
//!
//! Each node keeps serving its own clients. Publishes go through a bounded
//! queue (refused when full), requests fail with
//! [`sockeye_adapter::AdapterError`] within their timeout, and a watchdog
//! pings Redis every second until it is back; the connections then
//! reconnect and resubscribe by themselves. The outage and the recovery
//! are logged once each.

mod adapter;
mod cluster;
mod config;
mod emitter;
mod engine_bus;
mod link;
mod pending;
pub mod sharded;
pub mod streams;
mod streams_adapter;
mod wire;

pub use adapter::RedisAdapter;
pub use config::RedisAdapterConfig;
pub use emitter::{Emitter, EmitterError};
pub use engine_bus::{RedisBus, RedisBusConfig};
pub use link::RedisError;
pub use sharded::{ShardedAdapterConfig, ShardedAdapterFactory, SubscriptionMode};
pub use streams::{StreamsAdapterConfig, StreamsAdapterFactory};

use link::Link;
use sockeye_adapter::{Adapter, AdapterFactory};
use std::sync::Arc;

/// A node's connections to Redis, and the factory of its adapters (one
/// per namespace). Build it once per process.
#[derive(Debug, Clone)]
pub struct RedisAdapterFactory {
    link: Arc<Link>,
    config: RedisAdapterConfig,
}

impl RedisAdapterFactory {
    /// Connects to Redis (`redis://host:port/db`); fails with a clear error
    /// within the connect timeout when the URL is malformed or Redis does
    /// not answer. Must be called within a Tokio runtime, which then runs
    /// the adapters' tasks.
    pub async fn connect(url: &str, config: RedisAdapterConfig) -> Result<Self, RedisError> {
        let link = Link::connect(url, config.link.clone()).await?;
        Ok(RedisAdapterFactory { link, config })
    }

    /// The factory to give to `SocketIo::builder().adapter(...)`.
    pub fn factory(&self) -> AdapterFactory {
        let link = self.link.clone();
        let config = self.config.clone();
        Arc::new(move |ctx| {
            Arc::new(RedisAdapter::new(ctx, link.clone(), config.clone())) as Arc<dyn Adapter>
        })
    }

    /// Whether Redis answered the last exchange.
    pub fn is_connected(&self) -> bool {
        self.link.health.is_up()
    }

    /// How many times Redis stopped answering since [`Self::connect`] (for
    /// metrics).
    pub fn outages(&self) -> u64 {
        self.link.health.outages()
    }
}
