//! Pure codecs for the two protocols behind Socket.IO.
//!
//! This crate is the bottom layer of Sockeye: bytes in, values out. It knows
//! nothing about sockets, tasks or clocks, so every function here can be unit
//! tested and fuzzed on its own.
//!
//! * [`eio`]: Engine.IO packets (v3 and v4), polling payloads and the
//!   handshake (`open`) packet.
//! * [`sio`]: Socket.IO packets (v4 and v5), with the default JSON parser,
//!   binary attachments and a msgpack parser.
//! * [`Sid`]: the 20-character session id shared by both layers.
//! * [`Str`]: a cheaply clonable UTF-8 string backed by [`bytes::Bytes`],
//!   used for zero-copy text frames.
//!
//! ```
//! use sockeye_proto::eio::Packet;
//! use sockeye_proto::Str;
//!
//! let packet = Packet::decode_text(Str::from_static("4hello")).unwrap();
//! assert_eq!(packet, Packet::Message(Str::from_static("hello")));
//! assert_eq!(packet.encode_text().as_str(), "4hello");
//! ```

pub mod eio;
mod error;
mod sid;
mod sid_hash;
pub mod sio;
mod str;

pub use error::DecodeError;
pub use sid::{InvalidSid, NodeTag, Sid};
pub use sid_hash::{BuildSidHasher, SidHasher, SidMap, SidSet};
pub use str::Str;
