//! [`Payload`]: packet data kept in its wire format until it is read.

use super::msgpack_read::{Head, Reader};
use super::ser::js_f64;
use super::{PayloadError, Value, binary, from_value};
use crate::Str;
use bytes::Bytes;
use serde::de::DeserializeOwned;

/// The data of a packet, as received: JSON text or msgpack bytes.
///
/// Decoders check a payload's shape (an EVENT is an array starting with a
/// name, ...) but keep it as a slice of the received frame. Reading it costs
/// nothing until asked for:
///
/// * [`Payload::event_name`] scans to the first element only;
/// * [`Payload::elements`] splits an array into one zero-copy payload per
///   element, for handlers that take their arguments one by one;
/// * [`Payload::deserialize`] reads a typed value with serde (directly with
///   serde_json when there are no attachments), and [`Payload::to_value`] a
///   [`Value`] tree.
///
/// JSON payloads of binary packets still hold their placeholders: pass the
/// packet's attachments to `deserialize` / `to_value` to resolve them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// JSON text (default parser); binary nodes are placeholders that refer
    /// to the packet's attachments.
    Json(Str),
    /// One msgpack value (msgpack parser); binary data is inline.
    MsgPack(Bytes),
}

impl Payload {
    /// The JSON text, if this is a JSON payload.
    pub fn as_json(&self) -> Option<&Str> {
        match self {
            Payload::Json(s) => Some(s),
            Payload::MsgPack(_) => None,
        }
    }

    /// The name of an event payload: its first element if it is a string,
    /// or the JavaScript text of a number (`1`), which the reference also
    /// accepts. `None` if the payload is not an array starting so.
    ///
    /// ```
    /// use sockeye_proto::sio::Payload;
    /// let p = Payload::Json(r#"["chat message",{"text":"hi"}]"#.into());
    /// assert_eq!(p.event_name().unwrap(), "chat message");
    /// ```
    pub fn event_name(&self) -> Option<Str> {
        match self {
            Payload::Json(text) => {
                let (start, end) = *scan_json_array(text, 1)?.first()?;
                json_name(&text.slice(start, end))
            }
            Payload::MsgPack(bytes) => {
                let mut r = Reader::new(bytes);
                match r.head().ok()? {
                    Head::Array(n) if n > 0 => {}
                    _ => return None,
                }
                match r.head().ok()? {
                    Head::Str(range) => Some(match Str::from_utf8(bytes.slice(range.clone())) {
                        Ok(s) => s,
                        Err(_) => Str::from(r.text(range)),
                    }),
                    Head::Uint(u) => Some(Str::from(u.to_string())),
                    Head::Int(i) => Some(Str::from(i.to_string())),
                    Head::Float(f) if f.is_finite() => Some(Str::from(js_f64(f))),
                    _ => None,
                }
            }
        }
    }

