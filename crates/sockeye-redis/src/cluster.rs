//! The protocol of the reference's generic `ClusterAdapter`
//! (`packages/socket.io-adapter/lib/cluster-adapter.ts`), on which the
//! sharded Redis adapter and the streams adapter are built: messages
//! `{uid, nsp, type, data}` (types 1 to 13), responses sent to the
//! requester's uid. How messages travel is a [`Bus`].

use crate::pending::Pending;
use crate::wire::{self, WirePacket, as_string, as_u64, object};
use sockeye_adapter::{
    Adapter, AdapterContext, AdapterError, BoxFuture, BroadcastOptions, LocalAdapter,
    LocalNamespace, RemoteAck, Room, ServerSideAck, SocketInfo,
};
use sockeye_proto::sio::Value;
use sockeye_proto::{Sid, Str};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

mod adapter;
pub(crate) use adapter::ClusterAdapter;

/// The message types of `ClusterAdapter` (`MessageType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum MessageType {
    InitialHeartbeat = 1,
    Heartbeat = 2,
    Broadcast = 3,
    SocketsJoin = 4,
    SocketsLeave = 5,
    DisconnectSockets = 6,
    FetchSockets = 7,
    FetchSocketsResponse = 8,
    ServerSideEmit = 9,
    ServerSideEmitResponse = 10,
    BroadcastClientCount = 11,
    BroadcastAck = 12,
    AdapterClose = 13,
}

impl MessageType {
    pub(crate) fn from_value(v: Option<&Value>) -> Option<Self> {
        use MessageType::*;
        Some(match as_u64(v?)? {
            1 => InitialHeartbeat,
            2 => Heartbeat,
            3 => Broadcast,
            4 => SocketsJoin,
            5 => SocketsLeave,
            6 => DisconnectSockets,
            7 => FetchSockets,
            8 => FetchSocketsResponse,
            9 => ServerSideEmit,
            10 => ServerSideEmitResponse,
            11 => BroadcastClientCount,
            12 => BroadcastAck,
            13 => AdapterClose,
            _ => return None,
        })
    }

    /// Messages whose data may hold binary (sent as msgpack then).
    pub(crate) fn may_contain_binary(self) -> bool {
        use MessageType::*;
        matches!(
            self,
            Broadcast
                | BroadcastAck
                | FetchSocketsResponse
                | ServerSideEmit
                | ServerSideEmitResponse
        )
    }
}

/// How the messages of one namespace travel between nodes.
pub(crate) trait Bus: Send + Sync + 'static {
    /// Sends a message (`{uid, nsp, type, data}`) to the other nodes.
    fn publish(&self, message: &Value) -> Result<(), AdapterError>;
    /// Sends a response to the node `requester`.
    fn publish_response(&self, requester: &str, message: &Value) -> Result<(), AdapterError>;
    /// How many nodes serve the namespace.
    fn server_count(&self) -> BoxFuture<Result<usize, AdapterError>>;
    /// A room got its first local socket (`private`: the room named after
    /// that socket).
    fn room_created(&self, room: &Room, private: bool) {
        let _ = (room, private);
    }
    /// A room lost its last local socket.
    fn room_deleted(&self, room: &Room) {
        let _ = room;
    }
    /// Resolves once what was sent so far has left this node (see
    /// [`Adapter::flush`]).
    fn flush(&self) -> BoxFuture<()> {
        Box::pin(async {})
    }
    /// The adapter closes.
    fn close(&self) {}
    /// Whether the last exchange with the transport worked.
    fn is_up(&self) -> bool {
        true
    }
}

/// A `ClusterAdapter` of one namespace over a [`Bus`].
pub(crate) struct Core {
    pub(crate) local: LocalAdapter,
    pub(crate) ns: Weak<dyn LocalNamespace>,
    pub(crate) nsp: Str,
    pub(crate) uid: String,
    pending: Arc<Pending>,
    bus: std::sync::OnceLock<Arc<dyn Bus>>,
    requests_timeout: Duration,
    pub(crate) handle: tokio::runtime::Handle,
}

