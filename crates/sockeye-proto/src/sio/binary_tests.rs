use super::*;
use crate::Str;
use crate::sio::{PacketKind, Payload};

fn ph(n: u64) -> Value {
    Value::Object(vec![
        ("_placeholder".into(), Value::Bool(true)),
        ("num".into(), Value::from(n)),
    ])
}

#[test]
fn placeholder_check() {
    let cases: [(&str, usize, bool); 14] = [
        (r#"["a",{"_placeholder":true,"num":0}]"#, 1, true),
        (r#"["a",{"_placeholder":true,"num":1}]"#, 1, false),
        (r#"["a",{"num":0,"_placeholder":true}]"#, 1, true),
        (r#"["a",{"_placeholder":true,"num":-1}]"#, 1, false),
        (r#"["a",{"_placeholder":true,"num":0.5}]"#, 2, false),
        (r#"["a",{"_placeholder":true,"num":1.0}]"#, 2, true),
        (r#"["a",{"_placeholder":true,"num":"0"}]"#, 1, false),
        (r#"["a",{"_placeholder":true}]"#, 1, false),
        (r#"["a",{"_placeholder":false,"num":9}]"#, 1, true),
        (r#"["a",{"_placeholder":"yes","num":9}]"#, 1, true),
        (
            r#"["a",{"x":[{"y":{"_placeholder":true,"num":1}}]}]"#,
            2,
            true,
        ),
        (
            r#"["a",{"x":[{"y":{"_placeholder":true,"num":2}}]}]"#,
            2,
            false,
        ),
        // A placeholder replaces its whole object: what is inside is not read.
        (
            r#"[{"_placeholder":true,"num":0,"z":{"_placeholder":true,"num":7}}]"#,
            1,
            true,
        ),
        (
            r#"[{"_placeholder":{"_placeholder":true,"num":7}}]"#,
            1,
            false,
        ),
    ];
    for (json, count, valid) in cases {
        assert_eq!(placeholders_valid(json, count), valid, "{json}");
    }
    assert!(!placeholders_valid("[1", 1));
    assert!(!placeholders_valid("[1] x", 1));
}

#[test]
fn deconstruct_and_reconstruct() {
    let bins = [Bytes::from_static(&[1, 2]), Bytes::from_static(&[3, 4])];
    let v = Value::Array(vec![
        "baz".into(),
        Value::Binary(bins[0].clone()),
        Value::Object(vec![("inner".into(), Value::Binary(bins[1].clone()))]),
    ]);
    let (json, attachments) = deconstruct(&v);
    assert_eq!(
        json,
        r#"["baz",{"_placeholder":true,"num":0},{"inner":{"_placeholder":true,"num":1}}]"#
    );
    assert_eq!(attachments, bins);
    let parsed: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(reconstruct(parsed, &attachments).unwrap(), v);

    assert!(reconstruct(Value::Array(vec![ph(2)]), &bins).is_err());
    let not_ph = Value::Object(vec![("_placeholder".into(), Value::Bool(false))]);
    assert_eq!(reconstruct(not_ph.clone(), &bins).unwrap(), not_ph);
    let float = Value::Object(vec![
        ("_placeholder".into(), Value::Bool(true)),
        ("num".into(), Value::from(1.0)),
    ]);
    assert_eq!(
        reconstruct(float, &bins).unwrap(),
        Value::Binary(bins[1].clone())
    );
}

fn header(json: &'static str) -> Packet {
    Packet::new(PacketKind::Event, "/").with_data(Payload::Json(Str::from_static(json)))
}

#[test]
fn reassembler_collects_then_checks() {
    let mut r = BinaryReassembler::new(
        header(r#"["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#),
        2,
    );
    assert_eq!((r.expected(), r.received()), (2, 0));
    assert_eq!(r.push(Bytes::from_static(&[1])), Ok(None));
    assert_eq!(r.received(), 1);
    let p = r.push(Bytes::from_static(&[2])).unwrap().unwrap();
    assert_eq!(
        p.attachments,
        vec![Bytes::from_static(&[1]), Bytes::from_static(&[2])]
    );
    assert!(r.push(Bytes::new()).is_err());

    let mut bad = BinaryReassembler::new(header(r#"["m",{"_placeholder":true,"num":3}]"#), 1);
    assert_eq!(
        bad.push(Bytes::new()),
        Err(DecodeError::Malformed("illegal attachments"))
    );
}

#[test]
fn floats_survive_a_parse_and_deconstruct_bit_exact() {
    // Found by the sio_binary fuzz target: without serde_json's
    // float_roundtrip, this double came back one bit off.
    let text = r#"["f",6.6666666666666665e+41,{"_placeholder":true,"num":0}]"#;
    let bins = [Bytes::from_static(b"x")];
    let parsed: Value = serde_json::from_str(text).unwrap();
    let value = reconstruct(parsed, &bins).unwrap();
    let (json, _) = deconstruct(&value);
    let again: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(again[1].as_f64(), Some(6.6666666666666665e41_f64));
    assert_eq!(
        again[1].as_f64().map(f64::to_bits),
        Some(6.6666666666666665e41_f64.to_bits())
    );
}
