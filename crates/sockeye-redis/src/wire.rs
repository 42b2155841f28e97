//! The messages of `@socket.io/redis-adapter` 8.x on the wire: request
//! types, the broadcast message `[uid, packet, opts]`, and the JSON /
//! msgpack switch (a payload starting with `{` is JSON, anything else is
//! msgpack as `notepack.io` writes it).

use bytes::Bytes;
use sockeye_adapter::{BroadcastFlags, BroadcastOptions, BroadcastPacket, Room};
use sockeye_proto::sio::{Packet, PacketKind, Parser, Payload, Value};
use sockeye_proto::{Str, eio};
use std::time::Duration;

/// The request types of the classic adapter (`RequestType` in its
/// sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RequestType {
    /// Socket ids in rooms (legacy `allSockets`).
    Sockets = 0,
    /// Every room of every node.
    AllRooms = 1,
    /// Make sockets join rooms.
    RemoteJoin = 2,
    /// Make sockets leave rooms.
    RemoteLeave = 3,
    /// Disconnect sockets.
    RemoteDisconnect = 4,
    /// Describe sockets.
    RemoteFetch = 5,
    /// An event for the other servers.
    ServerSideEmit = 6,
    /// A broadcast that expects acknowledgements.
    Broadcast = 7,
    /// How many clients a node sent a broadcast with acks to.
    BroadcastClientCount = 8,
    /// One client's acknowledgement of such a broadcast.
    BroadcastAck = 9,
}

impl RequestType {
    /// The type with this number.
    pub(crate) fn from_value(v: Option<&Value>) -> Option<Self> {
        Some(match as_u64(v?)? {
            0 => Self::Sockets,
            1 => Self::AllRooms,
            2 => Self::RemoteJoin,
            3 => Self::RemoteLeave,
            4 => Self::RemoteDisconnect,
            5 => Self::RemoteFetch,
            6 => Self::ServerSideEmit,
            7 => Self::Broadcast,
            8 => Self::BroadcastClientCount,
            9 => Self::BroadcastAck,
            _ => return None,
        })
    }

    /// The number on the wire.
    pub(crate) fn value(self) -> Value {
        Value::from(self as u8 as u32)
    }
}

/// What cannot be read from another node.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    /// Neither JSON nor msgpack, or not the expected shape.
    #[error("malformed message: {0}")]
    Malformed(String),
}

fn malformed(what: impl std::fmt::Display) -> WireError {
    WireError::Malformed(what.to_string())
}

/// An integer field (JSON numbers may come as floats).
pub(crate) fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        }),
        _ => None,
    }
}

/// A string field; numbers are written as JavaScript would (rooms may be
/// numbers in old clients).
pub(crate) fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads a request or a response: JSON when it starts with `{`, msgpack
/// otherwise.
pub(crate) fn decode(payload: &Bytes) -> Result<Value, WireError> {
    if payload.first() == Some(&b'{') {
        serde_json::from_slice(payload).map_err(malformed)
    } else {
        decode_msgpack(payload)
    }
}

/// Reads a msgpack document (notepack's extensions understood).
pub(crate) fn decode_msgpack(payload: &Bytes) -> Result<Value, WireError> {
    Payload::MsgPack(payload.clone())
        .to_value(&[])
        .map_err(malformed)
}

/// Writes a value as msgpack.
pub(crate) fn encode_msgpack(value: &Value) -> Vec<u8> {
    // A `Value` always serializes: maps have string keys.
    rmp_serde::to_vec(value).unwrap_or_default()
}

/// Writes a value as JSON.
pub(crate) fn encode_json(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Builds an object from its entries, in order.
pub(crate) fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// A list of strings.
pub(crate) fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    Value::Array(items.into_iter().map(Value::from).collect())
}

/// The `{rooms, except}` of a request.
pub(crate) fn opts_value(opts: &BroadcastOptions) -> Value {
    object([
        ("rooms", strings(opts.rooms.iter().map(|r| r.as_str()))),
        ("except", strings(opts.except.iter().map(|r| r.as_str()))),
    ])
}

/// The `{rooms, except, flags}` of a broadcast: only the flags that are
/// set, as the reference's `BroadcastOperator` builds them.
pub(crate) fn broadcast_opts_value(opts: &BroadcastOptions) -> Value {
    let mut flags = Vec::new();
    if opts.flags.volatile {
        flags.push(("volatile".to_owned(), Value::Bool(true)));
    }
    if !opts.flags.compress {
        flags.push(("compress".to_owned(), Value::Bool(false)));
    }
    if let Some(t) = opts.flags.timeout {
        flags.push(("timeout".to_owned(), Value::from(t.as_millis() as u64)));
    }
    object([
        ("rooms", strings(opts.rooms.iter().map(|r| r.as_str()))),
        ("except", strings(opts.except.iter().map(|r| r.as_str()))),
        ("flags", Value::Object(flags)),
    ])
}

