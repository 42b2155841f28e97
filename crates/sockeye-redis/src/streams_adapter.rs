//! [`StreamsAdapter`]: the `ClusterAdapter` over the streams bus, plus
//! connection state recovery across nodes (see [`crate::streams`]).

use crate::cluster::{ClusterAdapter, MessageType, add_offset};
use crate::streams::{PENDING_OFFSET, RESTORE_MAX_PAGES, StreamsBus};
use crate::wire::{self, WirePacket, as_string, encode_msgpack, object};
use bytes::Bytes;
use redis::AsyncCommands;
use redis::streams::StreamRangeReply;
use sockeye_adapter::{
    Adapter, AdapterError, BoxFuture, BroadcastOptions, BroadcastPacket, PersistedSession,
    RemoteAck, RestoredSession, Room, SocketInfo,
};
use sockeye_proto::sio::Value;
use sockeye_proto::{Sid, Str};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Most recoverable broadcasts of one namespace waiting for their stream
/// id.
const MAX_PENDING_RECOVERABLE: usize = 10_000;

/// The streams adapter of one namespace.
pub(crate) struct StreamsAdapter {
    pub(crate) cluster: ClusterAdapter,
    pub(crate) bus: Arc<StreamsBus>,
}

impl StreamsAdapter {
    /// A recoverable broadcast: its offset is the id `XADD` gives it, so
    /// the local delivery waits for it (in order, on one task per
    /// namespace); without Redis it goes out with no offset (`clean`: the
    /// packet without the placeholder).
    fn broadcast_recoverable(
        &self,
        wp: WirePacket,
        clean: BroadcastPacket,
        opts: &BroadcastOptions,
    ) {
        let core = self.cluster.0.clone();
        let message = object([
            ("uid", Value::from(core.uid.as_str())),
            ("nsp", Value::from(core.nsp.as_str())),
            ("type", Value::from(MessageType::Broadcast as u8 as u32)),
            (
                "data",
                object([
                    ("packet", wp.to_value()),
                    ("opts", wire::broadcast_opts_value(opts)),
                ]),
            ),
        ]);
        let cmd = self.bus.xadd(&message);
        let sender = self.bus.ordered(core.handle.clone());
        let queued = sender.try_send(Queued::Broadcast(Ordered {
            cmd,
            packet: wp,
            fallback: clean,
            opts: opts.clone(),
        }));
        if let Err(e) = queued {
            // Redis too slow to keep up: delivered here at once, without a
            // recoverable offset, rather than queued without bound.
            let (mpsc::error::TrySendError::Full(Queued::Broadcast(o))
            | mpsc::error::TrySendError::Closed(Queued::Broadcast(o))) = e
            else {
                return;
            };
            self.bus
                .link
                .health
                .failed("stream", &"the recoverable broadcast queue is full");
            core.local.broadcast(&o.fallback, &o.opts);
        }
    }
}

/// Removes the placeholder offset that [`StreamsAdapter::next_offset`]
/// gives the namespace from the end of the packet's arguments; `true` if
/// it was there.
fn strip_pending(wp: &mut WirePacket) -> bool {
    if let Some(Value::Array(data)) = &mut wp.data {
        if data.last().and_then(Value::as_str) == Some(PENDING_OFFSET) {
            data.pop();
            return true;
        }
    }
    false
}

/// What the queue of recoverable broadcasts holds.
// Unboxed: a broadcast costs no allocation of its own; the rare marker
// takes a slot of a broadcast's size.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Queued {
    /// A broadcast waiting for its stream id.
    Broadcast(Ordered),
    /// Told once the broadcasts queued before it are in the stream (or
    /// failed): see [`StreamsBus::flush_ordered`].
    Flushed(tokio::sync::oneshot::Sender<()>),
}

/// A recoverable broadcast waiting for its stream id.
pub(crate) struct Ordered {
    cmd: redis::Cmd,
    packet: WirePacket,
    fallback: BroadcastPacket,
    opts: BroadcastOptions,
}

