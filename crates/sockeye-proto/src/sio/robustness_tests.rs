//! Every decoder of the crate on pseudo-random input: no panic, and what
//! decodes re-encodes to the same packet.

use super::*;
use crate::eio::{self, PayloadDecoder, ProtocolVersion, v3};
use crate::{DecodeError, Str};
use bytes::Bytes;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "b",
    "b4",
    "-",
    "/",
    ",",
    ":",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "\\",
    "\\u",
    "d83d",
    "de00",
    "null",
    "true",
    "1.5e3",
    "-",
    "\"a\"",
    "\"connect\"",
    "_placeholder",
    "num",
    r#"{"_placeholder":true,"num":0}"#,
    r#"{"_placeholder":true,"num":1}"#,
    "/admin",
    "?x=%41+",
    "é",
    "😀",
    "\u{1e}",
    " ",
    "10",
    "99999999999999999999",
    "AQID",
    "==",
];

const SEEDS: &[&[u8]] = &[
    b"6:4hello10:b4AQIDBA==",
    b"2:4\xe2\x82\xac3:4\xf0\x9f\x98\x80",
    b"4hello\x1ebAQIDBA==\x1e2",
    b"0:1:60:",
    b"\x00\x04\xffb4AQ\x01\x01\xff\x04",
    b"\x00\x06\xff4hello\x01\x05\xff\x04\x01\x02\x03\x04",
    br#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    br#"2/admin,456["project:delete",123]"#,
    br#"0/custom,{"token":"abc"}"#,
    br#"61-/admin,15["bar",{"_placeholder":true,"num":0}]"#,
    br#"4/admin,"Not authorized""#,
    b"\x84\xa4type\x02\xa4data\x92\xa5hello\xc4\x03\x01\x02\x03\xa7options\x81\xa8compress\xc3\xa3nsp\xa1/",
    b"\x84\xa2id\x05\xa4type\x03\xa4data\x92\x01\xa12\xa3nsp\xa1/",
    b"\x83\xa4type\x02\xa4data\x92\xa1d\xd7\x00\x00\x00\x01\x8b\xcf\xe5\x68\x00\xa3nsp\xa1/",
];

fn random_input(rng: &mut Rng, round: usize) -> Vec<u8> {
    match round % 4 {
        0 => (0..rng.below(48)).map(|_| rng.next() as u8).collect(),
        1 => {
            let mut s = Vec::new();
            for _ in 0..rng.below(12) {
                s.extend_from_slice(TOKENS[rng.below(TOKENS.len())].as_bytes());
            }
            s
        }
        _ => {
            let mut s = SEEDS[rng.below(SEEDS.len())].to_vec();
            for _ in 0..rng.below(3) {
                let at = rng.below(s.len() + 1);
                match rng.below(4) {
                    0 if at < s.len() => s[at] = rng.next() as u8,
                    1 => s.insert(at, rng.next() as u8),
                    2 if at < s.len() => {
                        s.remove(at);
                    }
                    _ => s.truncate(at),
                }
            }
            s
        }
    }
}

/// Reads a decoded packet every way the upper layers may.
fn exercise(p: &Packet) {
    let _ = p.event_name();
    if let Some(data) = &p.data {
        let _ = data.event_name();
        let _ = data.split_event();
        let _ = data.to_value(&p.attachments);
        let _ = data.deserialize::<serde_json::Value>(&p.attachments);
        if let Ok(elements) = data.elements() {
            for e in elements {
                let _ = e.deserialize::<Value>(&p.attachments);
            }
        }
    }
    let _ = v4::split_connect_nsp(&p.nsp);
    let _ = Parser::Json.encode(p);
    let _ = Parser::MsgPack.encode(p);
}

fn eio_decoders(bytes: &Bytes) {
    let _ = eio::Packet::decode_binary(bytes.clone(), ProtocolVersion::V3);
    let _ = v3::decode_binary_payload(bytes.clone());
    if let Ok(text) = Str::from_utf8(bytes.clone()) {
        let _ = eio::Packet::decode_text(text.clone());
        let _ = v3::decode_packet_text(text.clone());
        let _ = PayloadDecoder::new(text.clone()).count();
        if let Ok(packets) = v3::decode_text_payload(text.clone()) {
            let again = v3::decode_text_payload(v3::encode_text_payload(&packets));
            assert_eq!(again, Ok(packets.clone()), "{text:?}");
            let binary = v3::decode_binary_payload(v3::encode_binary_payload(&packets));
            assert_eq!(binary, Ok(packets), "{text:?}");
        }
    }
}

fn sio_decoders(bytes: &Bytes, rng: &mut Rng) {
    if let Ok(text) = Str::from_utf8(bytes.clone()) {
        let _ = binary::placeholders_valid(&text, rng.below(3));
        if let Ok((p, n)) = json::decode_packet(text.clone(), DEFAULT_MAX_ATTACHMENTS) {
            exercise(&p);
            if n == 0 {
                let text2 = json::encode(&p)
                    .ok()
                    .and_then(|e| e.text().cloned())
                    .unwrap_or_default();
                let again = json::decode_packet(text2.clone(), DEFAULT_MAX_ATTACHMENTS);
                assert_eq!(again.map(|r| r.0), Ok(p), "{text:?} -> {text2:?}");
            }
        }
        let mut d = JsonDecoder::new();
        if let Ok(None) = d.decode_text(text) {
            for _ in 0..rng.below(4) {
                let n = rng.below(4);
                match d.decode_binary(bytes.slice(..n.min(bytes.len()))) {
                    Ok(Some(p)) => exercise(&p),
                    Ok(None) => {}
                    Err(_) => break,
                }
            }
        }
    }
    match msgpack::decode_packet(bytes.clone()) {
        Ok(p) => {
            exercise(&p);
            let frame = match msgpack::encode(&p).map(|e| e.head) {
                Ok(eio::Packet::Binary(frame)) => frame,
                other => panic!("{other:?}"),
            };
            assert_eq!(msgpack::decode_packet(frame), Ok(p));
        }
        Err(DecodeError::Empty | DecodeError::Malformed(_) | DecodeError::Payload(_)) => {}
        Err(other) => panic!("unexpected error {other:?}"),
    }
    let _ = Payload::MsgPack(bytes.clone()).to_value(&[]);
    let _ = Payload::MsgPack(bytes.clone()).elements();
    let _ = Payload::MsgPack(bytes.clone()).event_name();
}

