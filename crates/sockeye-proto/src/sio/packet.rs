//! The parser-independent Socket.IO packet.

use super::Payload;
use crate::{Str, eio};
use bytes::Bytes;

/// Event names an EVENT packet may not use: they mean something to the
/// client or server libraries themselves.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Whether `name` is one of [`RESERVED_EVENTS`].
pub fn is_reserved_event(name: &str) -> bool {
    RESERVED_EVENTS.contains(&name)
}

/// The type of a Socket.IO packet (its first digit with the JSON parser).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketKind {
    /// `0`: join a namespace (client), or its acceptance (server).
    Connect = 0,
    /// `1`: leave a namespace.
    Disconnect = 1,
    /// `2`: an event: `["name", ...args]`.
    Event = 2,
    /// `3`: the acknowledgement of an event: `[...args]`.
    Ack = 3,
    /// `4`: a refused namespace connection (`ERROR` in protocol v4).
    ConnectError = 4,
    /// `5`: an event with binary attachments (JSON parser only).
    BinaryEvent = 5,
    /// `6`: an acknowledgement with binary attachments (JSON parser only).
    BinaryAck = 6,
}

impl PacketKind {
    /// The kind with this number, if any (`0..=6`).
    pub fn from_u8(n: u8) -> Option<Self> {
        Some(match n {
            0 => Self::Connect,
            1 => Self::Disconnect,
            2 => Self::Event,
            3 => Self::Ack,
            4 => Self::ConnectError,
            5 => Self::BinaryEvent,
            6 => Self::BinaryAck,
            _ => return None,
        })
    }

    /// The number of this kind.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Whether this is [`PacketKind::BinaryEvent`] or [`PacketKind::BinaryAck`].
    pub fn is_binary(self) -> bool {
        matches!(self, Self::BinaryEvent | Self::BinaryAck)
    }

    /// The kind without attachments: `BinaryEvent` → `Event`,
    /// `BinaryAck` → `Ack`, others unchanged.
    pub fn plain(self) -> Self {
        match self {
            Self::BinaryEvent => Self::Event,
            Self::BinaryAck => Self::Ack,
            other => other,
        }
    }

    /// The kind with attachments: `Event` → `BinaryEvent`,
    /// `Ack` → `BinaryAck`, others unchanged.
    pub fn binary(self) -> Self {
        match self {
            Self::Event => Self::BinaryEvent,
            Self::Ack => Self::BinaryAck,
            other => other,
        }
    }

    /// Whether packets of this kind may carry binary data (events and acks).
    pub fn allows_binary(self) -> bool {
        matches!(
            self,
            Self::Event | Self::Ack | Self::BinaryEvent | Self::BinaryAck
        )
    }
}

/// A Socket.IO packet, decoded or to encode.
///
/// Decoders return [`PacketKind::Event`] / [`PacketKind::Ack`] for binary
/// packets too, with their binary messages in `attachments` (as the
/// reference does once a binary packet is complete); the JSON encoder writes
/// `5`/`6` whenever `attachments` is not empty.
///
/// `data` stays in its wire format ([`Payload`]): decoding validates it but
/// builds no tree, and re-encoding it with the same parser copies it as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The packet type.
    pub kind: PacketKind,
    /// The namespace, `/` by default.
    pub nsp: Str,
    /// The acknowledgement id, for events expecting an ack and for acks.
    pub id: Option<u64>,
    /// The payload, if any.
    pub data: Option<Payload>,
    /// Binary attachments referenced by placeholders in a JSON `data`
    /// (always empty with the msgpack parser, which keeps binary inline).
    pub attachments: Vec<Bytes>,
}

impl Packet {
    /// A packet of `kind` for `nsp`, without id, data or attachments.
    pub fn new(kind: PacketKind, nsp: impl Into<Str>) -> Self {
        Packet {
            kind,
            nsp: nsp.into(),
            id: None,
            data: None,
            attachments: Vec::new(),
        }
    }

