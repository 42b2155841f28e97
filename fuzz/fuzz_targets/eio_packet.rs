#![no_main]
//! Engine.IO packets: text (v4 and v3 framing) and WebSocket binary frames.

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockeye_proto::Str;
use sockeye_proto::eio::{Packet, ProtocolVersion, v3};

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    for version in [ProtocolVersion::V3, ProtocolVersion::V4] {
        if let Ok(p) = Packet::decode_binary(bytes.clone(), version) {
            let _ = p.to_ws_frame(version);
        }
    }
    if let Ok(text) = Str::from_utf8(bytes) {
        if let Ok(p) = Packet::decode_text(text.clone()) {
            assert_eq!(Packet::decode_text(p.encode_text()), Ok(p.clone()));
            assert_eq!(p.encode_text().len(), p.text_len());
        }
        if let Ok(p) = v3::decode_packet_text(text) {
            assert_eq!(v3::decode_packet_text(v3::encode_packet_v3_text(&p)), Ok(p));
        }
    }
});
