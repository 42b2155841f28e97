#![no_main]
//! Engine.IO v4 polling bodies: splitting at `\x1e`, each packet decoded;
//! a body whose packets all decode re-encodes to packets that decode the same.

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockeye_proto::Str;
use sockeye_proto::eio::{Packet, PayloadDecoder, encode_payload, encoded_len};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = Str::from_utf8(Bytes::copy_from_slice(data)) else {
        return;
    };
    let decoded: Result<Vec<Packet>, _> = PayloadDecoder::new(text).collect();
    let Ok(packets) = decoded else { return };
    let body = encode_payload(&packets);
    assert_eq!(body.len(), encoded_len(&packets));
    let again: Result<Vec<Packet>, _> = PayloadDecoder::new(body).collect();
    assert_eq!(again.ok(), Some(packets));
});
