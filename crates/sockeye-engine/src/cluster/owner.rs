//! The owner's side: frames from other nodes about this node's sessions,
//! applied with the same code as local requests.

use super::dispatch::Dispatch;
use super::frame::{
    self, F_BINARY, F_BROKEN, F_HANDOVER, F_JSON, F_RELAY, F_WS, Frame, Kind, STAGE_ABORT,
    STAGE_BEGIN, STAGE_COMMIT, STAGE_PROBED,
};
use super::inbox::Inbox;
use super::{Cluster, Waiter, handover, stats};
use crate::engine::Shared;
use crate::error::{ErrorCode, Refusal};
use crate::handler::CloseReason;
use crate::session::{Out, Session, TransportKind, Upgrade};
use crate::transport::polling::{self, GetRefused};
use bytes::Bytes;
use sockeye_proto::eio::{Packet, WsFrame};
use sockeye_proto::{NodeTag, Str};
use std::sync::{Arc, Weak};

/// Reads this node's inbox until the engine or the bus is gone: answers
/// and goodbyes are applied at once, frames about a session by that
/// session's worker (see `dispatch`).
pub(crate) async fn inbox(shared: Weak<Shared>, cluster: Weak<Cluster>, mut rx: Inbox) {
    let dispatch = Arc::new(Dispatch::default());
    while let Some(item) = rx.recv().await {
        let (Some(shared), Some(cluster)) = (shared.upgrade(), cluster.upgrade()) else {
            return;
        };
        let (data, permit) = item.into_parts();
        match cluster.open(data) {
            Ok(frame) if frame.from == cluster.tag => {}
            Ok(frame) => {
                // Seen alive in arrival order: a frame the sender sent
                // before its goodbye, applied after it by a session's
                // worker, must not bring it back.
                cluster.saw(frame.from);
                if matches!(frame.kind, Kind::Reply | Kind::Bye) {
                    on_frame(&shared, &cluster, frame);
                } else {
                    dispatch.push(&shared, &cluster, frame, permit, on_frame);
                }
            }
            Err(e) => tracing::debug!(error = %e, "cluster frame dropped"),
        }
    }
}

fn on_frame(shared: &Arc<Shared>, cluster: &Arc<Cluster>, frame: Frame) {
    // A wait or an upgrade for a node that left (or died) since it sent
    // them: nobody would collect the answer, and a parked GET would hold
    // the session's one GET place until its deadline.
    if matches!(frame.kind, Kind::Get | Kind::Upgrade) && cluster.peer_dead(frame.from) {
        return;
    }
    match frame.kind {
        Kind::Reply => cluster.resolve(frame),
        Kind::Get => on_get(shared, cluster, frame),
        Kind::Post => on_post(shared, cluster, frame),
        Kind::Cancel => {
            let waiter = cluster.waiters.lock().remove(&(frame.from, frame.request));
            if let Some(w) = waiter {
                // Dropping the wait closes the session as a dropped poll.
                w.task.abort();
            }
        }
        Kind::Upgrade => on_upgrade(shared, cluster, frame),
        Kind::Close => {
            if cluster.served_by(&frame.sid) == Some(frame.from) {
                cluster.unserve(&frame.sid);
                if let Some(session) = shared.get(&frame.sid) {
                    let reason = if frame.status == 0 {
                        CloseReason::TransportClose
                    } else {
                        CloseReason::TransportError
                    };
                    session.close_with(reason);
                }
            }
        }
        Kind::Bye => cluster.mark_dead(frame.from),
    }
}

/// Answers request `to` of its sender.
fn reply(cluster: &Cluster, to: &Frame, status: u16, flags: u8, body: Bytes) {
    let mut frame = cluster.frame(Kind::Reply, to.sid, flags, status, body);
    frame.request = to.request;
    cluster.send(to.from, frame);
}

/// A refusal, answered by the forwarder as the local path would.
fn refuse(cluster: &Cluster, to: &Frame, refusal: Refusal) {
    stats::bump(&cluster.stats.nacks);
    reply(
        cluster,
        to,
        refusal.status.as_u16(),
        F_JSON,
        Bytes::from(refusal.json()),
    );
}

/// A status-only refusal (an empty `400`, as the local path's overlap).
fn refuse_empty(cluster: &Cluster, to: &Frame, status: u16) {
    stats::bump(&cluster.stats.nacks);
    reply(cluster, to, status, 0, Bytes::new());
}

