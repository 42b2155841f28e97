//! Requests to the other nodes that wait for their responses: each one
//! has a deadline, and is forgotten when it completes or times out.

use parking_lot::Mutex;
use sockeye_adapter::{AdapterError, RemoteAck};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A request collecting one response per other node.
struct Collect {
    expected: usize,
    responses: usize,
    items: Vec<serde_json::Value>,
    done: Option<oneshot::Sender<Vec<serde_json::Value>>>,
}

/// The requests of one adapter waiting for responses.
#[derive(Default)]
pub(crate) struct Pending {
    collects: Mutex<HashMap<String, Collect>>,
    acks: Mutex<HashMap<String, mpsc::UnboundedSender<RemoteAck>>>,
}

/// Removes a collecting request when its caller is done with it, however
/// that happens (completed, failed, timed out or dropped).
struct Forget<'a> {
    pending: &'a Pending,
    id: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.pending.collects.lock().remove(self.id);
    }
}

impl Pending {
    /// Whether `id` is one of this adapter's requests.
    pub(crate) fn has(&self, id: &str) -> bool {
        self.collects.lock().contains_key(id) || self.acks.lock().contains_key(id)
    }

    /// Registers a request for `expected` responses, sends it with `send`,
    /// and waits for the responses until `timeout`. The request is
    /// forgotten however this ends, also when the caller drops the future
    /// (a timeout of its own around it).
    pub(crate) async fn collect(
        &self,
        id: String,
        expected: usize,
        timeout: Duration,
        send: impl FnOnce() -> Result<(), AdapterError>,
    ) -> Result<Vec<serde_json::Value>, AdapterError> {
        let (tx, rx) = oneshot::channel();
        self.collects.lock().insert(
            id.clone(),
            Collect {
                expected,
                responses: 0,
                items: Vec::new(),
                done: Some(tx),
            },
        );
        let _forget = Forget {
            pending: self,
            id: &id,
        };
        send()?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(items)) => Ok(items),
            _ => {
                let received = self.collects.lock().remove(&id).map_or(0, |c| c.responses);
                Err(AdapterError::Timeout { received, expected })
            }
        }
    }

    /// One node's response to a collecting request: its `items` (the
    /// sockets of a fetch, or the one answer of a server-side emit).
    pub(crate) fn respond(&self, id: &str, items: Vec<serde_json::Value>) {
        let mut collects = self.collects.lock();
        let Some(c) = collects.get_mut(id) else {
            return;
        };
        c.responses += 1;
        c.items.extend(items);
        if c.responses >= c.expected {
            if let Some(c) = collects.remove(id) {
                if let Some(done) = c.done {
                    let _ = done.send(c.items);
                }
            }
        }
    }

    /// Registers a broadcast with acks: its events go to `events` until
    /// `timeout` (then the request is forgotten, as in the reference).
    pub(crate) fn watch_acks(
        self: &std::sync::Arc<Self>,
        id: String,
        events: mpsc::UnboundedSender<RemoteAck>,
        timeout: Duration,
        handle: &tokio::runtime::Handle,
    ) {
        self.acks.lock().insert(id.clone(), events);
        let me = std::sync::Arc::downgrade(self);
        handle.spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(me) = me.upgrade() {
                me.acks.lock().remove(&id);
            }
        });
    }

    /// An event of a broadcast with acks; false if the request is unknown.
    pub(crate) fn ack_event(&self, id: &str, event: RemoteAck) -> bool {
        let acks = self.acks.lock();
        match acks.get(id) {
            Some(tx) => {
                let _ = tx.send(event);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn completes_with_every_response_or_times_out_with_the_count() {
        let p = std::sync::Arc::new(Pending::default());
        let p2 = p.clone();
        let got = p
            .collect("a".into(), 2, Duration::from_secs(5), move || {
                p2.respond("a", vec![serde_json::json!(1)]);
                p2.respond("a", vec![serde_json::json!(2), serde_json::json!(3)]);
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(got.len(), 3);
        assert!(!p.has("a"), "forgotten once complete");
        let p2 = p.clone();
        let err = p
            .collect("b".into(), 2, Duration::from_millis(50), move || {
                p2.respond("b", vec![]);
                Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(
            err,
            AdapterError::Timeout {
                received: 1,
                expected: 2
            }
        );
        assert!(!p.has("b"), "forgotten on timeout");
    }

    #[tokio::test]
    async fn a_request_whose_caller_gives_up_is_forgotten() {
        let p = Pending::default();
        let waiting = p.collect("c".into(), 1, Duration::from_secs(3600), || Ok(()));
        let gave_up = tokio::time::timeout(Duration::from_millis(20), waiting).await;
        assert!(gave_up.is_err(), "no response: the caller's timeout fires");
        assert!(!p.has("c"), "forgotten when the caller drops the request");
    }
}
