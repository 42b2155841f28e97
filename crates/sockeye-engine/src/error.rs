//! Errors: the protocol's error codes, and the engine's own error type.

use crate::cookie::CookieError;

/// The Engine.IO error codes sent to clients as `{"code":N,"message":...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 0: transport missing, unknown or disabled.
    UnknownTransport = 0,
    /// 1: the `sid` names no session.
    UnknownSid = 1,
    /// 2: a handshake whose method is not GET.
    BadHandshakeMethod = 2,
    /// 3: otherwise malformed request (transport mismatch, bad origin
    /// characters, WebSocket handshake without upgrade headers...).
    BadRequest = 3,
    /// 4: refused by the origin policy or the `allow_request` hook.
    Forbidden = 4,
    /// 5: `EIO` missing or not a supported version.
    UnsupportedProtocolVersion = 5,
}

impl ErrorCode {
    /// The reference server's message for this code.
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::UnknownTransport => "Transport unknown",
            ErrorCode::UnknownSid => "Session ID unknown",
            ErrorCode::BadHandshakeMethod => "Bad handshake method",
            ErrorCode::BadRequest => "Bad request",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// The HTTP status of a polling error response (403 for Forbidden, 400
    /// otherwise).
    pub fn status(self) -> http::StatusCode {
        match self {
            ErrorCode::Forbidden => http::StatusCode::FORBIDDEN,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }
}

/// A request the engine refused, with the code and message sent back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    /// The HTTP status: the code's ([`ErrorCode::status`]) unless a limit
    /// or a method refusal says otherwise.
    pub status: http::StatusCode,
}

impl Refusal {
    pub fn new(code: ErrorCode) -> Self {
        Refusal {
            code,
            message: code.message().to_owned(),
            status: code.status(),
        }
    }

    pub fn with_message(code: ErrorCode, message: String) -> Self {
        Refusal {
            code,
            status: code.status(),
            message,
        }
    }

    /// The same refusal with another HTTP status.
    pub fn with_status(mut self, status: http::StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The JSON body `{"code":N,"message":"..."}`.
    pub fn json(&self) -> String {
        serde_json::json!({ "code": self.code as u8, "message": self.message }).to_string()
    }
}

/// Errors from building or using the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The cookie options are inconsistent or unsafe.
    #[error("invalid cookie option: {0}")]
    Cookie(#[from] CookieError),
    /// Another option is invalid.
    #[error("invalid option: {0}")]
    Config(String),
}

/// Why a packet could not be queued on a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closed or closing.
    #[error("the session is closed")]
    Closed,
    /// The session's queue was full; the session has been closed as a slow
    /// consumer.
    #[error("the session's send queue is full")]
    QueueFull,
}