#[test]
fn decoders_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..10_000 {
        let bytes = Bytes::from(random_input(&mut rng, round));
        eio_decoders(&bytes);
        sio_decoders(&bytes, &mut rng);
    }
}

#[test]
fn seeds_decode() {
    // The mutation seeds are valid for at least one decoder each.
    for seed in SEEDS {
        let bytes = Bytes::from_static(seed);
        let text = Str::from_utf8(bytes.clone()).ok();
        let ok = text
            .as_ref()
            .is_some_and(|t| v3::decode_text_payload(t.clone()).is_ok())
            || text
                .as_ref()
                .is_some_and(|t| PayloadDecoder::new(t.clone()).all(|r| r.is_ok()))
            || text
                .as_ref()
                .is_some_and(|t| json::decode_packet(t.clone(), 10).is_ok())
            || v3::decode_binary_payload(bytes.clone()).is_ok()
            || msgpack::decode_packet(bytes.clone()).is_ok();
        assert!(ok, "{seed:?}");
    }
}

/// Hostile nesting: 100k `[` (or msgpack fixarrays) is a clean error, not a
/// stack overflow, with every parser; the configured depth is exact.
#[test]
fn deep_nesting_is_refused_without_recursion() {
    let deep = format!("2[\"ev\",{}", "[".repeat(100_000));
    let err = JsonDecoder::new().decode_text(Str::from(deep)).unwrap_err();
    assert_eq!(err, DecodeError::Payload(TOO_DEEP));
    let deep_obj = format!("2[\"ev\",{}", "{\"a\":".repeat(100_000));
    assert!(JsonDecoder::new().decode_text(Str::from(deep_obj)).is_err());
    let first = format!("2[{}", "[".repeat(100_000));
    assert!(JsonDecoder::new().decode_text(Str::from(first)).is_err());
    for depth in [1, 5, DEFAULT_MAX_DEPTH, MAX_DEPTH_CEILING] {
        let limits = DecodeLimits::default().max_depth(depth);
        // `["ev", [[...]]]`: the outer array is level 1.
        let nested = |levels: usize| {
            format!(
                "2[\"ev\"{}{}{}]",
                if levels > 1 { "," } else { "" },
                "[".repeat(levels.saturating_sub(1)),
                "]".repeat(levels.saturating_sub(1))
            )
        };
        let mut d = JsonDecoder::with_limits(limits);
        assert!(d.decode_text(Str::from(nested(depth))).is_ok(), "{depth}");
        assert_eq!(
            d.decode_text(Str::from(nested(depth + 1))),
            Err(DecodeError::Payload(TOO_DEEP)),
            "{depth}"
        );
        // The same with msgpack: {type: 2, nsp: "/", data: ["ev", [[...]]]}.
        let packet = |levels: usize| {
            let mut b = b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data".to_vec();
            if levels == 1 {
                b.extend_from_slice(b"\x91\xa2ev");
            } else {
                b.extend_from_slice(b"\x92\xa2ev");
                b.extend(std::iter::repeat_n(0x91u8, levels - 2));
                b.push(0x90);
            }
            Bytes::from(b)
        };
        let mut m = Parser::MsgPack.decoder_with_limits(limits);
        assert!(m.decode_binary(packet(depth)).is_ok(), "msgpack {depth}");
        assert_eq!(
            m.decode_binary(packet(depth + 1)),
            Err(DecodeError::Payload(TOO_DEEP)),
            "msgpack {depth}"
        );
    }
    let mut b = b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa2ev".to_vec();
    b.extend(std::iter::repeat_n(0x91u8, 100_000));
    assert!(
        Parser::MsgPack
            .decoder()
            .decode_binary(Bytes::from(b))
            .is_err()
    );
}

/// Attachments are bounded in total bytes, not only in count.
#[test]
fn attachment_bytes_are_bounded() {
    let limits = DecodeLimits::default().max_attachment_bytes(10);
    let mut d = JsonDecoder::with_limits(limits);
    let header = r#"52-["ev",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    assert_eq!(d.decode_text(Str::from(header)), Ok(None));
    assert_eq!(d.decode_binary(Bytes::from_static(&[0; 6])), Ok(None));
    assert_eq!(
        d.decode_binary(Bytes::from_static(&[0; 5])),
        Err(DecodeError::Malformed(ATTACHMENTS_TOO_LARGE))
    );
    assert!(!d.is_reassembling());
    // Exactly at the limit is fine.
    assert_eq!(d.decode_text(Str::from(header)), Ok(None));
    assert_eq!(d.decode_binary(Bytes::from_static(&[0; 6])), Ok(None));
    let p = d
        .decode_binary(Bytes::from_static(&[0; 4]))
        .unwrap()
        .unwrap();
    assert_eq!(p.attachments.len(), 2);
}
