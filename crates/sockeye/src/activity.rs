//! [`Metrics`]: what the Socket.IO layer did (connects, disconnects by
//! reason, broadcasts, acknowledgements, adapter requests), counted only
//! when [`crate::SocketIoBuilder::metrics`] is on, for an exporter that
//! reads [`crate::SocketIo::metrics`] at scrape time.
//!
//! Off, each hook is one `Option` test; on, one relaxed atomic addition.

use crate::reason::DisconnectReason;
use std::sync::atomic::{AtomicU64, Ordering};

/// Something the Socket.IO layer counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// A socket joined a namespace.
    Connect,
    /// A broadcast was sent (one per emit to a room, namespace...).
    Broadcast,
    /// Local sockets a broadcast was handed to (added per broadcast).
    BroadcastRecipients,
    /// An emit expecting an acknowledgement reached a client's queue.
    AckSent,
    /// A client's acknowledgement arrived for a waiting emit.
    AckAnswered,
    /// An emit gave up waiting for its acknowledgement.
    AckTimedOut,
    /// A request to the adapter that may cross the cluster (fetch sockets,
    /// server-side emits, server count).
    AdapterRequest,
    /// Such a request that failed.
    AdapterError,
    /// A volatile broadcast packet dropped for a socket that could not
    /// take it at once.
    VolatileDrop,
}

const EVENTS: usize = 9;

/// Every [`DisconnectReason`], in the order of [`Metrics::disconnects`].
pub const DISCONNECT_REASONS: [DisconnectReason; 10] = [
    DisconnectReason::TransportClose,
    DisconnectReason::TransportError,
    DisconnectReason::ForcedClose,
    DisconnectReason::PingTimeout,
    DisconnectReason::ParseError,
    DisconnectReason::ServerShuttingDown,
    DisconnectReason::ForcedServerClose,
    DisconnectReason::ClientNamespaceDisconnect,
    DisconnectReason::ServerNamespaceDisconnect,
    DisconnectReason::RateLimited,
];

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    events: [AtomicU64; EVENTS],
    disconnects: [AtomicU64; DISCONNECT_REASONS.len()],
}

impl Activity {
    pub fn add(&self, event: Event, n: usize) {
        self.events[event as usize].fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn disconnected(&self, reason: DisconnectReason) {
        if let Some(i) = DISCONNECT_REASONS.iter().position(|r| *r == reason) {
            self.disconnects[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn get(&self, event: Event) -> u64 {
        self.events[event as usize].load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> Metrics {
        let mut disconnects = [0; DISCONNECT_REASONS.len()];
        for (out, c) in disconnects.iter_mut().zip(&self.disconnects) {
            *out = c.load(Ordering::Relaxed);
        }
        Metrics {
            connects: self.get(Event::Connect),
            disconnects,
            broadcasts: self.get(Event::Broadcast),
            broadcast_recipients: self.get(Event::BroadcastRecipients),
            acks_sent: self.get(Event::AckSent),
            acks_answered: self.get(Event::AckAnswered),
            acks_timed_out: self.get(Event::AckTimedOut),
            adapter_requests: self.get(Event::AdapterRequest),
            adapter_errors: self.get(Event::AdapterError),
            volatile_drops: self.get(Event::VolatileDrop),
        }
    }
}

/// The Socket.IO layer's activity since the server was built (read with
/// [`crate::SocketIo::metrics`]). Each counter only grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Sockets that joined a namespace.
    pub connects: u64,
    /// Sockets that left a namespace, per reason, in the order of
    /// [`DISCONNECT_REASONS`].
    pub disconnects: [u64; DISCONNECT_REASONS.len()],
    /// Broadcasts sent from this node.
    pub broadcasts: u64,
    /// Local sockets that broadcasts were handed to (broadcasts from other
    /// nodes included).
    pub broadcast_recipients: u64,
    /// Emits to one socket that wait for an acknowledgement, sent.
    pub acks_sent: u64,
    /// Of those, answered in time.
    pub acks_answered: u64,
    /// Of those, timed out.
    pub acks_timed_out: u64,
    /// Adapter requests that may cross the cluster: fetch sockets,
    /// server-side emits, server counts.
    pub adapter_requests: u64,
    /// Of those, failed.
    pub adapter_errors: u64,
    /// Volatile broadcast packets dropped for sockets that could not take
    /// them at once.
    pub volatile_drops: u64,
}

impl Metrics {
    /// Sockets that left a namespace for this reason.
    pub fn disconnects_for(&self, reason: DisconnectReason) -> u64 {
        DISCONNECT_REASONS
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.disconnects[i])
    }
}

impl crate::server::Config {
    /// Counts `n` of `event` when metrics are on.
    pub(crate) fn count(&self, event: Event, n: usize) {
        if let Some(a) = &self.activity {
            a.add(event, n);
        }
    }

    /// Counts a disconnect by its reason when metrics are on.
    pub(crate) fn count_disconnect(&self, reason: DisconnectReason) {
        if let Some(a) = &self.activity {
            a.disconnected(reason);
        }
    }

    /// Counts the outcome of an adapter request when metrics are on.
    pub(crate) fn count_request<T, E>(&self, result: &Result<T, E>) {
        if let Some(a) = &self.activity {
            a.add(Event::AdapterRequest, 1);
            if result.is_err() {
                a.add(Event::AdapterError, 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_events_and_reasons_apart() {
        let a = Activity::default();
        a.add(Event::Broadcast, 1);
        a.add(Event::BroadcastRecipients, 40);
        a.disconnected(DisconnectReason::PingTimeout);
        a.disconnected(DisconnectReason::PingTimeout);
        let m = a.snapshot();
        assert_eq!(
            (m.broadcasts, m.broadcast_recipients, m.connects),
            (1, 40, 0)
        );
        assert_eq!(m.disconnects_for(DisconnectReason::PingTimeout), 2);
        assert_eq!(m.disconnects_for(DisconnectReason::TransportClose), 0);
    }
}
