//! Binary attachments of the JSON parser.
//!
//! A packet whose data holds binary is sent as a `BINARY_EVENT` /
//! `BINARY_ACK` text packet in which every binary node is replaced by
//! `{"_placeholder":true,"num":N}`, followed by the N binary messages in
//! order (`451-["baz",{"_placeholder":true,"num":0}]` then `<01 02 03 04>`).
//!
//! * [`deconstruct`] does the replacement on a [`Value`] (and
//!   [`super::to_json_with_attachments`] on any `Serialize` type);
//! * [`BinaryReassembler`] collects the attachments announced by a header
//!   and checks its placeholders once the last one arrives;
//! * [`reconstruct`] puts the attachments back into a [`Value`].
//!
//! The decoded JSON text keeps its placeholders: nothing is rebuilt until an
//! application reads the data (see [`super::Payload::deserialize`]).

use super::ser::write_value;
use super::{Packet, PayloadError, Value};
use crate::DecodeError;
use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Replaces every binary node of `value` by a placeholder: returns the JSON
/// text and the attachments (sharing the bytes of `value`, not copying them).
///
/// ```
/// use bytes::Bytes;
/// use sockeye_proto::sio::{binary, Value};
///
/// let v = Value::Array(vec!["baz".into(), Value::Binary(Bytes::from_static(&[1, 2, 3, 4]))]);
/// let (json, bins) = binary::deconstruct(&v);
/// assert_eq!(json, r#"["baz",{"_placeholder":true,"num":0}]"#);
/// assert_eq!(bins.len(), 1);
/// ```
pub fn deconstruct(value: &Value) -> (String, Vec<Bytes>) {
    let mut out = Vec::with_capacity(64);
    let mut attachments = Vec::new();
    write_value(&mut out, value, &mut attachments);
    // `write_value` writes UTF-8 only.
    (String::from_utf8(out).unwrap_or_default(), attachments)
}

