//! Engine.IO v3 packets and polling payloads.
//!
//! Engine.IO 3 (Socket.IO 2.x clients, `EIO=3`) frames a polling body in one
//! of two ways:
//!
//! * **text** (`text/plain`): every packet is written `<length>:<packet>`,
//!   where the length counts UTF-16 code units, as JavaScript's
//!   `String.length` does (`€` is 1, `😀` is 2). Binary messages are written
//!   `b4<base64>` (the `4` is the message type digit, unlike v4's `b<base64>`).
//!   An empty list of packets is written `0:`.
//! * **binary** ("XHR2", `application/octet-stream`): every packet is
//!   `<0 text | 1 binary><length as bytes 0-9>0xFF<packet>`, where the length
//!   counts bytes; text packets are UTF-8 and binary packets start with the
//!   type byte `0x04`. The server uses it when the client did not ask for
//!   base64 (`b64` absent) and there is binary data to send
//!   (see [`has_binary`]).
//!
//! Decoding is strict where the reference is loose by accident: a length must
//! be one or more ASCII digits, must not run past the body or split a
//! surrogate pair, and an XHR2 header must be `0` or `1` followed by digit
//! bytes and `0xFF`. Anything else is a [`DecodeError`], which the engine turns
//! into a `parse error` close.
//!
//! ```
//! use sockeye_proto::eio::{Packet, v3};
//! use sockeye_proto::Str;
//! use bytes::Bytes;
//!
//! let packets = v3::decode_text_payload(Str::from_static("6:4hello10:b4AQIDBA==")).unwrap();
//! assert_eq!(packets[1], Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])));
//! assert_eq!(v3::encode_text_payload(&packets), "6:4hello10:b4AQIDBA==");
//! ```

use super::{Packet, ProtocolVersion};
use crate::{DecodeError, Str};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use bytes::{BufMut, Bytes, BytesMut};

/// Standard alphabet, padding optional on input (Node's decoder accepts both).
const BASE64_IN: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The length JavaScript gives `s`: its number of UTF-16 code units.
///
/// Characters outside the Basic Multilingual Plane (4 UTF-8 bytes, such as
/// emoji) count 2, every other character counts 1.
pub fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        return s.len();
    }
    s.bytes()
        .map(|b| match b {
            0x80..=0xBF => 0, // continuation byte
            0xF0..=0xFF => 2, // leads a 4-byte sequence: a surrogate pair
            _ => 1,
        })
        .sum()
}

/// Whether any packet is binary, i.e. whether a client that supports binary
/// (no `b64` query parameter) should get an XHR2 body
/// ([`encode_binary_payload`]) instead of a text one.
pub fn has_binary(packets: &[Packet]) -> bool {
    packets.iter().any(|p| matches!(p, Packet::Binary(_)))
}

/// Decodes one v3 text packet: `b4<base64>` is a binary message, anything
/// else is read as by [`Packet::decode_text`].
pub fn decode_packet_text(text: Str) -> Result<Packet, DecodeError> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'b') {
        return Packet::decode_text(text);
    }
    match bytes.get(1) {
        Some(b'4') => {
            let raw = BASE64_IN
                .decode(&bytes[2..])
                .map_err(|_| DecodeError::Base64)?;
            Ok(Packet::Binary(Bytes::from(raw)))
        }
        // Binary data is only meaningful for messages.
        Some(_) => Err(DecodeError::UnknownType(
            text[1..].chars().next().unwrap_or('\0'),
        )),
        None => Err(DecodeError::Malformed("binary packet without a type")),
    }
}

/// Appends the v3 text encoding of `packet` to `out` (`b4<base64>` for
/// binary messages).
pub fn encode_packet_text_into(packet: &Packet, out: &mut BytesMut) {
    match packet {
        Packet::Binary(data) => {
            let n = base64_len(data.len());
            out.reserve(2 + n);
            out.put_slice(b"b4");
            let start = out.len();
            out.resize(start + n, 0);
            let written = STANDARD.encode_slice(data, &mut out[start..]).unwrap_or(0);
            out.truncate(start + written);
        }
        other => other.encode_text_into(out),
    }
}