impl StreamsBus {
    /// The queue of recoverable broadcasts of this namespace (started on
    /// first use).
    fn ordered(&self, handle: tokio::runtime::Handle) -> mpsc::Sender<Queued> {
        let mut slot = self.ordered.lock();
        if let Some(tx) = slot.as_ref() {
            return tx.clone();
        }
        let (tx, mut rx) = mpsc::channel::<Queued>(MAX_PENDING_RECOVERABLE);
        let mut con = self.link.commands();
        let link = self.link.clone();
        let core = self.to.clone();
        handle.spawn(async move {
            while let Some(queued) = rx.recv().await {
                let o = match queued {
                    Queued::Broadcast(o) => o,
                    Queued::Flushed(tx) => {
                        let _ = tx.send(());
                        continue;
                    }
                };
                if !link.health.is_up() {
                    // Redis known to be down: delivered here at once (in
                    // order, without an offset) rather than each waiting
                    // for a command timeout.
                    let Some(core) = core.upgrade() else { return };
                    core.local.broadcast(&o.fallback, &o.opts);
                    continue;
                }
                let id: redis::RedisResult<String> = o.cmd.query_async(&mut con).await;
                let Some(core) = core.upgrade() else { return };
                let Some(ns) = core.ns.upgrade() else { return };
                match id {
                    Ok(id) => {
                        let mut packet = o.packet;
                        add_offset(&mut packet, &o.opts, &id);
                        match packet.encode(ns.parser()) {
                            Ok(p) => core.local.broadcast(&p, &o.opts),
                            Err(_) => core.local.broadcast(&o.fallback, &o.opts),
                        }
                    }
                    Err(e) => {
                        link.health.failed("stream", &e);
                        tracing::debug!(error = %e, "broadcast not in the stream: delivered here only");
                        core.local.broadcast(&o.fallback, &o.opts);
                    }
                }
            }
        });
        *slot = Some(tx.clone());
        tx
    }

    /// Resolves once the recoverable broadcasts queued so far are in the
    /// stream (or failed); at once when none was ever queued.
    pub(crate) async fn flush_ordered(&self) {
        let Some(tx) = self.ordered.lock().clone() else {
            return;
        };
        let (done, flushed) = tokio::sync::oneshot::channel();
        if tx.send(Queued::Flushed(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }
}

fn persisted_value(s: &PersistedSession) -> Value {
    object([
        ("sid", Value::from(s.sid.as_str())),
        ("pid", Value::from(s.pid.as_str())),
        ("rooms", wire::strings(s.rooms.iter().map(|r| r.as_str()))),
        ("data", Value::from(s.data.clone())),
    ])
}

fn read_session(v: &Value) -> Option<PersistedSession> {
    let rooms = v
        .get("rooms")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(as_string).map(Str::from).collect())
        .unwrap_or_default();
    Some(PersistedSession::new(
        v.get("sid").and_then(as_string)?,
        v.get("pid").and_then(as_string)?,
        rooms,
        v.get("data")
            .map(|d| serde_json::to_value(d).unwrap_or_default())
            .unwrap_or_default(),
    ))
}

/// `shouldIncludePacket`: the session is in a target room (or all) and in
/// no excluded room.
fn includes(rooms: &[Room], opts: &BroadcastOptions) -> bool {
    let included = opts.rooms.is_empty() || rooms.iter().any(|r| opts.rooms.contains(r));
    included && !rooms.iter().any(|r| opts.except.contains(r))
}

/// `<ms>-<seq+1>`.
fn next_offset(offset: &str) -> Option<String> {
    let (ms, seq) = offset.split_once('-')?;
    Some(format!("{ms}-{}", seq.parse::<u64>().ok()?.checked_add(1)?))
}

fn valid_offset(offset: &str) -> bool {
    offset.split_once('-').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

impl Adapter for StreamsAdapter {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        self.cluster.add_all(sid, rooms);
    }
    fn del(&self, sid: Sid, room: &Room) {
        self.cluster.del(sid, room);
    }
    fn del_all(&self, sid: Sid) {
        self.cluster.del_all(sid);
    }
    fn for_each_local(&self, opts: &BroadcastOptions, f: &mut dyn FnMut(Sid)) {
        self.cluster.for_each_local(opts, f);
    }
    fn broadcast(&self, packet: &BroadcastPacket, opts: &BroadcastOptions) {
        // A packet with the placeholder offset: never delivered with it,
        // whatever path it takes (local only, Redis down, ...).
        let Ok(mut wp) = WirePacket::from_encoded(packet) else {
            return self.cluster.broadcast(packet, opts);
        };
        if !strip_pending(&mut wp) {
            return self.cluster.broadcast(packet, opts);
        }
        let Some(ns) = self.cluster.0.ns.upgrade() else {
            return;
        };
        let clean = match wp.encode(ns.parser()) {
            Ok(clean) => clean,
            Err(e) => {
                tracing::warn!(error = %e, "broadcast not encodable without its offset");
                return;
            }
        };
        if self.bus.config_recovery() && !opts.flags.local {
            self.broadcast_recoverable(wp, clean, opts);
        } else {
            self.cluster.broadcast(&clean, opts);
        }
    }
    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        self.cluster.socket_rooms(sid)
    }
    fn rooms(&self) -> Vec<Room> {
        self.cluster.rooms()
    }
    fn room_exists(&self, room: &Room) -> bool {
        self.cluster.room_exists(room)
    }
    fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        self.cluster.add_sockets(opts, rooms);
    }
    fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        self.cluster.del_sockets(opts, rooms);
    }
    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        self.cluster.disconnect_sockets(opts, close);
    }
    fn server_count(&self) -> BoxFuture<Result<usize, AdapterError>> {
        self.cluster.server_count()
    }
    fn fetch_sockets(
        &self,
        opts: &BroadcastOptions,
    ) -> BoxFuture<Result<Vec<SocketInfo>, AdapterError>> {
        self.cluster.fetch_sockets(opts)
    }
    fn server_side_emit(&self, args: Vec<serde_json::Value>) -> Result<(), AdapterError> {
        self.cluster.server_side_emit(args)
    }
    fn server_side_emit_with_ack(
        &self,
        args: Vec<serde_json::Value>,
        timeout: Duration,
    ) -> BoxFuture<Result<Vec<serde_json::Value>, AdapterError>> {
        self.cluster.server_side_emit_with_ack(args, timeout)
    }
    fn broadcast_with_ack_remote(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        events: mpsc::UnboundedSender<RemoteAck>,
    ) {
        self.cluster.broadcast_with_ack_remote(packet, opts, events);
    }
    fn next_offset(&self) -> Option<Str> {
        self.bus
            .config_recovery()
            .then(|| Str::from_static(PENDING_OFFSET))
    }
    fn persist_session(&self, session: PersistedSession) {
        let Some(recovery) = self.bus.recovery() else {
            return;
        };
        let encoded = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            encode_msgpack(&persisted_value(&session)),
        );
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.bus.session_key(&session.pid))
            .arg(encoded)
            .arg("PX")
            .arg(recovery.max_disconnection_duration.as_millis() as u64);
        if let Err(e) = self.bus.link.send(cmd) {
            tracing::debug!(error = %e, "session not persisted");
        }
    }
    fn restore_session(&self, pid: &str, offset: &str) -> BoxFuture<Option<RestoredSession>> {
        let core = self.cluster.0.clone();
        let bus = self.bus.clone();
        let (pid, offset) = (pid.to_owned(), offset.to_owned());
        Box::pin(async move {
            if bus.recovery().is_none() || !valid_offset(&offset) {
                return None;
            }
            let mut con = bus.link.commands();
            let stream = bus.stream_name();
            let raw: Option<String> = redis::cmd("GETDEL")
                .arg(bus.session_key(&pid))
                .query_async(&mut con)
                .await
                .ok()?;
            let at: StreamRangeReply = con.xrange(stream, &offset, &offset).await.ok()?;
            if at.ids.is_empty() {
                return None;
            }
            let raw =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, raw?).ok()?;
            let session = read_session(&wire::decode_msgpack(&Bytes::from(raw)).ok()?)?;
            let ns = core.ns.upgrade()?;
            let mut missed = Vec::new();
            let mut from = offset;
            for _ in 0..RESTORE_MAX_PAGES {
                let start = next_offset(&from)?;
                let page: StreamRangeReply =
                    con.xrange_count(stream, &start, "+", 100).await.ok()?;
                if page.ids.is_empty() {
                    break;
                }
                for entry in page.ids {
                    let is_ours = entry
                        .map
                        .get("nsp")
                        .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
                        .as_deref()
                        == Some(core.nsp.as_str());
                    let is_broadcast = entry
                        .map
                        .get("type")
                        .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
                        .as_deref()
                        == Some("3");
                    if is_ours && is_broadcast {
                        if let Some(p) = missed_packet(&entry.map, &entry.id, &session, ns.parser())
                        {
                            missed.push(p);
                        }
                    }
                    from = entry.id;
                }
            }
            Some(RestoredSession::new(session, missed))
        })
    }
    fn flush(&self) -> BoxFuture<()> {
        self.cluster.flush()
    }

    fn close(&self) {
        self.cluster.close();
    }
}

