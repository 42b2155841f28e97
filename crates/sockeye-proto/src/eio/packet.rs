//! A single Engine.IO packet and its text/binary encodings.

use crate::{DecodeError, Str};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{BufMut, Bytes, BytesMut};

/// The Engine.IO protocol revision a client speaks (`EIO` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    /// Engine.IO 3 (Socket.IO 2.x clients): client-driven heartbeats,
    /// length-prefixed polling payloads, type-prefixed WebSocket binary.
    V3,
    /// Engine.IO 4 (Socket.IO 3.x and 4.x clients).
    V4,
}

impl ProtocolVersion {
    /// Parses the `EIO` query value; only `"3"` and `"4"` are versions.
    pub fn from_query(value: &str) -> Option<Self> {
        match value {
            "4" => Some(Self::V4),
            "3" => Some(Self::V3),
            _ => None,
        }
    }

    /// The revision's number (`3` or `4`), as in the `EIO` query.
    pub fn as_u8(self) -> u8 {
        match self {
            Self::V3 => 3,
            Self::V4 => 4,
        }
    }
}

/// The type digit of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: handshake, server to client.
    Open = 0,
    /// `1`: close the session.
    Close = 1,
    /// `2`: heartbeat request (and `2probe` during upgrade).
    Ping = 2,
    /// `3`: heartbeat answer (and `3probe`).
    Pong = 3,
    /// `4`: application data.
    Message = 4,
    /// `5`: completes a transport upgrade.
    Upgrade = 5,
    /// `6`: no operation (releases a pending poll).
    Noop = 6,
}

impl PacketType {
    fn from_digit(c: u8) -> Option<Self> {
        Some(match c {
            b'0' => Self::Open,
            b'1' => Self::Close,
            b'2' => Self::Ping,
            b'3' => Self::Pong,
            b'4' => Self::Message,
            b'5' => Self::Upgrade,
            b'6' => Self::Noop,
            _ => return None,
        })
    }

    /// The ASCII digit of this type.
    pub fn digit(self) -> u8 {
        b'0' + self as u8
    }
}

/// An Engine.IO packet.
///
/// Text data is held as [`Str`] and binary data as [`Bytes`]: decoding a
/// frame slices the frame's buffer instead of copying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Handshake packet with its JSON (see [`super::OpenPacket`]).
    Open(Str),
    /// Close.
    Close,
    /// Ping, with optional data (`probe` during an upgrade).
    Ping(Str),
    /// Pong, with optional data (`probe` during an upgrade).
    Pong(Str),
    /// A text message.
    Message(Str),
    /// A binary message.
    Binary(Bytes),
    /// Upgrade.
    Upgrade,
    /// No operation.
    Noop,
}

/// What a packet becomes on a WebSocket: one text or one binary frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsFrame {
    /// A text frame.
    Text(Str),
    /// A binary frame.
    Binary(Bytes),
}

impl Packet {
    /// The packet's type.
    pub fn kind(&self) -> PacketType {
        match self {
            Packet::Open(_) => PacketType::Open,
            Packet::Close => PacketType::Close,
            Packet::Ping(_) => PacketType::Ping,
            Packet::Pong(_) => PacketType::Pong,
            Packet::Message(_) | Packet::Binary(_) => PacketType::Message,
            Packet::Upgrade => PacketType::Upgrade,
            Packet::Noop => PacketType::Noop,
        }
    }

    /// The `2probe` packet a client sends first on an upgrading WebSocket.
    pub fn is_probe_ping(&self) -> bool {
        matches!(self, Packet::Ping(d) if d == "probe")
    }

    /// Decodes a text packet: a WebSocket text frame or one record of a
    /// polling payload. A leading `b` means base64 binary (v4 framing).
    pub fn decode_text(text: Str) -> Result<Packet, DecodeError> {
        let first = *text.as_bytes().first().ok_or(DecodeError::Empty)?;
        if first == b'b' {
            let raw = STANDARD
                .decode(&text.as_bytes()[1..])
                .map_err(|_| DecodeError::Base64)?;
            return Ok(Packet::Binary(Bytes::from(raw)));
        }
        let kind = PacketType::from_digit(first)
            .ok_or_else(|| DecodeError::UnknownType(text.chars().next().unwrap_or('\0')))?;
        // The type digit is ASCII, so index 1 is a character boundary.
        let data = text.slice_from(1);
        Ok(match kind {
            PacketType::Open => Packet::Open(data),
            PacketType::Close => Packet::Close,
            PacketType::Ping => Packet::Ping(data),
            PacketType::Pong => Packet::Pong(data),
            PacketType::Message => Packet::Message(data),
            PacketType::Upgrade => Packet::Upgrade,
            PacketType::Noop => Packet::Noop,
        })
    }

    /// Decodes a WebSocket binary frame.
    ///
    /// v4 frames are the raw message bytes; v3 frames start with the type
    /// byte (`0x04` for a message), which is checked and stripped.
    pub fn decode_binary(frame: Bytes, version: ProtocolVersion) -> Result<Packet, DecodeError> {
        match version {
            ProtocolVersion::V4 => Ok(Packet::Binary(frame)),
            ProtocolVersion::V3 => match frame.first() {
                Some(4) => Ok(Packet::Binary(frame.slice(1..))),
                Some(&b) => Err(DecodeError::UnknownType(char::from(b'0'.wrapping_add(b)))),
                None => Err(DecodeError::Empty),
            },
        }
    }

