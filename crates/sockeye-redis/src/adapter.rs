//! [`RedisAdapter`]: the classic adapter of one namespace. Rooms are kept
//! in a [`LocalAdapter`]; broadcasts and requests cross to the other nodes
//! through the channels of `@socket.io/redis-adapter`.

use crate::config::RedisAdapterConfig;
use crate::link::{Inbound, Link, PublishKind};
use crate::pending::Pending;
use crate::wire::{self, RequestType, WirePacket, as_string, encode_json, encode_msgpack, object};
use sockeye_adapter::{
    Adapter, AdapterContext, AdapterError, BoxFuture, BroadcastOptions, BroadcastPacket,
    LocalAdapter, LocalNamespace, PersistedSession, RemoteAck, RestoredSession, Room, SocketInfo,
};
use sockeye_proto::sio::Value;
use sockeye_proto::{Sid, Str};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

mod inbound;

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
}

impl RedisAdapter {
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

    fn flush(&self) -> BoxFuture<()> {
        let link = self.0.link.clone();
        Box::pin(async move { link.flush().await })
    }

    fn close(&self) {
        self.0.unsubscribe();
    }
}

impl Inner {
    /// Forgets this adapter's channels (idempotent).
    fn unsubscribe(&self) {
        let owner = std::ptr::from_ref(self).cast();
        self.link
            .unsubscribe(self.subscribed_channels(), vec![self.pattern()], owner);
    }
}

/// An adapter dropped without `close()` (its server dropped while the
/// factory lives on) leaves its channels too: otherwise the other nodes
/// would count it as a server and wait for its answers.
impl Drop for Inner {
    fn drop(&mut self) {
        self.unsubscribe();
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