/// A stream entry as a packet for the restored session, with its id as
/// offset; `None` when the session is not among its recipients.
fn missed_packet(
    fields: &std::collections::HashMap<String, redis::Value>,
    id: &str,
    session: &PersistedSession,
    parser: sockeye_proto::sio::Parser,
) -> Option<BroadcastPacket> {
    let message = StreamsBus::decode_entry(fields)?;
    let data = message.get("data")?;
    let opts = wire::read_opts(data.get("opts"));
    if !includes(&session.rooms, &opts) {
        return None;
    }
    let mut packet = WirePacket::read(data.get("packet")?).ok()?;
    if let Some(Value::Array(d)) = &mut packet.data {
        d.push(Value::from(id));
    }
    packet.encode(parser).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_room_filters() {
        assert!(valid_offset("1700000000000-0"));
        assert!(!valid_offset("abc") && !valid_offset("1-") && !valid_offset("-1"));
        assert_eq!(next_offset("5-9").as_deref(), Some("5-10"));
        let mut opts = BroadcastOptions::default();
        let rooms = vec![Str::from("a"), Str::from("b")];
        assert!(includes(&rooms, &opts));
        opts.rooms.push(Str::from("b"));
        assert!(includes(&rooms, &opts));
        opts.except.push(Str::from("a"));
        assert!(!includes(&rooms, &opts));
    }
}
