//! [`RedisBus`]: the engine's [`ClusterBus`] over Redis, for sessions
//! served from any node (`EngineConfig::with_cluster`).
//!
//! * Tag: 3 random bytes, claimed with `SET <prefix>:node:<tag> <instance>
//!   NX PX <lease>` (another tag is drawn if taken) and refreshed every
//!   `refresh`; a peer whose key is missing is dead.
//! * Inbox: the channel `<prefix>#<tag>#` (plain `SUBSCRIBE`), one per node;
//!   frames are published there with `PUBLISH` through the link's ordered
//!   publishing queue (so one node's frames to another keep their order).
//! * Liveness checks: one `MGET` of the lease keys asked about.
//! * Membership: the lease is only refreshed while the link (commands and
//!   the subscription that feeds the inbox) is up, so peers never hold a
//!   node alive whose frames they cannot deliver; a node whose lease has
//!   run out says so through [`ClusterBus::is_member`], and its engine
//!   refuses new sessions.

use crate::link::{Inbound, Link, PublishKind};
use crate::{RedisError, config::LinkOptions};
use bytes::Bytes;
use parking_lot::Mutex;
use sockeye_engine::{BoxFuture, BusError, ClusterBus, Inbox, InboxSender, NodeTag};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// Options of [`RedisBus`].
#[derive(Debug, Clone)]
pub struct RedisBusConfig {
    prefix: String,
    lease: Duration,
    refresh: Duration,
    max_inbox: usize,
    max_inbox_bytes: usize,
    link: LinkOptions,
}

impl Default for RedisBusConfig {
    /// Prefix `sockeye-eio`, lease 3 s refreshed every second, at most
    /// 65,536 frames and 64 MiB waiting in the inbox.
    fn default() -> Self {
        RedisBusConfig {
            prefix: "sockeye-eio".to_owned(),
            lease: Duration::from_secs(3),
            refresh: Duration::from_secs(1),
            max_inbox: 65_536,
            max_inbox_bytes: 64 << 20,
            link: LinkOptions::default(),
        }
    }
}

impl RedisBusConfig {
    /// The prefix of the channels and lease keys (default `sockeye-eio`;
    /// nodes of one cluster must share it).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a node's lease lives without refresh (default 3 s): the
    /// longest a dead node goes unnoticed, plus the engine's heartbeat.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(100));
        self
    }

    /// How often the lease is refreshed (default 1 s; keep it well below
    /// the lease).
    pub fn refresh(mut self, refresh: Duration) -> Self {
        self.refresh = refresh.max(Duration::from_millis(10));
        self
    }

    /// The most frames and bytes waiting in this node's inbox (received,
    /// not yet applied; default 65,536 frames, 64 MiB). Beyond, frames are
    /// dropped and their senders' requests time out.
    pub fn inbox_limits(mut self, frames: usize, bytes: usize) -> Self {
        self.max_inbox = frames.max(1);
        self.max_inbox_bytes = bytes.max(1);
        self
    }
}

/// One node's access to the cluster bus on Redis.
pub struct RedisBus {
    link: Arc<Link>,
    tag: NodeTag,
    channel: String,
    key: String,
    instance: String,
    config: RedisBusConfig,
    inbox: Mutex<Option<Inbox>>,
    receiver: Arc<Receiver>,
    left: AtomicBool,
    /// Until when this node's lease is known to be held.
    member_until: Mutex<Instant>,
}

impl fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBus")
            .field("tag", &self.tag)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// Hands the frames of the node's channel to its inbox.
struct Receiver {
    tx: InboxSender,
}

impl Inbound for Receiver {
    fn on_message(&self, _channel: &str, payload: Bytes) {
        if let Err(e) = self.tx.try_send(payload) {
            tracing::debug!(error = %e, "cluster frame dropped on arrival (its request times out)");
        }
    }
}

fn key_of(prefix: &str, tag: NodeTag) -> String {
    format!("{prefix}:node:{tag}")
}

fn channel_of(prefix: &str, tag: NodeTag) -> String {
    format!("{prefix}#{tag}#")
}

impl RedisBus {
    /// Connects to Redis (`redis://host:port/db`), claims a free tag and
    /// subscribes to its channel. Must be called within a Tokio runtime.
    pub async fn connect(url: &str, config: RedisBusConfig) -> Result<Arc<RedisBus>, RedisError> {
        let link = Link::connect(url, config.link.clone()).await?;
        Self::on_link(link, config).await
    }

