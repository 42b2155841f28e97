//! The streams adapter (`@socket.io/redis-streams-adapter` 0.3): durable
//! messages in a Redis stream, ephemeral ones on pub/sub, and connection
//! state recovery across nodes (sessions under `sio:session:<pid>`,
//! offsets that are stream entry ids).
//!
//! * Durable messages (broadcasts without acks, joins, leaves,
//!   disconnects): `XADD <stream> MAXLEN ~ <maxLen> * uid U nsp N type T
//!   data D`, `D` being the JSON of the data, or base64 of its msgpack
//!   when it holds binary. Each node reads the stream with one reader
//!   (`XREAD COUNT 100 BLOCK 1000`), from the last entry at start and then
//!   from the last entry it read, also after a Redis disconnection.
//! * Ephemeral messages (broadcasts with acks, server-side emits, fetches):
//!   msgpack on `<prefix>#<nsp>#`; responses on `<prefix>#<nsp>#<uid>#`;
//!   `server_count` is `PUBSUB NUMSUB <prefix>#<nsp>#`.
//! * Recovery: a broadcast's offset is its entry id, the same on every
//!   node; `persist_session` is `SET <prefix><pid> <base64 msgpack> PX`;
//!   `restore_session` takes the session once (`GETDEL`), checks that the
//!   offset is still in the stream and collects the broadcasts after it
//!   that match the session's rooms.

use crate::cluster::{Bus, ClusterAdapter, Core, MessageType};
use crate::config::LinkOptions;
use crate::link::{Inbound, Link, PublishKind, RedisError};
use crate::streams_adapter::{Queued, StreamsAdapter};
use crate::wire::{self, as_string, encode_json, encode_msgpack};
use bytes::Bytes;
use parking_lot::RwLock;
use redis::AsyncCommands;
use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use sockeye_adapter::{
    Adapter, AdapterError, AdapterFactory, BoxFuture, LocalAdapter, RecoveryConfig,
};
use sockeye_proto::sio::Value;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// The offset the namespace writes in a recoverable broadcast before the
/// stream gives the real one (replaced before any client sees it).
pub(crate) const PENDING_OFFSET: &str = "\u{0}sockeye-pending-offset";
/// Most `XRANGE` pages read to restore one session (as the reference).
pub(crate) const RESTORE_MAX_PAGES: usize = 100;

/// Options of the streams adapter, with the reference's defaults.
#[derive(Debug, Clone)]
pub struct StreamsAdapterConfig {
    stream_name: String,
    channel_prefix: String,
    max_len: usize,
    read_count: usize,
    session_key_prefix: String,
    requests_timeout: Duration,
    recovery: Option<RecoveryConfig>,
    link: LinkOptions,
}

impl Default for StreamsAdapterConfig {
    /// Stream `socket.io`, channel prefix `socket.io`, `maxLen` 10,000,
    /// read count 100, session keys `sio:session:`, requests timeout 5 s,
    /// no recovery.
    fn default() -> Self {
        StreamsAdapterConfig {
            stream_name: "socket.io".to_owned(),
            channel_prefix: "socket.io".to_owned(),
            max_len: 10_000,
            read_count: 100,
            session_key_prefix: "sio:session:".to_owned(),
            requests_timeout: Duration::from_secs(5),
            recovery: None,
            link: LinkOptions::default(),
        }
    }
}

impl StreamsAdapterConfig {
    /// The stream (`streamName`, default `socket.io`).
    pub fn stream_name(mut self, name: impl Into<String>) -> Self {
        self.stream_name = name.into();
        self
    }

