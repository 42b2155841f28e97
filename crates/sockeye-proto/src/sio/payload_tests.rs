use super::*;
use serde::Deserialize;

fn json(s: &'static str) -> Payload {
    Payload::Json(Str::from_static(s))
}

#[test]
fn event_names() {
    assert_eq!(json(r#"["message",1]"#).event_name().unwrap(), "message");
    assert_eq!(json(r#" [ "a b" ] "#).event_name().unwrap(), "a b");
    assert_eq!(json(r#"["q\"x\u00e9",1]"#).event_name().unwrap(), "q\"xé");
    assert_eq!(json(r#"[1,2]"#).event_name().unwrap(), "1");
    assert_eq!(json(r#"[1.50]"#).event_name().unwrap(), "1.5");
    assert_eq!(json(r#"[-2e3]"#).event_name().unwrap(), "-2000");
    for none in [r#"[]"#, r#"{}"#, r#"[null]"#, r#"[["a"]]"#, r#""a""#, ""] {
        assert_eq!(json(none).event_name(), None, "{none}");
    }
    // The name is a slice of the frame.
    let frame = Str::from_static(r#"["zero-copy"]"#);
    let name = Payload::Json(frame.clone()).event_name().unwrap();
    assert_eq!(name.as_ptr(), frame[2..].as_ptr());
}

#[test]
fn splits_elements() {
    let p = json(r#"["m", 1 ,"a,]b\"",{"k":[1,{"x":"]"}]}, [ ] ,null]"#);
    let parts: Vec<String> = p
        .elements()
        .unwrap()
        .iter()
        .map(|e| e.as_json().unwrap().to_string())
        .collect();
    assert_eq!(
        parts,
        [
            r#""m""#,
            "1",
            r#""a,]b\"""#,
            r#"{"k":[1,{"x":"]"}]}"#,
            "[ ]",
            "null"
        ]
    );
    assert_eq!(json("[]").elements().unwrap(), vec![]);
    for bad in ["[1,]", "[,1]", "[1", "[1]]", "[1]x", "{}", "[}", "[1,2}"] {
        assert!(json(bad).elements().is_err(), "{bad}");
    }
    let (name, args) = json(r#"["m",1,"2",{"3":[true]}]"#).split_event().unwrap();
    assert_eq!(name, "m");
    assert_eq!(args.len(), 3);
    assert_eq!(
        args[2].deserialize::<serde_json::Value>(&[]).unwrap(),
        serde_json::json!({"3": [true]})
    );
    assert!(json("[]").split_event().is_err());
}

#[derive(Debug, Deserialize, PartialEq)]
struct Upload {
    name: String,
    data: Bytes,
}

#[test]
fn deserializes_with_attachments() {
    let p = json(r#"["up",{"name":"f","data":{"_placeholder":true,"num":0}}]"#);
    let bins = [Bytes::from_static(&[1, 2, 3])];
    let (_, up): (String, Upload) = p.deserialize(&bins).unwrap();
    assert_eq!(
        up,
        Upload {
            name: "f".into(),
            data: bins[0].clone()
        }
    );
    // Each element resolves against the packet's attachments.
    let arg = &p.elements().unwrap()[1];
    assert_eq!(arg.deserialize::<Upload>(&bins).unwrap().data, bins[0]);
    let v = p.to_value(&bins).unwrap();
    assert!(v.has_binary());
    assert!(p.to_value(&[]).is_ok_and(|v| !v.has_binary()));
    assert!(matches!(
        p.deserialize::<(String, Upload)>(&[]),
        Err(PayloadError::Json(_))
    ));
    let out_of_range = json(r#"[{"_placeholder":true,"num":1}]"#);
    assert!(matches!(
        out_of_range.to_value(&bins),
        Err(PayloadError::Placeholder(_))
    ));
}

#[test]
fn msgpack_payloads() {
    // ["ev", <bin 01 02>, {"a": 1}]
    let raw = Bytes::from_static(&[0x93, 0xa2, b'e', b'v', 0xc4, 2, 1, 2, 0x81, 0xa1, b'a', 1]);
    let p = Payload::MsgPack(raw.clone());
    assert_eq!(p.event_name().unwrap(), "ev");
    let elems = p.elements().unwrap();
    assert_eq!(elems.len(), 3);
    assert_eq!(elems[1], Payload::MsgPack(raw.slice(4..8)));
    let bin: Bytes = elems[1].deserialize(&[]).unwrap();
    assert_eq!(bin, Bytes::from_static(&[1, 2]));
    let (name, args) = p.split_event().unwrap();
    assert_eq!((name.as_str(), args.len()), ("ev", 2));
    let v = p.to_value(&[]).unwrap();
    assert_eq!(
        v.as_array().unwrap()[1],
        Value::Binary(Bytes::from_static(&[1, 2]))
    );
    assert_eq!(
        Payload::MsgPack(Bytes::from_static(&[0x91, 0x07]))
            .event_name()
            .unwrap(),
        "7"
    );
    assert_eq!(
        Payload::MsgPack(Bytes::from_static(&[0x90])).event_name(),
        None
    );
    assert!(
        Payload::MsgPack(Bytes::from_static(&[0x80]))
            .elements()
            .is_err()
    );
    assert!(
        Payload::MsgPack(Bytes::from_static(&[0x91]))
            .elements()
            .is_err()
    );
    assert!(
        Payload::MsgPack(Bytes::from_static(&[0x90, 0x90]))
            .to_value(&[])
            .is_err()
    );
}
