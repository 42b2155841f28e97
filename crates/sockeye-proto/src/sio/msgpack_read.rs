//! A bounds-checked msgpack reader that understands notepack's extensions.
//!
//! `notepack.io` (used by `socket.io-msgpack-parser`) writes `Buffer`s as
//! `bin`, `ArrayBuffer`s and typed arrays as `ext` type 0, `undefined` as
//! `fixext 1` type 0 and `Date`s as `fixext 8` type 0 (milliseconds); other
//! extension types decode to `[type, bytes]`. Binary data is sliced from the
//! frame, not copied.

use super::Value;
use super::ser::js_f64;
use bytes::Bytes;
use std::ops::Range;

/// Nesting deeper than this is refused (serde_json's default limit).
pub(crate) const MAX_DEPTH: usize = 128;

/// The reader's error for nesting at [`MAX_DEPTH`].
pub(crate) const TOO_DEEP_MSGPACK: &str = "msgpack nested too deeply";

/// A malformed msgpack document.
pub(crate) type ReadError = &'static str;

/// One msgpack item header; containers carry their element count.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Head {
    Nil,
    Undefined,
    Bool(bool),
    Uint(u64),
    Int(i64),
    Float(f64),
    Str(Range<usize>),
    Bin(Range<usize>),
    Array(usize),
    Map(usize),
    Date(i64),
    Ext(i8, Range<usize>),
}

