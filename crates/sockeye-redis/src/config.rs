//! Options of the Redis adapters, with the reference's defaults.

use std::time::Duration;

/// Options of the classic adapter (`createAdapter` of
/// `@socket.io/redis-adapter`), builder style.
///
/// ```
/// use sockeye_redis::RedisAdapterConfig;
/// use std::time::Duration;
/// let config = RedisAdapterConfig::default()
///     .key("my-app")
///     .requests_timeout(Duration::from_secs(2))
///     .publish_on_specific_response_channel(true);
/// assert_eq!(config.key_prefix(), "my-app");
/// ```
#[derive(Debug, Clone)]
pub struct RedisAdapterConfig {
    pub(crate) key: String,
    pub(crate) requests_timeout: Duration,
    pub(crate) publish_on_specific_response_channel: bool,
    pub(crate) link: LinkOptions,
    pub(crate) recovery: Option<sockeye_adapter::RecoveryConfig>,
}

/// Options of the connections to Redis.
#[derive(Debug, Clone)]
pub(crate) struct LinkOptions {
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub watchdog_interval: Duration,
    pub max_queued_publishes: usize,
    pub max_queued_messages: usize,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            connect_timeout: Duration::from_secs(3),
            command_timeout: Duration::from_secs(3),
            watchdog_interval: Duration::from_secs(5),
            max_queued_publishes: 10_000,
            max_queued_messages: 65_536,
        }
    }
}

impl Default for RedisAdapterConfig {
    /// Key prefix `socket.io`, requests timeout 5 s, responses on the
    /// common response channel, connect and command timeouts 3 s, at most
    /// 10,000 publishes and 65,536 received messages queued.
    fn default() -> Self {
        RedisAdapterConfig {
            key: "socket.io".to_owned(),
            requests_timeout: Duration::from_secs(5),
            publish_on_specific_response_channel: false,
            link: LinkOptions::default(),
            recovery: None,
        }
    }
}

impl RedisAdapterConfig {
    /// The prefix of the channels (`key`, default `socket.io`): use the same
    /// on every node, Node's and Sockeye's.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// The prefix of the channels.
    pub fn key_prefix(&self) -> &str {
        &self.key
    }

    /// How long a request to the other nodes (`fetch_sockets`,
    /// `server_side_emit_with_ack`, `server_count`) waits (default 5 s).
    pub fn requests_timeout(mut self, timeout: Duration) -> Self {
        self.requests_timeout = timeout;
        self
    }

    /// Answer requests on the requester's own channel
    /// (`socket.io-response#<nsp>#<uid>#`) instead of the common one
    /// (default false, as in the reference).
    pub fn publish_on_specific_response_channel(mut self, on: bool) -> Self {
        self.publish_on_specific_response_channel = on;
        self
    }

    /// How long connecting, and then each Redis command, may take
    /// (default 3 s each).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.link.connect_timeout = timeout;
        self.link.command_timeout = timeout;
        self
    }

    /// Keeps what connection state recovery needs on each node (sessions
    /// and packets in memory, as the in-memory adapter does): a client
    /// that reconnects to the same node recovers; recovery across nodes
    /// needs the streams adapter (`StreamsAdapterConfig::recovery`). Give
    /// the server the same config with `connection_state_recovery`.
    pub fn recovery(mut self, config: sockeye_adapter::RecoveryConfig) -> Self {
        self.recovery = Some(config);
        self
    }

    /// Most publishes queued while Redis is slow or unreachable (default
    /// 10,000); beyond, broadcasts to other nodes are dropped (each drop
    /// logged at debug level) and cluster calls fail.
    pub fn max_queued_publishes(mut self, n: usize) -> Self {
        self.link.max_queued_publishes = n.max(1);
        self
    }
}
