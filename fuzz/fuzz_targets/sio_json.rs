#![no_main]
//! The Socket.IO JSON parser: packets, then binary attachments.
//!
//! The first byte picks how many binary messages follow the text packet;
//! the rest is split at the first `0xFF` into the text and the binary data.

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockeye_proto::Str;
use sockeye_proto::sio::{DEFAULT_MAX_ATTACHMENTS, JsonDecoder, binary, json};
use sockeye_proto_fuzz::exercise;

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let split = rest.iter().position(|&b| b == 0xFF).unwrap_or(rest.len());
    let (text, bins) = rest.split_at(split);
    let Ok(text) = Str::from_utf8(Bytes::copy_from_slice(text)) else {
        return;
    };
    let _ = binary::placeholders_valid(&text, usize::from(count % 4));
    if let Ok((p, n)) = json::decode_packet(text.clone(), DEFAULT_MAX_ATTACHMENTS) {
        exercise(&p);
        if n == 0 {
            let again = json::encode(&p)
                .ok()
                .and_then(|e| e.text().cloned())
                .unwrap_or_default();
            assert_eq!(
                json::decode_packet(again, DEFAULT_MAX_ATTACHMENTS).map(|r| r.0),
                Ok(p)
            );
        }
    }
    let mut decoder = JsonDecoder::new();
    if let Ok(None) = decoder.decode_text(text) {
        let bins = Bytes::copy_from_slice(bins);
        for i in 0..usize::from(count % 12) {
            let chunk = bins.slice(i.min(bins.len())..(i * 2).min(bins.len()));
            match decoder.decode_binary(chunk) {
                Ok(Some(p)) => exercise(&p),
                Ok(None) => {}
                Err(_) => break,
            }
        }
    }
});
