//! HTTP long-polling: the handshake, GET (server to client) and POST
//! (client to server).

use crate::engine::{BoxError, Engine, Shared, open_session};
use crate::error::{ErrorCode, Refusal};
use crate::handler::CloseReason;
use crate::limits::Admission;
use crate::request::HandshakeRequest;
use crate::response::{self, EngineResponse, Hooks};
use crate::session::{Out, Session, TransportKind, Upgrade};
use crate::stats::Trip;
use crate::transport::body::{self, BodyRead};
use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http_body::Body;
use sockeye_proto::eio::{self, OpenPacket, Packet, PayloadDecoder, ProtocolVersion};
use sockeye_proto::{DecodeError, Str};
use std::pin::Pin;

pub(crate) const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=UTF-8");
pub(crate) const OCTET_STREAM: &str = "application/octet-stream";

/// Opens a polling session; the response carries the `open` packet (and the
/// initial packet, when configured) and, when configured, the cookie.
pub(crate) fn handshake(
    engine: &Engine,
    parts: &Parts,
    request: HandshakeRequest,
    protocol: ProtocolVersion,
    b64: bool,
    admission: Option<Admission>,
) -> EngineResponse {
    let shared = &engine.0;
    let config = &shared.config;
    let session = Session::new(
        shared.clone(),
        protocol,
        TransportKind::Polling,
        request,
        b64,
        admission,
    );
    let open = OpenPacket {
        sid: session.sid(),
        upgrades: config.upgrades(),
        ping_interval: config.ping_interval.as_millis() as u64,
        ping_timeout: config.ping_timeout.as_millis() as u64,
        max_payload: config.max_payload as u64,
    };
    let mut items = vec![Out::Packet(Packet::Open(Str::from(open.to_json())))];
    if let Some(initial) = &config.initial_packet {
        items.push(Out::Packet(Packet::Message(initial.clone())));
    }
    let (body, content_type) = encode(protocol, b64, &items);
    let mut headers = base_headers(parts, content_type);
    if let Some(cookie) = &config.cookie {
        headers.append(
            header::SET_COOKIE,
            cookie.header_value(session.sid().as_str()),
        );
    }
    if let Some(cluster) = &shared.cluster {
        if !cluster.handover_window.is_zero() && !config.upgrades().is_empty() {
            crate::cluster::handover::defer(&session);
        }
    }
    open_session(shared, &session);
    let first = session.0.state.lock().heartbeat.deadline();
    shared.polling_timer.schedule(shared, &session, first);
    response::finish(
        shared,
        parts,
        StatusCode::OK,
        headers,
        body,
        Hooks::Handshake,
    )
}

/// Clears `get_active` when a GET ends; a GET dropped before it was answered
/// (the client went away, or a forwarded GET was cancelled) closes the
/// session with `transport error`.
pub(crate) struct ActiveGet {
    session: Session,
    answered: bool,
}

impl Drop for ActiveGet {
    fn drop(&mut self) {
        self.session.0.state.lock().get_active = false;
        if !self.answered {
            self.session.close_with(CloseReason::TransportError);
        }
    }
}

/// Why a GET was refused before it waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GetRefused {
    /// Another GET is pending: this one gets `400`, the session closes and
    /// the pending one gets `1`.
    Overlap,
    /// The session is closed and has nothing left to say.
    Gone,
}

/// Starts a GET (local or forwarded): the one-pending-GET rule.
pub(crate) fn begin_get(session: &Session) -> Result<ActiveGet, GetRefused> {
    {
        let mut st = session.0.state.lock();
        if st.get_active {
            drop(st);
            // Overlapping polls: this one fails, the pending one gets `1`.
            session.close_with(CloseReason::TransportError);
            return Err(GetRefused::Overlap);
        }
        if st.closed.is_some() && st.queue.is_empty() {
            return Err(GetRefused::Gone);
        }
        st.get_active = true;
    }
    Ok(ActiveGet {
        session: session.clone(),
        answered: false,
    })
}

