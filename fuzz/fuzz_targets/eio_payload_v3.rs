#![no_main]
//! Engine.IO polling payloads: v3 text and XHR2 binary, and v4.

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockeye_proto::Str;
use sockeye_proto::eio::{PayloadDecoder, v3};

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(packets) = v3::decode_binary_payload(bytes.clone()) {
        assert_eq!(
            v3::decode_binary_payload(v3::encode_binary_payload(&packets)),
            Ok(packets)
        );
    }
    if let Ok(text) = Str::from_utf8(bytes) {
        let _ = PayloadDecoder::new(text.clone()).count();
        let _ = v3::TextPayloadDecoder::new(text.clone()).count();
        if let Ok(packets) = v3::decode_text_payload(text) {
            assert_eq!(
                v3::decode_text_payload(v3::encode_text_payload(&packets)),
                Ok(packets.clone())
            );
            assert_eq!(
                v3::decode_binary_payload(v3::encode_binary_payload(&packets)),
                Ok(packets)
            );
        }
    }
});
