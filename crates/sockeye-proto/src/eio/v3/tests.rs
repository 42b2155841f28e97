use super::*;

fn t(s: &'static str) -> Str {
    Str::from_static(s)
}

fn msg(s: &'static str) -> Packet {
    Packet::Message(t(s))
}

#[test]
fn utf16_lengths_match_javascript() {
    assert_eq!(utf16_len(""), 0);
    assert_eq!(utf16_len("4hello"), 6);
    assert_eq!(utf16_len("4€"), 2);
    assert_eq!(utf16_len("4é"), 2);
    assert_eq!(utf16_len("😀"), 2);
    assert_eq!(utf16_len("a😀b€"), 5);
}

#[test]
fn decodes_suite_payloads() {
    assert_eq!(decode_text_payload(t("6:4hello")), Ok(vec![msg("hello")]));
    assert_eq!(
        decode_text_payload(t("6:4test16:4test26:4test3")),
        Ok(vec![msg("test1"), msg("test2"), msg("test3")])
    );
    assert_eq!(
        decode_text_payload(t("6:4hello10:b4AQIDBA==")),
        Ok(vec![
            msg("hello"),
            Packet::Binary(Bytes::from_static(&[1, 2, 3, 4]))
        ])
    );
    assert_eq!(
        decode_text_payload(t("1:2")),
        Ok(vec![Packet::Ping(Str::new())])
    );
    assert_eq!(decode_text_payload(t("1:1")), Ok(vec![Packet::Close]));
    assert_eq!(
        decode_text_payload(t("6:2probe")),
        Ok(vec![Packet::Ping(t("probe"))])
    );
}

#[test]
fn decodes_spec_examples() {
    assert_eq!(
        decode_text_payload(t("6:4hello2:4€")),
        Ok(vec![msg("hello"), msg("€")])
    );
    assert_eq!(
        decode_text_payload(t("2:4€10:b4AQIDBA==")),
        Ok(vec![
            msg("€"),
            Packet::Binary(Bytes::from_static(&[1, 2, 3, 4]))
        ])
    );
    let open = "96:0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":5000}";
    let packets = decode_text_payload(t(open)).unwrap();
    assert!(matches!(&packets[..], [Packet::Open(json)] if json.starts_with("{\"sid\"")));
}

#[test]
fn counts_surrogate_pairs_as_two() {
    assert_eq!(decode_text_payload(t("3:4😀")), Ok(vec![msg("😀")]));
    assert_eq!(
        decode_text_payload(t("5:4a😀b3:4é€")),
        Ok(vec![msg("a😀b"), msg("é€")])
    );
    // A length ending inside the pair is malformed.
    assert_eq!(decode_text_payload(t("2:4😀")), Err(DecodeError::Length(0)));
    assert_eq!(decode_text_payload(t("4:4😀")), Err(DecodeError::Length(0)));
}

#[test]
fn empty_and_zero_records() {
    assert_eq!(decode_text_payload(t("0:")), Ok(vec![]));
    assert_eq!(decode_text_payload(t("0:1:60:")), Ok(vec![Packet::Noop]));
    assert_eq!(decode_text_payload(t("")), Err(DecodeError::Empty));
    assert_eq!(encode_text_payload(&[]), "0:");
}

#[test]
fn rejects_malformed_lengths() {
    for bad in [
        "abc",
        ":4a",
        "1",
        "1:",
        "2:4",
        "6:4hello6",
        "6:4hello6:4",
        "x:4",
        "-1:4",
        "1 :4",
        "+1:4",
        // A second length that overflows `start + units` (found by fuzzing).
        "1:218446744073709551615:4",
    ] {
        assert!(
            decode_text_payload(t(bad)).is_err(),
            "{bad:?} should be rejected"
        );
    }
    assert_eq!(
        decode_text_payload(t("6:4hello7")),
        Err(DecodeError::Length(8))
    );
    assert_eq!(
        decode_text_payload(t("99999999999999999999999:4")),
        Err(DecodeError::Length(0))
    );
    // Leading zeros are a number all the same (as `Number("06")`).
    assert_eq!(decode_text_payload(t("06:4hello")), Ok(vec![msg("hello")]));
}

#[test]
fn rejects_invalid_packets() {
    assert_eq!(
        decode_text_payload(t("1:7")),
        Err(DecodeError::UnknownType('7'))
    );
    assert_eq!(decode_text_payload(t("3:b4!")), Err(DecodeError::Base64));
    assert_eq!(
        decode_text_payload(t("3:b2A")),
        Err(DecodeError::UnknownType('2'))
    );
    assert!(decode_text_payload(t("1:b")).is_err());
    // The iterator yields the packets before the error, then stops.
    let items: Vec<_> = TextPayloadDecoder::new(t("2:4a1:x2:4b")).collect();
    assert_eq!(
        items,
        vec![Ok(msg("a")), Err(DecodeError::UnknownType('x'))]
    );
}

