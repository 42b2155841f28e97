//! WebSocket: direct handshakes, upgrades from polling, and the I/O loop.
//!
//! tokio-tungstenite reads the client's frames, configured for many idle
//! connections: a read buffer of `WS_CODEC_BUFFER` bytes (its default of
//! 128 KiB would dominate per-session memory; the socket itself is read
//! through a per-thread buffer, see [`ws_read`](super::ws_read)), frames
//! capped at `max_payload`. Data frames are written by
//! [`WsIo`](super::ws_io) (why: see there). Everything about the crate stays
//! in these files.

use crate::engine::{Engine, Shared, open_session};
use crate::error::{ErrorCode, Refusal};
use crate::handler::CloseReason;
use crate::limits::Admission;
use crate::request::HandshakeRequest;
use crate::response::{self, EngineResponse, Hooks};
use crate::session::{Out, Session, SessionInner, TransportKind, Upgrade};
use crate::transport::ws_io::{BufferRelease, WsIo};
use crate::transport::{FinishOnDrop, on_timer, run_websocket};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use sockeye_proto::Str;
use sockeye_proto::eio::{OpenPacket, Packet, ProtocolVersion};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};

/// An accepted WebSocket connection.
pub(crate) type WsConn = WebSocketStream<WsIo<TokioIo<Upgraded>>>;

/// Whether the request asks for a WebSocket upgrade.
pub(crate) fn is_websocket_request(headers: &HeaderMap) -> bool {
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    has_token(header::UPGRADE, "websocket") && has_token(header::CONNECTION, "upgrade")
}

pub(crate) fn accept_key(headers: &HeaderMap) -> Result<HeaderValue, Refusal> {
    let version_ok = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|_| version_ok);
    let key = key.ok_or_else(|| Refusal::new(ErrorCode::BadRequest))?;
    HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|_| Refusal::new(ErrorCode::BadRequest))
}

pub(crate) fn switching_protocols(
    shared: &Shared,
    parts: &Parts,
    accept: HeaderValue,
    hooks: Hooks,
) -> EngineResponse {
    let mut headers = HeaderMap::new();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    response::finish(
        shared,
        parts,
        StatusCode::SWITCHING_PROTOCOLS,
        headers,
        Bytes::new(),
        hooks,
    )
}

/// tungstenite's own read buffer: allocated (and zero-filled) for the
/// connection's whole life, so small. It is also the most tungstenite takes
/// per read call: a frame this size or smaller (the usual Socket.IO event)
/// is taken in one call, a larger one in several, from bytes already read
/// (no more syscalls: `ws_read` read up to 16 KiB at once).
const WS_CODEC_BUFFER: usize = 128;

