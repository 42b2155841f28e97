//! [`PayloadError`]: serializing or deserializing the data of a packet.

use std::fmt::Display;

/// Why packet data could not be serialized, or read into the requested type.
///
/// Wire-level violations (bad headers, invalid JSON, wrong payload shape) are
/// [`crate::DecodeError`]s, found when a packet is decoded. A
/// `PayloadError` comes later, when a valid payload does not fit the type an
/// application asks for, or when an application value cannot be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// JSON (de)serialization failed.
    #[error("JSON payload: {0}")]
    Json(#[from] serde_json::Error),
    /// The msgpack payload was malformed, or encoding to msgpack failed.
    #[error("msgpack payload: {0}")]
    MsgPack(String),
    /// A `{"_placeholder":true,"num":N}` object pointed at no attachment.
    #[error("binary placeholder {0} out of range")]
    Placeholder(String),
    /// Binary data in a packet that cannot carry attachments (only events
    /// and acknowledgements can).
    #[error("binary data is only allowed in EVENT and ACK packets")]
    BinaryNotAllowed,
    /// The payload is not an array where one was required.
    #[error("payload is not an array")]
    NotArray,
    /// A custom error from a `Deserialize` or `Serialize` implementation.
    #[error("{0}")]
    Custom(String),
}

impl serde::de::Error for PayloadError {
    fn custom<T: Display>(msg: T) -> Self {
        PayloadError::Custom(msg.to_string())
    }
}

impl serde::ser::Error for PayloadError {
    fn custom<T: Display>(msg: T) -> Self {
        PayloadError::Custom(msg.to_string())
    }
}
