//! Reading typed data out of a [`Value`] with serde.

use super::{PayloadError, Value};
use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer,
    VariantAccess, Visitor,
};
use serde::forward_to_deserialize_any;

/// Deserializes `T` from a [`Value`].
///
/// [`Value::Binary`] is offered as bytes, so `bytes::Bytes` and
/// `serde_bytes`-style fields read it; a `Vec<u8>` field reads it as a
/// sequence. Objects feed structs and maps, a string or a one-key object
/// feeds an enum.
///
/// ```
/// use sockeye_proto::sio::{from_value, Value};
/// use bytes::Bytes;
///
/// let v = Value::Array(vec![Value::from("x"), Value::Binary(Bytes::from_static(b"\x01"))]);
/// let (name, data): (String, Bytes) = from_value(v).unwrap();
/// assert_eq!((name.as_str(), &data[..]), ("x", &[1u8][..]));
/// ```
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, PayloadError> {
    T::deserialize(value)
}

impl<'de> IntoDeserializer<'de, PayloadError> for Value {
    type Deserializer = Value;

    fn into_deserializer(self) -> Value {
        self
    }
}

fn visit_array<'de, V: Visitor<'de>>(
    items: Vec<Value>,
    visitor: V,
) -> Result<V::Value, PayloadError> {
    let mut seq = SeqDeserializer::new(items.into_iter());
    let out = visitor.visit_seq(&mut seq)?;
    seq.end()?;
    Ok(out)
}

impl<'de> Deserializer<'de> for Value {
    type Error = PayloadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        match self {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_string(s),
            Value::Binary(b) => visitor.visit_bytes(&b),
            Value::Array(items) => visit_array(items, visitor),
            Value::Object(entries) => {
                let mut map = MapDeserializer::new(entries.into_iter());
                let out = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        match self {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        match self {
            // `Vec<u8>` asks for a sequence.
            Value::Binary(b) => {
                let mut seq = SeqDeserializer::<_, PayloadError>::new(b.iter().copied());
                let out = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        match self {
            Value::String(s) => visitor.visit_enum(s.into_deserializer()),
            Value::Object(mut entries) if entries.len() == 1 => {
                let (variant, value) = entries.pop().unwrap_or_default();
                visitor.visit_enum(Enum { variant, value })
            }
            _ => Err(de::Error::custom(
                "expected a string or a one-key object for an enum",
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct tuple tuple_struct map struct identifier
    }
}

/// An externally tagged enum variant: `{"Variant": value}`.
struct Enum {
    variant: String,
    value: Value,
}

impl<'de> EnumAccess<'de> for Enum {
    type Error = PayloadError;
    type Variant = Value;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Value), PayloadError> {
        let tag = seed.deserialize(IntoDeserializer::<PayloadError>::into_deserializer(
            self.variant,
        ))?;
        Ok((tag, self.value))
    }
}

impl<'de> VariantAccess<'de> for Value {
    type Error = PayloadError;

    fn unit_variant(self) -> Result<(), PayloadError> {
        match self {
            Value::Null => Ok(()),
            _ => Err(de::Error::custom("expected a unit variant")),
        }
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, PayloadError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        match self {
            Value::Array(items) => visit_array(items, visitor),
            _ => Err(de::Error::custom("expected an array for a tuple variant")),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        self.deserialize_any(visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Upload {
        name: String,
        size: Option<u32>,
        data: Bytes,
        raw: Vec<u8>,
        kind: Kind,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Kind {
        Image,
        Other(String),
    }

    #[test]
    fn typed_structs_with_binary() {
        let bin = Value::Binary(Bytes::from_static(&[1, 2]));
        let v = Value::Object(vec![
            ("name".into(), "a.png".into()),
            ("size".into(), Value::Null),
            ("data".into(), bin.clone()),
            ("raw".into(), bin),
            ("kind".into(), "Image".into()),
        ]);
        let up: Upload = from_value(v).unwrap();
        assert_eq!(up.data, Bytes::from_static(&[1, 2]));
        assert_eq!(up.raw, vec![1, 2]);
        assert_eq!(up.kind, Kind::Image);
        assert_eq!(up.size, None);

        let other: Kind = from_value(Value::Object(vec![("Other".into(), "x".into())])).unwrap();
        assert_eq!(other, Kind::Other("x".into()));
    }

    #[test]
    fn numbers_and_errors() {
        let n: (u8, i32, f64) = from_value(Value::from(serde_json::json!([1, -2, 2.5]))).unwrap();
        assert_eq!(n, (1, -2, 2.5));
        assert!(from_value::<u8>(Value::from(300u64)).is_err());
        assert!(from_value::<(u8,)>(Value::from(serde_json::json!([1, 2]))).is_err());
        assert!(from_value::<String>(Value::Bool(true)).is_err());
    }
}
