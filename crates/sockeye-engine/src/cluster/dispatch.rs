//! The owner's inbox, applied one session at a time.
//!
//! Frames about a session (GET, POST, CANCEL, upgrade steps, CLOSE) run the
//! application's handlers (a forwarded POST delivers its messages). Applied
//! inline by the one task that reads the inbox, a slow handler would hold
//! up every other session of the node; spawned one task per frame, a
//! session's frames could overtake each other. So each session with frames
//! waiting gets one worker task that applies them in arrival order and ends
//! when its queue is empty; frames with no session (answers, goodbyes) are
//! applied by the reader at once.
//!
//! Bounded: a waiting frame keeps its bytes counted against the inbox's
//! bound (its [`Permit`]), so the queues hold at most what the inbox may,
//! and there is at most one worker per session with frames waiting.

use super::Cluster;
use super::frame::Frame;
use super::inbox::Permit;
use crate::engine::Shared;
use parking_lot::Mutex;
use sockeye_proto::{Sid, SidMap};
use std::collections::VecDeque;
use std::sync::{Arc, Weak};

/// A frame and the permit that keeps its bytes counted until applied.
pub(crate) type Queued = (Frame, Permit);

/// The queues of the sessions with frames waiting.
#[derive(Default)]
pub(crate) struct Dispatch {
    queues: Mutex<SidMap<VecDeque<Queued>>>,
}

impl Dispatch {
    /// Queues a frame behind its session's earlier ones; starts the
    /// session's worker when there were none.
    pub fn push(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        cluster: &Arc<Cluster>,
        frame: Frame,
        permit: Permit,
        apply: fn(&Arc<Shared>, &Arc<Cluster>, Frame),
    ) {
        let sid = frame.sid;
        {
            let mut queues = self.queues.lock();
            if let Some(queue) = queues.get_mut(&sid) {
                queue.push_back((frame, permit));
                return;
            }
            queues.insert(sid, VecDeque::from([(frame, permit)]));
        }
        tokio::spawn(work(
            Arc::downgrade(self),
            Arc::downgrade(shared),
            Arc::downgrade(cluster),
            sid,
            apply,
        ));
    }

    /// The next frame of `sid`; `None` (and the queue is gone) when empty.
    fn next(&self, sid: &Sid) -> Option<Queued> {
        let mut queues = self.queues.lock();
        let queue = queues.get_mut(sid)?;
        let next = queue.pop_front();
        if next.is_none() {
            queues.remove(sid);
        }
        next
    }

    /// Sessions with frames waiting.
    #[cfg(test)]
    fn busy(&self) -> usize {
        self.queues.lock().len()
    }
}

/// One session's worker: applies its frames in order until none wait.
async fn work(
    dispatch: Weak<Dispatch>,
    shared: Weak<Shared>,
    cluster: Weak<Cluster>,
    sid: Sid,
    apply: fn(&Arc<Shared>, &Arc<Cluster>, Frame),
) {
    // A frame whose handler panics ends this task: the guard then drops the
    // session's queue (and the permits of its frames), so that the next
    // frame starts a new worker instead of waiting behind a dead one.
    let _guard = Unwind {
        dispatch: dispatch.clone(),
        sid,
    };
    loop {
        let Some(d) = dispatch.upgrade() else { return };
        let Some((frame, permit)) = d.next(&sid) else {
            return;
        };
        drop(d);
        let (Some(shared), Some(cluster)) = (shared.upgrade(), cluster.upgrade()) else {
            return;
        };
        apply(&shared, &cluster, frame);
        drop(permit);
        // Lets other tasks run between the frames of a busy session.
        tokio::task::yield_now().await;
    }
}

/// Drops a session's queue when its worker unwinds.
struct Unwind {
    dispatch: Weak<Dispatch>,
    sid: Sid,
}

impl Drop for Unwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(d) = self.dispatch.upgrade() {
                d.queues.lock().remove(&self.sid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::frame::Kind;
    use crate::cluster::inbox::Inbox;
    use bytes::Bytes;

    #[test]
    fn a_queue_is_gone_once_empty() {
        let d = Dispatch::default();
        let sid = Sid::generate();
        let (tx, mut inbox) = Inbox::bounded(8, 1 << 10);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tx.try_send(Bytes::from_static(b"x")).unwrap();
        let (_, permit) = rt.block_on(inbox.recv()).unwrap().into_parts();
        let frame = Frame {
            kind: Kind::Get,
            from: sockeye_proto::NodeTag([1, 2, 3]),
            flags: 0,
            request: 1,
            sid,
            status: 0,
            body: Bytes::new(),
        };
        d.queues
            .lock()
            .insert(frame.sid, VecDeque::from([(frame, permit)]));
        assert_eq!(d.busy(), 1);
        assert!(d.next(&sid).is_some());
        assert_eq!(inbox.queued_bytes(), 0);
        assert!(d.next(&sid).is_none());
        assert_eq!(d.busy(), 0);
    }
}
