//! The default Socket.IO parser: one text packet plus binary attachments.
//!
//! Format: `<type>[<attachments>-][<nsp>,][<ack id>][JSON]`, e.g.
//! `2["hello",1]`, `0/admin,{"sid":"..."}`, `3/admin,13["bar"]`,
//! `451-["baz",{"_placeholder":true,"num":0}]` followed by one binary
//! message.
//!
//! Decoding applies every check of the reference decoder
//! (`socket.io-parser` 4.2.6):
//!
//! * the type is a digit `0`-`6`;
//! * `5`/`6` are followed by an attachment count of at least 1 (as in
//!   `socket.io-parser` 4.2.7) and `-`; more than the configured maximum
//!   ([`DEFAULT_MAX_ATTACHMENTS`]) is [`DecodeError::TooManyAttachments`],
//!   and attachments adding up to more than the configured bytes are
//!   refused ([`DecodeLimits`]);
//! * a namespace is present only if the next character is `/`, and runs to
//!   the next `,` (consumed) or the end: `40/custom` is accepted;
//! * an ack id is the run of digits that follows;
//! * the rest is JSON, whose shape depends on the type: CONNECT an object,
//!   DISCONNECT nothing, CONNECT_ERROR a string or an object, EVENT a
//!   non-empty array whose first element is a number or a non-reserved
//!   name ([`super::RESERVED_EVENTS`]), ACK an array. `42{}` and
//!   `42abc[...]` are rejected;
//! * arrays and objects nest at most [`DecodeLimits::max_depth`] deep
//!   (checked in the same pass, without recursion beyond that depth).
//!
//! Some inputs the reference lets through by accident are rejected,
//! following the protocol specification: an EVENT or ACK without payload
//! (`2`, `2/admin,`), an empty packet (which JavaScript reads as CONNECT),
//! an attachment count without digits (`5-[...]`), an ack id beyond
//! `u64`. Conversely a lone UTF-16 surrogate escape in a string
//! (`"\ud83d"`, which `JSON.stringify` writes for half an emoji) is
//! accepted, as `JSON.parse` does, and becomes U+FFFD.

use super::binary::BinaryReassembler;
use super::json_text::replace_lone_surrogates;
pub use super::limits::{DEFAULT_MAX_ATTACHMENTS, DecodeLimits};
use super::limits::{Skip, TOO_DEEP};
use super::ser::{write_json, write_value};
use super::{Encoded, Packet, PacketKind, Payload, PayloadError, Value, is_reserved_event};
use crate::{DecodeError, Str, eio};
use bytes::Bytes;
use serde::Serialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Decodes the text of one packet (an Engine.IO message without its `4`).
///
/// Returns the packet and the number of binary attachments it announces:
/// when that is not 0 (a `5` or `6` packet) the packet is incomplete, and
/// the caller collects the attachments (see [`JsonDecoder`], which does it
/// all).
pub fn decode_packet(text: Str, max_attachments: usize) -> Result<(Packet, usize), DecodeError> {
    decode_packet_with(
        text,
        &DecodeLimits::default().max_attachments(max_attachments),
    )
}

/// [`decode_packet`] with every bound of `limits` (the attachment bytes
/// are the caller's to count).
pub fn decode_packet_with(
    text: Str,
    limits: &DecodeLimits,
) -> Result<(Packet, usize), DecodeError> {
    let max_attachments = limits.max_attachments;
    let b = text.as_bytes();
    let first = *b.first().ok_or(DecodeError::Empty)?;
    let kind = first
        .checked_sub(b'0')
        .and_then(PacketKind::from_u8)
        .ok_or_else(|| DecodeError::UnknownType(text.chars().next().unwrap_or('\0')))?;
    let mut i = 1;
    let mut attachments = 0usize;
    if kind.is_binary() {
        let digits = count_digits(&b[i..]);
        if digits == 0 || b.get(i + digits) != Some(&b'-') {
            return Err(DecodeError::Malformed("illegal attachments"));
        }
        attachments = parse_digits(&b[i..i + digits]).ok_or(DecodeError::TooManyAttachments)?;
        if attachments == 0 {
            return Err(DecodeError::Malformed("illegal attachments"));
        }
        if attachments > max_attachments {
            return Err(DecodeError::TooManyAttachments);
        }
        i += digits + 1;
    }
    let nsp = if b.get(i) == Some(&b'/') {
        let end = b[i..]
            .iter()
            .position(|&c| c == b',')
            .map_or(b.len(), |p| i + p);
        let nsp = text.slice(i, end);
        i = (end + 1).min(b.len());
        nsp
    } else {
        Str::from_static("/")
    };
    let digits = count_digits(&b[i..]);
    let id = match digits {
        0 => None,
        _ => Some(parse_digits(&b[i..i + digits]).ok_or(DecodeError::Malformed("invalid ack id"))?),
    };
    i += digits;
    let data = if i < b.len() {
        let mut json = text.slice_from(i);
        if let Some(fixed) = replace_lone_surrogates(&json) {
            json = Str::from(fixed);
        }
        validate(kind, &json, limits.max_depth)?;
        Some(Payload::Json(json))
    } else if matches!(kind.plain(), PacketKind::Event | PacketKind::Ack) {
        return Err(DecodeError::Payload("missing payload"));
    } else {
        None
    };
    let packet = Packet {
        kind: kind.plain(),
        nsp,
        id,
        data,
        attachments: Vec::new(),
    };
    Ok((packet, attachments))
}

