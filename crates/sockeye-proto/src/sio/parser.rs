//! [`Parser`]: the choice between the JSON and the msgpack parser.

use super::json::{self, DecodeLimits, JsonDecoder};
use super::msgpack::{self, MsgPackDecoder};
use super::{Encoded, Packet, PacketKind, PayloadError, Value};
use crate::{DecodeError, Str, eio};
use bytes::Bytes;
use serde::Serialize;

/// Which Socket.IO parser a server uses (all its clients must use the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Parser {
    /// The default parser (`socket.io-parser`): text packets, binary as
    /// attachments.
    #[default]
    Json,
    /// `socket.io-msgpack-parser`: every packet one binary message.
    MsgPack,
}

impl Parser {
    /// A decoder for one connection, with the default limits.
    pub fn decoder(self) -> Decoder {
        self.decoder_with_limits(DecodeLimits::default())
    }

    /// A decoder for one connection allowing `max` attachments per packet
    /// (meaningful for the JSON parser only).
    pub fn decoder_with_max_attachments(self, max: usize) -> Decoder {
        self.decoder_with_limits(DecodeLimits::default().max_attachments(max))
    }

    /// A decoder for one connection enforcing `limits` (the attachment
    /// limits mean something to the JSON parser only).
    pub fn decoder_with_limits(self, limits: DecodeLimits) -> Decoder {
        match self {
            Parser::Json => Decoder::Json(JsonDecoder::with_limits(limits)),
            Parser::MsgPack => Decoder::MsgPack(MsgPackDecoder::with_max_depth(limits.depth())),
        }
    }

    /// Encodes a [`Packet`] (converting its payload if it is in the other
    /// parser's format).
    pub fn encode(self, packet: &Packet) -> Result<Encoded, PayloadError> {
        match self {
            Parser::Json => json::encode(packet),
            Parser::MsgPack => msgpack::encode(packet),
        }
    }

    /// Encodes a packet with serializable data: the way to encode an emit
    /// or a broadcast once and send the result to every recipient.
    ///
    /// ```
    /// use sockeye_proto::sio::{PacketKind, Parser};
    /// let e = Parser::Json.encode_with(PacketKind::Event, "/", None, Some(&("hey", "Jude"))).unwrap();
    /// assert_eq!(e.text().unwrap(), r#"2["hey","Jude"]"#);
    /// ```
    pub fn encode_with<T: Serialize + ?Sized>(
        self,
        kind: PacketKind,
        nsp: &str,
        id: Option<u64>,
        data: Option<&T>,
    ) -> Result<Encoded, PayloadError> {
        match self {
            Parser::Json => json::encode_with(kind, nsp, id, data),
            Parser::MsgPack => msgpack::encode_with(kind, nsp, id, data),
        }
    }

    /// Encodes a packet with [`Value`] data.
    pub fn encode_value(
        self,
        kind: PacketKind,
        nsp: &str,
        id: Option<u64>,
        data: Option<&Value>,
    ) -> Result<Encoded, PayloadError> {
        match self {
            Parser::Json => json::encode_value(kind, nsp, id, data),
            Parser::MsgPack => msgpack::encode_value(kind, nsp, id, data),
        }
    }
}

/// The decoder of one connection, for either parser.
#[derive(Debug)]
pub enum Decoder {
    /// The JSON parser's decoder.
    Json(JsonDecoder),
    /// The msgpack parser's decoder.
    MsgPack(MsgPackDecoder),
}

impl Decoder {
    /// Decodes a text message (`Ok(None)`: a binary packet waits for its
    /// attachments).
    pub fn decode_text(&mut self, text: Str) -> Result<Option<Packet>, DecodeError> {
        match self {
            Decoder::Json(d) => d.decode_text(text),
            Decoder::MsgPack(d) => d.decode_text(text),
        }
    }

    /// Decodes a binary message (`Ok(None)`: more attachments are expected).
    pub fn decode_binary(&mut self, data: Bytes) -> Result<Option<Packet>, DecodeError> {
        match self {
            Decoder::Json(d) => d.decode_binary(data),
            Decoder::MsgPack(d) => d.decode_binary(data),
        }
    }

    /// Decodes the data of an Engine.IO message packet; any other Engine.IO
    /// packet is an error.
    pub fn decode(&mut self, packet: eio::Packet) -> Result<Option<Packet>, DecodeError> {
        match packet {
            eio::Packet::Message(text) => self.decode_text(text),
            eio::Packet::Binary(data) => self.decode_binary(data),
            _ => Err(DecodeError::Malformed("not an Engine.IO message")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_parsers_round_trip() {
        for parser in [Parser::Json, Parser::MsgPack] {
            let data = ("file", Bytes::from_static(&[1, 2, 3]), 2);
            let e = parser
                .encode_with(PacketKind::Event, "/up", Some(4), Some(&data))
                .unwrap();
            let mut d = parser.decoder();
            let mut out = None;
            for p in e.clone().into_eio_packets() {
                out = d.decode(p).unwrap();
            }
            let p = out.unwrap();
            assert_eq!(
                (p.kind, &p.nsp[..], p.id),
                (PacketKind::Event, "/up", Some(4))
            );
            let back: (String, Bytes, u8) = p
                .data
                .as_ref()
                .unwrap()
                .deserialize(&p.attachments)
                .unwrap();
            assert_eq!(back, ("file".to_owned(), Bytes::from_static(&[1, 2, 3]), 2));
            // Re-encoding with the other parser converts the payload.
            let other = if parser == Parser::Json {
                Parser::MsgPack
            } else {
                Parser::Json
            };
            let e2 = other.encode(&p).unwrap();
            let mut d2 = other.decoder();
            let mut out2 = None;
            for p in e2.into_eio_packets() {
                out2 = d2.decode(p).unwrap();
            }
            let p2 = out2.unwrap();
            let back2: (String, Bytes, u8) = p2
                .data
                .as_ref()
                .unwrap()
                .deserialize(&p2.attachments)
                .unwrap();
            assert_eq!(back2, back);
        }
        assert!(Parser::Json.decoder().decode(eio::Packet::Noop).is_err());
    }
}
