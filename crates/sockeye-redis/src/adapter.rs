//! [`RedisAdapter`]: the classic adapter of one namespace. Rooms are kept
//! in a [`LocalAdapter`]; broadcasts and requests cross to the other nodes
//! through the channels of `@socket.io/redis-adapter`.

use crate::config::RedisAdapterConfig;
use crate::link::{Inbound, Link, PublishKind};
use crate::pending::Pending;
use crate::wire::{
    self, RequestType, WirePacket, as_string, as_u64, decode, encode_json, encode_msgpack, object,
};
use bytes::Bytes;
use sockeye_adapter::{
    Adapter, AdapterContext, AdapterError, BoxFuture, BroadcastOptions, BroadcastPacket,
    LocalAdapter, LocalNamespace, PersistedSession, RemoteAck, RestoredSession, Room,
    ServerSideAck, SocketInfo,
};
use sockeye_proto::sio::Value;
use sockeye_proto::{Sid, Str};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// The channels of one namespace.
#[derive(Debug)]
struct Channels {
    /// `socket.io#<nsp>#` (and `...#<room>#` for one room).
    broadcast: String,
    /// `socket.io-request#<nsp>#`.
    request: String,
    /// `socket.io-response#<nsp>#`.
    response: String,
    /// `socket.io-response#<nsp>#<uid>#`.
    specific_response: String,
}

pub(crate) struct Inner {
    local: LocalAdapter,
    ns: Weak<dyn LocalNamespace>,
    nsp: Str,
    uid: String,
    channels: Channels,
    link: Arc<Link>,
    pending: Arc<Pending>,
    config: RedisAdapterConfig,
}

/// The classic Redis adapter of one namespace (built by
/// [`crate::RedisAdapterFactory`]).
pub struct RedisAdapter(Arc<Inner>);

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("nsp", &self.0.nsp)
            .field("uid", &self.0.uid)
            .finish_non_exhaustive()
    }
}

impl RedisAdapter {
    pub(crate) fn new(ctx: AdapterContext, link: Arc<Link>, config: RedisAdapterConfig) -> Self {
        let nsp = ctx.namespace.clone();
        let uid = wire::uid(6);
        let key = &config.key;
        let response = format!("{key}-response#{nsp}#");
        let channels = Channels {
            broadcast: format!("{key}#{nsp}#"),
            request: format!("{key}-request#{nsp}#"),
            specific_response: format!("{response}{uid}#"),
            response,
        };
        let inner = Arc::new(Inner {
            ns: ctx.local.clone(),
            local: match config.recovery {
                Some(r) => LocalAdapter::with_recovery(ctx, r),
                None => LocalAdapter::new(ctx),
            },
            nsp,
            uid,
            channels,
            link,
            pending: Arc::new(Pending::default()),
            config,
        });
        let weak: Weak<dyn Inbound> = Arc::downgrade(&(inner.clone() as Arc<dyn Inbound>));
        inner
            .link
            .subscribe(inner.subscribed_channels(), vec![inner.pattern()], weak);
        RedisAdapter(inner)
    }

    /// This node's id in the cluster (`uid` in the messages).
    pub fn uid(&self) -> &str {
        &self.0.uid
    }
}

impl Inner {
    fn pattern(&self) -> String {
        format!("{}*", self.channels.broadcast)
    }

    fn subscribed_channels(&self) -> Vec<String> {
        vec![
            self.channels.request.clone(),
            self.channels.response.clone(),
            self.channels.specific_response.clone(),
        ]
    }

    fn publish(&self, channel: String, payload: Vec<u8>) -> Result<(), AdapterError> {
        self.link.publish(PublishKind::Classic, channel, payload)
    }

    fn publish_request(&self, request: &Value, msgpack: bool) -> Result<(), AdapterError> {
        let payload = if msgpack {
            encode_msgpack(request)
        } else {
            encode_json(request)
        };
        self.publish(self.channels.request.clone(), payload)
    }

