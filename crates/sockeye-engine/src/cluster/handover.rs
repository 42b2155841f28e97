//! Hand-over: a session the application has not seen yet moves to the
//! node that holds its WebSocket.
//!
//! In cluster mode a polling handshake (with upgrades allowed) defers
//! `on_open` for `handover_window`; the client's messages wait in the
//! session meanwhile. The window ends at the first of: the timer (the
//! session opens where it is), a local upgrade (it opens at once), a
//! remote upgrade's commit (the owner sends a snapshot and forgets the
//! session; the WebSocket's node opens it), a close (the handler never
//! hears of it).

use crate::engine::{Shared, finish_session, open_session};
use crate::handler::{CloseReason, Message};
use crate::request::HandshakeRequest;
use crate::session::{Out, Session, TransportKind};
use crate::transport::run_websocket;
use crate::transport::ws::WsConn;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::{Value, json};
use sockeye_proto::eio::{Packet, ProtocolVersion};
use sockeye_proto::{Sid, Str};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

/// The handler has not been told of the session (hand-over window).
pub(crate) const DEFERRED: u8 = 0;
/// `on_open` is being called (and the waiting messages replayed).
pub(crate) const OPENING: u8 = 1;
/// The handler knows the session: `on_close` is due when it closes.
pub(crate) const OPEN: u8 = 2;
/// Closed or handed over before the handler was told: it never will be.
pub(crate) const HIDDEN: u8 = 3;
/// Closed while `on_open` ran: the opener calls `on_close` when done.
pub(crate) const CLOSE_OWED: u8 = 4;

fn phase(session: &Session) -> &std::sync::atomic::AtomicU8 {
    &session.0.announce
}

