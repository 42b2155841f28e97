//! Building the engine's HTTP responses: error bodies, CORS headers, hooks
//! and compression.

use crate::config::HttpCompression;
use crate::cors::CorsConfig;
use crate::engine::Shared;
use crate::error::Refusal;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;
use std::io::Write as _;

/// The body type of every response the engine builds.
pub type EngineBody = Full<Bytes>;
/// A response built by the engine.
pub type EngineResponse = Response<EngineBody>;

/// Which hooks a response passes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hooks {
    /// Every engine response.
    Every,
    /// The first response of a session: the handshake hook, then the
    /// every-response hook.
    Handshake,
}

/// Applies CORS and the header hooks, then builds the response.
pub(crate) fn finish(
    shared: &Shared,
    parts: &Parts,
    status: StatusCode,
    mut headers: HeaderMap,
    body: Bytes,
    hooks: Hooks,
) -> EngineResponse {
    if let Some(cors) = &shared.config.cors {
        cors.apply_actual(&parts.headers, &mut headers);
    }
    if hooks == Hooks::Handshake {
        if let Some(hook) = &shared.config.on_handshake_headers {
            hook(parts, &mut headers);
        }
    }
    if let Some(hook) = &shared.config.on_headers {
        hook(parts, &mut headers);
    }
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    *res.headers_mut() = headers;
    res
}

/// The JSON error response of a polling request.
pub(crate) fn refusal(shared: &Shared, parts: &Parts, r: &Refusal) -> EngineResponse {
    tracing::debug!(code = r.code as u8, message = %r.message, uri = %parts.uri, "request refused");
    shared.events.refused(parts, r, false);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    finish(
        shared,
        parts,
        r.status,
        headers,
        Bytes::from(r.json()),
        Hooks::Every,
    )
}

/// The plain-text refusal of a WebSocket request, sent instead of a 101:
/// 403 for a forbidden origin or request, 400 otherwise, as text (the shape
/// the reference sends), with `Connection: close`.
pub(crate) fn ws_refusal(shared: &Shared, parts: &Parts, r: &Refusal) -> EngineResponse {
    tracing::debug!(code = r.code as u8, message = %r.message, "websocket refused");
    shared.events.refused(parts, r, true);
    let mut res = Response::new(Full::new(Bytes::from(r.message.clone())));
    *res.status_mut() = r.status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// A bodiless response (400 for overlapping requests, 413, 408).
pub(crate) fn empty(shared: &Shared, parts: &Parts, status: StatusCode) -> EngineResponse {
    finish(
        shared,
        parts,
        status,
        HeaderMap::new(),
        Bytes::new(),
        Hooks::Every,
    )
}

/// The answer to a CORS preflight (204 unless configured otherwise).
pub(crate) fn preflight(cors: &CorsConfig, parts: &Parts) -> EngineResponse {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = cors.preflight_status();
    *res.headers_mut() = cors.preflight_headers(&parts.headers);
    res
}

/// Compresses `body` with gzip or deflate when the client accepts it and the
/// body reaches the threshold; returns the encoding used.
pub(crate) fn compress(
    compression: Option<HttpCompression>,
    request: &HeaderMap,
    body: Bytes,
) -> (Bytes, Option<&'static str>) {
    let Some(c) = compression else {
        return (body, None);
    };
    if body.len() < c.threshold {
        return (body, None);
    }
    let accepted = request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| {
            let mut it = item.split(';');
            let name = it.next()?.trim().to_ascii_lowercase();
            let q_zero = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            (!q_zero).then_some(name)
        })
        .collect::<Vec<_>>();
    let encoding = if accepted.iter().any(|e| e == "gzip") {
        "gzip"
    } else if accepted.iter().any(|e| e == "deflate") {
        "deflate"
    } else {
        return (body, None);
    };
    let level = flate2::Compression::default();
    let out = if encoding == "gzip" {
        let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 2), level);
        enc.write_all(&body).and_then(|_| enc.finish())
    } else {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::with_capacity(body.len() / 2), level);
        enc.write_all(&body).and_then(|_| enc.finish())
    };
    match out {
        Ok(v) => (Bytes::from(v), Some(encoding)),
        Err(_) => (body, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn compresses_by_accept_encoding() {
        let body = Bytes::from(vec![b'4'; 2000]);
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("deflate, gzip;q=0.8"),
        );
        let (out, enc) = compress(Some(HttpCompression::default()), &h, body.clone());
        assert_eq!(enc, Some("gzip"));
        let mut d = Vec::new();
        flate2::read::GzDecoder::new(&out[..])
            .read_to_end(&mut d)
            .unwrap();
        assert_eq!(d, body);
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, deflate"),
        );
        assert_eq!(
            compress(Some(HttpCompression::default()), &h, body.clone()).1,
            Some("deflate")
        );
        assert_eq!(compress(None, &h, body.clone()).1, None);
        let small = Bytes::from_static(b"4hi");
        assert_eq!(
            compress(Some(HttpCompression::default()), &h, small).1,
            None
        );
    }
}