fn on_get(shared: &Arc<Shared>, cluster: &Arc<Cluster>, frame: Frame) {
    stats::bump(&cluster.stats.in_get);
    let Some(session) = shared.get(&frame.sid) else {
        return refuse(cluster, &frame, Refusal::new(ErrorCode::UnknownSid));
    };
    let pull = frame.flags & F_RELAY != 0;
    if pull {
        if cluster.served_by(&frame.sid) != Some(frame.from) || !session.is_relayed() {
            return refuse(cluster, &frame, Refusal::new(ErrorCode::BadRequest));
        }
    } else if session.transport() != TransportKind::Polling {
        return refuse(cluster, &frame, Refusal::new(ErrorCode::BadRequest));
    }
    let active = match polling::begin_get(&session) {
        Ok(active) => active,
        Err(GetRefused::Overlap) => return refuse_empty(cluster, &frame, 400),
        Err(GetRefused::Gone) => {
            return refuse(cluster, &frame, Refusal::new(ErrorCode::UnknownSid));
        }
    };
    // One small task per parked GET: it waits exactly as a local GET does
    // (no new wake-up path in the session), and aborting it is the CANCEL.
    let config = &shared.config;
    let deadline = config.ping_interval + config.ping_timeout + cluster.request_timeout;
    let key = (frame.from, frame.request);
    let weak = Arc::downgrade(cluster);
    let protocol = session.protocol();
    let task = async move {
        // Past the deadline the wait is dropped: the forwarder is gone or
        // lost the request, and the session closes as for a dropped poll.
        let waited = tokio::time::timeout(deadline, polling::wait_poll(active, pull)).await;
        let Some(cluster) = weak.upgrade() else {
            return;
        };
        cluster.waiters.lock().remove(&key);
        let Ok((items, b64)) = waited else {
            return;
        };
        if pull {
            let frames: Vec<(bool, Bytes)> = items.iter().map(|o| ws_frame(o, protocol)).collect();
            reply(&cluster, &frame, 200, 0, frame::encode_ws_frames(&frames));
        } else {
            let (body, content_type) = polling::encode(protocol, b64, &items);
            let binary = content_type
                .as_bytes()
                .starts_with(b"application/octet-stream");
            reply(
                &cluster,
                &frame,
                200,
                if binary { F_BINARY } else { 0 },
                body,
            );
        }
    };
    let mut waiters = cluster.waiters.lock();
    let handle = tokio::spawn(task);
    waiters.insert(
        key,
        Waiter {
            sid: session.sid(),
            task: handle.abort_handle(),
        },
    );
}

/// A queued packet as the WebSocket frame the relay writes.
fn ws_frame(out: &Out, protocol: sockeye_proto::eio::ProtocolVersion) -> (bool, Bytes) {
    match out {
        Out::Encoded(s) => (false, Bytes::from(s.clone())),
        Out::Packet(p) => match p.to_ws_frame(protocol) {
            WsFrame::Text(t) => (false, Bytes::from(t)),
            WsFrame::Binary(b) => (true, b),
        },
    }
}

fn on_post(shared: &Arc<Shared>, cluster: &Arc<Cluster>, frame: Frame) {
    stats::bump(&cluster.stats.in_post);
    let Some(session) = shared.get(&frame.sid) else {
        return refuse(cluster, &frame, Refusal::new(ErrorCode::UnknownSid));
    };
    let binary = frame.flags & F_BINARY != 0;
    if frame.flags & F_BROKEN != 0 {
        if session.transport() == TransportKind::Polling {
            session.close_with(CloseReason::TransportError);
        }
        return;
    }
    if frame.flags & F_WS != 0 {
        if cluster.served_by(&frame.sid) != Some(frame.from) || !session.is_relayed() {
            return refuse(cluster, &frame, Refusal::new(ErrorCode::BadRequest));
        }
        relayed_frame(&session, binary, frame.body.clone());
        return reply(cluster, &frame, 200, 0, Bytes::new());
    }
    if session.transport() != TransportKind::Polling {
        return refuse(cluster, &frame, Refusal::new(ErrorCode::BadRequest));
    }
    match polling::apply_forwarded(&session, binary, frame.body.clone()) {
        Ok(()) => reply(cluster, &frame, 200, 0, Bytes::new()),
        Err(()) => refuse_empty(cluster, &frame, 400),
    }
}

