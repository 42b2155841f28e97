//! [`BroadcastOperator`]: `to`, `except`, `local`, `volatile`, `timeout`,
//! then `emit` once to many sockets.

use crate::ack::AckSlot;
use crate::ack::FromAck;
use crate::args::IntoArgs;
use crate::broadcast_ack::{AckCollector, AckResponse};
use crate::error::{BroadcastAckError, EmitError};
use crate::namespace::Namespace;
use crate::remote::RemoteSocket;
use crate::rooms::IntoRooms;
use crate::socket::{Socket, encode_event};
use serde::Serialize;
use sockeye_adapter::{AdapterError, BroadcastOptions, Room};
use std::time::Duration;
use tokio::sync::mpsc;

/// Node's `BroadcastOperator` (what `io.to(room)` returns): a selection of sockets and flags; each call returns a new operator, and
/// `emit` encodes the packet once for every recipient.
#[derive(Debug, Clone)]
#[must_use = "an operator does nothing until you emit or apply it"]
pub struct BroadcastOperator {
    ns: Namespace,
    opts: BroadcastOptions,
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Namespace) -> Self {
        BroadcastOperator {
            ns,
            opts: BroadcastOptions::default(),
        }
    }

    /// Node's `to(room)`: adds target rooms (a union).
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        for r in rooms.into_rooms() {
            if !self.opts.rooms.contains(&r) {
                self.opts.rooms.push(r);
            }
        }
        self
    }

    /// Node's `in(room)`: same as [`BroadcastOperator::to`].
    pub fn within(self, rooms: impl IntoRooms) -> Self {
        self.to(rooms)
    }

    /// Node's `except(room)`: skips sockets in these rooms (or with these ids).
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        for r in rooms.into_rooms() {
            if !self.opts.except.contains(&r) {
                self.opts.except.push(r);
            }
        }
        self
    }

    /// Node's `local`: this node only.
    pub fn local(mut self) -> Self {
        self.opts.flags.local = true;
        self
    }

    /// Node's `volatile`: dropped for sockets that cannot take it now.
    pub fn volatile(mut self) -> Self {
        self.opts.flags.volatile = true;
        self
    }

    /// Node's `compress(bool)`: whether to compress (default true).
    pub fn compress(mut self, compress: bool) -> Self {
        self.opts.flags.compress = compress;
        self
    }

    /// Node's `timeout(ms)`: how long [`BroadcastOperator::emit_with_ack`] waits.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.flags.timeout = Some(timeout);
        self
    }

    /// The target rooms.
    pub fn rooms(&self) -> &[Room] {
        &self.opts.rooms
    }

    /// Node's `emit(ev, data)`: emits an event with one argument.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emit_args(event, (data,))
    }

    /// Node's `emit(ev, ...args)`: emits an event with several arguments (a tuple).
    pub fn emit_args<A: IntoArgs>(&self, event: &str, args: A) -> Result<(), EmitError> {
        self.ns.broadcast_event(&self.opts, event, &args)
    }

    /// Node's `emitWithAck` on a broadcast (`io.timeout(t).emitWithAck(ev,
    /// data)`, or `emit(ev, data, (err, responses) => ...)`): emits and
    /// collects every recipient's acknowledgement within the timeout (the
    /// namespace's ack timeout unless set). Each [`AckResponse`] has the
    /// answer read as `R` (the first argument, or every argument with
    /// [`crate::Args`]: see [`crate::FromAck`]) and all its raw arguments.
    ///
    /// Unless [`BroadcastOperator::local`] is set, the adapter also
    /// forwards the packet to the other nodes
    /// ([`sockeye_adapter::Adapter::broadcast_with_ack_remote`]); the call
    /// waits for every other node's client count, then for as many answers
    /// as there are recipients here and there. Answers from this node carry
    /// the socket's id, those relayed by other nodes none.
    ///
    /// On timeout the error holds the answers received, the local sockets
    /// that did not answer and how many remote answers are missing.
    pub async fn emit_with_ack<T: Serialize + ?Sized, R: FromAck>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Vec<AckResponse<R>>, BroadcastAckError<R>> {
        self.emit_args_with_ack(event, (data,)).await
    }

    /// [`BroadcastOperator::emit_with_ack`] with several arguments (a
    /// tuple, `()` for none): Node's `emitWithAck(ev, a, b)`.
    pub async fn emit_args_with_ack<A: IntoArgs, R: FromAck>(
        &self,
        event: &str,
        args: A,
    ) -> Result<Vec<AckResponse<R>>, BroadcastAckError<R>> {
        let timeout = self
            .opts
            .flags
            .timeout
            .unwrap_or_else(|| self.ns.ack_timeout());
        let id = self.ns.next_ack_id();
        let Ok(packet) = encode_event(self.ns.parser(), self.ns.name(), event, &args, Some(id))
        else {
            return Err(BroadcastAckError {
                responses: Vec::new(),
                missing: Vec::new(),
                missing_remote: 0,
                silent_nodes: 0,
            });
        };
        let (tx, local) = mpsc::unbounded_channel();
        let mut targets = Vec::new();
        // The recipients are chosen first and sent to afterwards: a send can
        // close a socket (full queue), whose cleanup takes the adapter's
        // locks, which `for_each_local` holds while it calls back.
        for socket in self.sockets() {
            if self.opts.flags.volatile && !socket.session().is_writable() {
                continue;
            }
            {
                let mut acks = socket.0.acks.lock();
                if acks.len() >= self.ns.max_pending_acks() {
                    drop(acks);
                    // Not sent: reported missing when the wait ends.
                    if socket.trip(crate::stats::Trip::AckRefused) {
                        tracing::warn!(sid = %socket.id(), "broadcast with ack not sent: too many pending acknowledgements");
                    }
                    targets.push(socket);
                    continue;
                }
                acks.insert(id, AckSlot::Many(tx.clone()));
            }
            if socket.send_encoded(&packet).is_ok() {
                targets.push(socket);
            } else {
                socket.0.acks.lock().remove(&id);
            }
        }
        drop(tx);
        let deadline = tokio::time::Instant::now() + timeout;
        let remote = if self.opts.flags.local {
            None
        } else {
            let (events, rx) = mpsc::unbounded_channel();
            let adapter = self.ns.adapter();
            adapter.broadcast_with_ack_remote(&packet, &self.opts, events);
            // Asked after the packet left: the answers wait in `rx`
            // meanwhile. Unknown (the cluster is unreachable): one other
            // node is assumed, which then fails to report in time.
            let nodes = match tokio::time::timeout_at(deadline, adapter.server_count()).await {
                Ok(Ok(n)) => n.saturating_sub(1),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "server count unknown for a broadcast with acks");
                    1
                }
                Err(_) => 1,
            };
            Some((rx, nodes))
        };
        AckCollector::new(id, targets, local, remote)
            .collect(deadline)
            .await
    }

    /// Node's `allSockets()` (deprecated in Node): the selected sockets of this node.
    pub fn sockets(&self) -> Vec<Socket> {
        let mut out = Vec::new();
        self.ns.adapter().for_each_local(&self.opts, &mut |sid| {
            if let Some(s) = self.ns.socket_by_key(sid) {
                out.push(s);
            }
        });
        out
    }

    /// Node's `fetchSockets()`: describes the selected sockets, on this node and (with a cluster
    /// adapter) on the others; each can be emitted to, moved between rooms
    /// or disconnected.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, AdapterError> {
        let infos = self.ns.adapter().fetch_sockets(&self.opts).await;
        self.ns.0.config.count_request(&infos);
        let infos = infos?;
        Ok(infos
            .into_iter()
            .map(|info| RemoteSocket::new(info, self.ns.clone()))
            .collect())
    }

    /// Node's `socketsJoin(rooms)`: makes the selected sockets join rooms.
    pub fn sockets_join(&self, rooms: impl IntoRooms) {
        self.ns
            .adapter()
            .add_sockets(&self.opts, &rooms.into_rooms());
    }

    /// Node's `socketsLeave(rooms)`: makes the selected sockets leave rooms.
    pub fn sockets_leave(&self, rooms: impl IntoRooms) {
        self.ns
            .adapter()
            .del_sockets(&self.opts, &rooms.into_rooms());
    }

    /// Node's `disconnectSockets(close)`: disconnects the selected sockets (`close`: their whole connection).
    pub fn disconnect_sockets(&self, close: bool) {
        self.ns.adapter().disconnect_sockets(&self.opts, close);
    }
}
