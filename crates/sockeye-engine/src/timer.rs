//! One timer task for the heartbeats of every polling session.
//!
//! A polling session has no I/O task of its own between requests, so its
//! pings, ping timeouts and close grace are driven from here: a heap of
//! deadlines served by a single task, instead of a sleeping task per session.
//! (A WebSocket session's heartbeat lives in its I/O loop.)
//!
//! Entries are not removed when a deadline moves (a pong pushes the next
//! ping later): the entry fires, the session reports its real next deadline,
//! and is pushed again. A session that finished or moved to WebSocket simply
//! is not pushed again.
//!
//! An entry names its session by id and finds it in the engine's table when
//! it fires. (It held a `Weak` before: that kept every ended session's
//! allocation, ~860 bytes, until its next heartbeat deadline, 25 s later;
//! 69 MB after 76,000 short polling sessions.) Entries of sessions that
//! ended are dropped when they fire, and the heap is compacted when they
//! outnumber the live sessions.
//!
//! Lock order: the heap, then a shard of the session table (compaction);
//! never the other way round.

use crate::engine::Shared;
use crate::session::Session;
use parking_lot::Mutex;
use sockeye_proto::Sid;
use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

struct Entry {
    at: Instant,
    seq: u64,
    sid: Sid,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed: the heap's top is the earliest deadline.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Default)]
pub(crate) struct PollingTimer {
    heap: Mutex<BinaryHeap<Entry>>,
    seq: AtomicU64,
    wake: Notify,
    running: AtomicBool,
}

impl PollingTimer {
    /// Looks at `session` again at `at`, unless it is already due earlier
    /// (each session has at most one live entry: `State::timer_due`).
    pub fn schedule(&self, shared: &Arc<Shared>, session: &Session, at: Instant) {
        {
            let mut st = session.0.state.lock();
            if st.timer_due.is_some_and(|t| t <= at) {
                return;
            }
            st.timer_due = Some(at);
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let earliest = {
            let mut heap = self.heap.lock();
            let earliest = heap.peek().is_none_or(|top| at < top.at);
            heap.push(Entry {
                at,
                seq,
                sid: session.sid(),
            });
            earliest
        };
        if !self.running.swap(true, Ordering::AcqRel) {
            tokio::spawn(run(Arc::downgrade(shared)));
        }
        if earliest {
            self.wake.notify_one();
        }
    }
}

async fn run(shared: Weak<Shared>) {
    loop {
        let Some(s) = shared.upgrade() else { return };
        let now = Instant::now();
        let mut due = Vec::new();
        let next = {
            let mut heap = s.polling_timer.heap.lock();
            while heap.peek().is_some_and(|top| top.at <= now) {
                if let Some(e) = heap.pop() {
                    due.push((e.at, e.sid));
                }
            }
            // Entries of ended sessions wait for their deadline; when they
            // outnumber the live sessions, they go at once.
            if heap.len() > 2 * s.live() + 1024 {
                heap.retain(|e| s.contains(&e.sid));
            }
            heap.peek().map(|top| top.at)
        };
        for (at, sid) in due {
            if let Some(session) = s.get(&sid) {
                {
                    // A stale entry: an earlier one replaced it.
                    let mut st = session.0.state.lock();
                    if st.timer_due != Some(at) {
                        continue;
                    }
                    st.timer_due = None;
                }
                if let Some(at) = crate::transport::polling_tick(&session, now) {
                    s.polling_timer.schedule(&s, &session, at);
                }
            }
        }
        // Check now and then whether the engine is still there: the task
        // ends with it.
        let idle = now + Duration::from_secs(1);
        let at = next.map_or(idle, |n| n.min(idle));
        let wake = s.polling_timer.wake.notified();
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = wake => {}
        }
    }
}
