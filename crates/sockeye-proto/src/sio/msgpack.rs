//! A parser wire-compatible with `socket.io-msgpack-parser`.
//!
//! Every packet is one binary Engine.IO message holding the whole packet
//! object msgpack-encoded (by `notepack.io` on the JavaScript side):
//! `{"type": 2, "data": ["hello", <bin>], "nsp": "/", "id": 1}`. Binary data
//! stays inline (msgpack `bin`, or notepack's `ext` 0 for `ArrayBuffer`s),
//! so there are no attachments and no BINARY_EVENT / BINARY_ACK types: the
//! types are 0-4.
//!
//! Decoding follows the reference `checkPacket`: `type` an integer 0-4,
//! `nsp` a string (required), `id` absent or a non-negative integer, `data`
//! absent or an object for CONNECT, absent for DISCONNECT, a string or an
//! object for CONNECT_ERROR, an array for EVENT and ACK. Unknown keys
//! (clients send `options`) are ignored and `undefined` (`fixext 1` type 0)
//! counts as absent. One check is added: an EVENT must start with a
//! non-reserved name or a number, as with the JSON parser.

use super::msgpack_read::{Head, MAX_DEPTH, Reader, TOO_DEEP_MSGPACK};
use super::{Encoded, Packet, PacketKind, Payload, PayloadError, Value, is_reserved_event};
use crate::{DecodeError, Str, eio};
use bytes::Bytes;
use serde::Serialize;

/// Decodes one packet from a binary message (nesting up to
/// [`super::DEFAULT_MAX_DEPTH`]).
pub fn decode_packet(frame: Bytes) -> Result<Packet, DecodeError> {
    decode_packet_with(frame, super::DEFAULT_MAX_DEPTH)
}

/// Decodes one packet whose `data` nests at most `max_depth` deep (at most
/// [`super::MAX_DEPTH_CEILING`]).
pub fn decode_packet_with(frame: Bytes, max_depth: usize) -> Result<Packet, DecodeError> {
    // The reader refuses a container at depth `MAX_DEPTH`; the `data`
    // value is read from depth `base + 1`, so its own containers may nest
    // `max_depth` deep.
    let base = MAX_DEPTH - 1 - max_depth.clamp(1, super::MAX_DEPTH_CEILING);
    let mut r = Reader::new(&frame);
    let entries = match r.head().map_err(DecodeError::Malformed)? {
        Head::Map(n) => n,
        _ => return Err(DecodeError::Malformed("msgpack packet is not a map")),
    };
    let (mut kind, mut nsp, mut id, mut data) = (None, None, None, None);
    for _ in 0..entries {
        let key = r.head().map_err(DecodeError::Malformed)?;
        let name = match &key {
            Head::Str(range) => &frame[range.clone()],
            _ => b"",
        };
        r.skip_rest(key, 1).map_err(DecodeError::Malformed)?;
        let start = r.pos();
        let head = r.head().map_err(DecodeError::Malformed)?;
        match name {
            b"type" => kind = Some(head.clone()),
            b"nsp" => nsp = Some(head.clone()),
            b"id" => id = Some(head.clone()),
            b"data" => {
                let shape = data_shape(&mut r, &frame, head.clone(), base)?;
                data = Some((start, r.pos(), shape));
                continue;
            }
            _ => {}
        }
        r.skip_rest(head, 1).map_err(DecodeError::Malformed)?;
    }
    if !r.at_end() {
        return Err(DecodeError::Malformed(
            "trailing bytes after the msgpack packet",
        ));
    }
    let kind = match kind.as_ref().and_then(as_u64) {
        Some(n @ 0..=4) => {
            PacketKind::from_u8(n as u8).ok_or(DecodeError::Malformed("invalid packet type"))?
        }
        _ => return Err(DecodeError::Malformed("invalid packet type")),
    };
    let nsp = match nsp {
        Some(Head::Str(range)) => Str::from_utf8(frame.slice(range.clone()))
            .unwrap_or_else(|_| Str::from(String::from_utf8_lossy(&frame[range]).into_owned())),
        _ => return Err(DecodeError::Malformed("invalid namespace")),
    };
    let data = data.filter(|(_, _, shape)| *shape != Shape::Undefined);
    let shape = data.as_ref().map_or(Shape::Undefined, |(_, _, s)| *s);
    let valid = match kind {
        PacketKind::Connect => matches!(shape, Shape::Undefined | Shape::Object),
        PacketKind::Disconnect => shape == Shape::Undefined,
        PacketKind::ConnectError => matches!(shape, Shape::String | Shape::Object),
        PacketKind::Event => matches!(shape, Shape::Array(First::Name | First::Number)),
        _ => matches!(shape, Shape::Array(_)),
    };
    if !valid {
        return Err(DecodeError::Payload("invalid payload"));
    }
    let id = match id {
        None | Some(Head::Undefined) => None,
        Some(head) => Some(as_u64(&head).ok_or(DecodeError::Malformed("invalid packet id"))?),
    };
    let data = data.map(|(start, end, _)| Payload::MsgPack(frame.slice(start..end)));
    Ok(Packet {
        kind,
        nsp,
        id,
        data,
        attachments: Vec::new(),
    })
}

