//! [`ClusterAdapter`]: a [`Core`] as an [`Adapter`].

use super::{Core, MessageType, random_id};
use crate::wire::{self, WirePacket, object};
use sockeye_adapter::{
    Adapter, AdapterError, BoxFuture, BroadcastOptions, BroadcastPacket, RemoteAck, Room,
    SocketInfo,
};
use sockeye_proto::sio::Value;
use sockeye_proto::{Sid, Str};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A [`Core`] as an [`Adapter`].
pub(crate) struct ClusterAdapter(pub(crate) Arc<Core>);

impl ClusterAdapter {
    /// Sends a broadcast to the other nodes (unless local only), without
    /// `own_offset`, this node's recovery offset, when it has one; then to
    /// this node's clients as is.
    fn broadcast_from(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        own_offset: Option<&Str>,
    ) {
        if !opts.flags.local {
            match WirePacket::from_encoded(packet) {
                Ok(mut wp) => {
                    if let Some(o) = own_offset {
                        wp.strip_offset(o);
                    }
                    let data = object([
                        ("packet", wp.to_value()),
                        ("opts", wire::broadcast_opts_value(opts)),
                    ]);
                    if let Err(e) = self.0.publish(MessageType::Broadcast, data) {
                        tracing::debug!(error = %e, "broadcast not sent to the other nodes");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "broadcast not readable for the other nodes"),
            }
        }
        self.0.local.broadcast(packet, opts);
    }
}

impl Adapter for ClusterAdapter {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        self.0.add_all(sid, rooms);
    }

    fn del(&self, sid: Sid, room: &Room) {
        self.0.del(sid, room);
    }

    fn del_all(&self, sid: Sid) {
        self.0.del_all(sid);
    }

    fn for_each_local(&self, opts: &BroadcastOptions, f: &mut dyn FnMut(Sid)) {
        self.0.local.for_each_local(opts, f);
    }

    fn broadcast(&self, packet: &BroadcastPacket, opts: &BroadcastOptions) {
        self.broadcast_from(packet, opts, None);
    }

    fn broadcast_with_offset(
        &self,
        offset: &Str,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
    ) {
        self.0.local.record_packet(offset, packet, opts);
        self.broadcast_from(packet, opts, Some(offset));
    }

    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        self.0.local.socket_rooms(sid)
    }

    fn rooms(&self) -> Vec<Room> {
        self.0.local.rooms()
    }

    fn room_exists(&self, room: &Room) -> bool {
        self.0.local.room_exists(room)
    }

    fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        if !opts.flags.local {
            let data = object([
                ("opts", wire::broadcast_opts_value(opts)),
                ("rooms", wire::strings(rooms.iter().map(|r| r.as_str()))),
            ]);
            let _ = self.0.publish(MessageType::SocketsJoin, data);
        }
        self.0.join_local(opts, rooms);
    }

    fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        if !opts.flags.local {
            let data = object([
                ("opts", wire::broadcast_opts_value(opts)),
                ("rooms", wire::strings(rooms.iter().map(|r| r.as_str()))),
            ]);
            let _ = self.0.publish(MessageType::SocketsLeave, data);
        }
        self.0.leave_local(opts, rooms);
    }

    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        if !opts.flags.local {
            let data = object([
                ("opts", wire::broadcast_opts_value(opts)),
                ("close", Value::Bool(close)),
            ]);
            let _ = self.0.publish(MessageType::DisconnectSockets, data);
        }
        self.0.local.disconnect_sockets(opts, close);
    }

    fn server_count(&self) -> BoxFuture<Result<usize, AdapterError>> {
        let core = self.0.clone();
        Box::pin(async move { core.server_count().await })
    }

    fn fetch_sockets(
        &self,
        opts: &BroadcastOptions,
    ) -> BoxFuture<Result<Vec<SocketInfo>, AdapterError>> {
        let mut sockets = self.0.local_infos(opts);
        if opts.flags.local {
            return Box::pin(async move { Ok(sockets) });
        }
        let core = self.0.clone();
        let opts = opts.clone();
        Box::pin(async move {
            let others = core.server_count().await?.saturating_sub(1);
            if others == 0 {
                return Ok(sockets);
            }
            let id = random_id();
            let data = object([
                ("opts", wire::broadcast_opts_value(&opts)),
                ("requestId", Value::from(id.as_str())),
            ]);
            let timeout = opts.flags.timeout.unwrap_or(core.requests_timeout);
            let items = core
                .pending
                .collect(id, others, timeout, || {
                    core.publish(MessageType::FetchSockets, data)
                })
                .await?;
            sockets.extend(items.into_iter().filter_map(crate::adapter::socket_info));
            Ok(sockets)
        })
    }

    fn server_side_emit(&self, args: Vec<serde_json::Value>) -> Result<(), AdapterError> {
        if !self.0.bus()?.is_up() {
            return Err(AdapterError::Transport("Redis unreachable".to_owned()));
        }
        let data = object([("packet", Value::from(serde_json::Value::Array(args)))]);
        self.0.publish(MessageType::ServerSideEmit, data)
    }

    fn server_side_emit_with_ack(
        &self,
        args: Vec<serde_json::Value>,
        timeout: Duration,
    ) -> BoxFuture<Result<Vec<serde_json::Value>, AdapterError>> {
        let core = self.0.clone();
        Box::pin(async move {
            let others = core.server_count().await?.saturating_sub(1);
            if others == 0 {
                return Ok(Vec::new());
            }
            let id = random_id();
            let data = object([
                ("requestId", Value::from(id.as_str())),
                ("packet", Value::from(serde_json::Value::Array(args))),
            ]);
            core.pending
                .collect(id, others, timeout, || {
                    core.publish(MessageType::ServerSideEmit, data)
                })
                .await
        })
    }

    fn broadcast_with_ack_remote(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        events: mpsc::UnboundedSender<RemoteAck>,
    ) {
        let wp = match WirePacket::from_encoded(packet) {
            Ok(mut p) => {
                p.id = None;
                p
            }
            Err(e) => {
                tracing::warn!(error = %e, "broadcast not readable for the other nodes");
                return;
            }
        };
        let id = random_id();
        let timeout = opts.flags.timeout.unwrap_or(self.0.requests_timeout);
        self.0
            .pending
            .watch_acks(id.clone(), events, timeout, &self.0.handle);
        let data = object([
            ("packet", wp.to_value()),
            ("requestId", Value::from(id)),
            ("opts", wire::broadcast_opts_value(opts)),
        ]);
        if let Err(e) = self.0.publish(MessageType::Broadcast, data) {
            tracing::debug!(error = %e, "broadcast with acks not sent to the other nodes");
        }
    }

    fn next_offset(&self) -> Option<Str> {
        self.0.local.next_offset()
    }

    fn record_packet(&self, offset: &Str, packet: &BroadcastPacket, opts: &BroadcastOptions) {
        self.0.local.record_packet(offset, packet, opts);
    }

    fn persist_session(&self, session: sockeye_adapter::PersistedSession) {
        self.0.local.persist_session(session);
    }

    fn restore_session(
        &self,
        pid: &str,
        offset: &str,
    ) -> BoxFuture<Option<sockeye_adapter::RestoredSession>> {
        self.0.local.restore_session(pid, offset)
    }

    fn flush(&self) -> BoxFuture<()> {
        match self.0.bus() {
            Ok(bus) => bus.flush(),
            Err(_) => Box::pin(async {}),
        }
    }

    fn close(&self) {
        if let Ok(bus) = self.0.bus() {
            bus.close();
        }
    }
}
