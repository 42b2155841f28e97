//! Lease look-ups of tags this node has not seen yet (the first request
//! for a session of a new peer, or a made-up sid).
//!
//! Look-ups are batched and run one at a time: however many requests name
//! unknown tags, the bus sees at most one check in flight, of at most
//! `MAX_TAGS` tags. A tag found alive joins the peers; one not found leaves
//! nothing behind (no dead entry, no info log), so random sids cost one
//! shared check and no memory.

use super::Cluster;
use sockeye_proto::NodeTag;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use tokio::sync::oneshot;

/// How many distinct unknown tags one look-up asks about at most; requests
/// for more are refused at once.
const MAX_TAGS: usize = 256;
/// How many requests may wait for look-ups at once; more are refused.
const MAX_WAITING: usize = 4096;

/// The look-ups waiting for the next check.
#[derive(Default)]
pub(super) struct Lookups {
    queued: HashMap<NodeTag, Vec<oneshot::Sender<bool>>>,
    waiting: usize,
    running: bool,
}

impl Cluster {
    /// Whether `tag`, unknown to this node, holds a live lease (false when
    /// the check fails, times out, or too many look-ups wait).
    pub(super) async fn lookup(self: &Arc<Self>, tag: NodeTag) -> bool {
        let rx = {
            let mut st = self.lookups.lock();
            if st.waiting >= MAX_WAITING
                || (st.queued.len() >= MAX_TAGS && !st.queued.contains_key(&tag))
            {
                tracing::debug!(%tag, "cluster look-up refused: too many waiting");
                return false;
            }
            let (tx, rx) = oneshot::channel();
            st.queued.entry(tag).or_default().push(tx);
            st.waiting += 1;
            if !st.running {
                st.running = true;
                tokio::spawn(run(Arc::downgrade(self)));
            }
            rx
        };
        matches!(
            tokio::time::timeout(self.request_timeout, rx).await,
            Ok(Ok(true))
        )
    }
}

/// Checks the queued tags, one batch at a time, until none are queued.
async fn run(cluster: Weak<Cluster>) {
    loop {
        let Some(c) = cluster.upgrade() else { return };
        let batch = {
            let mut st = c.lookups.lock();
            if st.queued.is_empty() {
                st.running = false;
                return;
            }
            st.waiting = 0;
            std::mem::take(&mut st.queued)
        };
        let (tags, waiters): (Vec<NodeTag>, Vec<_>) = batch.into_iter().unzip();
        let check = c.bus.check(tags.clone());
        let timeout = c.request_timeout;
        drop(c);
        let alive = match tokio::time::timeout(timeout, check).await {
            Ok(Ok(alive)) => alive,
            _ => Vec::new(),
        };
        let Some(c) = cluster.upgrade() else { return };
        for (i, (tag, waiters)) in tags.into_iter().zip(waiters).enumerate() {
            let ok = alive.get(i).copied().unwrap_or(false);
            if ok {
                c.peers.lock().saw(tag);
            } else {
                tracing::debug!(%tag, "sid of an unknown node refused");
            }
            for tx in waiters {
                let _ = tx.send(ok);
            }
        }
    }
}
