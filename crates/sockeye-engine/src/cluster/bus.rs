//! [`ClusterBus`]: how the nodes of a cluster reach each other, and
//! [`MemoryHub`], an in-process bus for tests.

use super::inbox::{Inbox, InboxSender};
use crate::config::BoxFuture;
use bytes::Bytes;
use parking_lot::Mutex;
use sockeye_proto::NodeTag;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a frame could not be published or a liveness check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The recipient holds no live lease (dead, left, or never existed).
    #[error("node {0} is not alive")]
    Dead(NodeTag),
    /// The bus's outgoing queue is full.
    #[error("the cluster bus is saturated")]
    Full,
    /// The bus cannot reach its transport (Redis down, bus closed).
    #[error("cluster bus unavailable: {0}")]
    Unavailable(String),
}

/// The messaging and membership a cluster of engines needs.
///
/// Every node has a tag (the first 3 bytes of the sids it hands out), a
/// private inbox, and a lease that its peers can check. Frames are opaque
/// bytes; the bus must deliver the frames one publisher sends to one
/// recipient in the order they were published (Redis pub/sub on one
/// connection does), and may lose them (the engine's deadlines cover that).
pub trait ClusterBus: Send + Sync + fmt::Debug + 'static {
    /// This node's tag.
    fn tag(&self) -> NodeTag;
    /// Queues a frame for the node `to`; never waits. Refused when the
    /// queue is full or the bus is down.
    fn publish(&self, to: NodeTag, frame: Bytes) -> Result<(), BusError>;
    /// The frames addressed to this node (fill it with an
    /// [`InboxSender`], bounded in frames and bytes). The engine takes it
    /// once, when it is built; later calls return `None`.
    fn take_inbox(&self) -> Option<Inbox>;
    /// Which of `tags` hold a live lease, in order.
    fn check(&self, tags: Vec<NodeTag>) -> BoxFuture<Result<Vec<bool>, BusError>>;
    /// Gives up this node's lease (graceful shutdown): its peers see it dead.
    fn leave(&self) -> BoxFuture<()>;
    /// Whether this node is known to hold its lease and receive its
    /// frames. A node that is not (its lease refresh failed for about a
    /// lease, its subscription is down) is seen dead by its peers, which
    /// refuse its sids: the engine then refuses new sessions with `503`
    /// rather than hand out sids that no other node would serve.
    fn is_member(&self) -> bool {
        true
    }
}

/// How many frames wait in a [`MemoryBus`] inbox before publishes to it are
/// refused.
const MEMORY_INBOX: usize = 4096;
/// How many bytes of frames wait in a [`MemoryBus`] inbox at most.
const MEMORY_INBOX_BYTES: usize = 64 << 20;

/// An in-process cluster: engines of one test share it, each through its
/// own [`MemoryBus`] (what Node's cluster-engine tests do with an event
/// emitter).
#[derive(Debug, Default)]
pub struct MemoryHub {
    nodes: Mutex<HashMap<NodeTag, InboxSender>>,
    /// Frames held back from paused nodes, in order.
    paused: Mutex<HashMap<NodeTag, Vec<Bytes>>>,
    /// Nodes whose lease checks answer "missing" while they still run
    /// (what a Redis restart that lost the lease keys looks like).
    hidden: Mutex<HashSet<NodeTag>>,
    /// How many lease checks the nodes made.
    checks: AtomicU64,
}

impl MemoryHub {
    /// An empty hub.
    pub fn new() -> Arc<MemoryHub> {
        Arc::new(MemoryHub::default())
    }

    /// A new node on the hub, with a fresh random tag.
    pub fn join(self: &Arc<Self>) -> Arc<MemoryBus> {
        let (tx, rx) = Inbox::bounded(MEMORY_INBOX, MEMORY_INBOX_BYTES);
        let mut nodes = self.nodes.lock();
        let tag = loop {
            let tag = NodeTag::random();
            if !nodes.contains_key(&tag) {
                break tag;
            }
        };
        nodes.insert(tag, tx);
        Arc::new(MemoryBus {
            hub: self.clone(),
            tag,
            inbox: Mutex::new(Some(rx)),
        })
    }

