//! Sessions served from any node: a request for a session that another
//! node owns is forwarded to the owner over a [`ClusterBus`].
//!
//! * The owner is known from the sid alone: engine sids start with the
//!   owner's [`NodeTag`] (3 bytes, 4 characters). A sid of this node that is
//!   not in the table, or of a dead node, is answered `400` code 1 at once.
//! * Polling GET and POST are forwarded whole; the owner runs the same code
//!   as for a local request (one pending GET, the ping interval as longest
//!   wait, overlap and close rules, limits) and the forwarder renders the
//!   answer. A POST is answered only after the owner applied it, so the
//!   client's packets keep their order whatever node each request reaches.
//! * A WebSocket upgrade that lands on a non-owner is relayed: the session
//!   stays on its owner (which reports it as on WebSocket) and the
//!   forwarder moves frames both ways.
//! * Liveness: every `heartbeat`, the leases of the nodes this node has
//!   traffic with (and of those held dead) are checked; two misses in a
//!   row make a node dead: its forwards fail at once, the sessions served
//!   through it close. A dead node comes back on a good check or a frame
//!   from it, and is forgotten after about a lease. A graceful stop says
//!   goodbye.
//!
//! See `docs/design/sessions-without-stickiness.md`.

mod bus;
mod config;
mod dispatch;
mod forward;
pub(crate) mod frame;
pub(crate) mod handover;
mod inbox;
mod lookup;
mod owner;
mod peers;
mod relay;
mod seal;
mod stats;

pub use bus::{BusError, ClusterBus, MemoryBus, MemoryHub};
pub use config::ClusterConfig;
pub(crate) use forward::forward;
pub use inbox::{Inbox, InboxFrame, InboxSender};
pub use stats::ClusterStats;

use crate::engine::Shared;
use crate::handler::CloseReason;
use bytes::Bytes;
use frame::{Frame, Kind};
use parking_lot::Mutex;
use peers::{Peers, Verdict};
use sockeye_proto::{NodeTag, Sid, SidMap};
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// Counts an upgrade of a cluster node's session that landed on it.
pub(crate) fn count_local_upgrade(shared: &Shared) {
    if shared.cluster.is_some() {
        stats::bump(&shared.stats.cluster().upgrades_local);
    }
}

/// Counts a handshake refused because this node lost its cluster lease.
pub(crate) fn count_membership_refusal(shared: &Shared) {
    stats::bump(&shared.stats.cluster().membership_refusals);
}

/// Why a forwarded request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The owner is dead or the bus refused.
    Unreachable,
    /// No answer in time.
    Timeout,
    /// Too many forwards in flight.
    Busy,
}

struct Pending {
    to: NodeTag,
    /// A long wait (parked GET, relay pull), under its own budget.
    long: bool,
    tx: oneshot::Sender<Result<Frame, Failure>>,
}

/// Requests this node forwarded, by request id, with how many of them are
/// long waits.
#[derive(Default)]
struct PendingTable {
    map: HashMap<u64, Pending>,
    long: usize,
}

impl PendingTable {
    fn remove(&mut self, id: &u64) -> Option<Pending> {
        let p = self.map.remove(id)?;
        if p.long {
            self.long -= 1;
        }
        Some(p)
    }
}

/// A forwarded GET parked on this node (the owner) for another node.
struct Waiter {
    sid: Sid,
    task: tokio::task::AbortHandle,
}

/// The cluster state of one engine.
pub(crate) struct Cluster {
    pub bus: Arc<dyn ClusterBus>,
    pub tag: NodeTag,
    pub heartbeat: Duration,
    pub request_timeout: Duration,
    pub handover_window: Duration,
    /// The shared secret that authenticates frames, if any.
    seal: Option<seal::Seal>,
    max_in_flight: usize,
    max_waiting: usize,
    next_id: AtomicU64,
    /// Keys the hash that turns `next_id` into request ids.
    id_key: std::collections::hash_map::RandomState,
    /// Requests this node forwarded, by request id.
    pending: Mutex<PendingTable>,
    /// GETs other nodes forwarded here, by (forwarder, request id).
    waiters: Mutex<HashMap<(NodeTag, u64), Waiter>>,
    /// Sessions of this node upgrading or relayed through another node.
    /// (holder, the request id of its upgrade's BEGIN: which attempt).
    served: Mutex<SidMap<(NodeTag, u64)>>,
    peers: Mutex<Peers>,
    lookups: Mutex<lookup::Lookups>,
    /// Set when the engine closes: relays held here end.
    pub closing: watch::Sender<bool>,
    shared: OnceLock<Weak<Shared>>,
    pub stats: Arc<ClusterStats>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    pub fn new(config: &ClusterConfig, stats: Arc<ClusterStats>) -> Arc<Cluster> {
        Arc::new(Cluster {
            bus: config.bus.clone(),
            tag: config.bus.tag(),
            heartbeat: config.heartbeat,
            request_timeout: config.request_timeout,
            handover_window: config.handover_window,
            seal: config.secret.as_deref().map(seal::Seal::new),
            max_in_flight: config.max_in_flight,
            max_waiting: config.max_waiting,
            next_id: AtomicU64::new(1),
            id_key: std::collections::hash_map::RandomState::new(),
            pending: Mutex::new(PendingTable::default()),
            waiters: Mutex::new(HashMap::new()),
            served: Mutex::new(SidMap::default()),
            peers: Mutex::new(Peers::default()),
            lookups: Mutex::new(lookup::Lookups::default()),
            closing: watch::channel(false).0,
            shared: OnceLock::new(),
            stats,
        })
    }

