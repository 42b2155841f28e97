//! [`Link`]: one node's connections to Redis, shared by the adapters of
//! all its namespaces.
//!
//! * Publishing goes through a bounded queue to one task, which sends what
//!   is queued as one pipeline: a broadcast costs the caller a `try_send`,
//!   and a Redis outage cannot make the queue grow (a full queue refuses).
//! * Subscriptions live on a RESP3 connection manager with automatic
//!   resubscription; its pushes go through a bounded queue to one dispatch
//!   task, which hands each message to the adapter that owns the channel.
//! * A watchdog pings both connections (every second while Redis is
//!   unreachable, which also makes the managers reconnect) and logs the
//!   outage and the recovery once each.

use crate::config::LinkOptions;
use bytes::Bytes;
use parking_lot::RwLock;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value as RedisValue};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

mod shard;

use shard::{ShardChannels, shard_subscriptions};

/// Why Redis could not be reached or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(String),
    /// Redis did not answer in time or refused the connection.
    #[error("cannot connect to Redis: {0}")]
    Connect(String),
}

/// A message from a subscription, for the adapter that owns its channel.
pub(crate) trait Inbound: Send + Sync + 'static {
    /// A message on `channel` (`pattern`: the pattern that matched).
    fn on_message(&self, channel: &str, payload: Bytes);
}

/// How a message is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PublishKind {
    /// `PUBLISH`.
    Classic,
    /// `SPUBLISH` (Redis 7 sharded pub/sub).
    Sharded,
}

/// What the publisher task is given.
enum Outgoing {
    /// A command (`PUBLISH`, `SPUBLISH`, `XADD`, `SET`).
    Cmd(redis::Cmd),
    /// Told once every command queued before it was sent (see
    /// [`Link::flush`]).
    Flushed(tokio::sync::oneshot::Sender<()>),
}

#[derive(Default)]
struct Routes {
    /// Exact channels (`SUBSCRIBE` / `SSUBSCRIBE`).
    exact: HashMap<String, Weak<dyn Inbound>>,
    /// Patterns (`PSUBSCRIBE`).
    patterns: HashMap<String, Weak<dyn Inbound>>,
}

/// Whether Redis answers, with the outage and the recovery logged once.
#[derive(Debug)]
pub(crate) struct Health {
    up: AtomicBool,
    /// Times Redis went from answering to not answering.
    outages: AtomicU64,
}

impl Health {
    fn new() -> Self {
        Health {
            up: AtomicBool::new(true),
            outages: AtomicU64::new(0),
        }
    }

    /// Whether the last exchange with Redis worked.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub(crate) fn failed(&self, what: &str, error: &dyn fmt::Display) {
        if self.up.swap(false, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, "Redis unreachable ({what}): cluster operations fail until it is back; local clients are still served");
        }
    }

    /// Times Redis stopped answering since the link was made.
    pub(crate) fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }

    pub(crate) fn worked(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            tracing::info!("Redis reachable again: cluster operations resume");
        }
    }
}

/// One node's connections to Redis.
pub(crate) struct Link {
    commands: ConnectionManager,
    subscriber: ConnectionManager,
    outgoing: mpsc::Sender<Outgoing>,
    routes: RwLock<Routes>,
    pub(crate) health: Health,
    /// Shard channels (`SSUBSCRIBE`), which the connection manager does not
    /// resubscribe by itself: one task applies their changes in order.
    sharded: parking_lot::Mutex<ShardChannels>,
    /// Wakes the task of the shard channels (capacity 1: one wake-up is
    /// enough for any number of changes).
    shard_changes: mpsc::Sender<()>,
    resubscribe_sharded: AtomicBool,
    dropped_pushes: Arc<AtomicU64>,
    options: LinkOptions,
    handle: tokio::runtime::Handle,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

fn manager_config(options: &LinkOptions) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(options.connect_timeout))
        .set_response_timeout(Some(options.command_timeout))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500))
}