/// The v3 text encoding of one packet (`4hello`, `b4AQIDBA==`), as sent in a
/// text payload or, for text packets, in a WebSocket text frame.
pub fn encode_packet_v3_text(packet: &Packet) -> Str {
    let mut out = BytesMut::with_capacity(packet_text_len(packet));
    encode_packet_text_into(packet, &mut out);
    // Type digits, UTF-8 data and base64 are all UTF-8.
    Str::from_utf8(out.freeze()).unwrap_or_default()
}

/// The byte length of [`encode_packet_v3_text`].
fn packet_text_len(packet: &Packet) -> usize {
    match packet {
        Packet::Binary(data) => 2 + base64_len(data.len()),
        other => other.text_len(),
    }
}

fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Iterates over the packets of a v3 text payload (`6:4hello2:4€`).
///
/// Each packet is a slice of the body's buffer. Records of length 0 (`0:`)
/// carry no packet and are skipped. Decoding stops at the first error, as the
/// reference does (the packets before it have been yielded); an empty body is
/// an error.
#[derive(Debug)]
pub struct TextPayloadDecoder {
    body: Str,
    pos: usize,
    done: bool,
}

impl TextPayloadDecoder {
    /// Prepares to decode `body`.
    pub fn new(body: Str) -> Self {
        TextPayloadDecoder {
            body,
            pos: 0,
            done: false,
        }
    }

    /// Reads the record at `self.pos`; `Ok(None)` for a `0:` record.
    fn next_record(&mut self) -> Result<Option<Packet>, DecodeError> {
        let bytes = self.body.as_bytes();
        let header = self.pos;
        let mut len: usize = 0;
        let mut i = header;
        loop {
            match bytes.get(i) {
                Some(b':') if i > header => break,
                Some(&d @ b'0'..=b'9') => {
                    len = len
                        .checked_mul(10)
                        .and_then(|l| l.checked_add(usize::from(d - b'0')))
                        .ok_or(DecodeError::Length(header))?;
                }
                _ => return Err(DecodeError::Length(header)),
            }
            i += 1;
        }
        let start = i + 1;
        let end = advance_utf16(&self.body, start, len).ok_or(DecodeError::Length(header))?;
        self.pos = end;
        if len == 0 {
            return Ok(None);
        }
        decode_packet_text(self.body.slice(start, end)).map(Some)
    }
}