fn count_digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

fn parse_digits<T: TryFrom<u64>>(digits: &[u8]) -> Option<T> {
    let n = digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })?;
    T::try_from(n).ok()
}

/// Checks that `json` is valid JSON of the shape packets of `kind` carry,
/// nested at most `max_depth` deep.
fn validate(kind: PacketKind, json: &str, max_depth: usize) -> Result<(), DecodeError> {
    if kind == PacketKind::Disconnect {
        return Err(DecodeError::Payload("DISCONNECT takes no payload"));
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let shape = ShapeSeed(Skip {
        remaining: max_depth,
    })
    .deserialize(&mut de)
    .and_then(|shape| de.end().map(|()| shape))
    .map_err(|e| {
        let text = e.to_string();
        if text.starts_with(TOO_DEEP) || text.starts_with("recursion limit exceeded") {
            DecodeError::Payload(TOO_DEEP)
        } else {
            DecodeError::Payload("invalid JSON")
        }
    })?;
    let valid = match kind.plain() {
        PacketKind::Connect => shape == Shape::Object,
        PacketKind::ConnectError => matches!(shape, Shape::Object | Shape::String),
        PacketKind::Event => matches!(shape, Shape::Array(First::Number | First::Name)),
        _ => matches!(shape, Shape::Array(_)),
    };
    if valid {
        Ok(())
    } else {
        Err(DecodeError::Payload("invalid payload"))
    }
}

/// The top-level shape of a JSON payload (read without building a tree).
#[derive(Debug, PartialEq)]
enum Shape {
    Object,
    String,
    Array(First),
    Other,
}

/// The first element of an array payload.
#[derive(Debug, PartialEq)]
enum First {
    None,
    Number,
    /// A string that is not a reserved event name.
    Name,
    Other,
}

/// Reads the [`Shape`] of a payload whose containers may nest as deep as
/// the [`Skip`] allows.
struct ShapeSeed(Skip);

impl<'de> DeserializeSeed<'de> for ShapeSeed {
    type Value = Shape;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        d.deserialize_any(ShapeVisitor(self.0))
    }
}

struct ShapeVisitor(Skip);

impl ShapeVisitor {
    /// The budget of the elements of the top-level container.
    fn inner<E: serde::de::Error>(&self) -> Result<Skip, E> {
        match self.0.remaining.checked_sub(1) {
            Some(remaining) => Ok(Skip { remaining }),
            None => Err(E::custom(TOO_DEEP)),
        }
    }
}

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON payload")
    }
    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::String)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let inner = self.inner()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(Shape::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let inner = self.inner()?;
        let first = seq
            .next_element_seed(FirstSeed(inner))?
            .unwrap_or(First::None);
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(Shape::Array(first))
    }
}

/// Reads the [`First`] element of an array payload.
struct FirstSeed(Skip);