impl Link {
    /// Connects (two connections: commands and subscriptions) and starts
    /// the publisher, dispatcher and watchdog tasks on the current runtime.
    pub(crate) async fn connect(url: &str, options: LinkOptions) -> Result<Arc<Link>, RedisError> {
        let info = url
            .into_connection_info()
            .map_err(|e| RedisError::InvalidUrl(e.to_string()))?;
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let sub_info = info.clone().set_redis_settings(resp3);
        let connect_err = |e: redis::RedisError| RedisError::Connect(e.to_string());
        let commands_client = Client::open(info).map_err(connect_err)?;
        let sub_client = Client::open(sub_info).map_err(connect_err)?;

        let (push_tx, push_rx) = mpsc::channel::<PushInfo>(options.max_queued_messages);
        let dropped_pushes = Arc::new(AtomicU64::new(0));
        let dropped = dropped_pushes.clone();
        let sub_config = manager_config(&options)
            .set_push_sender(move |info: PushInfo| {
                if push_tx.try_send(info).is_err() {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<(), ()>(())
            })
            .set_automatic_resubscription();
        let timeout = options.connect_timeout;
        let timed_out = || RedisError::Connect(format!("no answer within {timeout:?}"));
        let commands = tokio::time::timeout(
            timeout,
            ConnectionManager::new_with_config(commands_client, manager_config(&options)),
        )
        .await
        .map_err(|_| timed_out())?
        .map_err(connect_err)?;
        let subscriber = tokio::time::timeout(
            timeout,
            ConnectionManager::new_with_config(sub_client, sub_config),
        )
        .await
        .map_err(|_| timed_out())?
        .map_err(connect_err)?;

        let (outgoing, outgoing_rx) = mpsc::channel(options.max_queued_publishes);
        let (shard_changes, shard_changes_rx) = mpsc::channel(1);
        let link = Arc::new(Link {
            commands,
            subscriber,
            outgoing,
            routes: RwLock::new(Routes::default()),
            health: Health::new(),
            sharded: parking_lot::Mutex::new(ShardChannels::default()),
            shard_changes,
            resubscribe_sharded: AtomicBool::new(false),
            dropped_pushes,
            options,
            handle: tokio::runtime::Handle::current(),
        });
        tokio::spawn(publisher(
            Arc::downgrade(&link),
            link.commands.clone(),
            outgoing_rx,
        ));
        tokio::spawn(dispatcher(Arc::downgrade(&link), push_rx));
        tokio::spawn(watchdog(Arc::downgrade(&link)));
        tokio::spawn(shard_subscriptions(Arc::downgrade(&link), shard_changes_rx));
        Ok(link)
    }

    /// The runtime the link's tasks run on.
    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// The connection for commands that need their answer.
    pub(crate) fn commands(&self) -> ConnectionManager {
        self.commands.clone()
    }

    /// Queues a publish; refused when the queue is full (Redis slow or
    /// unreachable).
    pub(crate) fn publish(
        &self,
        kind: PublishKind,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), sockeye_adapter::AdapterError> {
        let mut cmd = redis::cmd(match kind {
            PublishKind::Classic => "PUBLISH",
            PublishKind::Sharded => "SPUBLISH",
        });
        cmd.arg(channel).arg(payload);
        self.send(cmd)
    }

    /// Queues any write (an `XADD`), as [`Link::publish`].
    pub(crate) fn send(&self, cmd: redis::Cmd) -> Result<(), sockeye_adapter::AdapterError> {
        self.outgoing.try_send(Outgoing::Cmd(cmd)).map_err(|e| {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "the publish queue is full",
                mpsc::error::TrySendError::Closed(_) => "the Redis link is closed",
            };
            self.health.failed("publish", &why);
            sockeye_adapter::AdapterError::Transport(format!("Redis: {why}"))
        })
    }