    /// Starts the inbox and liveness tasks (on the current runtime).
    pub fn start(self: &Arc<Self>, shared: &Arc<Shared>) -> Result<(), String> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| "cluster mode needs a Tokio runtime to build the engine".to_owned())?;
        let inbox = self
            .bus
            .take_inbox()
            .ok_or_else(|| "the cluster bus's inbox was already taken".to_owned())?;
        let _ = self.shared.set(Arc::downgrade(shared));
        let _ = self.stats.inbox_dropped.set(Box::new(inbox.drop_count()));
        handle.spawn(owner::inbox(
            Arc::downgrade(shared),
            Arc::downgrade(self),
            inbox,
        ));
        handle.spawn(liveness(Arc::downgrade(self)));
        Ok(())
    }

    /// Reads a frame from the inbox (its tag checked when sealed).
    pub(crate) fn open(&self, data: Bytes) -> Result<Frame, frame::BadFrame> {
        seal::open(self.seal.as_ref(), data)
    }

    fn shared(&self) -> Option<Arc<Shared>> {
        self.shared.get().and_then(Weak::upgrade)
    }

    /// A frame from this node.
    pub fn frame(&self, kind: Kind, sid: Sid, flags: u8, status: u16, body: Bytes) -> Frame {
        Frame {
            kind,
            from: self.tag,
            flags,
            request: 0,
            sid,
            status,
            body,
        }
    }

    /// Publishes a frame that expects no answer; errors only logged.
    pub fn send(&self, to: NodeTag, frame: Frame) {
        if let Err(e) = self
            .bus
            .publish(to, seal::close(self.seal.as_ref(), &frame))
        {
            tracing::debug!(%to, error = %e, "cluster frame not sent");
        }
    }

    /// Sends a request and waits for its answer, at most `deadline`. A
    /// `long` wait (a forwarded GET, a relay pull) counts against
    /// `max_waiting` instead of `max_in_flight`, and when it is dropped or
    /// times out the owner is told (a GET whose client went away).
    pub async fn request(
        self: &Arc<Self>,
        to: NodeTag,
        mut frame: Frame,
        deadline: Duration,
        long: bool,
    ) -> Result<Frame, Failure> {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut pending = self.pending.lock();
            let full = if long {
                pending.long >= self.max_waiting
            } else {
                pending.map.len() - pending.long >= self.max_in_flight
            };
            if full {
                stats::bump(&self.stats.busy);
                return Err(Failure::Busy);
            }
            // Unguessable ids (a counter through a keyed hash): a forged
            // answer cannot aim at a request.
            let id = loop {
                let n = self.next_id.fetch_add(1, Ordering::Relaxed);
                let id = self.id_key.hash_one(n);
                if id != 0 && !pending.map.contains_key(&id) {
                    break id;
                }
            };
            pending.map.insert(id, Pending { to, long, tx });
            pending.long += usize::from(long);
            id
        };
        frame.request = id;
        let mut guard = PendingGuard {
            cluster: self,
            id,
            to,
            sid: frame.sid,
            cancel: long,
        };
        if let Err(e) = self
            .bus
            .publish(to, seal::close(self.seal.as_ref(), &frame))
        {
            guard.cancel = false;
            tracing::debug!(%to, error = %e, "forward not published");
            return Err(match e {
                // Saturated, not gone: the client retries (503), its
                // session lives.
                BusError::Full => Failure::Busy,
                BusError::Dead(_) => {
                    self.mark_dead(to);
                    Failure::Unreachable
                }
                _ => Failure::Unreachable,
            });
        }
        let result = match tokio::time::timeout(deadline, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Failure::Unreachable),
            Err(_) => {
                stats::bump(&self.stats.timeouts);
                self.suspect(to);
                Err(Failure::Timeout)
            }
        };
        if result.is_ok() {
            guard.cancel = false;
        }
        result
    }

    /// An answer arrived: it resolves its request only if it comes from
    /// the node the request went to.
    fn resolve(&self, frame: Frame) {
        let pending = {
            let mut pending = self.pending.lock();
            match pending.map.get(&frame.request) {
                Some(p) if p.to == frame.from => pending.remove(&frame.request),
                _ => None,
            }
        };
        if let Some(p) = pending {
            let _ = p.tx.send(Ok(frame));
        }
    }

    /// Whether requests may be forwarded to `tag` (checks its lease the
    /// first time, batched with other look-ups, then relies on the
    /// periodic checks; a tag never seen alive leaves nothing behind).
    pub async fn reachable(self: &Arc<Self>, tag: NodeTag) -> bool {
        if tag == self.tag {
            return false;
        }
        {
            let mut peers = self.peers.lock();
            if peers.is_dead(&tag) {
                return false;
            }
            if peers.use_alive(tag) {
                return true;
            }
        }
        self.lookup(tag).await
    }

    /// Whether `tag` is held dead.
    fn peer_dead(&self, tag: NodeTag) -> bool {
        self.peers.lock().is_dead(&tag)
    }

    /// A frame came from `tag`: it is alive (again, if it was held dead).
    fn saw(&self, tag: NodeTag) {
        if self.peers.lock().saw(tag) {
            tracing::info!(%tag, "cluster node back");
        }
    }

    /// A request to `tag` timed out: check its lease now rather than at the
    /// next heartbeat (a miss counts as one of the two that make it dead).
    fn suspect(self: &Arc<Self>, tag: NodeTag) {
        let this = Arc::downgrade(self);
        let check = self.bus.check(vec![tag]);
        tokio::spawn(async move {
            if let Ok(Ok(alive)) = tokio::time::timeout(Duration::from_secs(5), check).await {
                if let (Some(alive), Some(this)) = (alive.first(), this.upgrade()) {
                    this.checked(tag, *alive);
                }
            }
        });
    }

    /// Records a lease check of `tag`; fails its traffic on the second miss
    /// in a row.
    fn checked(&self, tag: NodeTag, alive: bool) {
        let verdict = self.peers.lock().checked(tag, alive);
        match verdict {
            Verdict::Dead => self.mark_dead(tag),
            Verdict::Revived => tracing::info!(%tag, "cluster node back"),
            Verdict::Missed => tracing::debug!(%tag, "cluster node missed a lease check"),
            Verdict::Fine => {}
        }
    }

    /// `tag` is dead: its forwards fail, the GETs it parked here are
    /// dropped (their sessions close as for a client gone), and the
    /// sessions it relayed or upgraded close.
    pub fn mark_dead(&self, tag: NodeTag) {
        if !self.peers.lock().bury(tag) {
            return;
        }
        stats::bump(&self.stats.dead_tags);
        tracing::info!(%tag, "cluster node gone: its forwards fail and its relays close");
        let failed: Vec<Pending> = {
            let mut pending = self.pending.lock();
            let ids: Vec<u64> = pending
                .map
                .iter()
                .filter(|(_, p)| p.to == tag)
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| pending.remove(id)).collect()
        };
        for p in failed {
            let _ = p.tx.send(Err(Failure::Unreachable));
        }
        let waiters: Vec<Waiter> = {
            let mut waiters = self.waiters.lock();
            let keys: Vec<(NodeTag, u64)> =
                waiters.keys().filter(|k| k.0 == tag).copied().collect();
            keys.iter().filter_map(|k| waiters.remove(k)).collect()
        };
        let mut sids: Vec<Sid> = waiters.iter().map(|w| w.sid).collect();
        for w in waiters {
            w.task.abort();
        }
        let mut upgrading = Vec::new();
        {
            let mut served = self.served.lock();
            served.retain(|sid, (t, _)| {
                if *t == tag {
                    upgrading.push(*sid);
                    false
                } else {
                    true
                }
            });
        }
        let Some(shared) = self.shared() else { return };
        for sid in upgrading {
            let Some(session) = shared.get(&sid) else {
                continue;
            };
            // Relayed through it: gone with it. Only upgrading through it
            // (not committed): back to polling, the session lives.
            let relayed = {
                let mut st = session.0.state.lock();
                if !st.relay {
                    st.upgrade = crate::session::Upgrade::Idle;
                }
                st.relay
            };
            if relayed {
                sids.push(sid);
            } else {
                session.0.writer.notify_waiters();
            }
        }
        for sid in sids {
            if let Some(session) = shared.get(&sid) {
                stats::bump(&self.stats.relayed_closed_by_death);
                session.close_with(CloseReason::TransportError);
            }
        }
    }

    /// Graceful stop: relays held here end now.
    pub fn begin_close(&self) {
        self.closing.send_replace(true);
    }

    /// Graceful stop, once local sessions are closed: goodbye to the peers
    /// with traffic, then the lease is given up.
    pub async fn finish_close(&self) {
        let peers: Vec<NodeTag> = self.peers.lock().alive();
        for tag in peers {
            self.send(
                tag,
                self.frame(Kind::Bye, frame::no_sid(), 0, 0, Bytes::new()),
            );
        }
        let _ = tokio::time::timeout(self.request_timeout, self.bus.leave()).await;
    }

    /// The tags whose leases the next check looks at: every peer with
    /// traffic, and the recently used ones.
    fn watched(&self) -> Vec<NodeTag> {
        let now = Instant::now();
        let mut tags: Vec<NodeTag> = self.pending.lock().map.values().map(|p| p.to).collect();
        tags.extend(self.waiters.lock().keys().map(|k| k.0));
        let shared = self.shared();
        {
            let mut served = self.served.lock();
            if let Some(shared) = &shared {
                served.retain(|sid, _| shared.contains(sid));
            }
            tags.extend(served.values().map(|(t, _)| *t));
        }
        tags.extend(self.peers.lock().prune(now));
        tags.sort_unstable();
        tags.dedup();
        tags
    }

    /// Forwards waiting here, GETs parked here for other nodes, sessions
    /// upgrading or relayed through other nodes.
    pub fn backlog(&self) -> (usize, usize, usize) {
        (
            self.pending.lock().map.len(),
            self.waiters.lock().len(),
            self.served.lock().len(),
        )
    }

    /// Records that `sid` is upgrading or relayed through `tag`.
    fn serve_through(&self, sid: Sid, tag: NodeTag, attempt: u64) {
        self.served.lock().insert(sid, (tag, attempt));
    }

    fn served_by(&self, sid: &Sid) -> Option<NodeTag> {
        self.served.lock().get(sid).map(|(t, _)| *t)
    }

    /// The holder of `sid`'s upgrade and which attempt it is.
    fn upgrade_attempt(&self, sid: &Sid) -> Option<(NodeTag, u64)> {
        self.served.lock().get(sid).copied()
    }

    fn unserve(&self, sid: &Sid) {
        self.served.lock().remove(sid);
    }
}

