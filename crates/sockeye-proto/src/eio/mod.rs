//! Engine.IO: packets, polling payloads and the handshake.
//!
//! Wire formats (see `docs/engine.io-protocol/v4-current.md` and `v3.md`):
//!
//! | | v4 | v3 |
//! |---|---|---|
//! | text packet | `<type digit><data>` | same |
//! | binary on WebSocket | raw bytes | type byte `0x04` + bytes |
//! | binary in polling | `b<base64>` | `b4<base64>` (text) or XHR2 binary payload |
//! | polling payload | packets joined by `\x1e` | `<len>:<packet>` repeated |

mod open;
mod packet;
mod payload;
pub mod v3;

pub use open::OpenPacket;
pub use packet::{Packet, PacketType, ProtocolVersion, WsFrame};
pub use payload::{PayloadDecoder, encode_payload, encoded_len};

/// The polling record separator of Engine.IO v4.
pub const SEPARATOR: u8 = 0x1e;
