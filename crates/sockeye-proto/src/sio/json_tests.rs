use super::*;
use serde_json::json;

fn t(s: &'static str) -> Str {
    Str::from_static(s)
}

fn decode(s: &'static str) -> Result<(Packet, usize), DecodeError> {
    decode_packet(t(s), DEFAULT_MAX_ATTACHMENTS)
}

fn data(p: &Packet) -> Option<&str> {
    p.data
        .as_ref()
        .and_then(Payload::as_json)
        .map(|s| s.as_str())
}

#[test]
fn decodes_suite_packets() {
    let (p, n) = decode("0").unwrap();
    assert_eq!(
        (p.kind, &p.nsp[..], p.id, data(&p), n),
        (PacketKind::Connect, "/", None, None, 0)
    );
    let (p, _) = decode(r#"0{"token":"123"}"#).unwrap();
    assert_eq!(data(&p), Some(r#"{"token":"123"}"#));
    let (p, _) = decode("0/custom,").unwrap();
    assert_eq!((&p.nsp[..], data(&p)), ("/custom", None));
    let (p, _) = decode(r#"0/custom,{"token":"abc"}"#).unwrap();
    assert_eq!(
        (&p.nsp[..], data(&p)),
        ("/custom", Some(r#"{"token":"abc"}"#))
    );
    let (p, _) = decode("0/random").unwrap();
    assert_eq!(p.nsp, "/random");
    let (p, _) = decode("1").unwrap();
    assert_eq!(p.kind, PacketKind::Disconnect);
    let (p, _) = decode("1/custom").unwrap();
    assert_eq!(p.nsp, "/custom");
    let (p, _) = decode(r#"2["message",1,"2",{"3":[true]}]"#).unwrap();
    assert_eq!(p.event_name().unwrap(), "message");
    let (p, _) = decode(r#"2456["message-with-ack",1,"2",{"3":[false]}]"#).unwrap();
    assert_eq!(
        (p.id, p.event_name().unwrap().as_str()),
        (Some(456), "message-with-ack")
    );
    let (p, n) =
        decode(r#"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
            .unwrap();
    assert_eq!((p.kind, n), (PacketKind::Event, 2));
    let (p, n) = decode(
        r#"52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    )
    .unwrap();
    assert_eq!((p.kind, p.id, n), (PacketKind::Event, Some(789), 2));
}

#[test]
fn decodes_spec_examples() {
    let (p, _) = decode(r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#).unwrap();
    assert_eq!(p.nsp, "/admin");
    let (p, _) = decode(r#"4{"message":"Not authorized"}"#).unwrap();
    assert_eq!(p.kind, PacketKind::ConnectError);
    let (p, _) = decode(r#"2/admin,["bar"]"#).unwrap();
    assert_eq!(
        (&p.nsp[..], p.event_name().unwrap().as_str()),
        ("/admin", "bar")
    );
    let (p, _) = decode(r#"212["foo"]"#).unwrap();
    assert_eq!(p.id, Some(12));
    let (p, _) = decode(r#"3/admin,13["bar"]"#).unwrap();
    assert_eq!(
        (p.kind, &p.nsp[..], p.id),
        (PacketKind::Ack, "/admin", Some(13))
    );
    let (p, n) = decode(r#"61-15["bar",{"_placeholder":true,"num":0}]"#).unwrap();
    assert_eq!((p.kind, p.id, n), (PacketKind::Ack, Some(15), 1));
    let (p, n) =
        decode(r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
            .unwrap();
    assert_eq!((&p.nsp[..], n), ("/admin", 2));
    // The sample session's `461-/admin,1[...]`, without the Engine.IO `4`.
    let (p, _) = decode(r#"61-/admin,1[{"_placeholder":true,"num":0}]"#).unwrap();
    assert_eq!(
        (p.kind, &p.nsp[..], p.id),
        (PacketKind::Ack, "/admin", Some(1))
    );
    let (p, _) = decode(r#"3/admin,456[]"#).unwrap();
    assert_eq!(data(&p), Some("[]"));
    let (p, _) = decode(r#"2/admin,456["project:delete",123]"#).unwrap();
    assert_eq!(p.id, Some(456));
}

#[test]
fn rejects_suite_and_reference_violations() {
    let cases: [(&str, DecodeError); 20] = [
        ("", DecodeError::Empty),
        ("abc", DecodeError::UnknownType('a')),
        ("7", DecodeError::UnknownType('7')),
        ("é", DecodeError::UnknownType('é')),
        ("2{}", DecodeError::Payload("invalid payload")),
        (
            r#"2abc["message-with-ack",1,"2",{"3":[false]}]"#,
            DecodeError::Payload("invalid JSON"),
        ),
        ("2[]", DecodeError::Payload("invalid payload")),
        (
            r#"2["disconnect"]"#,
            DecodeError::Payload("invalid payload"),
        ),
        (
            r#"2["newListener",1]"#,
            DecodeError::Payload("invalid payload"),
        ),
        ("2[null]", DecodeError::Payload("invalid payload")),
        (r#"2"a""#, DecodeError::Payload("invalid payload")),
        ("2", DecodeError::Payload("missing payload")),
        ("3{}", DecodeError::Payload("invalid payload")),
        ("3", DecodeError::Payload("missing payload")),
        ("0[]", DecodeError::Payload("invalid payload")),
        (r#"0"x""#, DecodeError::Payload("invalid payload")),
        ("1{}", DecodeError::Payload("DISCONNECT takes no payload")),
        ("4[]", DecodeError::Payload("invalid payload")),
        ("511-[\"a\"]", DecodeError::TooManyAttachments),
        ("5x-[\"a\"]", DecodeError::Malformed("illegal attachments")),
    ];
    for (text, err) in cases {
        assert_eq!(
            decode_packet(Str::from(text.to_owned()), 10).map(|_| ()),
            Err(err),
            "{text:?}"
        );
    }
    assert!(decode("5-[\"a\"]").is_err());
    assert!(decode("51[\"a\"]").is_err());
    assert!(decode("2[\"a\"").is_err());
    assert!(decode("2[\"a\"] x").is_err());
    assert!(decode("299999999999999999999[\"a\"]").is_err());
    assert_eq!(decode_packet(t("511-[\"a\"]"), 11).map(|r| r.1), Ok(11));
    assert_eq!(
        decode_packet(t("51-[\"a\"]"), 0),
        Err(DecodeError::TooManyAttachments)
    );
}

#[test]
fn accepts_what_the_reference_accepts() {
    assert!(decode(r#"2[1,"x"]"#).is_ok());
    assert!(decode(r#"2[" connect"]"#).is_ok());
    assert!(decode(r#"4"Not authorized""#).is_ok());
    assert!(decode(r#"2 ["a"] "#).is_ok());
    assert!(decode(r#"3[]"#).is_ok());
    assert!(decode("4").is_ok());
    let (p, _) = decode(r#"2["a","\ud83d"]"#).unwrap();
    let args: (String, String) = p.data.unwrap().deserialize(&[]).unwrap();
    assert_eq!(args.1, "\u{fffd}");
    // A namespace runs to the first comma; the payload may contain more.
    let (p, _) = decode(r#"2/a/é,["x,y"]"#).unwrap();
    assert_eq!(p.nsp, "/a/é");
}

#[test]
fn decoder_reassembles_binary_packets() {
    let mut d = JsonDecoder::new();
    let header = t(r#"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#);
    assert_eq!(d.decode_text(header), Ok(None));
    assert!(d.is_reassembling());
    assert_eq!(d.decode_binary(Bytes::from_static(&[1, 2, 3])), Ok(None));
    let p = d
        .decode_binary(Bytes::from_static(&[4, 5, 6]))
        .unwrap()
        .unwrap();
    assert!(!d.is_reassembling());
    let args: (String, Bytes, Bytes) = p
        .data
        .as_ref()
        .unwrap()
        .deserialize(&p.attachments)
        .unwrap();
    assert_eq!((&args.1[..], &args.2[..]), (&[1, 2, 3][..], &[4, 5, 6][..]));

    // Binary when not expected, text while expecting binary.
    assert!(d.decode_binary(Bytes::new()).is_err());
    assert_eq!(
        d.decode_text(t(r#"51-["a",{"_placeholder":true,"num":0}]"#)),
        Ok(None)
    );
    assert!(d.decode_text(t(r#"2["a"]"#)).is_err());
    assert!(!d.is_reassembling());
    // Placeholder out of range once complete.
    assert_eq!(
        d.decode_text(t(r#"51-["a",{"_placeholder":true,"num":1}]"#)),
        Ok(None)
    );
    assert_eq!(
        d.decode_binary(Bytes::new()),
        Err(DecodeError::Malformed("illegal attachments"))
    );
    // Zero attachments: refused, as by socket.io-parser 4.2.7.
    assert_eq!(
        d.decode_text(t(r#"50-["a"]"#)),
        Err(DecodeError::Malformed("illegal attachments"))
    );
    d.decode_text(t(r#"51-["a",{"_placeholder":true,"num":0}]"#))
        .unwrap();
    d.reset();
    assert!(d.decode_text(t(r#"2["a"]"#)).unwrap().is_some());
    assert!(
        JsonDecoder::with_max_attachments(1)
            .decode_text(t(r#"52-["a"]"#))
            .is_err()
    );
}

#[test]
fn encodes_suite_answers() {
    let e = encode_with(PacketKind::Connect, "/", None, Some(&json!({"sid": "abc"}))).unwrap();
    assert_eq!(e.text().unwrap(), r#"0{"sid":"abc"}"#);
    let e = encode_with(PacketKind::Event, "/", None, Some(&("auth", json!({})))).unwrap();
    assert_eq!(e.text().unwrap(), r#"2["auth",{}]"#);
    let e = encode_with(
        PacketKind::Event,
        "/custom",
        None,
        Some(&("auth", json!({}))),
    )
    .unwrap();
    assert_eq!(e.text().unwrap(), r#"2/custom,["auth",{}]"#);
    let e = encode_with(
        PacketKind::ConnectError,
        "/random",
        None,
        Some(&json!({"message": "Invalid namespace"})),
    )
    .unwrap();
    assert_eq!(
        e.text().unwrap(),
        r#"4/random,{"message":"Invalid namespace"}"#
    );
    let e = encode_with(
        PacketKind::Ack,
        "/",
        Some(456),
        Some(&json!([1, "2", {"3": [false]}])),
    )
    .unwrap();
    assert_eq!(e.text().unwrap(), r#"3456[1,"2",{"3":[false]}]"#);
    let bins = (
        Bytes::from_static(&[1, 2, 3]),
        Bytes::from_static(&[4, 5, 6]),
    );
    let e = encode_with(
        PacketKind::Event,
        "/",
        None,
        Some(&("message-back", &bins.0, &bins.1)),
    )
    .unwrap();
    assert_eq!(
        e.text().unwrap(),
        r#"52-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(e.attachments, vec![bins.0.clone(), bins.1.clone()]);
    let e = encode_with(PacketKind::Ack, "/", Some(789), Some(&(&bins.0, &bins.1))).unwrap();
    assert_eq!(
        e.text().unwrap(),
        r#"62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
}

#[test]
fn encodes_spec_examples() {
    let none: Option<&()> = None;
    assert_eq!(
        encode_with(PacketKind::Connect, "/", None, none)
            .unwrap()
            .text()
            .unwrap(),
        "0"
    );
    assert_eq!(
        encode_with(PacketKind::Disconnect, "/admin", None, none)
            .unwrap()
            .text()
            .unwrap(),
        "1/admin,"
    );
    assert_eq!(
        encode_with(PacketKind::Disconnect, "", None, none)
            .unwrap()
            .text()
            .unwrap(),
        "1"
    );
    assert_eq!(
        encode_with(PacketKind::Connect, "/", None, Some(&()))
            .unwrap()
            .text()
            .unwrap(),
        "0"
    );
    let e = encode_with(PacketKind::Event, "/", Some(12), Some(&["foo"])).unwrap();
    assert_eq!(e.text().unwrap(), r#"212["foo"]"#);
    let e = encode_value(
        PacketKind::Ack,
        "/admin",
        Some(15),
        Some(&Value::Array(vec![
            "bar".into(),
            Value::Binary(Bytes::from_static(&[1, 2, 3, 4])),
        ])),
    )
    .unwrap();
    assert_eq!(
        e.text().unwrap(),
        r#"61-/admin,15["bar",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(e.len(), 2);
    let e = encode_with(PacketKind::BinaryEvent, "/", None, Some(&["a"])).unwrap();
    assert_eq!(e.text().unwrap(), r#"2["a"]"#);
    let bin = Bytes::from_static(&[1]);
    assert!(matches!(
        encode_with(PacketKind::Connect, "/", None, Some(&bin)),
        Err(PayloadError::BinaryNotAllowed)
    ));
    assert!(encode_with(PacketKind::Event, "/", None, Some(&f64::INFINITY)).is_ok());
}

#[test]
fn re_encodes_decoded_packets_as_received() {
    for text in [
        "0",
        "0/admin,",
        r#"0/admin,{"sid":"x"}"#,
        r#"2["message",1,"2",{"3":[true]}]"#,
        r#"2/admin,456["project:delete",123]"#,
        r#"3/admin,13["bar"]"#,
        r#"4"Not authorized""#,
    ] {
        let (p, _) = decode_packet(Str::from(text.to_owned()), 10).unwrap();
        assert_eq!(encode(&p).unwrap().text().unwrap(), text);
    }
    let mut d = JsonDecoder::new();
    let header = r#"61-/admin,15["bar",{"_placeholder":true,"num":0}]"#;
    d.decode_text(t(header)).unwrap();
    let p = d.decode_binary(Bytes::from_static(&[9])).unwrap().unwrap();
    let e = encode(&p).unwrap();
    assert_eq!(e.text().unwrap(), header);
    assert_eq!(e.attachments, vec![Bytes::from_static(&[9])]);
}
