//! Collecting the acknowledgements of a broadcast, from the sockets of this
//! node and (through the adapter) from the clients of the other nodes.

use crate::ack::AckReply;
use crate::ack::FromAck;
use crate::error::BroadcastAckError;
use crate::id::SocketId;
use crate::socket::Socket;
use sockeye_adapter::RemoteAck;
use sockeye_proto::sio::Value;
use std::collections::HashSet;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

/// One entry of Node's `responses` (of `io.timeout(ms).emitWithAck(...)`):
/// one answer to a broadcast with acknowledgements
/// ([`crate::BroadcastOperator::emit_with_ack`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AckResponse<T> {
    /// The socket that answered, when it is on this node; `None` for an
    /// answer relayed by another node (the cluster protocol, like the
    /// reference's, carries no socket id with it).
    pub id: Option<SocketId>,
    /// The answer read as `T` (its first argument, or every argument with
    /// [`crate::Args`]: see [`crate::FromAck`]).
    pub value: T,
    /// Every argument of the answer, as sent (what Node's callback form
    /// of a broadcast gets, answer by answer).
    pub args: Vec<Value>,
}

impl<T> AckResponse<T> {
    /// An answer from `id` (`None`: from another node), without its raw
    /// arguments.
    pub fn new(id: Option<SocketId>, value: T) -> Self {
        AckResponse {
            id,
            value,
            args: Vec::new(),
        }
    }

    /// The same answer with its raw arguments.
    pub fn with_args(mut self, args: Vec<Value>) -> Self {
        self.args = args;
        self
    }
}

/// The state of one broadcast with acknowledgements, as the reference's
/// `emitWithAck`: complete once every other node reported its client count
/// and as many answers as recipients arrived.
pub(crate) struct AckCollector<R> {
    /// The acknowledgement id (to remove the slots of sockets that did not
    /// answer).
    ack_id: u64,
    targets: Vec<Socket>,
    local: Option<UnboundedReceiver<(SocketId, AckReply)>>,
    answered: HashSet<SocketId>,
    /// The other nodes' events, while their channel is open.
    remote: Option<UnboundedReceiver<RemoteAck>>,
    /// Whether the broadcast went to other nodes at all (not `local`).
    remote_asked: bool,
    /// Other nodes that have not reported their client count yet.
    silent_nodes: usize,
    /// Answers the other nodes announced (the sum of their counts).
    remote_expected: usize,
    /// Answers relayed by the other nodes.
    remote_answers: usize,
    responses: Vec<AckResponse<R>>,
}

impl<R: FromAck> AckCollector<R> {
    /// `remote`: the adapter's event channel and how many other nodes
    /// there are, unless the broadcast is local.
    pub(crate) fn new(
        ack_id: u64,
        targets: Vec<Socket>,
        local: UnboundedReceiver<(SocketId, AckReply)>,
        remote: Option<(UnboundedReceiver<RemoteAck>, usize)>,
    ) -> Self {
        let remote_asked = remote.is_some();
        let (remote, silent_nodes) = match remote {
            Some((rx, nodes)) => (Some(rx), nodes),
            None => (None, 0),
        };
        AckCollector {
            ack_id,
            responses: Vec::with_capacity(targets.len()),
            targets,
            local: Some(local),
            answered: HashSet::new(),
            remote,
            remote_asked,
            silent_nodes,
            remote_expected: 0,
            remote_answers: 0,
        }
    }

    fn local_done(&self) -> bool {
        self.local.is_none() || self.answered.len() >= self.targets.len()
    }

    fn remote_done(&self) -> bool {
        !self.remote_asked
            || (self.silent_nodes == 0 && self.remote_answers >= self.remote_expected)
    }

