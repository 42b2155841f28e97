#![no_main]
//! Socket.IO v4-protocol (Engine.IO 3 clients) CONNECT namespaces: the
//! namespace/query split, the auth object, and the answers built from them.

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sockeye_proto::Str;
use sockeye_proto::sio::v4;

fuzz_target!(|data: &[u8]| {
    let Ok(nsp) = Str::from_utf8(Bytes::copy_from_slice(data)) else {
        return;
    };
    let (path, query) = v4::split_connect_nsp(&nsp);
    assert!(path.len() <= nsp.len());
    assert!(!path.contains('?') && !path.contains('#'));
    let auth = v4::query_to_auth(&query);
    let _ = serde_json::to_string(&auth);
    let _ = v4::connect_reply(&path);
    let _ = v4::connect_error(&path, &nsp);
    let _ = v4::socket_id(&path, "AAAAAAAAAAAAAAAAAAAA");
});
