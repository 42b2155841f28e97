use super::*;
use serde_json::json;

/// Frames written by notepack.io 2.2 (what `socket.io-msgpack-parser` 3.0
/// sends), from the JavaScript objects named.
const CLIENT_EVENT_BUFFER: &str = "84a47479706502a46461746192a568656c6c6fc403010203a76f7074696f6e7381a8636f6d7072657373c3a36e7370a12f";
const CLIENT_EVENT_ARRAYBUFFER_ACK: &str =
    "84a47479706502a46461746192a16dc702000405a2696403a36e7370a62f61646d696e";
const CONNECT_AUTH: &str = "83a47479706500a46461746181a5746f6b656ea3313233a36e7370a12f";
const SERVER_CONNECT: &str = "83a47479706500a46461746182a3736964a3616263a3706964d40000a36e7370a12f";
const DISCONNECT: &str = "82a47479706501a36e7370a12f";
const ACK: &str = "84a2696405a47479706503a4646174619201a132a36e7370a12f";
const CONNECT_ERROR: &str =
    "83a47479706504a46461746181a76d657373616765ae4e6f7420617574686f72697a6564a36e7370a12f";
const DATE: &str = "83a47479706502a46461746192a164d7000000018bcfe56800a36e7370a12f";
const NUMBERS: &str = "83a47479706502a46461746197a166cb3ff8000000000000ffcd012cce00011170cf0000010000000000d1ff38a36e7370a12f";
const SERVER_EVENT: &str = "83a47479706502a46461746192a568656c6c6fc403010203a36e7370a12f";
const SERVER_ACK: &str = "84a47479706503a4646174619201a132a2696405a36e7370a12f";

fn hex(s: &str) -> Bytes {
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    Bytes::from(bytes)
}

fn frame(e: &Encoded) -> Bytes {
    match &e.head {
        eio::Packet::Binary(b) => b.clone(),
        other => panic!("not binary: {other:?}"),
    }
}

#[test]
fn decodes_notepack_frames() {
    let p = decode_packet(hex(CLIENT_EVENT_BUFFER)).unwrap();
    assert_eq!((p.kind, &p.nsp[..], p.id), (PacketKind::Event, "/", None));
    assert_eq!(p.event_name().unwrap(), "hello");
    let (_, bin): (String, Bytes) = p.data.as_ref().unwrap().deserialize(&[]).unwrap();
    assert_eq!(bin, Bytes::from_static(&[1, 2, 3]));

    let p = decode_packet(hex(CLIENT_EVENT_ARRAYBUFFER_ACK)).unwrap();
    assert_eq!((&p.nsp[..], p.id), ("/admin", Some(3)));
    let v = p.data.as_ref().unwrap().to_value(&[]).unwrap();
    assert_eq!(
        v.as_array().unwrap()[1],
        Value::Binary(Bytes::from_static(&[4, 5]))
    );

    let p = decode_packet(hex(CONNECT_AUTH)).unwrap();
    let auth: serde_json::Value = p.data.as_ref().unwrap().deserialize(&[]).unwrap();
    assert_eq!(
        (p.kind, auth),
        (PacketKind::Connect, json!({"token": "123"}))
    );

    let p = decode_packet(hex(SERVER_CONNECT)).unwrap();
    let v = p.data.as_ref().unwrap().to_value(&[]).unwrap();
    assert_eq!(v.get("sid").and_then(Value::as_str), Some("abc"));
    assert_eq!(v.get("pid"), Some(&Value::Null));

    let p = decode_packet(hex(DISCONNECT)).unwrap();
    assert_eq!((p.kind, p.data), (PacketKind::Disconnect, None));

    for ack in [ACK, SERVER_ACK] {
        let p = decode_packet(hex(ack)).unwrap();
        let args: (u8, String) = p.data.as_ref().unwrap().deserialize(&[]).unwrap();
        assert_eq!(
            (p.kind, p.id, args),
            (PacketKind::Ack, Some(5), (1, "2".to_owned()))
        );
    }

    let p = decode_packet(hex(CONNECT_ERROR)).unwrap();
    assert_eq!(p.kind, PacketKind::ConnectError);

    let p = decode_packet(hex(DATE)).unwrap();
    let (_, ms): (String, i64) = p.data.as_ref().unwrap().deserialize(&[]).unwrap();
    assert_eq!(ms, 1_700_000_000_000);

    let p = decode_packet(hex(NUMBERS)).unwrap();
    let n: (String, f64, i8, u16, u32, u64, i16) =
        p.data.as_ref().unwrap().deserialize(&[]).unwrap();
    assert_eq!(n, ("f".to_owned(), 1.5, -1, 300, 70000, 1 << 40, -200));
}