    async fn on_link(link: Arc<Link>, config: RedisBusConfig) -> Result<Arc<RedisBus>, RedisError> {
        let instance = {
            let mut raw = [0u8; 16];
            getrandom::fill(&mut raw).map_err(|e| RedisError::Connect(e.to_string()))?;
            raw.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let mut con = link.commands();
        let mut tag = None;
        for _ in 0..16 {
            let candidate = NodeTag::random();
            let claimed: Option<String> = redis::cmd("SET")
                .arg(key_of(&config.prefix, candidate))
                .arg(&instance)
                .arg("NX")
                .arg("PX")
                .arg(config.lease.as_millis() as u64)
                .query_async(&mut con)
                .await
                .map_err(|e| RedisError::Connect(e.to_string()))?;
            if claimed.is_some() {
                tag = Some(candidate);
                break;
            }
        }
        let tag = tag.ok_or_else(|| RedisError::Connect("no free node tag".into()))?;
        let (tx, rx) = Inbox::bounded(config.max_inbox, config.max_inbox_bytes);
        let member_until = Instant::now() + config.lease;
        let bus = Arc::new(RedisBus {
            channel: channel_of(&config.prefix, tag),
            key: key_of(&config.prefix, tag),
            link,
            tag,
            instance,
            inbox: Mutex::new(Some(rx)),
            receiver: Arc::new(Receiver { tx }),
            left: AtomicBool::new(false),
            member_until: Mutex::new(member_until),
            config,
        });
        let receiver: Arc<dyn Inbound> = bus.receiver.clone();
        bus.link.subscribe(
            vec![bus.channel.clone()],
            Vec::new(),
            Arc::downgrade(&receiver),
        );
        // Frames sent to this node before its subscription is active would
        // be lost: wait until Redis counts it.
        let subscribed = async {
            loop {
                if bus.link.numsub(&bus.channel).await.unwrap_or(0) > 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(bus.config.link.connect_timeout, subscribed)
            .await
            .map_err(|_| {
                RedisError::Connect("the node channel was not subscribed in time".into())
            })?;
        tokio::spawn(refresh(Arc::downgrade(&bus)));
        tracing::info!(%tag, channel = %bus.channel, "cluster bus on Redis");
        Ok(bus)
    }
}

/// Keeps the lease alive until the bus is dropped or left.
async fn refresh(bus: Weak<RedisBus>) {
    // At least twice per lease, whatever was configured: a refresh period
    // as long as the lease would let it lapse between refreshes.
    let every = match bus.upgrade() {
        Some(b) => b.config.refresh.min(b.config.lease / 2),
        None => return,
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // `SET .. GET` (which detects a taken-over tag) needs Redis 6.2; older
    // servers refuse it and get a plain `SET .. PX`.
    let mut with_get = true;
    let mut failing = false;
    loop {
        tick.tick().await;
        let Some(bus) = bus.upgrade() else { return };
        if bus.left.load(Ordering::Acquire) {
            return;
        }
        if !bus.link.health.is_up() {
            // Frames to this node may be lost while its link is down: the
            // lease runs out rather than vouch for it.
            if !std::mem::replace(&mut failing, true) {
                tracing::warn!(tag = %bus.tag, "Redis link down: lease not refreshed");
            }
            continue;
        }
        let started = Instant::now();
        let mut con = bus.link.commands();
        let lease = bus.config.lease.as_millis() as u64;
        let mut set = redis::cmd("SET");
        set.arg(&bus.key).arg(&bus.instance).arg("PX").arg(lease);
        let mut result: Result<Option<String>, redis::RedisError> = if with_get {
            set.clone().arg("GET").query_async(&mut con).await
        } else {
            set.query_async::<()>(&mut con).await.map(|()| None)
        };
        if with_get
            && result
                .as_ref()
                .is_err_and(|e| matches!(e.kind(), redis::ErrorKind::Server(_)))
        {
            let plain = set.query_async::<()>(&mut con).await.map(|()| None);
            if plain.is_ok() {
                with_get = false;
                tracing::warn!(tag = %bus.tag, "Redis refuses SET .. GET (older than 6.2?): the lease is refreshed without take-over detection");
            }
            result = plain;
        }
        match result {
            Ok(Some(other)) if other != bus.instance => {
                tracing::error!(tag = %bus.tag, "another node held this node's tag (Redis partition longer than the lease?)");
            }
            Ok(_) => {
                *bus.member_until.lock() = started + bus.config.lease;
                if std::mem::replace(&mut failing, false) {
                    tracing::info!(tag = %bus.tag, "lease refreshed again");
                }
            }
            Err(e) => {
                // Once per failure streak: peers see this node dead once
                // the lease runs out.
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(tag = %bus.tag, error = %e, "lease refresh failed");
                }
            }
        }
    }
}

impl ClusterBus for RedisBus {
    fn tag(&self) -> NodeTag {
        self.tag
    }

    fn publish(&self, to: NodeTag, frame: Bytes) -> Result<(), BusError> {
        if !self.link.health.is_up() {
            return Err(BusError::Unavailable("Redis unreachable".into()));
        }
        self.link
            .publish(
                PublishKind::Classic,
                channel_of(&self.config.prefix, to),
                frame.to_vec(),
            )
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    fn take_inbox(&self) -> Option<Inbox> {
        self.inbox.lock().take()
    }

    fn is_member(&self) -> bool {
        !self.left.load(Ordering::Acquire) && Instant::now() < *self.member_until.lock()
    }

    fn check(&self, tags: Vec<NodeTag>) -> BoxFuture<Result<Vec<bool>, BusError>> {
        let mut con = self.link.commands();
        let keys: Vec<String> = tags
            .iter()
            .map(|t| key_of(&self.config.prefix, *t))
            .collect();
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let values: Vec<Option<String>> = redis::cmd("MGET")
                .arg(&keys)
                .query_async(&mut con)
                .await
                .map_err(|e| BusError::Unavailable(e.to_string()))?;
            Ok(values.iter().map(Option::is_some).collect())
        })
    }

    fn leave(&self) -> BoxFuture<()> {
        self.left.store(true, Ordering::Release);
        let mut con = self.link.commands();
        let key = self.key.clone();
        Box::pin(async move {
            let _: Result<(), _> = redis::cmd("DEL").arg(key).query_async(&mut con).await;
        })
    }
}

impl crate::RedisAdapterFactory {
    /// The engine's cluster bus on this factory's connections (a node that
    /// uses the classic adapter needs no more connections for it).
    pub async fn engine_bus(&self, config: RedisBusConfig) -> Result<Arc<RedisBus>, RedisError> {
        RedisBus::on_link(self.link.clone(), config).await
    }
}