fn advance(session: &Session, from: u8, to: u8) -> bool {
    phase(session)
        .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// Defers `on_open` of a session not yet in the table.
pub(crate) fn defer(session: &Session) {
    *session.0.deferred.lock() = Some(Box::default());
    phase(session).store(DEFERRED, Ordering::Release);
    session.0.buffering.store(true, Ordering::Release);
}

/// Whether the handler was (or is being) told of the session.
pub(crate) fn is_announced(session: &Session) -> bool {
    matches!(
        phase(session).load(Ordering::Acquire),
        OPENING | OPEN | CLOSE_OWED
    )
}

/// Called by a close, once the session is marked closed: whether to call
/// `on_close` now. Exactly one of the close and the opener decides, so the
/// handler gets `on_close` once, after `on_open`, or neither.
pub(crate) fn close_now(session: &Session) -> bool {
    loop {
        match phase(session).load(Ordering::Acquire) {
            DEFERRED => {
                if advance(session, DEFERRED, HIDDEN) {
                    session.0.deferred.lock().take();
                    return false;
                }
            }
            OPENING => {
                if advance(session, OPENING, CLOSE_OWED) {
                    return false;
                }
            }
            OPEN => return true,
            _ => return false,
        }
    }
}

/// Opens the session when its window ends.
pub(crate) fn arm_window(session: &Session, window: Duration) {
    let session = session.clone();
    tokio::spawn(async move {
        tokio::time::sleep(window).await;
        open_deferred(&session);
    });
}

/// Tells the handler (once) and hands it the messages that waited, in
/// order, then lets later ones through directly.
pub(crate) fn open_deferred(session: &Session) {
    let inner = &session.0;
    if !advance(session, DEFERRED, OPENING) {
        return;
    }
    if session.is_closed() {
        // Closed before the handler was told: it never will be (a close
        // that comes meanwhile leaves the decision here).
        phase(session).store(HIDDEN, Ordering::Release);
        inner.deferred.lock().take();
        return;
    }
    inner.shared.announce_open(session);
    loop {
        let batch = {
            let mut deferred = inner.deferred.lock();
            match deferred.as_mut() {
                Some(early) if !early.messages.is_empty() && !session.is_closed() => {
                    early.bytes = 0;
                    std::mem::take(&mut early.messages)
                }
                _ => {
                    *deferred = None;
                    inner.buffering.store(false, Ordering::Release);
                    break;
                }
            }
        };
        for message in batch {
            inner.shared.handler.on_message(session, message);
        }
    }
    if !advance(session, OPENING, OPEN) {
        // Closed while the handler was being told: told now, after.
        phase(session).store(OPEN, Ordering::Release);
        let reason = inner
            .state
            .lock()
            .closed
            .unwrap_or(CloseReason::TransportClose);
        inner.shared.announce_close(session, reason);
    }
}

/// Takes the session away for a hand-over if the handler has not seen it:
/// its snapshot, or `None` (then it is relayed).
pub(crate) fn take(session: &Session) -> Option<Bytes> {
    let inner = &session.0;
    if !advance(session, DEFERRED, HIDDEN) {
        return None;
    }
    let early = inner
        .deferred
        .lock()
        .take()
        .map(|e| e.messages)
        .unwrap_or_default();
    // Gone from here without a word to the handler (it never knew it).
    let queue: Vec<Out> = {
        let mut st = inner.state.lock();
        if st.closed.is_some() {
            return None;
        }
        st.closed = Some(CloseReason::TransportClose);
        st.queued_bytes = 0;
        st.queue.drain(..).collect()
    };
    inner.shared.remove(&inner.sid);
    inner.writer.notify_waiters();
    finish_session(session);
    Some(encode_snapshot(session, &queue, &early))
}

fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

fn item(binary: bool, data: &[u8]) -> Value {
    json!([binary, b64(data)])
}

/// The session as JSON: protocol, handshake request, queued packets,
/// waiting messages.
fn encode_snapshot(session: &Session, queue: &[Out], early: &[Message]) -> Bytes {
    let req = session.request();
    let headers: Vec<Value> = req
        .headers
        .iter()
        .map(|(k, v)| json!([k.as_str(), b64(v.as_bytes())]))
        .collect();
    let time = req
        .time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let queue: Vec<Value> = queue
        .iter()
        .map(|o| match o.to_packet() {
            Packet::Binary(b) => item(true, &b),
            p => item(false, p.encode_text().as_bytes()),
        })
        .collect();
    let early: Vec<Value> = early
        .iter()
        .map(|m| match m {
            Message::Text(t) => item(false, t.as_bytes()),
            Message::Binary(b) => item(true, b),
        })
        .collect();
    let snapshot = json!({
        "protocol": session.protocol().as_u8(),
        "method": req.method.as_str(),
        "uri": req.uri.to_string(),
        "headers": headers,
        "peer": req.peer_addr.map(|p| p.to_string()),
        "secure": req.secure,
        "time": time,
        "queue": queue,
        "early": early,
    });
    Bytes::from(snapshot.to_string())
}

fn items(v: &Value) -> Option<Vec<(bool, Bytes)>> {
    v.as_array()?
        .iter()
        .map(|i| {
            let binary = i.get(0)?.as_bool()?;
            let data = STANDARD.decode(i.get(1)?.as_str()?).ok()?;
            Some((binary, Bytes::from(data)))
        })
        .collect()
}

/// Builds the handed-over session on this node, over the WebSocket that
/// completed the upgrade, and opens it, holding `admission` (its place
/// under this node's caps). `None`: the snapshot was invalid.
pub(crate) fn restore(
    shared: &Arc<Shared>,
    sid: Sid,
    snapshot: &[u8],
    conn: WsConn,
    admission: Option<crate::limits::Admission>,
) -> Option<()> {
    let v: Value = serde_json::from_slice(snapshot).ok()?;
    let protocol = match v.get("protocol")?.as_u64()? {
        3 => ProtocolVersion::V3,
        _ => ProtocolVersion::V4,
    };
    let mut headers = http::HeaderMap::new();
    for h in v.get("headers")?.as_array()? {
        let name = http::HeaderName::from_bytes(h.get(0)?.as_str()?.as_bytes()).ok()?;
        let value = STANDARD.decode(h.get(1)?.as_str()?).ok()?;
        headers.append(name, http::HeaderValue::from_bytes(&value).ok()?);
    }
    let request = HandshakeRequest {
        method: v.get("method")?.as_str()?.parse().ok()?,
        uri: v.get("uri")?.as_str()?.parse().ok()?,
        headers,
        peer_addr: v
            .get("peer")
            .and_then(Value::as_str)
            .and_then(|p| p.parse().ok()),
        secure: v.get("secure")?.as_bool()?,
        time: SystemTime::UNIX_EPOCH
            .checked_add(Duration::from_millis(v.get("time")?.as_u64()?))?,
    };
    let mut queue = Vec::new();
    for (binary, data) in items(v.get("queue")?)? {
        queue.push(if binary {
            Packet::Binary(data)
        } else {
            Packet::decode_text(Str::from_utf8(data).ok()?).ok()?
        });
    }
    let mut early = Vec::new();
    for (binary, data) in items(v.get("early")?)? {
        early.push(if binary {
            Message::Binary(data)
        } else {
            Message::Text(Str::from_utf8(data).ok()?)
        });
    }
    let session = Session::with_sid(
        shared.clone(),
        sid,
        protocol,
        TransportKind::WebSocket,
        request,
        false,
        admission,
    );
    for packet in queue {
        let _ = session.push(Out::Packet(packet));
    }
    open_session(shared, &session);
    for message in early {
        shared.handler.on_message(&session, message);
    }
    tokio::spawn(run_websocket(session, conn));
    Some(())
}

/// Messages a client sent while the handler did not know its session yet
/// (cluster hand-over window), bounded like the outgoing queue: at most
/// `max_buffered_packets` messages and `max_buffered_bytes` bytes.
#[derive(Debug, Default)]
pub(crate) struct Early {
    pub messages: Vec<Message>,
    pub bytes: usize,
}

/// The bytes of a message's content.
pub(crate) fn message_len(message: &Message) -> usize {
    match message {
        Message::Text(t) => t.len(),
        Message::Binary(b) => b.len(),
    }
}