/// Removes a pending request when its wait ends, and tells the owner when
/// a waiting GET goes away unanswered.
struct PendingGuard<'a> {
    cluster: &'a Cluster,
    id: u64,
    to: NodeTag,
    sid: Sid,
    cancel: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let was_pending = self.cluster.pending.lock().remove(&self.id).is_some();
        if self.cancel && was_pending {
            let mut frame = self
                .cluster
                .frame(Kind::Cancel, self.sid, 0, 0, Bytes::new());
            frame.request = self.id;
            self.cluster.send(self.to, frame);
        }
    }
}

/// Checks the leases of the peers with traffic every heartbeat.
async fn liveness(cluster: Weak<Cluster>) {
    let heartbeat = match cluster.upgrade() {
        Some(c) => c.heartbeat,
        None => return,
    };
    let mut tick = tokio::time::interval(heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(c) = cluster.upgrade() else { return };
        let tags = c.watched();
        if tags.is_empty() {
            continue;
        }
        let check = c.bus.check(tags.clone());
        let timeout = c.request_timeout;
        drop(c);
        let Ok(Ok(alive)) = tokio::time::timeout(timeout, check).await else {
            continue;
        };
        let Some(c) = cluster.upgrade() else { return };
        for (tag, alive) in tags.into_iter().zip(alive) {
            c.checked(tag, alive);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_from_another_node_leaves_the_request_pending() {
        let hub = MemoryHub::new();
        let c = Cluster::new(&ClusterConfig::new(hub.join()), Arc::default());
        let (owner, other) = (NodeTag([1, 1, 1]), NodeTag([2, 2, 2]));
        let (tx, mut rx) = oneshot::channel();
        c.pending.lock().map.insert(
            7,
            Pending {
                to: owner,
                long: false,
                tx,
            },
        );
        let mut answer = c.frame(Kind::Reply, frame::no_sid(), 0, 200, Bytes::new());
        answer.request = 7;
        answer.from = other;
        c.resolve(answer.clone());
        assert!(c.pending.lock().map.contains_key(&7));
        answer.from = owner;
        c.resolve(answer);
        assert!(matches!(rx.try_recv(), Ok(Ok(_))));
    }
}