impl<'de> DeserializeSeed<'de> for FirstSeed {
    type Value = First;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<First, D::Error> {
        struct FirstVisitor(Skip);
        impl<'de> Visitor<'de> for FirstVisitor {
            type Value = First;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event name")
            }
            fn visit_str<E>(self, v: &str) -> Result<First, E> {
                Ok(if is_reserved_event(v) {
                    First::Other
                } else {
                    First::Name
                })
            }
            fn visit_i64<E>(self, _: i64) -> Result<First, E> {
                Ok(First::Number)
            }
            fn visit_u64<E>(self, _: u64) -> Result<First, E> {
                Ok(First::Number)
            }
            fn visit_f64<E>(self, _: f64) -> Result<First, E> {
                Ok(First::Number)
            }
            fn visit_bool<E>(self, _: bool) -> Result<First, E> {
                Ok(First::Other)
            }
            fn visit_unit<E>(self) -> Result<First, E> {
                Ok(First::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<First, A::Error> {
                self.0.visit_map(map).map(|()| First::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<First, A::Error> {
                self.0.visit_seq(seq).map(|()| First::Other)
            }
        }
        d.deserialize_any(FirstVisitor(self.0))
    }
}

/// The stateful JSON decoder of one connection: text packets, and the
/// binary attachments of `BINARY_EVENT` / `BINARY_ACK` packets.
///
/// ```
/// use bytes::Bytes;
/// use sockeye_proto::sio::{JsonDecoder, PacketKind};
///
/// let mut d = JsonDecoder::new();
/// let header = r#"51-["baz",{"_placeholder":true,"num":0}]"#;
/// assert_eq!(d.decode_text(header.into()).unwrap(), None);
/// let p = d.decode_binary(Bytes::from_static(&[1, 2, 3, 4])).unwrap().unwrap();
/// assert_eq!(p.kind, PacketKind::Event);
/// assert_eq!(p.attachments.len(), 1);
/// ```
#[derive(Debug)]
pub struct JsonDecoder {
    limits: DecodeLimits,
    pending: Option<BinaryReassembler>,
}

impl Default for JsonDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonDecoder {
    /// A decoder allowing [`DEFAULT_MAX_ATTACHMENTS`] attachments.
    pub fn new() -> Self {
        Self::with_max_attachments(DEFAULT_MAX_ATTACHMENTS)
    }

    /// A decoder allowing `max` attachments per packet.
    pub fn with_max_attachments(max: usize) -> Self {
        Self::with_limits(DecodeLimits::default().max_attachments(max))
    }

    /// A decoder enforcing `limits`.
    pub fn with_limits(limits: DecodeLimits) -> Self {
        JsonDecoder {
            limits,
            pending: None,
        }
    }

    /// Whether a binary packet is waiting for attachments.
    pub fn is_reassembling(&self) -> bool {
        self.pending.is_some()
    }

    /// Drops any partly received binary packet.
    pub fn reset(&mut self) {
        self.pending = None;
    }

    /// Decodes a text message: `Ok(Some(packet))` for a complete packet,
    /// `Ok(None)` for a binary header whose attachments must follow. Text
    /// while attachments are expected is an error.
    pub fn decode_text(&mut self, text: Str) -> Result<Option<Packet>, DecodeError> {
        if self.pending.take().is_some() {
            return Err(DecodeError::Malformed(
                "got text data while reconstructing a packet",
            ));
        }
        let (packet, attachments) = decode_packet_with(text, &self.limits)?;
        if attachments == 0 {
            return Ok(Some(packet));
        }
        self.pending = Some(
            BinaryReassembler::new(packet, attachments)
                .with_max_bytes(self.limits.max_attachment_bytes),
        );
        Ok(None)
    }

    /// Decodes a binary message: the next attachment of the pending packet,
    /// which is returned once complete. Binary data when no packet is
    /// pending is an error.
    pub fn decode_binary(&mut self, data: Bytes) -> Result<Option<Packet>, DecodeError> {
        let pending = self.pending.as_mut().ok_or(DecodeError::Malformed(
            "got binary data when not reconstructing a packet",
        ))?;
        match pending.push(data) {
            Ok(None) => Ok(None),
            done => {
                self.pending = None;
                done
            }
        }
    }
}

/// Writes `<type>[<n>-][<nsp>,][<id>]`.
fn write_header(
    out: &mut Vec<u8>,
    kind: PacketKind,
    attachments: usize,
    nsp: &str,
    id: Option<u64>,
) {
    out.push(b'0' + kind.as_u8());
    if kind.is_binary() {
        out.extend_from_slice(attachments.to_string().as_bytes());
        out.push(b'-');
    }
    if !nsp.is_empty() && nsp != "/" {
        out.extend_from_slice(nsp.as_bytes());
        out.push(b',');
    }
    if let Some(id) = id {
        out.extend_from_slice(id.to_string().as_bytes());
    }
}

/// Finishes a packet whose header (written for `kind` without attachments)
/// ends at `header_len` in `out`: a non-empty `attachments` makes it a binary
/// packet, whose header is rewritten. A binary kind without attachments is
/// written as the plain kind (current clients refuse `50-`).
fn finish(
    mut out: Vec<u8>,
    header_len: usize,
    kind: PacketKind,
    nsp: &str,
    id: Option<u64>,
    attachments: Vec<Bytes>,
) -> Result<Encoded, PayloadError> {
    if &out[header_len..] == b"null" {
        out.truncate(header_len); // `JSON.stringify` data is omitted when null
    }
    if !attachments.is_empty() {
        if !kind.allows_binary() {
            return Err(PayloadError::BinaryNotAllowed);
        }
        let mut full = Vec::with_capacity(out.len() + 8);
        write_header(&mut full, kind.binary(), attachments.len(), nsp, id);
        full.extend_from_slice(&out[header_len..]);
        out = full;
    }
    // Digits, a UTF-8 namespace and serde_json output are all UTF-8.
    let text = Str::from_utf8(Bytes::from(out))
        .map_err(|_| PayloadError::Custom("invalid UTF-8".into()))?;
    Ok(Encoded {
        head: eio::Packet::Message(text),
        attachments,
    })
}

fn start(kind: PacketKind, nsp: &str, id: Option<u64>, capacity: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(capacity + nsp.len() + 24);
    write_header(&mut out, kind.plain(), 0, nsp, id);
    let len = out.len();
    (out, len)
}

/// Encodes a packet with any serializable data, in one pass: binary data
/// (`serialize_bytes`, e.g. `bytes::Bytes`) becomes placeholders and
/// attachments, and an EVENT / ACK with binary becomes a BINARY_EVENT /
/// BINARY_ACK.
///
/// ```
/// use sockeye_proto::sio::{json, PacketKind};
/// let e = json::encode_with(PacketKind::Event, "/admin", Some(7), Some(&("hello", 1))).unwrap();
/// assert_eq!(e.text().unwrap(), r#"2/admin,7["hello",1]"#);
/// ```
pub fn encode_with<T: Serialize + ?Sized>(
    kind: PacketKind,
    nsp: &str,
    id: Option<u64>,
    data: Option<&T>,
) -> Result<Encoded, PayloadError> {
    let (mut out, header_len) = start(kind, nsp, id, 64);
    let mut attachments = Vec::new();
    if let Some(data) = data {
        write_json(&mut out, data, &mut attachments)?;
    }
    finish(out, header_len, kind, nsp, id, attachments)
}

/// Encodes a packet with [`Value`] data; the attachments share the bytes of
/// the value's binary nodes.
pub fn encode_value(
    kind: PacketKind,
    nsp: &str,
    id: Option<u64>,
    data: Option<&Value>,
) -> Result<Encoded, PayloadError> {
    let (mut out, header_len) = start(kind, nsp, id, 64);
    let mut attachments = Vec::new();
    if let Some(data) = data {
        write_value(&mut out, data, &mut attachments);
    }
    finish(out, header_len, kind, nsp, id, attachments)
}

/// Encodes a [`Packet`]. A JSON payload is copied as is with the packet's
/// attachments; a msgpack payload is converted.
pub fn encode(packet: &Packet) -> Result<Encoded, PayloadError> {
    let (kind, nsp, id) = (packet.kind, &packet.nsp[..], packet.id);
    match &packet.data {
        Some(Payload::MsgPack(_)) => {
            let value = packet.data.as_ref().map(|d| d.to_value(&[])).transpose()?;
            encode_value(kind, nsp, id, value.as_ref())
        }
        Some(Payload::Json(json)) => {
            let (mut out, header_len) = start(kind, nsp, id, json.len());
            out.extend_from_slice(json.as_bytes());
            finish(out, header_len, kind, nsp, id, packet.attachments.clone())
        }
        None => {
            let (out, header_len) = start(kind, nsp, id, 0);
            finish(out, header_len, kind, nsp, id, packet.attachments.clone())
        }
    }
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