    /// Splits an array payload into one payload per element, each a slice
    /// of this one (for an event, element 0 is the name).
    pub fn elements(&self) -> Result<Vec<Payload>, PayloadError> {
        match self {
            Payload::Json(text) => {
                let ranges = scan_json_array(text, usize::MAX).ok_or(PayloadError::NotArray)?;
                Ok(ranges
                    .into_iter()
                    .map(|(s, e)| Payload::Json(text.slice(s, e)))
                    .collect())
            }
            Payload::MsgPack(bytes) => {
                let mut r = Reader::new(bytes);
                let n = match r.head().map_err(msgpack_err)? {
                    Head::Array(n) => n,
                    _ => return Err(PayloadError::NotArray),
                };
                let mut out = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    let start = r.pos();
                    r.skip(1).map_err(msgpack_err)?;
                    out.push(Payload::MsgPack(r.bytes(start..r.pos())));
                }
                Ok(out)
            }
        }
    }

    /// The event name and the argument payloads of an event payload.
    pub fn split_event(&self) -> Result<(Str, Vec<Payload>), PayloadError> {
        let no_name = || PayloadError::Custom("no event name".to_owned());
        let name = self.event_name().ok_or_else(no_name)?;
        let mut elements = self.elements()?.into_iter();
        elements.next().ok_or_else(no_name)?;
        Ok((name, elements.collect()))
    }

    /// Reads the payload as a [`Value`], placeholders replaced by
    /// `attachments` (when there are any, as the reference only rebuilds
    /// packets that announced attachments).
    pub fn to_value(&self, attachments: &[Bytes]) -> Result<Value, PayloadError> {
        match self {
            Payload::Json(text) => {
                let value: Value = serde_json::from_str(text)?;
                if attachments.is_empty() {
                    Ok(value)
                } else {
                    binary::reconstruct(value, attachments)
                }
            }
            Payload::MsgPack(bytes) => {
                let mut r = Reader::new(bytes);
                let value = r.value(0).map_err(msgpack_err)?;
                if r.at_end() {
                    Ok(value)
                } else {
                    Err(msgpack_err("trailing bytes"))
                }
            }
        }
    }

    /// Reads the payload as a `T`; binary data (attachments or inline) is
    /// offered as bytes, so `bytes::Bytes` fields receive it.
    ///
    /// Without attachments a JSON payload is read straight by serde_json;
    /// otherwise the data goes through a [`Value`].
    ///
    /// ```
    /// use sockeye_proto::sio::Payload;
    /// let p = Payload::Json(r#"["move",{"x":1,"y":2}]"#.into());
    /// #[derive(serde::Deserialize)]
    /// struct Pos { x: i32, y: i32 }
    /// let (_, pos): (String, Pos) = p.deserialize(&[]).unwrap();
    /// assert_eq!((pos.x, pos.y), (1, 2));
    /// ```
    pub fn deserialize<T: DeserializeOwned>(
        &self,
        attachments: &[Bytes],
    ) -> Result<T, PayloadError> {
        match self {
            Payload::Json(text) if attachments.is_empty() => Ok(serde_json::from_str(text)?),
            _ => from_value(self.to_value(attachments)?),
        }
    }
}

pub(crate) fn msgpack_err(e: &str) -> PayloadError {
    PayloadError::MsgPack(e.to_owned())
}

/// The event name held by the JSON element `elem`.
fn json_name(elem: &Str) -> Option<Str> {
    let bytes = elem.as_bytes();
    match bytes.first()? {
        b'"' if !bytes.contains(&b'\\') && bytes.len() >= 2 => Some(elem.slice(1, elem.len() - 1)),
        b'"' => serde_json::from_str::<String>(elem).ok().map(Str::from),
        b'-' | b'0'..=b'9' => {
            let n: f64 = elem.parse().ok()?;
            n.is_finite().then(|| Str::from(js_f64(n)))
        }
        _ => None,
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The byte ranges of the elements of the JSON array `text`, trimmed of
/// whitespace, stopping after `limit` elements. `None` if `text` is not
/// an array (the structure is checked, the scalars are not).
pub(crate) fn scan_json_array(text: &str, limit: usize) -> Option<Vec<(usize, usize)>> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return None;
    }
    i += 1;
    let mut out = Vec::new();
    let (mut depth, mut start, mut end) = (0usize, None, 0);
    let (mut in_str, mut escaped) = (false, false);
    while let Some(&c) = b.get(i) {
        i += 1;
        if in_str {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
                end = i;
            }
            continue;
        }
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b',' if depth == 0 => {
                out.push((start?, end));
                if out.len() >= limit {
                    return Some(out);
                }
                start = None;
            }
            b']' if depth == 0 => {
                match start {
                    Some(s) => out.push((s, end)),
                    None if !out.is_empty() => return None, // `[1,]`
                    None => {}
                }
                return (skip_ws(b, i) == b.len()).then_some(out);
            }
            _ => {
                start.get_or_insert(i - 1);
                match c {
                    b'"' => in_str = true,
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' => depth = depth.checked_sub(1)?,
                    _ => {}
                }
                end = i;
            }
        }
    }
    None
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;