/// 8 random bytes in hex, as `randomId()`.
pub(crate) fn random_id() -> String {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return wire::uid(16).to_lowercase();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Core {
    pub(crate) fn new(
        ctx: AdapterContext,
        local: LocalAdapter,
        requests_timeout: Duration,
        handle: tokio::runtime::Handle,
    ) -> Self {
        Core {
            nsp: ctx.namespace.clone(),
            ns: ctx.local,
            local,
            uid: random_id(),
            pending: Arc::new(Pending::default()),
            bus: std::sync::OnceLock::new(),
            requests_timeout,
            handle,
        }
    }

    /// Sets the bus (once, right after construction).
    pub(crate) fn set_bus(&self, bus: Arc<dyn Bus>) {
        let _ = self.bus.set(bus);
    }

    fn bus(&self) -> Result<&Arc<dyn Bus>, AdapterError> {
        self.bus
            .get()
            .ok_or_else(|| AdapterError::Transport("adapter not started".to_owned()))
    }

    fn message(&self, kind: MessageType, data: Value) -> Value {
        object([
            ("uid", Value::from(self.uid.as_str())),
            ("nsp", Value::from(self.nsp.as_str())),
            ("type", Value::from(kind as u8 as u32)),
            ("data", data),
        ])
    }

    fn publish(&self, kind: MessageType, data: Value) -> Result<(), AdapterError> {
        self.bus()?.publish(&self.message(kind, data))
    }

    fn respond(&self, requester: &str, kind: MessageType, data: Value) {
        if let Ok(bus) = self.bus() {
            let _ = bus.publish_response(requester, &self.message(kind, data));
        }
    }

    fn local_sids(&self, opts: &BroadcastOptions) -> Vec<Sid> {
        let mut sids = Vec::new();
        self.local.for_each_local(opts, &mut |sid| sids.push(sid));
        sids
    }

    fn local_infos(&self, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        let Some(ns) = self.ns.upgrade() else {
            return Vec::new();
        };
        self.local_sids(opts)
            .into_iter()
            .filter_map(|sid| ns.socket_info(sid))
            .collect()
    }

    async fn server_count(&self) -> Result<usize, AdapterError> {
        let ask = self.bus()?.server_count();
        match tokio::time::timeout(self.requests_timeout, ask).await {
            Ok(r) => r,
            Err(_) => Err(AdapterError::Transport("server count timed out".to_owned())),
        }
    }

    /// Tells the bus which rooms appeared or vanished since `before`
    /// (room, whether it existed, whether it is the socket's own).
    fn bus_room_events(&self, before: &[(Room, bool, bool)]) {
        let Ok(bus) = self.bus() else { return };
        for (room, existed, private) in before {
            let exists = self.local.room_exists(room);
            if !existed && exists {
                bus.room_created(room, *private);
            } else if *existed && !exists {
                bus.room_deleted(room);
            }
        }
    }

    fn snapshot(&self, sid: Sid, rooms: &[Room]) -> Vec<(Room, bool, bool)> {
        rooms
            .iter()
            .map(|r| {
                (
                    r.clone(),
                    self.local.room_exists(r),
                    r.as_str() == sid.as_str(),
                )
            })
            .collect()
    }

    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        let before = self.snapshot(sid, rooms);
        self.local.add_all(sid, rooms);
        self.bus_room_events(&before);
    }

    fn del(&self, sid: Sid, room: &Room) {
        let before = self.snapshot(sid, std::slice::from_ref(room));
        self.local.del(sid, room);
        self.bus_room_events(&before);
    }

    fn del_all(&self, sid: Sid) {
        let rooms = self.local.socket_rooms(sid);
        let before = self.snapshot(sid, &rooms);
        self.local.del_all(sid);
        self.bus_room_events(&before);
    }

    /// Local half of `sockets_join`.
    fn join_local(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for sid in self.local_sids(opts) {
            self.add_all(sid, rooms);
        }
    }

    /// Local half of `sockets_leave`.
    fn leave_local(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for sid in self.local_sids(opts) {
            for room in rooms {
                self.del(sid, room);
            }
        }
    }

    /// A message from the bus; `offset`: its stream entry id, added to
    /// recoverable broadcasts (connection state recovery).
    pub(crate) fn on_message(&self, message: Value, offset: Option<&str>) {
        let Some(kind) = MessageType::from_value(message.get("type")) else {
            return;
        };
        let data = message.get("data").cloned().unwrap_or_default();
        if matches!(
            kind,
            MessageType::FetchSocketsResponse
                | MessageType::ServerSideEmitResponse
                | MessageType::BroadcastClientCount
                | MessageType::BroadcastAck
        ) {
            return self.on_response(kind, &data);
        }
        let from = message.get("uid").and_then(as_string).unwrap_or_default();
        if from == self.uid || message.get("nsp").and_then(Value::as_str) != Some(&self.nsp) {
            return;
        }
        let opts = wire::read_opts(data.get("opts"));
        let request_id = data.get("requestId").and_then(as_string);
        let rooms = || -> Vec<Room> {
            data.get("rooms")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(as_string).map(Str::from).collect())
                .unwrap_or_default()
        };
        let mut local_opts = opts.clone();
        local_opts.flags.local = true;
        match kind {
            MessageType::Broadcast => self.on_broadcast(&from, &data, opts, request_id, offset),
            MessageType::SocketsJoin => self.join_local(&local_opts, &rooms()),
            MessageType::SocketsLeave => self.leave_local(&local_opts, &rooms()),
            MessageType::DisconnectSockets => {
                let close = matches!(data.get("close"), Some(Value::Bool(true)));
                self.local.disconnect_sockets(&local_opts, close);
            }
            MessageType::FetchSockets => {
                let sockets: Vec<Value> = self
                    .local_infos(&opts)
                    .into_iter()
                    .map(|i| {
                        object([
                            ("id", Value::from(i.id)),
                            ("handshake", Value::from(i.handshake)),
                            ("rooms", wire::strings(i.rooms.iter().map(String::as_str))),
                            ("data", Value::from(i.data)),
                        ])
                    })
                    .collect();
                let data = object([
                    ("requestId", Value::from(request_id.unwrap_or_default())),
                    ("sockets", Value::Array(sockets)),
                ]);
                self.respond(&from, MessageType::FetchSocketsResponse, data);
            }
            MessageType::ServerSideEmit => self.on_server_side_emit(&from, &data, request_id),
            _ => {}
        }
    }

    fn on_broadcast(
        &self,
        from: &str,
        data: &Value,
        opts: BroadcastOptions,
        request_id: Option<String>,
        offset: Option<&str>,
    ) {
        let Some(ns) = self.ns.upgrade() else { return };
        let mut packet = match data.get("packet").map(WirePacket::read) {
            Some(Ok(p)) => p,
            _ => return,
        };
        if let (Some(offset), None) = (offset, &request_id) {
            add_offset(&mut packet, &opts, offset);
        }
        // The packet may come without its namespace (set by the receiver).
        packet.nsp = self.nsp.to_string();
        let Some(request_id) = request_id else {
            // Without a stream offset, per-node recovery (if on) records it
            // under an offset of this node.
            let recorded = offset.is_none().then(|| self.local.next_offset()).flatten();
            deliver_remote(&self.local, packet, &opts, recorded, ns.parser());
            return;
        };
        let data = packet.data.unwrap_or(Value::Array(Vec::new()));
        let timeout = opts.flags.timeout.unwrap_or(self.requests_timeout);
        let sids = self.local_sids(&opts);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let count = ns.deliver_with_ack(&sids, &data, &opts.flags, tx, timeout);
        self.respond(
            from,
            MessageType::BroadcastClientCount,
            object([
                ("requestId", Value::from(request_id.as_str())),
                ("clientCount", Value::from(count as u64)),
            ]),
        );
        if count == 0 {
            return;
        }
        let Ok(bus) = self.bus().cloned() else { return };
        let me = self.message_template();
        let from = from.to_owned();
        self.handle.spawn(async move {
            while let Some(args) = rx.recv().await {
                let data = object([
                    ("requestId", Value::from(request_id.as_str())),
                    ("packet", args.into_iter().next().unwrap_or(Value::Null)),
                ]);
                let _ = bus.publish_response(&from, &me.with(MessageType::BroadcastAck, data));
            }
        });
    }

    fn message_template(&self) -> Template {
        Template {
            uid: self.uid.clone(),
            nsp: self.nsp.to_string(),
        }
    }

    fn on_server_side_emit(&self, from: &str, data: &Value, request_id: Option<String>) {
        let Some(ns) = self.ns.upgrade() else { return };
        let Some(args) = data.get("packet").and_then(Value::as_array) else {
            return;
        };
        let args: Vec<serde_json::Value> = args
            .iter()
            .map(|v| serde_json::to_value(v).unwrap_or_default())
            .collect();
        let ack = match (request_id, self.bus().cloned()) {
            (Some(id), Ok(bus)) => {
                let me = self.message_template();
                let from = from.to_owned();
                ServerSideAck::new(move |value| {
                    let data = object([
                        ("requestId", Value::from(id)),
                        ("packet", Value::from(value)),
                    ]);
                    let msg = me.with(MessageType::ServerSideEmitResponse, data);
                    let _ = bus.publish_response(&from, &msg);
                })
            }
            _ => ServerSideAck::none(),
        };
        ns.on_server_side_emit(args, ack);
    }

    fn on_response(&self, kind: MessageType, data: &Value) {
        let Some(id) = data.get("requestId").and_then(as_string) else {
            return;
        };
        let json = |v: &Value| serde_json::to_value(v).unwrap_or_default();
        match kind {
            MessageType::BroadcastClientCount => {
                let n = data.get("clientCount").and_then(as_u64).unwrap_or(0);
                self.pending.ack_event(
                    &id,
                    RemoteAck::ClientCount(usize::try_from(n).unwrap_or(usize::MAX)),
                );
            }
            MessageType::BroadcastAck => {
                let arg = data.get("packet").map(json).unwrap_or_default();
                self.pending.ack_event(&id, RemoteAck::Ack(vec![arg]));
            }
            MessageType::ServerSideEmitResponse => {
                let arg = data.get("packet").map(json).unwrap_or_default();
                self.pending.respond(&id, vec![arg]);
            }
            _ => {
                let items = data
                    .get("sockets")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(json).collect())
                    .unwrap_or_default();
                self.pending.respond(&id, items);
            }
        }
    }
}