fn rooms_of(v: Option<&Value>) -> Vec<Room> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(as_string).map(Str::from).collect())
        .unwrap_or_default()
}

/// Reads `{rooms, except, flags?}`.
pub(crate) fn read_opts(v: Option<&Value>) -> BroadcastOptions {
    let mut opts = BroadcastOptions::default();
    let Some(v) = v else { return opts };
    opts.rooms = rooms_of(v.get("rooms"));
    opts.except = rooms_of(v.get("except"));
    if let Some(flags) = v.get("flags") {
        opts.flags = read_flags(flags);
    }
    opts
}

fn read_flags(v: &Value) -> BroadcastFlags {
    let mut flags = BroadcastFlags::default();
    let is_true = |key| matches!(v.get(key), Some(Value::Bool(true)));
    flags.volatile = is_true("volatile");
    flags.local = is_true("local");
    if let Some(Value::Bool(c)) = v.get("compress") {
        flags.compress = *c;
    }
    flags.timeout = v.get("timeout").and_then(as_u64).map(Duration::from_millis);
    flags
}

/// A Socket.IO packet as the reference's adapters carry it:
/// `{type, data, nsp, id?}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WirePacket {
    pub kind: PacketKind,
    pub nsp: String,
    pub id: Option<u64>,
    pub data: Option<Value>,
}

impl WirePacket {
    /// Reads the packet object of a message.
    pub(crate) fn read(v: &Value) -> Result<Self, WireError> {
        let kind = v
            .get("type")
            .and_then(as_u64)
            .and_then(|n| u8::try_from(n).ok())
            .and_then(PacketKind::from_u8)
            .ok_or_else(|| malformed("packet without a valid type"))?;
        Ok(WirePacket {
            kind: kind.plain(),
            nsp: v
                .get("nsp")
                .and_then(Value::as_str)
                .unwrap_or("/")
                .to_owned(),
            id: v.get("id").and_then(as_u64),
            data: v.get("data").filter(|d| !d.is_null()).cloned(),
        })
    }

    /// The packet object.
    pub(crate) fn to_value(&self) -> Value {
        let mut entries = vec![(
            "type".to_owned(),
            Value::from(self.kind.plain().as_u8() as u32),
        )];
        if let Some(data) = &self.data {
            entries.push(("data".to_owned(), data.clone()));
        }
        entries.push(("nsp".to_owned(), Value::from(self.nsp.as_str())));
        if let Some(id) = self.id {
            entries.push(("id".to_owned(), Value::from(id)));
        }
        Value::Object(entries)
    }

    /// Recovers the packet from its encoded form (as this node's parser
    /// wrote it for its own clients).
    pub(crate) fn from_encoded(packet: &BroadcastPacket) -> Result<Self, WireError> {
        let parser = match packet.encoded.head {
            eio::Packet::Binary(_) => Parser::MsgPack,
            _ => Parser::Json,
        };
        let mut decoder = parser.decoder();
        let mut decoded: Option<Packet> = None;
        for p in packet.encoded.eio_packets() {
            if let Some(done) = decoder.decode(p).map_err(malformed)? {
                decoded = Some(done);
            }
        }
        let p = decoded.ok_or_else(|| malformed("incomplete encoded packet"))?;
        let data = match &p.data {
            Some(d) => Some(d.to_value(&p.attachments).map_err(malformed)?),
            None => None,
        };
        Ok(WirePacket {
            kind: p.kind.plain(),
            nsp: p.nsp.to_string(),
            id: p.id,
            data,
        })
    }

    /// Removes `offset` when it is the last argument (a local recovery
    /// offset that other nodes must not see).
    pub(crate) fn strip_offset(&mut self, offset: &str) {
        if let Some(Value::Array(data)) = &mut self.data {
            if data.last().and_then(Value::as_str) == Some(offset) {
                data.pop();
            }
        }
    }

    /// Encodes it for this node's clients.
    pub(crate) fn encode(&self, parser: Parser) -> Result<BroadcastPacket, WireError> {
        parser
            .encode_value(self.kind, &self.nsp, self.id, self.data.as_ref())
            .map(BroadcastPacket::new)
            .map_err(malformed)
    }
}

/// The broadcast message: msgpack `[uid, packet, opts]`.
pub(crate) fn broadcast_message(
    uid: &str,
    packet: &WirePacket,
    opts: &BroadcastOptions,
) -> Vec<u8> {
    encode_msgpack(&Value::Array(vec![
        Value::from(uid),
        packet.to_value(),
        broadcast_opts_value(opts),
    ]))
}

