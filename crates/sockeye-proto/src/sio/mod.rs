//! Socket.IO packets (protocol v5, and v4 for Socket.IO 2.x clients) and
//! their two parsers.
//!
//! # Model
//!
//! A [`Packet`] is parser-independent: a [`PacketKind`], a namespace, an
//! optional ack id, an optional [`Payload`] and the binary `attachments`.
//! Two parsers put it on the wire ([`Parser`]):
//!
//! * [`json`], the default (`socket.io-parser`): a text message such as
//!   `2/admin,13["bar"]`, binary data replaced by placeholders and sent as
//!   the following binary messages ([`binary`]);
//! * [`msgpack`] (`socket.io-msgpack-parser`): one binary message holding
//!   the msgpack-encoded packet object, binary data inline.
//!
//! [`v4`] holds what differs for Socket.IO 2.x clients.
//!
//! # Zero-copy decoding, typed data later
//!
//! Decoding validates everything the reference validates but builds no
//! tree: the payload stays a slice of the received frame
//! ([`Payload::Json`] text or [`Payload::MsgPack`] bytes). The upper layer
//! reads the event name cheaply ([`Payload::event_name`]), splits the
//! arguments without copying ([`Payload::elements`]) and deserializes what
//! a handler asks for with serde ([`Payload::deserialize`], straight from
//! the JSON text when there are no attachments).
//!
//! # Binary data
//!
//! Applications put binary in payloads as `bytes::Bytes` (or anything that
//! serializes with `serialize_bytes`), and read it back the same way:
//!
//! * encoding any `Serialize` value goes through serde in one pass
//!   ([`Parser::encode_with`]): the JSON parser's serde_json formatter turns
//!   every `serialize_bytes` into a `{"_placeholder":true,"num":N}` object
//!   plus an attachment ([`to_json_with_attachments`]), the msgpack parser
//!   writes a `bin`;
//! * decoding hands binary to `Deserialize` as bytes: a JSON payload with
//!   attachments is read through a [`Value`] whose placeholders were
//!   replaced ([`binary::reconstruct`]), a msgpack payload through a
//!   [`Value`] whose `bin` / `ext` nodes are slices of the frame.
//!
//! [`Value`] is the dynamic form for handlers that do not know the shape
//! of their data: JSON plus a [`Value::Binary`] variant, keys in order. It
//! was chosen over `serde_json::Value` with a side vector of buffers
//! because a binary node then lives where the application put it, the
//! same tree serves both parsers, and re-encoding a received value numbers
//! placeholders afresh.
//!
//! # Encoding once
//!
//! [`Encoded`] is the list of Engine.IO messages for one packet, with
//! reference-counted buffers: a broadcast is encoded once and the result
//! cloned to every recipient. JSON output matches `JSON.stringify` (no
//! spaces, JavaScript number formatting, data omitted when null).
//!
//! ```
//! use sockeye_proto::sio::{JsonDecoder, PacketKind, Parser};
//!
//! let mut decoder = JsonDecoder::new();
//! let packet = decoder.decode_text(r#"2["message",1,"2",{"3":[true]}]"#.into()).unwrap().unwrap();
//! let data = packet.data.as_ref().unwrap();
//! let (name, args) = data.split_event().unwrap();
//! assert_eq!(name, "message");
//! let reply: Vec<_> = std::iter::once(serde_json::Value::from("message-back"))
//!     .chain(args.iter().map(|a| a.deserialize(&packet.attachments).unwrap()))
//!     .collect();
//! let out = Parser::Json.encode_with(PacketKind::Event, "/", None, Some(&reply)).unwrap();
//! assert_eq!(out.text().unwrap(), r#"2["message-back",1,"2",{"3":[true]}]"#);
//! ```

pub mod binary;
mod error;
pub mod json;
mod json_text;
mod limits;
pub mod msgpack;
mod msgpack_read;
mod packet;
mod parser;
mod payload;
mod ser;
pub mod v4;
mod value;
mod value_de;

#[cfg(test)]
mod robustness_tests;

pub use binary::{ATTACHMENTS_TOO_LARGE, BinaryReassembler};
pub use error::PayloadError;
pub use json::JsonDecoder;
pub use limits::{
    DEFAULT_MAX_ATTACHMENT_BYTES, DEFAULT_MAX_ATTACHMENTS, DEFAULT_MAX_DEPTH, DecodeLimits,
    MAX_DEPTH_CEILING, TOO_DEEP,
};
pub use msgpack::MsgPackDecoder;
pub use packet::{Encoded, Packet, PacketKind, RESERVED_EVENTS, is_reserved_event};
pub use parser::{Decoder, Parser};
pub use payload::Payload;
pub use ser::to_json_with_attachments;
pub use value::Value;
pub use value_de::from_value;