    /// Waits for the answers until all arrived, or nothing more can
    /// arrive, or the deadline.
    pub(crate) async fn collect(
        mut self,
        deadline: Instant,
    ) -> Result<Vec<AckResponse<R>>, BroadcastAckError<R>> {
        // Done when both sides are, or when the local side is and the other
        // nodes' channel closed (nothing more can come from them).
        while !(self.local_done() && (self.remote_done() || self.remote.is_none())) {
            let wait_local = !self.local_done();
            tokio::select! {
                got = recv(&mut self.local), if wait_local => match got {
                    Some((id, reply)) => self.on_local(id, reply),
                    // Every remaining target disconnected.
                    None => self.local = None,
                },
                got = recv(&mut self.remote), if self.remote.is_some() => match got {
                    Some(event) => self.on_remote(event),
                    None => self.remote = None,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.finish()
    }

    /// Reads one answer's arguments as `R` and keeps it, with its raw
    /// arguments.
    fn accept(
        &mut self,
        id: Option<SocketId>,
        args: Vec<Value>,
    ) -> Result<(), sockeye_proto::sio::PayloadError> {
        let value = R::from_ack(args.clone())?;
        self.responses
            .push(AckResponse::new(id, value).with_args(args));
        Ok(())
    }

    fn on_local(&mut self, id: SocketId, reply: AckReply) {
        let read = reply
            .values()
            .and_then(|args| Ok(self.accept(Some(id.clone()), args)?));
        if let Err(e) = read {
            tracing::warn!(sid = %id, error = %e, "unexpected broadcast ack payload");
        }
        self.answered.insert(id);
    }

    fn on_remote(&mut self, event: RemoteAck) {
        match event {
            RemoteAck::ClientCount(n) => {
                self.silent_nodes = self.silent_nodes.saturating_sub(1);
                self.remote_expected = self.remote_expected.saturating_add(n);
            }
            RemoteAck::Ack(args) => {
                self.remote_answers += 1;
                let args: Vec<Value> = args.into_iter().map(Value::from).collect();
                if let Err(e) = self.accept(None, args) {
                    tracing::warn!(error = %e, "unexpected broadcast ack payload from another node")
                }
            }
            other => tracing::debug!(?other, "unknown remote ack event ignored"),
        }
    }

    fn finish(self) -> Result<Vec<AckResponse<R>>, BroadcastAckError<R>> {
        let missing: Vec<SocketId> = self
            .targets
            .iter()
            .filter(|s| !self.answered.contains(s.0.id.as_str()))
            .map(|s| {
                s.0.acks.lock().remove(&self.ack_id);
                s.id()
            })
            .collect();
        let missing_remote = self.remote_expected.saturating_sub(self.remote_answers);
        if missing.is_empty() && missing_remote == 0 && self.silent_nodes == 0 {
            Ok(self.responses)
        } else {
            Err(BroadcastAckError {
                responses: self.responses,
                missing,
                missing_remote,
                silent_nodes: self.silent_nodes,
            })
        }
    }
}

/// The next message of a channel that may be gone (then never ready; the
/// `select!` branch is disabled in that case anyway).
async fn recv<T>(rx: &mut Option<UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Relays the answers of this node's sockets to a broadcast with acks that
/// another node sent (see `LocalNamespace::deliver_with_ack`), until every
/// target answered, the adapter stops listening or `timeout`; then the
/// slots of the sockets that did not answer are removed.
pub(crate) fn relay_remote(
    ack_id: u64,
    targets: Vec<Socket>,
    mut answers: UnboundedReceiver<(crate::id::SocketId, AckReply)>,
    acks: tokio::sync::mpsc::UnboundedSender<Vec<sockeye_proto::sio::Value>>,
    timeout: std::time::Duration,
) {
    let cleanup = move |targets: &[Socket]| {
        for s in targets {
            s.0.acks.lock().remove(&ack_id);
        }
    };
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        cleanup(&targets);
        return;
    };
    handle.spawn(async move {
        let deadline = Instant::now() + timeout;
        let mut left = targets.len();
        while left > 0 {
            tokio::select! {
                got = answers.recv() => match got {
                    Some((id, reply)) => {
                        left -= 1;
                        let values = reply.values().unwrap_or_else(|e| {
                            tracing::warn!(sid = %id, error = %e, "unreadable ack relayed as empty");
                            Vec::new()
                        });
                        if acks.send(values).is_err() {
                            break;
                        }
                    }
                    None => break,
                },
                () = acks.closed() => break,
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        cleanup(&targets);
    });
}