    /// Where the answer to `request` goes (`publishResponse`).
    fn publish_response(&self, request: &Value, payload: Vec<u8>) {
        let channel = match request.get("uid").and_then(as_string) {
            Some(uid) if self.config.publish_on_specific_response_channel => {
                format!("{}{uid}#", self.channels.response)
            }
            _ => self.channels.response.clone(),
        };
        if let Err(e) = self.publish(channel, payload) {
            tracing::debug!(error = %e, "response not sent");
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
        let ask = self.link.numsub(&self.channels.request);
        match tokio::time::timeout(self.config.requests_timeout, ask).await {
            Ok(r) => r,
            Err(_) => Err(AdapterError::Transport(
                "Redis: PUBSUB NUMSUB timed out".to_owned(),
            )),
        }
    }

    fn on_broadcast(&self, channel: &str, payload: &Bytes) {
        let prefix: &str = &self.channels.broadcast;
        let room: &str = match channel.strip_prefix(prefix) {
            Some(rest) => rest.strip_suffix('#').unwrap_or(""),
            None => "",
        };
        if !room.is_empty() && !self.local.room_exists(&Str::from(room.to_owned())) {
            return;
        }
        let (uid, packet, opts) = match wire::read_broadcast(payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, "broadcast from another node ignored");
                return;
            }
        };
        if uid == self.uid || packet.nsp != self.nsp.as_str() {
            return;
        }
        let Some(ns) = self.ns.upgrade() else { return };
        match packet.encode(ns.parser()) {
            Ok(encoded) => self.local.broadcast(&encoded, &opts),
            Err(e) => tracing::debug!(error = %e, "broadcast from another node not encodable"),
        }
    }

    fn on_request(&self, payload: &Bytes) {
        let request = match decode(payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "malformed request ignored");
                return;
            }
        };
        // This node applies its own requests when it makes them.
        if request.get("uid").and_then(Value::as_str) == Some(self.uid.as_str()) {
            return;
        }
        let request_id = request.get("requestId").and_then(as_string);
        let Some(kind) = RequestType::from_value(request.get("type")) else {
            return;
        };
        let opts = wire::read_opts(request.get("opts"));
        let rooms_field = || -> Vec<Room> {
            request
                .get("rooms")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(as_string).map(Str::from).collect())
                .unwrap_or_default()
        };
        let reply = |fields: Vec<(String, Value)>| {
            let mut entries = vec![(
                "requestId".to_owned(),
                Value::from(request_id.clone().unwrap_or_default()),
            )];
            entries.extend(fields);
            self.publish_response(&request, encode_json(&Value::Object(entries)));
        };
        match kind {
            RequestType::Sockets => {
                let rooms = rooms_field();
                let mut o = BroadcastOptions::default();
                o.rooms = rooms;
                let ids = self.local_infos(&o).into_iter().map(|i| Value::from(i.id));
                reply(vec![("sockets".into(), Value::Array(ids.collect()))]);
            }
            RequestType::AllRooms => {
                let rooms = self.local.rooms();
                reply(vec![(
                    "rooms".into(),
                    wire::strings(rooms.iter().map(|r| r.as_str())),
                )]);
            }
            RequestType::RemoteJoin | RequestType::RemoteLeave | RequestType::RemoteDisconnect => {
                self.on_socket_request(kind, &request, opts, rooms_field(), &reply);
            }
            RequestType::RemoteFetch => {
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
                reply(vec![("sockets".into(), Value::Array(sockets))]);
            }
            RequestType::ServerSideEmit => self.on_server_side_emit(&request, request_id),
            RequestType::Broadcast => {
                if let Some(id) = request_id {
                    self.on_broadcast_with_ack(&request, id, opts);
                }
            }
            RequestType::BroadcastClientCount | RequestType::BroadcastAck => {}
        }
    }

    /// REMOTE_JOIN / REMOTE_LEAVE / REMOTE_DISCONNECT: with `opts`, fire and
    /// forget; the legacy form names one socket (`sid`) and is answered.
    fn on_socket_request(
        &self,
        kind: RequestType,
        request: &Value,
        mut opts: BroadcastOptions,
        rooms: Vec<Room>,
        reply: &dyn Fn(Vec<(String, Value)>),
    ) {
        let legacy = request.get("opts").is_none();
        let close = matches!(request.get("close"), Some(Value::Bool(true)));
        if legacy {
            let Some(sid) = request.get("sid").and_then(as_string) else {
                return;
            };
            let sid = Str::from(sid);
            if !self.local.room_exists(&sid) {
                return;
            }
            opts = BroadcastOptions::default();
            opts.rooms.push(sid);
        }
        let rooms = if legacy {
            request
                .get("room")
                .and_then(as_string)
                .map(|r| vec![Str::from(r)])
                .unwrap_or_default()
        } else {
            rooms
        };
        opts.flags.local = true;
        match kind {
            RequestType::RemoteJoin => self.local.add_sockets(&opts, &rooms),
            RequestType::RemoteLeave => self.local.del_sockets(&opts, &rooms),
            _ => self.local.disconnect_sockets(&opts, close),
        }
        if legacy {
            reply(Vec::new());
        }
    }

    fn on_server_side_emit(&self, request: &Value, request_id: Option<String>) {
        let Some(ns) = self.ns.upgrade() else { return };
        let args: Vec<serde_json::Value> = match request.get("data").and_then(Value::as_array) {
            Some(a) => a
                .iter()
                .map(|v| serde_json::to_value(v).unwrap_or_default())
                .collect(),
            None => return,
        };
        let ack = match request_id {
            None => ServerSideAck::none(),
            Some(id) => {
                let link = self.link.clone();
                let channel = self.channels.response.clone();
                ServerSideAck::new(move |value| {
                    // Always the common response channel, as the reference
                    // does for this response.
                    let msg = object([
                        ("type", RequestType::ServerSideEmit.value()),
                        ("requestId", Value::from(id)),
                        ("data", Value::from(value)),
                    ]);
                    let _ = link.publish(PublishKind::Classic, channel, encode_json(&msg));
                })
            }
        };
        ns.on_server_side_emit(args, ack);
    }

    fn on_broadcast_with_ack(&self, request: &Value, request_id: String, opts: BroadcastOptions) {
        if self.pending.has(&request_id) {
            return;
        }
        let Some(ns) = self.ns.upgrade() else { return };
        let packet = match request.get("packet").map(WirePacket::read) {
            Some(Ok(p)) => p,
            _ => return,
        };
        let data = packet.data.unwrap_or(Value::Array(Vec::new()));
        let timeout = opts.flags.timeout.unwrap_or(self.config.requests_timeout);
        let sids = self.local_sids(&opts);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let count = ns.deliver_with_ack(&sids, &data, &opts.flags, tx, timeout);
        let count_msg = object([
            ("type", RequestType::BroadcastClientCount.value()),
            ("requestId", Value::from(request_id.as_str())),
            ("clientCount", Value::from(count as u64)),
        ]);
        self.publish_response(request, encode_json(&count_msg));
        if count == 0 {
            return;
        }
        let channel = match request.get("uid").and_then(as_string) {
            Some(uid) if self.config.publish_on_specific_response_channel => {
                format!("{}{uid}#", self.channels.response)
            }
            _ => self.channels.response.clone(),
        };
        let link = self.link.clone();
        self.link.handle().spawn(async move {
            // Ends when every target answered or the namespace's relay gave
            // up (it drops the sender at the timeout).
            while let Some(args) = rx.recv().await {
                let msg = object([
                    ("type", RequestType::BroadcastAck.value()),
                    ("requestId", Value::from(request_id.as_str())),
                    ("packet", args.into_iter().next().unwrap_or(Value::Null)),
                ]);
                let _ = link.publish(PublishKind::Classic, channel.clone(), encode_msgpack(&msg));
            }
        });
    }

    fn on_response(&self, payload: &Bytes) {
        let response = match decode(payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "malformed response ignored");
                return;
            }
        };
        let Some(id) = response.get("requestId").and_then(as_string) else {
            return;
        };
        let json = |v: &Value| serde_json::to_value(v).unwrap_or_default();
        match RequestType::from_value(response.get("type")) {
            Some(RequestType::BroadcastClientCount) => {
                let n = response.get("clientCount").and_then(as_u64).unwrap_or(0);
                self.pending
                    .ack_event(&id, RemoteAck::ClientCount(n as usize));
            }
            Some(RequestType::BroadcastAck) => {
                let arg = response.get("packet").map(json).unwrap_or_default();
                self.pending.ack_event(&id, RemoteAck::Ack(vec![arg]));
            }
            Some(RequestType::ServerSideEmit) => {
                let data = response.get("data").map(json).unwrap_or_default();
                self.pending.respond(&id, vec![data]);
            }
            _ => {
                // A fetch (or sockets / rooms) response: a list, or nothing.
                let items = ["sockets", "rooms"]
                    .iter()
                    .find_map(|k| response.get(k).and_then(Value::as_array))
                    .map(|a| a.iter().map(json).collect())
                    .unwrap_or_default();
                self.pending.respond(&id, items);
            }
        }
    }
}