fn ws_config(shared: &Shared) -> WebSocketConfig {
    let max = shared.config.max_payload;
    WebSocketConfig::default()
        .read_buffer_size(WS_CODEC_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

pub(crate) async fn accept_socket(shared: &Shared, on_upgrade: OnUpgrade) -> Option<WsConn> {
    match on_upgrade.await {
        Ok(upgraded) => Some(
            WebSocketStream::from_raw_socket(
                WsIo::new(TokioIo::new(upgraded)),
                Role::Server,
                Some(ws_config(shared)),
            )
            .await,
        ),
        Err(e) => {
            tracing::debug!(error = %e, "websocket upgrade failed");
            None
        }
    }
}

/// A direct WebSocket handshake: answers 101 and opens the session on the
/// upgraded connection, whose first frame is the `open` packet.
///
/// The `io` cookie is never set here: a WebSocket is one long connection,
/// so no load balancer needs it to route later requests, and the reference
/// does not send it on a 101 either. The handshake headers hook still runs.
pub(crate) fn handshake(
    engine: &Engine,
    parts: &Parts,
    request: HandshakeRequest,
    protocol: ProtocolVersion,
    on_upgrade: OnUpgrade,
    admission: Option<Admission>,
) -> EngineResponse {
    let accept = match accept_key(&parts.headers) {
        Ok(a) => a,
        Err(r) => return response::ws_refusal(&engine.0, parts, &r),
    };
    let shared = engine.0.clone();
    let task_shared = shared.clone();
    let fut = async move {
        let shared = task_shared;
        let Some(conn) = accept_socket(&shared, on_upgrade).await else {
            return;
        };
        let session = Session::new(
            shared.clone(),
            protocol,
            TransportKind::WebSocket,
            request,
            false,
            admission,
        );
        let config = &shared.config;
        let open = OpenPacket {
            sid: session.sid(),
            upgrades: &[],
            ping_interval: config.ping_interval.as_millis() as u64,
            ping_timeout: config.ping_timeout.as_millis() as u64,
            max_payload: config.max_payload as u64,
        };
        let _ = session.push(Out::Packet(Packet::Open(Str::from(open.to_json()))));
        if let Some(initial) = &config.initial_packet {
            let _ = session.push(Out::Packet(Packet::Message(initial.clone())));
        }
        open_session(&shared, &session);
        // A task of its own for the rest of the session's life: it is only
        // as big as the I/O loop, while this one also holds the handshake's
        // state (4.3 KB against 1.8 KB per session, measured).
        tokio::spawn(run_websocket(session, conn));
    };
    tokio::spawn(fut);
    switching_protocols(&shared, parts, accept, Hooks::Handshake)
}

/// An upgrade of a polling session: `2probe` / `3probe`, pending polls
/// released with `noop`, the switch on `5`, all within `upgrade_timeout`.
/// Refused (before any 101) when the session is not on polling or already
/// upgrading.
pub(crate) fn upgrade(
    session: &Session,
    parts: &Parts,
    on_upgrade: OnUpgrade,
) -> Result<EngineResponse, Refusal> {
    let accept = accept_key(&parts.headers)?;
    let shared = session.0.shared.clone();
    let eligible = session.begin_upgrade();
    if !eligible {
        // A second WebSocket for a session that is upgrading or upgraded:
        // like the reference, accept it and close it at once (clients and
        // the protocol suite expect a close, not a failed handshake).
        let task_shared = shared.clone();
        tokio::spawn(async move {
            if let Some(mut conn) = accept_socket(&task_shared, on_upgrade).await {
                close_conn(&mut conn, None).await;
            }
        });
        return Ok(switching_protocols(&shared, parts, accept, Hooks::Every));
    }
    let task_shared = shared.clone();
    let session = session.clone();
    tokio::spawn(async move {
        let shared = task_shared;
        let result = accept_and_probe(&shared, &session, on_upgrade).await;
        finish_upgrade(&session, result).await;
    });
    Ok(switching_protocols(&shared, parts, accept, Hooks::Every))
}

async fn accept_and_probe(
    shared: &Shared,
    session: &Session,
    on_upgrade: OnUpgrade,
) -> Result<WsConn, Option<WsConn>> {
    let conn = accept_socket(shared, on_upgrade).await;
    match conn {
        Some(mut conn) => {
            match tokio::time::timeout(shared.config.upgrade_timeout, probe(session, &mut conn))
                .await
            {
                Ok(true) => Ok(conn),
                _ => Err(Some(conn)),
            }
        }
        None => Err(None),
    }
}

/// Closes the WebSocket (a close frame, then the socket), waiting at most a
/// second for a peer that does not read. Boxed where it is called from the
/// long-lived loop, which would otherwise carry this state for its life.
pub(crate) async fn close_conn(conn: &mut WsConn, frame: Option<CloseFrame>) {
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.close(frame)).await;
}

async fn finish_upgrade(session: &Session, result: Result<WsConn, Option<WsConn>>) {
    let inner = &session.0;
    match result {
        Ok(conn) => {
            let switched = {
                let mut st = inner.state.lock();
                st.upgrade = Upgrade::Idle;
                let open = st.closed.is_none();
                if open {
                    st.transport = TransportKind::WebSocket;
                }
                open
            };
            // Release a pending poll (it answers `noop`).
            inner.writer.notify_waiters();
            if switched {
                crate::cluster::count_local_upgrade(&inner.shared);
                // A session still in its hand-over window opens now.
                crate::cluster::handover::open_deferred(session);
                if let Some(m) = &inner.shared.config.metrics {
                    m.upgraded(inner.protocol);
                }
                tracing::info_span!("session", sid = %inner.sid).in_scope(
                    || tracing::debug!(sid = %inner.sid, "session upgraded to websocket"),
                );
                inner.shared.events.upgrading(session, true);
                // The session's WebSocket I/O loop, in a task of its own
                // (smaller than this one); the shared polling timer lets go
                // of the session on its next tick.
                tokio::spawn(run_websocket(session.clone(), conn));
            }
        }
        Err(conn) => {
            inner.state.lock().upgrade = Upgrade::Idle;
            inner.writer.notify_waiters();
            if let Some(mut conn) = conn {
                close_conn(&mut conn, None).await;
            }
        }
    }
}

/// The probe exchange; true once the client sent `5` after `2probe`.
async fn probe(session: &Session, conn: &mut WsConn) -> bool {
    let mut probed = false;
    while let Some(msg) = conn.next().await {
        let text = match msg {
            Ok(WsMessage::Text(t)) => Str::from_utf8(Bytes::from(t)).unwrap_or_default(),
            Ok(WsMessage::Ping(_) | WsMessage::Pong(_)) => continue,
            _ => return false,
        };
        match Packet::decode_text(text) {
            Ok(p) if !probed && p.is_probe_ping() => {
                if conn
                    .send(WsMessage::Text(Utf8Bytes::from_static("3probe")))
                    .await
                    .is_err()
                {
                    return false;
                }
                probed = true;
                session.0.state.lock().upgrade = Upgrade::Probed;
                session.0.writer.notify_waiters();
                session.0.shared.events.upgrading(session, false);
            }
            Ok(Packet::Upgrade) if probed => return true,
            _ => return false,
        }
    }
    false
}

/// What the connection did.
enum IoEvent {
    /// The queue was written out (or failed to be).
    Written(std::io::Result<()>),
    /// A message came (or the stream ended).
    Read(Option<Result<WsMessage, WsError>>),
}

/// Writes what is queued, and reads, also while a write waits for the peer
/// (its pongs keep coming while it reads slowly). Inbound work stays
/// bounded: what the peer's messages produce waits in the session's queue,
/// which is limited (`max_buffered_packets`, `max_buffered_bytes`), while
/// a write is blocked.
fn poll_io(conn: &mut WsConn, cx: &mut std::task::Context<'_>) -> std::task::Poll<IoEvent> {
    if conn.get_ref().has_pending() {
        if let std::task::Poll::Ready(written) = conn.get_mut().poll_drain(cx) {
            return std::task::Poll::Ready(IoEvent::Written(written));
        }
    }
    if conn.get_ref().may_read() {
        conn.poll_next_unpin(cx).map(IoEvent::Read)
    } else {
        // Our read waker is still registered with the stream.
        std::task::Poll::Pending
    }
}

/// How long a closed session's last packets may take to leave.
const CLOSE_FLUSH: Duration = Duration::from_secs(1);

/// The WebSocket I/O loop of a session: reads frames, writes the queue in
/// batches, runs the heartbeat timer, and closes the socket once the session
/// is closed and its queue is written.
///
/// One `select!` waits for everything: the connection, the two wake-up
/// sources and the heartbeat. The loop keeps one `Notified` per source and
/// one `Sleep` for its whole life, re-arming a `Notified` only once it fired
/// (always before the queue is looked at, so no wake-up is lost) and
/// resetting the `Sleep` only when the deadline moved. The heartbeat keeps
/// running while a write is blocked, and that is what ends a session whose
/// peer stopped reading: it cannot answer a ping queued behind what it does
/// not read, so it times out (`ping timeout`, as with the reference).
///
/// A function returning an `async move` block, not an `async fn`: an
/// `async fn` keeps its arguments and the locals they move into in separate
/// places of its state, and `conn` alone is 464 bytes (the future was 1,408
/// bytes as an `async fn`, 936 now: 4.99 -> 4.14 KB per idle WebSocket
/// connection in the bench).
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would hold its arguments twice"
)]
pub(crate) fn run(session: FinishOnDrop, mut conn: WsConn) -> impl Future<Output = ()> + Send {
    async move {
        let session = &session.0;
        let inner = &session.0;
        let protocol = inner.protocol;
        let writer = inner.writer.notified();
        let driver = inner.driver.notified();
        tokio::pin!(writer, driver);
        writer.as_mut().enable();
        driver.as_mut().enable();
        // The timer's next deadline: the heartbeat's, or sooner the write
        // buffers' release.
        let mut wake = on_timer(session, Instant::now());
        let heartbeat = tokio::time::sleep_until(wake);
        let mut release = BufferRelease::default();
        tokio::pin!(heartbeat);
        let mut closing = false;
        // Bytes of the batch in `conn`'s write queue, counted in `queued_bytes`.
        let mut in_flight = 0;
        loop {
            let (closed, batch) = {
                let mut st = inner.state.lock();
                let io = conn.get_mut();
                // Taken into the write queue only once the last batch is out:
                // while a write waits, packets stay in the session's queue,
                // whose bounds (`max_buffered_packets`, `max_buffered_bytes`)
                // close a peer that does not keep up. The batch being written
                // stays counted in `queued_bytes` until it is out: one
                // subtraction per batch, none per packet.
                // The queue's buffer goes with its packets (an idle session
                // holds none), unless `release` found the session busy.
                let mut batch = 0;
                if !io.has_pending() {
                    st.queued_bytes = st.queued_bytes.saturating_sub(in_flight);
                    in_flight = st.queued_bytes;
                    if !st.queue.is_empty() {
                        batch = st.queue.len();
                        if release.keep() {
                            for out in st.queue.drain(..) {
                                io.push(out, protocol);
                            }
                        } else {
                            for out in std::mem::take(&mut st.queue) {
                                io.push(out, protocol);
                            }
                        }
                    }
                }
                st.writing = io.has_pending();
                (st.closed.is_some(), batch)
            };
            if batch > 0 && !closing {
                if let Some(at) = release.on_batch(batch, Instant::now)
                    && at < wake
                {
                    wake = at;
                    heartbeat.as_mut().reset(at);
                }
                conn.get_mut().keep_buffers(release.keep());
            }
            if closed {
                if !conn.get_ref().has_pending() {
                    Box::pin(close_conn(&mut conn, None)).await;
                    return;
                }
                if !closing {
                    // Give the last packets a moment, then give up on them.
                    closing = true;
                    heartbeat.as_mut().reset(Instant::now() + CLOSE_FLUSH);
                }
            }
            let timer_due = tokio::select! {
                event = std::future::poll_fn(|cx| poll_io(&mut conn, cx)) => match event {
                    // The loop's top takes what was queued meanwhile (and
                    // sets `writing` again), or closes a closed session.
                    IoEvent::Written(Ok(())) => false,
                    IoEvent::Written(Err(e)) => {
                        tracing::debug!(sid = %inner.sid, error = %e, "websocket write failed");
                        session.close_with(CloseReason::TransportError);
                        return;
                    }
                    IoEvent::Read(Some(Ok(msg))) => {
                        on_frame(session, msg);
                        false
                    }
                    IoEvent::Read(Some(Err(WsError::Capacity(e)))) => {
                        tracing::warn!(sid = %inner.sid, error = %e, "websocket message over max_payload, closing");
                        inner.shared.stats.count(crate::stats::Trip::PayloadTooLarge);
                        session.close_with(CloseReason::TransportError);
                        let frame = CloseFrame { code: CloseCode::Size, reason: Utf8Bytes::from_static("message too big") };
                        Box::pin(close_conn(&mut conn, Some(frame))).await;
                        return;
                    }
                    IoEvent::Read(Some(Err(e))) => {
                        tracing::debug!(sid = %inner.sid, error = %e, "websocket read failed");
                        session.close_with(CloseReason::TransportError);
                        return;
                    }
                    IoEvent::Read(None) => {
                        session.close_with(CloseReason::TransportClose);
                        return;
                    }
                },
                _ = &mut writer => {
                    writer.set(inner.writer.notified());
                    writer.as_mut().enable();
                    false
                }
                _ = &mut driver => {
                    driver.set(inner.driver.notified());
                    driver.as_mut().enable();
                    !closing
                }
                _ = &mut heartbeat => {
                    if closing {
                        tracing::debug!(sid = %inner.sid, "websocket closed with packets unsent");
                        return;
                    }
                    true
                }
            };
            if timer_due {
                let now = Instant::now();
                if release.due(now) {
                    release_write_buffers(inner, &mut conn);
                }
                let next = release.next(on_timer(session, now));
                if next != wake || heartbeat.is_elapsed() {
                    wake = next;
                    heartbeat.as_mut().reset(wake);
                }
            }
        }
    }
}

/// Frees the write buffers a busy session kept, now that it went quiet:
/// the session queue's and the frame buffer, each only if empty (the next
/// packet allocates them again).
fn release_write_buffers(inner: &SessionInner, conn: &mut WsConn) {
    {
        let mut st = inner.state.lock();
        if st.queue.is_empty() {
            st.queue = std::collections::VecDeque::new();
        }
    }
    conn.get_mut().keep_buffers(false);
}

fn on_frame(session: &Session, msg: WsMessage) {
    let packet = match msg {
        WsMessage::Text(t) => match Str::from_utf8(Bytes::from(t)) {
            Ok(text) => Packet::decode_text(text),
            Err(_) => Err(sockeye_proto::DecodeError::Utf8),
        },
        WsMessage::Binary(b) => Packet::decode_binary(b, session.0.protocol),
        WsMessage::Close(_) => {
            session.close_with(CloseReason::TransportClose);
            return;
        }
        WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => return,
    };
    match packet {
        Ok(p) => {
            session.on_client_packet(p);
        }
        Err(e) => {
            tracing::debug!(sid = %session.0.sid, error = %e, "bad packet");
            session.close_with(CloseReason::ParseError);
        }
    }
}