impl Iterator for TextPayloadDecoder {
    type Item = Result<Packet, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.body.is_empty() {
            self.done = true;
            return Some(Err(DecodeError::Empty));
        }
        while self.pos < self.body.len() {
            match self.next_record() {
                Ok(None) => continue,
                Ok(Some(packet)) => return Some(Ok(packet)),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        self.done = true;
        None
    }
}

/// The byte index `units` UTF-16 code units after byte `start` of `s`, or
/// `None` if `s` is shorter or the boundary would split a surrogate pair.
fn advance_utf16(s: &str, start: usize, units: usize) -> Option<usize> {
    let rest = s.get(start..)?;
    if rest.is_ascii() {
        // Lazily: `start + units` overflows for a hostile length near
        // usize::MAX, and `then_some` would compute it first.
        return (units <= rest.len()).then(|| start + units);
    }
    let mut counted = 0;
    let mut end = start;
    for c in rest.chars() {
        if counted >= units {
            break;
        }
        counted += c.len_utf16();
        end += c.len_utf8();
    }
    (counted == units).then_some(end)
}

/// Decodes a whole v3 text payload (`<length>:<packet>` repeated).
///
/// `0:` alone is a valid, empty payload; an empty body, a malformed length or
/// an invalid packet is an error for the whole body.
pub fn decode_text_payload(body: Str) -> Result<Vec<Packet>, DecodeError> {
    TextPayloadDecoder::new(body).collect()
}

/// Decodes an XHR2 binary payload
/// (`<0|1><length digits as bytes>0xFF<packet>` repeated).
///
/// Text records are UTF-8 packets (the length counts bytes), binary records
/// start with the type byte, which must be `0x04` (message). An empty body
/// holds no packet.
pub fn decode_binary_payload(body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    // Longer than any length a body can hold; stops absurd headers early.
    const MAX_DIGITS: usize = 20;
    let mut packets = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let header = pos;
        let is_text = match body[pos] {
            0 => true,
            1 => false,
            _ => {
                return Err(DecodeError::Malformed(
                    "binary payload record is neither text nor binary",
                ));
            }
        };
        pos += 1;
        let mut len: usize = 0;
        let mut digits = 0;
        loop {
            let b = *body.get(pos).ok_or(DecodeError::Length(header))?;
            pos += 1;
            if b == 0xFF && digits > 0 {
                break;
            }
            if b > 9 || digits == MAX_DIGITS {
                return Err(DecodeError::Length(header));
            }
            len = len
                .checked_mul(10)
                .and_then(|l| l.checked_add(usize::from(b)))
                .ok_or(DecodeError::Length(header))?;
            digits += 1;
        }
        let end = pos
            .checked_add(len)
            .filter(|&end| end <= body.len())
            .ok_or(DecodeError::Length(header))?;
        let record = body.slice(pos..end);
        pos = end;
        let packet = if is_text {
            decode_packet_text(Str::from_utf8(record).map_err(|_| DecodeError::Utf8)?)?
        } else {
            Packet::decode_binary(record, ProtocolVersion::V3)?
        };
        packets.push(packet);
    }
    Ok(packets)
}

/// Encodes packets as a v3 text payload; binary messages become `b4<base64>`
/// and no packets at all become `0:`.
///
/// `[Message("hello"), Binary([1, 2, 3, 4])]` gives `6:4hello10:b4AQIDBA==`.
pub fn encode_text_payload(packets: &[Packet]) -> Str {
    if packets.is_empty() {
        return Str::from_static("0:");
    }
    let capacity = packets.iter().map(|p| packet_text_len(p) + 8).sum();
    let mut out = BytesMut::with_capacity(capacity);
    for packet in packets {
        let text = encode_packet_v3_text(packet);
        out.put_slice(utf16_len(&text).to_string().as_bytes());
        out.put_u8(b':');
        out.put_slice(text.as_bytes());
    }
    Str::from_utf8(out.freeze()).unwrap_or_default()
}

/// Encodes packets as an XHR2 binary payload: text packets as UTF-8 records,
/// binary messages as `0x04`-prefixed binary records. No packets give an
/// empty body.
pub fn encode_binary_payload(packets: &[Packet]) -> Bytes {
    let capacity = packets
        .iter()
        .map(|p| match p {
            Packet::Binary(data) => data.len() + 24,
            other => other.text_len() + 24,
        })
        .sum();
    let mut out = BytesMut::with_capacity(capacity);
    for packet in packets {
        match packet {
            Packet::Binary(data) => {
                put_record_header(&mut out, 1, data.len() + 1);
                out.put_u8(4);
                out.put_slice(data);
            }
            other => {
                let text = other.encode_text();
                put_record_header(&mut out, 0, text.len());
                out.put_slice(text.as_bytes());
            }
        }
    }
    out.freeze()
}

/// Writes `<kind><decimal digits of len as bytes 0-9>0xFF`.
fn put_record_header(out: &mut BytesMut, kind: u8, len: usize) {
    out.put_u8(kind);
    for digit in len.to_string().bytes() {
        out.put_u8(digit - b'0');
    }
    out.put_u8(0xFF);
}

#[cfg(test)]
mod tests;
