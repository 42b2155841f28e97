#![no_main]
//! Socket.IO binary packets: a text packet announcing attachments, then the
//! attachments (the input split at each `0xFF`), fed to the JSON decoder's
//! reassembly; and placeholder replacement on arbitrary JSON values, which
//! must round-trip through `deconstruct`.

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockeye_proto::Str;
use sockeye_proto::sio::{JsonDecoder, Value, binary};
use sockeye_proto_fuzz::exercise;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0xFF);
    let Some(text) = parts.next() else { return };
    let attachments: Vec<Bytes> = parts.map(Bytes::copy_from_slice).collect();
    let Ok(text) = Str::from_utf8(Bytes::copy_from_slice(text)) else {
        return;
    };

    let mut decoder = JsonDecoder::new();
    match decoder.decode_text(text.clone()) {
        Ok(Some(p)) => exercise(&p),
        Ok(None) => {
            for a in &attachments {
                match decoder.decode_binary(a.clone()) {
                    Ok(Some(p)) => {
                        exercise(&p);
                        break;
                    }
                    Ok(None) => {}
                    Err(_) => break,
                }
            }
        }
        Err(_) => {}
    }

    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        if let Ok(full) = binary::reconstruct(value, &attachments) {
            // JSON does not keep `5E5` apart from `500000`: compare the
            // text written after one round trip instead of the values.
            let (json, bins) = binary::deconstruct(&full);
            let back = serde_json::from_str::<Value>(&json).expect("deconstruct writes valid JSON");
            let again =
                binary::reconstruct(back, &bins).expect("deconstruct writes valid placeholders");
            let (json2, bins2) = binary::deconstruct(&again);
            assert_eq!(json2, json);
            assert_eq!(bins2, bins);
        }
    }
});
