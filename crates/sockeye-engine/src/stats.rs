//! [`EngineStats`]: counters of the bounds that tripped, for a metrics layer.
//!
//! Each counter is one relaxed atomic, bumped only where a bound trips (never
//! on the hot path of a packet that fits), and read with [`crate::Engine::stats`].

use std::sync::atomic::{AtomicU64, Ordering};

/// How often each of the engine's bounds tripped since it started.
///
/// ```
/// # use sockeye_engine::{Engine, EngineConfig, EngineHandler, Message, Session, CloseReason};
/// # struct Nop;
/// # impl EngineHandler for Nop {
/// #     fn on_open(&self, _: &Session) {}
/// #     fn on_message(&self, _: &Session, _: Message) {}
/// #     fn on_close(&self, _: &Session, _: CloseReason) {}
/// # }
/// let engine = Engine::new(EngineConfig::default(), Nop).unwrap();
/// assert_eq!(engine.stats().send_queue_overflows(), 0);
/// ```
#[derive(Debug, Default)]
pub struct EngineStats {
    send_queue_overflows: AtomicU64,
    payloads_too_large: AtomicU64,
    body_timeouts: AtomicU64,
    sessions_refused: AtomicU64,
    address_connections_refused: AtomicU64,
    address_handshakes_refused: AtomicU64,
    cluster: std::sync::Arc<crate::cluster::ClusterStats>,
}

/// Which counter to bump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trip {
    SendQueue,
    PayloadTooLarge,
    BodyTimeout,
    Sessions,
    AddressConnections,
    AddressHandshakes,
}

impl EngineStats {
    pub(crate) fn count(&self, trip: Trip) {
        let counter = match trip {
            Trip::SendQueue => &self.send_queue_overflows,
            Trip::PayloadTooLarge => &self.payloads_too_large,
            Trip::BodyTimeout => &self.body_timeouts,
            Trip::Sessions => &self.sessions_refused,
            Trip::AddressConnections => &self.address_connections_refused,
            Trip::AddressHandshakes => &self.address_handshakes_refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Sessions closed (`transport error`) because their outbound queue
    /// went over [`crate::EngineConfig::with_max_buffered_bytes`] or
    /// [`crate::EngineConfig::with_max_buffered_packets`].
    pub fn send_queue_overflows(&self) -> u64 {
        self.send_queue_overflows.load(Ordering::Relaxed)
    }

    /// Polling bodies answered `413` and WebSocket messages closed with
    /// `1009` for going over [`crate::EngineConfig::with_max_payload`].
    pub fn payloads_too_large(&self) -> u64 {
        self.payloads_too_large.load(Ordering::Relaxed)
    }

    /// Polling bodies answered `408` for not arriving within
    /// [`crate::EngineConfig::with_request_body_timeout`].
    pub fn body_timeouts(&self) -> u64 {
        self.body_timeouts.load(Ordering::Relaxed)
    }

    /// Handshakes refused by [`crate::EngineConfig::with_max_sessions`].
    pub fn sessions_refused(&self) -> u64 {
        self.sessions_refused.load(Ordering::Relaxed)
    }

    /// Handshakes refused by
    /// [`crate::EngineConfig::with_max_connections_per_address`].
    pub fn address_connections_refused(&self) -> u64 {
        self.address_connections_refused.load(Ordering::Relaxed)
    }

    /// The counters of cluster mode (forwarded requests, refusals, dead
    /// nodes, upgrade outcomes); all zero without a cluster.
    pub fn cluster(&self) -> &crate::cluster::ClusterStats {
        &self.cluster
    }

    pub(crate) fn cluster_arc(&self) -> std::sync::Arc<crate::cluster::ClusterStats> {
        self.cluster.clone()
    }

    /// Handshakes refused by
    /// [`crate::EngineConfig::with_max_handshakes_per_second_per_address`].
    pub fn address_handshakes_refused(&self) -> u64 {
        self.address_handshakes_refused.load(Ordering::Relaxed)
    }
}