/// A non-negative integer (notepack writes integral floats as floats only
/// when they do not fit 64 bits, but a peer may send `2.0`).
fn as_u64(head: &Head) -> Option<u64> {
    match *head {
        Head::Uint(u) => Some(u),
        Head::Int(i) => u64::try_from(i).ok(),
        Head::Float(f) if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) => {
            Some(f as u64)
        }
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Undefined,
    Object,
    String,
    Array(First),
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum First {
    None,
    Name,
    Number,
    Other,
}

/// Reads the rest of the `data` value whose header is `head`, noting its
/// shape.
fn data_shape(
    r: &mut Reader<'_>,
    frame: &Bytes,
    head: Head,
    base: usize,
) -> Result<Shape, DecodeError> {
    let shape = match head {
        Head::Undefined => Shape::Undefined,
        Head::Map(_) => Shape::Object,
        Head::Str(_) => Shape::String,
        Head::Array(0) => Shape::Array(First::None),
        Head::Array(n) => {
            let first = r.head().map_err(DecodeError::Malformed)?;
            let kind = match &first {
                Head::Str(range)
                    if is_reserved_event(&String::from_utf8_lossy(&frame[range.clone()])) =>
                {
                    First::Other
                }
                Head::Str(_) => First::Name,
                Head::Uint(_) | Head::Int(_) | Head::Float(_) => First::Number,
                _ => First::Other,
            };
            r.skip_rest(first, base + 2).map_err(too_deep)?;
            for _ in 1..n {
                r.skip(base + 2).map_err(too_deep)?;
            }
            return Ok(Shape::Array(kind));
        }
        _ => Shape::Other,
    };
    r.skip_rest(head, base + 1).map_err(too_deep)?;
    Ok(shape)
}

/// The reader's error, with the nesting error as the JSON parser names it.
fn too_deep(e: &'static str) -> DecodeError {
    if e == TOO_DEEP_MSGPACK {
        DecodeError::Payload(super::TOO_DEEP)
    } else {
        DecodeError::Malformed(e)
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n < 0x10000 {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

fn write_uint(out: &mut Vec<u8>, n: u64) {
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0xcc, n as u8]);
    } else if n < 0x10000 {
        out.push(0xcd);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n < 0x1_0000_0000 {
        out.push(0xce);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Writes the packet map; `write_data` appends the data value, if any.
fn encode_parts(
    kind: PacketKind,
    nsp: &str,
    id: Option<u64>,
    has_data: bool,
    write_data: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<Encoded, PayloadError> {
    let mut out = Vec::with_capacity(64);
    let mut entries = 2 + u8::from(id.is_some());
    out.push(0x80 | (entries + u8::from(has_data)));
    write_str(&mut out, "type");
    write_uint(&mut out, u64::from(kind.plain().as_u8()));
    if has_data {
        let mark = out.len();
        write_str(&mut out, "data");
        let start = out.len();
        write_data(&mut out)?;
        if out[start..] == [0xc0] {
            out.truncate(mark); // null data is left out, as `undefined`
        } else {
            entries += 1;
        }
        out[0] = 0x80 | entries;
    }
    if let Some(id) = id {
        write_str(&mut out, "id");
        write_uint(&mut out, id);
    }
    write_str(&mut out, "nsp");
    write_str(&mut out, nsp);
    Ok(Encoded {
        head: eio::Packet::Binary(Bytes::from(out)),
        attachments: Vec::new(),
    })
}

/// Encodes a packet with any serializable data (`serialize_bytes` becomes
/// msgpack `bin`; structs become maps, as JavaScript objects).
///
/// ```
/// use sockeye_proto::{eio, sio::{msgpack, PacketKind}};
/// let e = msgpack::encode_with(PacketKind::Event, "/", None, Some(&("hi",))).unwrap();
/// let eio::Packet::Binary(frame) = e.head else { unreachable!() };
/// let p = msgpack::decode_packet(frame).unwrap();
/// assert_eq!(p.event_name().unwrap(), "hi");
/// ```
pub fn encode_with<T: Serialize + ?Sized>(
    kind: PacketKind,
    nsp: &str,
    id: Option<u64>,
    data: Option<&T>,
) -> Result<Encoded, PayloadError> {
    encode_parts(kind, nsp, id, data.is_some(), |out| match data {
        Some(data) => rmp_serde::encode::write_named(out, data)
            .map_err(|e| PayloadError::MsgPack(e.to_string())),
        None => Ok(()),
    })
}

/// Encodes a packet with [`Value`] data.
pub fn encode_value(
    kind: PacketKind,
    nsp: &str,
    id: Option<u64>,
    data: Option<&Value>,
) -> Result<Encoded, PayloadError> {
    encode_with(kind, nsp, id, data)
}

/// Encodes a [`Packet`]: a msgpack payload is copied as is, a JSON payload
/// is converted (its placeholders resolved with the packet's attachments).
pub fn encode(packet: &Packet) -> Result<Encoded, PayloadError> {
    let (kind, nsp, id) = (packet.kind, &packet.nsp[..], packet.id);
    match &packet.data {
        Some(Payload::MsgPack(raw)) => encode_parts(kind, nsp, id, true, |out| {
            out.extend_from_slice(raw);
            Ok(())
        }),
        Some(json) => encode_value(kind, nsp, id, Some(&json.to_value(&packet.attachments)?)),
        None => encode_value(kind, nsp, id, None),
    }
}

/// The decoder of one connection using the msgpack parser (stateless but
/// for its nesting limit: every packet is one binary message).
#[derive(Debug, Clone, Copy)]
pub struct MsgPackDecoder {
    max_depth: usize,
}

impl Default for MsgPackDecoder {
    fn default() -> Self {
        Self::with_max_depth(super::DEFAULT_MAX_DEPTH)
    }
}

impl MsgPackDecoder {
    /// A decoder refusing `data` nested deeper than `max_depth`.
    pub fn with_max_depth(max_depth: usize) -> Self {
        MsgPackDecoder { max_depth }
    }

    /// Text messages are not msgpack packets: always an error.
    pub fn decode_text(&mut self, _text: Str) -> Result<Option<Packet>, DecodeError> {
        Err(DecodeError::Malformed("text data with the msgpack parser"))
    }

    /// Decodes a binary message: always a complete packet.
    pub fn decode_binary(&mut self, data: Bytes) -> Result<Option<Packet>, DecodeError> {
        decode_packet_with(data, self.max_depth).map(Some)
    }
}

#[cfg(test)]
#[path = "msgpack_tests.rs"]
mod tests;
