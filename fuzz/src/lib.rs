//! Helpers shared by the fuzz targets: read decoded packets every way the
//! upper layers may, and check that what decodes re-encodes to itself.

use sockeye_proto::sio::{Packet, Parser, Value, v4};

/// Reads every part of a decoded Socket.IO packet and re-encodes it with
/// both parsers; nothing here may panic.
pub fn exercise(p: &Packet) {
    let _ = p.event_name();
    if let Some(data) = &p.data {
        let _ = data.event_name();
        let _ = data.split_event();
        let _ = data.to_value(&p.attachments);
        let _ = data.deserialize::<serde_json::Value>(&p.attachments);
        if let Ok(elements) = data.elements() {
            for e in elements {
                let _ = e.deserialize::<Value>(&p.attachments);
            }
        }
    }
    let _ = v4::split_connect_nsp(&p.nsp);
    let _ = Parser::Json.encode(p);
    let _ = Parser::MsgPack.encode(p);
}
