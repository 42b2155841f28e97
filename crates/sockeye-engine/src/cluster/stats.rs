//! [`ClusterStats`]: counters of the forwarding between nodes.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the cluster forwarding did since the engine started (all zero
/// without a cluster). Read with `engine.stats().cluster()`.
#[derive(Default)]
pub struct ClusterStats {
    pub(crate) out_get: AtomicU64,
    pub(crate) out_post: AtomicU64,
    pub(crate) out_upgrade: AtomicU64,
    pub(crate) in_get: AtomicU64,
    pub(crate) in_post: AtomicU64,
    pub(crate) in_upgrade: AtomicU64,
    pub(crate) nacks: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) dead_tag_refusals: AtomicU64,
    pub(crate) dead_tags: AtomicU64,
    pub(crate) upgrades_local: AtomicU64,
    pub(crate) upgrades_relay: AtomicU64,
    pub(crate) upgrades_refused: AtomicU64,
    pub(crate) upgrades_handover: AtomicU64,
    pub(crate) relayed_closed_by_death: AtomicU64,
    pub(crate) relays_failed: AtomicU64,
    pub(crate) relays_aborted: AtomicU64,
    pub(crate) busy: AtomicU64,
    pub(crate) membership_refusals: AtomicU64,
    /// Reads the inbox's drop count (set when the engine starts).
    pub(crate) inbox_dropped: OnceLock<Box<dyn Fn() -> u64 + Send + Sync>>,
}

impl fmt::Debug for ClusterStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterStats")
            .field("forwarded_out_get", &self.forwarded_out_get())
            .field("forwarded_out_post", &self.forwarded_out_post())
            .field("forwarded_in_get", &self.forwarded_in_get())
            .field("forwarded_in_post", &self.forwarded_in_post())
            .field("timeouts", &self.timeouts())
            .field("busy", &self.busy())
            .field("inbox_dropped", &self.inbox_dropped())
            .finish_non_exhaustive()
    }
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl ClusterStats {
    /// Polling GETs this node forwarded to their owner.
    pub fn forwarded_out_get(&self) -> u64 {
        read(&self.out_get)
    }
    /// Polling POSTs (and relayed WebSocket frames) this node forwarded.
    pub fn forwarded_out_post(&self) -> u64 {
        read(&self.out_post)
    }
    /// WebSocket upgrades this node held for a session of another node.
    pub fn forwarded_out_upgrade(&self) -> u64 {
        read(&self.out_upgrade)
    }
    /// GETs (and relay pulls) other nodes forwarded to this one.
    pub fn forwarded_in_get(&self) -> u64 {
        read(&self.in_get)
    }
    /// POSTs (and relayed frames) other nodes forwarded to this one.
    pub fn forwarded_in_post(&self) -> u64 {
        read(&self.in_post)
    }
    /// Upgrade steps other nodes forwarded to this one.
    pub fn forwarded_in_upgrade(&self) -> u64 {
        read(&self.in_upgrade)
    }
    /// Forwarded requests this node, as owner, refused (unknown sid,
    /// overlap, not eligible).
    pub fn nacks(&self) -> u64 {
        read(&self.nacks)
    }
    /// Forwarded requests that got no answer within their deadline.
    pub fn timeouts(&self) -> u64 {
        read(&self.timeouts)
    }
    /// Requests answered `400` at once because their owner is dead.
    pub fn dead_tag_refusals(&self) -> u64 {
        read(&self.dead_tag_refusals)
    }
    /// Nodes this node found dead (lease gone, or a goodbye).
    pub fn dead_tags(&self) -> u64 {
        read(&self.dead_tags)
    }
    /// Upgrades of this node's sessions that landed on this node.
    pub fn upgrades_local(&self) -> u64 {
        read(&self.upgrades_local)
    }
    /// Upgrades of this node's sessions held by another node after the
    /// hand-over window, which relays them.
    pub fn upgrades_relay(&self) -> u64 {
        read(&self.upgrades_relay)
    }
    /// Upgrades held by this node for another node's session that the
    /// owner refused (not eligible).
    pub fn upgrades_refused(&self) -> u64 {
        read(&self.upgrades_refused)
    }
    /// Upgrades of this node's sessions held by another node within the
    /// hand-over window: the session moved there.
    pub fn upgrades_handover(&self) -> u64 {
        read(&self.upgrades_handover)
    }
    /// Sessions (relayed or with a forwarded request pending) closed
    /// because the node at the other end died.
    pub fn closed_by_peer_death(&self) -> u64 {
        read(&self.relayed_closed_by_death)
    }
    /// Relays held here that ended on this side (the socket stalled or
    /// failed, or the owner could not be pulled from); the owner was told.
    pub fn relays_failed(&self) -> u64 {
        read(&self.relays_failed)
    }
    /// Relays this node (the owner) had committed when their holder's
    /// abort came (the commit was applied after the holder gave up): the
    /// session was closed at once.
    pub fn relays_aborted(&self) -> u64 {
        read(&self.relays_aborted)
    }
    /// Forwards refused because too many were in flight (answered `503`).
    pub fn busy(&self) -> u64 {
        read(&self.busy)
    }
    /// Handshakes refused (`503`) while this node's bus said it was not a
    /// member (its lease lapsed, its inbox unsubscribed).
    pub fn membership_refusals(&self) -> u64 {
        read(&self.membership_refusals)
    }
    /// Frames dropped on arrival because this node's inbox was full (in
    /// frames or bytes); their requests time out on the sender.
    pub fn inbox_dropped(&self) -> u64 {
        self.inbox_dropped.get().map_or(0, |count| count())
    }
}