impl Inbound for Inner {
    fn on_message(&self, channel: &str, payload: Bytes) {
        if channel.starts_with(self.channels.broadcast.as_str()) {
            self.on_broadcast(channel, &payload);
        } else if channel == self.channels.request {
            self.on_request(&payload);
        } else if channel.starts_with(self.channels.response.as_str()) {
            self.on_response(&payload);
        }
    }
}

impl Adapter for RedisAdapter {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        self.0.local.add_all(sid, rooms);
    }

    fn del(&self, sid: Sid, room: &Room) {
        self.0.local.del(sid, room);
    }

    fn del_all(&self, sid: Sid) {
        self.0.local.del_all(sid);
    }

    fn for_each_local(&self, opts: &BroadcastOptions, f: &mut dyn FnMut(Sid)) {
        self.0.local.for_each_local(opts, f);
    }

    fn broadcast(&self, packet: &BroadcastPacket, opts: &BroadcastOptions) {
        if !opts.flags.local {
            match WirePacket::from_encoded(packet) {
                Ok(wp) => {
                    let msg = wire::broadcast_message(&self.0.uid, &wp, opts);
                    let mut channel = self.0.channels.broadcast.clone();
                    if let [room] = opts.rooms.as_slice() {
                        channel.push_str(room);
                        channel.push('#');
                    }
                    if let Err(e) = self.0.publish(channel, msg) {
                        tracing::debug!(error = %e, "broadcast not sent to the other nodes");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "broadcast not readable for the other nodes"),
            }
        }
        self.0.local.broadcast(packet, opts);
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
        self.0.local.add_sockets(opts, rooms);
        if !opts.flags.local {
            self.socket_request(RequestType::RemoteJoin, opts, rooms, None);
        }
    }

    fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        self.0.local.del_sockets(opts, rooms);
        if !opts.flags.local {
            self.socket_request(RequestType::RemoteLeave, opts, rooms, None);
        }
    }

    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        if !opts.flags.local {
            self.socket_request(RequestType::RemoteDisconnect, opts, &[], Some(close));
        }
        self.0.local.disconnect_sockets(opts, close);
    }

    fn server_count(&self) -> BoxFuture<Result<usize, AdapterError>> {
        let inner = self.0.clone();
        Box::pin(async move { inner.server_count().await })
    }

    fn fetch_sockets(
        &self,
        opts: &BroadcastOptions,
    ) -> BoxFuture<Result<Vec<SocketInfo>, AdapterError>> {
        let mut sockets = self.0.local_infos(opts);
        if opts.flags.local {
            return Box::pin(async move { Ok(sockets) });
        }
        let inner = self.0.clone();
        let opts = opts.clone();
        Box::pin(async move {
            let n = inner.server_count().await?;
            if n <= 1 {
                return Ok(sockets);
            }
            let id = wire::uid(6);
            let request = object([
                ("uid", Value::from(inner.uid.as_str())),
                ("requestId", Value::from(id.as_str())),
                ("type", RequestType::RemoteFetch.value()),
                ("opts", wire::opts_value(&opts)),
            ]);
            let timeout = opts.flags.timeout.unwrap_or(inner.config.requests_timeout);
            let items = inner
                .pending
                .collect(id, n - 1, timeout, || {
                    inner.publish_request(&request, false)
                })
                .await?;
            sockets.extend(items.into_iter().filter_map(socket_info));
            Ok(sockets)
        })
    }

    fn server_side_emit(&self, args: Vec<serde_json::Value>) -> Result<(), AdapterError> {
        if !self.0.link.health.is_up() {
            return Err(AdapterError::Transport("Redis unreachable".to_owned()));
        }
        let request = object([
            ("uid", Value::from(self.0.uid.as_str())),
            ("type", RequestType::ServerSideEmit.value()),
            ("data", Value::from(serde_json::Value::Array(args))),
        ]);
        self.0.publish_request(&request, false)
    }

    fn server_side_emit_with_ack(
        &self,
        args: Vec<serde_json::Value>,
        timeout: Duration,
    ) -> BoxFuture<Result<Vec<serde_json::Value>, AdapterError>> {
        let inner = self.0.clone();
        Box::pin(async move {
            let others = inner.server_count().await?.saturating_sub(1);
            if others == 0 {
                return Ok(Vec::new());
            }
            let id = wire::uid(6);
            let request = object([
                ("uid", Value::from(inner.uid.as_str())),
                ("requestId", Value::from(id.as_str())),
                ("type", RequestType::ServerSideEmit.value()),
                ("data", Value::from(serde_json::Value::Array(args))),
            ]);
            inner
                .pending
                .collect(id, others, timeout, || {
                    inner.publish_request(&request, false)
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
                // Each node gives the packet an ack id of its own.
                p.id = None;
                p
            }
            Err(e) => {
                tracing::warn!(error = %e, "broadcast not readable for the other nodes");
                return;
            }
        };
        let id = wire::uid(6);
        let request = object([
            ("uid", Value::from(self.0.uid.as_str())),
            ("requestId", Value::from(id.as_str())),
            ("type", RequestType::Broadcast.value()),
            ("packet", wp.to_value()),
            ("opts", wire::broadcast_opts_value(opts)),
        ]);
        let timeout = opts.flags.timeout.unwrap_or(self.0.config.requests_timeout);
        self.0
            .pending
            .watch_acks(id, events, timeout, self.0.link.handle());
        if let Err(e) = self.0.publish_request(&request, true) {
            tracing::debug!(error = %e, "broadcast with acks not sent to the other nodes");
        }
    }

    fn next_offset(&self) -> Option<Str> {
        self.0.local.next_offset()
    }

    fn record_packet(&self, offset: &Str, packet: &BroadcastPacket, opts: &BroadcastOptions) {
        self.0.local.record_packet(offset, packet, opts);
    }

    fn persist_session(&self, session: PersistedSession) {
        self.0.local.persist_session(session);
    }

    fn restore_session(&self, pid: &str, offset: &str) -> BoxFuture<Option<RestoredSession>> {
        self.0.local.restore_session(pid, offset)
    }

    fn close(&self) {
        self.0
            .link
            .unsubscribe(self.0.subscribed_channels(), vec![self.0.pattern()]);
    }
}

impl RedisAdapter {
    fn socket_request(
        &self,
        kind: RequestType,
        opts: &BroadcastOptions,
        rooms: &[Room],
        close: Option<bool>,
    ) {
        let mut entries = vec![
            ("uid".to_owned(), Value::from(self.0.uid.as_str())),
            ("type".to_owned(), kind.value()),
            ("opts".to_owned(), wire::opts_value(opts)),
        ];
        match close {
            Some(c) => entries.push(("close".to_owned(), Value::Bool(c))),
            None => entries.push((
                "rooms".to_owned(),
                wire::strings(rooms.iter().map(|r| r.as_str())),
            )),
        }
        if let Err(e) = self.0.publish_request(&Value::Object(entries), false) {
            tracing::debug!(error = %e, "request not sent to the other nodes");
        }
    }
}

/// A socket of another node's FETCH_SOCKETS response.
pub(crate) fn socket_info(v: serde_json::Value) -> Option<SocketInfo> {
    let serde_json::Value::Object(mut o) = v else {
        return None;
    };
    let id = o.get("id")?.as_str()?.to_owned();
    let rooms = match o.remove("rooms") {
        Some(serde_json::Value::Array(a)) => a
            .into_iter()
            .filter_map(|r| match r {
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(SocketInfo::new(
        id,
        o.remove("handshake").unwrap_or_default(),
        rooms,
        o.remove("data").unwrap_or_default(),
    ))
}
