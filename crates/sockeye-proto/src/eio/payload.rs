//! Engine.IO v4 polling payloads: packets joined by the record separator.

use super::{Packet, SEPARATOR};
use crate::{DecodeError, Str};
use bytes::BytesMut;

/// Iterates over the packets of a v4 polling body (`4a\x1e4b\x1ebAQ==`).
///
/// Each item borrows nothing: it is a slice of the body's buffer. Decoding
/// stops at the first invalid packet, as the reference does; the caller
/// closes the session with `parse error`.
#[derive(Debug)]
pub struct PayloadDecoder {
    rest: Option<Str>,
}

impl PayloadDecoder {
    /// Prepares to decode `body`.
    pub fn new(body: Str) -> Self {
        PayloadDecoder { rest: Some(body) }
    }
}

impl Iterator for PayloadDecoder {
    type Item = Result<Packet, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest.take()?;
        let record = match rest.as_bytes().iter().position(|&b| b == SEPARATOR) {
            Some(i) => {
                // The separator is ASCII: both sides are character boundaries.
                self.rest = Some(rest.slice_from(i + 1));
                rest.slice(0, i)
            }
            None => rest,
        };
        let item = Packet::decode_text(record);
        if item.is_err() {
            self.rest = None;
        }
        Some(item)
    }
}

/// The byte length of [`encode_payload`] for these packets.
pub fn encoded_len<'a>(packets: impl IntoIterator<Item = &'a Packet>) -> usize {
    let mut n = 0;
    let mut count = 0usize;
    for p in packets {
        n += p.text_len();
        count += 1;
    }
    n + count.saturating_sub(1)
}

/// Encodes packets into one v4 polling body.
pub fn encode_payload<'a>(packets: impl IntoIterator<Item = &'a Packet> + Clone) -> Str {
    let mut out = BytesMut::with_capacity(encoded_len(packets.clone()));
    for (i, p) in packets.into_iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(&[SEPARATOR]);
        }
        p.encode_text_into(&mut out);
    }
    Str::from_utf8(out.freeze()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn decodes_mixed_payload() {
        let body = Str::from_static("4hello\x1ebAQIDBA==\x1e2");
        let packets: Vec<_> = PayloadDecoder::new(body).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            packets,
            vec![
                Packet::Message(Str::from_static("hello")),
                Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])),
                Packet::Ping(Str::new()),
            ]
        );
        assert_eq!(encode_payload(&packets), "4hello\x1ebAQIDBA==\x1e2");
        assert_eq!(encoded_len(&packets), "4hello\x1ebAQIDBA==\x1e2".len());
    }

    #[test]
    fn stops_at_first_error() {
        let items: Vec<_> = PayloadDecoder::new(Str::from_static("4a\x1ex\x1e4b")).collect();
        assert_eq!(items.len(), 2);
        assert!(items[1].is_err());
        let empty: Vec<_> = PayloadDecoder::new(Str::new()).collect();
        assert_eq!(empty, vec![Err(DecodeError::Empty)]);
    }
}