    /// The prefix of the pub/sub channels (default `socket.io`).
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.channel_prefix = prefix.into();
        self
    }

    /// The approximate length the stream is trimmed to (default 10,000).
    pub fn max_len(mut self, n: usize) -> Self {
        self.max_len = n.max(1);
        self
    }

    /// How long a request to the other nodes waits (default 5 s).
    pub fn requests_timeout(mut self, timeout: Duration) -> Self {
        self.requests_timeout = timeout;
        self
    }

    /// Connection state recovery across nodes: give the server the same
    /// config with `connection_state_recovery`.
    pub fn recovery(mut self, config: RecoveryConfig) -> Self {
        self.recovery = Some(config);
        self
    }
}

type Registry = RwLock<HashMap<String, Weak<StreamsBus>>>;

/// A node's connections to Redis, its stream reader, and the factory of
/// its streams adapters.
#[derive(Debug, Clone)]
pub struct StreamsAdapterFactory {
    link: Arc<Link>,
    config: StreamsAdapterConfig,
    registry: Arc<Registry>,
}

impl StreamsAdapterFactory {
    /// Whether Redis answered the last exchange.
    pub fn is_connected(&self) -> bool {
        self.link.health.is_up()
    }

    /// How many times Redis stopped answering since `connect` (for
    /// metrics).
    pub fn outages(&self) -> u64 {
        self.link.health.outages()
    }

    /// Connects to Redis and starts this node's stream reader.
    pub async fn connect(url: &str, config: StreamsAdapterConfig) -> Result<Self, RedisError> {
        let link = Link::connect(url, config.link.clone()).await?;
        let client = redis::Client::open(url).map_err(|e| RedisError::InvalidUrl(e.to_string()))?;
        let reader_config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.link.connect_timeout))
            .set_response_timeout(Some(Duration::from_secs(4)))
            .set_number_of_retries(1);
        let reader = tokio::time::timeout(
            config.link.connect_timeout,
            redis::aio::ConnectionManager::new_with_config(client, reader_config),
        )
        .await
        .map_err(|_| RedisError::Connect("no answer".to_owned()))?
        .map_err(|e| RedisError::Connect(e.to_string()))?;
        let registry: Arc<Registry> = Arc::default();
        tokio::spawn(read_stream(
            Arc::downgrade(&registry),
            Arc::downgrade(&link),
            reader,
            config.stream_name.clone(),
            config.read_count,
        ));
        Ok(StreamsAdapterFactory {
            link,
            config,
            registry,
        })
    }

    /// The factory to give to `SocketIo::builder().adapter(...)`.
    pub fn factory(&self) -> AdapterFactory {
        let link = self.link.clone();
        let config = self.config.clone();
        let registry = self.registry.clone();
        Arc::new(move |ctx| {
            let core = Arc::new(Core::new(
                ctx.clone(),
                LocalAdapter::new(ctx),
                config.requests_timeout,
                link.handle().clone(),
            ));
            let public = format!("{}#{}#", config.channel_prefix, core.nsp);
            let bus = Arc::new(StreamsBus {
                link: link.clone(),
                nsp: core.nsp.to_string(),
                private: format!("{public}{}#", core.uid),
                public,
                config: config.clone(),
                to: Arc::downgrade(&core),
                registry: Arc::downgrade(&registry),
                ordered: parking_lot::Mutex::new(None),
            });
            core.set_bus(Arc::new(bus.clone()));
            registry
                .write()
                .insert(bus.nsp.clone(), Arc::downgrade(&bus));
            let inbound: Weak<dyn Inbound> = Arc::downgrade(&(bus.clone() as Arc<dyn Inbound>));
            link.subscribe(
                vec![bus.public.clone(), bus.private.clone()],
                vec![],
                inbound,
            );
            Arc::new(StreamsAdapter {
                cluster: ClusterAdapter(core),
                bus,
            }) as Arc<dyn Adapter>
        })
    }
}

pub(crate) struct StreamsBus {
    pub(crate) link: Arc<Link>,
    /// The namespace (its key in the registry).
    nsp: String,
    public: String,
    private: String,
    config: StreamsAdapterConfig,
    pub(crate) to: Weak<Core>,
    registry: Weak<Registry>,
    /// The queue of recoverable broadcasts waiting for their stream id.
    pub(crate) ordered: parking_lot::Mutex<Option<mpsc::Sender<Queued>>>,
}