#[test]
fn encodes_like_the_reference_server() {
    let bin = Bytes::from_static(&[1, 2, 3]);
    let e = encode_with(PacketKind::Event, "/", None, Some(&("hello", &bin))).unwrap();
    assert_eq!(frame(&e), hex(SERVER_EVENT));
    assert!(e.attachments.is_empty());
    let e = encode_with(PacketKind::Ack, "/", Some(5), Some(&json!([1, "2"]))).unwrap();
    assert_eq!(frame(&e), hex(SERVER_ACK));
    let e = encode_value(PacketKind::Disconnect, "/", None, None).unwrap();
    assert_eq!(frame(&e), hex(DISCONNECT));
    let e = encode_with(
        PacketKind::ConnectError,
        "/",
        None,
        Some(&json!({"message": "Not authorized"})),
    )
    .unwrap();
    assert_eq!(frame(&e), hex(CONNECT_ERROR));
    // Binary kinds are written as plain ones; null data is left out.
    let e = encode_with(PacketKind::BinaryEvent, "/", None, Some(&("hello", &bin))).unwrap();
    assert_eq!(frame(&e), hex(SERVER_EVENT));
    let e = encode_with(PacketKind::Disconnect, "/", None, Some(&())).unwrap();
    assert_eq!(frame(&e), hex(DISCONNECT));
}

#[test]
fn re_encodes_raw_payloads() {
    let p = decode_packet(hex(CLIENT_EVENT_BUFFER)).unwrap();
    assert_eq!(frame(&encode(&p).unwrap()), hex(SERVER_EVENT));
    let long_nsp = "/".to_owned() + &"n".repeat(300);
    let e = encode_with(
        PacketKind::Event,
        &long_nsp,
        Some(1 << 33),
        Some(&[&"x".repeat(70_000)]),
    )
    .unwrap();
    let p = decode_packet(frame(&e)).unwrap();
    assert_eq!((p.nsp.len(), p.id), (301, Some(1 << 33)));
    assert_eq!(p.event_name().unwrap().len(), 70_000);
}

#[test]
fn rejects_invalid_packets() {
    let bad = [
        "",
        "c0",                                                             // not a map
        "81a474797065",                                                   // truncated
        "82a47479706505a36e7370a12f",                                     // type 5 is JSON-only
        "82a474797065a131a36e7370a12f",                                   // type as a string
        "81a47479706502",                                                 // no nsp
        "82a47479706502a36e7370c0",                                       // nsp null
        "82a47479706502a36e7370a12fc0",                                   // trailing byte
        "82a47479706502a36e7370a12f",                                     // EVENT without data
        "83a47479706502a46461746190a36e7370a12f",                         // EVENT []
        "83a47479706502a464617461a0a36e7370a12f",                         // EVENT ""
        "83a47479706501a46461746190a36e7370a12f",                         // DISCONNECT with data
        "83a47479706500a46461746190a36e7370a12f",                         // CONNECT with an array
        "83a47479706500a464617461c0a36e7370a12f",                         // CONNECT with null
        "83a47479706504a46461746190a36e7370a12f", // CONNECT_ERROR with an array
        "83a47479706503a464617461c3a36e7370a12f", // ACK with true
        "84a47479706503a46461746190a26964ffa36e7370a12f", // id -1
        "84a47479706503a46461746190a26964c0a36e7370a12f", // id null
        "84a47479706503a46461746190a26964cb3fe0000000000000a36e7370a12f", // id 0.5
        "83a47479706502a46461746191aa646973636f6e6e656374a36e7370a12f", // ["disconnect"]
    ];
    for h in bad {
        assert!(decode_packet(hex(h)).is_err(), "{h}");
    }
    let good = [
        "83a47479706502a46461746191a0a36e7370a12f", // EVENT [""]
        "84a47479706503a46461746190a2696401a36e7370a12f", // ACK [] id 1
        "83a47479706503a46461746190a36e7370a12f",   // ACK [] without id
        "83a47479706502a46461746191cb3ff8000000000000a36e7370a12f", // EVENT [1.5]
    ];
    for h in good {
        assert!(decode_packet(hex(h)).is_ok(), "{h}");
    }
    let mut d = MsgPackDecoder::default();
    assert!(d.decode_text(Str::from_static("2[\"a\"]")).is_err());
    assert!(d.decode_binary(hex(DISCONNECT)).unwrap().is_some());
}

#[test]
fn tolerates_what_clients_write() {
    // Integral float type, `id` and `data` undefined, an unknown key with a
    // nested value, a non-string key.
    let h = "86a474797065cb3ff0000000000000a26964d40000a464617461d40000\
             a76f7074696f6e7381a8636f6d7072657373c3a36e7370a12f01c0";
    let h: String = h.split_whitespace().collect();
    let p = decode_packet(hex(&h)).unwrap();
    assert_eq!(
        (p.kind, &p.nsp[..], p.id, p.data),
        (PacketKind::Disconnect, "/", None, None)
    );
}