    /// Appends the text encoding (`b<base64>` for binary) to `out`.
    pub fn encode_text_into(&self, out: &mut BytesMut) {
        match self {
            Packet::Binary(data) => {
                out.reserve(1 + data.len().div_ceil(3) * 4);
                out.put_u8(b'b');
                let start = out.len();
                out.resize(start + base64_len(data.len()), 0);
                let n = STANDARD
                    .encode_slice(data, &mut out[start..])
                    .expect("buffer sized for base64");
                out.truncate(start + n);
            }
            other => {
                let data = other.text_data();
                out.reserve(1 + data.len());
                out.put_u8(other.kind().digit());
                out.put_slice(data.as_bytes());
            }
        }
    }

    /// The text encoding of this packet.
    pub fn encode_text(&self) -> Str {
        let mut out = BytesMut::with_capacity(self.text_len());
        self.encode_text_into(&mut out);
        // Digits, UTF-8 data and base64 are all UTF-8.
        Str::from_utf8(out.freeze()).unwrap_or_default()
    }

    /// The length of [`Packet::encode_text`] without encoding.
    pub fn text_len(&self) -> usize {
        match self {
            Packet::Binary(data) => 1 + base64_len(data.len()),
            other => 1 + other.text_data().len(),
        }
    }

    /// The WebSocket frame for this packet. Binary messages stay zero-copy on
    /// v4; v3 prepends the `0x04` type byte.
    pub fn to_ws_frame(&self, version: ProtocolVersion) -> WsFrame {
        match (self, version) {
            (Packet::Binary(data), ProtocolVersion::V4) => WsFrame::Binary(data.clone()),
            (Packet::Binary(data), ProtocolVersion::V3) => {
                let mut out = BytesMut::with_capacity(data.len() + 1);
                out.put_u8(4);
                out.put_slice(data);
                WsFrame::Binary(out.freeze())
            }
            (Packet::Message(text), _) => {
                // Frequent case: one small copy to prefix the type digit.
                let mut out = BytesMut::with_capacity(text.len() + 1);
                out.put_u8(b'4');
                out.put_slice(text.as_bytes());
                WsFrame::Text(Str::from_utf8(out.freeze()).unwrap_or_default())
            }
            (Packet::Close, _) => WsFrame::Text(Str::from_static("1")),
            (Packet::Ping(d), _) if d.is_empty() => WsFrame::Text(Str::from_static("2")),
            (Packet::Pong(d), _) if d.is_empty() => WsFrame::Text(Str::from_static("3")),
            (Packet::Noop, _) => WsFrame::Text(Str::from_static("6")),
            (other, _) => WsFrame::Text(other.encode_text()),
        }
    }

    fn text_data(&self) -> Str {
        match self {
            Packet::Open(d) | Packet::Ping(d) | Packet::Pong(d) | Packet::Message(d) => d.clone(),
            Packet::Close | Packet::Upgrade | Packet::Noop | Packet::Binary(_) => Str::new(),
        }
    }
}

fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &'static str) -> Str {
        Str::from_static(s)
    }

    #[test]
    fn decodes_every_type() {
        assert_eq!(Packet::decode_text(t("0{}")), Ok(Packet::Open(t("{}"))));
        assert_eq!(Packet::decode_text(t("1")), Ok(Packet::Close));
        assert_eq!(
            Packet::decode_text(t("2probe")),
            Ok(Packet::Ping(t("probe")))
        );
        assert_eq!(Packet::decode_text(t("3")), Ok(Packet::Pong(t(""))));
        assert_eq!(
            Packet::decode_text(t("4héllo")),
            Ok(Packet::Message(t("héllo")))
        );
        assert_eq!(Packet::decode_text(t("5")), Ok(Packet::Upgrade));
        assert_eq!(Packet::decode_text(t("6")), Ok(Packet::Noop));
        assert_eq!(
            Packet::decode_text(t("bAQIDBA==")),
            Ok(Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])))
        );
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(Packet::decode_text(t("")), Err(DecodeError::Empty));
        assert_eq!(
            Packet::decode_text(t("abc")),
            Err(DecodeError::UnknownType('a'))
        );
        assert_eq!(
            Packet::decode_text(t("7")),
            Err(DecodeError::UnknownType('7'))
        );
        assert_eq!(Packet::decode_text(t("b!!")), Err(DecodeError::Base64));
        assert_eq!(
            Packet::decode_text(t("éa")),
            Err(DecodeError::UnknownType('é'))
        );
    }

    #[test]
    fn encodes_round_trip() {
        for s in [
            "0{\"a\":1}",
            "1",
            "2",
            "2probe",
            "3probe",
            "4",
            "4hi",
            "5",
            "6",
            "bAQIDBA==",
        ] {
            let p = Packet::decode_text(t(s)).unwrap();
            assert_eq!(p.encode_text(), s);
            assert_eq!(p.text_len(), s.len());
        }
    }

    #[test]
    fn websocket_binary_framing() {
        let p = Packet::Binary(Bytes::from_static(&[1, 2]));
        assert_eq!(
            p.to_ws_frame(ProtocolVersion::V4),
            WsFrame::Binary(Bytes::from_static(&[1, 2]))
        );
        assert_eq!(
            p.to_ws_frame(ProtocolVersion::V3),
            WsFrame::Binary(Bytes::from_static(&[4, 1, 2]))
        );
        assert_eq!(
            Packet::decode_binary(Bytes::from_static(&[4, 9]), ProtocolVersion::V3),
            Ok(Packet::Binary(Bytes::from_static(&[9])))
        );
        assert!(Packet::decode_binary(Bytes::new(), ProtocolVersion::V3).is_err());
        assert_eq!(
            Packet::Message(t("x")).to_ws_frame(ProtocolVersion::V4),
            WsFrame::Text(t("4x"))
        );
    }
}