/// Waits until the GET has something to answer (packets, `noop` for an
/// upgrade, the close) and takes it from the queue. `relay_pull`: the GET
/// is a relay's pull for a session whose WebSocket another node holds.
/// Returns the packets and the session's `b64` flag. Dropped before it
/// returns, the GET counts as gone unanswered (see [`ActiveGet`]).
pub(crate) async fn wait_poll(mut active: ActiveGet, relay_pull: bool) -> (Vec<Out>, bool) {
    let session = active.session.clone();
    let inner = &session.0;
    let (items, b64, finished) = loop {
        let notified = inner.writer.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut st = inner.state.lock();
            if st.closed.is_some() {
                st.queued_bytes = 0;
                let mut items: Vec<Out> = st.queue.drain(..).collect();
                let data_then_close = items.len() > 1
                    && matches!(items.last(), Some(Out::Packet(Packet::Close)))
                    && st.linger_until.is_some();
                if data_then_close {
                    // This poll takes the data; the next one the close packet.
                    if let Some(close) = items.pop() {
                        st.queue.push_back(close);
                    }
                    break (items, st.b64, false);
                }
                if items.is_empty() {
                    items.push(Out::Packet(Packet::Close));
                }
                st.linger_until = None;
                break (items, st.b64, true);
            }
            if st.transport != TransportKind::Polling
                || st.upgrade == Upgrade::Probed
                || (st.relay && !relay_pull)
            {
                break (vec![Out::Packet(Packet::Noop)], st.b64, false);
            }
            if !st.queue.is_empty() {
                st.queued_bytes = 0;
                // The queue's buffer goes with the answer: an idle session
                // between polls holds none (as on WebSocket).
                break (std::mem::take(&mut st.queue).into(), st.b64, false);
            }
        }
        notified.await;
    };
    active.answered = true;
    drop(active);
    if finished {
        // The last poll of a closed session: it ends here.
        crate::engine::finish_session(&session);
    }
    (items, b64)
}

/// A long-polling GET: waits until packets are queued, then sends them all.
pub(crate) async fn get(session: &Session, parts: &Parts) -> EngineResponse {
    let shared = &session.0.shared;
    let active = match begin_get(session) {
        Ok(active) => active,
        Err(GetRefused::Overlap) => return response::empty(shared, parts, StatusCode::BAD_REQUEST),
        Err(GetRefused::Gone) => {
            return response::refusal(shared, parts, &Refusal::new(ErrorCode::UnknownSid));
        }
    };
    let (items, b64) = wait_poll(active, false).await;
    let (body, content_type) = encode(session.0.protocol, b64, &items);
    render_payload(shared, parts, body, content_type)
}

/// The `200` answer of a GET: the encoded payload, compressed when the
/// client accepts it, with the polling headers.
pub(crate) fn render_payload(
    shared: &Shared,
    parts: &Parts,
    body: Bytes,
    content_type: HeaderValue,
) -> EngineResponse {
    let mut headers = base_headers(parts, content_type);
    let (body, encoding) = response::compress(shared.config.http_compression, &parts.headers, body);
    if let Some(encoding) = encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    response::finish(shared, parts, StatusCode::OK, headers, body, Hooks::Every)
}

/// Clears `post_active` when a POST ends.
struct ActivePost<'a>(&'a Session);

impl Drop for ActivePost<'_> {
    fn drop(&mut self) {
        self.0.0.state.lock().post_active = false;
    }
}

/// A POST: the body is a payload of packets from the client.
pub(crate) async fn post<B>(session: &Session, parts: &Parts, body: B) -> EngineResponse
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let inner = &session.0;
    let shared = &inner.shared;
    let max = shared.config.max_payload;
    let deadline = tokio::time::Instant::now() + shared.config.request_body_timeout;
    if let Some(drain) = body::announced_too_large(&parts.headers, max) {
        let rest = drain.map(|n| (Box::pin(body), n));
        return too_large(session, parts, rest, deadline);
    }
    {
        let mut st = inner.state.lock();
        if st.post_active {
            drop(st);
            session.close_with(CloseReason::TransportError);
            return response::empty(shared, parts, StatusCode::BAD_REQUEST);
        }
        st.post_active = true;
    }
    let active = ActivePost(session);
    let data = match body::read(body, max, deadline).await {
        BodyRead::Complete(data) => data,
        BodyRead::TooLarge(rest) => {
            drop(active);
            // Over the limit already read: at most as much again is drained.
            return too_large(session, parts, Some((rest, max)), deadline);
        }
        BodyRead::TimedOut => {
            drop(active);
            if session.first_refusal() {
                tracing::warn!(sid = %inner.sid, "polling body not received in time, answering 408");
            }
            shared.stats.count(Trip::BodyTimeout);
            return closing(shared, parts, StatusCode::REQUEST_TIMEOUT);
        }
        BodyRead::Failed => {
            session.close_with(CloseReason::TransportError);
            return response::empty(shared, parts, StatusCode::BAD_REQUEST);
        }
    };
    let binary = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(OCTET_STREAM));
    if apply_body(session, binary, data).is_err() {
        return response::empty(shared, parts, StatusCode::BAD_REQUEST);
    }
    post_ok(shared, parts)
}

/// The `200 ok` answer of a POST.
pub(crate) fn post_ok(shared: &Shared, parts: &Parts) -> EngineResponse {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response::finish(
        shared,
        parts,
        StatusCode::OK,
        headers,
        Bytes::from_static(b"ok"),
        Hooks::Every,
    )
}