    /// Sets the acknowledgement id.
    pub fn with_id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the payload.
    pub fn with_data(mut self, data: Payload) -> Self {
        self.data = Some(data);
        self
    }

    /// Sets the attachments.
    pub fn with_attachments(mut self, attachments: Vec<Bytes>) -> Self {
        self.attachments = attachments;
        self
    }

    /// The event name of an EVENT packet (see [`Payload::event_name`]).
    pub fn event_name(&self) -> Option<Str> {
        match self.kind.plain() {
            PacketKind::Event => self.data.as_ref()?.event_name(),
            _ => None,
        }
    }
}

/// An encoded packet: the Engine.IO messages to send, in order.
///
/// Encoding once and cloning the result is how a broadcast reaches many
/// clients: every field is reference counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The packet itself: [`eio::Packet::Message`] with the JSON parser,
    /// [`eio::Packet::Binary`] with msgpack.
    pub head: eio::Packet,
    /// Binary attachments, each sent as an [`eio::Packet::Binary`] after
    /// `head`.
    pub attachments: Vec<Bytes>,
}

impl Encoded {
    /// The text of the head message (JSON parser), without the Engine.IO
    /// `4`: `2["hello"]`.
    pub fn text(&self) -> Option<&Str> {
        match &self.head {
            eio::Packet::Message(text) => Some(text),
            _ => None,
        }
    }

    /// Number of Engine.IO messages: the head plus the attachments.
    pub fn len(&self) -> usize {
        1 + self.attachments.len()
    }

    /// Always `false`: there is at least the head.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The Engine.IO packets to send, in order (cheap clones).
    pub fn eio_packets(&self) -> impl Iterator<Item = eio::Packet> + '_ {
        std::iter::once(self.head.clone())
            .chain(self.attachments.iter().cloned().map(eio::Packet::Binary))
    }

    /// The WebSocket frames for these messages (`4`-prefixed text, binary
    /// as `version` frames it). Build them once per broadcast and clone
    /// them to every WebSocket recipient.
    pub fn ws_frames(&self, version: eio::ProtocolVersion) -> Vec<eio::WsFrame> {
        self.eio_packets().map(|p| p.to_ws_frame(version)).collect()
    }

    /// The Engine.IO packets to send, in order.
    pub fn into_eio_packets(self) -> Vec<eio::Packet> {
        let mut out = Vec::with_capacity(self.len());
        out.push(self.head);
        out.extend(self.attachments.into_iter().map(eio::Packet::Binary));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        for n in 0..=6 {
            assert_eq!(PacketKind::from_u8(n).map(PacketKind::as_u8), Some(n));
        }
        assert_eq!(PacketKind::from_u8(7), None);
        assert_eq!(PacketKind::Event.binary(), PacketKind::BinaryEvent);
        assert_eq!(PacketKind::BinaryAck.plain(), PacketKind::Ack);
        assert_eq!(PacketKind::Connect.binary(), PacketKind::Connect);
        assert!(!PacketKind::ConnectError.allows_binary());
        assert!(is_reserved_event("disconnecting"));
        assert!(!is_reserved_event("message"));
    }

    #[test]
    fn encoded_packets_in_order() {
        let e = Encoded {
            head: eio::Packet::Message(Str::from_static(
                "51-[\"a\",{\"_placeholder\":true,\"num\":0}]",
            )),
            attachments: vec![Bytes::from_static(&[1])],
        };
        let packets: Vec<_> = e.eio_packets().collect();
        assert_eq!(packets, e.clone().into_eio_packets());
        assert_eq!(packets[1], eio::Packet::Binary(Bytes::from_static(&[1])));
        assert_eq!(e.len(), 2);
        let frames = e.ws_frames(eio::ProtocolVersion::V4);
        assert_eq!(
            frames[0],
            eio::WsFrame::Text(Str::from_static(
                "451-[\"a\",{\"_placeholder\":true,\"num\":0}]"
            ))
        );
        assert_eq!(frames[1], eio::WsFrame::Binary(Bytes::from_static(&[1])));
        assert!(e.text().is_some());
    }
}
