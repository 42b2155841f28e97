//! [`ClusterConfig`]: the options of cluster mode.

use super::ClusterBus;
use sockeye_proto::NodeTag;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Options of cluster mode: the bus and its deadlines.
#[derive(Clone)]
pub struct ClusterConfig {
    pub(crate) bus: Arc<dyn ClusterBus>,
    pub(crate) heartbeat: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) max_waiting: usize,
    pub(crate) handover_window: Duration,
    pub(crate) secret: Option<Vec<u8>>,
}

impl fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("tag", &self.bus.tag())
            .field("heartbeat", &self.heartbeat)
            .field("request_timeout", &self.request_timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_waiting", &self.max_waiting)
            .field("handover_window", &self.handover_window)
            .field("secret", &self.secret.as_ref().map(|_| ".."))
            .finish()
    }
}

impl ClusterConfig {
    /// Cluster mode over `bus`: liveness checked every second, a forwarded
    /// request without answer fails after 2 s (GETs: after the ping
    /// interval and timeout on top), at most 10,000 short forwards (POSTs,
    /// upgrade steps) and 100,000 long ones (parked GETs, relay pulls) in
    /// flight.
    pub fn new(bus: Arc<dyn ClusterBus>) -> Self {
        ClusterConfig {
            bus,
            heartbeat: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            max_in_flight: 10_000,
            max_waiting: 100_000,
            handover_window: Duration::from_millis(300),
            secret: None,
        }
    }

    /// A secret every node of the cluster shares: each frame then carries
    /// an HMAC-SHA256 of its bytes, and frames without a valid one are
    /// dropped, so that a client of the bus without the secret (anything
    /// else allowed on the same Redis) cannot forge requests or answers.
    /// All nodes must have the same secret (or none). It does not stop
    /// replays by someone who can read the bus: restrict its channels to
    /// the nodes (Redis ACLs) and use TLS to Redis as well.
    pub fn with_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(secret.as_ref().to_vec());
        self
    }

    /// How long a new polling session (when upgrades are allowed) stays
    /// unknown to the handler (default 300 ms, as Node's cluster engine;
    /// zero: never). A WebSocket upgrade that lands on another node within
    /// it moves the session there (hand-over: the session then costs what a
    /// local WebSocket session costs); later, the other node relays. A
    /// local upgrade ends the window at once; polling-only clients wait
    /// for the handler's `on_open` (their Socket.IO CONNECT) this long.
    pub fn with_handover_window(mut self, d: Duration) -> Self {
        self.handover_window = d;
        self
    }

    /// How often the leases of the peers this node has traffic with are
    /// checked (default 1 s).
    pub fn with_heartbeat(mut self, d: Duration) -> Self {
        self.heartbeat = d.max(Duration::from_millis(10));
        self
    }

    /// How long a forwarded request waits for its owner's answer (default
    /// 2 s; a healthy owner answers at once, so this is only paid when it
    /// fails).
    pub fn with_request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// How many short forwarded requests (POSTs, relayed frames, upgrade
    /// steps, each answered at once by a healthy owner) may wait at once
    /// (default 10,000; beyond, requests are answered `503`).
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// How many long forwarded waits (polling GETs parked on their owner,
    /// relay pulls: one per session served through this node) may be open
    /// at once (default 100,000; beyond, answered `503`). A separate budget,
    /// so that many idle sessions cannot starve their own POSTs.
    pub fn with_max_waiting(mut self, n: usize) -> Self {
        self.max_waiting = n.max(1);
        self
    }

    /// This node's tag.
    pub fn tag(&self) -> NodeTag {
        self.bus.tag()
    }
}
