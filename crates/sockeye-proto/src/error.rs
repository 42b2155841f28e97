//! The decoding error shared by every codec of this crate.

/// Why a packet or payload could not be decoded.
///
/// Every variant is a protocol violation by the peer; the engine answers it
/// with an error response or a clean close, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The packet was empty.
    #[error("empty packet")]
    Empty,
    /// The packet type is not one the protocol defines.
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    /// A base64 body could not be decoded.
    #[error("invalid base64 payload")]
    Base64,
    /// Text was not valid UTF-8.
    #[error("invalid UTF-8")]
    Utf8,
    /// A length-prefixed (v3) payload was malformed.
    #[error("malformed payload length at byte {0}")]
    Length(usize),
    /// The JSON body of a packet was invalid or of the wrong shape.
    #[error("invalid packet payload: {0}")]
    Payload(&'static str),
    /// A Socket.IO packet announced more binary attachments than allowed.
    #[error("too many attachments")]
    TooManyAttachments,
    /// A field of the packet was malformed.
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
}