/// Reads a broadcast message.
pub(crate) fn read_broadcast(
    payload: &Bytes,
) -> Result<(String, WirePacket, BroadcastOptions), WireError> {
    let v = decode_msgpack(payload)?;
    let items = v
        .as_array()
        .filter(|a| a.len() >= 3)
        .ok_or_else(|| malformed("broadcast message is not [uid, packet, opts]"))?;
    let uid = as_string(&items[0]).unwrap_or_default();
    let packet = WirePacket::read(&items[1])?;
    let opts = read_opts(Some(&items[2]));
    Ok((uid, packet, opts))
}

/// Random ids like `uid2(6)`: letters and digits.
pub(crate) fn uid(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: a clock-based fallback, unique enough per node.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (t >> (i * 5)) as u8;
        }
    }
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_message_round_trip_and_notepack_bytes() {
        let packet = WirePacket {
            kind: PacketKind::Event,
            nsp: "/".into(),
            id: None,
            data: Some(Value::Array(vec![Value::from("hi"), Value::from(1u32)])),
        };
        let mut opts = BroadcastOptions::default();
        opts.rooms.push(Str::from("r"));
        let bytes = broadcast_message("abc", &packet, &opts);
        // What notepack.encode(["abc", {type: 2, data: ["hi", 1], nsp: "/"},
        // {rooms: ["r"], except: [], flags: {}}]) writes.
        let expected: &[u8] = &[
            0x93, 0xa3, b'a', b'b', b'c', 0x83, 0xa4, b't', b'y', b'p', b'e', 0x02, 0xa4, b'd',
            b'a', b't', b'a', 0x92, 0xa2, b'h', b'i', 0x01, 0xa3, b'n', b's', b'p', 0xa1, b'/',
            0x83, 0xa5, b'r', b'o', b'o', b'm', b's', 0x91, 0xa1, b'r', 0xa6, b'e', b'x', b'c',
            b'e', b'p', b't', 0x90, 0xa5, b'f', b'l', b'a', b'g', b's', 0x80,
        ];
        assert_eq!(bytes, expected);
        let (uid, back, o) = read_broadcast(&Bytes::from(bytes)).unwrap();
        assert_eq!(uid, "abc");
        assert_eq!(back, packet);
        assert_eq!(o.rooms, vec![Str::from("r")]);
    }

    #[test]
    fn json_or_msgpack_by_first_byte() {
        let json = decode(&Bytes::from_static(br#"{"type":5,"requestId":"x"}"#)).unwrap();
        assert_eq!(
            RequestType::from_value(json.get("type")),
            Some(RequestType::RemoteFetch)
        );
        let mp = encode_msgpack(&object([("type", RequestType::BroadcastAck.value())]));
        let back = decode(&Bytes::from(mp)).unwrap();
        assert_eq!(
            RequestType::from_value(back.get("type")),
            Some(RequestType::BroadcastAck)
        );
        assert!(decode(&Bytes::from_static(b"{nope")).is_err());
        assert!(decode(&Bytes::from_static(&[0xc1])).is_err());
    }

    #[test]
    fn binary_data_crosses_as_bin() {
        let packet = WirePacket {
            kind: PacketKind::Event,
            nsp: "/".into(),
            id: None,
            data: Some(Value::Array(vec![
                Value::from("b"),
                Value::Binary(Bytes::from_static(&[1, 2])),
            ])),
        };
        let bytes = broadcast_message("u", &packet, &BroadcastOptions::default());
        assert!(bytes.windows(4).any(|w| w == [0xc4, 0x02, 1, 2]), "bin 8");
        let json = packet.encode(Parser::Json).unwrap();
        assert_eq!(json.encoded.attachments.len(), 1);
        let back = WirePacket::from_encoded(&json).unwrap();
        assert_eq!(back, packet);
        let mp = packet.encode(Parser::MsgPack).unwrap();
        assert_eq!(WirePacket::from_encoded(&mp).unwrap(), packet);
    }

    #[test]
    fn flags_as_the_reference_writes_them() {
        let mut opts = BroadcastOptions::default();
        opts.flags.volatile = true;
        opts.flags.timeout = Some(Duration::from_millis(1500));
        let v = broadcast_opts_value(&opts);
        let back = read_opts(Some(&v));
        assert!(back.flags.volatile && back.flags.compress);
        assert_eq!(back.flags.timeout, Some(Duration::from_millis(1500)));
        let id = uid(6);
        assert_eq!(id.len(), 6);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
