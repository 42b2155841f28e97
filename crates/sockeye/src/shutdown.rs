//! The graceful close of the server ([`SocketIo::close`]), and the count
//! of the disconnect handlers still running, which it waits for.

use crate::SocketIo;
use crate::reason::DisconnectReason;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// The `on_disconnect` handlers running on tasks of their own.
#[derive(Debug, Default)]
pub(crate) struct DisconnectTasks {
    running: AtomicUsize,
    /// Woken when `running` drops to zero.
    idle: Notify,
}

/// Counts one running handler until it is dropped (the task ended, or
/// panicked, or was cancelled with its runtime).
struct Running(Arc<DisconnectTasks>);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl DisconnectTasks {
    /// Runs `fut` on a task of its own, counted while it runs.
    pub(crate) fn spawn(self: &Arc<Self>, fut: impl Future<Output = ()> + Send + 'static) {
        self.running.fetch_add(1, Ordering::AcqRel);
        let running = Running(self.clone());
        tokio::spawn(async move {
            let _running = running;
            fut.await;
        });
    }

    /// Resolves once no handler runs.
    async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.running.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl SocketIo {
    /// Node's `io.close()`: graceful shutdown, within `deadline`:
    ///
    /// 1. new connections are refused;
    /// 2. every socket is disconnected with `server shutting down`, which
    ///    runs its disconnect handlers;
    /// 3. the engine closes every connection (the clients are told) and
    ///    waits until they are gone, at most `deadline`;
    /// 4. meanwhile, once the `on_disconnect` handlers have finished, each
    ///    namespace's adapter sends what it has queued (with a cluster
    ///    adapter, what the handlers broadcast reaches the other nodes),
    ///    then closes. A handler or an adapter still busy at the deadline
    ///    (a dead Redis, say) is not waited for any longer: the adapters
    ///    close then.
    pub async fn close(&self, deadline: Duration) {
        let until = tokio::time::Instant::now() + deadline;
        self.engine().stop_accepting();
        let namespaces = self.namespaces();
        for ns in &namespaces {
            for socket in ns.sockets() {
                socket.close(DisconnectReason::ServerShuttingDown);
            }
        }
        let adapters = async {
            let drained = tokio::time::timeout_at(until, async {
                self.0.config.disconnect_tasks.idle().await;
                for ns in &namespaces {
                    ns.adapter().flush().await;
                }
            })
            .await;
            if drained.is_err() {
                tracing::warn!(
                    ?deadline,
                    "shutdown: disconnect handlers or adapters still busy at the deadline; \
                     what they had not sent yet is lost"
                );
            }
            for ns in &namespaces {
                ns.adapter().close();
            }
        };
        tokio::join!(self.engine().close(deadline), adapters);
    }
}