/// Replaces every placeholder object of `value` by its attachment.
///
/// As in the reference, an object is a placeholder when its `_placeholder`
/// key is `true`; its `num` must then be an integer index into
/// `attachments`, else the packet is invalid.
pub fn reconstruct(value: Value, attachments: &[Bytes]) -> Result<Value, PayloadError> {
    match value {
        Value::Object(entries) => {
            let is_placeholder = entries
                .iter()
                .rev()
                .find(|(k, _)| k == "_placeholder")
                .is_some_and(|(_, v)| *v == Value::Bool(true));
            if is_placeholder {
                let num = entries
                    .iter()
                    .rev()
                    .find(|(k, _)| k == "num")
                    .map(|(_, v)| v);
                let index = num.and_then(placeholder_index);
                return match index.and_then(|i| attachments.get(i)) {
                    Some(b) => Ok(Value::Binary(b.clone())),
                    None => Err(PayloadError::Placeholder(format!("{num:?}"))),
                };
            }
            let entries = entries
                .into_iter()
                .map(|(k, v)| Ok((k, reconstruct(v, attachments)?)))
                .collect::<Result<_, PayloadError>>()?;
            Ok(Value::Object(entries))
        }
        Value::Array(items) => Ok(Value::Array(
            items
                .into_iter()
                .map(|v| reconstruct(v, attachments))
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(other),
    }
}

fn placeholder_index(num: &Value) -> Option<usize> {
    match num {
        Value::Number(n) => match n.as_u64() {
            Some(u) => usize::try_from(u).ok(),
            None => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as usize),
        },
        _ => None,
    }
}

/// Checks, without building a tree, that every placeholder of the JSON text
/// `json` points at one of `count` attachments.
pub fn placeholders_valid(json: &str, count: usize) -> bool {
    let mut de = serde_json::Deserializer::from_str(json);
    matches!(Check { count }.deserialize(&mut de), Ok(true)) && de.end().is_ok()
}

/// Validity of a JSON subtree's placeholders.
#[derive(Clone, Copy)]
struct Check {
    count: usize,
}

/// What a map key means to the placeholder check.
enum Key {
    Placeholder,
    Num,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "_placeholder" => Key::Placeholder,
                    "num" => Key::Num,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A scalar seen by the check, with the validity of what is below it.
#[derive(Clone, Copy)]
enum Seen {
    True,
    Index(usize),
    Other(bool),
}

impl<'de> DeserializeSeed<'de> for Check {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        Ok(match d.deserialize_any(self)? {
            Seen::Other(valid) => valid,
            Seen::True | Seen::Index(_) => true,
        })
    }
}

struct Scalar(Check);

impl<'de> DeserializeSeed<'de> for Scalar {
    type Value = Seen;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Seen, D::Error> {
        d.deserialize_any(self.0)
    }
}

impl<'de> Visitor<'de> for Check {
    type Value = Seen;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Seen, E> {
        Ok(if v { Seen::True } else { Seen::Other(true) })
    }
    fn visit_u64<E>(self, v: u64) -> Result<Seen, E> {
        Ok(usize::try_from(v).map_or(Seen::Other(true), Seen::Index))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Seen, E> {
        Ok(Seen::Other(true)) // negative
    }
    fn visit_f64<E>(self, v: f64) -> Result<Seen, E> {
        let integral = v.fract() == 0.0 && v >= 0.0 && v < usize::MAX as f64;
        Ok(if integral {
            Seen::Index(v as usize)
        } else {
            Seen::Other(true)
        })
    }
    fn visit_str<E>(self, _: &str) -> Result<Seen, E> {
        Ok(Seen::Other(true))
    }
    fn visit_unit<E>(self) -> Result<Seen, E> {
        Ok(Seen::Other(true))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Seen, A::Error> {
        let mut valid = true;
        while let Some(v) = seq.next_element_seed(self)? {
            valid &= v;
        }
        Ok(Seen::Other(valid))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seen, A::Error> {
        let mut children_valid = true;
        let mut placeholder = false;
        let mut num = None;
        while let Some(key) = map.next_key::<Key>()? {
            let seen = map.next_value_seed(Scalar(self))?;
            match (key, seen) {
                (Key::Placeholder, Seen::True) => placeholder = true,
                (Key::Placeholder, _) => placeholder = false,
                (Key::Num, Seen::Index(i)) => num = Some(i),
                (Key::Num, _) => num = None,
                _ => {}
            }
            if let Seen::Other(valid) = seen {
                children_valid &= valid;
            }
        }
        Ok(Seen::Other(if placeholder {
            num.is_some_and(|n| n < self.count)
        } else {
            children_valid
        }))
    }
}

/// The error text of attachments over the byte limit.
pub const ATTACHMENTS_TOO_LARGE: &str = "attachments too large";

/// Collects the binary attachments that follow a `BINARY_EVENT` or
/// `BINARY_ACK` header, then checks the header's placeholders.
///
/// The JSON decoder ([`super::JsonDecoder`]) drives one of these; it is
/// public for transports that reassemble packets themselves.
#[derive(Debug)]
pub struct BinaryReassembler {
    packet: Option<Packet>,
    expected: usize,
    /// Bytes received so far, and the most allowed.
    bytes: usize,
    max_bytes: usize,
}

impl BinaryReassembler {
    /// Starts collecting `expected` attachments (at least 1) for `header`.
    pub fn new(header: Packet, expected: usize) -> Self {
        BinaryReassembler {
            packet: Some(header),
            expected,
            bytes: 0,
            max_bytes: usize::MAX,
        }
    }

    /// Refuses attachments adding up to more than `max` bytes (no limit
    /// by default).
    pub fn with_max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }

    /// Attachments announced by the header.
    pub fn expected(&self) -> usize {
        self.expected
    }

    /// Attachments received so far.
    pub fn received(&self) -> usize {
        self.packet.as_ref().map_or(0, |p| p.attachments.len())
    }

    /// Adds the next attachment. Returns the complete packet after the last
    /// one, or an error if a placeholder points past the attachments, the
    /// attachments exceed the byte limit or the packet was already complete.
    pub fn push(&mut self, data: Bytes) -> Result<Option<Packet>, DecodeError> {
        let packet = self.packet.as_mut().ok_or(DecodeError::Malformed(
            "binary data after the packet was complete",
        ))?;
        self.bytes = self.bytes.saturating_add(data.len());
        if self.bytes > self.max_bytes {
            self.packet = None;
            return Err(DecodeError::Malformed(ATTACHMENTS_TOO_LARGE));
        }
        packet.attachments.push(data);
        if packet.attachments.len() < self.expected {
            return Ok(None);
        }
        let packet = self.packet.take().ok_or(DecodeError::Empty)?;
        let valid = match &packet.data {
            Some(super::Payload::Json(json)) => placeholders_valid(json, self.expected),
            _ => true,
        };
        if valid {
            Ok(Some(packet))
        } else {
            Err(DecodeError::Malformed("illegal attachments"))
        }
    }
}

#[cfg(test)]
#[path = "binary_tests.rs"]
mod tests;
