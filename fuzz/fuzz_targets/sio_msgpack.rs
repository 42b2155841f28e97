#![no_main]
//! The Socket.IO msgpack parser.

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockeye_proto::eio;
use sockeye_proto::sio::{Payload, msgpack};
use sockeye_proto_fuzz::exercise;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(p) = msgpack::decode_packet(bytes.clone()) {
        exercise(&p);
        let Ok(eio::Packet::Binary(frame)) = msgpack::encode(&p).map(|e| e.head) else {
            panic!("re-encoding failed");
        };
        assert_eq!(msgpack::decode_packet(frame), Ok(p));
    }
    let raw = Payload::MsgPack(bytes);
    let _ = raw.event_name();
    let _ = raw.elements();
    let _ = raw.to_value(&[]);
});