    /// Resolves once every command queued before the call (by
    /// [`Link::publish`] and [`Link::send`]) has been sent to Redis and
    /// answered, or failed; at once if the publisher is gone. Waits for
    /// room in a full queue: the caller bounds it in time.
    pub(crate) async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.outgoing.send(Outgoing::Flushed(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Routes `channels` to `to` and subscribes (retrying while Redis is
    /// unreachable, as long as `to` lives).
    pub(crate) fn subscribe(
        &self,
        channels: Vec<String>,
        patterns: Vec<String>,
        to: Weak<dyn Inbound>,
    ) {
        {
            let mut routes = self.routes.write();
            for c in &channels {
                routes.exact.insert(c.clone(), to.clone());
            }
            for p in &patterns {
                routes.patterns.insert(p.clone(), to.clone());
            }
        }
        let mut sub = self.subscriber.clone();
        self.handle.spawn(async move {
            let mut pending_channels = channels;
            let mut pending_patterns = patterns;
            loop {
                if to.upgrade().is_none() {
                    return;
                }
                // Patterns first: once the request channel counts this node
                // (PUBSUB NUMSUB), its broadcasts reach it too.
                if !pending_patterns.is_empty() && sub.psubscribe(&pending_patterns).await.is_ok() {
                    pending_patterns.clear();
                }
                if pending_patterns.is_empty()
                    && !pending_channels.is_empty()
                    && sub.subscribe(&pending_channels).await.is_ok()
                {
                    pending_channels.clear();
                }
                if pending_channels.is_empty() && pending_patterns.is_empty() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    /// Forgets the routes that `owner` (the address of the [`Inbound`]
    /// given to [`Link::subscribe`]) still owns, and unsubscribes them: a
    /// channel taken over since by another adapter (a namespace created
    /// again under the same name) stays.
    pub(crate) fn unsubscribe(
        &self,
        channels: Vec<String>,
        patterns: Vec<String>,
        owner: *const (),
    ) {
        let (channels, patterns) = {
            let mut routes = self.routes.write();
            (
                remove_owned(&mut routes.exact, channels, owner),
                remove_owned(&mut routes.patterns, patterns, owner),
            )
        };
        if channels.is_empty() && patterns.is_empty() {
            return;
        }
        let mut sub = self.subscriber.clone();
        self.handle.spawn(async move {
            if !channels.is_empty() {
                let _ = sub.unsubscribe(&channels).await;
            }
            if !patterns.is_empty() {
                let _ = sub.punsubscribe(&patterns).await;
            }
        });
    }

    /// Routes shard channels to `to` and subscribes them (`SSUBSCRIBE`,
    /// one command per channel; retried while Redis is unreachable, as
    /// long as they are wanted).
    pub(crate) fn ssubscribe(&self, channels: Vec<String>, to: Weak<dyn Inbound>) {
        {
            let mut routes = self.routes.write();
            let mut sharded = self.sharded.lock();
            for c in channels {
                routes.exact.insert(c.clone(), to.clone());
                sharded.wanted.insert(c.clone());
                sharded.changed.insert(c);
            }
        }
        self.shard_channels_changed();
    }

    /// Forgets the shard channels that `owner` (as in
    /// [`Link::unsubscribe`]) still owns and unsubscribes them (in order
    /// with the subscriptions: see [`shard_subscriptions`]).
    pub(crate) fn sunsubscribe(&self, channels: Vec<String>, owner: *const ()) {
        {
            let mut routes = self.routes.write();
            let mut sharded = self.sharded.lock();
            for c in remove_owned(&mut routes.exact, channels, owner) {
                sharded.wanted.remove(&c);
                sharded.changed.insert(c);
            }
        }
        self.shard_channels_changed();
    }

    fn shard_channels_changed(&self) {
        // Full: a wake-up is already pending, and it will see this change.
        let _ = self.shard_changes.try_send(());
    }

    /// `PUBSUB NUMSUB channel` (how many connections subscribe to it).
    pub(crate) async fn numsub(
        &self,
        channel: &str,
    ) -> Result<usize, sockeye_adapter::AdapterError> {
        self.pubsub_count("NUMSUB", channel).await
    }

    /// `PUBSUB SHARDNUMSUB channel`.
    pub(crate) async fn shardnumsub(
        &self,
        channel: &str,
    ) -> Result<usize, sockeye_adapter::AdapterError> {
        self.pubsub_count("SHARDNUMSUB", channel).await
    }

    async fn pubsub_count(
        &self,
        which: &str,
        channel: &str,
    ) -> Result<usize, sockeye_adapter::AdapterError> {
        let mut con = self.commands.clone();
        let reply: Result<Vec<RedisValue>, _> = redis::cmd("PUBSUB")
            .arg(which)
            .arg(channel)
            .query_async(&mut con)
            .await;
        match reply {
            Ok(items) => {
                self.health.worked();
                let n = items
                    .get(1)
                    .and_then(|v| redis::from_redis_value_ref::<i64>(v).ok())
                    .unwrap_or(0);
                Ok(usize::try_from(n).unwrap_or(0))
            }
            Err(e) => {
                self.health.failed("PUBSUB", &e);
                Err(sockeye_adapter::AdapterError::Transport(format!(
                    "Redis: {e}"
                )))
            }
        }
    }

    fn route(&self, pattern: Option<&str>, channel: &str) -> Option<Arc<dyn Inbound>> {
        let routes = self.routes.read();
        let weak = match pattern {
            Some(p) => routes.patterns.get(p),
            None => routes.exact.get(channel),
        };
        weak.and_then(Weak::upgrade)
    }
}

/// Removes the routes of `names` that still point to `owner`; returns
/// those removed.
fn remove_owned(
    routes: &mut HashMap<String, Weak<dyn Inbound>>,
    names: Vec<String>,
    owner: *const (),
) -> Vec<String> {
    names
        .into_iter()
        .filter(|n| {
            let owned = routes
                .get(n)
                .is_some_and(|w| std::ptr::eq(w.as_ptr().cast::<()>(), owner));
            if owned {
                routes.remove(n);
            }
            owned
        })
        .collect()
}

fn bytes_of(v: &RedisValue) -> Option<Bytes> {
    match v {
        RedisValue::BulkString(b) => Some(Bytes::copy_from_slice(b)),
        RedisValue::SimpleString(s) => Some(Bytes::copy_from_slice(s.as_bytes())),
        _ => None,
    }
}

fn text_of(v: &RedisValue) -> Option<String> {
    bytes_of(v).and_then(|b| String::from_utf8(b.to_vec()).ok())
}

/// Hands each subscription message to its adapter.
async fn dispatcher(link: Weak<Link>, mut rx: mpsc::Receiver<PushInfo>) {
    let mut reported_drops = 0;
    while let Some(push) = rx.recv().await {
        let Some(link) = link.upgrade() else { return };
        let (pattern, channel, payload) = match push.kind {
            PushKind::Message | PushKind::SMessage if push.data.len() >= 2 => {
                (None, text_of(&push.data[0]), bytes_of(&push.data[1]))
            }
            PushKind::PMessage if push.data.len() >= 3 => (
                text_of(&push.data[0]),
                text_of(&push.data[1]),
                bytes_of(&push.data[2]),
            ),
            PushKind::Disconnection => {
                link.health.failed("subscriptions", &"connection lost");
                link.resubscribe_sharded.store(true, Ordering::Release);
                continue;
            }
            _ => continue,
        };
        let dropped = link.dropped_pushes.load(Ordering::Relaxed);
        if dropped > reported_drops {
            tracing::warn!(dropped, "Redis messages dropped: this node cannot keep up");
            reported_drops = dropped;
        }
        let (Some(channel), Some(payload)) = (channel, payload) else {
            continue;
        };
        if let Some(to) = link.route(pattern.as_deref(), &channel) {
            to.on_message(&channel, payload);
        }
    }
}

/// Sends what is queued, as one pipeline per batch.
async fn publisher(link: Weak<Link>, mut con: ConnectionManager, mut rx: mpsc::Receiver<Outgoing>) {
    const BATCH: usize = 512;
    let mut batch = Vec::with_capacity(BATCH);
    let mut flushed = Vec::new();
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let mut pipe = redis::pipe();
        let mut commands = 0;
        for item in batch.drain(..) {
            match item {
                Outgoing::Cmd(cmd) => {
                    pipe.add_command(cmd).ignore();
                    commands += 1;
                }
                Outgoing::Flushed(tx) => flushed.push(tx),
            }
        }
        if commands > 0 {
            let result: redis::RedisResult<()> = pipe.query_async(&mut con).await;
            let Some(link) = link.upgrade() else { return };
            match result {
                Ok(()) => link.health.worked(),
                Err(e) => link.health.failed("publish", &e),
            }
        }
        // The commands queued before each marker were in this pipeline
        // (or an earlier one).
        for tx in flushed.drain(..) {
            let _ = tx.send(());
        }
    }
}

/// Pings both connections: every second while Redis is unreachable (which
/// makes the managers reconnect, and then resubscribe), every
/// `watchdog_interval` otherwise.
async fn watchdog(link: Weak<Link>) {
    loop {
        let (mut commands, mut subscriber, wait) = match link.upgrade() {
            Some(l) => {
                let wait = if l.health.is_up() {
                    l.options.watchdog_interval
                } else {
                    Duration::from_secs(1)
                };
                (l.commands.clone(), l.subscriber.clone(), wait)
            }
            None => return,
        };
        tokio::time::sleep(wait).await;
        let a: redis::RedisResult<RedisValue> = redis::cmd("PING").query_async(&mut commands).await;
        let b: redis::RedisResult<RedisValue> =
            redis::cmd("PING").query_async(&mut subscriber).await;
        let Some(l) = link.upgrade() else { return };
        match (a, b) {
            (Ok(_), Ok(_)) => {
                l.health.worked();
                if l.resubscribe_sharded.load(Ordering::Acquire) {
                    l.shard_channels_changed();
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                l.health.failed("ping", &e);
                l.resubscribe_sharded.store(true, Ordering::Release);
            }
        }
    }
}

#[cfg(test)]
mod tests;
