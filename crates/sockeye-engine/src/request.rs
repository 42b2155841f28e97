//! What the engine reads from an HTTP request: the Engine.IO query and the
//! handshake facts kept for the session's lifetime.

use http::{HeaderMap, Method, Uri};
use std::net::SocketAddr;
use std::time::SystemTime;

/// The Engine.IO query parameters of one request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct EioQuery<'a> {
    pub eio: Option<&'a str>,
    pub transport: Option<&'a str>,
    pub sid: Option<&'a str>,
    /// `b64` present: a v3 client that wants binary as base64 text.
    pub b64: bool,
    /// `j` present: a JSONP request (not supported).
    pub jsonp: bool,
}

impl<'a> EioQuery<'a> {
    /// Parses the raw query string. Values are taken as they are: the
    /// parameters the engine reads never need percent-decoding (a sid that
    /// would need it is not a valid sid anyway).
    pub fn parse(query: &'a str) -> Self {
        let mut q = EioQuery::default();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "EIO" => q.eio = Some(v),
                "transport" => q.transport = Some(v),
                "sid" => q.sid = Some(v),
                "b64" => q.b64 = true,
                "j" => q.jsonp = true,
                _ => {}
            }
        }
        q
    }
}

/// Facts about the request that opened a session, kept for its lifetime (the
/// Socket.IO layer exposes them as `socket.handshake`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HandshakeRequest {
    /// Request method.
    pub method: Method,
    /// Request URI (path and query).
    pub uri: Uri,
    /// Request headers.
    pub headers: HeaderMap,
    /// The peer's address, when the server knows it: a `SocketAddr` in the
    /// request's extensions (inserted by a tower layer, for example from a
    /// trusted proxy's header), else the one of [`crate::ConnectionInfo`]
    /// (inserted by [`crate::serve`]). The per-address caps count by it.
    pub peer_addr: Option<SocketAddr>,
    /// Whether the connection is encrypted (TLS).
    pub secure: bool,
    /// When the handshake arrived.
    pub time: SystemTime,
}

impl HandshakeRequest {
    /// The decoded query parameters, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The `Origin` header, when present and valid text.
    pub fn origin(&self) -> Option<&str> {
        self.headers
            .get(http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
    }
}

/// The peer's address, as the engine counts it: a `SocketAddr` in the
/// request's extensions (set by an embedding server), else the address of
/// the connection ([`crate::serve::ConnectionInfo`]).
pub(crate) fn peer_addr(parts: &http::request::Parts) -> Option<SocketAddr> {
    parts.extensions.get::<SocketAddr>().copied().or_else(|| {
        parts
            .extensions
            .get::<crate::serve::ConnectionInfo>()
            .map(|c| c.peer)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_query() {
        let q = EioQuery::parse("EIO=4&transport=polling&t=abc&sid=xyz&b64=1");
        assert_eq!(q.eio, Some("4"));
        assert_eq!(q.transport, Some("polling"));
        assert_eq!(q.sid, Some("xyz"));
        assert!(q.b64);
        assert!(!q.jsonp);
        assert_eq!(EioQuery::parse(""), EioQuery::default());
    }
}
