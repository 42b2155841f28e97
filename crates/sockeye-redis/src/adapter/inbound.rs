//! What the classic adapter receives: broadcasts, requests and responses
//! of the other nodes.

use super::Inner;
use crate::link::{Inbound, PublishKind};
use crate::wire::{
    self, RequestType, WirePacket, as_string, as_u64, decode, encode_json, encode_msgpack, object,
};
use bytes::Bytes;
use sockeye_adapter::{Adapter, BroadcastOptions, RemoteAck, Room, ServerSideAck};
use sockeye_proto::Str;
use sockeye_proto::sio::Value;
use tokio::sync::mpsc;

impl Inner {
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
        // Per-node recovery (if on) records it under an offset of this node.
        let offset = self.local.next_offset();
        crate::cluster::deliver_remote(&self.local, packet, &opts, offset, ns.parser());
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
                self.pending.ack_event(
                    &id,
                    RemoteAck::ClientCount(usize::try_from(n).unwrap_or(usize::MAX)),
                );
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