/// Delivers a broadcast from another node to the local sockets; with a
/// local `offset` (per-node recovery), a recoverable packet carries it and
/// is recorded for the sessions that come back to this node.
pub(crate) fn deliver_remote(
    local: &LocalAdapter,
    mut packet: WirePacket,
    opts: &BroadcastOptions,
    offset: Option<Str>,
    parser: sockeye_proto::sio::Parser,
) {
    let recoverable = packet.kind == sockeye_proto::sio::PacketKind::Event
        && packet.id.is_none()
        && !opts.flags.volatile;
    let offset = offset.filter(|_| recoverable);
    if let Some(o) = &offset {
        add_offset(&mut packet, opts, o);
    }
    match packet.encode(parser) {
        Ok(encoded) => {
            if let Some(o) = &offset {
                local.record_packet(o, &encoded, opts);
            }
            local.broadcast(&encoded, opts);
        }
        Err(e) => tracing::debug!(error = %e, "broadcast from another node not encodable"),
    }
}

/// Appends the offset to a recoverable packet (an event without ack id,
/// not volatile), as `addOffsetIfNecessary`.
pub(crate) fn add_offset(packet: &mut WirePacket, opts: &BroadcastOptions, offset: &str) {
    if packet.kind != sockeye_proto::sio::PacketKind::Event
        || packet.id.is_some()
        || opts.flags.volatile
    {
        return;
    }
    if let Some(Value::Array(data)) = &mut packet.data {
        data.push(Value::from(offset));
    }
}

/// The `uid` and `nsp` of this node's messages, for tasks.
struct Template {
    uid: String,
    nsp: String,
}

impl Template {
    fn with(&self, kind: MessageType, data: Value) -> Value {
        object([
            ("uid", Value::from(self.uid.as_str())),
            ("nsp", Value::from(self.nsp.as_str())),
            ("type", Value::from(kind as u8 as u32)),
            ("data", data),
        ])
    }
}
