//! The connect timeout: a session that joins no namespace within
//! `connect_timeout` is closed.
//!
//! Every session gets the same timeout, so deadlines arrive in the order
//! sessions open: one FIFO queue and one task serve every session, instead
//! of a timer task per session.

use crate::client::Client;
use crate::reason::DisconnectReason;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The deadlines, oldest first.
#[derive(Default)]
struct Queue {
    entries: VecDeque<(Instant, Weak<Client>)>,
    /// The length after the last compaction: the next one comes when the
    /// queue has doubled since (amortised O(1) per push).
    compacted: usize,
}

impl Queue {
    /// Drops the entries nobody needs any more: connections that ended
    /// (a `Weak` keeps its `Client`'s allocation until dropped, and under
    /// churn most connections end long before their 45 s deadline) or that
    /// joined a namespace. Order is kept.
    fn compact(&mut self) {
        self.entries.retain(|(_, client)| {
            client
                .upgrade()
                .is_some_and(|c| !c.joined.load(Ordering::Acquire))
        });
        self.compacted = self.entries.len();
    }
}

#[derive(Default)]
pub(crate) struct ConnectDeadlines {
    timeout: Duration,
    /// Only a weak handle per connection: a connection that ended must not
    /// be kept alive until its deadline.
    queue: Mutex<Queue>,
    wake: Notify,
    running: std::sync::atomic::AtomicBool,
}

impl ConnectDeadlines {
    pub fn new(timeout: Duration) -> Self {
        ConnectDeadlines {
            timeout,
            ..Default::default()
        }
    }

    /// Registers a new session; starts the timer task on first use.
    pub fn push(self: &std::sync::Arc<Self>, client: Weak<Client>) {
        let was_empty = {
            let mut q = self.queue.lock();
            if q.entries.len() >= 2 * q.compacted + 1024 {
                q.compact();
            }
            q.entries.push_back((Instant::now() + self.timeout, client));
            q.entries.len() == 1
        };
        if !self.running.swap(true, Ordering::AcqRel) {
            let me = std::sync::Arc::downgrade(self);
            tokio::spawn(run(me));
        }
        // Later entries never expire before the front one: the task only
        // needs waking when it was idle.
        if was_empty {
            self.wake.notify_one();
        }
    }
}

async fn run(deadlines: Weak<ConnectDeadlines>) {
    loop {
        let Some(d) = deadlines.upgrade() else { return };
        let next = {
            let mut q = d.queue.lock();
            let now = Instant::now();
            while let Some((at, _)) = q.entries.front() {
                if *at > now {
                    break;
                }
                if let Some((_, client)) = q.entries.pop_front() {
                    let client = client.upgrade();
                    let open = client
                        .as_ref()
                        .and_then(|c| c.session())
                        .filter(|s| !s.is_closed());
                    if let (Some(client), Some(session)) = (client, open) {
                        if !client.joined.load(Ordering::Acquire) {
                            tracing::debug!(sid = %session.sid(), "no namespace joined in time, closing");
                            client.close_with(DisconnectReason::ForcedServerClose);
                        }
                    }
                }
            }
            q.compacted = q.compacted.min(q.entries.len());
            q.entries.front().map(|(at, _)| *at)
        };
        // Hold the queue only while waiting, and check now and then whether
        // the server is still there (the task ends with it).
        let idle_check = Instant::now() + Duration::from_secs(1);
        let at = next.map_or(idle_check, |at| at.min(idle_check));
        let wake = d.wake.notified();
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = wake => {}
        }
    }
}
