//! [`Inbox`]: the frames addressed to one node, bounded in frames and in
//! bytes, and counted until the engine has applied them.
//!
//! A bus fills it from its transport's callback with
//! [`InboxSender::try_send`], which never waits: a frame over either bound
//! is dropped (its request times out on the sender, which answers its
//! client `400` or retries). A frame's bytes stay counted until the engine
//! is done with it, also while it waits behind its session's earlier
//! frames, so a slow session cannot make the node hold more than the
//! bound.

use super::bus::BusError;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::mpsc;

/// What the sending and the receiving half share.
#[derive(Debug, Default)]
struct Counters {
    bytes: AtomicUsize,
    dropped: AtomicU64,
}

/// The receiving half, taken once by the engine
/// ([`ClusterBus::take_inbox`](super::ClusterBus::take_inbox)).
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::Receiver<InboxFrame>,
    counters: Arc<Counters>,
}

/// The sending half, kept by the bus.
#[derive(Debug, Clone)]
pub struct InboxSender {
    tx: mpsc::Sender<InboxFrame>,
    counters: Arc<Counters>,
    max_bytes: usize,
}

/// One frame taken from an [`Inbox`]; its bytes count against the inbox's
/// bound until it is dropped.
#[derive(Debug)]
pub struct InboxFrame {
    data: Bytes,
    permit: Permit,
}

/// Gives a frame's bytes back to the inbox's bound when dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    counters: Arc<Counters>,
    len: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.counters.bytes.fetch_sub(self.len, Ordering::AcqRel);
    }
}

impl Inbox {
    /// What a frame costs beyond its bytes while it waits (its `Frame`,
    /// permit and queue slot), counted against the byte bound so that a
    /// flood of tiny frames is bounded in memory too.
    pub const FRAME_OVERHEAD: usize = 128;

    /// An inbox that holds at most `max_frames` frames not yet read and
    /// `max_bytes` bytes (each frame's length plus [`Inbox::FRAME_OVERHEAD`]) of
    /// frames not yet applied.
    pub fn bounded(max_frames: usize, max_bytes: usize) -> (InboxSender, Inbox) {
        let (tx, rx) = mpsc::channel(max_frames.max(1));
        let counters = Arc::new(Counters::default());
        (
            InboxSender {
                tx,
                counters: counters.clone(),
                max_bytes: max_bytes.max(1),
            },
            Inbox { rx, counters },
        )
    }

    /// The next frame; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<InboxFrame> {
        self.rx.recv().await
    }

    /// Bytes of frames received and not yet applied (or dropped), each
    /// with [`Inbox::FRAME_OVERHEAD`].
    pub fn queued_bytes(&self) -> usize {
        self.counters.bytes.load(Ordering::Acquire)
    }

    /// Frames dropped on arrival because a bound was reached.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// A handle on the drop count that outlives the inbox.
    pub(crate) fn drop_count(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let counters = self.counters.clone();
        move || counters.dropped.load(Ordering::Relaxed)
    }
}

impl InboxSender {
    /// Queues a frame; never waits. [`BusError::Full`] when the inbox holds
    /// its most frames or bytes (the frame is dropped and counted),
    /// [`BusError::Unavailable`] when the engine is gone.
    pub fn try_send(&self, data: Bytes) -> Result<(), BusError> {
        let len = data.len() + Inbox::FRAME_OVERHEAD;
        let before = self.counters.bytes.fetch_add(len, Ordering::AcqRel);
        // The permit gives the bytes back however this ends.
        let permit = Permit {
            counters: self.counters.clone(),
            len,
        };
        if before.saturating_add(len) > self.max_bytes {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(BusError::Full);
        }
        match self.tx.try_send(InboxFrame { data, permit }) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                Err(BusError::Full)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Err(BusError::Unavailable("the engine is gone".into()))
            }
        }
    }
}

impl InboxFrame {
    /// The frame's bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.data
    }

    /// The bytes, and the permit that keeps them counted.
    pub(crate) fn into_parts(self) -> (Bytes, Permit) {
        (self.data, self.permit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_count_against_the_byte_bound_until_dropped() {
        let o = Inbox::FRAME_OVERHEAD;
        let (tx, mut inbox) = Inbox::bounded(100, 2 * o + 10);
        tx.try_send(Bytes::from_static(b"123456")).unwrap();
        assert_eq!(
            tx.try_send(Bytes::from_static(b"12345")),
            Err(BusError::Full)
        );
        assert_eq!(inbox.dropped(), 1);
        let first = inbox.recv().await.unwrap();
        // Received but not applied: still counted.
        assert_eq!(inbox.queued_bytes(), o + 6);
        assert!(tx.try_send(Bytes::from_static(b"12345")).is_err());
        drop(first);
        assert_eq!(inbox.queued_bytes(), 0);
        tx.try_send(Bytes::from_static(b"12345")).unwrap();
        assert_eq!(inbox.recv().await.unwrap().bytes().as_ref(), b"12345");
        assert_eq!(inbox.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn tiny_frames_are_bounded_by_their_overhead() {
        let (tx, _inbox) = Inbox::bounded(1 << 20, 10 * Inbox::FRAME_OVERHEAD);
        let sent = (0..100)
            .filter(|_| tx.try_send(Bytes::new()).is_ok())
            .count();
        assert_eq!(sent, 10);
    }

    #[tokio::test]
    async fn the_frame_bound_holds_too() {
        let (tx, _inbox) = Inbox::bounded(2, 1 << 20);
        tx.try_send(Bytes::from_static(b"a")).unwrap();
        tx.try_send(Bytes::from_static(b"b")).unwrap();
        assert_eq!(tx.try_send(Bytes::from_static(b"c")), Err(BusError::Full));
    }
}