/// One frame the client sent on a relayed WebSocket (as `ws::on_frame`).
fn relayed_frame(session: &Session, binary: bool, data: Bytes) {
    let packet = if binary {
        Packet::decode_binary(data, session.protocol())
    } else {
        match Str::from_utf8(data) {
            Ok(text) => Packet::decode_text(text),
            Err(_) => Err(sockeye_proto::DecodeError::Utf8),
        }
    };
    match packet {
        Ok(p) => {
            session.on_client_packet(p);
        }
        Err(e) => {
            tracing::debug!(sid = %session.sid(), error = %e, "bad relayed packet");
            session.close_with(CloseReason::ParseError);
        }
    }
}

fn on_upgrade(shared: &Arc<Shared>, cluster: &Arc<Cluster>, frame: Frame) {
    stats::bump(&cluster.stats.in_upgrade);
    let Some(session) = shared.get(&frame.sid) else {
        return refuse(cluster, &frame, Refusal::new(ErrorCode::UnknownSid));
    };
    let from = frame.from;
    let holder = cluster.served_by(&frame.sid);
    let inner = &session.0;
    let ok = match frame.status {
        STAGE_BEGIN => {
            let eligible = session.begin_upgrade();
            if eligible {
                cluster.serve_through(session.sid(), from, frame.request);
                upgrade_deadline(shared, cluster, &session, (from, frame.request));
            }
            eligible
        }
        STAGE_PROBED if holder == Some(from) => {
            let mut st = inner.state.lock();
            let ok = st.upgrade == Upgrade::Upgrading && st.closed.is_none();
            if ok {
                st.upgrade = Upgrade::Probed;
            }
            ok
        }
        STAGE_COMMIT if holder == Some(from) => {
            let probed = {
                let st = inner.state.lock();
                st.upgrade == Upgrade::Probed && st.closed.is_none()
            };
            // Not yet seen by the handler, and `from` has a place for it
            // under its caps: the session moves to `from`.
            let offered = frame.flags & F_HANDOVER != 0;
            if let Some(snapshot) = (probed && offered)
                .then(|| handover::take(&session))
                .flatten()
            {
                cluster.unserve(&frame.sid);
                stats::bump(&cluster.stats.upgrades_handover);
                return reply(cluster, &frame, 200, F_HANDOVER, snapshot);
            }
            let ok = {
                let mut st = inner.state.lock();
                let ok = st.upgrade == Upgrade::Probed && st.closed.is_none();
                if ok {
                    st.upgrade = Upgrade::Idle;
                    st.relay = true;
                }
                ok
            };
            if ok {
                // Relayed (no hand-over offered): the window ends, as for a
                // local upgrade.
                handover::open_deferred(&session);
            }
            ok
        }
        STAGE_ABORT if holder == Some(from) => {
            // The bus keeps one sender's frames in order, so an abort that
            // follows a commit this node applied late (the forwarder gave
            // up waiting and dropped the socket) arrives after it: the
            // relay it committed has no socket, and the session ends now
            // rather than at the ping timeout.
            let relayed = {
                let mut st = inner.state.lock();
                if !st.relay {
                    st.upgrade = Upgrade::Idle;
                }
                st.relay
            };
            cluster.unserve(&frame.sid);
            if relayed {
                stats::bump(&cluster.stats.relays_aborted);
                session.close_with(CloseReason::TransportError);
            }
            true
        }
        _ => false,
    };
    // A pending poll answers `noop` once probed (and after the switch).
    inner.writer.notify_waiters();
    if ok {
        if frame.status == STAGE_COMMIT {
            stats::bump(&cluster.stats.upgrades_relay);
        }
        reply(cluster, &frame, 200, 0, Bytes::new());
    } else {
        refuse_empty(cluster, &frame, 400);
    }
}

/// An upgrade held by another node that neither commits nor aborts in
/// time (that node died, a frame was lost) returns the session to polling,
/// so that a later upgrade may succeed.
fn upgrade_deadline(
    shared: &Arc<Shared>,
    cluster: &Arc<Cluster>,
    session: &Session,
    attempt: (NodeTag, u64),
) {
    let wait = shared.config.upgrade_timeout + cluster.request_timeout * 2;
    let session = session.clone();
    let cluster = Arc::downgrade(cluster);
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        // A later attempt by the same node has its own deadline.
        if cluster.upgrade_attempt(&session.sid()) != Some(attempt) {
            return;
        }
        let stuck = {
            let mut st = session.0.state.lock();
            let stuck = !st.relay && st.upgrade != Upgrade::Idle;
            if stuck {
                st.upgrade = Upgrade::Idle;
            }
            stuck || !st.relay
        };
        if stuck {
            cluster.unserve(&session.sid());
            session.0.writer.notify_waiters();
        }
    });
}