/// A cursor over a msgpack buffer.
pub(crate) struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a Bytes) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    pub(crate) fn bytes(&self, range: Range<usize>) -> Bytes {
        self.buf.slice(range)
    }

    pub(crate) fn text(&self, range: Range<usize>) -> String {
        String::from_utf8_lossy(&self.buf[range]).into_owned()
    }

    fn take(&mut self, n: usize) -> Result<Range<usize>, ReadError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or("truncated msgpack")?;
        let range = self.pos..end;
        self.pos = end;
        Ok(range)
    }

    fn uint(&mut self, n: usize) -> Result<u64, ReadError> {
        let r = self.take(n)?;
        Ok(self.buf[r]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn len(&mut self, n: usize) -> Result<usize, ReadError> {
        usize::try_from(self.uint(n)?).map_err(|_| "msgpack length too large")
    }

    fn sized(&mut self, n: usize) -> Result<Range<usize>, ReadError> {
        let len = self.len(n)?;
        self.take(len)
    }

    /// Extension data of `len` bytes; the type byte comes first.
    fn ext(&mut self, len: usize, fixed: bool) -> Result<Head, ReadError> {
        let ty = self.uint(1)? as u8 as i8;
        let data = self.take(len)?;
        Ok(match (ty, fixed, len) {
            (0, false, _) => Head::Bin(data),
            (0, true, 1) => Head::Undefined,
            (0, true, 8) => {
                let b = &self.buf[data];
                let hi = i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                let lo = i64::from(u32::from_be_bytes([b[4], b[5], b[6], b[7]]));
                Head::Date(hi * (1 << 32) + lo)
            }
            _ => Head::Ext(ty, data),
        })
    }

    /// Reads the next item header.
    pub(crate) fn head(&mut self) -> Result<Head, ReadError> {
        let m = self.uint(1)? as u8;
        Ok(match m {
            0x00..=0x7f => Head::Uint(u64::from(m)),
            0x80..=0x8f => Head::Map(usize::from(m & 0x0f)),
            0x90..=0x9f => Head::Array(usize::from(m & 0x0f)),
            0xa0..=0xbf => Head::Str(self.take(usize::from(m & 0x1f))?),
            0xc0 => Head::Nil,
            0xc1 => return Err("invalid msgpack marker 0xc1"),
            0xc2 => Head::Bool(false),
            0xc3 => Head::Bool(true),
            0xc4 => Head::Bin(self.sized(1)?),
            0xc5 => Head::Bin(self.sized(2)?),
            0xc6 => Head::Bin(self.sized(4)?),
            0xc7 => {
                let len = self.len(1)?;
                self.ext(len, false)?
            }
            0xc8 => {
                let len = self.len(2)?;
                self.ext(len, false)?
            }
            0xc9 => {
                let len = self.len(4)?;
                self.ext(len, false)?
            }
            0xca => Head::Float(f64::from(f32::from_bits(self.uint(4)? as u32))),
            0xcb => Head::Float(f64::from_bits(self.uint(8)?)),
            0xcc => Head::Uint(self.uint(1)?),
            0xcd => Head::Uint(self.uint(2)?),
            0xce => Head::Uint(self.uint(4)?),
            0xcf => Head::Uint(self.uint(8)?),
            0xd0 => Head::Int(i64::from(self.uint(1)? as u8 as i8)),
            0xd1 => Head::Int(i64::from(self.uint(2)? as u16 as i16)),
            0xd2 => Head::Int(i64::from(self.uint(4)? as u32 as i32)),
            0xd3 => Head::Int(self.uint(8)? as i64),
            0xd4 => self.ext(1, true)?,
            0xd5 => self.ext(2, true)?,
            0xd6 => self.ext(4, true)?,
            0xd7 => self.ext(8, true)?,
            0xd8 => self.ext(16, true)?,
            0xd9 => Head::Str(self.sized(1)?),
            0xda => Head::Str(self.sized(2)?),
            0xdb => Head::Str(self.sized(4)?),
            0xdc => Head::Array(self.len(2)?),
            0xdd => Head::Array(self.len(4)?),
            0xde => Head::Map(self.len(2)?),
            0xdf => Head::Map(self.len(4)?),
            0xe0..=0xff => Head::Int(i64::from(m as i8)),
        })
    }

    /// Skips one complete item.
    pub(crate) fn skip(&mut self, depth: usize) -> Result<(), ReadError> {
        let head = self.head()?;
        self.skip_rest(head, depth)
    }

    /// Skips the elements of a container whose header was read.
    pub(crate) fn skip_rest(&mut self, head: Head, depth: usize) -> Result<(), ReadError> {
        let items = match head {
            Head::Array(n) => n,
            Head::Map(n) => n.checked_mul(2).ok_or("msgpack map too large")?,
            _ => return Ok(()),
        };
        if depth >= MAX_DEPTH {
            return Err(TOO_DEEP_MSGPACK);
        }
        // Every item takes at least one byte: a huge count fails quickly.
        for _ in 0..items {
            self.skip(depth + 1)?;
        }
        Ok(())
    }

    /// Reads one complete item as a [`Value`].
    pub(crate) fn value(&mut self, depth: usize) -> Result<Value, ReadError> {
        let head = self.head()?;
        self.value_from(head, depth)
    }

    /// Reads the rest of an item whose header was read.
    pub(crate) fn value_from(&mut self, head: Head, depth: usize) -> Result<Value, ReadError> {
        if matches!(head, Head::Array(_) | Head::Map(_)) && depth >= MAX_DEPTH {
            return Err(TOO_DEEP_MSGPACK);
        }
        Ok(match head {
            Head::Nil | Head::Undefined => Value::Null,
            Head::Bool(b) => Value::Bool(b),
            Head::Uint(u) => Value::from(u),
            Head::Int(i) => Value::from(i),
            Head::Float(f) => Value::from(f),
            Head::Date(ms) => Value::from(ms),
            Head::Str(r) => Value::String(self.text(r)),
            Head::Bin(r) => Value::Binary(self.bytes(r)),
            Head::Ext(ty, r) => Value::Array(vec![
                Value::from(i64::from(ty)),
                Value::Binary(self.bytes(r)),
            ]),
            Head::Array(n) => {
                let mut items = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            Head::Map(n) => {
                let mut entries = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    let key = self.key()?;
                    entries.push((key, self.value(depth + 1)?));
                }
                Value::Object(entries)
            }
        })
    }

    /// Reads a map key as JavaScript would turn it into a property name.
    pub(crate) fn key(&mut self) -> Result<String, ReadError> {
        Ok(match self.head()? {
            Head::Str(r) => self.text(r),
            Head::Uint(u) => u.to_string(),
            Head::Int(i) => i.to_string(),
            Head::Float(f) if f.is_finite() => js_f64(f),
            Head::Nil => "null".to_owned(),
            Head::Undefined => "undefined".to_owned(),
            Head::Bool(b) => b.to_string(),
            _ => return Err("unsupported msgpack map key"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &'static [u8]) -> Result<Value, ReadError> {
        let buf = Bytes::from_static(bytes);
        let mut r = Reader::new(&buf);
        let v = r.value(0)?;
        if r.at_end() { Ok(v) } else { Err("trailing") }
    }

    #[test]
    fn notepack_extensions() {
        assert_eq!(
            read(&[0xc7, 2, 0, 1, 2]),
            Ok(Value::Binary(Bytes::from_static(&[1, 2])))
        );
        assert_eq!(
            read(&[0xc4, 1, 9]),
            Ok(Value::Binary(Bytes::from_static(&[9])))
        );
        assert_eq!(read(&[0xd4, 0, 0]), Ok(Value::Null));
        assert_eq!(
            read(&[0xd7, 0, 0, 0, 0, 1, 0, 0, 0, 2]),
            Ok(Value::from((1i64 << 32) + 2))
        );
        assert_eq!(
            read(&[0xd5, 5, 1, 2]),
            Ok(Value::Array(vec![
                Value::from(5i64),
                Value::Binary(Bytes::from_static(&[1, 2]))
            ]))
        );
    }

    #[test]
    fn scalars_and_containers() {
        assert_eq!(read(&[0xff]), Ok(Value::from(-1i64)));
        assert_eq!(read(&[0xd0, 0x80]), Ok(Value::from(-128i64)));
        assert_eq!(read(&[0xcd, 1, 0]), Ok(Value::from(256u64)));
        assert_eq!(read(&[0xca, 0x3f, 0xc0, 0, 0]), Ok(Value::from(1.5)));
        assert_eq!(read(&[0xa1, b'a']), Ok(Value::from("a")));
        assert_eq!(
            read(&[0x81, 0x01, 0x92, 0xc3, 0xc0]),
            Ok(Value::Object(vec![(
                "1".into(),
                Value::Array(vec![Value::Bool(true), Value::Null])
            )]))
        );
        assert!(read(&[0xc1]).is_err());
        assert!(read(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(read(&[0xdb, 0xff, 0xff, 0xff, 0xff, 1]).is_err());
        assert!(read(&[0x81, 0x90, 0x01]).is_err());
        let deep = Bytes::from(vec![0x91; 200]);
        assert!(Reader::new(&deep).skip(0).is_err());
        assert!(Reader::new(&deep).value(0).is_err());
    }
}
