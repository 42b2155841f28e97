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

/// Defers `on_open` of a session not yet in the table.
pub(crate) fn defer(session: &Session) {
    *session.0.deferred.lock() = Some(Vec::new());
    session.0.announced.store(false, Ordering::Release);
    session.0.buffering.store(true, Ordering::Release);
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
    {
        let deferred = inner.deferred.lock();
        if deferred.is_none() || inner.announced.load(Ordering::Acquire) {
            return;
        }
        // Under the lock: a hand-over that comes after sees it announced.
        inner.announced.store(true, Ordering::Release);
    }
    if session.is_closed() {
        inner.deferred.lock().take();
        return;
    }
    inner.shared.handler.on_open(session);
    loop {
        let batch = {
            let mut deferred = inner.deferred.lock();
            match deferred.as_mut() {
                Some(early) if !early.is_empty() => std::mem::take(early),
                _ => {
                    *deferred = None;
                    inner.buffering.store(false, Ordering::Release);
                    return;
                }
            }
        };
        for message in batch {
            inner.shared.handler.on_message(session, message);
        }
    }
}

/// Takes the session away for a hand-over if the handler has not seen it:
/// its snapshot, or `None` (then it is relayed).
pub(crate) fn take(session: &Session) -> Option<Bytes> {
    let inner = &session.0;
    let early = {
        let mut deferred = inner.deferred.lock();
        if inner.announced.load(Ordering::Acquire) {
            return None;
        }
        deferred.take()?
    };
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
        "protocol": if session.protocol() == ProtocolVersion::V3 { 3 } else { 4 },
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
        time: SystemTime::UNIX_EPOCH + Duration::from_millis(v.get("time")?.as_u64()?),
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