impl StreamsBus {
    /// Leaves the registry (if this bus is still the one registered for
    /// its namespace) and forgets its channels (idempotent).
    fn unsubscribe_all(&self) {
        let owner: *const () = std::ptr::from_ref(self).cast();
        if let Some(registry) = self.registry.upgrade() {
            let mut registry = registry.write();
            let mine = registry
                .get(&self.nsp)
                .is_some_and(|w| std::ptr::eq(w.as_ptr().cast::<()>(), owner));
            if mine {
                registry.remove(&self.nsp);
            }
        }
        self.link.unsubscribe(
            vec![self.public.clone(), self.private.clone()],
            vec![],
            owner,
        );
    }
}

/// An adapter dropped without `close()` (its server dropped while the
/// factory lives on) leaves its channels and the registry too.
impl Drop for StreamsBus {
    fn drop(&mut self) {
        self.unsubscribe_all();
    }
}

/// Whether a message travels on pub/sub rather than in the stream.
fn is_ephemeral(message: &Value) -> bool {
    match MessageType::from_value(message.get("type")) {
        Some(MessageType::Broadcast) => message
            .get("data")
            .and_then(|d| d.get("requestId"))
            .is_some(),
        Some(MessageType::ServerSideEmit | MessageType::FetchSockets) => true,
        _ => false,
    }
}

fn base64() -> impl base64::Engine {
    base64::engine::general_purpose::STANDARD
}

impl StreamsBus {
    /// Whether connection state recovery is on.
    pub(crate) fn config_recovery(&self) -> bool {
        self.config.recovery.is_some()
    }

    /// The recovery options, when on.
    pub(crate) fn recovery(&self) -> Option<RecoveryConfig> {
        self.config.recovery
    }

    /// The key of a persisted session.
    pub(crate) fn session_key(&self, pid: &str) -> String {
        format!("{}{pid}", self.config.session_key_prefix)
    }

    /// The stream.
    pub(crate) fn stream_name(&self) -> &str {
        &self.config.stream_name
    }

    /// The `XADD` of a durable message.
    pub(crate) fn xadd(&self, message: &Value) -> redis::Cmd {
        let kind = MessageType::from_value(message.get("type"));
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.config.stream_name)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.config.max_len)
            .arg("*")
            .arg("uid")
            .arg(message.get("uid").and_then(as_string).unwrap_or_default())
            .arg("nsp")
            .arg(message.get("nsp").and_then(as_string).unwrap_or_default())
            .arg("type")
            .arg(kind.map_or(0, |k| k as u8).to_string());
        if let Some(data) = message.get("data") {
            let binary = kind.is_some_and(MessageType::may_contain_binary) && data.has_binary();
            let encoded = if binary {
                base64::Engine::encode(&base64(), encode_msgpack(data))
            } else {
                String::from_utf8(encode_json(data)).unwrap_or_default()
            };
            cmd.arg("data").arg(encoded);
        }
        cmd
    }

    /// A stream entry back into a message.
    pub(crate) fn decode_entry(fields: &HashMap<String, redis::Value>) -> Option<Value> {
        let text = |k: &str| -> Option<String> {
            fields
                .get(k)
                .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
        };
        let kind: u32 = text("type")?.parse().ok()?;
        let mut entries = vec![
            (
                "uid".to_owned(),
                Value::from(text("uid").unwrap_or_default()),
            ),
            ("nsp".to_owned(), Value::from(text("nsp")?)),
            ("type".to_owned(), Value::from(kind)),
        ];
        if let Some(data) = text("data") {
            let value = if data.starts_with('{') {
                serde_json::from_str::<Value>(&data).ok()?
            } else {
                let raw = base64::Engine::decode(&base64(), data.as_bytes()).ok()?;
                wire::decode_msgpack(&Bytes::from(raw)).ok()?
            };
            entries.push(("data".to_owned(), value));
        }
        Some(Value::Object(entries))
    }

    fn on_entry(&self, fields: &HashMap<String, redis::Value>, id: &str) {
        let Some(core) = self.to.upgrade() else {
            return;
        };
        if let Some(message) = Self::decode_entry(fields) {
            let offset = self.config.recovery.is_some().then_some(id);
            core.on_message(message, offset);
        }
    }
}

