//! [`DecodeLimits`]: the bounds a decoder enforces on every packet, and the
//! depth-bounded JSON walk that checks nesting in the validation pass.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The reference decoder's default limit of attachments per packet.
pub const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// Default cap on the total size of one packet's binary attachments
/// (10 MB: ten attachments of the engine's default 1 MB message size).
pub const DEFAULT_MAX_ATTACHMENT_BYTES: usize = 10_000_000;

/// Default cap on the nesting of arrays and objects in a payload
/// (`["ev",{"a":[1]}]` is 3 deep).
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// The deepest nesting a decoder can be configured to accept: serde_json
/// refuses the 128th level on its own, and the msgpack reader stops at the
/// same point.
pub const MAX_DEPTH_CEILING: usize = 127;

/// The error text of a payload nested deeper than allowed
/// (`DecodeError::Payload(TOO_DEEP)`).
pub const TOO_DEEP: &str = "nesting too deep";

/// Bounds that a connection's decoder enforces on every packet: a packet
/// over one of them is a decoding error (the server closes the connection).
///
/// ```
/// use sockeye_proto::sio::{DecodeLimits, Parser};
/// let limits = DecodeLimits::default().max_depth(8).max_attachments(2);
/// let mut d = Parser::Json.decoder_with_limits(limits);
/// let deep = format!("2[\"ev\",{}{}]", "[".repeat(8), "]".repeat(8));
/// assert!(d.decode_text(deep.into()).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    pub(crate) max_attachments: usize,
    pub(crate) max_attachment_bytes: usize,
    pub(crate) max_depth: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_attachments: DEFAULT_MAX_ATTACHMENTS,
            max_attachment_bytes: DEFAULT_MAX_ATTACHMENT_BYTES,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

impl DecodeLimits {
    /// Most binary attachments in one packet (JSON parser; default
    /// [`DEFAULT_MAX_ATTACHMENTS`]).
    pub fn max_attachments(mut self, n: usize) -> Self {
        self.max_attachments = n;
        self
    }

    /// Most bytes in all the attachments of one packet together (JSON
    /// parser; default [`DEFAULT_MAX_ATTACHMENT_BYTES`]).
    pub fn max_attachment_bytes(mut self, n: usize) -> Self {
        self.max_attachment_bytes = n;
        self
    }

    /// Deepest nesting of arrays and objects in a payload, both parsers
    /// (default [`DEFAULT_MAX_DEPTH`], at least 1, at most
    /// [`MAX_DEPTH_CEILING`]).
    pub fn max_depth(mut self, n: usize) -> Self {
        self.max_depth = n.clamp(1, MAX_DEPTH_CEILING);
        self
    }

    /// The attachment count limit.
    pub fn attachments(&self) -> usize {
        self.max_attachments
    }

    /// The attachment bytes limit.
    pub fn attachment_bytes(&self) -> usize {
        self.max_attachment_bytes
    }

    /// The nesting limit.
    pub fn depth(&self) -> usize {
        self.max_depth
    }
}

/// Skips one JSON value, failing when containers nest below `remaining`
/// more levels (`remaining` counts the containers still allowed).
#[derive(Clone, Copy)]
pub(crate) struct Skip {
    pub remaining: usize,
}

impl Skip {
    fn inner<E: de::Error>(self) -> Result<Skip, E> {
        match self.remaining.checked_sub(1) {
            Some(remaining) => Ok(Skip { remaining }),
            None => Err(E::custom(TOO_DEEP)),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.inner()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.inner()?;
        while map.next_key::<de::IgnoredAny>()?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(json: &str, max: usize) -> bool {
        let mut de = serde_json::Deserializer::from_str(json);
        Skip { remaining: max }.deserialize(&mut de).is_ok()
    }

    #[test]
    fn depth_counts_containers() {
        assert!(depth_ok("1", 0));
        assert!(!depth_ok("[]", 0));
        assert!(depth_ok("[{}]", 2));
        assert!(!depth_ok("[{\"a\":[]}]", 2));
        assert!(depth_ok("[{\"a\":[]}]", 3));
        assert!(depth_ok("[[],[],{\"a\":1,\"b\":2}]", 2));
        assert!(!depth_ok("[[],[],{\"a\":1,\"b\":[]}]", 2));
    }

    #[test]
    fn limits_clamp() {
        assert_eq!(DecodeLimits::default().max_depth(0).depth(), 1);
        assert_eq!(
            DecodeLimits::default().max_depth(100_000).depth(),
            MAX_DEPTH_CEILING
        );
    }
}