/// A forwarded POST on the owner: the overlap rule, then the body.
/// `Err` means `400` (the session was closed).
pub(crate) fn apply_forwarded(session: &Session, binary: bool, data: Bytes) -> Result<(), ()> {
    {
        let mut st = session.0.state.lock();
        if st.post_active {
            drop(st);
            session.close_with(CloseReason::TransportError);
            return Err(());
        }
        st.post_active = true;
    }
    let _active = ActivePost(session);
    apply_body(session, binary, data)
}

/// Decodes a POST body with the session's protocol and hands its packets
/// to the session, stopping at the first bad one. `Err`: refused (`400`,
/// the session closed): a binary body from a v4 client.
pub(crate) fn apply_body(session: &Session, binary: bool, data: Bytes) -> Result<(), ()> {
    let inner = &session.0;
    let packets: Result<Vec<Packet>, DecodeError> = match (inner.protocol, binary) {
        (ProtocolVersion::V4, true) => {
            // v4 clients never send binary bodies (engine.io 6.6.7+ refuses).
            session.close_with(CloseReason::TransportError);
            return Err(());
        }
        (ProtocolVersion::V4, false) => match Str::from_utf8(data) {
            Ok(text) => {
                // Deliver what decodes, stop at the first bad packet.
                for item in PayloadDecoder::new(text) {
                    match item {
                        Ok(p) => {
                            if !session.on_client_packet(p) {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::debug!(sid = %inner.sid, error = %e, "bad packet");
                            session.close_with(CloseReason::ParseError);
                            break;
                        }
                    }
                }
                Ok(Vec::new())
            }
            Err(_) => Err(DecodeError::Utf8),
        },
        (ProtocolVersion::V3, true) => eio::v3::decode_binary_payload(data),
        (ProtocolVersion::V3, false) => Str::from_utf8(data)
            .map_err(|_| DecodeError::Utf8)
            .and_then(eio::v3::decode_text_payload),
    };
    match packets {
        Ok(packets) => {
            for p in packets {
                if !session.on_client_packet(p) {
                    break;
                }
            }
        }
        Err(e) => {
            tracing::debug!(sid = %inner.sid, error = %e, "bad payload");
            session.close_with(CloseReason::ParseError);
        }
    }
    Ok(())
}

/// The answer to a body over `max_payload`: `413`, empty, as the reference.
/// The data is dropped and the session lives on. The rest of the body, when
/// small enough to be worth it, is read and dropped after the answer (up to
/// the byte count given with it) so that the connection stays clean;
/// otherwise the connection closes.
fn too_large<B>(
    session: &Session,
    parts: &Parts,
    rest: Option<(Pin<Box<B>>, usize)>,
    deadline: tokio::time::Instant,
) -> EngineResponse
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    let shared = &session.0.shared;
    if session.first_refusal() {
        tracing::warn!(sid = %session.0.sid, max = shared.config.max_payload, "polling body over max_payload, answering 413");
    }
    shared.stats.count(Trip::PayloadTooLarge);
    match rest {
        Some((rest, limit)) => {
            body::discard(rest, limit, deadline);
            response::empty(shared, parts, StatusCode::PAYLOAD_TOO_LARGE)
        }
        None => closing(shared, parts, StatusCode::PAYLOAD_TOO_LARGE),
    }
}

/// An empty response after which the connection closes (its request body
/// is left unread).
pub(crate) fn closing(shared: &Shared, parts: &Parts, status: StatusCode) -> EngineResponse {
    let mut res = response::empty(shared, parts, status);
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

pub(crate) fn base_headers(parts: &Parts, content_type: HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let ua = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ua.contains(";MSIE") || ua.contains("Trident/") {
        headers.insert("x-xss-protection", HeaderValue::from_static("0"));
    }
    headers
}

/// Encodes queued packets as one polling body, with its content type.
pub(crate) fn encode(protocol: ProtocolVersion, b64: bool, items: &[Out]) -> (Bytes, HeaderValue) {
    match protocol {
        ProtocolVersion::V4 => {
            let len: usize = items
                .iter()
                .map(|o| match o {
                    Out::Packet(p) => p.text_len(),
                    Out::Encoded(s) => s.len(),
                })
                .sum::<usize>()
                + items.len().saturating_sub(1);
            let mut out = BytesMut::with_capacity(len);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(&[eio::SEPARATOR]);
                }
                match item {
                    Out::Packet(p) => p.encode_text_into(&mut out),
                    Out::Encoded(s) => out.extend_from_slice(s.as_bytes()),
                }
            }
            (out.freeze(), TEXT_PLAIN)
        }
        ProtocolVersion::V3 => {
            let packets: Vec<Packet> = items.iter().map(Out::to_packet).collect();
            if !b64 && packets.iter().any(|p| matches!(p, Packet::Binary(_))) {
                (
                    eio::v3::encode_binary_payload(&packets),
                    HeaderValue::from_static(OCTET_STREAM),
                )
            } else {
                (
                    eio::v3::encode_text_payload(&packets).into_bytes(),
                    TEXT_PLAIN,
                )
            }
        }
    }
}