    /// Simulates the death of a node (`kill -9`): its lease is gone, frames
    /// to it are refused and it can no longer publish.
    pub fn kill(&self, tag: NodeTag) {
        self.nodes.lock().remove(&tag);
    }

    /// Whether the node holds its lease.
    pub fn is_alive(&self, tag: NodeTag) -> bool {
        self.nodes.lock().contains_key(&tag) && !self.hidden.lock().contains(&tag)
    }

    /// Simulates the loss of a running node's lease (a Redis restart or
    /// failover): checks find it missing, frames still flow, until
    /// [`MemoryHub::restore_lease`].
    pub fn hide_lease(&self, tag: NodeTag) {
        self.hidden.lock().insert(tag);
    }

    /// How many lease checks (one per [`ClusterBus::check`] call) the
    /// nodes of this hub made.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// Ends [`MemoryHub::hide_lease`]: the node's lease is found again.
    pub fn restore_lease(&self, tag: NodeTag) {
        self.hidden.lock().remove(&tag);
    }

    /// Holds back the frames sent to `tag` (a node whose inbox runs late:
    /// a stalled event loop, a slow subscriber) until
    /// [`MemoryHub::resume`]. Its lease stays good.
    pub fn pause(&self, tag: NodeTag) {
        self.paused.lock().entry(tag).or_default();
    }

    /// Delivers the frames held back from `tag`, in order, and lets later
    /// ones through.
    pub fn resume(&self, tag: NodeTag) {
        let mut paused = self.paused.lock();
        let held = paused.remove(&tag).unwrap_or_default();
        let target = self.nodes.lock().get(&tag).cloned();
        if let Some(target) = target {
            for frame in held {
                let _ = target.try_send(frame);
            }
        }
    }
}

/// One node's access to a [`MemoryHub`].
#[derive(Debug)]
pub struct MemoryBus {
    hub: Arc<MemoryHub>,
    tag: NodeTag,
    inbox: Mutex<Option<Inbox>>,
}

impl ClusterBus for MemoryBus {
    fn tag(&self) -> NodeTag {
        self.tag
    }

    fn publish(&self, to: NodeTag, frame: Bytes) -> Result<(), BusError> {
        let target = {
            let nodes = self.hub.nodes.lock();
            if !nodes.contains_key(&self.tag) {
                return Err(BusError::Unavailable("this node was killed".into()));
            }
            nodes.get(&to).cloned()
        };
        let target = target.ok_or(BusError::Dead(to))?;
        // Checked under the pause lock, so that a resume delivers what it
        // held before anything published after it.
        let mut paused = self.hub.paused.lock();
        if let Some(held) = paused.get_mut(&to) {
            held.push(frame);
            return Ok(());
        }
        target.try_send(frame).map_err(|e| match e {
            BusError::Unavailable(_) => BusError::Dead(to),
            e => e,
        })
    }

    fn take_inbox(&self) -> Option<Inbox> {
        self.inbox.lock().take()
    }

    fn check(&self, tags: Vec<NodeTag>) -> BoxFuture<Result<Vec<bool>, BusError>> {
        self.hub.checks.fetch_add(1, Ordering::Relaxed);
        let alive = tags.iter().map(|t| self.hub.is_alive(*t)).collect();
        Box::pin(std::future::ready(Ok(alive)))
    }

    fn leave(&self) -> BoxFuture<()> {
        self.hub.kill(self.tag);
        Box::pin(std::future::ready(()))
    }

    /// False while the hub hides this node's lease
    /// ([`MemoryHub::hide_lease`]) or after it was killed.
    fn is_member(&self) -> bool {
        self.hub.is_alive(self.tag)
    }
}