impl Inbound for StreamsBus {
    fn on_message(&self, _channel: &str, payload: Bytes) {
        let Some(core) = self.to.upgrade() else {
            return;
        };
        match wire::decode_msgpack(&payload) {
            Ok(message) => core.on_message(message, None),
            Err(e) => tracing::debug!(error = %e, "malformed cluster message ignored"),
        }
    }
}

impl Bus for Arc<StreamsBus> {
    fn publish(&self, message: &Value) -> Result<(), AdapterError> {
        if is_ephemeral(message) {
            self.link.publish(
                PublishKind::Classic,
                self.public.clone(),
                encode_msgpack(message),
            )
        } else {
            self.link.send(self.xadd(message))
        }
    }

    fn publish_response(&self, requester: &str, message: &Value) -> Result<(), AdapterError> {
        self.link.publish(
            PublishKind::Classic,
            format!("{}{requester}#", self.public),
            encode_msgpack(message),
        )
    }

    fn is_up(&self) -> bool {
        self.link.health.is_up()
    }

    fn server_count(&self) -> BoxFuture<Result<usize, AdapterError>> {
        let link = self.link.clone();
        let channel = self.public.clone();
        Box::pin(async move { link.numsub(&channel).await })
    }

    fn flush(&self) -> BoxFuture<()> {
        let bus = self.clone();
        Box::pin(async move {
            // The recoverable broadcasts first: their XADDs are not in the
            // link's queue.
            bus.flush_ordered().await;
            bus.link.flush().await;
        })
    }

    fn close(&self) {
        self.unsubscribe_all();
    }
}

/// This node's reader of the stream: from its last entry at start, then
/// from the last entry read (also after a disconnection).
async fn read_stream(
    registry: Weak<Registry>,
    link: Weak<Link>,
    mut con: redis::aio::ConnectionManager,
    stream: String,
    count: usize,
) {
    let mut last: Option<String> = None;
    let options = StreamReadOptions::default().count(count).block(1000);
    loop {
        let Some(registry) = registry.upgrade() else {
            return;
        };
        let from = match &last {
            Some(id) => id.clone(),
            None => {
                let top: redis::RedisResult<StreamRangeReply> =
                    con.xrevrange_count(&stream, "+", "-", 1).await;
                match top {
                    Ok(r) => {
                        let id = r.ids.first().map_or("0-0".to_owned(), |e| e.id.clone());
                        last = Some(id.clone());
                        id
                    }
                    Err(e) => {
                        if let Some(l) = link.upgrade() {
                            l.health.failed("stream", &e);
                        }
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                }
            }
        };
        let read: redis::RedisResult<Option<StreamReadReply>> =
            con.xread_options(&[&stream], &[&from], &options).await;
        match read {
            Ok(Some(reply)) => {
                for key in reply.keys {
                    for entry in key.ids {
                        let nsp = entry
                            .map
                            .get("nsp")
                            .and_then(|v| redis::from_redis_value_ref::<String>(v).ok());
                        let bus = nsp.and_then(|n| registry.read().get(&n).and_then(Weak::upgrade));
                        if let Some(bus) = bus {
                            bus.on_entry(&entry.map, &entry.id);
                        }
                        last = Some(entry.id);
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                if let Some(l) = link.upgrade() {
                    l.health.failed("stream", &e);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