#[test]
fn accepts_unpadded_base64() {
    assert_eq!(
        decode_packet_text(t("b4AQIDBA")),
        Ok(Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])))
    );
}

#[test]
fn encodes_text_payloads() {
    assert_eq!(encode_text_payload(&[msg("hello")]), "6:4hello");
    assert_eq!(
        encode_text_payload(&[msg("test1"), msg("test2"), msg("test3")]),
        "6:4test16:4test26:4test3"
    );
    let mixed = [
        msg("hello"),
        Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])),
    ];
    assert_eq!(encode_text_payload(&mixed), "6:4hello10:b4AQIDBA==");
    assert_eq!(encode_text_payload(&[Packet::Pong(Str::new())]), "1:3");
    assert_eq!(encode_text_payload(&[Packet::Noop]), "1:6");
    assert_eq!(encode_text_payload(&[Packet::Close]), "1:1");
    assert_eq!(
        encode_text_payload(&[msg("hello"), msg("€")]),
        "6:4hello2:4€"
    );
    assert_eq!(encode_text_payload(&[msg("😀é")]), "4:4😀é");
    assert_eq!(encode_packet_v3_text(&mixed[1]), "b4AQIDBA==");
    assert_eq!(encode_packet_v3_text(&mixed[0]), "4hello");
}

#[test]
fn text_round_trip() {
    let packets = vec![
        Packet::Open(t("{\"sid\":\"x\"}")),
        msg("a😀€é"),
        Packet::Binary(Bytes::from_static(&[0, 255, 7])),
        Packet::Binary(Bytes::new()),
        Packet::Ping(t("probe")),
        Packet::Upgrade,
        msg(""),
    ];
    let body = encode_text_payload(&packets);
    assert_eq!(decode_text_payload(body), Ok(packets));
}

#[test]
fn binary_payload_from_the_suite() {
    let packets = [
        msg("hello"),
        Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])),
    ];
    let body = encode_binary_payload(&packets);
    assert_eq!(
        &body[..],
        &[
            0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4
        ]
    );
    assert_eq!(decode_binary_payload(body), Ok(packets.to_vec()));
    assert!(has_binary(&packets));
    assert!(!has_binary(&packets[..1]));
}

#[test]
fn binary_payload_from_the_spec() {
    let body = Bytes::from_static(&[
        0x00, 0x04, 0xff, 0x34, 0xe2, 0x82, 0xac, 0x01, 0x04, 0xff, 0x01, 0x02, 0x03, 0x04,
    ]);
    // The spec's example writes the binary record's length without its
    // type byte; as encoded by the reference, the length includes it.
    let packets = [msg("€"), Packet::Binary(Bytes::from_static(&[1, 2, 3, 4]))];
    let encoded = encode_binary_payload(&packets);
    assert_eq!(&encoded[..7], &body[..7]);
    assert_eq!(
        &encoded[7..],
        &[0x01, 0x05, 0xff, 0x04, 0x01, 0x02, 0x03, 0x04]
    );
    assert_eq!(decode_binary_payload(encoded), Ok(packets.to_vec()));
}

#[test]
fn binary_payload_lengths_with_several_digits() {
    let long = "x".repeat(123);
    let packets = [
        Packet::Message(Str::from(long.clone())),
        Packet::Binary(Bytes::from(vec![9; 10])),
    ];
    let body = encode_binary_payload(&packets);
    assert_eq!(&body[..5], &[0, 1, 2, 4, 255]);
    assert_eq!(&body[5 + 124..5 + 124 + 4], &[1, 1, 1, 255]);
    assert_eq!(decode_binary_payload(body), Ok(packets.to_vec()));
    assert_eq!(decode_binary_payload(Bytes::new()), Ok(vec![]));
    assert_eq!(encode_binary_payload(&[]), Bytes::new());
}

#[test]
fn binary_payload_rejects_garbage() {
    let bad: [&[u8]; 9] = [
        &[2, 1, 255, 52],
        &[0, 255, 52],
        &[0, 1],
        &[0, 1, 255],
        &[0, 10, 255, 52],
        &[0, 2, 255, 52],
        &[1, 1, 255, 2],
        &[0, 1, 255, 0xff],
        &[
            0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 255,
        ],
    ];
    for body in bad {
        assert!(
            decode_binary_payload(Bytes::from_static(body)).is_err(),
            "{body:?} should be rejected"
        );
    }
    assert_eq!(
        decode_binary_payload(Bytes::from_static(&[1, 0, 255])),
        Err(DecodeError::Empty)
    );
    // A text record may itself hold base64 binary.
    assert_eq!(
        decode_binary_payload(Bytes::from_static(&[0, 4, 255, b'b', b'4', b'A', b'Q'])),
        Ok(vec![Packet::Binary(Bytes::from_static(&[1]))])
    );
}
